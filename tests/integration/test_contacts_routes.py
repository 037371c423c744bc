"""The quota, opt-out and consent routes of the manage function, called in-process with API Gateway events (the
files in events/) against the DynamoDB emulator and the Aircall sandbox: every route, its error codes, the list's
pagination boundaries, and the round trips through the send function (an opt-out refuses, a consent allows)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aircall_sms.domain.access import ADMIN_PRINCIPAL as ADMIN
from aircall_sms.domain.pages import encode_cursor
from aircall_sms.domain.requests import NumberRequest
from aircall_sms.store import contacts, numbers
from aircall_sms.use_cases import numbers as number_use_cases
from tests.support import invoke, load_event, with_body

FR_FIXED = "100005"  # +33 1 86 95 42 10
US_LOCAL = "100001"
NOT_CONFIGURED = "100003"
CONTACT = "+33612345679"
CONTACT_NATIONAL = "0612345679"
OTHER_CONTACT = "+33612345680"
CONSENT = {
    "purpose": "marketing",
    "source": "web_form",
    "captured_at": "2026-11-01T10:00:00Z",
    "text": "Yes, send me offers by SMS",
    "evidence_url": "https://example.com/consents/4711",
}
NO_BODY = object()


# ------------------------------------------------------------------------------------------------ helpers
def call(
    event_name: str,
    path: str,
    *,
    path_parameters: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    body: Any = NO_BODY,
) -> tuple[int, dict[str, Any]]:
    """The manage handler, given the sample event `event_name` pointed at `path` with these parameters."""
    event = load_event(
        event_name,
        path=path,
        pathParameters=path_parameters,
        queryStringParameters=query,
        multiValueQueryStringParameters={name: [value] for name, value in query.items()} if query else None,
    )
    if body is not NO_BODY:
        event = with_body(event, body)
    return invoke("manage", event)


def put_opt_out(phone: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    return call("manage_put_opt_out", f"/opt-outs/{phone}", path_parameters={"phone": phone}, body=body)


def delete_opt_out(phone: str, **query: str) -> tuple[int, dict[str, Any]]:
    return call("manage_delete_opt_out", f"/opt-outs/{phone}", path_parameters={"phone": phone}, query=query)


def list_opt_outs(**query: str) -> tuple[int, dict[str, Any]]:
    return call("manage_list_opt_outs", "/opt-outs", query=query)


def put_consent(phone: str, body: Any) -> tuple[int, dict[str, Any]]:
    return call("manage_put_consent", f"/consents/{phone}", path_parameters={"phone": phone}, body=body)


def get_consents(phone: str) -> tuple[int, dict[str, Any]]:
    return call("manage_get_consents", f"/consents/{phone}", path_parameters={"phone": phone})


def delete_consents(phone: str, **query: str) -> tuple[int, dict[str, Any]]:
    return call("manage_delete_consents", f"/consents/{phone}", path_parameters={"phone": phone}, query=query)


def get_quota(number_id: str) -> tuple[int, dict[str, Any]]:
    path = f"/numbers/{number_id}/quota"
    return call("manage_get_number_quota", path, path_parameters={"number_id": number_id})


def send(**fields: Any) -> tuple[int, dict[str, Any]]:
    """POST /messages through the send function."""
    event = load_event("send_message")
    event["headers"].pop("Idempotency-Key", None)
    event["multiValueHeaders"].pop("Idempotency-Key", None)
    body = {"from": FR_FIXED, "to": CONTACT, "text": "Bonjour !"} | fields
    return invoke("send", with_body(event, body))


def error_code(answer: tuple[int, dict[str, Any]]) -> tuple[int, str]:
    status, body = answer
    return status, body["error"]["code"]


def seed_opt_outs(count: int, *, number_id: str | None, start: datetime) -> list[str]:
    """`count` opt-outs one minute apart; their contacts, newest first."""
    seeded = []
    for index in range(count):
        contact = f"+336123450{index:02d}"
        contacts.opt_out(contact, number_id=number_id, at=start + timedelta(minutes=index), source="test")
        seeded.append(contact)
    return seeded[::-1]


@pytest.fixture
def configured(gateway) -> Iterator[None]:
    """The French fixed line and a US line configured (proxy mode); removed afterwards (the table is shared)."""
    for number_id in (FR_FIXED, US_LOCAL):
        number_use_cases.configure(
            ADMIN, number_id, NumberRequest(mode="proxy"), request_callback_url="https://unused/webhooks/aircall"
        )
    yield
    for number_id in (FR_FIXED, US_LOCAL):
        numbers.delete(number_id)
        numbers.forget(number_id)


# ------------------------------------------------------------------------------------------------ quota
def test_the_quota_of_a_configured_number_counts_what_was_sent(configured):
    # Given one message sent from the French fixed line
    assert send()[0] == 201
    # When its quota is read
    status, body = get_quota(FR_FIXED)
    # Then every window counts the one segment, and the company budget its Aircall requests
    assert status == 200
    quota = body
    assert quota["number_id"] == int(FR_FIXED)
    assert set(quota["limits"]) == set(quota["used"]) == set(quota["remaining"]) == set(quota["resets_at"])
    assert set(quota["used"].values()) == {1}
    assert all(quota["remaining"][name] == quota["limits"][name] - 1 for name in quota["limits"])
    assert quota["company"]["used"] >= 1
    assert quota["company"]["blocked_until"] is None


def test_the_quota_of_an_unconfigured_number_is_number_not_configured(gateway):
    assert error_code(get_quota(NOT_CONFIGURED)) == (404, "number_not_configured")


def test_the_quota_of_a_number_that_is_not_a_number_id_is_invalid_request(gateway):
    assert error_code(get_quota("abc")) == (400, "invalid_request")


# ------------------------------------------------------------------------------------------------ opt-outs
def test_an_opt_out_without_a_body_is_company_wide_and_recorded_by_the_api(configured):
    status, body = put_opt_out(CONTACT)
    assert status == 201
    opt_out = body["opt_out"]
    assert (opt_out["contact"], opt_out["number_id"], opt_out["source"], opt_out["detail"]) == (
        CONTACT,
        None,
        "api",
        None,
    )
    assert opt_out["at"].endswith("Z")


def test_repeating_an_opt_out_keeps_the_first_record(configured):
    first = put_opt_out(CONTACT, {"number_id": FR_FIXED, "source": "crm"})
    again = put_opt_out(CONTACT, {"number_id": int(FR_FIXED), "source": "support"})
    assert (first[0], again[0]) == (201, 200)
    assert again[1]["opt_out"] == first[1]["opt_out"]
    assert again[1]["opt_out"]["source"] == "crm"


def test_an_opt_out_of_a_number_reads_the_phone_in_that_numbers_national_format(configured):
    status, body = put_opt_out(CONTACT_NATIONAL, {"number_id": int(FR_FIXED)})
    assert status == 201
    assert (body["opt_out"]["contact"], body["opt_out"]["number_id"]) == (CONTACT, int(FR_FIXED))


def test_a_url_encoded_plus_in_the_path_is_read(configured):
    status, body = put_opt_out("%2B33612345679")
    assert (status, body["opt_out"]["contact"]) == (201, CONTACT)


def test_an_opt_out_of_an_unconfigured_number_is_number_not_configured(configured):
    assert error_code(put_opt_out(CONTACT, {"number_id": NOT_CONFIGURED})) == (404, "number_not_configured")


@pytest.mark.parametrize("raw", ["not-a-phone", "12", CONTACT_NATIONAL])
def test_an_invalid_phone_is_invalid_phone(configured, raw):
    # A national number without a number_id has no country to be read in.
    assert error_code(put_opt_out(raw)) == (400, "invalid_phone")


@pytest.mark.parametrize(
    "body",
    [
        {"scope": "everything"},
        {"number_id": True},
        {"number_id": 100005.5},
        {"number_id": "abc"},
        {"source": ""},
        {"source": "x" * 65},
        "not json",
    ],
)
def test_a_malformed_opt_out_body_is_invalid_request(configured, body):
    assert error_code(put_opt_out(CONTACT, body)) == (400, "invalid_request")
    assert contacts.get_opt_out(CONTACT, number_id=None) is None


def test_removing_an_opt_out_lets_the_contact_be_sent_to_again(configured):
    # Given a contact who opted out of the French fixed line through the API
    assert put_opt_out(CONTACT, {"number_id": FR_FIXED})[0] == 201
    # Then a send to it is refused
    assert error_code(send()) == (403, "opted_out")
    # When the opt-out is removed
    assert delete_opt_out(CONTACT, number_id=FR_FIXED) == (200, {"removed": True, "client_id": "admin"})
    # Then the send is allowed
    assert send()[0] == 201


def test_a_company_wide_opt_out_refuses_every_number_until_removed(configured):
    assert put_opt_out(CONTACT)[0] == 201
    assert error_code(send()) == (403, "opted_out")
    assert delete_opt_out(CONTACT) == (200, {"removed": True, "client_id": "admin"})
    assert send()[0] == 201


def test_removing_an_opt_out_that_does_not_exist_is_not_found(configured):
    assert put_opt_out(CONTACT)[0] == 201
    assert error_code(delete_opt_out(CONTACT, number_id=FR_FIXED)) == (404, "not_found")
    assert delete_opt_out(CONTACT)[0] == 200
    assert error_code(delete_opt_out(CONTACT)) == (404, "not_found")


def test_removing_an_opt_out_with_an_invalid_phone_or_number_id_is_refused(configured):
    assert error_code(delete_opt_out("nope")) == (400, "invalid_phone")
    assert error_code(delete_opt_out(CONTACT, number_id="abc")) == (400, "invalid_request")


def test_the_list_of_a_number_holds_its_opt_outs_newest_first_and_only_them(configured):
    start = datetime(2026, 11, 1, 10, tzinfo=UTC)
    newest_first = seed_opt_outs(3, number_id=FR_FIXED, start=start)
    contacts.opt_out(OTHER_CONTACT, number_id=None, at=start, source="test")
    contacts.opt_out(OTHER_CONTACT, number_id=US_LOCAL, at=start, source="test")
    status, body = list_opt_outs(number_id=FR_FIXED)
    assert status == 200
    assert [item["contact"] for item in body["items"]] == newest_first
    assert {item["number_id"] for item in body["items"]} == {int(FR_FIXED)}
    assert body["next_cursor"] is None


def test_the_list_without_a_number_holds_the_company_wide_opt_outs(configured):
    start = datetime(2026, 11, 1, 10, tzinfo=UTC)
    newest_first = seed_opt_outs(2, number_id=None, start=start)
    contacts.opt_out(OTHER_CONTACT, number_id=FR_FIXED, at=start, source="test")
    status, body = list_opt_outs()
    assert status == 200
    assert [item["contact"] for item in body["items"]] == newest_first
    assert {item["number_id"] for item in body["items"]} == {None}


def test_opt_outs_from_keywords_are_listed_with_their_source(configured):
    # The keyword path writes the same items (scope and time set with if_not_exists); simulated here by the store.
    contacts.opt_out(CONTACT, number_id=FR_FIXED, at=datetime.now(UTC), source="keyword", detail="inbound message 1")
    status, body = list_opt_outs(number_id=FR_FIXED)
    assert status == 200
    assert [(item["source"], item["detail"]) for item in body["items"]] == [("keyword", "inbound message 1")]


def test_a_page_of_exactly_limit_items_has_a_cursor_to_an_empty_last_page(configured):
    newest_first = seed_opt_outs(3, number_id=FR_FIXED, start=datetime(2026, 11, 1, 10, tzinfo=UTC))
    status, first = list_opt_outs(number_id=FR_FIXED, limit="3")
    assert status == 200
    assert [item["contact"] for item in first["items"]] == newest_first
    assert first["next_cursor"]
    status, last = list_opt_outs(number_id=FR_FIXED, limit="3", cursor=first["next_cursor"])
    assert (status, last) == (200, {"items": [], "next_cursor": None})


def test_pages_follow_each_other_to_a_short_last_page(configured):
    newest_first = seed_opt_outs(5, number_id=None, start=datetime(2026, 11, 1, 10, tzinfo=UTC))
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        status, page = list_opt_outs(**query)
        assert status == 200
        seen += [item["contact"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            assert len(page["items"]) == 1
            break
    assert (seen, pages) == (newest_first, 3)


def test_the_default_limit_is_50(configured):
    seed_opt_outs(51, number_id=FR_FIXED, start=datetime(2026, 11, 1, 10, tzinfo=UTC))
    status, body = list_opt_outs(number_id=FR_FIXED)
    assert (status, len(body["items"])) == (200, 50)
    assert body["next_cursor"]


def test_a_limit_of_500_is_accepted(configured):
    status, body = list_opt_outs(limit="500")
    assert (status, body) == (200, {"items": [], "next_cursor": None})


@pytest.mark.parametrize("limit", ["501", "0", "-1", "ten"])
def test_a_limit_outside_1_to_500_is_invalid_request(configured, limit):
    assert error_code(list_opt_outs(limit=limit)) == (400, "invalid_request")


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64!",
        "bm90IGpzb24",  # "not json"
        encode_cursor({"contact": {"S": CONTACT}}),  # not the index's keys
        encode_cursor({"contact": {"N": "1"}, "sk": {"S": "a"}, "scope": {"S": "*"}, "at": {"S": "b"}}),
    ],
)
def test_a_malformed_cursor_is_invalid_request(configured, cursor):
    assert error_code(list_opt_outs(cursor=cursor)) == (400, "invalid_request")


def test_a_cursor_of_another_list_is_invalid_request(configured):
    seed_opt_outs(2, number_id=FR_FIXED, start=datetime(2026, 11, 1, 10, tzinfo=UTC))
    _, page = list_opt_outs(number_id=FR_FIXED, limit="1")
    assert error_code(list_opt_outs(cursor=page["next_cursor"])) == (400, "invalid_request")


def test_the_list_of_a_number_that_is_not_a_number_id_is_invalid_request(configured):
    assert error_code(list_opt_outs(number_id="abc")) == (400, "invalid_request")


# ------------------------------------------------------------------------------------------------ consents
def test_a_recorded_consent_is_returned_with_its_evidence(configured):
    status, body = put_consent(CONTACT, CONSENT | {"number_id": int(FR_FIXED)})
    assert status == 200
    assert body["contact"] == CONTACT
    consent = body["consent"]
    assert consent == {
        "purpose": "marketing",
        "number_id": int(FR_FIXED),
        "source": "web_form",
        "captured_at": "2026-11-01T10:00:00.000Z",
        "text": CONSENT["text"],
        "evidence_url": CONSENT["evidence_url"],
        "recorded_at": consent["recorded_at"],
        "client_id": "admin",  # the key that recorded it (audit)
    }
    assert get_consents(CONTACT) == (200, {"contact": CONTACT, "consents": [consent]})


def test_a_contact_without_consents_has_an_empty_list(configured):
    assert get_consents(CONTACT) == (200, {"contact": CONTACT, "consents": []})


def test_a_consent_lets_a_marketing_message_go_out_from_the_french_fixed_line(configured):
    # Given no consent, a marketing message is refused
    assert error_code(send(purpose="marketing")) == (403, "consent_required")
    # When the contact's consent is recorded through the API (national format, read in the number's country)
    assert put_consent(CONTACT_NATIONAL, CONSENT | {"number_id": FR_FIXED})[0] == 200
    # Then the marketing message is allowed
    assert send(purpose="marketing")[0] == 201


def test_withdrawing_the_consent_of_a_number_refuses_marketing_again(configured):
    assert put_consent(CONTACT, CONSENT | {"number_id": FR_FIXED})[0] == 200
    withdrawn = delete_consents(CONTACT, number_id=FR_FIXED, purpose="marketing")
    assert withdrawn == (200, {"removed": 1, "client_id": "admin"})
    assert error_code(send(purpose="marketing")) == (403, "consent_required")
    assert delete_consents(CONTACT, number_id=FR_FIXED) == (200, {"removed": 0, "client_id": "admin"})


def test_withdrawing_without_a_number_removes_every_consent_for_the_purpose(configured):
    assert put_consent(CONTACT, CONSENT)[0] == 200
    assert put_consent(CONTACT, CONSENT | {"number_id": FR_FIXED})[0] == 200
    assert [consent["number_id"] for consent in get_consents(CONTACT)[1]["consents"]] == [None, int(FR_FIXED)]
    assert delete_consents(CONTACT) == (200, {"removed": 2, "client_id": "admin"})
    assert get_consents(CONTACT)[1]["consents"] == []
    assert delete_consents(CONTACT) == (200, {"removed": 0, "client_id": "admin"})


def test_a_consent_for_an_unconfigured_number_is_number_not_configured(configured):
    assert error_code(put_consent(CONTACT, CONSENT | {"number_id": NOT_CONFIGURED})) == (404, "number_not_configured")


def test_consent_routes_refuse_an_invalid_phone(configured):
    assert error_code(put_consent("abc", CONSENT)) == (400, "invalid_phone")
    assert error_code(get_consents(CONTACT_NATIONAL)) == (400, "invalid_phone")
    assert error_code(delete_consents("abc")) == (400, "invalid_phone")


def test_a_consent_captured_in_the_future_is_invalid_request(configured):
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert error_code(put_consent(CONTACT, CONSENT | {"captured_at": future})) == (400, "invalid_request")


@pytest.mark.parametrize(
    "change",
    [
        {"purpose": "transactional"},
        {"source": None},
        {"captured_at": "2026-11-01T10:00:00"},  # no time zone
        {"text": ""},
        {"text": "x" * 2001},
        {"evidence_url": "http://example.com/consent"},
        {"evidence_url": "https://"},
        {"extra": "field"},
    ],
)
def test_a_malformed_consent_is_invalid_request(configured, change):
    body = {name: value for name, value in (CONSENT | change).items() if value is not None}
    assert error_code(put_consent(CONTACT, body)) == (400, "invalid_request")


def test_a_consent_without_a_body_is_invalid_request(configured):
    assert error_code(put_consent(CONTACT, None)) == (400, "invalid_request")


def test_withdrawing_a_consent_for_another_purpose_is_invalid_request(configured):
    assert error_code(delete_consents(CONTACT, purpose="transactional")) == (400, "invalid_request")


def test_the_sample_events_route_to_the_new_handlers(configured):
    for name in ("manage_get_consents", "manage_list_opt_outs", "manage_delete_consents"):
        status, body = invoke("manage", load_event(name))
        assert status == 200, (name, json.dumps(body))
