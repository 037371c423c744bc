"""The HTTP API's routes, one module per function that serves them (`send_routes`, `manage_routes`), plus the
callback route documented for Aircall's side (`webhook_routes`) and the OpenAPI document built from all of them
(`openapi`). Each module's `register(app)` adds its routes to a resolver: the function's own, or the one that
generates the document, so the document is made from the very routes and models that validate requests.

Routes are registered by a function rather than kept in a Powertools `Router`: a router remembers the last
resolver that included it (`router.current_event` reads that one), and the document's resolver includes the same
routes in the same process as the function's."""

from __future__ import annotations

API_KEY_SCHEME = "clientKey"
BEARER_SCHEME = "bearerKey"
# The routes that need a client key (the document gives each its scope: `api.access.ROUTE_SCOPES`).
API_KEY: list[dict[str, list[str]]] = [{API_KEY_SCHEME: []}, {BEARER_SCHEME: []}]
