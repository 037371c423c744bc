"""Access control at the API's edge: the scope each route needs (the contract's Access section, one table), the
principal the authorizer handed over in `requestContext.authorizer`, and the authorizer's answer to API Gateway.

Functions check a request's scope before its route runs (`api.resolver.resolve`), so a key without the scope gets
403 `insufficient_scope` whatever its body; the numbers a key is limited to are the use cases' to enforce.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aircall_sms.domain.access import ADMIN, CONTACTS, EXPORT, NUMBERS, READ, SEND, Principal
from aircall_sms.errors import Unauthorized

# (method, resource as API Gateway names it) -> the scope it needs; None: open (no key).
ROUTE_SCOPES: Mapping[tuple[str, str], str | None] = {
    ("POST", "/messages"): SEND,
    ("GET", "/messages"): READ,
    ("GET", "/messages/{id}"): READ,
    ("DELETE", "/messages/{id}"): SEND,
    ("PATCH", "/messages/{id}"): SEND,
    ("GET", "/messages/export"): EXPORT,
    ("GET", "/numbers"): READ,
    ("GET", "/numbers/{number_id}"): READ,
    ("GET", "/numbers/{number_id}/quota"): READ,
    ("GET", "/aircall/numbers"): READ,
    ("PUT", "/numbers/{number_id}"): NUMBERS,
    ("DELETE", "/numbers/{number_id}"): NUMBERS,
    ("GET", "/pools"): READ,
    ("GET", "/pools/{id}"): READ,
    ("PUT", "/pools/{id}"): NUMBERS,
    ("DELETE", "/pools/{id}"): NUMBERS,
    ("POST", "/campaigns"): SEND,
    ("GET", "/campaigns"): READ,
    ("GET", "/campaigns/{id}"): READ,
    ("POST", "/campaigns/{id}/pause"): SEND,
    ("POST", "/campaigns/{id}/resume"): SEND,
    ("POST", "/campaigns/{id}/cancel"): SEND,
    ("GET", "/usage"): READ,
    ("GET", "/opt-outs"): READ,
    ("PUT", "/opt-outs/{phone}"): CONTACTS,
    ("DELETE", "/opt-outs/{phone}"): CONTACTS,
    ("GET", "/consents/{phone}"): READ,
    ("PUT", "/consents/{phone}"): CONTACTS,
    ("DELETE", "/consents/{phone}"): CONTACTS,
    ("DELETE", "/contacts/{phone}"): CONTACTS,
    ("POST", "/api-keys"): ADMIN,
    ("GET", "/api-keys"): ADMIN,
    ("DELETE", "/api-keys/{id}"): ADMIN,
    ("GET", "/openapi.json"): READ,
    ("GET", "/docs"): None,  # the page holds no data: it loads /openapi.json with the key typed in
    ("GET", "/health"): None,
    ("GET", "/console"): None,
    ("GET", "/console/{asset+}"): None,
    ("POST", "/webhooks/aircall"): None,
}


def required_scope(method: str, resource: str) -> str | None:
    """The scope a route needs; a route this table does not know needs `admin` (closed by default)."""
    return ROUTE_SCOPES.get((method.upper(), resource), ADMIN)


def principal_of(event: Mapping[str, Any]) -> Principal:
    """The principal the authorizer put in the request's context; 401 when there is none (a function reached
    without the authorizer is a deployment mistake, never an open door)."""
    context = (event.get("requestContext") or {}).get("authorizer") or {}
    client_id = context.get("client_id")
    if not isinstance(client_id, str) or not client_id:
        raise Unauthorized("A valid client key is required (Authorization: Bearer <key>, or x-api-key).")
    scopes = frozenset(str(context.get("scopes") or "").split())
    numbers = str(context.get("number_ids") or "*")
    number_ids = None if numbers == "*" else frozenset(number for number in numbers.split(",") if number)
    person = context.get("person")
    return Principal(client_id, scopes, number_ids, person=person if isinstance(person, str) and person else None)


def authorizer_context(principal: Principal) -> dict[str, str]:
    """The principal as an authorizer context (API Gateway passes only strings, numbers and booleans)."""
    numbers = "*" if principal.number_ids is None else ",".join(sorted(principal.number_ids, key=int))
    context = {"client_id": principal.client_id, "scopes": " ".join(sorted(principal.scopes)), "number_ids": numbers}
    return context | ({"person": principal.person} if principal.person else {})


def authorizer_answer(principal: Principal, method_arn: str) -> dict[str, Any]:
    """Allow the key on every route of the stage (`arn:...:<api>/<stage>/*/*`): the decision is the key's, so
    API Gateway may cache it across routes; each function checks the route's scope."""
    parts = method_arn.split("/")
    resource = "/".join(parts[:2]) + "/*/*" if len(parts) >= 2 else method_arn
    return {
        "principalId": principal.client_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}],
        },
        "context": authorizer_context(principal),
    }
