"""Fixtures for the notifier tests: a loopback robot server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from notify.robot_server import RobotServer


@pytest.fixture
def robot() -> Iterator[RobotServer]:
    """A running loopback robot server, shut down after the test."""
    server = RobotServer()
    yield server
    server.close()
