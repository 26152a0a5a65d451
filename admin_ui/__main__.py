"""`python -m admin_ui`: the admin API process."""

from __future__ import annotations

import asyncio
import logging
import sys

from pydantic import ValidationError

from admin_ui.app import run
from admin_ui.settings import AdminSettings

__all__ = ["main"]


def main() -> None:
    try:
        settings = AdminSettings()  # the token comes from TOLLWAY_ADMIN_TOKEN
    except ValidationError as exc:  # name the fields only: the values may be secrets
        fields = ", ".join(".".join(str(part) for part in error["loc"]) for error in exc.errors())
        sys.exit(f"admin: invalid settings ({fields}); see TOLLWAY_ADMIN_* variables")
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s admin %(levelname)s %(message)s"
    )
    if settings.secret_key is None:
        logging.getLogger("admin_ui").warning(
            "TOLLWAY_ADMIN_SECRET_KEY is not set: upstream credentials cannot be stored"
        )
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
