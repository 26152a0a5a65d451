"""`python -m admin_ui`: the admin API process."""

from __future__ import annotations

import asyncio
import logging

from admin_ui.app import run
from admin_ui.settings import AdminSettings


def main() -> None:
    settings = AdminSettings()  # the token comes from TOLLWAY_ADMIN_TOKEN
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s admin %(levelname)s %(message)s"
    )
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
