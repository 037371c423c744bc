"""Where the console's people sign in: the OAuth client id of the console at the sign-in provider.

`SIGN_IN_CLIENT_ID` when set; else the app client named "console" of the user pool `SIGN_IN_USER_POOL_ID`
(the template creates it, and cannot pass its id to a function behind the API without a dependency cycle), read
once per instance."""

from __future__ import annotations

import os
from functools import lru_cache

from aircall_sms.store.base import botocore_session

CONSOLE_CLIENT_NAME = "console"


@lru_cache(maxsize=1)
def console_client_id() -> str:
    given = os.environ.get("SIGN_IN_CLIENT_ID", "").strip()
    if given:
        return given
    pool = os.environ.get("SIGN_IN_USER_POOL_ID", "").strip()
    if not pool:
        return ""
    client = botocore_session().create_client("cognito-idp")
    request: dict[str, str | int] = {"UserPoolId": pool, "MaxResults": 60}
    while True:
        page = client.list_user_pool_clients(**request)
        for found in page.get("UserPoolClients") or []:
            if found.get("ClientName") == CONSOLE_CLIENT_NAME:
                return str(found["ClientId"])
        if not page.get("NextToken"):
            return ""
        request["NextToken"] = page["NextToken"]
