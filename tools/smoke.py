"""`make smoke URL=... KEY=...`: a short end-to-end check of one deployment of the gateway (or of `make local`).

In order, one line each, `PASS`, `FAIL` or `SKIP`:

1. `GET /health` answers 200 `{"status": "ok"}` (the tables answer);
2. `GET /numbers` without a key is refused (the authorizer is in front of the API);
3. `GET /openapi.json` with the key is an OpenAPI 3 document that lists `POST /messages`;
4. `GET /numbers` lists the configured numbers;
5. a dry run of `POST /messages` from a configured number (`--from`, else the first one listed) to `--to` (else
   to that number's own E.164 form: a dry run sends nothing) answers a verdict; a rule's refusal (French mobile
   lines answer only contacts who wrote, say) is still a working gateway, and says so;
6. only with `--send` (and `--to`): a real message, then `GET /messages/{id}` finds it in the archive.

Exit 0 when nothing failed, 1 otherwise, 2 for a usage mistake. The API key comes from `--key` or the
`SMOKE_API_KEY` variable (the Makefile passes it that way, so it is not on a command line) and is never printed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

TIMEOUT_SECONDS = 15.0
SMOKE_TEXT = "aircall-sms-gateway smoke test"


class CheckFailed(Exception):
    """One check's failure, in one sentence."""


@dataclass
class Report:
    """The lines printed so far and the tally."""

    out: Callable[[str], None] = print
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    lines: list[str] = field(default_factory=list)

    def line(self, verdict: str, name: str, detail: str) -> None:
        text = f"{verdict} {name}: {detail}"
        self.lines.append(text)
        self.out(text)

    def run(self, name: str, check: Callable[[], str]) -> bool:
        try:
            detail = check()
        except CheckFailed as failure:
            self.failed += 1
            self.line("FAIL", name, str(failure))
            return False
        except httpx.HTTPError as failure:
            self.failed += 1
            self.line("FAIL", name, f"{type(failure).__name__}: {failure}")
            return False
        self.passed += 1
        self.line("PASS", name, detail)
        return True

    def skip(self, name: str, why: str) -> None:
        self.skipped += 1
        self.line("SKIP", name, why)

    def summary(self) -> str:
        return f"smoke: {self.passed} passed, {self.failed} failed, {self.skipped} skipped"


def _json(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        raise CheckFailed(f"HTTP {answer.status_code}, not JSON: {answer.text[:200]!r}") from None


def _expect(answer: httpx.Response, *statuses: int) -> Any:
    if answer.status_code in (401, 403) and answer.status_code not in statuses and '"unauthorized"' in answer.text:
        raise CheckFailed(f"the key was refused: HTTP {answer.status_code} {answer.text[:100]}")
    if answer.status_code not in statuses:
        body = answer.text[:300]
        raise CheckFailed(f"HTTP {answer.status_code} (expected {' or '.join(map(str, statuses))}): {body}")
    return _json(answer)


class Smoke:
    """The checks against one API; `api` carries the key, `anonymous` does not."""

    def __init__(self, api: httpx.Client, anonymous: httpx.Client) -> None:
        self.api = api
        self.anonymous = anonymous
        self.numbers: list[dict[str, Any]] = []
        self.sent_id: str | None = None

    def health(self) -> str:
        body = _expect(self.anonymous.get("/health"), 200)
        if body != {"status": "ok"}:
            raise CheckFailed(f'HTTP 200 but {body!r}, not {{"status": "ok"}}')
        return 'HTTP 200 {"status": "ok"}'

    def key_enforced(self) -> str:
        answer = self.anonymous.get("/numbers")
        if answer.status_code not in (401, 403):
            raise CheckFailed(f"GET /numbers without the API key answered HTTP {answer.status_code}, not 401/403")
        return f"GET /numbers without the API key: HTTP {answer.status_code}"

    def openapi(self) -> str:
        document = _expect(self.api.get("/openapi.json"), 200)
        version = str(document.get("openapi", "")) if isinstance(document, dict) else ""
        paths = document.get("paths", {}) if isinstance(document, dict) else {}
        if not version.startswith("3.") or "post" not in paths.get("/messages", {}):
            raise CheckFailed("the answer is not an OpenAPI 3 document listing POST /messages")
        return f"OpenAPI {version}, {len(paths)} paths"

    def list_numbers(self) -> str:
        body = _expect(self.api.get("/numbers"), 200)
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise CheckFailed(f"no items list in {body!r}"[:300])
        self.numbers = [item for item in items if isinstance(item, dict)]
        named = ", ".join(f"{item.get('number_id')} ({item.get('mode')})" for item in self.numbers)
        return f"{len(self.numbers)} configured" + (f": {named}" if named else "")

    def sender(self, wanted: str | None) -> dict[str, Any] | None:
        if wanted is None:
            return self.numbers[0] if self.numbers else None
        for number in self.numbers:
            if wanted in (str(number.get("number_id")), str(number.get("e164"))):
                return number
        raise CheckFailed(f"--from {wanted} is not a configured number (PUT /numbers/{wanted} first)")

    def dry_run(self, number: dict[str, Any], to: str | None) -> str:
        recipient = to or str(number.get("e164"))
        request = {"from": number.get("number_id"), "to": recipient, "text": SMOKE_TEXT, "dry_run": True}
        body = _expect(self.api.post("/messages", json=request), 200)
        verdict = body.get("verdict") if isinstance(body, dict) else None
        if verdict == "allowed":
            return f"from {number.get('number_id')} to {recipient}: allowed, {body.get('segments')} segment(s)"
        if verdict == "rejected":
            return (
                f"from {number.get('number_id')} to {recipient}: rejected by the rule {body.get('reason')!r} "
                "(the gateway works; a real send there would be refused)"
            )
        raise CheckFailed(f"no verdict in {body!r}"[:300])

    def send(self, number: dict[str, Any], to: str) -> str:
        request = {"from": number.get("number_id"), "to": to, "text": SMOKE_TEXT}
        body = _expect(self.api.post("/messages", json=request), 201, 202)
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, dict) or not message.get("id"):
            raise CheckFailed(f"no message in {body!r}"[:300])
        self.sent_id = str(message["id"])
        return f"{self.sent_id} {message.get('status')} (Aircall id {message.get('aircall_id')})"

    def archived(self) -> str:
        body = _expect(self.api.get(f"/messages/{self.sent_id}"), 200)
        message = body.get("message") if isinstance(body, dict) else None
        status = message.get("status") if isinstance(message, dict) else None
        if not status:
            raise CheckFailed(f"no status in {body!r}"[:300])
        return f"GET /messages/{self.sent_id}: {status}"


def run(
    url: str,
    key: str,
    *,
    sender: str | None = None,
    to: str | None = None,
    send: bool = False,
    out: Callable[[str], None] = print,
    transport: httpx.BaseTransport | None = None,
) -> Report:
    """Every check against `url`, printed as it goes; the report says what passed."""
    report = Report(out=out)
    base = url.rstrip("/")
    with (
        httpx.Client(base_url=base, headers={"x-api-key": key}, timeout=TIMEOUT_SECONDS, transport=transport) as api,
        httpx.Client(base_url=base, timeout=TIMEOUT_SECONDS, transport=transport) as anonymous,
    ):
        smoke = Smoke(api, anonymous)
        if not report.run("health", smoke.health):
            report.line("INFO", "stopped", f"{base}/health does not answer: is the URL right?")
            return report
        report.run("api key", smoke.key_enforced)
        report.run("openapi", smoke.openapi)
        if not report.run("numbers", smoke.list_numbers):
            return report
        try:
            number = smoke.sender(sender)
        except CheckFailed as failure:
            report.failed += 1
            report.line("FAIL", "dry run", str(failure))
            return report
        if number is None:
            report.skip("dry run", "no number configured yet (PUT /numbers/{number_id}: docs/operations.md)")
        else:
            report.run("dry run", lambda: smoke.dry_run(number, to))
        if not send:
            report.skip("send", "not asked (--send --to <E.164> sends one real message)")
        elif number is None:
            report.skip("send", "no number configured to send from")
        elif to is None:
            report.failed += 1
            report.line("FAIL", "send", "--send needs --to <E.164>: the phone that receives the test message")
        elif report.run("send", lambda: smoke.send(number, to)):
            report.run("archive", smoke.archived)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make smoke", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--url", required=True, help="the API URL (stack output ApiUrl, or http://127.0.0.1:3000)")
    parser.add_argument("--key", help="the API key (default: $SMOKE_API_KEY)")
    parser.add_argument("--from", dest="sender", help="the number_id to dry-run from (default: the first configured)")
    parser.add_argument("--to", help="the recipient, E.164 (default for the dry run: the sender itself)")
    parser.add_argument("--send", action="store_true", help="also send one real message to --to")
    args = parser.parse_args(argv)
    key = args.key or os.environ.get("SMOKE_API_KEY", "")
    if not key:
        parser.error("the API key is missing: --key, or SMOKE_API_KEY (make smoke URL=... KEY=...)")
    report = run(args.url, key, sender=args.sender or None, to=args.to or None, send=args.send)
    print(report.summary())
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
