"""How fast the admin UI's pages answer with many tenants, on the real stack (Valkey, admin, xds,
ext_proc, Envoy): 10,000 tenants are applied, an admin signs in over HTTP, and each page is fetched
`--requests` times; prints p50 and p95 per page in milliseconds.

    .venv/bin/python bench/ui_pages.py --tenants 10000 --requests 30
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from pydantic import SecretStr

from control_plane.admin_client import AdminClient
from control_plane.launcher import Stack, StackSettings
from control_plane.model import Plan, Tenant
from control_plane.registry.document import RegistryDocument

PASSWORD = "bench password, long enough"
PAGES = (
    "/ui/tenants",
    "/ui/tenants?page=150",
    "/ui/tenants?q=t-0999",
    "/ui/tenants/t-05000",
    "/ui/cache?page=100",
    "/ui/",
    "/ui/audit",
)


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match is not None
    return match.group(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        stack = Stack(StackSettings(state_dir=Path(workdir), listener_port=0, admin_port=0, demo=False))
        info = stack.start()
        try:
            admin = AdminClient(info.admin_url, info.admin_token, timeout_s=120)
            tenants = tuple(
                Tenant(id=f"t-{i:05d}", name=f"Tenant {i}", plan="bench") for i in range(args.tenants)
            )
            started = time.perf_counter()
            admin.apply(RegistryDocument(plans=(Plan(name="bench"),), tenants=tenants))
            print(f"applied {args.tenants:,} tenants in {time.perf_counter() - started:.1f} s")
            admin.create_user("bench", SecretStr(PASSWORD), "admin")
            with httpx.Client(base_url=info.admin_url, timeout=60) as client:
                login = client.get("/ui/login")
                form = {"username": "bench", "password": PASSWORD, "csrf": _csrf(login.text)}
                assert client.post("/ui/login", data=form).status_code == 303
                print(f"{'page':<28} {'p50 ms':>8} {'p95 ms':>8}")
                for page in PAGES:
                    times = []
                    for _ in range(args.requests):
                        begin = time.perf_counter()
                        response = client.get(page)
                        times.append((time.perf_counter() - begin) * 1000)
                        assert response.status_code == 200, (page, response.status_code)
                    times.sort()
                    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
                    print(f"{page:<28} {statistics.median(times):>8.1f} {p95:>8.1f}")
            admin.close()
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
