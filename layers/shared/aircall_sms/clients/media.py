"""Downloading an inbound MMS file from Aircall's presigned link (httpx), within bounds: its size (the declared
`Content-Length` and the bytes actually read), its time (connect and read timeouts, and a deadline over the whole
body, so a link that trickles bytes cannot hold the function), and its type (the declared type must be one the
archive keeps and the first bytes must be of it).

No redirect is followed (a presigned link serves its object itself) and no credential is sent. Only `https`
links are fetched, and links of the configured Aircall origin (`AIRCALL_API_BASE_URL`, which Aircall's own links
never are, but a test double's may be).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aircall_sms.domain import media

if TYPE_CHECKING:  # annotations only: httpx is imported by the first client made (the archive's readers need none)
    import httpx

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Downloaded:
    content: bytes
    content_type: str


class MediaFetchFailed(Exception):
    """The file was not fetched: `code` (a `domain.media` error code); `transient`: another attempt may succeed."""

    def __init__(self, code: str, *, transient: bool, detail: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.transient = transient
        self.detail = detail


class MediaClient:
    """One httpx client for a batch of downloads (its connections are reused)."""

    def __init__(self, *, trusted_origin: str | None = None, transport: httpx.BaseTransport | None = None) -> None:
        import httpx

        self._trusted = _origin(trusted_origin) if trusted_origin else None
        self._client = httpx.Client(
            timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
            follow_redirects=False,
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> MediaClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def download(
        self, url: str, *, declared_type: str | None, max_bytes: int = media.MAX_FILE_BYTES, seconds: float
    ) -> Downloaded:
        """The file at `url`, or `MediaFetchFailed`. `declared_type` (Aircall's `file_type`) wins over the
        server's `Content-Type`; `seconds`: the most the whole download may take."""
        if not self._allowed(url):
            raise MediaFetchFailed(media.REFUSED_LINK, transient=False)
        if seconds <= 0:
            raise MediaFetchFailed(media.TIMEOUT, transient=True, detail="no time left for this file")
        import httpx

        ends = time.monotonic() + seconds
        timeout = httpx.Timeout(min(READ_TIMEOUT, seconds), connect=min(CONNECT_TIMEOUT, seconds))
        try:
            with self._client.stream("GET", url, timeout=timeout) as response:
                if response.status_code != 200:
                    transient = response.status_code >= 500 or response.status_code == 429
                    raise MediaFetchFailed(
                        media.UNAVAILABLE, transient=transient, detail=f"HTTP {response.status_code}"
                    )
                media_type = media.normal_type(declared_type) or media.normal_type(response.headers.get("content-type"))
                if media_type is None or media_type not in media.KEPT_TYPES:
                    raise MediaFetchFailed(media.UNSUPPORTED_TYPE, transient=False, detail=media_type)
                declared_length = _int_or_none(response.headers.get("content-length"))
                if declared_length is not None and declared_length > max_bytes:
                    raise MediaFetchFailed(media.TOO_LARGE, transient=False, detail=f"{declared_length} bytes")
                content = bytearray()
                for chunk in response.iter_bytes(_CHUNK):
                    content += chunk
                    if len(content) > max_bytes:
                        raise MediaFetchFailed(media.TOO_LARGE, transient=False, detail=f"over {max_bytes} bytes")
                    if time.monotonic() > ends:
                        raise MediaFetchFailed(media.TIMEOUT, transient=True, detail="too slow")
        except httpx.TimeoutException:
            raise MediaFetchFailed(media.TIMEOUT, transient=True) from None
        except httpx.HTTPError as error:
            raise MediaFetchFailed(media.UNAVAILABLE, transient=True, detail=type(error).__name__) from None
        if not content:
            raise MediaFetchFailed(media.UNAVAILABLE, transient=False, detail="empty file")
        if not media.matches(media_type, bytes(content[: media.SNIFF_BYTES])):
            raise MediaFetchFailed(media.TYPE_MISMATCH, transient=False, detail=media_type)
        return Downloaded(content=bytes(content), content_type=media_type)

    def _allowed(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
        except ValueError:
            return False
        if not parts.hostname:
            return False
        if parts.scheme == "https":
            return True
        return self._trusted is not None and _origin(url) == self._trusted


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _int_or_none(raw: str | None) -> int | None:
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None
