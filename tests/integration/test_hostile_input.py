"""Hostile input, generated: every route that takes a body, a path parameter or a query gets arbitrary JSON,
bodies with the request models' own field names holding values of every type, raw bytes that are not UTF-8,
unicode edge cases and injection-shaped strings in paths, queries and headers. The handlers run in-process with
API Gateway events (events/*.json) against the DynamoDB emulator and the Aircall sandbox over HTTP, so what
passes validation really runs.

Whatever comes in, the answer is the contract's: JSON, a 2xx or a 4xx whose `error.code` is one of the documented
codes, never a 5xx of the gateway's own (Aircall's refusal of what validation let through is the documented
`502 aircall_error`)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aircall_sms import errors
from aircall_sms.domain.access import ADMIN_PRINCIPAL as ADMIN
from aircall_sms.domain.requests import NumberRequest
from aircall_sms.store import numbers
from aircall_sms.use_cases import numbers as number_use_cases
from tests.support import invoke, load_event

FR_FIXED = "100005"


def documented_codes() -> set[str]:
    """Every error code a client may see: the codes of every GatewayError subclass the handlers know."""
    found, pending = set(), [errors.GatewayError]
    while pending:
        cls = pending.pop()
        found.add(cls.code)
        pending.extend(cls.__subclasses__())
    return found - {"internal_error"}


EXAMPLES = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Strings that break naive code: control characters, lone surrogates (not encodable as UTF-8), right-to-left
# and zero-width marks, NUL, path and query injection, template and SQL-looking text, very long ones.
NASTY = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\ud800",
        "\u202e+33612345679",
        "\u200b",
        "../../etc/passwd",
        "%2e%2e%2f",
        "?x=1&y=2",
        "${jndi:ldap://x}",
        "' OR 1=1 --",
        "<script>alert(1)</script>",
        "+" + "9" * 40,
        "😀" * 300,
        "a" * 5000,
        "١٢٣",  # Arabic-Indic digits
        "+33 6 12 34 56 79",
        "1e309",
        "-1",
        "0",
        "100005",
    ]
)
TEXT = st.one_of(NASTY, st.text(max_size=60))
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=12,
)


def fields_of(*names: str) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with the model's own field names (some of them), each holding any JSON value."""
    return st.dictionaries(st.sampled_from(names), JSON, max_size=len(names))


SEND_FIELDS = (
    "from", "to", "text", "media_urls", "purpose", "on_limit", "not_after", "metadata", "dry_run", "human_author",
)  # fmt: skip
BODIES = {
    "send": st.one_of(
        JSON,
        fields_of(*SEND_FIELDS),
        fields_of(*SEND_FIELDS).map(lambda body: {"from": FR_FIXED, "to": "+33145678901", "dry_run": True} | body),
    ),
    "number": st.one_of(JSON, fields_of("mode", "registration", "limits")),
    "opt_out": st.one_of(JSON, fields_of("number_id", "source")),
    "consent": st.one_of(JSON, fields_of("number_id", "purpose", "source", "captured_at", "text", "evidence_url")),
    "callback": st.one_of(JSON, fields_of("event", "event_name", "token", "data", "timestamp", "resource")),
}
RAW_BODIES = st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode))


@pytest.fixture
def configured(gateway):
    number_use_cases.configure(
        ADMIN, FR_FIXED, NumberRequest.model_validate({"mode": "proxy"}), request_callback_url="https://unused/webhooks"
    )
    yield
    numbers.delete(FR_FIXED)


def assert_contract(function: str, event: dict[str, Any]) -> None:
    status, body = invoke(function, event)
    code = (body.get("error") or {}).get("code") if isinstance(body, dict) else None
    if status >= 500:
        assert (status, code) == (502, "aircall_error"), f"{status} {body} for {event.get('body')!r}"
    elif status >= 400:
        assert code in documented_codes(), f"{status} with code {code!r}: {body}"
    else:
        assert 200 <= status < 300 and isinstance(body, dict)


def event_with(name: str, *, body: Any = None, raw: bytes | None = None, **overrides: Any) -> dict[str, Any]:
    event = load_event(name, **overrides)
    if raw is not None:
        event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
    else:
        try:
            event["body"] = json.dumps(body, allow_nan=False)
        except (UnicodeEncodeError, ValueError):  # a lone surrogate: send what a client's bytes would be
            event["body"] = json.dumps(body, ensure_ascii=True)
    return event


# ------------------------------------------------------------------------------------------------ bodies
@EXAMPLES
@given(body=BODIES["send"])
def test_any_send_body_gets_the_contracts_answer(configured, body):
    assert_contract("send", event_with("send_message", body=body))


@EXAMPLES
@given(body=BODIES["number"], number_id=st.one_of(st.just(FR_FIXED), TEXT))
def test_any_number_configuration_gets_the_contracts_answer(configured, body, number_id):
    assert_contract(
        "manage",
        event_with("manage_put_number_proxy", body=body, pathParameters={"number_id": number_id}),
    )


@EXAMPLES
@given(body=BODIES["opt_out"], phone=TEXT)
def test_any_opt_out_gets_the_contracts_answer(configured, body, phone):
    assert_contract("manage", event_with("manage_put_opt_out", body=body, pathParameters={"phone": phone}))


@EXAMPLES
@given(body=BODIES["consent"], phone=TEXT)
def test_any_consent_gets_the_contracts_answer(configured, body, phone):
    assert_contract("manage", event_with("manage_put_consent", body=body, pathParameters={"phone": phone}))


@EXAMPLES
@given(body=BODIES["callback"])
def test_any_callback_gets_the_contracts_answer(configured, body):
    assert_contract("inbound", event_with("inbound_status_updated", body=body))


@EXAMPLES
@given(raw=RAW_BODIES, function_event=st.sampled_from([("send", "send_message"), ("inbound", "inbound_received")]))
def test_bytes_that_are_not_json_get_the_contracts_answer(configured, raw, function_event):
    function, name = function_event
    assert_contract(function, event_with(name, raw=raw))


# ------------------------------------------------------------------------------------------------ queries and headers
@EXAMPLES
@given(query=st.dictionaries(st.sampled_from(["number_id", "contact", "direction", "status", "since", "until",
                                              "limit", "cursor", "other"]), TEXT, max_size=5))  # fmt: skip
def test_any_archive_query_gets_the_contracts_answer(configured, query):
    event = load_event(
        "manage_list_messages",
        queryStringParameters=query or None,
        multiValueQueryStringParameters={name: [value] for name, value in query.items()} or None,
    )
    assert_contract("manage", event)


@EXAMPLES
@given(key=TEXT, message_id=TEXT)
def test_any_idempotency_key_and_message_id_get_the_contracts_answer(configured, key, message_id):
    event = event_with("send_message", body={"from": FR_FIXED, "to": "+33145678901", "text": "x", "dry_run": True})
    event["headers"] = dict(event["headers"]) | {"Idempotency-Key": key}
    event["multiValueHeaders"] = dict(event.get("multiValueHeaders") or {}) | {"Idempotency-Key": [key]}
    assert_contract("send", event)
    assert_contract(
        "manage",
        load_event("manage_get_message", pathParameters={"id": message_id}, path=f"/messages/{message_id}"),
    )
