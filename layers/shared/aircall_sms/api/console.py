"""The web console's static assets (HTML, CSS, ES modules: nothing to build) and its configuration, served by the
ConsoleFunction from its own package: `GET /console` redirects to `console/index.html`, `GET /console/{asset+}`
answers one file of the assets' folder, and `console/config.json` tells the page where people sign in.

Only files of the assets' folder with a known type are served (no `..`, no hidden files, no directories); every
answer carries a Content-Security-Policy that allows the page's own scripts and styles and calls to the gateway
and the sign-in provider only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

CONTENT_TYPES: Mapping[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}
_ASSET = re.compile(r"[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)*\.[a-z]+")
CONFIG_ASSET = "config.json"


def _headers(content_type: str, sign_in_url: str) -> dict[str, str]:
    connect = "'self'" + (f" {sign_in_url}" if sign_in_url else "")
    return {
        "Content-Type": content_type,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src {connect}; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ),
    }


def _answer(status: int, body: str, content_type: str, sign_in_url: str, **extra: str) -> dict[str, Any]:
    return {"statusCode": status, "headers": _headers(content_type, sign_in_url) | extra, "body": body}


def config(sign_in_url: str, client_id: str) -> dict[str, Any]:
    """What the page needs to sign people in: the OAuth 2.0 endpoints of the provider (Cognito's hosted UI
    deployed, the local identity provider on the local stack) and the console's client id."""
    base = sign_in_url.rstrip("/")
    return {
        "sign_in": {
            "authorize_url": f"{base}/oauth2/authorize",
            "token_url": f"{base}/oauth2/token",
            "logout_url": f"{base}/logout",
            "client_id": client_id,
            "scope": "openid email profile",
        }
    }


def serve(event: Mapping[str, Any], root: Path, *, sign_in_url: str, client_id: Callable[[], str]) -> dict[str, Any]:
    """The proxy answer to a GET of the console: a redirect, an asset, its configuration, or 404."""
    origin = _origin(sign_in_url)
    if str(event.get("httpMethod") or "").upper() not in ("GET", "HEAD"):
        return _answer(
            405, _error("method_not_allowed", "The console is read with GET."), CONTENT_TYPES[".json"], origin
        )
    asset = str((event.get("pathParameters") or {}).get("asset") or "")
    if not asset:
        # Relative to /console (or /<stage>/console): the page and its modules then share one folder.
        return _answer(302, "", "text/plain; charset=utf-8", origin, Location="console/index.html")
    if asset == CONFIG_ASSET:
        return _answer(200, json.dumps(config(sign_in_url, client_id())), CONTENT_TYPES[".json"], origin)
    path = _asset_path(root, asset)
    if path is None:
        return _answer(404, _error("not_found", "No such page of the console."), CONTENT_TYPES[".json"], origin)
    return _answer(200, path.read_text(encoding="utf-8"), CONTENT_TYPES[path.suffix], origin)


def _asset_path(root: Path, asset: str) -> Path | None:
    """The file `asset` names inside `root`, when it is one the console serves."""
    if len(asset) > 200 or not _ASSET.fullmatch(asset):
        return None
    path = root / asset
    if path.suffix not in CONTENT_TYPES or not path.is_file():
        return None
    resolved = path.resolve()
    return resolved if resolved.is_relative_to(root.resolve()) else None


def _origin(url: str) -> str:
    match = re.match(r"https?://[^/]+", url)
    return match.group(0) if match else ""


def _error(code: str, message: str) -> str:
    return json.dumps({"error": {"code": code, "message": message, "details": {}}})
