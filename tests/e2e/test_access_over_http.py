"""Access control over real HTTP through the local stack (the authorizer runs in-process as API Gateway runs it):
every keyed route answers no key, a revoked key, a key without the route's scope, a key with it, and a key limited
to another number as the contract's Access section says; a key limited to numbers never sees another number's
messages, quota or usage; revocation takes effect; forged, truncated, overlong and binary keys are 401."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aircall_sms.api.access import ROUTE_SCOPES
from aircall_sms.domain.access import SCOPES

US, UK = 100001, 100006  # numbers the other suites of the shared stack do not send from
SPARE = 100003  # the number DELETE /numbers/{number_id} may remove
US_CONTACT, UK_CONTACT = "+14155550142", "+447400123456"
ERASED = "+14155550143"  # the contact the erasure route erases (the others' messages stay for the reads)
APPROVED = "approved"
CONSENT = {"purpose": "marketing", "source": "web_form", "captured_at": "2026-01-15T10:00:00Z", "text": "Yes"}


@dataclass(frozen=True)
class Call:
    """One route, asked as a client would: `number` is the number the request names (None: none)."""

    method: str
    resource: str
    path: str
    number: int | None
    json: dict[str, Any] | None = None
    params: dict[str, str] | None = None


def calls(number: int, contact: str, message_id: str, key_id: str, spare: int = SPARE) -> list[Call]:
    """Every keyed route of the contract, naming `number` wherever the route can name one (`spare` for the route
    that removes a number)."""
    phone = quote(contact, safe="")
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    number_query = {"number_id": str(number)}
    return [
        Call("POST", "/messages", "/messages", number, {"from": number, "to": contact, "text": "Hi", "dry_run": True}),
        Call("GET", "/messages", "/messages", number, params=number_query),
        Call("GET", "/messages/{id}", f"/messages/{message_id}", number),
        Call("DELETE", "/messages/{id}", f"/messages/{message_id}", number),
        Call("PATCH", "/messages/{id}", f"/messages/{message_id}", number, {"text": "Changed"}),
        Call("GET", "/messages/export", "/messages/export", None, params={"since": since}),
        Call("GET", "/numbers", "/numbers", None),
        Call("GET", "/numbers/{number_id}", f"/numbers/{number}", number),
        Call("GET", "/numbers/{number_id}/quota", f"/numbers/{number}/quota", number),
        Call("GET", "/aircall/numbers", "/aircall/numbers", None),
        Call("PUT", "/pools/{id}", "/pools/access-pool", number, {"number_ids": [number]}),
        Call("GET", "/pools", "/pools", None),
        Call("GET", "/pools/{id}", "/pools/access-pool", None),
        Call("DELETE", "/pools/{id}", "/pools/access-pool", None),
        Call(
            "POST",
            "/campaigns",
            "/campaigns",
            number,
            {"from": number, "text": "Hi", "recipients": [{"to": contact}], "dry_run": True},
        ),
        Call("GET", "/campaigns", "/campaigns", None),
        Call("GET", "/campaigns/{id}", "/campaigns/cmp_access", None),
        Call("POST", "/campaigns/{id}/pause", "/campaigns/cmp_access/pause", None),
        Call("POST", "/campaigns/{id}/resume", "/campaigns/cmp_access/resume", None),
        Call("POST", "/campaigns/{id}/cancel", "/campaigns/cmp_access/cancel", None),
        Call("PUT", "/numbers/{number_id}", f"/numbers/{number}", number, {"mode": "proxy", "registration": APPROVED}),
        Call("DELETE", "/numbers/{number_id}", f"/numbers/{spare}", spare),
        Call("GET", "/usage", "/usage", number, params=number_query),
        Call("GET", "/opt-outs", "/opt-outs", number, params=number_query),
        Call("PUT", "/opt-outs/{phone}", f"/opt-outs/{phone}", number, {"number_id": number}),
        Call("DELETE", "/opt-outs/{phone}", f"/opt-outs/{phone}", number, params=number_query),
        Call("GET", "/consents/{phone}", f"/consents/{phone}", None),
        Call("PUT", "/consents/{phone}", f"/consents/{phone}", number, CONSENT | {"number_id": number}),
        Call("DELETE", "/consents/{phone}", f"/consents/{phone}", number, params=number_query),
        Call("DELETE", "/contacts/{phone}", f"/contacts/{quote(ERASED, safe='')}", number, params=number_query),
        Call("POST", "/api-keys", "/api-keys", number, {"name": "made", "scopes": ["read"], "number_ids": [number]}),
        Call("GET", "/api-keys", "/api-keys", None),
        Call("DELETE", "/api-keys/{id}", f"/api-keys/{key_id}", None),
        Call("GET", "/openapi.json", "/openapi.json", None),
    ]


def ask(stack, call: Call, key: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.request(
        call.method, f"{stack.api_url}{call.path}", json=call.json, params=call.params, headers=headers, timeout=15
    )


def code(answer: httpx.Response) -> str | None:
    try:
        document = answer.json()
    except json.JSONDecodeError:
        return None
    return (document.get("error") or {}).get("code") if isinstance(document, dict) else None


@dataclass
class World:
    stack: Any
    admin: httpx.Client
    message_of: dict[int, str]  # a message of each number

    def key(self, *scopes: str, numbers: list[int] | None = None) -> str:
        made = self.admin.post("/api-keys", json={"name": "test", "scopes": list(scopes), "number_ids": numbers})
        assert made.status_code == 201, made.text
        return str(made.json()["key"])

    def victim_key_id(self) -> str:
        """A key made for a route that revokes one (each revocation gets its own)."""
        return self.key("read", numbers=[US]).split(".", 1)[0]


@pytest.fixture(scope="module")
def world(stack) -> Iterator[World]:
    with httpx.Client(base_url=stack.api_url, headers={"x-api-key": stack.api_key}, timeout=15) as admin:
        for number in (US, UK, SPARE):
            configured = admin.put(f"/numbers/{number}", json={"mode": "proxy", "registration": "approved"})
            assert configured.status_code in (200, 201), configured.text
        message_of = {}
        for number, contact in ((US, US_CONTACT), (UK, UK_CONTACT)):
            sent = admin.post("/messages", json={"from": number, "to": contact, "text": "Hello"})
            assert sent.status_code == 201, sent.text
            message_of[number] = sent.json()["message"]["id"]
        yield World(stack, admin, message_of)


def test_every_keyed_route_of_the_contract_is_in_the_access_table():
    documented = {(method, path) for method, path in ROUTE_SCOPES if ROUTE_SCOPES[(method, path)] is not None}
    asked = {(call.method, call.resource) for call in calls(US, US_CONTACT, "msg_x", "key_x")}
    assert asked == documented


def test_no_key_and_a_revoked_key_are_401_on_every_keyed_route(world):
    revoked = world.key("admin")
    assert world.admin.delete(f"/api-keys/{revoked.split('.', 1)[0]}").status_code == 200
    for call in calls(US, US_CONTACT, world.message_of[US], world.victim_key_id()):
        for key in (None, revoked):
            answer = ask(world.stack, call, key)
            assert (answer.status_code, code(answer)) == (401, "unauthorized"), (call, key is None, answer.text)


def test_a_key_without_the_routes_scope_is_403_with_the_scope_it_needs(world):
    keys = {scope: world.key(scope, numbers=[US]) for scope in SCOPES if scope != "admin"}
    for call in calls(US, US_CONTACT, world.message_of[US], world.victim_key_id()):
        required = ROUTE_SCOPES[(call.method, call.resource)]
        for scope, key in keys.items():
            if scope == required:
                continue
            answer = ask(world.stack, call, key)
            assert (answer.status_code, code(answer)) == (403, "insufficient_scope"), (call, scope, answer.text)
            assert answer.json()["error"]["details"]["required"] == required


def test_a_key_with_the_routes_scope_is_let_through_on_every_route(world):
    for call in calls(US, US_CONTACT, world.message_of[US], world.victim_key_id()):
        required = ROUTE_SCOPES[(call.method, call.resource)]
        assert required is not None
        key = world.key(required, numbers=[call.number] if call.number is not None else None)
        answer = ask(world.stack, call, key)
        assert answer.status_code < 400 or code(answer) not in ("unauthorized", "insufficient_scope"), (call, answer)
        assert answer.status_code < 500, (call, answer.text)


def test_a_key_limited_to_one_number_naming_another_is_refused_on_every_route_that_names_one(world):
    for call in calls(UK, UK_CONTACT, world.message_of[UK], world.victim_key_id(), spare=UK):
        if call.number is None:
            continue
        required = ROUTE_SCOPES[(call.method, call.resource)]
        assert required is not None
        answer = ask(world.stack, call, world.key(required, numbers=[US]))
        expected = (404, "not_found") if call.resource == "/messages/{id}" else (403, "number_not_allowed")
        assert (answer.status_code, code(answer)) == expected, (call, answer.text)


def test_a_key_limited_to_a_number_sees_only_its_messages_quota_and_usage(world):
    key = world.key("read", "export", numbers=[US])
    listed = ask(world.stack, Call("GET", "/messages", "/messages", None), key).json()["items"]
    assert listed and {message["number_id"] for message in listed} == {str(US)}
    since = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    export = ask(world.stack, Call("GET", "/messages/export", "/messages/export", None, params={"since": since}), key)
    exported = [json.loads(line) for line in export.text.splitlines()]
    assert world.message_of[US] in {message["id"] for message in exported}
    assert {message["number_id"] for message in exported} == {str(US)}
    numbers = ask(world.stack, Call("GET", "/numbers", "/numbers", None), key).json()["items"]
    assert [number["number_id"] for number in numbers] == [US]
    in_aircall = ask(world.stack, Call("GET", "/aircall/numbers", "/aircall/numbers", None), key).json()["items"]
    assert [number["number_id"] for number in in_aircall] == [US]
    usage = ask(world.stack, Call("GET", "/usage", "/usage", None), key).json()["items"]
    assert {item["number_id"] for item in usage} <= {US}


def test_every_message_answer_names_the_key_that_sent_it(world):
    key = world.key("send", "read", numbers=[US])
    body = {"from": US, "to": US_CONTACT, "text": "Hi"}
    sent = ask(world.stack, Call("POST", "/messages", "/messages", US, body), key)
    assert sent.status_code == 201, sent.text
    message = sent.json()["message"]
    assert message["client_id"] == key.split(".", 1)[0]
    read = ask(world.stack, Call("GET", "/messages/{id}", f"/messages/{message['id']}", US), key)
    assert read.json()["message"]["client_id"] == message["client_id"]


def test_idempotency_keys_are_scoped_per_client_key(world):
    # Given two keys that use the same Idempotency-Key for different bodies
    first, second = world.key("send", numbers=[US]), world.key("send", numbers=[US])
    body = {"from": US, "to": US_CONTACT, "text": "Order 1042 shipped"}
    headers = {"Idempotency-Key": "order-1042"}
    one = httpx.post(f"{world.stack.api_url}/messages", json=body, headers={"x-api-key": first} | headers)
    other_body = body | {"text": "Order 1042 delayed"}
    other = httpx.post(f"{world.stack.api_url}/messages", json=other_body, headers={"x-api-key": second} | headers)
    # Then each is its own request: no conflict, two messages
    assert (one.status_code, other.status_code) == (201, 201), (one.text, other.text)
    assert one.json()["message"]["id"] != other.json()["message"]["id"]


def test_a_revoked_key_is_refused_from_then_on(world):
    key = world.key("read")
    call = Call("GET", "/numbers", "/numbers", None)
    assert ask(world.stack, call, key).status_code == 200
    revoked = world.admin.delete(f"/api-keys/{key.split('.', 1)[0]}")
    assert revoked.status_code == 200 and revoked.json()["api_key"]["revoked_at"], revoked.text
    assert ask(world.stack, call, key).status_code == 401
    listed = world.admin.get("/api-keys", params={"limit": "500"}).json()["items"]
    assert all("key" not in item and "secret_sha256" not in item for item in listed)


def test_a_key_cannot_make_a_key_wider_than_itself(world):
    limited_admin = world.key("admin", numbers=[US])
    wider = {"name": "wider", "scopes": ["send"], "number_ids": [US, UK]}
    every = {"name": "every", "scopes": ["send"]}
    for body in (wider, every):
        answer = ask(world.stack, Call("POST", "/api-keys", "/api-keys", None, body), limited_admin)
        assert (answer.status_code, code(answer)) == (403, "number_not_allowed"), answer.text


_KEY_SHAPES: Callable[[], st.SearchStrategy[bytes]] = lambda: st.one_of(  # noqa: E731
    st.binary(min_size=1, max_size=700),
    st.text(min_size=1, max_size=700).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.from_regex(r"key_[0-9A-Z]{26}\.[A-Za-z0-9_-]{43}", fullmatch=True).map(str.encode),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=_KEY_SHAPES(), header=st.sampled_from(["x-api-key", "authorization"]))
def test_forged_truncated_overlong_and_binary_keys_are_401_never_a_5xx(stack, key, header):
    value = b"Bearer " + key if header == "authorization" else key
    try:
        answer = httpx.get(f"{stack.api_url}/numbers", headers={header: value}, timeout=15)
    except (httpx.LocalProtocolError, ValueError):
        return  # not a header value HTTP can carry: no request is sent
    assert answer.status_code == 401, (key, answer.text)
    assert code(answer) == "unauthorized"
