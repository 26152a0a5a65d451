"""A launcher `Stack` for a fixture: started, yielded, always stopped; a process that died on its own
has its last log lines written to stderr (what pytest shows next to the failure)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from control_plane.launcher import Stack, StackSettings

__all__ = ["running_stack"]

_STOPPED_BY_US = (0, -15, None)


@contextmanager
def running_stack(settings: StackSettings) -> Iterator[Stack]:
    stack = Stack(settings)
    try:
        stack.start()
        assert stack.info is not None
        yield stack
    finally:
        stack.stop()
        for process in stack.processes.values():
            if process.exit_code() not in _STOPPED_BY_US:
                tail = process.log_tail(50)
                sys.stderr.write(f"--- {process.name} exited {process.exit_code()}:\n{tail}\n")
