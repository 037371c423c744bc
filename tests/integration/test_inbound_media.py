"""Inbound MMS media against the emulator (DynamoDB and S3 of moto's server, over HTTP) and the Aircall sandbox,
whose files sit behind presigned-style links that expire: the copy outlives Aircall's link; each bad file (too
large, not of its type, a type not kept, an expired link, a link that times out) ends as an error recorded on the
message, the timeout after its retries; a redelivered record copies nothing again; the gateway's own failure is
retried, never recorded as the file's; an erasure deletes the copies, also of a copy in flight.

The callback and the copy run in-process (`handle_callback`, then `copy_batch` with the INSERT record the
archive's stream carries: the item as DynamoDB holds it). The stream path itself (the MediaFunction invoked by the
local stack's poller) is tests/e2e/test_inbound_media_over_http.py.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from aircall_sms.domain import media
from aircall_sms.domain.access import ADMIN_PRINCIPAL as ADMIN
from aircall_sms.domain.access import Principal
from aircall_sms.domain.requests import NumberRequest
from aircall_sms.errors import NotFound
from aircall_sms.settings import get_settings
from aircall_sms.store import media_objects, messages
from aircall_sms.use_cases import numbers as number_use_cases
from aircall_sms.use_cases.callbacks import handle_callback
from aircall_sms.use_cases.erasure import erase_contact
from aircall_sms.use_cases.media import copy_batch
from aircall_sms.use_cases.messages import get_message, list_messages
from local_stack.dynamodb import client as aws_client
from tests.integration.conftest import MEDIA_BUCKET

pytestmark = pytest.mark.integration

NUMBER = "100005"  # +33 1 86 95 42 10
NUMBER_E164 = "+33186954210"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture
def mms(gateway, emulator, sandbox_api):
    """Configure the number once; `send(files)` posts an inbound MMS with those sandbox files, as Aircall would."""
    number_use_cases.configure(
        ADMIN,
        NUMBER,
        NumberRequest.model_validate({"mode": "proxy", "registration": "none"}),
        request_callback_url="https://unused/webhooks/aircall",
    )
    config = gateway.config
    token = sandbox_api.get(
        f"/v1/numbers/{NUMBER}/messages/configuration", auth=(config.api_id, config.api_token)
    ).json()["token"]
    return Harness(token=token, sandbox=sandbox_api, dynamodb=aws_client("dynamodb", emulator.url))


class Harness:
    def __init__(self, *, token: str, sandbox: httpx.Client, dynamodb: Any) -> None:
        self.token, self.sandbox, self.dynamodb = token, sandbox, dynamodb
        self.contact = "+336" + str(uuid.uuid4().int)[:8]

    def file(self, **fields: Any) -> dict[str, Any]:
        answer = self.sandbox.post("/_sandbox/media", json={"file_name": "cat.png", "file_type": "image/png"} | fields)
        assert answer.status_code == 201, answer.text
        made: dict[str, Any] = answer.json()
        return made

    def send(self, files: list[dict[str, Any]], text: str | None = "Regarde") -> str:
        details = [{name: file[name] for name in ("file_name", "file_type", "presigned_url")} for file in files]
        data = {
            "id": "SM" + uuid.uuid4().hex,
            "direction": "inbound",
            "status": "received",
            "external_number": self.contact,
            "number": {"id": int(NUMBER), "digits": NUMBER_E164},
            "media_details": details,
        } | ({"body": text} if text else {})
        payload = {"resource": "message", "event": "message.received", "token": self.token, "data": data}
        outcome = handle_callback(json.dumps(payload))
        assert outcome.result == "archived" and outcome.message_id
        return outcome.message_id

    def stream_record(self, message_id: str) -> dict[str, Any]:
        """The INSERT record the archive's stream carries for this message (NEW_AND_OLD_IMAGES)."""
        table = get_settings().messages_table
        item = self.dynamodb.get_item(TableName=table, Key={"id": {"S": message_id}}, ConsistentRead=True)["Item"]
        return {
            "eventID": uuid.uuid4().hex,
            "eventName": "INSERT",
            "eventSourceARN": f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/local",
            "dynamodb": {"Keys": {"id": {"S": message_id}}, "NewImage": item, "SequenceNumber": "7"},
        }

    def downloads(self, file: dict[str, Any]) -> int:
        files = self.sandbox.get("/_sandbox/media").json()["files"]
        return int(next(found["downloads"] for found in files if found["id"] == file["id"]))

    def advance_clock(self, seconds: float) -> None:
        self.sandbox.post("/_sandbox/clock", json={"advance_seconds": seconds}).raise_for_status()


def test_the_copy_outlives_aircalls_link_and_the_archive_answers_with_the_gateways_own_link(mms):
    # Given an MMS whose picture Aircall serves behind a link valid for a minute
    file = mms.file(content_base64=base64.b64encode(PNG).decode(), expires_in_s=60)
    message_id = mms.send([file])
    pending = get_message(ADMIN, message_id)
    assert (pending["media_status"], pending["media_urls"]) == ("pending", [])
    # When the MediaFunction copies it, and an hour passes: Aircall's link has expired
    assert copy_batch([mms.stream_record(message_id)]) == []
    mms.advance_clock(3600)
    assert httpx.get(file["presigned_url"]).status_code == 403
    # Then the archive answers with the gateway's link, which serves the file with its type
    message = get_message(ADMIN, message_id)
    assert message["media_status"] == "stored"
    [entry] = message["media"]
    assert {name: entry[name] for name in ("file_name", "content_type", "size_bytes", "status")} == {
        "file_name": "cat.png",
        "content_type": "image/png",
        "size_bytes": len(PNG),
        "status": "stored",
    }
    assert message["media_urls"] == [entry["url"]] and entry["url_expires_at"] > message["created_at"]
    served = httpx.get(entry["url"])
    assert (served.status_code, served.content, served.headers["content-type"]) == (200, PNG, "image/png")
    # and nothing of Aircall's link is kept or shown
    assert file["presigned_url"] not in json.dumps(message)
    record = messages.get(message_id)
    assert record is not None and (record.media_details, list(record.media_urls)) == (None, [])
    assert "key" not in entry
    # A key limited to another number gets neither the message nor a link: not by id, not in its lists
    other = Principal(client_id="key_other", scopes=frozenset({"read"}), number_ids=frozenset({"100001"}))
    with pytest.raises(NotFound):
        get_message(other, message_id)
    listed = list_messages(other, contact=mms.contact)
    assert listed["items"] == [] and entry["url"] not in json.dumps(listed)
    # while a key limited to this number does
    own = Principal(client_id="key_own", scopes=frozenset({"read"}), number_ids=frozenset({NUMBER}))
    [mine] = list_messages(own, contact=mms.contact)["items"]
    assert httpx.get(mine["media_urls"][0]).content == PNG


def test_each_bad_file_ends_as_an_error_recorded_on_the_message_and_the_good_one_is_kept(mms):
    good = mms.file(content_base64=base64.b64encode(PNG).decode())
    huge = mms.file(file_name="huge.png", size_bytes=media.MAX_FILE_BYTES + 1)
    huge_undeclared = mms.file(file_name="huge2.png", size_bytes=media.MAX_FILE_BYTES + 1, omit_length=True)
    mistyped = mms.file(file_name="fake.png", mistyped=True)
    unsupported = mms.file(file_name="run.exe", file_type="application/x-msdownload")
    expired = mms.file(file_name="old.png", expires_in_s=1)
    mms.advance_clock(5)
    message_id = mms.send([good, huge, huge_undeclared, mistyped, unsupported, expired], text=None)
    # One attempt is enough: none of these would do better on another
    assert copy_batch([mms.stream_record(message_id)]) == []
    message = get_message(ADMIN, message_id)
    assert message["media_status"] == "failed"
    assert [
        (entry["file_name"], entry["status"], (entry.get("error") or {}).get("code")) for entry in message["media"]
    ] == [
        ("cat.png", "stored", None),
        ("huge.png", "failed", "media_too_large"),
        ("huge2.png", "failed", "media_too_large"),
        ("fake.png", "failed", "media_type_mismatch"),
        ("run.exe", "failed", "media_unsupported_type"),
        ("old.png", "failed", "media_unavailable"),
    ]
    assert message["media_urls"] == [message["media"][0]["url"]]
    assert httpx.get(message["media_urls"][0]).content == PNG


def test_a_link_that_times_out_is_retried_then_recorded_as_a_timeout(mms, monkeypatch):
    monkeypatch.setenv("MEDIA_FILE_SECONDS", "0.3")
    get_settings.cache_clear()
    good = mms.file(content_base64=base64.b64encode(PNG).decode())
    slow = mms.file(file_name="slow.png", delay_s=1.0)
    message_id = mms.send([good, slow])
    record = mms.stream_record(message_id)
    # The first attempts fail (Lambda retries the record), the message's media still pending, and no copy is
    # left behind by an attempt that did not record its outcome (nothing would delete it on an erasure)
    for attempt in range(1, media.ATTEMPTS):
        assert copy_batch([record]) == ["7"], attempt
        assert get_message(ADMIN, message_id)["media_status"] == "pending"
        with pytest.raises(ClientError):
            media_objects.read(media.object_key(message_id, 0))
    # and the last one records the timeout, and keeps the good file
    assert copy_batch([record]) == []
    message = get_message(ADMIN, message_id)
    assert message["media_status"] == "failed"
    assert [entry["status"] for entry in message["media"]] == ["stored", "failed"]
    assert message["media"][1]["error"]["code"] == "media_timeout"
    assert mms.downloads(slow) == media.ATTEMPTS
    assert media_objects.read(media.object_key(message_id, 0))[0] == PNG


def test_a_redelivered_record_copies_nothing_again(mms):
    file = mms.file(content_base64=base64.b64encode(PNG).decode())
    message_id = mms.send([file])
    record = mms.stream_record(message_id)
    assert copy_batch([record]) == []
    first = get_message(ADMIN, message_id)["media"]
    assert copy_batch([record]) == []
    assert mms.downloads(file) == 1
    assert [entry["size_bytes"] for entry in get_message(ADMIN, message_id)["media"]] == [
        entry["size_bytes"] for entry in first
    ]


def test_a_failure_of_the_bucket_is_retried_and_never_recorded_as_the_files_error(mms, monkeypatch):
    file = mms.file(content_base64=base64.b64encode(PNG).decode())
    message_id = mms.send([file])
    record = mms.stream_record(message_id)
    monkeypatch.setenv("MEDIA_BUCKET", "no-such-bucket-" + uuid.uuid4().hex[:8])
    get_settings.cache_clear()
    media_objects.forget()
    assert copy_batch([record]) == ["7"]
    assert get_message(ADMIN, message_id)["media_status"] == "pending"
    monkeypatch.setenv("MEDIA_BUCKET", MEDIA_BUCKET)
    get_settings.cache_clear()
    media_objects.forget()
    assert copy_batch([record]) == []
    assert get_message(ADMIN, message_id)["media_status"] == "stored"


def test_an_erasure_deletes_the_contacts_media_copies_and_a_copy_in_flight_leaves_none(mms, monkeypatch):
    file = mms.file(content_base64=base64.b64encode(PNG).decode())
    message_id = mms.send([file])
    assert copy_batch([mms.stream_record(message_id)]) == []
    key = media.object_key(message_id, 0)
    assert media_objects.read(key)[0] == PNG
    answer = erase_contact(ADMIN, mms.contact)
    assert answer.complete and answer.body["erased"]["media_objects"] == 1
    with pytest.raises(ClientError):
        media_objects.read(key)
    # A copy still downloading when its message is erased: the copy it makes is deleted at once.
    monkeypatch.setenv("MEDIA_FILE_SECONDS", "10")
    get_settings.cache_clear()
    slow = mms.file(content_base64=base64.b64encode(PNG).decode(), delay_s=1.0)
    late_id = mms.send([slow])
    record = mms.stream_record(late_id)
    copying = threading.Thread(target=copy_batch, args=([record],))
    copying.start()
    for _ in range(100):
        if mms.downloads(slow):
            break
        threading.Event().wait(0.02)
    assert erase_contact(ADMIN, mms.contact).body["erased"]["messages"] == 1
    copying.join(timeout=15)
    assert messages.get(late_id) is None
    with pytest.raises(ClientError):
        media_objects.read(media.object_key(late_id, 0))
