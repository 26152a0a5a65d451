"""A fresh install with nothing registered still serves: Envoy gets a listener, /v1/models is empty."""

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
        models = httpx.get(f"{info.listener_url}/models")
        assert models.status_code == 200
        assert models.json() == {"object": "list", "data": []}
        chat = httpx.post(f"{info.listener_url}/chat/completions", json={"model": "demo", "messages": []})
        assert chat.status_code == 404
        assert chat.json()["error"]["code"] == "model_not_found"
