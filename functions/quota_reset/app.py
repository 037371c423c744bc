"""The scheduled work on quotas (EventBridge): every minute, the deferred messages (sent as their number's windows
and the company's Aircall budget allow, or expired); every hour, the rollover of closed windows into the usage
history; every five minutes, the repair of number configurations cut off (`use_cases.number_repair`). A failed
run is retried by Lambda, then its event lands in QuotaResetDeadLetterQueue (alarmed)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aircall_sms.domain import deadline
from aircall_sms.domain.timeutil import utcnow
from aircall_sms.observability import logger, metrics
from aircall_sms.use_cases import dispatch, number_repair, rollover, snapshot

# Stop sending this long before Lambda's timeout: the last Aircall call and its record must fit.
SAFETY_MARGIN = timedelta(seconds=15)

snapshot.register()  # SnapStart's hooks, when Lambda initializes this function for a snapshot


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = event.get("task")
    if task == "dispatch":
        now = utcnow()
        remaining_ms = context.get_remaining_time_in_millis()
        remaining = timedelta(milliseconds=remaining_ms) - SAFETY_MARGIN
        # The run stops at `until`; each DynamoDB attempt and Aircall call inside it also fits Lambda's time.
        with deadline.invocation(remaining_ms):
            return dispatch.run(until=now + min(dispatch.RUN_LENGTH, remaining)).to_dict()
    if task == "rollover":
        return rollover.roll_over()
    if task == "repair":
        with deadline.invocation(context.get_remaining_time_in_millis()):
            return number_repair.repair_cut_off().to_dict()
    raise ValueError(f"unknown task {task!r}: the schedule's input names 'dispatch', 'rollover' or 'repair'")
