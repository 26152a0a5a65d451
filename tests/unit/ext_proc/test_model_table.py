"""Compiling a snapshot into the lookup table, and swapping tables."""

from __future__ import annotations

import logging

import orjson
import pytest

from control_plane.model import RegistrySpec, Snapshot
from ext_proc.model_table import ModelTableHolder, TableCompileError, compile_model_table


def test_names_and_aliases_resolve_to_the_canonical_name(snapshot: Snapshot) -> None:
    table = compile_model_table(snapshot)
    assert table.version == 7
    assert dict(table.canonical_names) == {
        "meta-llama/Llama-3-8B": "meta-llama/Llama-3-8B",
        "llama3": "meta-llama/Llama-3-8B",
        "gpt-4o-mini": "gpt-4o-mini",
        "mini": "gpt-4o-mini",
        "small": "gpt-4o-mini",
    }
    assert table.canonical_name("small") == "gpt-4o-mini"
    assert table.canonical_name("Small") is None


def test_model_list_body_lists_names_and_aliases_in_registry_order(snapshot: Snapshot) -> None:
    table = compile_model_table(snapshot)
    listing = orjson.loads(table.model_list_body)
    assert listing["object"] == "list"
    assert [(e["id"], e["owned_by"]) for e in listing["data"]] == [
        ("meta-llama/Llama-3-8B", "meta"),
        ("llama3", "meta"),
        ("gpt-4o-mini", "tollway"),
        ("mini", "tollway"),
        ("small", "tollway"),
    ]
    assert all(e["object"] == "model" and e["created"] == 0 for e in listing["data"])
    assert orjson.loads(table.model_bodies["llama3"]) == {
        "id": "llama3",
        "object": "model",
        "created": 0,
        "owned_by": "meta",
    }
    assert set(table.model_bodies) == set(table.canonical_names)


def test_empty_registry_compiles_to_an_empty_list() -> None:
    table = compile_model_table(Snapshot(version=0))
    assert orjson.loads(table.model_list_body) == {"object": "list", "data": []}
    assert table.canonical_name("anything") is None


def _conflicting_snapshot(snapshots, version: int) -> Snapshot:
    # The registry validates specs; model_construct skips that, as a corrupted feed would.
    spec = RegistrySpec.model_construct(
        models=(snapshots.model("a", "shared"), snapshots.model("b", "shared"))
    )
    return Snapshot.model_construct(version=version, spec=spec)


def test_a_name_claimed_twice_does_not_compile(snapshots) -> None:
    with pytest.raises(TableCompileError, match="'shared'"):
        compile_model_table(_conflicting_snapshot(snapshots, 3))


def test_holder_starts_empty_and_swaps_on_good_snapshots(snapshots) -> None:
    holder = ModelTableHolder()
    assert holder.current is None
    assert holder.load(snapshots(1, ("a",)))
    first = holder.current
    assert holder.load(snapshots(2, ("b", "bee")))
    assert holder.current is not first
    assert holder.current is not None
    assert holder.current.version == 2
    assert holder.current.canonical_name("bee") == "b"
    assert holder.current.canonical_name("a") is None


def test_bad_snapshot_keeps_the_previous_table(snapshots, caplog: pytest.LogCaptureFixture) -> None:
    holder = ModelTableHolder()
    assert holder.load(snapshots(1, ("a", "alpha")))
    kept = holder.current
    with caplog.at_level(logging.ERROR, logger="ext_proc.model_table"):
        assert holder.load(_conflicting_snapshot(snapshots, 2)) is False
    assert holder.current is kept
    assert kept is not None
    assert kept.version == 1
    assert "keeping table v1" in caplog.text


def test_bad_first_snapshot_leaves_no_table(snapshots) -> None:
    holder = ModelTableHolder()
    assert holder.load(_conflicting_snapshot(snapshots, 1)) is False
    assert holder.current is None
