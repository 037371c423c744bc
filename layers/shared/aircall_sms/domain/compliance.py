"""Routing compliance: whether a sender may reach a recipient without crossing a border. Aircall's rule is
domestic sending only — sender and recipient in the same region — except between the US and Canada.

Regions are the ones phonenumbers reports: Puerto Rico ("PR"), the US Virgin Islands ("VI"), Jersey ("JE") and
the like are regions of their own even where they share a calling code, so the US to Puerto Rico is not
domestic. Non-geographic numbers (region "001", e.g. +800 international freephone) belong to no country and
are never domestic.
"""

from __future__ import annotations

from aircall_sms.domain.phone import PhoneNumber, parse
from aircall_sms.errors import ComplianceRefusal, ConversationalOnly, NotDomestic, NumberNotRegistered

NON_GEOGRAPHIC_REGION = "001"
# Pairs of different regions that still count as domestic.
CROSS_BORDER_DOMESTIC: frozenset[frozenset[str]] = frozenset({frozenset({"US", "CA"})})


def is_domestic(sender: str | PhoneNumber, recipient: str | PhoneNumber) -> bool:
    """True when `sender` may text `recipient` under the domestic-only rule. E.164 strings are parsed
    (an invalid one raises `aircall_sms.domain.phone.InvalidPhoneNumber`)."""
    sender_region = _region(sender)
    recipient_region = _region(recipient)
    if NON_GEOGRAPHIC_REGION in (sender_region, recipient_region):
        return False
    return sender_region == recipient_region or frozenset({sender_region, recipient_region}) in CROSS_BORDER_DOMESTIC


def _region(number: str | PhoneNumber) -> str:
    return number.region if isinstance(number, PhoneNumber) else parse(number).region


# ---------------------------------------------------------------------------------------------- send rules
# The rules a send must pass before any quota is touched (docs/http-api.md, "Sending"). The ones that need
# only the request and the number are decided here; the ones that need stored facts (opt-outs, an open
# conversation, a consent) are checked inside the send's reservation transaction, so a STOP that lands at the
# same moment cannot slip through.

REGISTERED_REGIONS = frozenset({"US", "CA"})


def is_french_mobile(region: str, kind: str) -> bool:
    return region == "FR" and kind == "mobile"


def static_refusal(
    *,
    sender: PhoneNumber,
    registration: str,
    recipient: PhoneNumber,
    purpose: str,
) -> ComplianceRefusal | None:
    """The first rule the send breaks that the request alone decides, or None."""
    if not is_domestic(sender, recipient):
        return NotDomestic(
            "Aircall sends domestic messages only: sender and recipient must be in the same country "
            "(the US and Canada count as one).",
            details={"from_region": sender.region, "to_region": recipient.region},
        )
    if sender.region in REGISTERED_REGIONS and not _registered_enough(sender, registration, recipient):
        return NumberNotRegistered(
            "US and Canadian numbers send only once registered (A2P 10DLC, or toll-free verification); "
            'set registration to "approved" with PUT /numbers/{number_id} when it is.',
            details={"registration": registration},
        )
    if is_french_mobile(sender.region, sender.kind) and purpose != "conversational":
        return ConversationalOnly(
            "French mobile lines are for conversational messages only: automated sending is forbidden.",
            details={"purpose": purpose},
        )
    return None


def _registered_enough(sender: PhoneNumber, registration: str, recipient: PhoneNumber) -> bool:
    if registration == "approved":
        return True
    # A toll-free number whose verification is pending may text the US under Aircall's reduced limits (the
    # "us-ca-toll-free-unverified" limit rule); Canada is blocked until it is verified.
    return sender.kind == "toll_free" and registration == "pending" and recipient.region != "CA"


def needs_open_conversation(sender: PhoneNumber, *, human_author: str | None) -> bool:
    """French mobile lines answer a contact who wrote within the conversation window, unless a person wrote
    the message (`human_author`): automated messages are what French rules forbid."""
    return is_french_mobile(sender.region, sender.kind) and not human_author


def needs_consent(purpose: str) -> bool:
    return purpose == "marketing"
