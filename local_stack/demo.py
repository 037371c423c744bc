"""`make demo`: start the local stack, configure a number, send a message, follow its callbacks, read the
archive, receive a reply, make a client key limited to a number and a scope and see it refused elsewhere, defer a
message past a full window and let the dispatcher send it, read what was published on the event bus, stop.
Prints what happened; exits 0 when every step did what it should."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import httpx

from aircall_sandbox import SandboxConfig
from local_stack.clock import SimulatedClock
from local_stack.stack import LocalStack

FR_MOBILE = 100004
CONTACT = "+33612345679"
FR_FIXED = 100005
FR_FIXED_CONTACT = "+33145678901"
FORGED_TOKEN = "forged"  # noqa: S105 - wrong on purpose: the demo shows it refused # nosec B105


class DemoFailed(RuntimeError):
    pass


def main() -> int:
    print("Starting the local stack (DynamoDB emulator, Aircall sandbox, API front)...")
    # The handlers' JSON logs and metrics would drown the story: the demo shows only warnings.
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    quiet = {"LogLevel": "WARNING"}
    # Ephemeral ports, so the demo runs beside a `make local` already using the defaults.
    # The stack's callback URL is its front: plain HTTP on loopback, which only this allowance lets through.
    config = SandboxConfig(callback_delay_ms=200, allow_http_loopback_callbacks=True)
    with LocalStack(
        dynamodb_port=0, aircall_port=0, api_port=0, sandbox_config=config, parameter_overrides=quiet
    ) as stack:
        print(f"  API {stack.api_url}   Aircall sandbox {stack.aircall_url}   DynamoDB {stack.dynamodb_url}\n")
        api = httpx.Client(base_url=stack.api_url, headers={"x-api-key": stack.api_key}, timeout=15)
        aircall = httpx.Client(base_url=stack.aircall_url, timeout=15)
        try:
            sent_id = run(api, aircall)
            access(api, stack)
            deferral(api, stack)
            events(api, sent_id)
        except (DemoFailed, httpx.HTTPError) as failure:
            print(f"\nDEMO FAILED: {failure}", file=sys.stderr)
            return 1
        finally:
            api.close()
            aircall.close()
    print("\nStopped the local stack. Demo complete.")
    return 0


def run(api: httpx.Client, aircall: httpx.Client) -> str:
    """Steps 1-10; the id of the message sent in step 4."""
    step("1. GET /health")
    expect(api.get("/health"), 200)

    step(f"2. PUT /numbers/{FR_MOBILE}: configure the sandbox's French mobile line in proxy mode")
    number = expect(api.put(f"/numbers/{FR_MOBILE}", json={"mode": "proxy"}), 201, 200)
    show(
        {
            "number": {k: number["number"][k] for k in ("number_id", "e164", "kind", "mode")},
            "warning": number["warning"],
        }
    )

    step("3. The contact writes first (the sandbox simulates an inbound SMS; Aircall posts message.received)")
    expect(
        aircall.post(
            "/_sandbox/inbound",
            json={"number_id": FR_MOBILE, "from": CONTACT, "body": "Bonjour, mon rendez-vous tient toujours ?"},
        ),
        200,
        201,
    )
    expect(aircall.post("/_sandbox/callbacks/drain", json={"timeout_s": 10}), 200)
    received = [
        d for d in aircall.get("/_sandbox/callbacks").json().get("callbacks", []) if "received" in str(d.get("event"))
    ]
    if not received or received[-1].get("status_code") != 200:
        raise DemoFailed("the inbound callback was not accepted")
    print(f"   message.received -> HTTP {received[-1]['status_code']} (archived; the conversation is open)")

    step("4. POST /messages: the reply (a French mobile line may answer a contact who wrote within 24 h)")
    sent = expect(
        api.post(
            "/messages",
            json={"from": FR_MOBILE, "to": "06 12 34 56 79", "text": "Bonjour ! Votre rendez-vous est confirmé."},
            headers={"Idempotency-Key": "demo-appointment-1"},
        ),
        201,
    )["message"]
    show({k: sent[k] for k in ("id", "aircall_id", "to", "status", "segments", "encoding")})

    step("5. The sandbox posts Aircall's status callbacks to POST /webhooks/aircall")
    expect(aircall.post("/_sandbox/callbacks/drain", json={"timeout_s": 10}), 200)
    deliveries = aircall.get("/_sandbox/callbacks").json()
    for delivery in deliveries.get("callbacks", deliveries)[-3:]:
        print(f"   {delivery.get('event')} -> HTTP {delivery.get('status_code')}")

    step(f"6. GET /messages/{sent['id']}: the archive")
    message = expect(api.get(f"/messages/{sent['id']}"), 200)["message"]
    show({"status": message["status"], "status_history": message["status_history"]})
    if message["status"] != "delivered":
        raise DemoFailed(f"expected the message to be delivered, it is {message['status']}")

    step("7. The same request again (same Idempotency-Key): the first answer, no second send")
    again = api.post(
        "/messages",
        json={"from": FR_MOBILE, "to": "06 12 34 56 79", "text": "Bonjour ! Votre rendez-vous est confirmé."},
        headers={"Idempotency-Key": "demo-appointment-1"},
    )
    replayed = expect(again, 201)["message"]
    if replayed["id"] != sent["id"]:
        raise DemoFailed("the replay answered another message")
    print(f"   same message id {replayed['id']}, Idempotent-Replayed: {again.headers.get('Idempotent-Replayed')}")

    step("8. A marketing blast from the French mobile line is refused (automated sending is forbidden there)")
    refused = api.post(
        "/messages", json={"from": FR_MOBILE, "to": CONTACT, "text": "-20 % ce week-end !", "purpose": "marketing"}
    )
    expect(refused, 403)
    show(refused.json()["error"])

    step("9. dry_run: every check and the quota, nothing reserved or sent")
    verdict = expect(
        api.post("/messages", json={"from": FR_MOBILE, "to": CONTACT, "text": "À demain 👋", "dry_run": True}), 200
    )
    show(verdict)

    step("10. A forged callback is refused")
    forged = api.post(
        "/webhooks/aircall",
        json={"event": "message.received", "token": FORGED_TOKEN, "data": {"number": {"id": FR_MOBILE}}},
    )
    expect(forged, 401)
    show(forged.json())

    return str(sent["id"])


def access(api: httpx.Client, stack: LocalStack) -> None:
    """A client key of its own for an integration: scope read, limited to the French mobile line."""
    step(f"11. POST /api-keys: a key for a reporting tool (scope read, number {FR_MOBILE} only); shown once")
    made = expect(api.post("/api-keys", json={"name": "reporting", "scopes": ["read"], "number_ids": [FR_MOBILE]}), 201)
    show({key: made[key] for key in ("id", "name", "scopes", "number_ids", "created_by")})
    reporting = httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {made['key']}"}, timeout=15)
    with reporting:
        listed = expect(reporting.get("/messages", params={"limit": "2"}), 200)["items"]
        seen = sorted({message["number_id"] for message in listed})
        print(f"   it reads its number's archive: {len(listed)} message(s), of the numbers {seen}")
        refused = reporting.post("/messages", json={"from": FR_MOBILE, "to": CONTACT, "text": "Hello"})
        expect(refused, 403)
        show(refused.json()["error"])
        elsewhere = reporting.get(f"/numbers/{FR_FIXED}/quota")
        expect(elsewhere, 403)
        show(elsewhere.json()["error"])
        expect(api.delete(f"/api-keys/{made['id']}"), 200)
        print("   revoked (DELETE /api-keys/{id}); the key is refused from then on:")
        expect(reporting.get("/messages"), 401)


def deferral(api: httpx.Client, stack: LocalStack) -> None:
    """A full window defers a message; an hour later (a simulated hour, on the gateway's and the sandbox's
    clocks) the dispatcher sends it."""
    step(f"12. A full window: PUT /numbers/{FR_FIXED} with an hourly limit of 1, one send, then on_limit: defer")
    expect(api.put(f"/numbers/{FR_FIXED}", json={"mode": "proxy", "limits": {"hour": 1}}), 201, 200)
    body = {"from": FR_FIXED, "to": FR_FIXED_CONTACT, "purpose": "transactional"}
    expect(api.post("/messages", json=body | {"text": "Votre commande est prête."}), 201)
    deferred = expect(api.post("/messages", json=body | {"text": "Elle part demain.", "on_limit": "defer"}), 202)
    show({key: deferred["message"][key] for key in ("id", "status", "not_before", "not_after")})
    print("   An hour passes (simulated); the QuotaResetFunction's dispatch run starts:")
    with SimulatedClock(stack.aircall_url) as clock:
        clock.advance(3600)
        report = stack.invoke("QuotaResetFunction", {"task": "dispatch"})
        show(report)
        message = expect(api.get(f"/messages/{deferred['message']['id']}"), 200)["message"]
    show({"status": message["status"], "history": [change["status"] for change in message["status_history"]]})
    if message["status"] != "queued":
        raise DemoFailed(f"the deferred message was not sent an hour later: {message['status']}")


def events(api: httpx.Client, sent_id: str) -> None:
    step("13. GET /_local/events: what your systems received on the gateway's event bus (source aircall-sms)")
    published = expect(api.get("/_local/events"), 200)["events"]
    for event in published:
        detail = event["detail"]
        message = detail.get("message") or {}
        if event["detail_type"] == "message.status_changed":
            about = f"{message['id']}: {detail['previous_status'] or '(new)'} -> {message['status']}"
        else:
            about = f"{message['id']} ({message['direction']})" if message else json.dumps(detail, ensure_ascii=False)
        print(f"   {event['detail_type']:<24} {about}")
    steps = [
        event["detail"]["message"]["status"]
        for event in published
        if event["detail_type"] == "message.status_changed" and event["detail"]["message"]["id"] == sent_id
    ]
    if steps != ["unknown", "queued", "sent", "delivered"]:
        raise DemoFailed(f"expected the send's status changes on the bus, got {steps}")


def step(title: str) -> None:
    print(f"\n{title}")


def show(document: Any) -> None:
    print("   " + json.dumps(document, ensure_ascii=False, indent=2).replace("\n", "\n   "))


def expect(answer: httpx.Response, *statuses: int) -> Any:
    if answer.status_code not in statuses:
        raise DemoFailed(
            f"{answer.request.method} {answer.request.url.path} answered {answer.status_code}: {answer.text}"
        )
    print(f"   HTTP {answer.status_code}")
    return answer.json() if answer.content else None


if __name__ == "__main__":
    sys.exit(main())
