"""Inbound MMS media over real HTTP through the local stack: the sandbox posts an MMS whose files sit behind its
presigned-style links, the callback answers at once with the media pending, the MediaFunction (the stack's poller
on the archive's stream, as Lambda's filtered event source mapping) copies the files into the media bucket (moto's
S3), and long after Aircall's links expired the archive's answers — one message, the list, the export — carry the
gateway's own links, which serve the files; bad files end as errors on the message; GET /usage counts the stored
bytes; erasing the contact deletes the copies."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import httpx

US_LOCAL = 100001  # +1 424 416 2288
CONTACT = "+14155550177"  # written to by no other test of the suite
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def test_the_archive_keeps_inbound_mms_files_after_aircalls_links_expire(stack, api, aircall):
    month = datetime.now(UTC).strftime("%Y-%m")
    assert api.put(f"/numbers/{US_LOCAL}", json={"mode": "proxy", "registration": "approved"}).status_code in (200, 201)
    before = api.get("/usage", params={"month": month, "number_id": str(US_LOCAL)}).json()["items"][0]["media"]
    # Given an MMS with a picture behind a link valid for a minute, and a file too large to keep
    picture = aircall.post(
        "/_sandbox/media",
        json={"file_name": "cat.png", "file_type": "image/png", "content_base64": base64.b64encode(PNG).decode()}
        | {"expires_in_s": 60},
    ).json()
    huge = aircall.post(
        "/_sandbox/media", json={"file_name": "big.jpg", "file_type": "image/jpeg", "size_bytes": 6 * 1024 * 1024}
    ).json()
    details = [{name: file[name] for name in ("file_name", "file_type", "presigned_url")} for file in (picture, huge)]
    sent = aircall.post(
        "/_sandbox/inbound", json={"number_id": US_LOCAL, "from": CONTACT, "body": "Look", "media_details": details}
    )
    # Then Aircall's callback was answered 200 at once
    assert sent.status_code in (200, 201) and sent.json()["delivery"]["status_code"] == 200, sent.text
    # When the MediaFunction has run and an hour has passed: Aircall's link no longer works
    stack.drain_streams(timeout=30)
    aircall.post("/_sandbox/clock", json={"advance_seconds": 3600}).raise_for_status()
    assert httpx.get(picture["presigned_url"]).status_code == 403
    # Then the archive shows the picture stored, with the gateway's own link, and the large file's error
    page = api.get("/messages", params={"number_id": str(US_LOCAL), "contact": CONTACT}).json()
    [message] = page["items"]
    assert message["media_status"] == "failed"
    stored, failed = message["media"]
    assert (stored["status"], stored["content_type"], stored["size_bytes"]) == ("stored", "image/png", len(PNG))
    assert (failed["status"], failed["error"]["code"]) == ("failed", "media_too_large")
    assert message["media_urls"] == [stored["url"]]
    assert stored["url"].startswith(stack.dynamodb_url)  # the emulator's S3, not the sandbox
    assert stack.aircall_url not in json.dumps(message)
    served = httpx.get(stored["url"])
    assert (served.status_code, served.content, served.headers["content-type"]) == (200, PNG, "image/png")
    # One message and the export carry links too (made afresh for each answer)
    one = api.get(f"/messages/{message['id']}").json()["message"]
    assert httpx.get(one["media"][0]["url"]).content == PNG
    since = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [json.loads(line) for line in api.get("/messages/export", params={"since": since}).text.splitlines()]
    [exported] = [line for line in lines if line["id"] == message["id"]]
    assert httpx.get(exported["media_urls"][0]).content == PNG
    # GET /usage counts the stored file and its bytes
    after = api.get("/usage", params={"month": month, "number_id": str(US_LOCAL)}).json()["items"][0]["media"]
    assert after == {"files": before["files"] + 1, "bytes": before["bytes"] + len(PNG)}
    # Erasing the contact deletes the copy: its link serves nothing any more
    erased = api.delete(f"/contacts/%2B{CONTACT[1:]}")
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"]["media_objects"] == 1
    assert httpx.get(stored["url"]).status_code == 404
