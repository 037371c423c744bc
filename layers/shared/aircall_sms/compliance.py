"""Routing compliance: whether a sender may reach a recipient without crossing a border. Aircall's rule is
domestic sending only — sender and recipient in the same region — except between the US and Canada.

Regions are the ones phonenumbers reports: Puerto Rico ("PR"), the US Virgin Islands ("VI"), Jersey ("JE") and
the like are regions of their own even where they share a calling code, so the US to Puerto Rico is not
domestic. Non-geographic numbers (region "001", e.g. +800 international freephone) belong to no country and
are never domestic.
"""

from __future__ import annotations

from aircall_sms.phone import PhoneNumber, parse

NON_GEOGRAPHIC_REGION = "001"
# Pairs of different regions that still count as domestic.
CROSS_BORDER_DOMESTIC: frozenset[frozenset[str]] = frozenset({frozenset({"US", "CA"})})


def is_domestic(sender: str | PhoneNumber, recipient: str | PhoneNumber) -> bool:
    """True when `sender` may text `recipient` under the domestic-only rule. E.164 strings are parsed
    (an invalid one raises `aircall_sms.phone.InvalidPhoneNumber`)."""
    sender_region = _region(sender)
    recipient_region = _region(recipient)
    if NON_GEOGRAPHIC_REGION in (sender_region, recipient_region):
        return False
    return sender_region == recipient_region or frozenset({sender_region, recipient_region}) in CROSS_BORDER_DOMESTIC


def _region(number: str | PhoneNumber) -> str:
    return number.region if isinstance(number, PhoneNumber) else parse(number).region
