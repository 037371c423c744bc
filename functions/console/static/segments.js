// GSM-7 / UCS-2 segment counting and GSM suggestions: a port of the gateway's aircall_sms/domain/segments.py
// (its tables copied from it; the console's browser tests check that both agree on many texts).

export const GSM_BASIC = new Set("@\u00a3$\u00a5\u00e8\u00e9\u00f9\u00ec\u00f2\u00c7\n\u00d8\u00f8\r\u00c5\u00e5\u0394_\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e\u00c6\u00e6\u00df\u00c9 !\"#\u00a4%&'()*+,-./0123456789:;<=>?\u00a1ABCDEFGHIJKLMNOPQRSTUVWXYZ\u00c4\u00d6\u00d1\u00dc\u00a7\u00bfabcdefghijklmnopqrstuvwxyz\u00e4\u00f6\u00f1\u00fc\u00e0");
export const GSM_EXTENSION = new Set("\f[\\]^{|}~\u20ac");
export const GSM_EQUIVALENTS = new Map(Object.entries({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2039": "'", "\u203a": "'", "\u2032": "'", "\u2035": "'", "\u02bc": "'", "\u02b9": "'", "\u00b4": "'", "`": "'", "\u201c": "\"", "\u201d": "\"", "\u201e": "\"", "\u201f": "\"", "\u00ab": "\"", "\u00bb": "\"", "\u2033": "\"", "\u2036": "\"", "\u02ba": "\"", "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-", "\ufe63": "-", "\uff0d": "-", "\u2022": "-", "\u2023": "-", "\u2043": "-", "\u25e6": "-", "\u2026": "...", "\u2044": "/", "\u2215": "/", "\u02c6": "^", "\u02dc": "~", "\t": " ", "\u00a0": " ", "\u1680": " ", "\u2000": " ", "\u2001": " ", "\u2002": " ", "\u2003": " ", "\u2004": " ", "\u2005": " ", "\u2006": " ", "\u2007": " ", "\u2008": " ", "\u2009": " ", "\u200a": " ", "\u202f": " ", "\u205f": " ", "\u3000": " ", "\u2028": "\n", "\u2029": "\n", "\u200b": "", "\u200c": "", "\u200d": "", "\u2060": "", "\ufeff": "", "\u00ad": ""}));
const NAMES = new Map(Object.entries({"\u2018": "LEFT SINGLE QUOTATION MARK", "\u2019": "RIGHT SINGLE QUOTATION MARK", "\u201a": "SINGLE LOW-9 QUOTATION MARK", "\u201b": "SINGLE HIGH-REVERSED-9 QUOTATION MARK", "\u2039": "SINGLE LEFT-POINTING ANGLE QUOTATION MARK", "\u203a": "SINGLE RIGHT-POINTING ANGLE QUOTATION MARK", "\u2032": "PRIME", "\u2035": "REVERSED PRIME", "\u02bc": "MODIFIER LETTER APOSTROPHE", "\u02b9": "MODIFIER LETTER PRIME", "\u00b4": "ACUTE ACCENT", "`": "GRAVE ACCENT", "\u201c": "LEFT DOUBLE QUOTATION MARK", "\u201d": "RIGHT DOUBLE QUOTATION MARK", "\u201e": "DOUBLE LOW-9 QUOTATION MARK", "\u201f": "DOUBLE HIGH-REVERSED-9 QUOTATION MARK", "\u00ab": "LEFT-POINTING DOUBLE ANGLE QUOTATION MARK", "\u00bb": "RIGHT-POINTING DOUBLE ANGLE QUOTATION MARK", "\u2033": "DOUBLE PRIME", "\u2036": "REVERSED DOUBLE PRIME", "\u02ba": "MODIFIER LETTER DOUBLE PRIME", "\u2010": "HYPHEN", "\u2011": "NON-BREAKING HYPHEN", "\u2012": "FIGURE DASH", "\u2013": "EN DASH", "\u2014": "EM DASH", "\u2015": "HORIZONTAL BAR", "\u2212": "MINUS SIGN", "\ufe63": "SMALL HYPHEN-MINUS", "\uff0d": "FULLWIDTH HYPHEN-MINUS", "\u2022": "BULLET", "\u2023": "TRIANGULAR BULLET", "\u2043": "HYPHEN BULLET", "\u25e6": "WHITE BULLET", "\u2026": "HORIZONTAL ELLIPSIS", "\u2044": "FRACTION SLASH", "\u2215": "DIVISION SLASH", "\u02c6": "MODIFIER LETTER CIRCUMFLEX ACCENT", "\u02dc": "SMALL TILDE", "\t": "", "\u00a0": "NO-BREAK SPACE", "\u1680": "OGHAM SPACE MARK", "\u2000": "EN QUAD", "\u2001": "EM QUAD", "\u2002": "EN SPACE", "\u2003": "EM SPACE", "\u2004": "THREE-PER-EM SPACE", "\u2005": "FOUR-PER-EM SPACE", "\u2006": "SIX-PER-EM SPACE", "\u2007": "FIGURE SPACE", "\u2008": "PUNCTUATION SPACE", "\u2009": "THIN SPACE", "\u200a": "HAIR SPACE", "\u202f": "NARROW NO-BREAK SPACE", "\u205f": "MEDIUM MATHEMATICAL SPACE", "\u3000": "IDEOGRAPHIC SPACE", "\u2028": "LINE SEPARATOR", "\u2029": "PARAGRAPH SEPARATOR", "\u200b": "ZERO WIDTH SPACE", "\u200c": "ZERO WIDTH NON-JOINER", "\u200d": "ZERO WIDTH JOINER", "\u2060": "WORD JOINER", "\ufeff": "ZERO WIDTH NO-BREAK SPACE", "\u00ad": "SOFT HYPHEN", "\u20ac": "EURO SIGN"}));

const GSM_SINGLE = 160;
const GSM_PART = 153;
const UCS2_SINGLE = 70;
const UCS2_PART = 67;
const ESCAPE = "\x1b";

function inOrder(text, chosen) {
  const seen = [];
  for (const character of text) if (chosen.has(character) && !seen.includes(character)) seen.push(character);
  return seen;
}

function plainParts(units, single, part) {
  return units <= single ? 1 : Math.ceil(units / part);
}

function result(encoding, segments, units, characters, nonGsm = []) {
  return { encoding, segments, units, characters, non_gsm_characters: nonGsm };
}

/** What a text costs, as the gateway counts it: {encoding, segments, units, characters, non_gsm_characters}. */
export function count(text) {
  const points = [...text];
  const characters = points.length;
  if (!characters) return result("GSM-7", 0, 0, 0);
  const outside = new Set(points.filter((c) => !GSM_BASIC.has(c)));
  if (!outside.size) return result("GSM-7", plainParts(characters, GSM_SINGLE, GSM_PART), characters, characters);
  if ([...outside].every((c) => GSM_EXTENSION.has(c))) {
    const septets = points.flatMap((c) => (GSM_EXTENSION.has(c) ? [ESCAPE, c] : [c]));
    const units = septets.length;
    if (units <= GSM_SINGLE) return result("GSM-7", 1, units, characters);
    let start = 0;
    let parts = 1;
    while (units - start > GSM_PART) {
      let end = start + GSM_PART;
      if (septets[end - 1] === ESCAPE) end -= 1; // an escape pair is never split: it opens the next part
      start = end;
      parts += 1;
    }
    return result("GSM-7", parts, units, characters);
  }
  const nonGsm = inOrder(text, new Set([...outside].filter((c) => !GSM_EXTENSION.has(c))));
  const units = text.length; // UTF-16 code units
  if (units === characters) return result("UCS-2", plainParts(units, UCS2_SINGLE, UCS2_PART), units, characters, nonGsm);
  if (units <= UCS2_SINGLE) return result("UCS-2", 1, units, characters, nonGsm);
  let start = 0;
  let parts = 1;
  while (units - start > UCS2_PART) {
    let end = start + UCS2_PART;
    const last = text.charCodeAt(end - 1);
    const next = text.charCodeAt(end);
    if (last >= 0xd800 && last <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) end -= 1; // a pair moves whole
    start = end;
    parts += 1;
  }
  return result("UCS-2", parts, units, characters, nonGsm);
}

/** The text with typographic characters replaced by their GSM equivalents, as the gateway's suggest_gsm. */
export function suggestGsm(text) {
  const before = count(text);
  const replaceable = inOrder(text, new Set([...text].filter((c) => GSM_EQUIVALENTS.has(c))));
  let replaced = text;
  for (const character of replaceable) replaced = replaced.split(character).join(GSM_EQUIVALENTS.get(character));
  const after = replaceable.length ? count(replaced) : before;
  return {
    text: replaced,
    segments_before: before.segments,
    segments_after: after.segments,
    segments_saved: before.segments - after.segments,
    replacements: replaceable.map((c) => [c, GSM_EQUIVALENTS.get(c)]),
    remaining_non_gsm: after.non_gsm_characters,
  };
}

/** A character named for people: `“ U+201C LEFT DOUBLE QUOTATION MARK` (its name when the console knows it). */
export function describe(character) {
  const code = `U+${character.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
  const name = NAMES.get(character) || "";
  const visible = /^\S$/u.test(character) ? `${character} ` : "";
  return `${visible}${code}${name ? ` ${name}` : ""}`;
}
