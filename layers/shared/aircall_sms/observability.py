"""The one place that owns logging and metrics. Every log line passes through a formatter that masks phone
numbers, so no full number reaches CloudWatch whatever a caller logs.

No tracer: Lambda's active tracing (`Tracing: Active`) records every sampled invocation (its initialization,
invocation and overhead, errors, cold starts) without any SDK in the function, and records no payload. Powertools'
Tracer would add the X-Ray SDK (in maintenance, end of support 2027-02-25; ~40 ms of every cold start) and, by
default, every handler's response (message texts, phone numbers, exports) as trace metadata
(docs/operations.md, "Traces")."""

from __future__ import annotations

import re
import warnings
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.logging.types import PowertoolsLogRecord

# "+33612345678", "+1 424-416-2288", "+44 (0)7700 900123": a plus, then digits with the usual separators.
_PHONE_LIKE = re.compile(r"\+\d[\d \-().]{5,20}\d")


def mask_phone_numbers(text: str) -> str:
    """Keep the first digits (the country code) and the last two: `+33612345678` -> `+336******78`."""
    return _PHONE_LIKE.sub(_mask_match, text)


def _mask_match(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    keep_head = 2 if len(digits) > 8 else 1
    return "+" + digits[:keep_head] + "*" * (len(digits) - keep_head - 2) + digits[-2:]


class MaskingFormatter(LambdaPowertoolsFormatter):
    def serialize(self, log: dict[str, Any] | PowertoolsLogRecord) -> str:
        return mask_phone_numbers(super().serialize(log))


# A request that records no business metric (a refused callback, a read) is normal, not worth a warning.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

logger = Logger(logger_formatter=MaskingFormatter())
metrics = Metrics()
