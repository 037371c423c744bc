"""The send rules that depend on stored facts — no opt-out of the number or of every number, an open
conversation for a French mobile line, a consent for marketing — each written once, in both of its forms: the
condition check of the reservation transaction (so a STOP that lands at the same moment cannot slip through),
and the same rule read on the stored item (the dry run, which reserves nothing). Plus the check that the cached
sender number is unchanged, which every reservation carries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aircall_sms.domain import compliance
from aircall_sms.errors import ComplianceRefusal, ConsentRequired, ConversationalOnly, OptedOut
from aircall_sms.settings import get_settings
from aircall_sms.store import contacts, numbers
from aircall_sms.store.transactions import Guard, Plan, Refusal
from aircall_sms.use_cases.send.prepare import PreparedSend

NUMBER_CHANGED = Guard("number_changed")


@dataclass(frozen=True, slots=True)
class StoredRule:
    """One rule on a stored fact of the contact: `guard` names its refusal (its kind is the error code),
    `sort_key` the ContactsTable item it reads, `applies` whether the send is subject to it, `condition` the
    transaction's condition check, and `holds` the same rule read on the item (None: no such item)."""

    name: str
    guard: Guard
    sort_key: Callable[[PreparedSend], str]
    applies: Callable[[PreparedSend], bool]
    condition: Callable[[PreparedSend, datetime], dict[str, Any]]
    holds: Callable[[PreparedSend, dict[str, Any] | None, datetime], bool]


def conversation_since(now: datetime) -> datetime:
    """The oldest message of the contact that keeps a French mobile line's conversation open at `now`."""
    return now - timedelta(hours=get_settings().conversation_window_hours)


def _not_opted_out(scope_of: Callable[[PreparedSend], str], scope: str) -> StoredRule:
    return StoredRule(
        name=f"opted_out_{scope}",
        guard=Guard("opted_out", {"scope": scope}),
        sort_key=lambda prepared: contacts.optout_sk(scope_of(prepared)),
        # The gateway's own answer to a STOP (its confirmation) goes to a contact who has just opted out.
        applies=lambda prepared: not prepared.confirms_opt_out,
        condition=lambda prepared, _now: contacts.not_opted_out_check(prepared.recipient.e164, scope_of(prepared)),
        holds=lambda _prepared, item, _now: not contacts.is_opted_out(item),
    )


RULES: tuple[StoredRule, ...] = (
    _not_opted_out(lambda prepared: prepared.number.number_id, "number"),
    _not_opted_out(lambda _prepared: contacts.EVERY_NUMBER, "company"),
    StoredRule(
        name="conversation",
        guard=Guard("conversational_only"),
        sort_key=lambda prepared: contacts.conversation_sk(prepared.number.number_id),
        applies=lambda prepared: compliance.needs_open_conversation(
            prepared.sender, human_author=prepared.request.human_author
        ),
        condition=lambda prepared, now: contacts.conversation_open_check(
            prepared.recipient.e164, prepared.number.number_id, conversation_since(now)
        ),
        holds=lambda _prepared, item, now: contacts.is_conversation_open(item, conversation_since(now)),
    ),
    StoredRule(
        name="consent",
        guard=Guard("consent_required"),
        sort_key=lambda _prepared: contacts.consent_sk("marketing"),
        applies=lambda prepared: compliance.needs_consent(prepared.request.purpose),
        condition=lambda prepared, _now: contacts.consent_check(prepared.recipient.e164, prepared.number.number_id),
        holds=lambda prepared, item, _now: contacts.has_consent(item, prepared.number.number_id),
    ),
)


def applicable(prepared: PreparedSend) -> list[StoredRule]:
    return [rule for rule in RULES if rule.applies(prepared)]


def add_checks(plan: Plan, prepared: PreparedSend, now: datetime) -> None:
    """The stored-fact rules and the cached number's freshness, as condition checks (send, defer, dispatch)."""
    plan.add(numbers.unchanged_check(prepared.number), NUMBER_CHANGED)
    for rule in applicable(prepared):
        plan.add(rule.condition(prepared, now), rule.guard)


def first_broken(prepared: PreparedSend, items: Mapping[str, dict[str, Any] | None], now: datetime) -> str | None:
    """The code of the first rule that `items` (by rule name, as read) say the send breaks; None: all hold."""
    for rule in applicable(prepared):
        if not rule.holds(prepared, items.get(rule.name), now):
            return rule.guard.kind
    return None


def refusal(by_kind: Mapping[str, Refusal]) -> ComplianceRefusal | None:
    """The contract's 403 for a refused reservation whose refusals include a rule's; None when none did."""
    if "opted_out" in by_kind:
        return OptedOut(
            "The contact opted out of messages from this number (or from every number of the company).",
            details={"scope": by_kind["opted_out"].guard.data.get("scope")},
        )
    if "conversational_only" in by_kind:
        return ConversationalOnly(
            "French mobile lines may only answer a contact who wrote within the conversation window, unless a "
            "person wrote the message (human_author).",
            details={"window_hours": get_settings().conversation_window_hours},
        )
    if "consent_required" in by_kind:
        return ConsentRequired(
            "Marketing messages need the contact's stored consent (PUT /consents/{phone}).",
            details={"purpose": "marketing"},
        )
    return None
