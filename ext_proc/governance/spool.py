"""A durable local spool of `SettleCommand`s for while Redis is down: JSON lines, fsync'd per batch.

Files in `directory` (one directory per process; two live processes must not share one):
- `active-<pid>-<id>.jsonl`   appended to by this process;
- `*.ready`                   sealed, waiting for replay (an `active-*` file left by an earlier run is
                              sealed at start-up);
- `*.replaying-<id>`          claimed by a replayer (rename is atomic: one claimer); deleted once every
                              command in it has run, renamed back to `.ready` if Redis fails midway;
- `dead-<pid>.jsonl`          commands Redis refused as malformed (kept for an operator; not replayed).
Replaying a command twice is harmless: the SETTLE script bills a request id once.
A torn last line (a crash mid-write) is skipped with a warning.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path

from ext_proc.governance.settlement import SettleCommand

__all__ = ["Spool"]

_logger = logging.getLogger(__name__)


class Spool:
    """Append, seal, claim and read spool files (blocking file I/O: call through a thread)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._active = directory / f"active-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        # append (writer thread) and claim (replayer thread) must not interleave: a write into a file
        # that claim just sealed and the replayer already read would be deleted with it.
        self._lock = threading.Lock()
        for leftover in directory.glob("active-*.jsonl"):
            if leftover != self._active:
                leftover.rename(leftover.with_suffix(".ready"))
        for claimed in directory.glob("*.replaying-*"):
            claimed.rename(directory / (claimed.name.split(".replaying-")[0] + ".ready"))

    def append(self, commands: Sequence[SettleCommand], *, dead: bool = False) -> None:
        """Write `commands` durably (flush + fsync) before returning."""
        if not commands:
            return
        path = self.directory / f"dead-{os.getpid()}.jsonl" if dead else self._active
        with self._lock, path.open("ab") as file:
            file.write(b"".join(command.to_line() + b"\n" for command in commands))
            file.flush()
            os.fsync(file.fileno())

    def has_pending(self) -> bool:
        return self._active.exists() or any(self.directory.glob("*.ready"))

    def claim(self) -> list[Path]:
        """Seal the active file and claim every ready file for replay."""
        with self._lock:
            if self._active.exists():
                self._active.rename(self.directory / f"{self._active.stem}-{uuid.uuid4().hex[:8]}.ready")
        claimed: list[Path] = []
        for ready in sorted(self.directory.glob("*.ready")):
            target = ready.with_name(f"{ready.stem}.replaying-{uuid.uuid4().hex[:8]}")
            try:
                ready.rename(target)
            except FileNotFoundError:
                continue  # another replayer took it
            claimed.append(target)
        return claimed

    @staticmethod
    def read(path: Path) -> list[SettleCommand]:
        commands: list[SettleCommand] = []
        for number, line in enumerate(path.read_bytes().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                commands.append(SettleCommand.from_line(line))
            except (ValueError, KeyError, TypeError):
                _logger.warning("spool %s line %d is unreadable (torn write?); skipped", path.name, number)
        return commands

    def done(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def give_back(self, path: Path) -> None:
        """Return a claimed file to the ready set (its replay stopped midway)."""
        path.rename(self.directory / (path.name.split(".replaying-")[0] + ".ready"))
