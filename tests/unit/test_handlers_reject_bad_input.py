"""Every kind of bad input gets the contract's 4xx from the handler itself, and nothing is read or written:
the stores are replaced by tripwires."""

import json

import pytest

from aircall_sms.store import messages, numbers
from tests.support import invoke, load_event, with_body


@pytest.fixture(autouse=True)
def tripwired_stores(monkeypatch):
    def tripwire(*_args, **_kwargs):
        raise AssertionError("a store was touched for a request that must be refused first")

    for module in (messages, numbers):
        for name in ("get", "find_by_e164", "find_by_aircall_id", "advance", "list_all", "delete"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, tripwire)
    monkeypatch.setattr(messages.MessageRecord, "save", tripwire)


def test_malformed_json_is_invalid_request():
    status, body = invoke("send", load_event("send_message_malformed_json"))
    assert status == 400
    assert body["error"]["code"] == "invalid_request"
    assert "JSON" in body["error"]["message"]


def test_missing_fields_are_named():
    status, body = invoke("send", load_event("send_message_missing_fields"))
    assert status == 400
    fields = {problem["field"] for problem in body["error"]["details"]["problems"]}
    assert {"from", "to"} <= fields


def test_wrong_types_are_refused_without_coercion():
    status, body = invoke("send", load_event("send_message_wrong_types"))
    assert status == 400
    fields = {problem["field"] for problem in body["error"]["details"]["problems"]}
    assert {"to", "text", "dry_run"} <= {field.split(".")[0] for field in fields}


@pytest.mark.parametrize(
    "body",
    [
        "[]",
        '"text"',
        "null",
        "",
        json.dumps({"from": "1", "to": "+1", "text": "x", "unexpected": 1}),
        json.dumps({"from": "1", "to": "+1", "text": "x", "purpose": "spam"}),
        json.dumps({"from": "1", "to": "+1", "text": "x", "on_limit": "wait"}),
        json.dumps({"from": "1", "to": "+1", "text": "x", "not_after": "tomorrow"}),
        json.dumps({"from": "1", "to": "+1", "text": "x", "not_after": "2026-11-27T10:00:00"}),
        json.dumps({"from": "1", "to": "+1", "text": "x", "media_urls": "https://x/y.png"}),
        json.dumps({"from": "1", "to": "+1", "text": "x", "metadata": [1, 2]}),
        json.dumps({"from": 1.5, "to": "+1", "text": "x"}),
    ],
)
def test_bodies_outside_the_contract_are_invalid_request(body):
    status, answer = invoke("send", with_body(load_event("send_message"), body))
    assert status == 400
    assert answer["error"]["code"] == "invalid_request"


def test_a_huge_body_is_refused_before_parsing():
    huge = json.dumps({"from": "1", "to": "+1", "text": "x" * 200_000})
    status, body = invoke("send", with_body(load_event("send_message"), huge))
    assert status == 413
    assert body["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\tinside", "ünïcode"])
def test_a_malformed_idempotency_key_is_invalid_request(key):
    event = load_event("send_message")
    event["headers"]["Idempotency-Key"] = key
    event["multiValueHeaders"]["Idempotency-Key"] = [key]
    status, body = invoke("send", event)
    assert status == 400
    assert body["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, "invalid_request"),
        ("[1, 2]", 400, "invalid_callback"),
        ("", 400, "invalid_callback"),
        (json.dumps({"event": "message.received", "token": "t"}), 400, "invalid_callback"),
        (json.dumps({"event": "message.received", "data": {"number": {"id": "x"}}}), 400, "invalid_callback"),
        (json.dumps({"event": "message.received", "data": {"number": {"id": 1}}}), 401, "unauthorized"),
        (json.dumps({"event": "message.received", "token": 5, "data": {"number": {"id": 1}}}), 401, "unauthorized"),
        ("x" * 300_000, 413, "payload_too_large"),
    ],
)
def test_callbacks_of_the_wrong_shape_are_refused(body, status, code):
    answer_status, answer = invoke("inbound", with_body(load_event("inbound_received"), body))
    assert (answer_status, answer["error"]["code"]) == (status, code)


def test_unknown_routes_answer_not_found():
    # A route the gateway does not know needs the admin scope (closed by default): the sample's admin may ask.
    event = load_event("manage_list_numbers", path="/nothing", resource="/nothing")
    status, body = invoke("manage", event)
    assert status == 404
    assert body["error"]["code"] == "not_found"


@pytest.mark.parametrize("number_id", ["abc", "12a", "9" * 30, "-1"])
def test_number_ids_must_be_aircalls_numeric_ids(number_id):
    event = load_event("manage_put_number_proxy", path=f"/numbers/{number_id}", pathParameters={"number_id": number_id})
    status, body = invoke("manage", event)
    assert status == 400
    assert body["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded", "text/plain"])
def test_a_body_is_read_as_json_whatever_the_content_type(content_type):
    event = with_body(load_event("send_message"), {"from": "1", "to": "+1", "text": "x", "purpose": "spam"})
    for headers in (event["headers"], event["multiValueHeaders"]):
        headers.pop("Content-Type", None)
    if content_type:
        event["headers"]["content-type"] = content_type
        event["multiValueHeaders"]["content-type"] = [content_type]
    status, body = invoke("send", event)
    # The JSON was parsed: the one problem reported is the purpose, not a missing "from"/"to".
    assert status == 400
    assert [problem["field"] for problem in body["error"]["details"]["problems"]] == ["purpose"]


@pytest.mark.parametrize("raw", [b"\x80", b"\xff\xfe{}", b'{"text": "\xe9"}'])
@pytest.mark.parametrize(("function", "event_name"), [("send", "send_message"), ("manage", "manage_put_opt_out")])
def test_a_base64_body_that_is_not_utf8_is_invalid_request(function, event_name, raw):
    import base64

    event = load_event(event_name)
    event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
    status, body = invoke(function, event)
    assert (status, body["error"]["code"]) == (400, "invalid_request")
    assert "UTF-8" in body["error"]["message"]
