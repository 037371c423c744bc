"""Errors the sandbox answers with, in the two shapes it speaks.

`/v1/*` (Aircall's shape): `{"key": "<ErrorKey>", "message": "<text>"}`.
`/_sandbox/*` (controls): `{"error": "<text>"}`.
"""

from __future__ import annotations


class AircallError(Exception):
    """An error answered the way Aircall answers it."""

    def __init__(self, status: int, key: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.key = key
        self.message = message

    def body(self) -> dict[str, str]:
        return {"key": self.key, "message": self.message}


def invalid_payload(message: str) -> AircallError:
    return AircallError(400, "InvalidPayload", message)


def number_not_found(number_id: int) -> AircallError:
    return AircallError(404, "NotFound", f"Number {number_id} not found")


class ControlError(Exception):
    """A bad request to a `/_sandbox/*` control."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
