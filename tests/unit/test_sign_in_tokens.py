"""People's sign-in tokens (domain.tokens, clients.jwks, use_cases.authorize.person): RS256 JWTs made here with a
locally generated RSA key, checked as the authorizer checks Cognito's."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from aircall_sms.api.access import authorizer_context, principal_of
from aircall_sms.clients import jwks
from aircall_sms.domain import tokens
from aircall_sms.domain.access import ADMIN, CONTACTS, EXPORT, READ, SEND
from aircall_sms.errors import Unauthorized
from aircall_sms.settings import get_settings
from aircall_sms.use_cases import authorize

ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Signer:
    def __init__(self, kid: str = "key-1", bits: int = 2048) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        self.kid = kid

    def jwk(self) -> dict[str, str]:
        numbers = self.private.public_key().public_numbers()
        size = (numbers.n.bit_length() + 7) // 8
        return {
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": self.kid,
            "n": b64(numbers.n.to_bytes(size, "big")),
            "e": b64(numbers.e.to_bytes(3, "big")),
        }

    def key(self) -> tokens.PublicKey:
        return tokens.PublicKey.from_jwk(self.jwk())

    def token(self, claims: dict[str, Any] | None = None, header: dict[str, Any] | None = None) -> str:
        head = {"alg": "RS256", "kid": self.kid} | (header or {})
        signed = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(id_claims() | (claims or {})).encode())}"
        signature = self.private.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signed}.{b64(signature)}"


def id_claims() -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "aud": "console-client",
        "token_use": "id",
        "sub": "7d3f0c9e-0000-4000-8000-000000000001",
        "cognito:username": "7d3f0c9e-0000-4000-8000-000000000001",
        "cognito:groups": ["agents"],
        "email": "alice@example.com",
        "name": "Alice Martin",
        "iat": now,
        "exp": now + 3600,
    }


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer()


def verify(token: str, key: tokens.PublicKey) -> dict[str, Any]:
    return tokens.verify(token, key, issuer=ISSUER, now=time.time())


def test_a_token_signed_by_the_key_verifies_and_stands_for_the_person(signer):
    claims = verify(signer.token(), signer.key())
    principal = tokens.principal_of(claims)
    assert principal.client_id == "person:7d3f0c9e-0000-4000-8000-000000000001"
    assert principal.scopes == {SEND, READ}
    assert principal.number_ids is None
    assert principal.person == "Alice Martin"


def test_an_access_token_verifies_too_and_the_person_falls_back_to_the_username(signer):
    access = {"token_use": "access", "username": "u-1", "cognito:username": None, "name": None, "email": None}
    principal = tokens.principal_of(verify(signer.token(access), signer.key()))
    assert (principal.client_id, principal.person) == ("person:u-1", "u-1")


@pytest.mark.parametrize(
    ("groups", "scopes"),
    [
        (["agents"], {SEND, READ}),
        (["supervisors"], {SEND, READ, CONTACTS, EXPORT}),
        (["admins"], {ADMIN}),
        (["agents", "unknown"], {SEND, READ}),
        ([], set()),
    ],
)
def test_groups_are_scopes(signer, groups, scopes):
    assert tokens.principal_of(verify(signer.token({"cognito:groups": groups}), signer.key())).scopes == scopes


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"iss": "https://cognito-idp.eu-west-1.amazonaws.com/another-pool"}, "issuer"),
        ({"token_use": "refresh"}, "token use"),
        ({"token_use": None}, "token use"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"exp": "never"}, "expired"),
        ({"iat": int(time.time()) + 3600}, "issued in the future"),
        ({"nbf": int(time.time()) + 3600}, "not yet valid"),
    ],
)
def test_claims_that_do_not_hold_are_refused(signer, claims, reason):
    with pytest.raises(tokens.InvalidToken, match=reason):
        verify(signer.token(claims), signer.key())


def test_a_changed_payload_breaks_the_signature(signer):
    head, _, signature = signer.token().split(".")
    forged = b64(json.dumps(id_claims() | {"cognito:groups": ["admins"]}).encode())
    with pytest.raises(tokens.InvalidToken, match="signature"):
        verify(f"{head}.{forged}.{signature}", signer.key())


def test_another_key_s_signature_is_refused(signer):
    other = Signer(kid=signer.kid)
    with pytest.raises(tokens.InvalidToken, match="signature"):
        verify(other.token(), signer.key())


def test_alg_none_and_hmac_with_the_public_key_are_refused(signer):
    unsigned = signer.token(header={"alg": "none"}).rsplit(".", 1)[0] + ".AA"
    with pytest.raises(tokens.InvalidToken, match="algorithm"):
        verify(unsigned, signer.key())
    head = b64(json.dumps({"alg": "HS256", "kid": signer.kid}).encode())
    body = b64(json.dumps(id_claims()).encode())
    mac = hmac.new(json.dumps(signer.jwk()).encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    with pytest.raises(tokens.InvalidToken, match="algorithm"):
        verify(f"{head}.{body}.{b64(mac)}", signer.key())


def test_a_token_naming_another_key_id_is_refused(signer):
    with pytest.raises(tokens.InvalidToken, match="key id"):
        verify(signer.token(header={"kid": "key-2"}), signer.key())


def test_weak_or_foreign_keys_are_left_out_of_a_jwks(signer):
    weak = Signer(kid="weak", bits=1024)
    found = tokens.keys_of(
        {"keys": [signer.jwk(), weak.jwk(), {"kty": "EC", "kid": "ec"}, signer.jwk() | {"kid": "x", "alg": "HS256"}]}
    )
    assert list(found) == [signer.kid]


def test_a_token_has_a_jwt_s_shape_and_a_client_key_never_has(signer):
    assert tokens.looks_like_token(signer.token())
    assert not tokens.looks_like_token("key_01J0000000000000000000000A." + "a" * 43)
    assert not tokens.looks_like_token("local-api-key")
    assert not tokens.looks_like_token("eyJ" + "a" * tokens.MAX_TOKEN_CHARACTERS + ".b.c")


def test_the_person_travels_through_the_authorizer_context(signer):
    principal = tokens.principal_of(verify(signer.token(), signer.key()))
    event = {"requestContext": {"authorizer": authorizer_context(principal)}}
    assert principal_of(event) == principal


# -- the authorizer's path: the provider's keys fetched (once, and again for an unknown key id, rate-limited)


@pytest.fixture
def provider(signer, monkeypatch):
    monkeypatch.setenv("SIGN_IN_ISSUER", ISSUER)
    get_settings.cache_clear()
    served = {"keys": [signer.jwk()]}
    requested: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requested.append(str(request.url))
        return httpx.Response(200, json=served)

    authorize.forget()
    authorize._key_set = jwks.KeySet(ISSUER, transport=httpx.MockTransport(answer))
    yield requested
    authorize.forget()
    get_settings.cache_clear()


def test_the_authorizer_accepts_a_person_s_token_and_fetches_the_keys_once(signer, provider):
    for _ in range(3):
        principal = authorize.authorize({"Authorization": f"Bearer {signer.token()}"})
        assert principal.person == "Alice Martin"
    assert provider == [f"{ISSUER}/.well-known/jwks.json"]


def test_unknown_key_ids_refetch_at_most_once_a_minute(signer, provider):
    authorize.authorize({"Authorization": f"Bearer {signer.token()}"})
    for index in range(5):
        with pytest.raises(Unauthorized):
            authorize.authorize({"Authorization": f"Bearer {signer.token(header={'kid': f'forged-{index}'})}"})
    assert len(provider) == 1


def test_a_refused_token_is_the_same_401_as_a_bad_key(signer, provider):
    with pytest.raises(Unauthorized) as refused:
        authorize.authorize({"x-api-key": signer.token({"iss": "https://elsewhere.example"})})
    assert refused.value.status == 401
    assert refused.value.code == "unauthorized"


def test_without_a_sign_in_issuer_no_token_is_accepted(signer, monkeypatch):
    monkeypatch.setenv("SIGN_IN_ISSUER", "")
    get_settings.cache_clear()
    authorize.forget()
    try:
        with pytest.raises(Unauthorized):
            authorize.authorize({"Authorization": f"Bearer {signer.token()}"})
    finally:
        get_settings.cache_clear()


def test_the_provider_s_keys_unreadable_is_a_401(signer, monkeypatch):
    monkeypatch.setenv("SIGN_IN_ISSUER", ISSUER)
    get_settings.cache_clear()
    authorize.forget()
    authorize._key_set = jwks.KeySet(ISSUER, transport=httpx.MockTransport(lambda _: httpx.Response(503)))
    try:
        with pytest.raises(Unauthorized):
            authorize.authorize({"Authorization": f"Bearer {signer.token()}"})
    finally:
        authorize.forget()
        get_settings.cache_clear()
