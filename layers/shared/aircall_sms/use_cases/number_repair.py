"""The scheduled repair of number configurations cut off (every five minutes, in the quota function).

`PUT /numbers/{id}` in proxy mode stores `configuring` before asking Aircall to configure the number, then the
digest of the token Aircall answers. A Lambda cut off in between (its timeout, a crash, Aircall's answer lost)
leaves the number `configuring`: Aircall may post callbacks whose token the gateway cannot check, and sends from
the number wait (`number_not_configured`). Waiting for the next PUT would lose those callbacks for as long as
nobody looks, so this run finishes each such configuration as that PUT would: it asks Aircall again (Aircall
answers a configured number with its same token), stores the digest and clears `configuring`.

Only numbers left `configuring` for longer than any PUT can run are touched, and the final write holds only while
the number is as it was read, so a PUT arriving meanwhile wins. A number Aircall no longer has, or a refusal, is
left `configuring` (counted and logged with what to do) for the operator's next PUT or DELETE.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aircall_sms.clients.aircall import AircallFailure, AircallRateLimited, AircallRefused, count_failure
from aircall_sms.domain.timeutil import iso, utcnow
from aircall_sms.errors import GatewayError
from aircall_sms.observability import logger, metrics
from aircall_sms.store import budget, numbers
from aircall_sms.use_cases import budget as aircall_budget
from aircall_sms.use_cases import services

# Longer than the ManageFunction's timeout (28 s) with room: a configuration this old is no PUT still running.
CUT_OFF_AFTER = timedelta(minutes=2)


@dataclass(slots=True)
class RepairRun:
    repaired: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # Aircall refused, failed, or the budget was spent: next run
    superseded: list[str] = field(default_factory=list)  # a PUT or DELETE changed the number meanwhile

    def to_dict(self) -> dict[str, list[str]]:
        return {"repaired": self.repaired, "left": self.left, "superseded": self.superseded}


def repair_cut_off(now: datetime | None = None) -> RepairRun:
    """Finish every proxy configuration left `configuring` for longer than `CUT_OFF_AFTER`."""
    now = now or utcnow()
    run = RepairRun()
    for record in numbers.configuring_before(iso(now - CUT_OFF_AFTER)):
        try:
            token = _configured_token(record)
        except GatewayError:  # the company budget of the minute is spent (or no credentials): the next run
            run.left.append(record.number_id)
            break
        except AircallFailure as failure:
            count_failure(failure)
            aircall_budget.learn(failure.rate, utcnow(), limited=isinstance(failure, AircallRateLimited))
            refused = isinstance(failure, AircallRefused)
            logger.warning(
                "a cut-off number configuration could not be repaired",
                extra={
                    "number_id": record.number_id,
                    "aircall_status": failure.status if refused else None,
                    "action": "PUT /numbers/{id} again, or DELETE it" if refused else "retried by the next run",
                },
            )
            run.left.append(record.number_id)
            continue
        digest = hashlib.sha256(token.encode()).hexdigest()
        if numbers.finish_configuring(record, digest, iso(utcnow())):
            logger.info("a cut-off number configuration was repaired", extra={"number_id": record.number_id})
            run.repaired.append(record.number_id)
        else:
            run.superseded.append(record.number_id)
    metrics.add_metric(name="NumbersRepaired", unit="Count", value=len(run.repaired))
    metrics.add_metric(name="NumbersConfiguringLeft", unit="Count", value=len(run.left))
    return run


def _configured_token(record: numbers.NumberRecord) -> str:
    """Aircall's callback token for the number, configured again at the URL the cut-off PUT asked for."""
    client = services.aircall()
    budget.charge(utcnow())
    configuration = client.configure_number(record.number_id, record.callback_url or "")
    aircall_budget.learn(client.last_rate, utcnow())
    token = configuration.get("token")
    if not isinstance(token, str) or not token:
        raise AircallFailure("Aircall configured the number but returned no callback token.")
    return token
