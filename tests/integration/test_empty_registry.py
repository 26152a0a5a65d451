"""A fresh install with nothing registered still serves: Envoy gets a listener and ext_proc answers."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from control_plane.launcher import Stack, StackSettings

pytestmark = pytest.mark.integration


def test_stack_starts_with_an_empty_registry(tmp_path: Path) -> None:
    settings = StackSettings(
        state_dir=tmp_path, listener_port=0, admin_port=0, ext_proc_workers=1, demo=False
    )
    with Stack(settings) as info:
        assert info.demo_api_key is None
        # No tenant and no key exist yet: every key is unknown, and the answer is ext_proc's JSON 401.
        headers = {"Authorization": "Bearer tw-not-a-key"}
        models = httpx.get(f"{info.listener_url}/models", headers=headers)
        assert models.status_code == 401
        assert models.json()["error"]["code"] == "invalid_api_key"
        chat = httpx.post(
            f"{info.listener_url}/chat/completions", json={"model": "demo", "messages": []}, headers=headers
        )
        assert chat.status_code == 401
        assert models.headers["x-request-id"]
