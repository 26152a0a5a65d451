"""The compose deployment in Docker, one project per test module (see tests/support/compose_stack.py).

Needs a Docker engine and the images (`make container` builds them first; a missing image is built
here). With CI=true a missing engine fails the tests instead of skipping them."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.support.compose_stack import ROOT, ComposeStack, docker_available

IMAGES = ("tollway/tollway:latest", "tollway/envoy:latest", "tollway/valkey:latest")
FAST_RECONCILE = {
    "TOLLWAY_EXT_PROC_LEASE_TTL_S": "3",
    "TOLLWAY_EXT_PROC_RECONCILE_INTERVAL_S": "0.5",
    "TOLLWAY_EXT_PROC_RECONCILE_GRACE_S": "0.5",
}


@pytest.fixture(scope="session")
def docker_engine() -> None:
    if docker_available():
        return
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true and no Docker engine answers: the container tests cannot run")
    pytest.skip("no Docker engine (the container tests run where one is; CI fails without it)")


@pytest.fixture(scope="session")
def images(docker_engine: None) -> None:
    client = docker.from_env()
    try:
        missing = [tag for tag in IMAGES if not client.images.list(name=tag)]
    finally:
        client.close()
    if missing:
        subprocess.run([str(ROOT / "compose" / "build-images.sh")], cwd=ROOT, check=True, timeout=1800)


@pytest.fixture(scope="module")
def compose_stack(images: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeStack]:
    stack = ComposeStack(Path(tmp_path_factory.mktemp("compose")), **FAST_RECONCILE)
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
