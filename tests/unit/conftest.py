"""Unit tests run without a network: any socket a test opens (a forgotten endpoint, a real HTTP client) fails the
test at once instead of reaching a service (pytest-socket)."""

from __future__ import annotations

import pytest
from pytest_socket import disable_socket, enable_socket


@pytest.fixture(autouse=True)
def _no_network():
    disable_socket()
    yield
    enable_socket()
