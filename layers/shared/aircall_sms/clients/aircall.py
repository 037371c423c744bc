"""The Aircall Public API client (httpx): messaging sends and number configuration.

Every call has explicit connect and read timeouts, shortened to the invocation's budget (`domain.deadline`): a
call keeps back the time to record its outcome, and does not start (`AircallNotStarted`) when too little would be
left to read Aircall's answer. Sends are never retried here: Aircall has no idempotency
key, so a send whose request may have reached Aircall must not be repeated. Outcomes are told apart:
- `AircallRefused`: a definite 4xx answer (nothing was sent);
- `AircallRateLimited`: 429, with the moment the budget resets;
- `AircallUnreachable`: the request never left (connection refused/failed, connect timeout): nothing was sent;
  `AircallNotStarted`, one of them: the gateway did not start it, for lack of time;
- `AircallOutcomeUnknown`: the request left but no definite answer came back (read timeout, 5xx, broken body).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aircall_sms.domain import deadline
from aircall_sms.domain.timeutil import iso, parse_time, utcnow
from aircall_sms.errors import AircallError, AircallTimeout, GatewayError, RateLimited, ServiceBusy
from aircall_sms.observability import metrics

if TYPE_CHECKING:  # annotations only: httpx is imported by the first client made (see AircallClient)
    import httpx

# Aircall answers a send in well under a second; a call that could wait less than this for the answer is not
# started (its outcome would too likely be unknown).
MIN_READ_TIMEOUT = 2.0


def preload() -> None:
    """Import httpx now (SnapStart's snapshot holds it) instead of with the first client made."""
    import httpx  # noqa: F401


@dataclass(frozen=True, slots=True)
class Credentials:
    """Basic auth (api_id + api_token) or OAuth (access_token). `repr` never shows a secret."""

    api_id: str | None = field(default=None, repr=False)
    api_token: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Credentials:
        access_token = values.get("access_token")
        if isinstance(access_token, str) and access_token:
            return cls(access_token=access_token)
        api_id, api_token = values.get("api_id"), values.get("api_token")
        if isinstance(api_id, str) and api_id and isinstance(api_token, str) and api_token:
            return cls(api_id=api_id, api_token=api_token)
        raise ValueError('Aircall credentials need "api_id" and "api_token", or "access_token"')

    def authorization(self) -> str:
        if self.access_token:
            return f"Bearer {self.access_token}"
        pair = f"{self.api_id}:{self.api_token}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")


@dataclass(frozen=True, slots=True)
class RateInfo:
    """What Aircall's X-AircallApi-* headers said (any may be absent)."""

    limit: int | None
    remaining: int | None
    reset_at: datetime | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateInfo | None:
        limit = _int_or_none(headers.get("x-aircallapi-limit"))
        remaining = _int_or_none(headers.get("x-aircallapi-remaining"))
        reset_at = parse_time(headers.get("x-aircallapi-reset"))
        if limit is None and remaining is None and reset_at is None:
            return None
        return cls(limit=limit, remaining=remaining, reset_at=reset_at)


class AircallFailure(Exception):
    """Base of the client's failures. `calls` says whether a request reached the network."""

    def __init__(
        self, message: str, *, status: int | None = None, key: str | None = None, rate: RateInfo | None = None
    ):
        super().__init__(message)
        self.status = status
        self.key = key
        self.rate = rate


class AircallRefused(AircallFailure):
    """A definite refusal (4xx other than 429): nothing was done."""


class AircallRateLimited(AircallFailure):
    """429: the company request budget is spent until `reset_at`."""

    def __init__(self, message: str, *, reset_at: datetime, rate: RateInfo | None = None):
        super().__init__(message, status=429, key="TooManyRequests", rate=rate)
        self.reset_at = reset_at


class AircallUnreachable(AircallFailure):
    """The request never left (no connection): nothing was done, a retry would be safe."""


class AircallNotStarted(AircallUnreachable):
    """The gateway did not start the request: too little of the invocation's time was left to wait for Aircall's
    answer and record it. Nothing was sent; a retry is safe."""


class AircallOutcomeUnknown(AircallFailure):
    """The request may have reached Aircall but no definite answer came back (timeout, 5xx, bad body)."""


@dataclass(frozen=True, slots=True)
class SentMessage:
    aircall_id: str
    status: str
    raw: dict[str, Any]
    rate: RateInfo | None


class AircallClient:
    """httpx is imported when the first client is made, not with this module: the functions that never call
    Aircall (events, usage, the authorizer, most manage routes) import the module for its outcomes and errors,
    and would otherwise pay httpx's import (tens of ms) on every cold start."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        connect_timeout: float,
        read_timeout: float,
        keep_after: float = 0.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`keep_after`: the seconds each call leaves in the invocation's budget after it (to record its outcome)."""
        import httpx

        self._connect_timeout, self._read_timeout, self._keep_after = connect_timeout, read_timeout, keep_after
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + "/v1",
            headers={"Authorization": credentials.authorization(), "Accept": "application/json"},
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            transport=transport,
        )
        self.last_rate: RateInfo | None = None

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ messaging
    def send_message(
        self, number_id: str, *, to: str, body: str | None, media_urls: Sequence[str] = (), native: bool
    ) -> SentMessage:
        """Proxy send (`/messages/send`, configured numbers) or agent-conversation send (`/messages/native/send`)."""
        payload: dict[str, Any] = {"to": to}
        if body:
            payload["body"] = body
        if media_urls:
            # Aircall's field name is not settled (mediaUrl per the current SDK, media_url per older clients).
            payload["mediaUrl"] = list(media_urls)
        path = f"/numbers/{number_id}/messages/{'native/send' if native else 'send'}"
        answer = self._request("POST", path, json=payload)
        message_id = answer.get("id")
        if not isinstance(message_id, str | int) or isinstance(message_id, bool) or message_id == "":
            raise AircallOutcomeUnknown("Aircall accepted the send but its answer carries no message id")
        status = answer.get("status")
        return SentMessage(
            aircall_id=str(message_id),
            status=status if isinstance(status, str) else "pending",
            raw=answer,
            rate=self.last_rate,
        )

    # ------------------------------------------------------------------ numbers
    def get_number(self, number_id: str) -> dict[str, Any]:
        answer = self._request("GET", f"/numbers/{number_id}")
        number = answer.get("number", answer)
        if not isinstance(number, dict):
            raise AircallOutcomeUnknown("Aircall's number answer has no number object")
        return number

    def configure_number(self, number_id: str, callback_url: str) -> dict[str, Any]:
        """Put the number in API (proxy) mode; Aircall answers with the callback token for this number."""
        return self._request("POST", f"/numbers/{number_id}/messages/configuration", json={"callbackUrl": callback_url})

    def delete_configuration(self, number_id: str) -> None:
        self._request("DELETE", f"/numbers/{number_id}/messages/configuration")

    # ------------------------------------------------------------------ transport
    def _timeout(self) -> httpx.Timeout:
        """This call's timeouts: the configured ones, shortened to the invocation's budget when there is one."""
        import httpx  # already loaded by __init__: a dictionary lookup

        budget = deadline.current()
        if budget is None:
            return httpx.Timeout(self._read_timeout, connect=self._connect_timeout)
        timeouts = budget.call_timeouts(
            connect=self._connect_timeout, read=self._read_timeout, keep=self._keep_after, min_read=MIN_READ_TIMEOUT
        )
        if timeouts is None:
            raise AircallNotStarted(
                f"too little of the invocation's time is left to call Aircall ({max(0.0, budget.left()):.1f} s)"
            )
        # Writing a request of a few hundred bytes and taking the one pooled connection do not wait: both share
        # the connect timeout.
        connect = timeouts.connect
        return httpx.Timeout(connect=connect, read=timeouts.read, write=connect, pool=connect)

    def _request(self, method: str, path: str, *, json: Any = None) -> dict[str, Any]:
        import httpx  # already loaded by __init__: a dictionary lookup

        timeout = self._timeout()
        try:
            response = self._http.request(method, path, json=json, timeout=timeout)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as failure:
            raise AircallUnreachable(f"could not reach Aircall ({type(failure).__name__})") from None
        except httpx.TransportError as failure:  # read/write timeouts, dropped connections: the request left
            raise AircallOutcomeUnknown(f"no answer from Aircall ({type(failure).__name__})") from None
        rate = RateInfo.from_headers(response.headers)
        self.last_rate = rate
        if response.status_code == 429:
            reset_at = rate.reset_at if rate and rate.reset_at else utcnow() + timedelta(seconds=60)
            raise AircallRateLimited("Aircall's request budget is spent", reset_at=reset_at, rate=rate)
        if response.status_code >= 500:
            raise AircallOutcomeUnknown(
                f"Aircall answered {response.status_code}", status=response.status_code, rate=rate
            )
        body = _json_object(response)
        if response.status_code >= 400:
            key = body.get("key") or body.get("error") or body.get("code")
            message = body.get("message") or body.get("troubleshoot") or response.reason_phrase
            raise AircallRefused(str(message), status=response.status_code, key=str(key) if key else None, rate=rate)
        return body


def _json_object(response: httpx.Response) -> dict[str, Any]:
    if not response.content:
        return {}
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        if response.is_success:
            raise AircallOutcomeUnknown("Aircall's answer is not JSON", status=response.status_code) from None
        return {}
    return body if isinstance(body, dict) else {"items": body}


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def count_failure(failure: AircallFailure) -> None:
    """One metric per kind of failed Aircall call (AircallRefused, AircallRateLimited, AircallUnreachable,
    AircallOutcomeUnknown): the template's Aircall alarms watch them."""
    metrics.add_metric(name=type(failure).__name__, unit="Count", value=1)


def gateway_error(failure: AircallFailure) -> GatewayError:
    """The contract's error for a failed Aircall call (one mapping for every use case)."""
    details: dict[str, Any] = {"aircall_status": failure.status, "aircall_key": failure.key}
    if isinstance(failure, AircallRateLimited):
        retry_after = max(1, math.ceil((failure.reset_at - utcnow()).total_seconds()))
        return RateLimited(
            "The company's Aircall request budget is spent; retry later.",
            details={"retry_after": retry_after, "resets_at": iso(failure.reset_at)},
            headers={"Retry-After": str(retry_after)},
        )
    if isinstance(failure, AircallNotStarted):
        return ServiceBusy(
            "The gateway ran out of time for this request before calling Aircall; nothing was sent; retry shortly.",
            details={"sent": False},
            headers={"Retry-After": "1"},
        )
    if isinstance(failure, AircallRefused):
        return AircallError(f"Aircall refused the request: {failure}", details=details)
    if isinstance(failure, AircallUnreachable):
        return AircallError(f"Aircall could not be reached: {failure}", details=details | {"sent": False})
    return AircallTimeout(f"Aircall gave no definite answer: {failure}", details=details)
