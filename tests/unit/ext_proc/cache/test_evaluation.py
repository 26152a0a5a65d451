"""The evaluation harness, and the labelled pair set run through the real offline embedder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from control_plane.model import DEFAULT_CACHE_POLICY
from ext_proc.cache.contracts import Vector
from ext_proc.cache.evaluation import LabelledPair, evaluate, load_pairs

PAIRS = Path(__file__).parents[4] / "bench" / "cache_eval" / "pairs.jsonl"
TRAP_KINDS = {
    "numbers",
    "negation",
    "entity_swap",
    "order",
    "scope",
    "antonym",
    "unit_direction",
    "date",
    "symbols",
}


def constant_embed(text: str) -> Vector:
    return np.ones(4, dtype=np.float32) / 2.0  # every pair has cosine 1.0


def test_load_pairs(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    rows = [
        {"stored": "a b", "query": "a  b", "label": "same", "kind": "paraphrase", "split": "tune"},
        {"stored": "yes", "query": "yes", "label": "different", "kind": "multi_turn", "split": "holdout",
         "partitioned": True},
    ]  # fmt: skip
    path.write_text("# comment\n\n" + "\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    assert load_pairs(path) == [
        LabelledPair("a b", "a  b", "same", "paraphrase", "tune"),
        LabelledPair("yes", "yes", "different", "multi_turn", "holdout", partitioned=True),
    ]


def test_load_pairs_rejects_bad_labels(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"stored": "a", "query": "b", "label": "maybe", "kind": "x", "split": "tune"}))
    with pytest.raises(ValueError, match="bad label"):
        load_pairs(path)


def test_evaluate_counts_hits_traps_and_partitioned_pairs() -> None:
    pairs = [
        LabelledPair("What is 2+2?", "what is 2 + 2", "same", "paraphrase", "tune"),
        LabelledPair("What is 2+2?", "What is 2+3?", "different", "numbers", "tune"),
        LabelledPair("Capital of France?", "capital of france", "different", "entity_swap", "holdout"),
        LabelledPair(
            "yes, cancel it", "yes, cancel it", "different", "multi_turn", "holdout", partitioned=True
        ),
    ]
    report = evaluate(pairs, constant_embed, 0.9)
    assert [r.hit for r in report.results] == [True, False, True, False]
    assert report.overall.hits == 2
    assert report.overall.correct_hits == 1
    assert report.overall.precision == 0.5
    assert report.overall.hit_rate == 1.0
    assert report.overall.trap_precision == pytest.approx(1 / 2)  # the partitioned pair is not a trap refused
    assert (report.overall.pairs, report.overall.partitioned, report.overall.different) == (4, 1, 2)
    assert [r.pair.kind for r in report.overall.false_hits] == ["entity_swap"]
    assert report.splits["tune"].precision == 1.0
    assert report.splits["holdout"].precision == 0.0
    assert report.kinds[("all", "multi_turn")].traps_missed == 0
    assert report.kinds[("all", "multi_turn")].partitioned == 1
    assert evaluate(pairs, constant_embed, 0.9, precomputed=[1.0] * 4).overall.hits == 2
    with pytest.raises(ValueError, match="one similarity per pair"):
        evaluate(pairs, constant_embed, 0.9, precomputed=[1.0])


def test_pair_set_shape() -> None:
    pairs = load_pairs(PAIRS)
    traps = [p for p in pairs if p.kind in TRAP_KINDS]
    assert len(pairs) >= 250
    assert len(traps) >= 150
    assert all(p.label == "different" for p in traps)
    assert {p.kind for p in pairs} == TRAP_KINDS | {"paraphrase", "near_repeat", "multi_turn"}
    assert all(p.partitioned for p in pairs if p.kind == "multi_turn")
    assert 0.25 <= sum(p.split == "holdout" for p in pairs) / len(pairs) <= 0.35
    assert len({(p.stored, p.query) for p in pairs}) == len(pairs)


def test_real_embedder_over_the_pair_set_at_the_default_threshold() -> None:
    from ext_proc.cache.onnx_embedder import OnnxEmbedder

    report = evaluate(load_pairs(PAIRS), OnnxEmbedder().embed_sync, DEFAULT_CACHE_POLICY.similarity_threshold)
    false_hits = [(r.pair.stored, r.pair.query, r.decision.reason) for r in report.overall.false_hits]
    assert report.overall.trap_precision >= 0.99, false_hits
    assert report.overall.precision >= 0.99, false_hits
    # measured 0.885 overall (tune 0.890, holdout 0.875) at 0.90; the floor leaves room for model drift
    assert report.overall.hit_rate >= 0.8
    for split in ("tune", "holdout"):
        assert report.splits[split].precision >= 0.99, (split, false_hits)
        assert report.splits[split].hit_rate >= 0.75, split
