"""The opt-out and consent request models (strict, closed, bounded) and the list cursor codec."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aircall_sms.domain.pages import decode_cursor, encode_cursor
from aircall_sms.domain.requests import ConsentRequest, OptOutRequest
from aircall_sms.errors import InvalidRequest

KEYS = frozenset({"contact", "sk", "scope", "at"})
LAST_KEY = {
    "contact": {"S": "+33612345679"},
    "sk": {"S": "optout#*"},
    "scope": {"S": "*"},
    "at": {"S": "2026-11-01T10:00:00.000Z"},
}
CONSENT = {
    "purpose": "marketing",
    "source": "web_form",
    "captured_at": "2026-11-01T10:00:00Z",
    "text": "Yes, send me offers",
}


# ------------------------------------------------------------------------------------------------ opt-out
def test_an_empty_opt_out_is_company_wide_from_the_api():
    request = OptOutRequest.model_validate({})
    assert (request.number_id, request.source) == (None, "api")


@pytest.mark.parametrize("number_id", [100004, "100004"])
def test_an_opt_out_names_its_number_by_int_or_digits(number_id):
    assert OptOutRequest.model_validate({"number_id": number_id}).number_id == number_id


@pytest.mark.parametrize(
    "body",
    [{"number_id": True}, {"number_id": 1.5}, {"number_id": "1" * 19}, {"source": ""}, {"source": "x" * 65}, {"x": 1}],
)
def test_an_opt_out_refuses_loose_types_long_values_and_unknown_fields(body):
    with pytest.raises(ValidationError):
        OptOutRequest.model_validate(body)


# ------------------------------------------------------------------------------------------------ consent
def test_a_consent_needs_its_evidence():
    request = ConsentRequest.model_validate(CONSENT | {"evidence_url": "https://example.com/c/1"})
    assert (request.purpose, request.number_id, request.evidence_url) == ("marketing", None, "https://example.com/c/1")
    for missing in ("purpose", "source", "captured_at", "text"):
        with pytest.raises(ValidationError):
            ConsentRequest.model_validate({name: value for name, value in CONSENT.items() if name != missing})


@pytest.mark.parametrize(
    "change",
    [
        {"purpose": "transactional"},
        {"captured_at": "2026-11-01T10:00:00"},
        {"text": "x" * 2001},
        {"evidence_url": "http://example.com/c/1"},
        {"evidence_url": "ftp://example.com/c/1"},
        {"evidence_url": "https://" + "a" * 2048},
        {"recorded_at": "2026-11-01T10:00:00Z"},
    ],
)
def test_a_consent_refuses_other_purposes_naive_times_long_texts_and_non_https_evidence(change):
    with pytest.raises(ValidationError):
        ConsentRequest.model_validate(CONSENT | change)


# ------------------------------------------------------------------------------------------------ cursor
def test_a_cursor_round_trips_the_last_key():
    cursor = encode_cursor(LAST_KEY)
    assert cursor is not None and "=" not in cursor
    assert decode_cursor(cursor, keys=KEYS) == LAST_KEY


def test_no_last_key_is_no_cursor_and_no_cursor_is_the_first_page():
    assert encode_cursor(None) is None
    assert encode_cursor({}) is None
    assert decode_cursor(None, keys=KEYS) is None
    assert decode_cursor("", keys=KEYS) is None


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        "bm90IGpzb24",  # "not json"
        encode_cursor({"contact": {"S": "+33612345679"}}),
        encode_cursor(LAST_KEY | {"at": {"N": "1"}}),
        encode_cursor(LAST_KEY | {"at": {"S": 1}}),
        encode_cursor(LAST_KEY | {"extra": {"S": "x"}}),
        "a" * 2049,
    ],
)
def test_a_cursor_that_is_not_ours_is_invalid_request(cursor):
    with pytest.raises(InvalidRequest) as raised:
        decode_cursor(cursor, keys=KEYS)
    assert raised.value.details == {"field": "cursor"}
