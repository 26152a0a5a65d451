"""`python -m xds`: the xDS (ADS) server process."""

from __future__ import annotations

import asyncio
import logging
import signal

import uvloop

from xds.app import run
from xds.settings import XdsSettings

__all__ = ["main"]


async def _serve(settings: XdsSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await run(settings, stop=stop)


def main() -> None:
    settings = XdsSettings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s xds %(levelname)s %(message)s")
    uvloop.run(_serve(settings))


if __name__ == "__main__":
    main()
