"""The CLI talks to an in-process admin app over fakes, at a fixed time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support.cli import cli_harness
from tests.support.fakes import AdminHarness, FakeClock

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> AdminHarness:
    return cli_harness(monkeypatch, FakeClock(NOW))
