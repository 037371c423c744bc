"""Benchmark of `aircall_sms.domain.segments.count` (and `suggest_gsm`): microseconds per call on 1,600-character
texts, Aircall's longest message, in each encoding and packing case. Best of several rounds."""

from __future__ import annotations

import time
from collections.abc import Callable

from aircall_sms.domain.segments import count, suggest_gsm

LENGTH = 1_600
ROUNDS = 5
CALLS_PER_ROUND = 400


def _text(pattern: str) -> str:
    return (pattern * (LENGTH // len(pattern) + 1))[:LENGTH]


TEXTS: dict[str, str] = {
    # plain ASCII GSM-7: the common case
    "gsm": _text("Hello Anna, your appointment is confirmed for Tuesday at 10:30. Reply STOP to opt out. "),
    # GSM-7 with accented letters of the default alphabet (non-ASCII, still GSM-7)
    "gsm_accented": _text("Rendez-vous confirmé à 10h, à très bien; ¿Qué pasa? Ñoño, Ægir, Øresund, Straße. "),
    # GSM-7 with extension characters: escape pairs must not straddle a part boundary
    "gsm_extension": _text("Total: 10€ [VAT incl.] {ref: ^A|B~} "),
    # UCS-2 forced by accented letters outside the alphabet
    "ucs2": _text("Votre colis arrive bientôt – merci d’avoir commandé chez nous! "),
    # UCS-2 with emoji: surrogate pairs must not straddle a part boundary
    "ucs2_emoji": _text("Party tonight 🎉 bring snacks 🍕 and smiles 😀 "),
    # worst case for listing the non-GSM characters: 1,600 distinct ones
    "ucs2_distinct_cjk": "".join(chr(0x4E00 + index) for index in range(LENGTH)),
}


def _microseconds_per_call(call: Callable[[str], object], text: str) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(CALLS_PER_ROUND):
            call(text)
        best = min(best, time.perf_counter() - started)
    return round(best / CALLS_PER_ROUND * 1e6, 2)


def run() -> dict[str, object]:
    results: dict[str, object] = {
        f"segments_count_us_per_call_1600_{name}": _microseconds_per_call(count, text) for name, text in TEXTS.items()
    }
    results["segments_suggest_gsm_us_per_call_1600_ucs2"] = _microseconds_per_call(suggest_gsm, TEXTS["ucs2"])
    return results
