"""Use cases: one module per thing a user or Aircall asks of the gateway. Handlers call exactly one of these."""
