"""Lambda SnapStart's runtime hooks (template parameter `SnapStart`; docs/operations.md, "SnapStart").

With SnapStart, Lambda initializes a function once, when a version is published, snapshots its memory, and
restores that snapshot in every new execution environment. Whatever the snapshot holds is then shared by every
environment restored from it, so:
- before the snapshot: the libraries that the first request would otherwise load (httpx, phonenumbers,
  pydantic's send model) are loaded, so a restored environment does not pay for them, and nothing is connected yet;
- after each restore: `random` is re-seeded (every restored environment would draw the same retry jitter), and
  the connections and credentials made from the snapshot's state are dropped (the DynamoDB connection and its
  botocore session, the Aircall and EventBridge clients, Powertools' cached secrets and their provider): the
  next call builds them again, with the credentials Lambda gives the restored environment.

`register()` registers both hooks with the Lambda runtime's `snapshot_restore_py` only when Lambda initializes
the function for a snapshot (`AWS_LAMBDA_INITIALIZATION_TYPE` is `snap-start`); otherwise it does nothing.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any

SNAP_START = "snap-start"


def register(environment: dict[str, str] | None = None) -> bool:
    """Register the hooks with Lambda's runtime if this initialization is SnapStart's; True if registered."""
    variables = os.environ if environment is None else environment
    if variables.get("AWS_LAMBDA_INITIALIZATION_TYPE") != SNAP_START:
        return False
    # Provided by Lambda's Python runtimes (3.12+), not installed anywhere else.
    import snapshot_restore_py  # type: ignore[import-not-found]

    before: Callable[[Callable[[], Any]], Any] = snapshot_restore_py.register_before_snapshot
    after: Callable[[Callable[[], Any]], Any] = snapshot_restore_py.register_after_restore
    before(before_snapshot)
    after(after_restore)
    return True


def before_snapshot() -> None:
    """Load what the first request would load, so the snapshot holds it; connect to nothing."""
    from aircall_sms.clients import aircall
    from aircall_sms.domain import phone, requests

    aircall.preload()  # httpx, which the first Aircall client made would load
    phone.preload()  # phonenumbers, which the first number parsed would load

    requests.SendRequest.model_json_schema()  # pydantic's validator and serializer for the send model, built


def after_restore() -> None:
    """Make this restored environment unique again and reconnect from scratch on the next call."""
    from aws_lambda_powertools.utilities import parameters

    from aircall_sms.store import base
    from aircall_sms.use_cases import services

    random.seed(os.urandom(32))
    base.forget_connection()
    services.forget()
    parameters.clear_caches()  # type: ignore[no-untyped-call]
