"""`make smoke` (tools/smoke.py) judged against answers it may meet in a deployment: an httpx MockTransport
plays the API (the e2e test runs it against the local stack)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest

from tools import smoke

KEY = "the-key"
NUMBER = {"number_id": 100001, "e164": "+14244162288", "mode": "proxy"}
UNAUTHORIZED = {"error": {"code": "unauthorized", "message": "A valid client key is required.", "details": {}}}
OPENAPI = {"openapi": "3.1.0", "paths": {"/messages": {"post": {}}, "/health": {"get": {}}}}


Answer = Callable[[httpx.Request], httpx.Response]


def api(overrides: Mapping[Any, Answer] | None = None) -> httpx.MockTransport:
    """A healthy deployment with one configured number, where `overrides` answers differently (by route; the key
    "open" makes it answer without the API key)."""
    sent: dict[str, dict[str, object]] = {}

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1")  # the stage, as in a deployment's URL
        route = (request.method, path)
        if route == ("GET", "/health"):
            if overrides and route in overrides:
                return overrides[route](request)
            return httpx.Response(200, json={"status": "ok"})
        if request.headers.get("x-api-key") != KEY and not (overrides and "open" in overrides):
            return httpx.Response(401, json=UNAUTHORIZED)  # the authorizer's refusal, in the contract's shape
        if overrides and route in overrides:
            return overrides[route](request)
        if route == ("GET", "/openapi.json"):
            return httpx.Response(200, json=OPENAPI)
        if route == ("GET", "/numbers"):
            return httpx.Response(200, json={"items": [NUMBER], "next_cursor": None})
        if route == ("POST", "/messages"):
            body = json.loads(request.content)
            if body.get("dry_run"):
                return httpx.Response(200, json={"verdict": "allowed", "reason": None, "segments": 1})
            sent["msg_1"] = {"id": "msg_1", "status": "queued", "aircall_id": "SM1", **body}
            return httpx.Response(201, json={"message": sent["msg_1"]})
        if request.method == "GET" and path.startswith("/messages/"):
            message = sent.get(path.rsplit("/", 1)[1])
            return (
                httpx.Response(200, json={"message": message})
                if message
                else httpx.Response(404, json={"error": {"code": "not_found"}})
            )
        return httpx.Response(403, json={"message": "Missing Authentication Token"})

    return httpx.MockTransport(answer)


def check(transport: httpx.MockTransport, **options: object) -> tuple[smoke.Report, list[str]]:
    printed: list[str] = []
    report = smoke.run("https://api.example/v1", KEY, out=printed.append, transport=transport, **options)  # type: ignore[arg-type]
    return report, printed


def test_a_healthy_deployment_passes_every_check_and_sends_nothing_unless_asked():
    report, printed = check(api())
    assert (report.passed, report.failed, report.skipped) == (5, 0, 1)
    assert printed[-1] == "SKIP send: not asked (--send --to <E.164> sends one real message)"
    assert "PASS dry run: from 100001 to +14244162288: allowed, 1 segment(s)" in printed
    assert report.summary() == "smoke: 5 passed, 0 failed, 1 skipped"


def test_with_send_one_message_goes_out_and_is_found_in_the_archive():
    report, printed = check(api(), send=True, to="+14155550123")
    assert (report.passed, report.failed) == (7, 0)
    assert "PASS send: msg_1 queued (Aircall id SM1)" in printed
    assert "PASS archive: GET /messages/msg_1: queued" in printed


def test_send_without_a_recipient_is_a_failure_not_a_guess():
    report, printed = check(api(), send=True)
    assert report.failed == 1
    assert printed[-1].startswith("FAIL send: --send needs --to")


def test_a_wrong_key_fails_the_checks_that_need_it_and_says_so():
    printed: list[str] = []
    report = smoke.run("https://api.example", "not-the-key", out=printed.append, transport=api())
    assert report.failed == 2
    assert printed[2].startswith("FAIL openapi: the key was refused: HTTP 401")


def test_an_api_that_does_not_enforce_its_key_fails():
    _, printed = check(api({"open": lambda _r: httpx.Response(500)}))
    assert "FAIL api key: GET /numbers without the API key answered HTTP 200, not 401/403" in printed


def test_an_unhealthy_deployment_stops_after_the_health_check():
    sick = {("GET", "/health"): lambda _r: httpx.Response(502, json={"message": "Internal server error"})}
    report, printed = check(api(sick))
    assert (report.passed, report.failed) == (0, 1)
    assert printed[0].startswith("FAIL health: HTTP 502")
    assert printed[1] == "INFO stopped: https://api.example/v1/health does not answer: is the URL right?"


def test_a_rule_refusing_the_dry_run_still_passes_and_names_the_rule():
    refused = {
        ("POST", "/messages"): lambda _r: httpx.Response(
            200, json={"verdict": "rejected", "reason": "conversational_only", "segments": 1}
        )
    }
    report, printed = check(api(refused))
    assert report.failed == 0
    assert any("rejected by the rule 'conversational_only'" in line for line in printed)


@pytest.mark.parametrize(
    ("route", "answer", "failure"),
    [
        (("GET", "/openapi.json"), httpx.Response(200, json={"swagger": "2.0"}), "not an OpenAPI 3 document"),
        (("GET", "/openapi.json"), httpx.Response(200, text="<html>"), "not JSON"),
        (("GET", "/numbers"), httpx.Response(200, json={"numbers": []}), "no items list"),
        (("POST", "/messages"), httpx.Response(200, json={"ok": True}), "no verdict"),
    ],
)
def test_an_answer_of_the_wrong_shape_fails_its_check(route, answer, failure):
    report, printed = check(api({route: lambda _r: answer}))
    assert report.failed == 1
    assert any(line.startswith("FAIL") and failure in line for line in printed)


def test_no_configured_number_skips_the_dry_run():
    none = {("GET", "/numbers"): lambda _r: httpx.Response(200, json={"items": [], "next_cursor": None})}
    report, printed = check(api(none))
    assert report.failed == 0
    assert "SKIP dry run: no number configured yet" in printed[4]


def test_a_sender_that_is_not_configured_fails():
    _, printed = check(api(), sender="100009")
    assert printed[-1] == "FAIL dry run: --from 100009 is not a configured number (PUT /numbers/100009 first)"


def test_the_key_is_never_printed():
    _, printed = check(api(), send=True, to="+14155550123")
    assert not any(KEY in line for line in printed)


def test_the_command_line_needs_a_key_and_exits_2_without_one(monkeypatch, capsys):
    monkeypatch.delenv("SMOKE_API_KEY", raising=False)
    with pytest.raises(SystemExit) as exit_:
        smoke.main(["--url", "https://api.example"])
    assert exit_.value.code == 2
    assert "the API key is missing" in capsys.readouterr().err
