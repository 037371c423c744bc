"""The local sign-in provider: what Cognito's hosted UI and user pool do for the console, on this machine.

An OAuth 2.0 authorization server for the console's one public client (authorization code with PKCE S256, as
the hosted UI): `GET /oauth2/authorize` shows a sign-in form, a right password redirects to the console with a
one-time code, `POST /oauth2/token` exchanges it for an ID token and an access token (RS256 JWTs shaped as
Cognito's: `token_use`, `cognito:username`, `cognito:groups`, `email`, `name`), `GET /.well-known/jwks.json`
serves the public key, and `GET /logout` redirects back. The key pair is made at start and never leaves memory.

Its people (LOCAL_CONSOLE_USERS, `email:group[,group]:Name` separated by `;`) share one password
(LOCAL_CONSOLE_PASSWORD, "local-password"). The defaults: agent@example.com (agents), supervisor@example.com
(supervisors), admin@example.com (admins).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit
from wsgiref.types import StartResponse, WSGIEnvironment

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from werkzeug.wrappers import Request, Response

from aircall_sandbox.http_server import BackgroundServer

DEFAULT_USERS = (
    "agent@example.com:agents:Alice Agent;supervisor@example.com:supervisors:Sam Supervisor;"
    "admin@example.com:admins:Ada Admin"
)
DEFAULT_PASSWORD = "local-password"  # noqa: S105 - the local stack's documented default # nosec B105
CLIENT_ID = "console"
TOKEN_SECONDS = 3600
CODE_SECONDS = 300
_AUTHORIZE_FIELDS = ("client_id", "response_type", "redirect_uri", "state", "code_challenge", "code_challenge_method")


@dataclass(frozen=True)
class Person:
    email: str
    groups: tuple[str, ...]
    name: str


def people_from(text: str) -> dict[str, Person]:
    """`email:group[,group]:Name;...` -> the people by e-mail (ValueError naming a malformed entry)."""
    found: dict[str, Person] = {}
    for entry in filter(None, (part.strip() for part in text.split(";"))):
        email, _, rest = entry.partition(":")
        groups, _, name = rest.partition(":")
        if "@" not in email or not groups:
            raise ValueError(f"LOCAL_CONSOLE_USERS: {entry!r} is not email:group[,group]:Name")
        found[email.strip().lower()] = Person(
            email.strip().lower(), tuple(g.strip() for g in groups.split(",") if g.strip()), name.strip() or email
        )
    return found


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class SigningKey:
    """An RSA key pair made at start: signs tokens RS256, shows its public half as a JWKS."""

    def __init__(self) -> None:
        self._private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(8)

    def jwks(self) -> dict[str, Any]:
        numbers = self._private.public_key().public_numbers()
        size = (numbers.n.bit_length() + 7) // 8
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "alg": "RS256",
                    "use": "sig",
                    "kid": self.kid,
                    "n": _b64(numbers.n.to_bytes(size, "big")),
                    "e": _b64(numbers.e.to_bytes(3, "big")),
                }
            ]
        }

    def sign(self, claims: Mapping[str, Any]) -> str:
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signed = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(dict(claims)).encode())}"
        signature = self._private.sign(signed.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return f"{signed}.{_b64(signature)}"


@dataclass
class _Code:
    person: Person
    redirect_uri: str
    challenge: str
    expires: float


class IdentityProvider:
    """The WSGI app. `issuer` is its own URL (set once it listens); redirects go only under `allowed_redirect`."""

    def __init__(self, people: Mapping[str, Person], password: str, allowed_redirect: str) -> None:
        self.people = dict(people)
        self._password = password
        self.allowed_redirect = allowed_redirect
        self.issuer = ""
        self.key = SigningKey()
        self._codes: dict[str, _Code] = {}
        self._lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        route = (request.method, request.path)
        if route == ("GET", "/.well-known/jwks.json"):
            response = _json(200, self.key.jwks())
        elif route == ("GET", "/oauth2/authorize"):
            response = self._authorize_form(request.args, None)
        elif route == ("POST", "/oauth2/authorize"):
            response = self._sign_in(request.form)
        elif route == ("POST", "/oauth2/token"):
            response = self._token(request.form)
            response.headers["Access-Control-Allow-Origin"] = _origin(self.allowed_redirect)
        elif route == ("OPTIONS", "/oauth2/token"):
            response = Response(status=204)
            response.headers["Access-Control-Allow-Origin"] = _origin(self.allowed_redirect)
            response.headers["Access-Control-Allow-Methods"] = "POST"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        elif route == ("GET", "/logout"):
            target = request.args.get("logout_uri", "")
            response = Response(status=302) if self._redirect_ok(target) else _json(400, {"error": "invalid_request"})
            if response.status_code == 302:
                response.headers["Location"] = target
        else:
            response = _json(404, {"error": "not_found"})
        return response(environ, start_response)

    # -- the hosted UI's sign-in page

    def _authorize_form(self, args: Mapping[str, str], problem: str | None) -> Response:
        if args.get("client_id") != CLIENT_ID or args.get("response_type") != "code":
            return _json(400, {"error": "unauthorized_client"})
        if not self._redirect_ok(args.get("redirect_uri", "")):
            return _json(400, {"error": "redirect_mismatch"})
        if args.get("code_challenge_method") != "S256" or not args.get("code_challenge"):
            return _json(400, {"error": "invalid_request", "error_description": "PKCE S256 is required"})
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(args.get(name, ""))}">'
            for name in (
                "client_id",
                "response_type",
                "redirect_uri",
                "state",
                "code_challenge",
                "code_challenge_method",
            )
        )
        alert = f'<p role="alert" class="problem">{html.escape(problem)}</p>' if problem else ""
        page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign in (local)</title>
<style>body{{font:16px system-ui,sans-serif;max-width:22rem;margin:3rem auto;padding:0 1rem;color:#111}}
label{{display:block;margin:.8rem 0 .2rem}}
input[type=email],input[type=password]{{width:100%;padding:.5rem;font:inherit}}
button{{margin-top:1rem;padding:.6rem 1.2rem;font:inherit;background:#0b5;color:#000;border:0;border-radius:4px}}
.problem{{color:#a00}}</style></head><body><main><h1>Sign in to the SMS console</h1>
<p>Local sign-in provider (stands for the Cognito hosted UI).</p>{alert}
<form method="post" action="/oauth2/authorize">{hidden}
<label for="username">E-mail</label><input id="username" name="username" type="email" autocomplete="username" required>
<label for="password">Password</label><input id="password" name="password" type="password"
autocomplete="current-password" required>
<button type="submit">Sign in</button></form></main></body></html>"""
        status = 401 if problem else 200
        return Response(page, status=status, content_type="text/html; charset=utf-8")

    def _sign_in(self, form: Mapping[str, str]) -> Response:
        person = self.people.get(form.get("username", "").strip().lower())
        password_ok = hmac.compare_digest(form.get("password", "").encode(), self._password.encode())
        if person is None or not password_ok:
            return self._authorize_form(form, "Incorrect e-mail or password.")
        checked = self._authorize_form(form, None)
        if checked.status_code != 200:
            return checked
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Code(
                person, form["redirect_uri"], form["code_challenge"], time.monotonic() + CODE_SECONDS
            )
        query = urlencode({"code": code} | ({"state": form["state"]} if form.get("state") else {}))
        response = Response(status=302)
        response.headers["Location"] = f"{form['redirect_uri']}?{query}"
        return response

    # -- the token endpoint

    def _token(self, form: Mapping[str, str]) -> Response:
        if form.get("grant_type") != "authorization_code" or form.get("client_id") != CLIENT_ID:
            return _json(400, {"error": "unsupported_grant_type"})
        with self._lock:
            code = self._codes.pop(form.get("code", ""), None)  # one use only
        verifier = form.get("code_verifier", "")
        if (
            code is None
            or code.expires < time.monotonic()
            or code.redirect_uri != form.get("redirect_uri")
            or not hmac.compare_digest(_b64(hashlib.sha256(verifier.encode()).digest()), code.challenge)
        ):
            return _json(400, {"error": "invalid_grant"})
        return _json(200, self.tokens_for(code.person))

    def tokens_for(self, person: Person) -> dict[str, Any]:
        """An ID token and an access token for `person`, as Cognito's token endpoint answers."""
        now = int(time.time())
        subject = str(uuid.uuid5(uuid.NAMESPACE_URL, person.email))
        common = {"iss": self.issuer, "sub": subject, "iat": now, "auth_time": now, "exp": now + TOKEN_SECONDS}
        groups = list(person.groups)
        id_claims = common | {
            "aud": CLIENT_ID,
            "token_use": "id",  # nosec B105 - a claim of the token, not a password
            "cognito:username": subject,  # as Cognito names people when the e-mail is the sign-in name
            "cognito:groups": groups,
            "email": person.email,
            "email_verified": True,
            "name": person.name,
        }
        access_claims = common | {
            "client_id": CLIENT_ID,
            "token_use": "access",  # nosec B105 - a claim of the token, not a password
            "username": subject,
            "cognito:groups": groups,
            "scope": "openid email profile",
            "jti": str(uuid.uuid4()),
        }
        return {
            "id_token": self.key.sign(id_claims),
            "access_token": self.key.sign(access_claims),
            "expires_in": TOKEN_SECONDS,
            "token_type": "Bearer",  # nosec B105 - the OAuth token type, not a password
        }

    def _redirect_ok(self, uri: str) -> bool:
        return bool(self.allowed_redirect) and uri.startswith(self.allowed_redirect)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _json(status: int, body: Any) -> Response:
    response = Response(json.dumps(body), status=status, content_type="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


class IdentityServer(BackgroundServer):
    """The local sign-in provider on `host:port`, its URL its issuer."""

    thread_name = "local-identity"

    def __init__(self, provider: IdentityProvider, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.provider = provider
        super().__init__(provider, host=host, port=port)

    def start(self) -> IdentityServer:
        super().start()
        self.provider.issuer = self.url
        return self
