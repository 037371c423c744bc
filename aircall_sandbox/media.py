"""Inbound MMS files, served as Aircall serves them: behind presigned-style links that expire.

Aircall hands an inbound MMS's files as S3 presigned URLs (`media_details[].presigned_url`); after their expiry S3
answers 403 `AccessDenied` ("Request has expired"). Here `POST /_sandbox/media` stores a file (given, or generated
of a size) and answers its `{file_name, file_type, presigned_url}`, ready for `POST /_sandbox/inbound`'s
`media_details`; `GET /media/<id>?X-Amz-Date=...&X-Amz-Expires=...&X-Amz-Signature=...` serves it while the link
is valid on the sandbox clock (`POST /_sandbox/clock` moves it). A file can be told to misbehave, for tests:
`delay_s` before the answer (a link that times out), `chunk_delay_s` between 64 KiB chunks (a trickle), a large
`size_bytes` (streamed, never held in memory), `served_type` (the `Content-Type` answered) and `mistyped` (bytes
that are not of `file_type`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from aircall_sandbox.clock import SandboxClock, iso_utc
from aircall_sandbox.errors import ControlError

CHUNK = 64 * 1024
MAX_STORED_BYTES = 8 * 1024 * 1024  # a file given as content_base64
MAX_GENERATED_BYTES = 1024 * 1024 * 1024  # a generated one (streamed)
DEFAULT_EXPIRES_S = 300
_SIGNATURES = {
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/gif": b"GIF89a",
    "application/pdf": b"%PDF-1.7\n",
    "video/mp4": b"\x00\x00\x00\x18ftypmp42",
}
_AMZ_DATE = "%Y%m%dT%H%M%SZ"


@dataclass
class MediaFile:
    id: str
    file_name: str
    file_type: str
    served_type: str
    content: bytes | None  # None: generated, `size_bytes` long
    size_bytes: int
    mistyped: bool
    delay_s: float
    chunk_delay_s: float
    omit_length: bool
    downloads: int = 0
    refused: list[str] = field(default_factory=list)

    def chunks(self) -> Iterator[bytes]:
        if self.content is not None:
            for start in range(0, len(self.content), CHUNK):
                if start and self.chunk_delay_s:
                    time.sleep(self.chunk_delay_s)
                yield self.content[start : start + CHUNK]
            return
        head = b"NOT-A-" + self.file_type.encode() if self.mistyped else _SIGNATURES.get(self.file_type, b"")
        sent = 0
        while sent < self.size_bytes:
            if sent and self.chunk_delay_s:
                time.sleep(self.chunk_delay_s)
            size = min(CHUNK, self.size_bytes - sent)
            chunk = (head + b"\x00" * CHUNK)[:size] if sent == 0 else b"\x00" * size
            sent += size
            yield chunk

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "file_name": self.file_name,
            "file_type": self.file_type,
            "size_bytes": self.size_bytes,
            "downloads": self.downloads,
            "refused": list(self.refused),
        }


class MediaFiles:
    """The sandbox's media files (thread-safe; `clear()` on reset)."""

    def __init__(self, lock: threading.RLock, clock: SandboxClock) -> None:
        self._lock = lock
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._files: dict[str, MediaFile] = {}

    def clear(self) -> None:
        with self._lock:
            self._files.clear()

    def files(self) -> list[dict[str, Any]]:
        with self._lock:
            return [file.summary() for file in self._files.values()]

    # -- POST /_sandbox/media

    def add(self, document: dict[str, Any], base_url: str) -> dict[str, Any]:
        file_name = _text(document, "file_name", "file.bin")
        file_type = _text(document, "file_type", "image/jpeg")
        served_type = _text(document, "served_type", file_type)
        content: bytes | None = None
        if "content_base64" in document:
            try:
                content = base64.b64decode(str(document["content_base64"]), validate=True)
            except ValueError:
                raise ControlError("'content_base64' must be base64") from None
            if len(content) > MAX_STORED_BYTES:
                raise ControlError(f"'content_base64' holds at most {MAX_STORED_BYTES} bytes (use 'size_bytes')")
            size = len(content)
        else:
            size = int(_number(document, "size_bytes", 1024, maximum=MAX_GENERATED_BYTES))
            if size < 1:
                raise ControlError("'size_bytes' must be positive")
        expires_in = int(_number(document, "expires_in_s", DEFAULT_EXPIRES_S, maximum=7 * 86400))
        if expires_in < 1:
            raise ControlError("'expires_in_s' must be positive")
        media = MediaFile(
            id=secrets.token_hex(8),
            file_name=file_name,
            file_type=file_type,
            served_type=served_type,
            content=content,
            size_bytes=int(size),
            mistyped=bool(document.get("mistyped", False)),
            delay_s=float(_number(document, "delay_s", 0, maximum=120)),
            chunk_delay_s=float(_number(document, "chunk_delay_s", 0, maximum=10)),
            omit_length=bool(document.get("omit_length", False)),
        )
        with self._lock:
            self._files[media.id] = media
        signed_at = self._clock.now_datetime().strftime(_AMZ_DATE)
        signature = self._sign(media.id, signed_at, expires_in)
        url = (
            f"{base_url}/media/{media.id}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={signed_at}"
            f"&X-Amz-Expires={expires_in}&X-Amz-SignedHeaders=host&X-Amz-Signature={signature}"
        )
        expires_at = datetime.strptime(signed_at, _AMZ_DATE).replace(tzinfo=UTC).timestamp() + expires_in
        return {
            "file_name": file_name,
            "file_type": file_type,
            "presigned_url": url,
            "size_bytes": media.size_bytes,
            "expires_at": iso_utc(datetime.fromtimestamp(expires_at, UTC)),
            "id": media.id,
        }

    # -- GET /media/<id>

    def serve(self, request: Request, file_id: str) -> Response:
        with self._lock:
            media = self._files.get(file_id)
        signed_at = request.args.get("X-Amz-Date", "")
        expires = request.args.get("X-Amz-Expires", "")
        signature = request.args.get("X-Amz-Signature", "")
        if media is None:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        try:
            start = datetime.strptime(signed_at, _AMZ_DATE).replace(tzinfo=UTC).timestamp()
            lifetime = int(expires)
        except ValueError:
            return self._refuse(media, "AuthorizationQueryParametersError", "Invalid query parameters")
        if not hmac.compare_digest(signature, self._sign(file_id, signed_at, lifetime)):
            return self._refuse(media, "SignatureDoesNotMatch", "The request signature we calculated does not match")
        if self._clock.now() > start + lifetime:
            return self._refuse(media, "AccessDenied", "Request has expired")
        with self._lock:
            media.downloads += 1
        if media.delay_s:
            time.sleep(media.delay_s)
        headers = {"Content-Type": media.served_type}
        if not media.omit_length:
            headers["Content-Length"] = str(media.size_bytes)
        return Response(media.chunks(), status=200, headers=headers, direct_passthrough=True)

    def _refuse(self, media: MediaFile, code: str, message: str) -> Response:
        with self._lock:
            media.refused.append(code)
        return _s3_error(403, code, message)

    def _sign(self, file_id: str, signed_at: str, lifetime: int) -> str:
        return hmac.new(self._key, f"{file_id}\n{signed_at}\n{lifetime}".encode(), hashlib.sha256).hexdigest()


def _s3_error(status: int, code: str, message: str) -> Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return Response(body, status=status, content_type="application/xml")


def _text(document: dict[str, Any], name: str, default: str) -> str:
    value = document.get(name, default)
    if not isinstance(value, str) or not value:
        raise ControlError(f"'{name}' must be a non-empty string")
    return value


def _number(document: dict[str, Any], name: str, default: float, *, maximum: float) -> float:
    value = document.get(name, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0 or value > maximum:
        raise ControlError(f"'{name}' must be a number from 0 to {maximum}")
    return value
