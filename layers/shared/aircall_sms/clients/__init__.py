"""Clients of the services outside AWS the gateway calls: Aircall's Public API."""
