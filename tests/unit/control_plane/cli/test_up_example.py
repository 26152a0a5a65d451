from pathlib import Path
from types import SimpleNamespace
from typing import cast

from control_plane.cli.up import _summary, openai_example
from control_plane.launcher import StackInfo


def _info(demo_api_key: str | None) -> StackInfo:
    return cast(StackInfo, SimpleNamespace(
        listener_url="http://127.0.0.1:8080/v1", admin_url="http://127.0.0.1:8081", admin_token="a" * 32,
        envoy_admin_url="http://127.0.0.1:9901", redis_url="redis://x", state_dir=Path("/s"),
        demo_model="demo", demo_api_key=demo_api_key,
    ))  # fmt: skip


def test_the_example_uses_the_demo_key() -> None:
    example = openai_example(_info("tw-secret"))
    assert 'api_key="tw-secret"' in example
    assert 'model="demo"' in example
    compile(example, "example", "exec")  # ready to paste: valid Python
    assert "demo API key    : tw-secret  (also in /s/demo-key)" in _summary(_info("tw-secret"))


def test_without_the_demo_the_example_says_where_keys_come_from() -> None:
    assert "tollway keys create" in openai_example(_info(None))
    assert "demo API key" not in _summary(_info(None))
