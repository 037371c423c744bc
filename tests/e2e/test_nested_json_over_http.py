"""Deeply nested JSON over real HTTP through the local stack: on every route of the contract (the webhook
included), a body nested thousands of levels deep is a `400 invalid_request` naming the depth limit, never a 5xx
(Python's json parser recurses once per level and gives up with RecursionError long before the 64 KiB body
limit), and nothing is written."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from aircall_sms.api.access import ROUTE_SCOPES
from aircall_sms.domain.json_depth import MAX_DEPTH

CONTACT = "+33612349191"
NUMBER = 100005
PATHS = {"{number_id}": str(NUMBER), "{phone}": quote(CONTACT, safe=""), "{id}": "msg_deep"}
# The routes that read no body (the console's static pages, the health check) are checked apart: a deep body changes
# nothing of their answer.
BODILESS = sorted(route for route in ROUTE_SCOPES if route[1].startswith("/console") or route[1] == "/health")
ROUTES = sorted(set(ROUTE_SCOPES) - set(BODILESS))


def nested_arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_in_a_field(depth: int) -> str:
    """A request that names real fields, one of them holding the deep document."""
    return '{"from":100005,"to":"' + CONTACT + '","text":' + nested_arrays(depth) + "}"


def nested_objects(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def path_of(resource: str) -> str:
    for placeholder, value in PATHS.items():
        resource = resource.replace(placeholder, value)
    return resource


@pytest.mark.parametrize(("method", "resource"), ROUTES, ids=[f"{method} {path}" for method, path in ROUTES])
@pytest.mark.parametrize(
    "body",
    [nested_arrays(20_000), nested_in_a_field(15_000), nested_objects(5_000), nested_arrays(MAX_DEPTH + 1)],
    ids=["20000 arrays", "15000 in a field", "5000 objects", "one past the limit"],
)
def test_a_deeply_nested_body_is_invalid_request_on_every_route(stack, method, resource, body):
    answer = httpx.request(
        method,
        f"{stack.api_url}{path_of(resource)}",
        content=body.encode(),
        headers={"x-api-key": stack.api_key, "Content-Type": "application/json"},
        timeout=15,
    )
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_request", error
    assert error["details"] == {"max_depth": MAX_DEPTH}


@pytest.mark.parametrize(("method", "resource"), BODILESS, ids=[f"{method} {path}" for method, path in BODILESS])
def test_the_routes_that_read_no_body_ignore_a_deep_one(stack, method, resource):
    url = f"{stack.api_url}{resource.replace('{asset+}', 'index.html')}"
    plain = httpx.request(method, url, timeout=15)
    deep = httpx.request(method, url, content=nested_arrays(20_000).encode(), timeout=15)
    assert plain.status_code < 400, plain.text
    assert (deep.status_code, deep.content) == (plain.status_code, plain.content)


def test_a_body_at_the_limit_is_parsed_and_answered_by_the_contract(stack):
    """The limit refuses only deeper documents: a send whose text field holds a document exactly `MAX_DEPTH`
    levels deep (the body object is one more) is read and refused by validation, as any wrong type is."""
    answer = httpx.post(
        f"{stack.api_url}/messages",
        content=nested_in_a_field(MAX_DEPTH - 1).encode(),
        headers={"x-api-key": stack.api_key},
        timeout=15,
    )
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    assert [problem["field"] for problem in error["details"]["problems"]] == ["text"]


def test_nothing_deep_reaches_the_archive(stack):
    """The refused requests wrote nothing: no message to the contact the deep sends named."""
    listed = httpx.get(
        f"{stack.api_url}/messages",
        params={"number_id": str(NUMBER), "contact": CONTACT},
        headers={"x-api-key": stack.api_key},
        timeout=15,
    )
    assert listed.status_code == 200, listed.text
    assert listed.json()["items"] == []
