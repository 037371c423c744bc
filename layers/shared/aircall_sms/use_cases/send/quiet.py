"""Quiet hours in the send flow (the rules: `domain.quiet_hours`; the deployment's: QUIET_HOURS_JSON).

A send inside the quiet hours of its purpose in the recipient's country, by the recipient's local time, is
refused (403 `quiet_hours`, archived `rejected`, with `details.next_allowed`), or, with `on_limit: "defer"`,
archived `deferred` until that time in the number's scheduled queue (202), unless its `not_after` comes first. A
dry run says which. A scheduled message is checked when it goes out (the dispatcher: `at_send_time`).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from functools import cache
from typing import Any

from aircall_sms.domain import quiet_hours
from aircall_sms.domain.timeutil import iso
from aircall_sms.errors import QuietHours, QuietHoursMisconfigured
from aircall_sms.observability import logger
from aircall_sms.settings import get_settings
from aircall_sms.use_cases.send.outcome import SendOutcome, archive_rejected
from aircall_sms.use_cases.send.prepare import PreparedSend
from aircall_sms.use_cases.send.replay import replay_if_used
from aircall_sms.use_cases.send.schedule import schedule


@cache
def _rules(text: str) -> quiet_hours.Rules:
    return quiet_hours.parse_rules(text)


def rules() -> quiet_hours.Rules:
    """The deployment's rules (QUIET_HOURS_JSON), else the defaults; parsed once per instance. Rules it cannot
    read refuse the send (503 `quiet_hours_misconfigured`) before anything is written: sending without the rules
    the deployment asked for could break the law they encode."""
    try:
        return _rules(get_settings().quiet_hours_json)
    except ValueError as problem:  # json.JSONDecodeError included
        logger.error("the deployment's quiet hours cannot be read", extra={"problem": str(problem)})
        raise QuietHoursMisconfigured(
            f"The deployment's quiet hours (the QuietHoursJson parameter) cannot be read: {problem}. Nothing was "
            "sent; fix the parameter and deploy again (docs/api.md, Quiet hours)."
        ) from None


def verdict(prepared: PreparedSend, at: datetime) -> quiet_hours.Verdict:
    return quiet_hours.check(
        rules(),
        e164=prepared.recipient.e164,
        region=prepared.recipient.region,
        purpose=prepared.request.purpose,
        at=at,
    )


def refusal(found: quiet_hours.Verdict) -> QuietHours:
    assert found.next_allowed is not None
    return QuietHours(
        f"It is quiet hours for this purpose at the recipient's local time; it may be sent from "
        f"{iso(found.next_allowed)}.",
        details=details(found),
    )


def details(found: quiet_hours.Verdict) -> dict[str, Any]:
    return {
        "next_allowed": iso(found.next_allowed) if found.next_allowed else None,
        "region": found.region,
        "time_zones": list(found.time_zones),
        "window": found.window,
    }


def holds(prepared: PreparedSend, now: datetime) -> quiet_hours.Verdict | None:
    """The quiet hours a send made now (a dry run: at its `send_at`) falls in; None when it does not."""
    found = verdict(prepared, prepared.send_at or now)
    return None if found.allowed else found


def defers(prepared: PreparedSend, found: quiet_hours.Verdict) -> bool:
    assert found.next_allowed is not None
    return prepared.request.on_limit == "defer" and found.next_allowed <= prepared.not_after


def defer_or_refuse(prepared: PreparedSend, found: quiet_hours.Verdict, now: datetime) -> SendOutcome:
    """Inside quiet hours: `deferred` until the next allowed time (202), else 403 `quiet_hours` (archived)."""
    if defers(prepared, found):
        waiting = dataclasses.replace(prepared, send_at=found.next_allowed)
        return schedule(waiting, now, status="deferred", note="quiet hours")
    replayed = replay_if_used(prepared)
    if replayed is not None:
        return replayed
    error = refusal(found)
    archive_rejected(prepared, error, now)
    raise error


def annotate_dry_run(body: dict[str, Any], prepared: PreparedSend, found: quiet_hours.Verdict | None) -> None:
    """A dry run says when quiet hours would refuse or defer the send (when nothing else refuses it first)."""
    if found is None or body.get("verdict") != "allowed":
        return
    body["verdict"] = "deferred" if defers(prepared, found) else "rejected"
    body["reason"] = QuietHours.code
    body["quiet_hours"] = details(found)
