"""What reaches CloudWatch leaks nothing: a whole story through the local stack over HTTP (numbers, an inbound
message and its reply, a replay, callbacks, STOP, refusals, a dry run, a quota, a forged callback, bad JSON, the
read, opt-out, consent and quota routes), every line the handlers write captured as it leaves the formatter, then
no full phone number and no secret in any of them.

The same story also records what a tracer would: every handler's answer (Powertools' Tracer stores it as trace
metadata by default) and every request's URL (a traced API Gateway stage records it). Both carry phone numbers, so
the story then shows that nothing records them: no tracer in any module the handlers loaded, no X-Ray SDK in the
process (the layer does not ship it), and the template's stage is not traced (tests/unit/test_template_tracing.py).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO
from urllib.parse import quote

import httpx
import pytest

from aircall_sms.domain import access
from aircall_sms.observability import MaskingFormatter, logger
from tests import support

FR_MOBILE, FR_LANDLINE = 100004, 100005
FR_MOBILE_E164, FR_LANDLINE_E164 = "+33612345678", "+33186954210"
CONTACT = "+33612345679"  # writes in, gets a reply
STOPPER = "+33623456781"  # sends STOP, then a send to them is refused
PROSPECT = "+33623456782"  # the dry run and the quota sends
CRM_CONTACT = "+33623456783"  # the opt-out and consent routes
FORGED_SENDER = "+33623456784"  # only in the forged callback
BAD_JSON_RECIPIENT = "+33623456785"  # only in the malformed send
STORY_PHONES = (
    FR_MOBILE_E164,
    FR_LANDLINE_E164,
    CONTACT,
    STOPPER,
    PROSPECT,
    CRM_CONTACT,
    FORGED_SENDER,
    BAD_JSON_RECIPIENT,
)

# Digit runs, separators allowed inside ("06 12 34 56 79", "+33 6 12-34"), compared once reduced to digits.
_DIGIT_RUN = re.compile(r"\d(?:[\d \-().]*\d)?")


def phone_forms(e164: str) -> set[str]:
    """A French E.164 number in every shape a log could carry it: +33612345679, 33612345679, 0612345679,
    612345679 (the last three also found spaced or dotted, by reducing digit runs to digits)."""
    digits = e164.removeprefix("+")
    national_significant = digits.removeprefix("33")
    return {e164, digits, "0" + national_significant, national_significant}


def leaked_phones(line: str) -> set[str]:
    found = {form for phone in STORY_PHONES for form in phone_forms(phone) if form in line}
    for run in _DIGIT_RUN.findall(line):
        reduced = re.sub(r"\D", "", run)
        found |= {form for phone in STORY_PHONES for form in phone_forms(phone) if form.lstrip("+") in reduced}
    return found


class _Tee(io.TextIOBase):
    """Writes through to the stream it wraps and keeps a copy."""

    def __init__(self, wrapped: IO[str]) -> None:
        self.wrapped = wrapped
        self.copy = io.StringIO()

    def write(self, text: str) -> int:
        self.copy.write(text)
        return self.wrapped.write(text)

    def flush(self) -> None:
        self.wrapped.flush()


@dataclass
class Captured:
    """What the handlers wrote: the gateway logger's lines as its handler writes them (after the masking
    formatter), stdout (the metrics' EMF lines, printed), and the WARNING+ records of any other logger (Lambda's
    runtime would send those to CloudWatch too)."""

    log_stream: _Tee
    capsys: pytest.CaptureFixture[str]
    other_records: list[str] = field(default_factory=list)
    _printed: list[str] = field(default_factory=list)

    def log_lines(self) -> list[str]:
        return [line for line in self.log_stream.copy.getvalue().splitlines() if line.strip()]

    def printed_lines(self) -> list[str]:
        out = self.capsys.readouterr().out
        self._printed += [line for line in out.splitlines() if line.strip()]
        return list(self._printed)

    def every_line(self) -> list[str]:
        return self.log_lines() + self.printed_lines() + self.other_records


class _OtherRecords(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(logger.service):  # the gateway's own lines are read from their stream
            self.into.append(self.format(record))


@pytest.fixture
def captured(capsys: pytest.CaptureFixture[str]) -> Iterator[Captured]:
    """The gateway logger's handler keeps the stream it was built with (sys.stdout when the layer was first
    imported, which pytest's capture may have replaced since), so that stream is wrapped: what is read is exactly
    what the formatter wrote. The metrics are print()ed: capsys sees them, from every thread."""
    handlers = [
        handler for handler in logging.getLogger(logger.name).handlers if isinstance(handler, logging.StreamHandler)
    ]
    assert handlers, "the gateway logger has no stream handler"
    assert all(isinstance(handler.formatter, MaskingFormatter) for handler in handlers)
    originals = [handler.stream for handler in handlers]
    log_stream = _Tee(originals[0])
    for handler in handlers:
        handler.setStream(log_stream)
    result = Captured(log_stream=log_stream, capsys=capsys)
    others = _OtherRecords(result.other_records)
    logging.getLogger().addHandler(others)
    try:
        yield result
    finally:
        logging.getLogger().removeHandler(others)
        for handler, original in zip(handlers, originals, strict=True):
            handler.setStream(original)


TRACING_PACKAGE = "aws_lambda_powertools.tracing"


@dataclass
class Traceable:
    """What a tracer would record of the story: each handler's answer and each API request's URL."""

    answers: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)


@pytest.fixture
def traceable(stack, monkeypatch: pytest.MonkeyPatch) -> Traceable:
    """Every invocation through the front (API routes, the authorizer, Aircall's callbacks, from any thread)."""
    seen = Traceable()
    invoke = stack.front.invoke

    def recording(function_logical_id: str, event: object, context: object = None) -> object:
        answer = invoke(function_logical_id, event, context)
        seen.answers.append(json.dumps(answer, ensure_ascii=False, default=str))
        if isinstance(event, dict) and event.get("path"):
            query = event.get("queryStringParameters") or {}
            pairs = "&".join(f"{name}={value}" for name, value in query.items())
            seen.urls.append(str(event["path"]) + (f"?{pairs}" if pairs else ""))
        return answer

    monkeypatch.setattr(stack.front, "invoke", recording)
    return seen


def tracers_in(modules: list[object]) -> list[str]:
    """The names of anything in these modules that is a Powertools Tracer or comes from the X-Ray SDK."""
    found = []
    for module in modules:
        for name, value in vars(module).items():
            kind = type(value)
            if kind.__name__ == "Tracer" or kind.__module__.startswith(("aws_xray_sdk", TRACING_PACKAGE)):
                found.append(f"{getattr(module, '__name__', module)}.{name}")
    return found


def path_phone(phone: str) -> str:
    return quote(phone, safe="")


def send(api: httpx.Client, body: dict[str, object], **headers: str) -> httpx.Response:
    return api.post("/messages", json=body, headers=headers)


def drain(aircall: httpx.Client) -> None:
    aircall.post("/_sandbox/callbacks/drain", json={"timeout_s": 10}).raise_for_status()


def configure(api: httpx.Client, number_id: int, **extra: object) -> None:
    answer = api.put(f"/numbers/{number_id}", json={"mode": "proxy", **extra})
    assert answer.status_code in (200, 201), answer.text


def callback_token(stack, number_id: int) -> str:
    config = stack.sandbox_config
    return support.callback_token(stack.aircall_url, config.api_id, config.api_token, number_id)


def test_a_whole_story_logs_no_phone_number_and_no_secret(stack, api, aircall, captured, traceable):
    # Numbers: a French mobile line and a landline with one segment left this hour (the session's stack is shared:
    # other tests may have sent from it this hour)
    configure(api, FR_MOBILE)
    configure(api, FR_LANDLINE)
    used = api.get(f"/numbers/{FR_LANDLINE}/quota").json()["used"]["hour"]
    configure(api, FR_LANDLINE, limits={"hour": used + 1})

    # An inbound message from a contact, answered by a person, the answer replayed, its callbacks
    inbound = aircall.post("/_sandbox/inbound", json={"number_id": FR_MOBILE, "from": CONTACT, "body": "Bonjour ?"})
    assert inbound.status_code in (200, 201), inbound.text
    drain(aircall)
    reply = {"from": FR_MOBILE, "to": "06 12 34 56 79", "text": "Bonjour, oui !", "human_author": "Camille"}
    sent = send(api, reply, **{"Idempotency-Key": "story-reply-1"})
    assert sent.status_code == 201, sent.text
    replayed = send(api, reply, **{"Idempotency-Key": "story-reply-1"})
    assert replayed.status_code == 201, replayed.text
    assert replayed.json()["message"]["id"] == sent.json()["message"]["id"]
    drain(aircall)

    # An MMS from the contact: a picture, and a file that is not what its type says (its error is logged); the
    # links (Aircall's, the gateway's) are bearer secrets until they expire
    media_links = mms_story(stack, api, aircall)

    # STOP, then a send to that contact is refused
    stop = aircall.post("/_sandbox/inbound", json={"number_id": FR_MOBILE, "from": STOPPER, "body": "STOP"})
    assert stop.status_code in (200, 201), stop.text
    drain(aircall)
    refused = send(api, {"from": FR_MOBILE, "to": STOPPER, "text": "Encore ?", "human_author": "Camille"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "opted_out"), refused.text

    # A dry run, then the landline's hourly quota: the first send passes, the second does not
    dry = send(api, {"from": FR_MOBILE, "to": PROSPECT, "text": "Essai", "human_author": "Camille", "dry_run": True})
    assert dry.status_code == 200, dry.text
    first = send(api, {"from": FR_LANDLINE, "to": PROSPECT, "text": "Un", "human_author": "Camille"})
    assert first.status_code == 201, first.text
    second = send(api, {"from": FR_LANDLINE, "to": PROSPECT, "text": "Deux", "human_author": "Camille"})
    assert (second.status_code, second.json()["error"]["code"]) == (429, "quota_exceeded"), second.text
    drain(aircall)

    # A forged callback and a malformed send, both carrying phone numbers
    forged = {
        "event": "message.received",
        "token": "forged",
        "data": {"id": "SMforged", "body": "STOP", "external_number": FORGED_SENDER, "number": {"id": FR_MOBILE}},
    }
    assert httpx.post(f"{stack.api_url}/webhooks/aircall", json=forged).status_code == 401
    malformed = f'{{"from": {FR_MOBILE}, "to": "{BAD_JSON_RECIPIENT}", "text": "oops'
    bad = api.post("/messages", content=malformed, headers={"content-type": "application/json"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_request")

    # The read, opt-out, consent and quota routes
    assert api.get(f"/messages/{sent.json()['message']['id']}").status_code == 200
    crm = path_phone(CRM_CONTACT)
    assert api.put(f"/opt-outs/{crm}", json={"number_id": FR_MOBILE, "source": "crm"}).status_code in (200, 201)
    assert api.get("/opt-outs", params={"number_id": str(FR_MOBILE)}).status_code == 200
    assert api.get("/opt-outs").status_code == 200
    assert api.delete(f"/opt-outs/{crm}", params={"number_id": str(FR_MOBILE)}).status_code == 200
    consent = {
        "purpose": "marketing",
        "source": "web_form",
        "captured_at": "2025-01-15T10:00:00+00:00",
        "text": f"J'accepte les offres au {CRM_CONTACT}",
    }
    assert api.put(f"/consents/{crm}", json=consent).status_code == 200
    assert api.get(f"/consents/{crm}").status_code == 200
    assert api.get(f"/numbers/{FR_LANDLINE}/quota").status_code == 200

    # A client key made, used as a Bearer token, refused for a scope it lacks, revoked, then refused; forged keys
    made = api.post("/api-keys", json={"name": "story", "scopes": ["read"], "number_ids": [FR_MOBILE]})
    assert made.status_code == 201, made.text
    client_key = made.json()["key"]
    bearer = {"Authorization": f"Bearer {client_key}"}
    assert httpx.get(f"{stack.api_url}/messages", params={"contact": CONTACT}, headers=bearer).status_code == 200
    denied = httpx.post(
        f"{stack.api_url}/messages", json={"from": FR_MOBILE, "to": CONTACT, "text": "x"}, headers=bearer
    )
    assert denied.json()["error"]["code"] == "insufficient_scope", denied.text
    assert api.delete(f"/api-keys/{made.json()['id']}").status_code == 200
    assert httpx.get(f"{stack.api_url}/numbers", headers=bearer).status_code == 401
    tampered = client_key[:-1] + ("B" if client_key.endswith("A") else "A")
    for forged_key in (tampered.encode(), (client_key + "x").encode(), b"x" * 600, "\xe9t\xe9".encode("latin-1")):
        assert httpx.get(f"{stack.api_url}/numbers", headers={b"x-api-key": forged_key}).status_code == 401

    # Everything the stream functions still have to publish, published
    stack.drain_streams(10)
    # A probe through the gateway's logger: what is read is the formatter's output, numbers masked
    logger.info("capture probe", extra={"to": CONTACT})

    secrets = secrets_of_the_story(stack) | client_key_secrets(client_key) | media_links
    lines = captured.every_line() + stack.front.access_log
    log_lines = captured.log_lines()

    # The capture worked: JSON lines from the gateway's logger, the story's messages among them...
    assert len(log_lines) >= 12, log_lines
    probe = [line for line in log_lines if '"capture probe"' in line]
    assert len(probe) == 1 and '"to":"+33*******79"' in probe[0], probe
    parsed = [json.loads(line) for line in log_lines]
    assert all(isinstance(entry, dict) and entry.get("service") == logger.service for entry in parsed), log_lines
    said = Counter(entry.get("message") for entry in parsed)
    assert (said["number configured"], said["message sent"], said["keyword received"]) == (3, 2, 1), said
    assert said["media files not kept"] == 1, said
    assert said["callback handled"] >= 3 and said["callback refused"] == 1, said
    refusals = {entry.get("code") for entry in parsed if entry.get("message") == "send refused"}
    assert refusals == {"opted_out", "quota_exceeded"}, refusals
    # ...and the metrics (EMF, printed), the EventsFunction's among them: the stream pollers' output was read
    emf = [json.loads(line) for line in captured.printed_lines()]
    assert emf and all("_aws" in entry for entry in emf), emf
    assert sum(entry.get("EventsPublished", [0.0])[0] for entry in emf) >= 1, emf
    assert any(event["detail_type"] == "contact.opted_out" for event in stack.published_events())

    # API Gateway's access log names the principal of every keyed request, and the route, never its path
    access = [json.loads(line) for line in stack.front.access_log]
    assert {"admin", made.json()["id"]} <= {line["client_id"] for line in access}, access
    assert any(line["resource"] == "/consents/{phone}" for line in access), access

    # No full phone number, in any shape
    leaks = {line: found for line in lines if (found := leaked_phones(line))}
    assert not leaks, leaks
    # No secret
    leaked_secrets = {line: [name for name, value in secrets.items() if value in line] for line in lines}
    assert not {line: names for line, names in leaked_secrets.items() if names}

    # What a tracer would record carries phone numbers (the answers name recipients, the URLs contacts)...
    assert any(leaked_phones(answer) for answer in traceable.answers), traceable.answers
    assert any(leaked_phones(url) for url in traceable.urls), traceable.urls
    # ...and nothing records it: no tracer in the handlers or the gateway's modules, no X-Ray SDK loaded
    loaded = [*stack.front._modules.values()]
    loaded += [module for name, module in sys.modules.items() if name.startswith("aircall_sms") and module]
    assert len(loaded) > 10 and not tracers_in(loaded), tracers_in(loaded)
    assert not [name for name in sys.modules if name.startswith("aws_xray_sdk")]


@pytest.mark.parametrize(
    "shape", ["+33612345679", "+33 6 12 34 56 79", "33612345679", "0612345679", "06 12 34 56 79", "06.12.34.56.79"]
)
def test_the_leak_check_finds_a_number_in_any_shape(shape):
    assert leaked_phones(f'{{"message":"x","to":"{shape}"}}')


def test_the_leak_check_lets_masked_numbers_ids_and_timestamps_pass():
    line = '{"timestamp":"2026-11-26 10:00:00,123+0000","to":"+33*******79","number_id":"100004","n":1795745367409}'
    assert not leaked_phones(line)


def mms_story(stack, api, aircall) -> dict[str, str]:
    """An inbound MMS of two files copied by the MediaFunction; the signatures of Aircall's links and of the
    gateway's own link to the stored picture."""
    picture = {"file_name": "a.png", "file_type": "image/png", "size_bytes": 2048}
    fake = {"file_name": "b.png", "file_type": "image/png", "mistyped": True}
    files = [aircall.post("/_sandbox/media", json=document).json() for document in (picture, fake)]
    details = [{name: file[name] for name in ("file_name", "file_type", "presigned_url")} for file in files]
    posted = aircall.post(
        "/_sandbox/inbound", json={"number_id": FR_MOBILE, "from": CONTACT, "body": "Photo", "media_details": details}
    )
    assert posted.status_code in (200, 201), posted.text
    stack.drain_streams(10)
    page = api.get("/messages", params={"number_id": str(FR_MOBILE), "contact": CONTACT, "direction": "inbound"})
    [message] = [item for item in page.json()["items"] if item.get("media")]
    assert [entry["status"] for entry in message["media"]] == ["stored", "failed"], message
    links = {f"aircall_media_link_{index}": file["presigned_url"] for index, file in enumerate(files)}
    links["gateway_media_link"] = message["media_urls"][0]
    return {name: signature(url) for name, url in links.items()}


def signature(url: str) -> str:
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]


def client_key_secrets(client_key: str) -> dict[str, str]:
    """A client key, its secret part and the digest the gateway keeps of it: none may be logged."""
    secret = client_key.split(".", 1)[1]
    return {"client_key": client_key, "client_key_secret": secret, "client_key_digest": access.digest(secret)}


def secrets_of_the_story(stack) -> dict[str, str]:
    config = stack.sandbox_config
    basic = base64.b64encode(f"{config.api_id}:{config.api_token}".encode()).decode()
    secrets = {
        "api_id": config.api_id,
        "api_token": config.api_token,
        "access_token": config.access_token,
        "basic_auth": basic,
        "api_key": stack.api_key,
        "callback_token_mobile": callback_token(stack, FR_MOBILE),
        "callback_token_landline": callback_token(stack, FR_LANDLINE),
    }
    secrets["basic_auth_header"] = f"Basic {basic}"
    assert all(len(value) >= 8 for value in secrets.values()), secrets  # a short value would match by chance
    return secrets
