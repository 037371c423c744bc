"""Domain errors: each has a stable machine-readable `code` and the HTTP status it maps to (`api.resolver` maps them
to answers, once, for every function)."""

from __future__ import annotations

from typing import Any, ClassVar


class GatewayError(Exception):
    """Base of every error a client may see. `code` is stable and documented; `message` is for humans."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500

    def __init__(self, message: str, *, details: dict[str, Any] | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.headers = headers or {}

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidRequest(GatewayError):
    code = "invalid_request"
    status = 400


class InvalidSendAt(GatewayError):
    """`send_at` in the past or more than 31 days ahead, or a `not_after` before it (`details.field`, `reason`)."""

    code = "invalid_send_at"
    status = 400


class MessageNotWaiting(GatewayError):
    """DELETE or PATCH /messages/{id} of a message no longer waiting to be sent (sent, on its way, or ended:
    `details.status`)."""

    code = "message_not_waiting"
    status = 409


class InvalidCallback(GatewayError):
    """An authenticated-looking callback the gateway cannot read (no event, no data, no message id...)."""

    code = "invalid_callback"
    status = 400


class InvalidPhone(GatewayError):
    code = "invalid_phone"
    status = 400


class EmptyMessage(GatewayError):
    code = "empty_message"
    status = 400


class MessageTooLong(GatewayError):
    code = "message_too_long"
    status = 400


class InvalidMedia(GatewayError):
    code = "invalid_media"
    status = 400


class Unauthorized(GatewayError):
    code = "unauthorized"
    status = 401


class InsufficientScope(GatewayError):
    """The client key is valid but lacks the route's scope (`details.required`)."""

    code = "insufficient_scope"
    status = 403


class NumberNotAllowed(GatewayError):
    """The client key is limited to numbers, and the request names another."""

    code = "number_not_allowed"
    status = 403


class NotFound(GatewayError):
    code = "not_found"
    status = 404


class NumberNotConfigured(GatewayError):
    code = "number_not_configured"
    status = 404


class PoolNotFound(GatewayError):
    """No sender pool has this id (PUT /pools/{id} first)."""

    code = "pool_not_found"
    status = 404


class InvalidPool(GatewayError):
    """A sender pool's definition is wrong; each mistake has its own code (below)."""

    code = "invalid_pool"
    status = 400


class PoolEmpty(InvalidPool):
    code = "pool_empty"


class PoolTooLarge(InvalidPool):
    code = "pool_too_large"


class DuplicateNumber(InvalidPool):
    code = "duplicate_number"


class PoolMixedCountries(InvalidPool):
    code = "pool_mixed_countries"


class PoolNumberNotConfigured(InvalidPool):
    """A pool names a number this gateway does not have (PUT /numbers/{number_id} first)."""

    code = "pool_number_not_configured"


class NumberNotFound(GatewayError):
    """The Aircall number does not exist in the Aircall account."""

    code = "number_not_found"
    status = 404


class PayloadTooLarge(GatewayError):
    code = "payload_too_large"
    status = 413


class AircallError(GatewayError):
    """Aircall refused the request (details carry Aircall's HTTP status and error key)."""

    code = "aircall_error"
    status = 502


class AircallCredentialsMissing(GatewayError):
    """The gateway's Aircall credentials secret is missing, unreadable or malformed: a deployment to fix, not a
    client's mistake, and nothing was sent or reserved. The message says what to store where."""

    code = "aircall_credentials_missing"
    status = 503


class QuietHoursMisconfigured(GatewayError):
    """The deployment's quiet hours (QuietHoursJson) cannot be read: a deployment to fix, not a client's mistake;
    nothing was sent, reserved or archived. The message names what is wrong."""

    code = "quiet_hours_misconfigured"
    status = 503


class AircallTimeout(GatewayError):
    """No answer from Aircall in time: the outcome is unknown."""

    code = "aircall_timeout"
    status = 504


class QuotaExceeded(GatewayError):
    code = "quota_exceeded"
    status = 429


class RateLimited(GatewayError):
    """The company's Aircall request budget is spent for now."""

    code = "rate_limited"
    status = 429


class ComplianceRefusal(GatewayError):
    """A rule of the country or of the contact forbids this send (nothing is reserved or sent)."""

    status = 403


class NotDomestic(ComplianceRefusal):
    code = "not_domestic"


class OptedOut(ComplianceRefusal):
    code = "opted_out"


class ConversationalOnly(ComplianceRefusal):
    code = "conversational_only"


class NumberNotRegistered(ComplianceRefusal):
    code = "number_not_registered"


class ConsentRequired(ComplianceRefusal):
    code = "consent_required"


class QuietHours(ComplianceRefusal):
    """The recipient's local time is inside the quiet hours of the message's purpose in its country
    (`details.next_allowed`: the first time it may be sent)."""

    code = "quiet_hours"


class IdempotencyConflict(GatewayError):
    """The Idempotency-Key was used before with a different request body."""

    code = "idempotency_conflict"
    status = 409


class ServiceBusy(GatewayError):
    """DynamoDB kept cancelling a reservation for concurrent transactions on the same items."""

    code = "service_busy"
    status = 503


class CampaignInvalid(GatewayError):
    """A campaign's request is refused before anything is written: too many recipients, a recipient's bad phone,
    placeholders without values (`details.field` names the field, with the recipient's index)."""

    code = "invalid_campaign"
    status = 400


class CampaignNotChangeable(GatewayError):
    """Pausing, resuming or cancelling a campaign that can no longer be (`details.status`: its status now)."""

    code = "campaign_not_changeable"
    status = 409
