"""Segments: GSM-7 / UCS-2 detection, units, packing into parts, and suggestions to fall back to GSM-7."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aircall_sms.domain import segments
from aircall_sms.domain.segments import (
    GSM_BASIC,
    GSM_CHARACTERS,
    GSM_DEFAULT_ALPHABET,
    GSM_EQUIVALENTS,
    GSM_EXTENSION,
    GSM_EXTENSION_TABLE,
    GsmSuggestion,
    Segmentation,
    count,
    suggest_gsm,
)

# --- an independent reference: the 3GPP TS 23.038 tables as Unicode code points, and greedy packing ---

# Position 0x00..0x7F of the default alphabet (None: 0x1B, the escape to the extension table).
REFERENCE_DEFAULT_ALPHABET: list[int | None] = [
    0x0040, 0x00A3, 0x0024, 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC,
    0x00F2, 0x00C7, 0x000A, 0x00D8, 0x00F8, 0x000D, 0x00C5, 0x00E5,
    0x0394, 0x005F, 0x03A6, 0x0393, 0x039B, 0x03A9, 0x03A0, 0x03A8,
    0x03A3, 0x0398, 0x039E, None, 0x00C6, 0x00E6, 0x00DF, 0x00C9,
    0x0020, 0x0021, 0x0022, 0x0023, 0x00A4, 0x0025, 0x0026, 0x0027,
    0x0028, 0x0029, 0x002A, 0x002B, 0x002C, 0x002D, 0x002E, 0x002F,
    *range(0x0030, 0x0040),
    0x00A1, *range(0x0041, 0x005B), 0x00C4, 0x00D6, 0x00D1, 0x00DC, 0x00A7,
    0x00BF, *range(0x0061, 0x007B), 0x00E4, 0x00F6, 0x00F1, 0x00FC, 0x00E0,
]  # fmt: skip
REFERENCE_EXTENSION = {0x0C, 0x5E, 0x7B, 0x7D, 0x5C, 0x5B, 0x7E, 0x5D, 0x7C, 0x20AC}
REFERENCE_BASIC = {chr(point) for point in REFERENCE_DEFAULT_ALPHABET if point is not None}
REFERENCE_EXT = {chr(point) for point in REFERENCE_EXTENSION}


def reference_count(text: str) -> tuple[str, int, int]:
    """(encoding, segments, units), packing greedily one character at a time."""
    if not text:
        return "GSM-7", 0, 0
    if all(character in REFERENCE_BASIC or character in REFERENCE_EXT for character in text):
        encoding, single, per_part = "GSM-7", 160, 153
        costs = [2 if character in REFERENCE_EXT else 1 for character in text]
    else:
        encoding, single, per_part = "UCS-2", 70, 67
        costs = [2 if ord(character) > 0xFFFF else 1 for character in text]
    units = sum(costs)
    if units <= single:
        return encoding, 1, units
    parts, used = 1, 0
    for cost in costs:
        if used + cost > per_part:
            parts, used = parts + 1, 0
        used += cost
    return encoding, parts, units


def reference_non_gsm(text: str) -> tuple[str, ...]:
    seen: list[str] = []
    for character in text:
        if character not in REFERENCE_BASIC and character not in REFERENCE_EXT and character not in seen:
            seen.append(character)
    return tuple(seen)


# --- the tables ---


def test_the_default_alphabet_has_128_positions_with_the_escape_at_0x1b():
    assert len(GSM_DEFAULT_ALPHABET) == 128
    assert GSM_DEFAULT_ALPHABET[0x1B] == "\x1b"


@pytest.mark.parametrize("position", range(128))
def test_each_position_of_the_default_alphabet_matches_the_standard(position):
    expected = REFERENCE_DEFAULT_ALPHABET[position]
    assert GSM_DEFAULT_ALPHABET[position] == ("\x1b" if expected is None else chr(expected))


def test_the_basic_set_holds_the_127_characters_and_not_the_escape():
    assert len(GSM_BASIC) == 127
    assert GSM_BASIC == REFERENCE_BASIC
    assert "\x1b" not in GSM_BASIC


def test_the_extension_table_is_form_feed_and_the_nine_symbols():
    assert GSM_EXTENSION == REFERENCE_EXT
    assert set(GSM_EXTENSION_TABLE.values()) == REFERENCE_EXT
    assert GSM_EXTENSION_TABLE[0x65] == "€"
    assert not GSM_BASIC & GSM_EXTENSION
    assert GSM_CHARACTERS == GSM_BASIC | GSM_EXTENSION


@pytest.mark.parametrize("character", sorted(REFERENCE_BASIC))
def test_every_default_alphabet_character_costs_one_septet(character):
    result = count(character * 10)
    assert (result.encoding, result.units, result.segments) == ("GSM-7", 10, 1)


@pytest.mark.parametrize("character", sorted(REFERENCE_EXT))
def test_every_extension_character_costs_two_septets(character):
    result = count("a" + character)
    assert (result.encoding, result.units, result.characters) == ("GSM-7", 3, 2)


@pytest.mark.parametrize(
    "character",
    list("éèùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉÄÖÑÜ§¿äöñüà¤¡£¥@$\n\r"),
)
def test_characters_people_doubt_are_in_the_gsm_alphabet(character):
    assert count(character).encoding == "GSM-7"


@pytest.mark.parametrize(
    "character",
    ["ç", "ê", "â", "î", "ô", "û", "ë", "ï", "á", "í", "ó", "ú", "ã", "õ", "œ", "Œ", "È", "À", "Ê",
     "`", "\t", "\x1b", "\x00", "\x7f", "’", "“", "–", "—", "…", "\u00a0", "α", "β", "ж", "中", "😀", "\ufeff"],
)  # fmt: skip
def test_characters_outside_both_tables_force_ucs2(character):
    result = count("hello " + character)
    assert result.encoding == "UCS-2"
    assert result.non_gsm_characters == (character,)


# --- single messages ---


def test_empty_text_is_zero_segments_in_gsm7():
    result = count("")
    assert result == Segmentation(encoding="GSM-7", segments=0, units=0, characters=0, non_gsm_characters=())


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (2, 1), (100, 1), (159, 1), (160, 1), (161, 2), (200, 2), (305, 2), (306, 2), (307, 3), (458, 3),
     (459, 3), (460, 4), (612, 4), (613, 5), (1071, 7), (1072, 8), (1530, 10), (1531, 11), (1600, 11),
     (1683, 11), (1684, 12)],
)  # fmt: skip
def test_plain_gsm7_text_fits_160_septets_alone_and_153_per_part(length, segments):
    result = count("a" * length)
    assert (result.encoding, result.segments, result.units, result.characters) == ("GSM-7", segments, length, length)


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (69, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4), (670, 10), (671, 11),
     (1600, 24)],
)  # fmt: skip
def test_plain_ucs2_text_fits_70_units_alone_and_67_per_part(length, segments):
    result = count("ê" * length)
    assert (result.encoding, result.segments, result.units) == ("UCS-2", segments, length)


@pytest.mark.parametrize(
    ("text", "units", "segments"),
    [
        ("€" * 80, 160, 1),
        ("€" * 79 + "a", 159, 1),
        ("€" * 79 + "ab", 160, 1),
        ("€" * 79 + "abc", 161, 2),
        ("€" * 80 + "a", 161, 2),
        ("a" * 158 + "€", 160, 1),
        ("a" * 159 + "€", 161, 2),
    ],
)
def test_extension_characters_count_double_against_the_single_message_limit(text, units, segments):
    result = count(text)
    assert (result.encoding, result.units, result.segments) == ("GSM-7", units, segments)


@pytest.mark.parametrize(
    ("text", "units", "segments"),
    [
        ("😀" * 35, 70, 1),
        ("😀" * 34 + "a", 69, 1),
        ("😀" * 34 + "ab", 70, 1),
        ("😀" * 34 + "abc", 71, 2),
        ("😀" * 35 + "a", 71, 2),
        ("ê" * 68 + "😀", 70, 1),
        ("ê" * 69 + "😀", 71, 2),
    ],
)
def test_emoji_outside_the_bmp_cost_two_utf16_units(text, units, segments):
    result = count(text)
    assert (result.encoding, result.units, result.segments) == ("UCS-2", units, segments)


def test_extension_characters_cost_one_unit_once_the_text_is_ucs2():
    result = count("€[]ê")
    assert (result.encoding, result.units, result.non_gsm_characters) == ("UCS-2", 4, ("ê",))


def test_non_gsm_characters_are_unique_and_in_order_of_appearance():
    assert count("çaêç😀ê€b😀").non_gsm_characters == ("ç", "ê", "😀")


def test_many_distinct_non_gsm_characters_are_reported_in_order_of_appearance():
    text = "".join(chr(0x4E00 + index) for index in range(1600))
    result = count(text + text[::-1])
    assert result.non_gsm_characters == tuple(text)
    assert (result.units, result.segments) == (3200, 48)


def test_gsm7_text_reports_no_non_gsm_characters():
    assert count("Hello {world} €5").non_gsm_characters == ()


# --- part boundaries ---


@pytest.mark.parametrize("extension", sorted(REFERENCE_EXT))
def test_an_escape_pair_that_would_straddle_a_boundary_moves_whole_to_the_next_part(extension):
    # Given 152 septets then a two-septet character: 154 would not fit the first part's 153
    text = "a" * 152 + extension + "a" * 152
    # When counted, naive ceil(306 / 153) would say 2; the pair moves and the second part overflows
    result = count(text)
    assert (result.units, result.segments) == (306, 3)


@pytest.mark.parametrize("extension", sorted(REFERENCE_EXT))
def test_an_escape_pair_that_ends_a_part_exactly_stays_in_it(extension):
    result = count("a" * 151 + extension + "a" * 153)
    assert (result.units, result.segments) == (306, 2)


@pytest.mark.parametrize("extension", sorted(REFERENCE_EXT))
def test_an_escape_pair_moved_to_the_next_part_still_fits_when_the_rest_is_short(extension):
    result = count("a" * 152 + extension + "a" * 151)
    assert (result.units, result.segments) == (305, 2)


@pytest.mark.parametrize(("prefix", "segments"), [(0, 2), (1, 2), (150, 2), (151, 2), (152, 3), (153, 2), (154, 2)])
def test_only_a_pair_straddling_septets_153_and_154_adds_a_part(prefix, segments):
    # 306 septets whatever the prefix: exactly two full parts unless the pair is split by the boundary
    text = "a" * prefix + "€" + "a" * (304 - prefix)
    result = count(text)
    assert (result.units, result.segments) == (306, segments)


@pytest.mark.parametrize("boundary", [1, 2, 3, 5, 9])
def test_escape_pairs_at_later_part_boundaries_also_move(boundary):
    text = "a" * (153 * boundary - 1) + "€" + "a" * 200
    assert count(text).segments == reference_count(text)[1]
    assert count(text).segments == boundary + 2


def test_text_made_only_of_extension_characters_fits_76_per_part():
    # 76 pairs = 152 septets; a 77th pair would need 154
    result = count("€" * 152)
    assert (result.units, result.segments) == (304, 2)
    assert count("€" * 153).segments == 3


def test_a_surrogate_pair_that_would_straddle_a_boundary_moves_whole_to_the_next_part():
    text = "ê" * 66 + "😀" + "ê" * 66
    result = count(text)
    assert (result.encoding, result.units, result.segments) == ("UCS-2", 134, 3)


def test_a_surrogate_pair_that_ends_a_part_exactly_stays_in_it():
    result = count("ê" * 65 + "😀" + "ê" * 67)
    assert (result.units, result.segments) == (134, 2)


def test_a_surrogate_pair_moved_to_the_next_part_still_fits_when_the_rest_is_short():
    result = count("ê" * 66 + "😀" + "ê" * 65)
    assert (result.units, result.segments) == (133, 2)


@pytest.mark.parametrize("emoji", ["😀", "🎉", "👍", "🚀", "𝄞", "🇫"])
def test_text_made_only_of_emoji_fits_33_per_part(emoji):
    assert count(emoji * 35).segments == 1
    assert count(emoji * 36).segments == 2  # 72 units: 33 + 3 emoji
    assert count(emoji * 66).segments == 2
    assert count(emoji * 67).segments == 3


@pytest.mark.parametrize("boundary", [1, 2, 4, 7])
def test_surrogate_pairs_at_later_part_boundaries_also_move(boundary):
    text = "ê" * (67 * boundary - 1) + "😀" + "ê" * 100
    assert count(text).segments == reference_count(text)[1] == boundary + 2


def test_bmp_symbols_are_one_unit_and_never_move():
    text = "ê" * 66 + "☺" + "ê" * 67
    assert (count(text).units, count(text).segments) == (134, 2)


# --- 1,600 characters, Aircall's longest message ---


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("a" * 1600, "GSM-7", 1600, 11),
        ("é" * 1600, "GSM-7", 1600, 11),
        ("€" * 1600, "GSM-7", 3200, 22),
        ("ê" * 1600, "UCS-2", 1600, 24),
        ("😀" * 1600, "UCS-2", 3200, 49),
        (("Hello {world} " * 200)[:1600], "GSM-7", None, None),
        (("Salut 😀 ça va? " * 200)[:1600], "UCS-2", None, None),
    ],
)
def test_1600_character_texts_count_like_the_reference(text, encoding, units, segments):
    result = count(text)
    assert len(text) == 1600
    assert result.characters == 1600
    assert result.encoding == encoding
    expected = reference_count(text)
    assert (result.encoding, result.segments, result.units) == expected
    if units is not None:
        assert (result.units, result.segments) == (units, segments)


def test_a_lone_surrogate_counts_as_one_unit_instead_of_failing():
    result = count("ê" * 66 + "\ud83d" + "abc")
    assert (result.encoding, result.units) == ("UCS-2", 70)


@pytest.mark.parametrize("value", [None, 42, b"bytes", ["a"]])
def test_counting_something_else_than_text_is_a_type_error(value):
    with pytest.raises(TypeError):
        count(value)


def test_a_segmentation_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        count("hi").segments = 3  # type: ignore[misc]


def test_to_dict_is_json_ready():
    result = count("Salut 😀 ça va?").to_dict()
    assert result == {
        "encoding": "UCS-2",
        "segments": 1,
        "units": 15,
        "characters": 14,
        "non_gsm_characters": ["😀", "ç"],
    }
    assert json.loads(json.dumps(result)) == result


# --- property: count agrees with the greedy reference ---

GSM_ALPHABET = sorted(REFERENCE_BASIC)
EXTENSION_ALPHABET = sorted(REFERENCE_EXT)
ACCENTED_NON_GSM = list("êâçîôûëïáíóúãõœ")
EMOJI = ["😀", "🎉", "👍", "🚀", "🍕", "❤", "☺", "🇫", "🇷"]

gsm_heavy_text = st.text(
    alphabet=st.one_of(st.sampled_from(GSM_ALPHABET), st.sampled_from(EXTENSION_ALPHABET)), max_size=700
)
any_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(GSM_ALPHABET),
        st.sampled_from(EXTENSION_ALPHABET),
        st.sampled_from(ACCENTED_NON_GSM),
        st.sampled_from(EMOJI),
    ),
    max_size=700,
)
# Long runs of one character then one two-unit character: pushes pairs onto exact part boundaries.
boundary_text = st.builds(
    lambda filler, run, wide, tail: filler * run + wide + filler * tail,
    st.sampled_from(["a", "é", "ê", "€"]),
    st.integers(min_value=0, max_value=700),
    st.sampled_from(["€", "[", "😀", "🎉", "x", "ê"]),
    st.integers(min_value=0, max_value=400),
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(gsm_heavy_text, any_text, boundary_text))
def test_count_agrees_with_greedy_packing_one_character_at_a_time(text):
    result = count(text)
    assert (result.encoding, result.segments, result.units) == reference_count(text)
    assert result.characters == len(text)
    assert result.non_gsm_characters == reference_non_gsm(text)


@settings(max_examples=200, deadline=None)
@given(any_text)
def test_more_text_never_costs_fewer_segments(text):
    assert count(text + "a").segments >= count(text).segments


# --- suggestions ---


@pytest.mark.parametrize(("original", "replacement"), sorted(GSM_EQUIVALENTS.items()))
def test_each_typographic_character_is_replaced_by_its_gsm_equivalent(original, replacement):
    suggestion = suggest_gsm(f"a{original}b")
    assert suggestion.text == f"a{replacement}b"
    assert suggestion.replacements == ((original, replacement),)


@pytest.mark.parametrize("original", sorted(GSM_EQUIVALENTS))
def test_only_characters_outside_the_gsm_alphabet_are_ever_replaced(original):
    assert original not in GSM_CHARACTERS


@pytest.mark.parametrize("replacement", sorted(set(GSM_EQUIVALENTS.values())))
def test_every_replacement_is_made_of_gsm_characters(replacement):
    assert set(replacement) <= GSM_CHARACTERS


@pytest.mark.parametrize(
    ("original", "replacement"),
    [("’", "'"), ("‘", "'"), ("‚", "'"), ("′", "'"), ("“", '"'), ("”", '"'), ("„", '"'), ("«", '"'), ("»", '"'),
     ("″", '"'), ("–", "-"), ("—", "-"), ("‒", "-"), ("−", "-"), ("…", "..."), ("\u00a0", " "), ("\u2009", " "),
     ("\u202f", " "), ("\u2007", " "), ("\u3000", " "), ("\u200b", ""), ("\u200d", ""), ("\u2060", ""),
     ("\ufeff", ""), ("•", "-")],
)  # fmt: skip
def test_the_documented_replacements_are_in_the_table(original, replacement):
    assert GSM_EQUIVALENTS[original] == replacement


def test_text_already_in_gsm_is_left_alone():
    text = "".join(sorted(GSM_CHARACTERS))
    suggestion = suggest_gsm(text)
    assert suggestion.text == text
    assert suggestion.replacements == ()
    assert suggestion.segments_saved == 0


def test_replacing_curly_quotes_brings_a_message_back_to_one_gsm_segment():
    # Given 100 characters that are GSM-7 but for one apostrophe: 2 UCS-2 segments
    text = "It’s confirmed" + "." * 86
    # When suggested
    suggestion = suggest_gsm(text)
    # Then the apostrophe is straight and one GSM-7 segment is enough
    assert suggestion == GsmSuggestion(
        text="It's confirmed" + "." * 86,
        segments_before=2,
        segments_after=1,
        segments_saved=1,
        replacements=(("’", "'"),),
        remaining_non_gsm=(),
    )


def test_replacements_are_unique_and_in_order_of_appearance():
    suggestion = suggest_gsm("“Hi” — it’s… ‘ok’ – “yes”")
    assert suggestion.replacements == (
        ("“", '"'),
        ("”", '"'),
        ("—", "-"),
        ("’", "'"),
        ("…", "..."),
        ("‘", "'"),
        ("–", "-"),
    )
    assert suggestion.text == '"Hi" - it\'s... \'ok\' - "yes"'


def test_zero_width_characters_are_removed():
    assert suggest_gsm("a\u200bb\u200cc\u200dd\ufeffe\u00adf").text == "abcdef"


def test_characters_without_equivalent_remain_and_are_reported():
    suggestion = suggest_gsm("C’est ça 😀")
    assert suggestion.text == "C'est ça 😀"
    assert suggestion.remaining_non_gsm == ("ç", "😀")


def test_savings_can_be_negative_when_the_text_stays_ucs2():
    # Three dots cost three units where the ellipsis cost one, and the emoji keeps the text in UCS-2
    text = "😀" + "…" * 69
    suggestion = suggest_gsm(text)
    assert suggestion.segments_before == 2
    assert suggestion.segments_after == 4
    assert suggestion.segments_saved == -2


def test_suggesting_on_empty_text_changes_nothing():
    assert suggest_gsm("") == GsmSuggestion("", 0, 0, 0, (), ())


def test_suggestion_to_dict_is_json_ready():
    result = suggest_gsm("It’s 😀").to_dict()
    assert result == {
        "text": "It's 😀",
        "segments_before": 1,
        "segments_after": 1,
        "segments_saved": 0,
        "replacements": [["’", "'"]],
        "remaining_non_gsm": ["😀"],
    }
    assert json.loads(json.dumps(result)) == result


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.one_of(st.sampled_from(GSM_ALPHABET), st.sampled_from(sorted(GSM_EQUIVALENTS))), max_size=400)
)
def test_text_of_gsm_and_typographic_characters_always_becomes_gsm7(text):
    suggestion = suggest_gsm(text)
    assert count(suggestion.text).encoding == "GSM-7"
    assert suggestion.remaining_non_gsm == ()
    assert suggestion.segments_saved == suggestion.segments_before - suggestion.segments_after


# --- command line ---


def test_the_command_line_prints_the_count_as_json(capsys):
    assert segments.main(["Hello", "{world}"]) == 0
    assert json.loads(capsys.readouterr().out) == count("Hello {world}").to_dict()


def test_the_command_line_reads_standard_input_without_arguments(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("Ça va? 😀\n"))
    assert segments.main([]) == 0
    assert json.loads(capsys.readouterr().out) == count("Ça va? 😀").to_dict()


def test_python_dash_m_runs_the_command_line():
    completed = subprocess.run(
        [sys.executable, "-m", "aircall_sms.domain.segments", "some text ê"],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(Path(segments.__file__).parents[2]), "PYTHONIOENCODING": "utf-8"},
    )
    assert json.loads(completed.stdout) == count("some text ê").to_dict()
