"""Opt-out keywords in inbound messages (docs/http-api.md, "Consent and opt-out").

A keyword counts when it is the whole message, as carriers read them: "STOP", "stop", " Stop. ", "Arrêt !"
match; "please stop calling me" and "STOP IT" do not (a person writing a sentence gets an answer from a
person, not an automatic opt-out). Case, accents, surrounding spaces and punctuation are ignored.

    opt_out   STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, ARRET (ARRÊT), DESABONNER (DÉSABONNER), DESINSCRIRE
    opt_in    START, UNSTOP (not "YES": a yes answers other questions too)
    help      HELP, INFO, AIDE
"""

from __future__ import annotations

import unicodedata
from typing import Literal

Keyword = Literal["opt_out", "opt_in", "help"]

OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "ARRET", "DESABONNER", "DESINSCRIRE"}
)
OPT_IN_WORDS = frozenset({"START", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO", "AIDE"})
MAX_KEYWORD_MESSAGE = 40


def classify(text: str | None) -> Keyword | None:
    """The keyword `text` is, or None for an ordinary message."""
    if not text or len(text.strip()) > MAX_KEYWORD_MESSAGE:
        return None
    word = _normalise(text)
    if word in OPT_OUT_WORDS:
        return "opt_out"
    if word in OPT_IN_WORDS:
        return "opt_in"
    if word in HELP_WORDS:
        return "help"
    return None


def _normalise(text: str) -> str:
    """One word in upper case without accents, with the punctuation and spaces around it removed; else ""."""
    decomposed = unicodedata.normalize("NFKD", text)
    letters = "".join(char for char in decomposed if not unicodedata.combining(char))
    start, end = 0, len(letters)
    while start < end and not letters[start].isalnum():
        start += 1
    while end > start and not letters[end - 1].isalnum():
        end -= 1
    word = letters[start:end]
    return word.upper() if word.isascii() and word.isalpha() else ""
