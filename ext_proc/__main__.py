"""`python -m ext_proc [--port N] …`: one ext_proc process; SIGINT/SIGTERM stop it gracefully."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Callable, Sequence

import uvloop

from ext_proc.app import run
from ext_proc.settings import ExtProcSettings

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ext_proc",
        description="Tollway's Envoy external processor (TOLLWAY_EXT_PROC_* env too)",
    )
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--redis-url")
    parser.add_argument("--log-level")
    overrides = {name: value for name, value in vars(parser.parse_args(argv)).items() if value is not None}
    settings = ExtProcSettings(**overrides)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = (
        uvloop.new_event_loop if settings.use_uvloop else None
    )
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_serve_until_signalled(settings))
    return 0


async def _serve_until_signalled(settings: ExtProcSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await run(settings, stop=stop)


if __name__ == "__main__":
    raise SystemExit(main())
