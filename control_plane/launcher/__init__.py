"""Starts and stops the whole local stack (`tollway up`, integration tests, benchmarks)."""

from control_plane.launcher.settings import StackSettings
from control_plane.launcher.stack import Stack, StackInfo, StackStartError

__all__ = ["Stack", "StackInfo", "StackSettings", "StackStartError"]
