"""Aircall's callbacks (POST /webhooks/aircall) against the DynamoDB emulator and the Aircall sandbox, over HTTP:
the envelope variants, what is refused (and that a refusal stores nothing), durable-first recording, the status
machine, the reconciliation sweep, inbound keywords and the automatic replies.

The use cases and the inbound handler run in-process; nothing is mocked (one test injects a fault into the
archiving of one message). To keep the module fast, module constants (MATCH_WAIT_SECONDS, SWEEP_ATTEMPTS) are
shortened, the sweep runs with a `now` past its delay, and the tables' DynamoDB connections are kept from one test
to the next (the endpoint never changes).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from aircall_sms.domain import timeutil
from aircall_sms.domain.access import ADMIN_PRINCIPAL as ADMIN
from aircall_sms.domain.ids import new_id
from aircall_sms.domain.requests import NumberRequest, SendRequest
from aircall_sms.domain.timeutil import iso, utcnow
from aircall_sms.errors import GatewayError
from aircall_sms.observability import metrics
from aircall_sms.settings import get_settings
from aircall_sms.store import callbacks, contacts, ledger, messages, numbers
from aircall_sms.store.base import unpack_text
from aircall_sms.use_cases import callbacks as callback_use_cases
from aircall_sms.use_cases import numbers as number_use_cases
from aircall_sms.use_cases.callbacks import CallbackOutcome, handle_callback, reconcile
from aircall_sms.use_cases.send import send_message
from aircall_sms.use_cases.send.outcome import SendOutcome
from local_stack.dynamodb import client as aws_client
from tests.support import FakeContext, invoke, load_event, load_handler, with_body

FR_MOBILE = "100004"  # +33 6 12 34 56 78: answers only a contact who wrote (or a person's message)
FR_FIXED = "100005"  # +33 1 86 95 42 10
US_LOCAL = "100001"
UK_FIXED = "100006"  # +44 20 3966 1234: its region is GB
E164 = {FR_MOBILE: "+33612345678", FR_FIXED: "+33186954210", US_LOCAL: "+14244162288", UK_FIXED: "+442039661234"}

CONTACT = "+33612345679"
OTHER_CONTACT = "+33612349999"  # written to by no other module

# A moment in the recent past, in every form Aircall may use for it.
MOMENT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
TIME_FORMS: dict[str, object] = {
    "epoch seconds": int(MOMENT.timestamp()),
    "epoch milliseconds": int(MOMENT.timestamp() * 1000),
    "epoch seconds as a float": MOMENT.timestamp() + 0.0,
    "ISO 8601 with Z": MOMENT.strftime("%Y-%m-%dT%H:%M:%SZ"),
    "ISO 8601 with milliseconds": iso(MOMENT),
    "ISO 8601 with an offset": MOMENT.astimezone(timezone(timedelta(hours=1))).isoformat(),
    "numeric string of seconds": str(int(MOMENT.timestamp())),
    "numeric string of milliseconds": str(int(MOMENT.timestamp() * 1000)),
}
OTHER_MOMENT = MOMENT - timedelta(days=1)

REPLIES = {
    "opt_out": "Vous ne recevrez plus de messages. START pour revenir.",
    "help": "Aide : répondez STOP pour ne plus recevoir de messages.",
}
PAST_THE_SWEEP_DELAY = timedelta(seconds=31)


# ------------------------------------------------------------------------------------------------ helpers
def aircall_id() -> str:
    return "SM" + uuid.uuid4().hex


def now_seconds() -> int:
    return int(time.time())


@dataclass
class Gateway:
    """Drives the callback path and observes its effects (the three tables it may write, the sandbox)."""

    dynamodb: Any
    sandbox: Any
    sandbox_api: httpx.Client
    tokens: dict[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------------ setup
    def configure(self, number_id: str, *, limits: dict[str, int] | None = None) -> str:
        number_use_cases.configure(
            ADMIN,
            number_id,
            NumberRequest.model_validate({"mode": "proxy", "registration": "none", "limits": limits}),
            request_callback_url="https://unused/webhooks/aircall",
        )
        config = self.sandbox.config
        answer = self.sandbox_api.get(
            f"/v1/numbers/{number_id}/messages/configuration", auth=(config.api_id, config.api_token)
        )
        answer.raise_for_status()
        self.tokens[number_id] = answer.json()["token"]
        return self.tokens[number_id]

    # ------------------------------------------------------------------ payloads
    def status(
        self,
        message_aircall_id: str,
        status: str,
        *,
        number_id: str = FR_FIXED,
        event: str = "message.status_updated",
        key: str = "event",
        timestamp: object = None,
        **data: Any,
    ) -> dict[str, Any]:
        body = {"id": message_aircall_id, "direction": "outbound", "status": status, "number": {"id": int(number_id)}}
        return self._envelope(event, body | data, number_id=number_id, key=key, timestamp=timestamp)

    def inbound(
        self,
        text: str | None,
        *,
        number_id: str = FR_FIXED,
        contact: str = CONTACT,
        message_aircall_id: str | None = None,
        key: str = "event",
        timestamp: object = None,
        **data: Any,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": message_aircall_id or aircall_id(),
            "direction": "inbound",
            "status": "received",
            "external_number": contact,
            "raw_digits": contact.lstrip("+"),
            "channel": None,
            "number": {"id": int(number_id), "digits": E164[number_id]},
        }
        if text is not None:
            body["body"] = text
        return self._envelope("message.received", body | data, number_id=number_id, key=key, timestamp=timestamp)

    def _envelope(
        self, event: str, data: dict[str, Any], *, number_id: str, key: str, timestamp: object
    ) -> dict[str, Any]:
        return {
            "resource": "message",
            key: event,
            "timestamp": now_seconds() if timestamp is None else timestamp,
            "token": self.tokens[number_id],
            "data": data,
        }

    # ------------------------------------------------------------------ acting
    def post(self, payload: dict[str, Any]) -> CallbackOutcome:
        return handle_callback(json.dumps(payload, ensure_ascii=False))

    def refused(self, raw_body: str | None) -> GatewayError:
        with pytest.raises(GatewayError) as raised:
            handle_callback(raw_body)
        return raised.value

    def send(self, **fields: Any) -> SendOutcome:
        body = {"from": FR_FIXED, "to": CONTACT, "text": "Bonjour !"} | fields
        return send_message(principal=ADMIN, request=SendRequest.model_validate(body))

    def send_refused(self, **fields: Any) -> GatewayError:
        with pytest.raises(GatewayError) as raised:
            self.send(**fields)
        return raised.value

    # ------------------------------------------------------------------ observing
    def scan(self, table: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in self.dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            items.extend(page["Items"])
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True, default=repr))

    def snapshot(self, *, archive: bool = True) -> dict[str, list[dict[str, Any]]]:
        """Everything a callback may write: the recorded callbacks, the contacts' facts and (unless `archive` is
        False: it holds every module's messages, so scanning it is the slow part) the archive."""
        settings = get_settings()
        tables = [settings.callbacks_table, settings.contacts_table]
        if archive:
            tables.append(settings.messages_table)
        return {table: self.scan(table) for table in tables}

    def recorded(self, payload: dict[str, Any]) -> callbacks.CallbackRecord:
        """The CallbacksTable record of `payload` (its id is a digest of the number and the payload)."""
        without_token = {name: value for name, value in payload.items() if name != "token"}
        number_id = str(payload["data"]["number"]["id"])
        return callbacks.CallbackRecord.get(callbacks.callback_id(number_id, without_token), consistent_read=True)

    def raw_callbacks(self) -> list[dict[str, Any]]:
        return self.scan(get_settings().callbacks_table)

    def pending_ids(self) -> set[str]:
        """Ids in the sweep's `pending` index (whatever their age)."""
        far = utcnow() + timedelta(days=1)
        return {record.id for record in callbacks.pending_before(far, 1000)}

    def contact_items(self, contact: str = CONTACT) -> dict[str, contacts.ContactItem]:
        return {item.sk: item for item in contacts.ContactItem.query(contact, consistent_read=True)}

    def sandbox_sends(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.sandbox_api.get(
            "/_sandbox/messages", params={"direction": "outbound"}
        ).json()["messages"]
        return found


@pytest.fixture(scope="module")
def observer(emulator) -> Any:
    return aws_client("dynamodb", emulator.url)


MODELS: tuple[Any, ...] = (
    messages.MessageRecord,
    numbers.NumberRecord,
    ledger.LedgerItem,
    contacts.ContactItem,
    callbacks.CallbackRecord,
)


@pytest.fixture(scope="module")
def connections() -> dict[Any, Any]:
    """The tables' connections, kept from one test to the next of this module."""
    return {}


@pytest.fixture
def gw(gateway, observer, sandbox_api, connections, monkeypatch) -> Iterator[Gateway]:
    # `gateway` dropped the tables' connections, as a new Lambda instance would. The endpoint is the same in
    # every test, and a connection's botocore session and client are most of a test's cost: take them back.
    for model, connection in connections.items():
        model._connection = connection
    # A status callback for an Aircall id not recorded yet waits this long before it is left to the sweep.
    monkeypatch.setattr(callback_use_cases, "MATCH_WAIT_SECONDS", 0.05)
    harness = Gateway(dynamodb=observer, sandbox=gateway, sandbox_api=sandbox_api)
    yield harness
    # Numbers outlive the test: leave no configuration (limits, tokens) to other tests and modules.
    for number_id in harness.tokens:
        numbers.delete(number_id)
    connections.update({model: model._connection for model in MODELS if model._connection is not None})


def outbound_message(
    number_id: str = FR_FIXED,
    *,
    message_aircall_id: str | None = None,
    status: str = "queued",
    contact: str = CONTACT,
    text: str = "Bonjour !",
) -> messages.MessageRecord:
    """An archived outbound message, as the send path leaves it (without calling Aircall)."""
    now = utcnow()
    record = messages.MessageRecord(
        id=new_id("msg"),
        aircall_id=message_aircall_id,
        number_id=number_id,
        sender=E164[number_id],
        recipient=contact,
        contact=contact,
        direction="outbound",
        text=text,
        purpose="conversational",
        segments=1,
        encoding="GSM-7",
        status=status,
        status_history=[messages.change(status, now, "gateway", "test")],
        created_at=iso(now),
        updated_at=iso(now),
        unresolved_at=iso(now) if status == "unknown" else None,
    )
    record.save()
    return record


def stored(message_id: str | None) -> messages.MessageRecord:
    assert message_id is not None
    record = messages.get(message_id)
    assert record is not None, f"message {message_id} is not archived"
    return record


def raw_message(message_id: str | None) -> dict[str, Any]:
    """The archived item as DynamoDB holds it (for "nothing changed" comparisons)."""
    serialized: dict[str, Any] = stored(message_id).serialize()
    return serialized


def history(message_id: str | None) -> list[tuple[str, str, str | None]]:
    return [(change.status, change.source, change.detail) for change in stored(message_id).status_history]


def set_auto_replies(monkeypatch: pytest.MonkeyPatch, replies: dict[str, str] = REPLIES) -> None:
    monkeypatch.setenv("AUTO_REPLIES", json.dumps(replies, ensure_ascii=False))
    get_settings.cache_clear()


def handler_answer(event: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
    answer = load_handler("inbound").lambda_handler(event, FakeContext())
    return answer["statusCode"], answer["headers"], json.loads(answer["body"])


def sample_event_payload(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(load_event(name)["body"])
    return payload


# ================================================================================================ 1. variants
STATUS_ENVELOPES = [
    (key, event)
    for event in ("message.status_updated", "message.updated", "message.sent")
    for key in ("event", "event_name")
]


def test_a_status_callback_is_applied_whichever_envelope_and_event_name_aircall_uses(gw, subtests):
    gw.configure(FR_FIXED)
    for key, event in STATUS_ENVELOPES:
        with subtests.test(key=key, event=event):
            message = outbound_message(message_aircall_id=aircall_id())
            assert message.aircall_id is not None
            outcome = gw.post(gw.status(message.aircall_id, "sent", key=key, event=event))
            assert (outcome.event, outcome.result, outcome.message_id) == (event, "updated", message.id)
            assert stored(message.id).status == "sent"
            assert history(message.id)[-1] == ("sent", "callback", event)


def test_an_inbound_message_is_archived_whichever_envelope_names_its_event(gw, subtests):
    gw.configure(FR_FIXED)
    for key in ("event", "event_name"):
        with subtests.test(key=key):
            payload = gw.inbound("Bonjour, une question", key=key, timestamp=int(time.time() * 1000))
            outcome = gw.post(payload)
            assert (outcome.event, outcome.result) == ("message.received", "archived")
            record = stored(outcome.message_id)
            assert (record.direction, record.status, record.aircall_id) == (
                "inbound",
                "received",
                payload["data"]["id"],
            )
            assert (record.sender, record.recipient, record.contact) == (CONTACT, E164[FR_FIXED], CONTACT)
            assert (record.text, record.segments, record.encoding) == ("Bonjour, une question", 1, "GSM-7")
            assert history(outcome.message_id) == [("received", "callback", "message.received")]


def test_a_status_time_is_read_from_updated_at_or_else_the_envelope_timestamp_in_every_format(gw, subtests):
    gw.configure(FR_FIXED)
    for form, value in TIME_FORMS.items():
        for where in ("timestamp", "updated_at"):
            with subtests.test(form=form, field=where):
                message = outbound_message(message_aircall_id=aircall_id())
                assert message.aircall_id is not None
                if where == "timestamp":
                    payload = gw.status(message.aircall_id, "delivered", timestamp=value)
                else:  # data.updated_at wins over the envelope's timestamp
                    payload = gw.status(
                        message.aircall_id, "delivered", timestamp=int(OTHER_MOMENT.timestamp()), updated_at=value
                    )
                assert gw.post(payload).result == "updated"
                record = stored(message.id)
                assert (record.status_history[-1].at, record.updated_at) == (iso(MOMENT), iso(MOMENT))


def test_an_inbound_time_is_read_from_created_at_or_else_the_envelope_timestamp_and_never_in_the_future(gw, subtests):
    gw.configure(FR_FIXED)
    for form, value in TIME_FORMS.items():
        for where in ("timestamp", "created_at"):
            with subtests.test(form=form, field=where):
                if where == "timestamp":
                    payload = gw.inbound("Bonjour", timestamp=value)
                else:  # data.created_at wins over the envelope's timestamp
                    payload = gw.inbound("Bonjour", timestamp=int(OTHER_MOMENT.timestamp() * 1000), created_at=value)
                outcome = gw.post(payload)
                assert outcome.result == "archived"
                record = stored(outcome.message_id)
                assert (record.created_at, record.status_history[0].at) == (iso(MOMENT), iso(MOMENT))
                conversation = gw.contact_items()[contacts.conversation_sk(FR_FIXED)]
                assert conversation.last_inbound_at is not None and conversation.last_inbound_at >= iso(MOMENT)
    with subtests.test(form="a time in the future"):  # archived as the time it arrived
        before = utcnow()
        outcome = gw.post(gw.inbound("Bonjour", created_at=int((before + timedelta(days=3)).timestamp())))
        assert iso(before) <= stored(outcome.message_id).created_at <= iso(utcnow())


def test_inbound_media_is_archived_from_media_url_or_media_details_each_file_once(gw, subtests):
    gw.configure(FR_FIXED)
    details = [
        {"file_name": "photo.jpg", "file_type": "image/jpeg", "presigned_url": "https://media.example.com/p.jpg?s=1"},
        {"file_name": "plan.pdf", "file_type": "application/pdf", "presigned_url": "https://media.example.com/plan"},
    ]
    cases: list[tuple[str, dict[str, Any], list[str], list[dict[str, str]]]] = [
        (
            "media_url as a string",
            {"media_url": "https://media.example.com/a.jpg"},
            ["https://media.example.com/a.jpg"],
            [{"url": "https://media.example.com/a.jpg"}],
        ),
        (
            "media_url as a list",
            {"media_url": ["https://media.example.com/a.jpg", "https://media.example.com/b.png"]},
            ["https://media.example.com/a.jpg", "https://media.example.com/b.png"],
            [{"url": "https://media.example.com/a.jpg"}, {"url": "https://media.example.com/b.png"}],
        ),
        (
            "media_details",
            {"media_details": details},
            [item["presigned_url"] for item in details],
            [
                {"url": item["presigned_url"], "file_name": item["file_name"], "file_type": item["file_type"]}
                for item in details
            ],
        ),
        (
            "the same files as media_details and as media_url",
            {"media_details": details, "media_url": [item["presigned_url"] for item in details]},
            [item["presigned_url"] for item in details],
            [
                {"url": item["presigned_url"], "file_name": item["file_name"], "file_type": item["file_type"]}
                for item in details
            ],
        ),
    ]
    for name, data, urls, archived in cases:
        with subtests.test(media=name):
            outcome = gw.post(gw.inbound("Voici la photo", **data))
            record = stored(outcome.message_id)
            assert (list(record.media_urls), record.media_details) == (urls, archived)
            # Pending until the MediaFunction copied the files (test_inbound_media); Aircall's links never shown.
            assert record.media_status == "pending"
            shown = record.to_api()
            assert (shown["media_urls"], [entry["status"] for entry in shown["media"]]) == ([], ["pending"] * len(urls))
            assert not any(url in json.dumps(shown) for url in urls)
    with subtests.test(media="an MMS without text"):
        outcome = gw.post(gw.inbound(None, media_details=details[:1]))
        message = stored(outcome.message_id).to_api()
        assert (message["text"], message["media_urls"], message["media_status"]) == (None, [], "pending")
        assert message["media"] == [
            {"file_name": "photo.jpg", "content_type": "image/jpeg", "size_bytes": None, "status": "pending"}
        ]


def test_an_unknown_event_is_acknowledged_and_recorded_as_ignored(gw, subtests):
    gw.configure(FR_FIXED)
    archive = gw.scan(get_settings().messages_table)
    for event in ("message.deleted", "group_message.received", "call.created"):
        with subtests.test(event=event):
            payload = {
                "resource": "message",
                "event": event,
                "timestamp": now_seconds(),
                "token": gw.tokens[FR_FIXED],
                "data": {"id": aircall_id(), "number": {"id": int(FR_FIXED)}},
            }
            outcome = gw.post(payload)
            assert (outcome.event, outcome.result, outcome.message_id) == (event, "ignored", None)
            record = gw.recorded(payload)
            assert (record.event, record.state, record.result, record.pending) == (event, "ignored", "ignored", None)
    assert gw.pending_ids() == set()
    assert gw.scan(get_settings().messages_table) == archive


# ================================================================================================ 2. bad input
def test_a_callback_that_names_no_number_is_refused_with_400_and_stores_nothing(gw, subtests):
    gw.configure(FR_FIXED)
    token = gw.tokens[FR_FIXED]
    # Every refused callback would otherwise opt the contact out: a leak would show.
    stop = gw.inbound("STOP")

    def edited(payload: dict[str, Any], **data: Any) -> str:
        return json.dumps(payload | {"data": {**payload["data"], **data}})

    def without(payload: dict[str, Any], *names: str) -> str:
        return json.dumps({name: value for name, value in payload.items() if name not in names})

    def without_data(payload: dict[str, Any], *names: str) -> str:
        data = {name: value for name, value in payload["data"].items() if name not in names}
        return json.dumps(payload | {"data": data})

    cases: list[tuple[str, str | None, str]] = [
        ("not JSON", '{"event": "message.received", "token": "' + token + '", "data": {', "invalid_request"),
        ("a JSON array", json.dumps([stop]), "invalid_callback"),
        ("a JSON string", json.dumps("STOP"), "invalid_callback"),
        ("a JSON null", "null", "invalid_callback"),
        ("an empty body", "", "invalid_callback"),
        ("a blank body", " \n ", "invalid_callback"),
        ("no body at all", None, "invalid_callback"),
        ("no data", without(stop, "data"), "invalid_callback"),
        ("data that is a list", json.dumps(stop | {"data": [stop["data"]]}), "invalid_callback"),
        ("no data.number", without_data(stop, "number"), "invalid_callback"),
        ("data.number without id", edited(stop, number={"digits": E164[FR_FIXED]}), "invalid_callback"),
        ("data.number.id not digits", edited(stop, number={"id": "10000five"}), "invalid_callback"),
        ("data.number.id negative", edited(stop, number={"id": -100005}), "invalid_callback"),
        ("data.number.id a boolean", edited(stop, number={"id": True}), "invalid_callback"),
        ("data.number a bare id", edited(stop, number=int(FR_FIXED)), "invalid_callback"),
    ]
    before, small_before = gw.snapshot(), gw.snapshot(archive=False)
    for name, raw_body, code in cases:
        with subtests.test(case=name):
            error = gw.refused(raw_body)
            assert (error.status, error.code) == (400, code)
            assert gw.snapshot(archive=False) == small_before, "a refused callback stored something"
    assert gw.snapshot() == before, "a refused callback wrote to the archive"


def test_an_authenticated_callback_is_recorded_and_answered_whatever_its_event_or_status(gw, subtests):
    # Given a number and a sent message
    gw.configure(FR_FIXED)
    message = outbound_message(message_aircall_id=aircall_id())
    status = gw.status(message.aircall_id or "", "sent")
    stop = gw.inbound("STOP")

    def edited(payload: dict[str, Any], **data: Any) -> dict[str, Any]:
        return payload | {"data": {**payload["data"], **data}}

    def without_data(payload: dict[str, Any], *names: str) -> dict[str, Any]:
        return payload | {"data": {name: value for name, value in payload["data"].items() if name not in names}}

    without_event = {name: value for name, value in stop.items() if name != "event"}
    cases: list[tuple[str, dict[str, Any], str, str]] = [
        (
            "a status word the gateway does not know",
            edited(status, status="exploded"),
            "unknown_status",
            "unknown_status",
        ),
        ("a status word in another language", edited(status, status="distribué"), "unknown_status", "unknown_status"),
        ("a status that is a number", edited(status, status=3), "unknown_status", "unknown_status"),
        ("a status without data.status", without_data(status, "status"), "unknown_status", "unknown_status"),
        ("a status without data.id", without_data(status, "id"), "unusable", "unusable"),
        ("a status with an empty data.id", edited(status, id=""), "unusable", "unusable"),
        ("a status with an object as data.id", edited(status, id={"id": 1}), "unusable", "unusable"),
        ("no event", without_event, "ignored", "ignored"),
        ("an empty event", stop | {"event": ""}, "ignored", "ignored"),
        ("an event that is not a string", stop | {"event": 7}, "ignored", "ignored"),
    ]
    for name, payload, result, state in cases:
        with subtests.test(case=name):
            # When Aircall posts it
            outcome = gw.post(payload)
            # Then it is answered, recorded as it came (without its token) and out of the sweep
            assert outcome.result == result
            record = gw.recorded(payload)
            assert (record.state, record.result, record.pending) == (state, result, None)
            assert record.body() == {key: value for key, value in payload.items() if key != "token"}
            # and the message has not moved
            assert stored(message.id).status == "queued"
    assert contacts.optout_sk(FR_FIXED) not in gw.contact_items(), "an ignored event acted on its keyword"


def test_an_unknown_status_is_counted_and_a_known_one_after_it_still_moves_the_message(gw, monkeypatch):
    gw.configure(FR_FIXED)
    message = outbound_message(message_aircall_id=aircall_id(), status="sent")
    assert message.aircall_id is not None
    emitted: list[str] = []
    monkeypatch.setattr(metrics, "add_metric", lambda name, unit, value: emitted.extend([name] * int(value)))
    assert gw.post(gw.status(message.aircall_id, "carrier_accepted")).result == "unknown_status"
    assert emitted == ["CallbacksUnknownStatus"]
    assert stored(message.id).status == "sent"
    assert gw.post(gw.status(message.aircall_id, "delivered")).result == "updated"
    assert stored(message.id).status == "delivered"


def test_an_inbound_message_is_archived_whatever_its_contacts_format(gw, subtests):
    # Given a UK number (its region is GB) and contacts from everywhere, as Aircall may give them
    gw.configure(UK_FIXED)
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("a US contact in raw_digits only", {"raw_digits": "14155550100"}, "+14155550100"),
        ("a French contact in raw_digits only", {"raw_digits": "33612345679"}, "+33612345679"),
        ("a UK contact in national form", {"raw_digits": "020 3966 1235"}, "+442039661235"),
        ("an E.164 external_number", {"external_number": "+14155550101"}, "+14155550101"),
        ("raw_digits as a JSON number", {"raw_digits": 14155550102}, "+14155550102"),
        (
            "an unparseable external_number and good raw_digits",
            {"external_number": "anonymous", "raw_digits": "14155550103"},
            "+14155550103",
        ),
        ("a short code", {"raw_digits": "36180"}, "36180"),
        ("a sender name", {"external_number": "ACME Bank"}, "ACME Bank"),
        ("no contact at all", {}, "unknown"),
    ]
    for name, contact_fields, archived_as in cases:
        with subtests.test(case=name):
            payload = gw.inbound("Hello", number_id=UK_FIXED)
            data = {
                key: value for key, value in payload["data"].items() if key not in ("external_number", "raw_digits")
            }
            payload = payload | {"data": data | contact_fields}
            outcome = gw.post(payload)
            assert outcome.result == "archived"
            record = stored(outcome.message_id)
            assert (record.sender, record.contact, record.recipient) == (archived_as, archived_as, E164[UK_FIXED])
            assert gw.recorded(payload).state == "applied"


def test_a_stop_from_a_contact_that_is_not_a_phone_number_is_archived_and_opts_nobody_out(gw, monkeypatch):
    set_auto_replies(monkeypatch)
    gw.configure(FR_FIXED)
    payload = gw.inbound("STOP")
    payload["data"] = {key: value for key, value in payload["data"].items() if key != "raw_digits"}
    payload["data"]["external_number"] = "n/a"
    outcome = gw.post(payload)
    assert outcome.result == "archived"
    assert (stored(outcome.message_id).contact, stored(outcome.message_id).keyword) == ("n/a", "opt_out")
    assert contacts.ContactItem.count("n/a") == 0
    assert gw.sandbox_sends() == [], "an automatic reply went to a contact that is not a phone number"


def test_an_inbound_message_without_an_aircall_id_is_archived_once(gw):
    gw.configure(FR_FIXED)
    payload = gw.inbound("Bonjour")
    del payload["data"]["id"]
    first = gw.post(payload)
    assert first.result == "archived"
    assert stored(first.message_id).aircall_id is None
    assert gw.post(payload).result == "duplicate"


def test_a_body_over_256_kb_is_refused_with_413_and_stores_nothing(gw):
    gw.configure(FR_FIXED)
    payload = gw.inbound("a" * (256 * 1024))
    before = gw.snapshot()
    error = gw.refused(json.dumps(payload))
    assert (error.status, error.code) == (413, "payload_too_large")
    assert error.details == {"limit_bytes": 256 * 1024}
    assert gw.snapshot() == before


def test_a_body_over_256_kb_of_multibyte_characters_is_refused_with_413_and_stores_nothing(gw):
    gw.configure(FR_FIXED)
    body = json.dumps(gw.inbound("😀" * 200_000), ensure_ascii=False)
    assert len(body) < 256 * 1024 < len(body.encode())
    before = gw.snapshot()
    status, _, answer = handler_answer(with_body(load_event("inbound_received"), body))
    assert (status, answer["error"]["code"]) == (413, "payload_too_large")
    assert gw.snapshot() == before


def test_an_unauthenticated_callback_is_refused_with_401_and_stores_nothing(gw, subtests):
    gw.configure(FR_FIXED)
    gw.configure(FR_MOBILE)
    number_use_cases.configure(
        ADMIN,
        US_LOCAL,
        NumberRequest(mode="agent", registration="approved"),
        request_callback_url="https://unused/webhooks/aircall",
    )
    gw.tokens[US_LOCAL] = ""  # deleted at teardown; an agent-mode number has no callback token
    stop = gw.inbound("STOP")
    fixed_token, mobile_token = gw.tokens[FR_FIXED], gw.tokens[FR_MOBILE]
    cases: list[tuple[str, dict[str, Any]]] = [
        ("a forged token", stop | {"token": "forged-token"}),
        ("a token differing in its last character", stop | {"token": fixed_token[:-1] + chr(ord(fixed_token[-1]) ^ 1)}),
        ("no token", {name: value for name, value in stop.items() if name != "token"}),
        ("an empty token", stop | {"token": ""}),
        ("a token that is not a string", stop | {"token": 12345}),
        ("a very long token", stop | {"token": fixed_token * 100}),
        ("another number's token", stop | {"token": mobile_token}),
        ("a number id Aircall does not have", stop | {"data": stop["data"] | {"number": {"id": 999999}}}),
        (
            "a number in agent mode (no callback token)",
            stop | {"data": stop["data"] | {"number": {"id": int(US_LOCAL)}}, "token": fixed_token},
        ),
    ]
    before, small_before = gw.snapshot(), gw.snapshot(archive=False)
    for name, payload in cases:
        with subtests.test(case=name):
            error = gw.refused(json.dumps(payload))
            assert (error.status, error.code) == (401, "unauthorized")
            assert gw.snapshot(archive=False) == small_before, "a refused callback stored something"
    assert gw.snapshot() == before, "a refused callback wrote to the archive"
    assert contacts.optout_sk(FR_FIXED) not in gw.contact_items()


def test_the_handler_accepts_a_base64_encoded_body(gw):
    gw.configure(FR_FIXED)
    payload = gw.inbound("Ça marche, à demain !")
    event = with_body(load_event("inbound_received"), base64.b64encode(json.dumps(payload).encode()).decode())
    event["isBase64Encoded"] = True
    status, headers, body = handler_answer(event)
    assert (status, headers["Content-Type"]) == (200, "application/json")
    assert body == {
        "received": True,
        "event": "message.received",
        "result": "archived",
        "message_id": body["message_id"],
    }
    assert stored(body["message_id"]).text == "Ça marche, à demain !"


def base64_event(raw: bytes) -> dict[str, Any]:
    event = with_body(load_event("inbound_received"), base64.b64encode(raw).decode())
    event["isBase64Encoded"] = True
    return event


def test_the_handlers_refusals_are_json_with_the_error_code_and_store_nothing(gw, subtests):
    gw.configure(FR_MOBILE)  # the sample events are for 100004; their token is not the one Aircall issued
    latin1 = json.dumps(gw.inbound("Arrêt", number_id=FR_MOBILE), ensure_ascii=False).encode("latin-1")
    not_base64 = with_body(load_event("inbound_received"), "%%% not base64 %%%") | {"isBase64Encoded": True}
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("a base64 body of Latin-1 bytes", base64_event(latin1), 400, "invalid_request"),
        ("a base64 body of invalid UTF-8", base64_event(b"\xff\xfe" + latin1), 400, "invalid_request"),
        ("a body flagged base64 that is not", not_base64, 400, "invalid_request"),
        ("a base64 body that is not JSON", base64_event(b"STOP"), 400, "invalid_request"),
        ("a forged token", load_event("inbound_forged_token"), 401, "unauthorized"),
        ("the sample inbound event's stale token", load_event("inbound_received"), 401, "unauthorized"),
        ("the sample status event's stale token", load_event("inbound_status_updated"), 401, "unauthorized"),
        ("not JSON", with_body(load_event("inbound_received"), "not json"), 400, "invalid_request"),
        ("a JSON array", with_body(load_event("inbound_received"), []), 400, "invalid_callback"),
        ("no body", with_body(load_event("inbound_received"), None), 400, "invalid_callback"),
        (
            "a body over 256 KB",
            with_body(load_event("inbound_received"), {"event": "x", "pad": "a" * 300_000}),
            413,
            "payload_too_large",
        ),
    ]
    before, small_before = gw.snapshot(), gw.snapshot(archive=False)
    for name, event, status_code, code in cases:
        with subtests.test(case=name):
            status, headers, answer = handler_answer(event)
            assert (status, headers["Content-Type"]) == (status_code, "application/json")
            assert answer["error"]["code"] == code
            assert set(answer["error"]) == {"code", "message", "details"}
            assert isinstance(answer["error"]["message"], str) and answer["error"]["message"]
            assert gw.snapshot(archive=False) == small_before
    assert gw.snapshot() == before


def test_the_sample_events_are_handled_once_they_carry_the_numbers_token(gw):
    token = gw.configure(FR_MOBILE)
    message = outbound_message(FR_MOBILE, message_aircall_id=aircall_id())
    outcomes = {}
    for name in ("inbound_received", "inbound_message_updated_callback_style", "inbound_status_updated"):
        payload = sample_event_payload(name)
        fresh_id = aircall_id() if name == "inbound_received" else message.aircall_id
        payload |= {"token": token, "data": payload["data"] | {"id": fresh_id}}
        outcomes[name] = invoke("inbound", with_body(load_event(name), payload))
    assert outcomes["inbound_received"][0] == 200 and outcomes["inbound_received"][1]["result"] == "archived"
    assert outcomes["inbound_message_updated_callback_style"][1]["result"] == "updated"
    assert outcomes["inbound_status_updated"][1]["result"] == "updated"
    assert [change[0] for change in history(message.id)] == ["queued", "sent", "delivered"]
    inbound = stored(outcomes["inbound_received"][1]["message_id"])
    assert inbound.media_details == [
        {"url": "https://media.example.com/photo.jpg?sig=abc", "file_name": "photo.jpg", "file_type": "image/jpeg"}
    ]


# ================================================================================================ 3. durable first
def test_an_accepted_callback_is_recorded_without_its_token(gw):
    token = gw.configure(FR_FIXED)
    payload = gw.inbound("Bonjour")
    outcome = gw.post(payload)
    [item] = gw.raw_callbacks()
    kept = unpack_text(item["payload"])  # stored deflated
    assert token not in kept
    assert token not in json.dumps({name: value for name, value in item.items() if name != "payload"})
    assert "token" not in json.loads(kept)
    assert json.loads(kept) == {name: value for name, value in payload.items() if name != "token"}
    assert {
        name: item[name]["S"] for name in ("number_id", "event", "aircall_id", "state", "result", "message_id")
    } == {
        "number_id": FR_FIXED,
        "event": "message.received",
        "aircall_id": payload["data"]["id"],
        "state": "applied",
        "result": "archived",
        "message_id": outcome.message_id,
    }
    assert "pending" not in item
    assert int(item["expires_at"]["N"]) > (utcnow() + timedelta(days=29)).timestamp()


def test_a_callback_is_recorded_even_when_applying_it_fails_and_the_sweep_applies_it_later(gw, monkeypatch):
    gw.configure(FR_FIXED)
    payload = gw.inbound("STOP")
    monkeypatch.setenv("MESSAGES_TABLE", "MessagesTableThatIsNotThere")  # the archive cannot be written
    get_settings.cache_clear()
    status, _, answer = handler_answer(with_body(load_event("inbound_received"), payload))
    assert (status, answer["result"]) == (200, "pending")
    record = gw.recorded(payload)
    assert (record.state, record.pending, record.message_id) == (
        "failed",
        callbacks.PENDING,
        None,
    )  # the failed attempt is counted
    assert contacts.optout_sk(FR_FIXED) not in gw.contact_items()
    monkeypatch.setenv("MESSAGES_TABLE", "MessagesTable")
    get_settings.cache_clear()
    assert reconcile(now=utcnow() + PAST_THE_SWEEP_DELAY) == {"applied": 1, "pending": 0, "abandoned": 0}
    record.refresh(consistent_read=True)
    assert (record.state, record.result, record.pending) == ("applied", "archived", None)
    archived = stored(record.message_id)
    assert (archived.text, archived.keyword) == ("STOP", "opt_out")
    assert contacts.optout_sk(FR_FIXED) in gw.contact_items()


def test_a_redelivered_callback_is_answered_duplicate_without_a_second_write(gw, subtests):
    gw.configure(FR_FIXED)
    message = outbound_message(message_aircall_id=aircall_id())
    assert message.aircall_id is not None
    deliveries = {
        "an inbound message": gw.inbound("STOP"),
        "a status": gw.status(message.aircall_id, "delivered"),
    }
    for name, payload in deliveries.items():
        with subtests.test(callback=name):
            first = gw.post(payload)
            assert first.result in ("archived", "updated")
            after_first = gw.snapshot()
            again = gw.post(payload)
            assert (again.result, again.message_id) == ("duplicate", first.message_id)
            assert gw.snapshot() == after_first


def test_the_same_inbound_message_in_another_envelope_is_archived_once(gw):
    gw.configure(FR_FIXED)
    first_payload = gw.inbound("STOP", timestamp=now_seconds() - 5, created_at=iso(MOMENT))
    first = gw.post(first_payload)
    contact_facts = gw.scan(get_settings().contacts_table)
    archived = raw_message(first.message_id)
    # Aircall's other envelope: event_name, a timestamp in milliseconds, the same message.
    other = {name: value for name, value in first_payload.items() if name != "event"} | {
        "event_name": "message.received",
        "timestamp": int(time.time() * 1000),
    }
    again = gw.post(other)
    assert (first.result, again.result, again.message_id) == ("archived", "duplicate", first.message_id)
    assert raw_message(first.message_id) == archived
    assert gw.scan(get_settings().contacts_table) == contact_facts
    records = {record.id: record for record in callbacks.CallbackRecord.scan(consistent_read=True)}
    assert len(records) == 2
    second = gw.recorded(other)
    assert (second.state, second.result, second.message_id, second.pending) == (
        "applied",
        "duplicate",
        first.message_id,
        None,
    )


# ================================================================================================ 4. status machine
def test_status_callbacks_move_a_sent_message_forward_and_record_every_change(gw):
    gw.configure(FR_FIXED)
    message = gw.send().body["message"]
    sent_at, delivered_at = MOMENT + timedelta(seconds=1), MOMENT + timedelta(seconds=3)
    sent = gw.post(
        gw.status(
            message["aircall_id"],
            "sent",
            key="event_name",
            event="message.updated",
            updated_at=int(sent_at.timestamp() * 1000),
        )
    )
    delivered = gw.post(gw.status(message["aircall_id"], "delivered", updated_at=iso(delivered_at)))
    assert (sent.result, delivered.result) == ("updated", "updated")
    assert (sent.message_id, delivered.message_id) == (message["id"], message["id"])
    record = stored(message["id"])
    assert (record.status, record.error) == ("delivered", None)
    assert [(change.status, change.source) for change in record.status_history] == [
        ("unknown", "gateway"),
        ("queued", "aircall_send"),
        ("sent", "callback"),
        ("delivered", "callback"),
    ]
    assert [(change.detail, change.at) for change in record.status_history[2:]] == [
        ("message.updated", iso(sent_at)),
        ("message.status_updated", iso(delivered_at)),
    ]
    assert {(item["state"]["S"], item["result"]["S"]) for item in gw.raw_callbacks()} == {("applied", "updated")}


def test_a_status_that_is_not_a_forward_move_changes_nothing(gw, subtests):
    gw.configure(FR_FIXED)
    with subtests.test("delivered, then sent"):
        message = gw.send().body["message"]
        assert gw.post(gw.status(message["aircall_id"], "delivered")).result == "updated"
        before = raw_message(message["id"])
        late = gw.status(message["aircall_id"], "sent", timestamp=now_seconds() - 2)
        outcome = gw.post(late)
        assert (outcome.result, outcome.message_id) == ("unchanged", message["id"])
        assert raw_message(message["id"]) == before
        record = gw.recorded(late)
        assert (record.state, record.result, record.pending) == ("applied", "unchanged", None)
    for current, aircall_status in (("queued", "pending"), ("sent", "accepted"), ("sent", "sent"), ("failed", "read")):
        with subtests.test(current=current, aircall_status=aircall_status):
            message = outbound_message(message_aircall_id=aircall_id(), status=current)
            assert message.aircall_id is not None
            before = raw_message(message.id)
            assert gw.post(gw.status(message.aircall_id, aircall_status)).result == "unchanged"
            assert raw_message(message.id) == before


def test_a_failed_status_sets_the_delivery_failed_error_and_is_final(gw, subtests):
    gw.configure(FR_FIXED)
    for aircall_status in ("failed", "undelivered", "error"):
        with subtests.test(aircall_status=aircall_status):
            message = outbound_message(message_aircall_id=aircall_id(), status="sent")
            assert message.aircall_id is not None
            assert gw.post(gw.status(message.aircall_id, aircall_status)).result == "updated"
            record = stored(message.id)
            assert record.status == "failed"
            assert record.error is not None and record.error["code"] == "delivery_failed"
            assert history(message.id)[-1] == ("failed", "callback", "message.status_updated")
            assert gw.post(gw.status(message.aircall_id, "delivered")).result == "unchanged"
            assert stored(message.id).status == "failed"


# ================================================================================================ 5. reconciliation
def test_a_status_for_an_aircall_id_not_recorded_yet_is_pending_until_the_sweep_finds_its_message(gw):
    gw.configure(FR_FIXED)
    early_id = aircall_id()
    payload = gw.status(early_id, "delivered", updated_at=iso(MOMENT))
    status, _, answer = handler_answer(with_body(load_event("inbound_status_updated"), payload))
    assert (status, answer["result"], answer["message_id"]) == (200, "pending", None)
    record = gw.recorded(payload)
    assert (record.state, record.pending, record.attempts) == ("unmatched", callbacks.PENDING, 1)
    sweep_at = utcnow() + PAST_THE_SWEEP_DELAY
    assert reconcile(now=sweep_at) == {"applied": 0, "pending": 1, "abandoned": 0}
    assert record.id in gw.pending_ids()
    # The send records Aircall's id (Aircall posted the callback before the send's answer was recorded).
    message = outbound_message(message_aircall_id=early_id)
    # The sweep leaves callbacks younger than its delay alone...
    assert reconcile(now=utcnow() + timedelta(seconds=25)) == {"applied": 0, "pending": 0, "abandoned": 0}
    assert stored(message.id).status == "queued"
    # ...and applies the older ones.
    assert reconcile(now=sweep_at + timedelta(minutes=1)) == {"applied": 1, "pending": 0, "abandoned": 0}
    record.refresh(consistent_read=True)
    assert (record.state, record.result, record.message_id, record.pending) == ("applied", "updated", message.id, None)
    assert record.id not in gw.pending_ids()
    assert stored(message.id).status == "delivered"
    assert history(message.id)[-1] == ("delivered", "callback", "message.status_updated")
    assert stored(message.id).status_history[-1].at == iso(MOMENT)


def test_a_status_callback_arriving_while_the_send_awaits_aircalls_answer_waits_for_the_id(gw, monkeypatch):
    gw.configure(FR_FIXED)
    monkeypatch.setattr(callback_use_cases, "MATCH_WAIT_SECONDS", 5.0)
    gw.sandbox_api.post(
        "/_sandbox/faults", json={"latency_ms": 400, "path_contains": "/messages/send", "mode": "after"}
    ).raise_for_status()
    sending: dict[str, Any] = {}
    sender = threading.Thread(target=lambda: sending.update(outcome=gw.send(text="Votre code : 4242")))
    sender.start()
    try:
        deadline = time.monotonic() + 5
        while not gw.sandbox_sends() and time.monotonic() < deadline:
            time.sleep(0.02)
        [in_aircall] = gw.sandbox_sends()  # Aircall has the message; its answer is still on its way
        outcome = gw.post(gw.status(in_aircall["id"], "sent"))
    finally:
        sender.join(timeout=10)
    message = sending["outcome"].body["message"]
    assert (outcome.result, outcome.message_id) == ("updated", message["id"])
    record = stored(message["id"])
    assert (record.status, record.aircall_id) == ("sent", in_aircall["id"])


def send_that_times_out(gw: Gateway, monkeypatch: pytest.MonkeyPatch, text: str) -> tuple[str, dict[str, Any]]:
    """A send whose Aircall call times out after Aircall took it: (the archived id, the message in Aircall)."""
    monkeypatch.setenv("AIRCALL_READ_TIMEOUT", "0.3")
    get_settings.cache_clear()
    monkeypatch.setattr("aircall_sms.use_cases.services._client", None)  # a new Aircall client with the short timeout
    gw.sandbox_api.post(
        "/_sandbox/faults", json={"latency_ms": 800, "path_contains": "/messages/send", "mode": "after"}
    ).raise_for_status()
    error = gw.send_refused(text=text)
    assert (error.status, error.code) == (504, "aircall_timeout")
    [message_id] = [message.id for message in unresolved() if message.text == text]
    message = stored(message_id).to_api()
    assert (message["status"], message["aircall_id"], message["error"]["code"]) == ("unknown", None, "aircall_timeout")
    [in_aircall] = [sent for sent in gw.sandbox_sends() if sent["body"] == text]
    return message_id, in_aircall


def unresolved(number_id: str = FR_FIXED) -> list[messages.MessageRecord]:
    """The number's messages whose Aircall outcome became unknown in the last minutes (index `unresolved`)."""
    now = utcnow()
    return messages.unresolved(number_id, now - timedelta(minutes=5), now + timedelta(minutes=1))


def unresolved_ids(number_id: str = FR_FIXED) -> set[str]:
    return {message.id for message in unresolved(number_id)}


def test_a_send_whose_outcome_is_unknown_is_claimed_by_a_status_callback_with_its_contact_and_text(gw, monkeypatch):
    gw.configure(FR_FIXED)
    text = f"Votre rendez-vous est confirmé ({uuid.uuid4().hex[:8]})"
    message_id, in_aircall = send_that_times_out(gw, monkeypatch, text)
    assert message_id in unresolved_ids()
    # Aircall's status callbacks carry its id (new to the gateway), the contact (as raw digits only) and the text.
    gw.sandbox_api.post("/_sandbox/callbacks/drain", json={"timeout_s": 5})
    attempts = gw.sandbox_api.get("/_sandbox/callbacks", params={"message_id": in_aircall["id"]}).json()
    by_status = {attempt["payload"]["data"]["status"]: attempt["payload"] for attempt in attempts["callbacks"]}
    sent = by_status["sent"]
    assert (sent["data"]["raw_digits"], sent["data"]["body"]) == (CONTACT.lstrip("+"), text)
    assert "external_number" not in sent["data"]
    claimed = gw.post(sent)
    assert (claimed.result, claimed.message_id) == ("updated", message_id)
    record = raw_message(message_id)
    assert (record["status"]["S"], record["aircall_id"]["S"]) == ("sent", in_aircall["id"])
    assert "unresolved_at" not in record
    assert message_id not in unresolved_ids()
    assert history(message_id)[-1] == ("sent", "callback", "message.status_updated")
    # The next status finds the message by its Aircall id now.
    delivered = gw.post(by_status["delivered"])
    assert (delivered.result, delivered.message_id) == ("updated", message_id)
    assert stored(message_id).status == "delivered"


def test_a_status_callback_whose_contact_or_text_differs_does_not_claim_an_unknown_send(gw, monkeypatch, subtests):
    gw.configure(FR_FIXED)
    text = f"Votre colis arrive demain ({uuid.uuid4().hex[:8]})"
    message_id, in_aircall = send_that_times_out(gw, monkeypatch, text)
    others = {
        "another contact": {"external_number": OTHER_CONTACT, "body": text},
        "another text": {"external_number": CONTACT, "body": text + "."},
        "another contact, no text": {"external_number": OTHER_CONTACT},
        "neither contact nor text": {},
    }
    for name, data in others.items():
        with subtests.test(callback=name):
            payload = gw.status(aircall_id(), "delivered", **data)
            assert gw.post(payload).result == "pending"
            assert gw.recorded(payload).pending == callbacks.PENDING
            message = stored(message_id).to_api()
            assert (message["status"], message["aircall_id"]) == ("unknown", None)
            assert message_id in unresolved_ids()
    # The message's own callback still claims it afterwards.
    own = gw.status(in_aircall["id"], "sent", external_number=CONTACT, body=text)
    assert gw.post(own).message_id == message_id
    assert message_id not in unresolved_ids()


def test_a_callback_never_matched_is_abandoned_by_the_sweep_and_leaves_the_pending_index(gw, monkeypatch):
    gw.configure(FR_FIXED)
    monkeypatch.setattr(callback_use_cases, "SWEEP_ATTEMPTS", 2)
    payload = gw.status(aircall_id(), "delivered")
    assert gw.post(payload).result == "pending"
    record = gw.recorded(payload)
    sweep_at = utcnow() + PAST_THE_SWEEP_DELAY
    abandoned = 0
    for sweep in range(2):
        abandoned += reconcile(now=sweep_at + timedelta(minutes=sweep))["abandoned"]
    assert abandoned == 1
    record.refresh(consistent_read=True)
    assert (record.state, record.pending) == ("abandoned", None)
    assert record.id not in gw.pending_ids()
    assert reconcile(now=sweep_at + timedelta(minutes=5)) == {"applied": 0, "pending": 0, "abandoned": 0}


def test_an_unmatched_callback_gets_sweep_attempts_sweeps_before_it_is_abandoned(gw, monkeypatch):
    gw.configure(FR_FIXED)
    monkeypatch.setattr(callback_use_cases, "SWEEP_ATTEMPTS", 2)
    payload = gw.status(aircall_id(), "delivered")
    assert gw.post(payload).result == "pending"
    sweep_at = utcnow() + PAST_THE_SWEEP_DELAY
    first = reconcile(now=sweep_at)
    second = reconcile(now=sweep_at + timedelta(minutes=1))
    assert (first, second) == (
        {"applied": 0, "pending": 1, "abandoned": 0},
        {"applied": 0, "pending": 0, "abandoned": 1},
    )
    record = gw.recorded(payload)
    assert (record.state, record.attempts) == ("abandoned", 3)  # the live attempt and two sweeps


def test_a_status_callback_claims_its_unknown_send_among_more_than_25_unknown_sends(gw):
    gw.configure(FR_MOBILE)
    others = [
        outbound_message(FR_MOBILE, status="unknown", contact=OTHER_CONTACT, text=f"Rappel {n}") for n in range(25)
    ]
    try:
        text = f"Votre commande est prête ({uuid.uuid4().hex[:8]})"
        mine = outbound_message(FR_MOBILE, status="unknown", text=text)
        claimed = gw.post(gw.status(aircall_id(), "sent", number_id=FR_MOBILE, external_number=CONTACT, body=text))
        assert (claimed.result, claimed.message_id) == ("updated", mine.id)
    finally:  # leave no unknown sends in the index for the other tests
        for message in others:
            message.delete()


def test_a_callback_that_cannot_be_applied_does_not_stop_the_sweep(gw, monkeypatch):
    gw.configure(FR_FIXED)
    monkeypatch.setattr(callback_use_cases, "SWEEP_ATTEMPTS", 2)
    # A fault injected for one inbound message: answered 200 and recorded, it fails again in every sweep.
    failing = gw.inbound("Photos")
    real_inbound = callback_use_cases._inbound

    def failing_inbound(callback, stored_callback):
        if callback.data.get("id") == failing["data"]["id"]:
            raise RuntimeError("injected: this message cannot be archived")
        return real_inbound(callback, stored_callback)

    monkeypatch.setattr(callback_use_cases, "_inbound", failing_inbound)
    assert gw.post(failing).result == "pending"
    later_id = aircall_id()
    later = gw.status(later_id, "delivered")
    assert gw.post(later).result == "pending"
    message = outbound_message(message_aircall_id=later_id)
    sweep_at = utcnow() + PAST_THE_SWEEP_DELAY
    counts = [reconcile(now=sweep_at + timedelta(minutes=sweep)) for sweep in range(2)]
    assert counts[0]["applied"] == 1
    assert stored(message.id).status == "delivered"
    assert gw.recorded(failing).id not in gw.pending_ids()  # abandoned after SWEEP_ATTEMPTS sweeps at most


def test_the_scheduled_event_runs_the_sweep_and_returns_its_counts(gw, monkeypatch):
    gw.configure(FR_FIXED)
    found_later, never_found = aircall_id(), aircall_id()
    assert gw.post(gw.status(found_later, "sent")).result == "pending"
    assert gw.post(gw.status(never_found, "sent")).result == "pending"
    message = outbound_message(message_aircall_id=found_later)
    later = utcnow() + PAST_THE_SWEEP_DELAY
    timeutil.freeze(later)
    scheduled = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": iso(later),
        "region": "eu-west-1",
        "resources": ["arn:aws:events:eu-west-1:123456789012:rule/reconcile-callbacks"],
        "detail": {},
    }
    answer = load_handler("inbound").lambda_handler(scheduled, FakeContext())
    assert answer == {"reconciled": {"applied": 1, "pending": 1, "abandoned": 0}}
    assert stored(message.id).status == "sent"


# ================================================================================================ 6. inbound + keywords
def test_an_inbound_message_opens_the_conversation_window_of_a_french_mobile_line(gw):
    gw.configure(FR_MOBILE)
    assert gw.send_refused(**{"from": FR_MOBILE}).code == "conversational_only"
    outcome = gw.post(gw.inbound("Bonjour, vous êtes ouverts demain ?", number_id=FR_MOBILE))
    conversation = gw.contact_items()[contacts.conversation_sk(FR_MOBILE)]
    assert conversation.last_inbound_id == outcome.message_id
    answer = gw.send(**{"from": FR_MOBILE, "text": "Oui, de 9 h à 18 h."})
    assert answer.status_code == 201
    message = answer.body["message"]
    assert (message["human_author"], message["status"]) == (None, "queued")
    assert [sent["body"] for sent in gw.sandbox_sends()] == ["Oui, de 9 h à 18 h."]


def test_stop_opts_the_contact_out_of_that_number_and_start_opts_them_back_in(gw, subtests):
    gw.configure(FR_FIXED)
    gw.configure(FR_MOBILE)
    for stop_word, start_word in (("STOP", "START"), ("Arrêt !", "start"), (" désabonner. ", "UNSTOP")):
        with subtests.test(stop=stop_word, start=start_word):
            stop = gw.inbound(stop_word, created_at=iso(MOMENT))
            outcome = gw.post(stop)
            assert stored(outcome.message_id).keyword == "opt_out"
            opt_out = gw.contact_items()[contacts.optout_sk(FR_FIXED)]
            assert (opt_out.scope, opt_out.source, opt_out.at, opt_out.detail) == (
                FR_FIXED,
                "keyword",
                iso(MOMENT),
                f"inbound message {stop['data']['id']}",
            )
            refusal = gw.send_refused()
            assert (refusal.status, refusal.code, refusal.details) == (403, "opted_out", {"scope": "number"})
            # Only that number: another number of the company may still write to the contact.
            assert gw.send(**{"from": FR_MOBILE, "human_author": "Camille"}).status_code == 201
            started = gw.post(gw.inbound(start_word))
            assert stored(started.message_id).keyword == "opt_in"
            assert contacts.optout_sk(FR_FIXED) not in gw.contact_items()
            assert gw.send().status_code == 201
    assert len(gw.sandbox_sends()) == 6  # ours: no automatic reply is configured


def test_a_second_stop_keeps_the_first_opt_outs_time(gw):
    gw.configure(FR_FIXED)
    first = gw.inbound("STOP", created_at=iso(MOMENT))
    gw.post(first)
    second = gw.post(gw.inbound("stop", created_at=iso(MOMENT + timedelta(minutes=10))))
    assert second.result == "archived"
    opt_out = gw.contact_items()[contacts.optout_sk(FR_FIXED)]
    assert (opt_out.at, opt_out.source, opt_out.detail) == (
        iso(MOMENT),
        "keyword",
        f"inbound message {first['data']['id']}",
    )


def test_a_stop_delivered_after_a_later_start_still_opts_the_contact_out(gw):
    """Aircall may deliver keywords out of order; the gateway then errs on the side of the opt-out: an earlier
    STOP delivered after a later START leaves the contact opted out (they can send START again)."""
    gw.configure(FR_FIXED)
    stop = gw.inbound("STOP", created_at=iso(MOMENT))
    start = gw.inbound("START", created_at=iso(MOMENT + timedelta(minutes=1)))
    assert [gw.post(start).result, gw.post(stop).result] == ["archived", "archived"]  # Aircall delivered them late
    assert contacts.optout_sk(FR_FIXED) in gw.contact_items()
    assert gw.send_refused().code == "opted_out"


def test_help_is_recorded_on_the_archived_message_and_opts_nobody_out(gw, subtests):
    gw.configure(FR_FIXED)
    for word in ("HELP", "Aide ?", "info"):
        with subtests.test(word=word):
            outcome = gw.post(gw.inbound(word))
            record = stored(outcome.message_id)
            assert (record.keyword, record.to_api()["keyword"]) == ("help", "help")
    assert set(gw.contact_items()) == {contacts.conversation_sk(FR_FIXED)}
    assert gw.send().status_code == 201


def test_a_sentence_containing_stop_is_not_a_keyword(gw, subtests):
    gw.configure(FR_FIXED)
    for text in ("Please stop sending me these", "STOP IT", "Stop ou encore ?", "stopall please"):
        with subtests.test(text=text):
            outcome = gw.post(gw.inbound(text))
            assert stored(outcome.message_id).keyword is None
    assert contacts.optout_sk(FR_FIXED) not in gw.contact_items()
    assert gw.send().status_code == 201


def test_start_does_not_remove_a_company_wide_opt_out(gw):
    gw.configure(FR_FIXED)
    contacts.opt_out(CONTACT, number_id=None, at=MOMENT, source="api")
    gw.post(gw.inbound("STOP"))
    gw.post(gw.inbound("START"))
    items = gw.contact_items()
    assert contacts.optout_sk(FR_FIXED) not in items
    company = items[contacts.optout_sk(contacts.EVERY_NUMBER)]
    assert (company.scope, company.source, company.at) == (contacts.EVERY_NUMBER, "api", iso(MOMENT))
    refusal = gw.send_refused()
    assert (refusal.code, refusal.details) == ("opted_out", {"scope": "company"})


# ================================================================================================ 7. auto-replies
def test_a_stop_gets_exactly_one_confirmation_although_the_contact_has_just_opted_out(gw, monkeypatch):
    set_auto_replies(monkeypatch)
    gw.configure(FR_MOBILE)
    outcome = gw.post(gw.inbound("STOP", number_id=FR_MOBILE))
    assert outcome.result == "archived"
    [reply] = gw.sandbox_sends()
    assert (reply["number"]["id"], reply["external_number"], reply["body"]) == (
        int(FR_MOBILE),
        CONTACT,
        REPLIES["opt_out"],
    )
    [archived] = [
        record
        for record in messages.MessageRecord.scan(messages.MessageRecord.aircall_id == reply["id"])
        if record.direction == "outbound"
    ]
    assert (archived.contact, archived.text, archived.status) == (CONTACT, REPLIES["opt_out"], "queued")
    assert archived.idempotency_key == f"auto-reply:{outcome.message_id}"
    assert contacts.optout_sk(FR_MOBILE) in gw.contact_items()
    assert gw.send_refused(**{"from": FR_MOBILE, "human_author": "Camille"}).code == "opted_out"
    assert len(gw.sandbox_sends()) == 1


def test_a_redelivered_stop_sends_no_second_reply(gw, monkeypatch):
    set_auto_replies(monkeypatch)
    gw.configure(FR_MOBILE)
    stop = gw.inbound("STOP", number_id=FR_MOBILE)
    assert gw.post(stop).result == "archived"
    assert gw.post(stop).result == "duplicate"
    other_envelope = {name: value for name, value in stop.items() if name != "event"} | {
        "event_name": "message.received",
        "timestamp": int(time.time() * 1000),
    }
    assert gw.post(other_envelope).result == "duplicate"
    assert [sent["body"] for sent in gw.sandbox_sends()] == [REPLIES["opt_out"]]


def test_help_gets_the_configured_help_reply(gw, monkeypatch):
    set_auto_replies(monkeypatch)
    gw.configure(FR_FIXED)
    gw.post(gw.inbound("AIDE"))
    gw.post(gw.inbound("START"))  # no opt_in reply is configured
    assert [(sent["external_number"], sent["body"]) for sent in gw.sandbox_sends()] == [(CONTACT, REPLIES["help"])]


def test_a_reply_refused_by_a_full_quota_is_not_sent_and_the_callback_still_answers_200(gw, monkeypatch):
    set_auto_replies(monkeypatch)
    gw.configure(FR_FIXED, limits={"hour": 1})
    assert gw.send().status_code == 201  # the hour's only segment
    stop = gw.inbound("STOP")
    status, _, answer = handler_answer(with_body(load_event("inbound_received"), stop))
    assert (status, answer["result"]) == (200, "archived")
    assert [sent["body"] for sent in gw.sandbox_sends()] == ["Bonjour !"]
    assert contacts.optout_sk(FR_FIXED) in gw.contact_items()
    reply_key = f"auto-reply:{answer['message_id']}"
    [refused_reply] = list(messages.MessageRecord.scan(messages.MessageRecord.idempotency_key == reply_key))
    assert refused_reply.status == "rejected"
    assert refused_reply.error is not None and refused_reply.error["code"] == "quota_exceeded"


def test_callbacks_for_a_number_not_configured_here_cost_one_read_per_cache_period(gw, monkeypatch):
    # Given a number this gateway does not have, and a callback naming it
    gw.configure(FR_FIXED)
    stop = gw.inbound("STOP")
    stranger = stop | {"data": stop["data"] | {"number": {"id": 999998}}}
    reads: list[str] = []
    original_get = numbers.NumberRecord.get

    def counting_get(hash_key: str, *args: Any, **kwargs: Any) -> Any:
        reads.append(hash_key)
        return original_get(hash_key, *args, **kwargs)

    monkeypatch.setattr(numbers.NumberRecord, "get", counting_get)
    # When it is posted again and again
    for _ in range(5):
        assert gw.refused(json.dumps(stranger)).code == "unauthorized"
    # Then the table was read once: the absence is remembered as long as a known number is
    assert reads == ["999998"]
    # and a number configured since on this instance is heard at once
    mobile = stop | {"data": stop["data"] | {"number": {"id": int(FR_MOBILE)}}}
    assert gw.refused(json.dumps(mobile)).code == "unauthorized"
    gw.configure(FR_MOBILE)
    assert gw.post(mobile | {"token": gw.tokens[FR_MOBILE]}).result == "archived"


def test_the_sweep_reports_how_long_the_oldest_pending_callback_has_waited(gw, monkeypatch):
    gw.configure(FR_FIXED)
    assert gw.post(gw.status(aircall_id(), "sent")).result == "pending"  # no message has that Aircall id yet
    emitted: list[tuple[str, float]] = []
    monkeypatch.setattr(metrics, "add_metric", lambda name, unit, value: emitted.append((name, value)))
    reconcile(now=utcnow() + timedelta(minutes=20))
    [age] = [value for name, value in emitted if name == "CallbacksPendingOldestAge"]
    assert 20 * 60 - 5 <= age <= 20 * 60 + 5
