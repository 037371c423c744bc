"""The sandbox's inbound MMS files: served behind presigned-style links that expire on the sandbox clock (403
AccessDenied as S3 answers), refused with a tampered signature, generated large without being held in memory,
mistyped or served with another type on request, and counted per download."""

from __future__ import annotations

import base64

import httpx
import pytest

from aircall_sandbox import SandboxConfig, SandboxServer


@pytest.fixture(scope="module")
def server():
    with SandboxServer(SandboxConfig()) as running:
        yield running


@pytest.fixture
def control(server):
    with httpx.Client(base_url=server.url, timeout=10) as http:
        http.post("/_sandbox/reset").raise_for_status()
        yield http


def test_a_file_is_served_until_its_link_expires_on_the_sandbox_clock(control):
    content = b"\x89PNG\r\n\x1a\n" + b"x" * 100
    made = control.post(
        "/_sandbox/media",
        json={"file_name": "a.png", "file_type": "image/png", "content_base64": base64.b64encode(content).decode()}
        | {"expires_in_s": 60},
    )
    assert made.status_code == 201
    file = made.json()
    assert (file["file_name"], file["file_type"], file["size_bytes"]) == ("a.png", "image/png", len(content))
    served = httpx.get(file["presigned_url"])
    assert (served.status_code, served.content, served.headers["content-type"]) == (200, content, "image/png")
    control.post("/_sandbox/clock", json={"advance_seconds": 61}).raise_for_status()
    expired = httpx.get(file["presigned_url"])
    assert expired.status_code == 403 and b"<Code>AccessDenied</Code>" in expired.content
    [summary] = control.get("/_sandbox/media").json()["files"]
    assert (summary["downloads"], summary["refused"]) == (1, ["AccessDenied"])


def test_a_tampered_link_is_refused(control):
    file = control.post("/_sandbox/media", json={}).json()
    tampered = file["presigned_url"].replace("X-Amz-Expires=300", "X-Amz-Expires=999999")
    answer = httpx.get(tampered)
    assert answer.status_code == 403 and b"SignatureDoesNotMatch" in answer.content


def test_generated_files_start_as_their_type_unless_mistyped_and_may_be_served_with_another_type(control):
    jpeg = control.post("/_sandbox/media", json={"file_type": "image/jpeg", "size_bytes": 200_000}).json()
    served = httpx.get(jpeg["presigned_url"])
    assert served.content[:3] == b"\xff\xd8\xff" and len(served.content) == 200_000
    assert served.headers["content-length"] == "200000"
    fake = control.post(
        "/_sandbox/media", json={"file_type": "image/png", "mistyped": True, "served_type": "text/html"}
    )
    served = httpx.get(fake.json()["presigned_url"])
    assert not served.content.startswith(b"\x89PNG") and served.headers["content-type"] == "text/html"


@pytest.mark.parametrize(
    "document",
    [{"size_bytes": 0}, {"size_bytes": -1}, {"expires_in_s": 0}, {"content_base64": "%%%"}, {"file_type": ""}],
)
def test_bad_control_documents_are_400(control, document):
    assert control.post("/_sandbox/media", json=document).status_code == 400
