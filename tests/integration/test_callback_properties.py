"""Properties of callback intake over generated payloads (hypothesis), against the DynamoDB emulator: whatever the
envelope, event, status word, timestamp unit, contact format and media shape, every authenticated callback is
recorded and answered, and no inbound message is refused (each is archived)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aircall_sms.domain.access import ADMIN_PRINCIPAL as ADMIN
from aircall_sms.domain.requests import NumberRequest
from aircall_sms.store import callbacks, messages, numbers
from aircall_sms.use_cases import callbacks as callback_use_cases
from aircall_sms.use_cases import numbers as number_use_cases
from aircall_sms.use_cases.callbacks import handle_callback
from tests.integration.conftest import callback_token

UK_FIXED = 100006  # region GB: a contact's raw digits from elsewhere are no national number here
MOMENT = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

STATUS_WORDS = st.one_of(
    st.sampled_from(["pending", "sent", "delivered", "failed", "undelivered", "read", "DELIVERED", " sent "]),
    st.text(min_size=0, max_size=20),
    st.integers(),
    st.none(),
)
TIMES = st.one_of(
    st.just(int(MOMENT.timestamp())),
    st.just(int(MOMENT.timestamp() * 1000)),
    st.just(MOMENT.timestamp() + 0.5),
    st.just(MOMENT.strftime("%Y-%m-%dT%H:%M:%SZ")),
    st.just(str(int(MOMENT.timestamp() * 1000))),
    st.text(max_size=12),
    st.none(),
)
CONTACTS = st.one_of(
    st.sampled_from(["+14155550100", "14155550100", "447400123456", "+33612345679", "020 3966 1235", "36180"]),
    st.from_regex(r"\+?[0-9]{1,16}", fullmatch=True),
    st.text(max_size=30),
    st.integers(min_value=0, max_value=10**15),
)
URL = st.sampled_from(["https://files.example/a.jpg", "https://files.example/b.png"])
MEDIA: st.SearchStrategy[dict[str, Any]] = st.one_of(
    st.fixed_dictionaries({}),
    st.fixed_dictionaries({"media_url": st.one_of(URL, st.lists(URL, max_size=3))}),
    st.fixed_dictionaries(
        {"media_details": st.lists(st.fixed_dictionaries({"presigned_url": URL, "file_type": st.just("image/jpeg")}))}
    ),
    st.fixed_dictionaries({"media_details": st.lists(URL, max_size=2), "media_url": st.lists(st.integers())}),
)
CONTACT_FIELDS = st.dictionaries(st.sampled_from(["external_number", "raw_digits", "from"]), CONTACTS, max_size=3)


@st.composite
def callback_payloads(draw: st.DrawFn) -> dict[str, Any]:
    """An envelope (`event` or `event_name`, with or without `resource`), a status or inbound event (or another),
    and a message object in any of the shapes Aircall's material shows, or worse."""
    event = draw(
        st.one_of(
            st.sampled_from(["message.status_updated", "message.updated", "message.sent", "message.received"]),
            st.text(max_size=20),
            st.none(),
        )
    )
    data: dict[str, Any] = {"number": {"id": UK_FIXED}}
    if draw(st.booleans()):
        data["id"] = draw(st.one_of(st.uuids().map(lambda value: "SM" + value.hex), st.integers(), st.just("")))
    data |= {"status": draw(STATUS_WORDS)} if draw(st.booleans()) else {}
    data |= draw(CONTACT_FIELDS) | draw(MEDIA)
    data |= {name: draw(TIMES) for name in draw(st.sets(st.sampled_from(["created_at", "updated_at", "sent_at"])))}
    if draw(st.booleans()):
        data["body"] = draw(st.one_of(st.text(max_size=40), st.sampled_from(["STOP", "START", "HELP"])))
    envelope: dict[str, Any] = {"resource": "message"} if draw(st.booleans()) else {}
    if event is not None:
        envelope[draw(st.sampled_from(["event", "event_name"]))] = event
    if draw(st.booleans()):
        envelope["timestamp"] = draw(TIMES)
    return envelope | {"data": data}


@pytest.fixture
def token(gateway, monkeypatch) -> Any:
    monkeypatch.setattr(callback_use_cases, "MATCH_WAIT_SECONDS", 0)  # a status for no message: pending at once
    number_use_cases.configure(
        ADMIN,
        str(UK_FIXED),
        NumberRequest.model_validate({"mode": "proxy", "registration": "none"}),
        request_callback_url="https://unused/webhooks/aircall",
    )
    yield callback_token(gateway, UK_FIXED)
    numbers.delete(str(UK_FIXED))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=callback_payloads())
def test_every_authenticated_callback_is_recorded_and_no_inbound_message_is_refused(token, payload):
    payload = payload | {"token": token}
    # When Aircall posts it: it is answered (never refused, never a 5xx)
    outcome = handle_callback(json.dumps(payload, ensure_ascii=False))
    # Then it is recorded as it came, without its token
    without_token = {name: value for name, value in payload.items() if name != "token"}
    record = callbacks.CallbackRecord.get(callbacks.callback_id(str(UK_FIXED), without_token), consistent_read=True)
    assert record.body() == json.loads(json.dumps(without_token))
    assert outcome.result in (
        "updated",
        "unchanged",
        "pending",
        "ignored",
        "unknown_status",
        "unusable",
        "archived",
        "duplicate",
    )
    # and an inbound message is archived
    event = payload.get("event") or payload.get("event_name")
    if event == "message.received":
        assert outcome.result in ("archived", "duplicate")
        archived = messages.get(outcome.message_id or "")
        assert archived is not None and archived.direction == "inbound"
        assert archived.contact
