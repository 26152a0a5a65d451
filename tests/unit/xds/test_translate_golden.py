"""translate() output, as proto3 JSON, against reviewed golden files.

Regenerate after an intended change with `TOLLWAY_UPDATE_GOLDEN=1 pytest tests/unit/xds` and review the
diff of tests/unit/xds/golden/.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.unit.xds.xds_samples import SAMPLES, open_sample_secret
from xds.translate import TranslateOptions, translate

GOLDEN_DIR = Path(__file__).parent / "golden"
UPDATE = os.environ.get("TOLLWAY_UPDATE_GOLDEN") == "1"
OPTIONS = TranslateOptions(
    listener_host="0.0.0.0",
    listener_port=8080,
    ext_proc_cluster="tollway_ext_proc",
    ext_proc_message_timeout_ms=2000,
    max_message_timeout_ms=10_000,
    max_request_bytes=8 * 1024 * 1024,
)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_translation_matches_golden_file(name: str) -> None:
    actual = translate(SAMPLES[name], OPTIONS, open_sample_secret).to_dict()
    path = GOLDEN_DIR / f"{name}.json"
    if UPDATE:
        path.write_text(json.dumps(actual, indent=2) + "\n")
    assert path.exists(), f"{path.name} missing: run with TOLLWAY_UPDATE_GOLDEN=1 and review it"
    assert json.loads(path.read_text()) == actual


def test_every_golden_file_has_a_sample() -> None:
    assert sorted(p.stem for p in GOLDEN_DIR.glob("*.json")) == sorted(SAMPLES)


def test_golden_output_is_byte_stable_across_runs() -> None:
    for snapshot in SAMPLES.values():
        first = translate(snapshot, OPTIONS, open_sample_secret)
        second = translate(snapshot, OPTIONS, open_sample_secret)
        assert json.dumps(first.to_dict()) == json.dumps(second.to_dict())
        for name, cluster in first.clusters.items():
            assert bytes(cluster) == bytes(second.clusters[name])
