"""The callbacks queue (SQS, `CALLBACKS_QUEUE_URL`): where a callback goes when it cannot be recorded at once.

Aircall does not retry proxy-mode callbacks, so a callback that DynamoDB cannot take right now (throttled, timed
out) is put on the queue with its body as it came; the InboundFunction reads the queue (an SQS event source
mapping with partial batch responses) and takes each one through the same intake later. SQS is another service
with its own capacity: DynamoDB being short does not make it short too.
"""

from __future__ import annotations

from typing import Any

from aircall_sms.settings import ConfigurationError, get_settings
from aircall_sms.store.base import aws_client

MAX_MESSAGE_BYTES = 256 * 1024  # SQS's default (and the queue's) MaximumMessageSize: the largest callback fits

_sqs: Any = None


def enqueue_callback(raw_body: str) -> str:
    """Put a callback's raw body on the callbacks queue; SQS's message id."""
    global _sqs
    url = get_settings().callbacks_queue_url
    if not url:
        raise ConfigurationError("the environment variable CALLBACKS_QUEUE_URL is required to queue a callback")
    if _sqs is None:
        _sqs = aws_client("sqs")
    answer = _sqs.send_message(QueueUrl=url, MessageBody=raw_body)
    return str(answer["MessageId"])


def forget_client() -> None:
    """Drop the SQS client (tests that point the gateway at another endpoint)."""
    global _sqs
    _sqs = None
