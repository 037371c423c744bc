"""Validation of the JSON bodies the `/v1` endpoints accept; failures are Aircall's 400 `InvalidPayload`."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from aircall_sandbox.errors import invalid_payload

MAX_BODY_CHARACTERS = 1600
# Aircall's limit on French numbers (help centre, "French messaging limits").
MAX_FRENCH_BODY_CHARACTERS = 670
MAX_MEDIA = 10
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


@dataclass(frozen=True)
class SendRequest:
    to: str
    body: str
    media_urls: tuple[str, ...]
    agent_id: int | None  # native sends only; proxy sends ignore it


def parse_json_object(raw: bytes, *, allow_empty: bool = False) -> dict[str, object]:
    if not raw.strip() and allow_empty:
        return {}
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise invalid_payload("Request body must be a JSON object") from None
    if document is None and allow_empty:
        return {}
    if not isinstance(document, dict):
        raise invalid_payload("Request body must be a JSON object")
    return document


def is_http_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://")) and len(value) > len("https://")


def parse_send(document: dict[str, object]) -> SendRequest:
    to = document.get("to")
    if not isinstance(to, str) or not E164.match(to):
        raise invalid_payload("'to' must be a phone number in E.164 format, e.g. +15551234567")
    media_urls = _media_urls(document)
    body = document.get("body", "")
    if body is None:
        body = ""
    if not isinstance(body, str):
        raise invalid_payload("'body' must be a string")
    if not body and not media_urls:
        raise invalid_payload("'body' is required unless media is attached")
    if len(body) > MAX_BODY_CHARACTERS:
        raise invalid_payload(f"'body' must be at most {MAX_BODY_CHARACTERS} characters, got {len(body)}")
    agent_id = document.get("agentId")
    if agent_id is not None and (not isinstance(agent_id, int) or isinstance(agent_id, bool)):
        raise invalid_payload("'agentId' must be an integer user id")
    return SendRequest(to=to, body=body, media_urls=media_urls, agent_id=agent_id)


def _media_urls(document: dict[str, object]) -> tuple[str, ...]:
    if "mediaUrl" in document and "media_url" in document:
        raise invalid_payload("Send media as 'mediaUrl' or 'media_url', not both")
    media = document.get("mediaUrl", document.get("media_url"))
    if media is None:
        return ()
    if not isinstance(media, list) or not all(is_http_url(url) for url in media):
        raise invalid_payload("'mediaUrl' must be a list of http(s) URLs")
    if len(media) > MAX_MEDIA:
        raise invalid_payload(f"At most {MAX_MEDIA} media URLs per message, got {len(media)}")
    return tuple(str(url) for url in media)


def callback_url_problem(value: str, *, allow_http_loopback: bool) -> str | None:
    """Why `value` cannot receive Aircall's callbacks, or None. Aircall requires https:// (with a host); plain
    http:// is let through only to a loopback host, and only when the sandbox is told to allow it."""
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("https", "http") or not host:
        return "must be an https:// URL"
    if parts.scheme == "http":
        if not allow_http_loopback:
            return "must be an https:// URL (Aircall requires HTTPS)"
        if not _is_loopback(host):
            return "may use http:// only towards a loopback host (localhost, 127.0.0.0/8, ::1); use https://"
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_callback_url(document: dict[str, object], *, allow_http_loopback: bool) -> str | None:
    callback_url = document.get("callbackUrl")
    if callback_url is None:
        return None
    if not isinstance(callback_url, str):
        raise invalid_payload("'callbackUrl' must be an https:// URL or null")
    problem = callback_url_problem(callback_url, allow_http_loopback=allow_http_loopback)
    if problem is not None:
        raise invalid_payload(f"'callbackUrl' {problem}")
    return callback_url
