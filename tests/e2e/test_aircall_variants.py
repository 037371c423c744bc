"""The gateway against every variant of Aircall the sandbox can play, over the whole local stack: for each, a send
whose status callbacks come back, and an inbound MMS from a contact abroad, with every callback answered 200.

Aircall documents (or leaves open) several envelopes, status words, timestamp units, contact fields, media field
names and rate-header habits. Every value of every switch is played by at least one stack below (one stack per
variant, each on its own ports), so a gateway that read only one of them would fail here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from aircall_sandbox import SandboxConfig
from local_stack.dynamodb import client
from local_stack.stack import LocalStack
from tests.support import reset_gateway_caches

US_LOCAL = 100001  # +1 424-416-2288, MMS
US_CONTACT = "+14155550100"
UK_CONTACT = "+447400123456"  # abroad: its raw digits 447400123456 are no US number

VARIANTS: dict[str, dict[str, Any]] = {
    # The defaults: the strictest reading of the reference.
    "strict defaults": {},
    "callback envelope, both contact fields, media_url, ISO data times, an unknown word before the final one": {
        "callback_style": "callback",
        "contact_style": "both",
        "inbound_media": "media_url",
        "data_timestamps": "iso8601",
        "status_words": "unknown_extra",
    },
    "webhook envelope renamed, no resource, ISO envelope time, external_number, both media, an unknown final word": {
        "callback_event_key": "event_name",
        "callback_status_event": "message.updated",
        "callback_resource": "omit",
        "callback_timestamp": "iso8601",
        "contact_style": "external_number",
        "inbound_media": "both",
        "data_timestamps": "seconds",
        "status_words": "unknown_final",
    },
    "callback envelope renamed, envelope time in seconds, rate headers always, lenient sends": {
        "callback_style": "callback",
        "callback_event_key": "event",
        "callback_status_event": "message.status_updated",
        "callback_resource": "include",
        "callback_timestamp": "seconds",
        "rate_headers": "always",
        "send_response_contact": True,
        "french_length_limit": False,
    },
    "webhook envelope with times in milliseconds": {"callback_timestamp": "milliseconds"},
}


@pytest.fixture(scope="module", params=list(VARIANTS), ids=list(VARIANTS))
def variant(request: pytest.FixtureRequest) -> Iterator[tuple[dict[str, Any], LocalStack]]:
    overrides = VARIANTS[request.param]
    reset_gateway_caches()
    # The stack's callback URL is its front, plain HTTP on loopback: allowed explicitly, as Aircall would not.
    config = SandboxConfig(**({"callback_delay_ms": 20, "allow_http_loopback_callbacks": True} | overrides))
    with LocalStack(dynamodb_port=0, aircall_port=0, api_port=0, sandbox_config=config) as running:
        reset_gateway_caches()
        yield overrides, running
    reset_gateway_caches()


def test_every_variant_of_aircall_moves_the_send_and_archives_the_inbound_mms(variant):
    overrides, stack = variant
    with (
        httpx.Client(base_url=stack.api_url, headers={"x-api-key": stack.api_key}, timeout=15) as api,
        httpx.Client(base_url=stack.aircall_url, timeout=15) as aircall,
    ):
        # Given a US number configured in proxy mode
        configured = api.put(f"/numbers/{US_LOCAL}", json={"mode": "proxy", "registration": "approved"})
        assert configured.status_code in (200, 201), configured.text
        # When a message is sent, and a contact abroad sends an MMS
        answer = api.post("/messages", json={"from": US_LOCAL, "to": US_CONTACT, "text": "Hello"})
        assert answer.status_code == 201, answer.text
        sent = answer.json()["message"]
        picture = {"file_name": "a.jpg", "file_type": "image/jpeg", "size_bytes": 2048}
        media = [
            {
                key: value
                for key, value in aircall.post("/_sandbox/media", json=picture).json().items()
                if key in ("file_name", "file_type", "presigned_url")
            }
        ]
        inbound = {"number_id": US_LOCAL, "from": UK_CONTACT, "body": "Photo", "media_details": media}
        assert aircall.post("/_sandbox/inbound", json=inbound).status_code in (200, 201)
        aircall.post("/_sandbox/callbacks/drain", json={"timeout_s": 10}).raise_for_status()
        # Then every callback was answered 200
        attempts = aircall.get("/_sandbox/callbacks").json()["callbacks"]
        assert attempts and all(attempt["status_code"] == 200 for attempt in attempts), attempts
        # and the send moved as Aircall said (an unknown final word leaves it sent, kept in the callbacks)
        message = api.get(f"/messages/{sent['id']}").json()["message"]
        expected = "sent" if overrides.get("status_words") == "unknown_final" else "delivered"
        assert message["status"] == expected
        if overrides.get("status_words", "standard") != "standard":
            assert "unknown_status" in recorded_states(stack)
        # and the MMS is archived under the contact's international number, with its media
        page = api.get("/messages", params={"number_id": US_LOCAL, "contact": UK_CONTACT}).json()
        [received] = [item for item in page["items"] if item["direction"] == "inbound"]
        assert (received["from"], received["text"]) == (UK_CONTACT, "Photo")
        # (copied into the media bucket: the gateway's link, never Aircall's)
        stack.drain_streams(timeout=30)
        message = api.get(f"/messages/{received['id']}").json()["message"]
        # (a plain `media_url` names no file: its type is the one the link serves)
        assert (message["media_status"], message["media"][0]["content_type"]) == ("stored", "image/jpeg")
        assert media[0]["presigned_url"] not in json.dumps(message)
        assert httpx.get(message["media_urls"][0]).status_code == 200


def recorded_states(stack: LocalStack) -> set[str]:
    dynamodb = client("dynamodb", stack.dynamodb_url)
    items = dynamodb.scan(TableName=stack.tables["CallbacksTable"], ConsistentRead=True)["Items"]
    return {item["state"]["S"] for item in items}
