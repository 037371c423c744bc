"""The web console: its static assets (this function's `static/` folder) and where people sign in
(`aircall_sms.api.console`). Open routes: the page holds no data; every call it makes is authorized."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aircall_sms.api.console import serve
from aircall_sms.use_cases import snapshot
from aircall_sms.use_cases.sign_in import console_client_id

if TYPE_CHECKING:  # an annotation only: not imported in Lambda
    from aws_lambda_powertools.utilities.typing import LambdaContext

STATIC = Path(__file__).resolve().parent / "static"

snapshot.register()  # SnapStart's hooks, when Lambda initializes this function for a snapshot


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001
    return serve(
        event,
        STATIC,
        sign_in_url=os.environ.get("SIGN_IN_URL", ""),
        client_id=console_client_id,
    )
