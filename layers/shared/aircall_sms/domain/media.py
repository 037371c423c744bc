"""Inbound MMS media kept by the gateway: the bounds of a copy, the types it keeps, what a file's first bytes say
it is, and how a message's media is described in the archive and its answers. Pure: no I/O.

Aircall hands an inbound MMS's files as presigned links that expire; the gateway copies each file into its media
bucket (the MediaFunction, off the callback's path) and answers with links of its own. A message's media moves
once: `pending` (archived, not copied yet) -> `stored` (every file copied) or `failed` (at least one file could not
be copied: its `error` says why; the others are stored).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_FILES = 10  # per message, as Aircall's MMS (more are not archived)
MAX_FILE_BYTES = 5 * 1024 * 1024  # per file: carriers cap an MMS well below (about 1 MB in the US)
# The most one file's download may take (first byte to last) and one message's together: the settings
# MEDIA_FILE_SECONDS (20) and MEDIA_MESSAGE_SECONDS (60).
ATTEMPTS = 3  # copies of one message tried before a file that could not be fetched is recorded as failed

PENDING, STORED, FAILED = "pending", "stored", "failed"

# Why a file was not kept (the `error.code` of a media entry).
TIMEOUT = "media_timeout"  # the link did not answer, or not fast enough, on every attempt
TOO_LARGE = "media_too_large"  # more than MAX_FILE_BYTES
TYPE_MISMATCH = "media_type_mismatch"  # the bytes are not what the declared type says
UNSUPPORTED_TYPE = "media_unsupported_type"  # a type the gateway does not keep
UNAVAILABLE = "media_unavailable"  # the link answered with an error (expired, gone) on every attempt
REFUSED_LINK = "media_link_refused"  # not an https link (nor one of the configured Aircall origin)

MESSAGES = {
    TIMEOUT: "The media link did not answer in time.",
    TOO_LARGE: f"The file is larger than {MAX_FILE_BYTES} bytes.",
    TYPE_MISMATCH: "The file's content is not of its declared type.",
    UNSUPPORTED_TYPE: "The file's type is not one the archive keeps.",
    UNAVAILABLE: "The media link answered with an error (expired or gone).",
    REFUSED_LINK: "The media link is not an https URL.",
}

# The types an MMS carries that the archive keeps; the ones with a signature are checked against the file's bytes.
_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/bmp": (b"BM",),
    "application/pdf": (b"%PDF-",),
}
_UNSIGNED = frozenset(
    {
        "image/webp",  # RIFF....WEBP, checked below
        "image/heic",
        "image/heif",
        "video/mp4",  # ....ftyp, checked below
        "video/3gpp",
        "video/quicktime",
        "audio/mpeg",
        "audio/mp4",
        "audio/amr",
        "audio/ogg",
        "audio/wav",
        "text/plain",
        "text/vcard",
        "text/x-vcard",
        "text/calendar",
    }
)
_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "audio/mp3": "audio/mpeg",
    "video/3gp": "video/3gpp",
}
KEPT_TYPES = frozenset(_SIGNATURES) | _UNSIGNED
SNIFF_BYTES = 16  # what `matches` needs of a file's start


def normal_type(raw: object) -> str | None:
    """`image/JPEG; charset=x` -> `image/jpeg` (aliases folded); None for nothing usable."""
    if not isinstance(raw, str):
        return None
    media_type = raw.split(";", 1)[0].strip().lower()
    if not media_type or "/" not in media_type:
        return None
    return _ALIASES.get(media_type, media_type)


def matches(media_type: str, head: bytes) -> bool:
    """Whether a file that starts with `head` may be of `media_type` (types without a signature: always)."""
    if media_type in _SIGNATURES:
        return head.startswith(_SIGNATURES[media_type])
    if media_type == "image/webp":
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    if media_type in ("video/mp4", "video/quicktime", "video/3gpp", "audio/mp4", "image/heic", "image/heif"):
        return head[4:8] == b"ftyp"
    return True


def object_key(message_id: str, index: int) -> str:
    """Where a message's file is kept in the bucket: by the message's id (a digest, no phone number) and position."""
    return f"media/{message_id}/{index}"


@dataclass(frozen=True, slots=True)
class Source:
    """One file as Aircall gave it: its link (never shown to clients) and what Aircall said of it."""

    index: int
    url: str
    file_name: str | None
    file_type: str | None


def sources(details: Sequence[Mapping[str, Any]] | None) -> list[Source]:
    """The files to copy, from the archived `media_details` ([{url, file_name, file_type}]), at most MAX_FILES."""
    found: list[Source] = []
    for item in list(details or [])[:MAX_FILES]:
        url = item.get("url")
        if not isinstance(url, str) or not url:
            continue
        name, declared = item.get("file_name"), item.get("file_type")
        found.append(
            Source(
                index=len(found),
                url=url,
                file_name=name if isinstance(name, str) else None,
                file_type=declared if isinstance(declared, str) else None,
            )
        )
    return found


def stored_entry(source: Source, *, key: str, content_type: str, size: int) -> dict[str, Any]:
    return {
        "file_name": source.file_name,
        "content_type": content_type,
        "size_bytes": size,
        "status": STORED,
        "key": key,
    }


def failed_entry(source: Source, code: str, detail: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": MESSAGES.get(code, code)}
    if detail:
        error["detail"] = detail[:200]
    return {
        "file_name": source.file_name,
        "content_type": normal_type(source.file_type),
        "size_bytes": None,
        "status": FAILED,
        "error": error,
    }


def pending_entry(source: Source) -> dict[str, Any]:
    return {
        "file_name": source.file_name,
        "content_type": normal_type(source.file_type),
        "size_bytes": None,
        "status": PENDING,
    }


def outcome(entries: Sequence[Mapping[str, Any]]) -> str:
    """The message's media status once every file was tried."""
    return STORED if all(entry.get("status") == STORED for entry in entries) else FAILED


def stored_bytes(entries: Sequence[Mapping[str, Any]]) -> int:
    return sum(int(entry.get("size_bytes") or 0) for entry in entries if entry.get("status") == STORED)


def stored_keys(entries: Sequence[Mapping[str, Any]] | None) -> list[str]:
    return [str(entry["key"]) for entry in entries or [] if entry.get("status") == STORED and entry.get("key")]
