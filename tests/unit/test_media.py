"""Inbound MMS media, the pure rules and the download client: what a file's bytes say it is, which links are
fetched, and each way a download ends as a recorded error (too large, too slow, not of its type, a type not kept,
an error answer), told apart as final or worth another attempt. httpx's MockTransport stands for the network."""

from __future__ import annotations

import time

import httpx
import pytest

from aircall_sms.clients.media import MediaClient, MediaFetchFailed
from aircall_sms.domain import media
from aircall_sms.domain.usage_counts import MEDIA_BYTES, MEDIA_FILES, counts_of, report_item

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100


@pytest.mark.parametrize(
    ("media_type", "head", "expected"),
    [
        ("image/png", PNG, True),
        ("image/png", JPEG, False),
        ("image/jpeg", JPEG, True),
        ("image/jpeg", b"<html>", False),
        ("image/gif", b"GIF89a....", True),
        ("application/pdf", b"%PDF-1.7", True),
        ("image/webp", b"RIFF\x00\x00\x00\x00WEBPVP8 ", True),
        ("image/webp", b"RIFF\x00\x00\x00\x00WAVEfmt ", False),
        ("video/mp4", b"\x00\x00\x00\x18ftypmp42", True),
        ("video/mp4", PNG, False),
        ("text/vcard", b"BEGIN:VCARD", True),  # no signature to check
    ],
)
def test_a_files_first_bytes_must_be_of_its_type(media_type, head, expected):
    assert media.matches(media_type, head[: media.SNIFF_BYTES]) is expected


def test_types_are_normalised_and_aliases_folded():
    assert media.normal_type("image/JPG; charset=binary") == "image/jpeg"
    assert media.normal_type("") is None
    assert media.normal_type(None) is None
    assert media.normal_type("nonsense") is None


def test_sources_keep_at_most_ten_files_in_order_and_keys_name_no_phone_number():
    details = [
        {"url": f"https://files.example/{n}", "file_name": f"{n}.png", "file_type": "image/png"} for n in range(12)
    ]
    found = media.sources(details)
    assert [source.index for source in found] == list(range(media.MAX_FILES))
    assert found[3].url == "https://files.example/3"
    assert media.object_key("msg_in_abc", 3) == "media/msg_in_abc/3"


def test_the_outcome_is_stored_only_when_every_file_is():
    source = media.sources([{"url": "https://x/1", "file_type": "image/png"}])[0]
    stored = media.stored_entry(source, key="media/m/0", content_type="image/png", size=10)
    failed = media.failed_entry(source, media.TOO_LARGE)
    assert media.outcome([stored]) == media.STORED
    assert media.outcome([stored, failed]) == media.FAILED
    assert media.stored_bytes([stored, failed]) == 10
    assert media.stored_keys([stored, failed]) == ["media/m/0"]
    assert failed["error"] == {"code": "media_too_large", "message": media.MESSAGES[media.TOO_LARGE]}


def client_answering(handler, **kwargs) -> MediaClient:
    return MediaClient(transport=httpx.MockTransport(handler), **kwargs)


def test_a_file_of_its_type_is_downloaded_with_the_declared_type_first():
    client = client_answering(lambda request: httpx.Response(200, content=PNG, headers={"content-type": "image/png"}))
    got = client.download("https://files.example/a", declared_type="image/png", seconds=5)
    assert (got.content, got.content_type) == (PNG, "image/png")
    # Aircall's file_type wins over the server's header; without it, the header says.
    got = client.download("https://files.example/a", declared_type=None, seconds=5)
    assert got.content_type == "image/png"


def failure(client: MediaClient, url="https://files.example/a", declared="image/png", **kwargs) -> MediaFetchFailed:
    with pytest.raises(MediaFetchFailed) as raised:
        client.download(url, declared_type=declared, seconds=kwargs.pop("seconds", 5), **kwargs)
    return raised.value


def test_a_file_larger_than_the_bound_fails_whether_or_not_its_length_is_declared():
    declared = client_answering(
        lambda request: httpx.Response(200, content=PNG, headers={"content-length": "99999999"})
    )
    assert failure(declared).code == media.TOO_LARGE

    def streamed(request):
        return httpx.Response(200, stream=httpx.ByteStream(PNG * 1000))  # no content-length checked here

    got = failure(client_answering(streamed), max_bytes=1000)
    assert (got.code, got.transient) == (media.TOO_LARGE, False)


def test_bytes_that_are_not_of_the_declared_type_fail_and_are_not_retried():
    client = client_answering(lambda request: httpx.Response(200, content=b"<html>not a picture</html>"))
    got = failure(client)
    assert (got.code, got.transient) == (media.TYPE_MISMATCH, False)


def test_a_type_the_archive_does_not_keep_fails():
    client = client_answering(lambda request: httpx.Response(200, content=b"MZ...", headers={"content-type": "x/y"}))
    assert failure(client, declared="application/x-msdownload").code == media.UNSUPPORTED_TYPE
    assert failure(client, declared=None).code == media.UNSUPPORTED_TYPE


@pytest.mark.parametrize(
    ("status", "transient"), [(403, False), (404, False), (410, False), (500, True), (503, True), (429, True)]
)
def test_an_error_answer_fails_final_for_4xx_and_worth_retrying_for_5xx(status, transient):
    got = failure(client_answering(lambda request: httpx.Response(status, content=b"<Error/>")))
    assert (got.code, got.transient, got.detail) == (media.UNAVAILABLE, transient, f"HTTP {status}")


def test_a_timeout_or_a_broken_connection_is_worth_another_attempt():
    def times_out(request):
        raise httpx.ReadTimeout("slow", request=request)

    def breaks(request):
        raise httpx.ConnectError("refused", request=request)

    assert (failure(client_answering(times_out)).code, failure(client_answering(times_out)).transient) == (
        media.TIMEOUT,
        True,
    )
    assert (failure(client_answering(breaks)).code, failure(client_answering(breaks)).transient) == (
        media.UNAVAILABLE,
        True,
    )


def test_a_body_that_trickles_past_the_files_deadline_times_out():
    class Trickle(httpx.SyncByteStream):
        def __iter__(self):
            yield PNG[:8]
            for _ in range(50):
                time.sleep(0.01)
                yield b"\x00" * 10

    got = failure(client_answering(lambda request: httpx.Response(200, stream=Trickle())), seconds=0.1)
    assert (got.code, got.transient) == (media.TIMEOUT, True)


def test_only_https_links_are_fetched_or_those_of_the_configured_aircall_origin():
    fetched = []

    def answer(request):
        fetched.append(str(request.url))
        return httpx.Response(200, content=PNG)

    client = client_answering(answer, trusted_origin="http://127.0.0.1:3001")
    assert failure(client, url="http://files.example/a").code == media.REFUSED_LINK
    assert failure(client, url="http://127.0.0.1:9001/2018-06-01/runtime/invocation/next").code == media.REFUSED_LINK
    assert failure(client, url="file:///etc/passwd").code == media.REFUSED_LINK
    client.download("http://127.0.0.1:3001/media/x", declared_type="image/png", seconds=5)
    assert fetched == ["http://127.0.0.1:3001/media/x"]


def test_redirects_are_not_followed():
    client = client_answering(lambda request: httpx.Response(302, headers={"location": "http://169.254.169.254/"}))
    assert failure(client).code == media.UNAVAILABLE


def test_usage_counts_the_stored_files_and_bytes_when_the_media_leaves_pending():
    new = {
        "number_id": {"S": "100005"},
        "direction": {"S": "inbound"},
        "created_at": {"S": "2026-11-26T09:00:00.000Z"},
        "updated_at": {"S": "2026-12-01T00:00:02.000Z"},
        "status": {"S": "received"},
        "media_status": {"S": "failed"},
        "media_bytes": {"N": "1234"},
        "media": {"S": '[{"status": "stored", "size_bytes": 1234}, {"status": "failed"}]'},
    }
    old = new | {"media_status": {"S": "pending"}}
    record = {"eventName": "MODIFY", "dynamodb": {"NewImage": new, "OldImage": old}}
    counts = counts_of(record, lambda contact: None)
    assert counts is not None
    assert (counts.month, counts.increments) == ("2026-12", {MEDIA_FILES: 1, MEDIA_BYTES: 1234})
    # The same message again (a later change): nothing more.
    assert counts_of({"eventName": "MODIFY", "dynamodb": {"NewImage": new, "OldImage": new}}, lambda c: None) is None
    assert report_item("100005", {MEDIA_FILES: 3, MEDIA_BYTES: 99}, None)["media"] == {"files": 3, "bytes": 99}
