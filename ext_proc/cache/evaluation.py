"""Offline evaluation of the semantic layer's match decision over a labelled pair set.

Each pair is a stored prompt and a new prompt, labelled `same` (the stored answer serves the new prompt)
or `different` (serving it would be a wrong answer: a trap). A pair is a *hit* when
`guard.semantic_match` accepts it at the given threshold with the cosine similarity of the two prompts'
embeddings. Pairs marked `partitioned` (multi-turn: the same last message in different conversations)
never reach the guard, because their earlier turns put them in different partitions: they are misses
by construction, so they are counted apart (`partitioned`) and left out of every figure below.

Figures (per split, per kind and overall):
  precision       correct hits / hits (1.0 when there are no hits)
  hit rate        hits on `same` pairs / `same` pairs (recall of re-typed repeats)
  trap precision  `different` pairs correctly missed / `different` pairs
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ext_proc.cache.contracts import Vector
from ext_proc.cache.guard import MatchDecision, semantic_match

__all__ = [
    "EvaluationReport",
    "LabelledPair",
    "PairResult",
    "Stats",
    "evaluate",
    "load_pairs",
    "similarities",
]

Label = Literal["same", "different"]
Split = Literal["tune", "holdout"]


@dataclass(frozen=True, slots=True)
class LabelledPair:
    stored: str
    query: str
    label: Label
    kind: str
    split: Split
    partitioned: bool = False
    """Separated by the partition (earlier turns differ), not by the guard."""


@dataclass(frozen=True, slots=True)
class PairResult:
    pair: LabelledPair
    similarity: float
    decision: MatchDecision
    hit: bool
    """The guard accepted and the pair shares a partition."""

    @property
    def correct(self) -> bool:
        return self.hit == (self.pair.label == "same")


@dataclass(slots=True)
class Stats:
    pairs: int = 0
    partitioned: int = 0
    """Pairs the partition separates (never judged by the guard; in no figure)."""
    same: int = 0
    different: int = 0
    hits: int = 0
    correct_hits: int = 0
    traps_missed: int = 0
    false_hits: list[PairResult] = field(default_factory=list)

    def add(self, result: PairResult) -> None:
        self.pairs += 1
        if result.pair.partitioned:
            self.partitioned += 1
            return
        same = result.pair.label == "same"
        self.same += same
        self.different += not same
        self.hits += result.hit
        self.correct_hits += result.hit and same
        self.traps_missed += not same and not result.hit
        if result.hit and not same:
            self.false_hits.append(result)

    @property
    def precision(self) -> float:
        return self.correct_hits / self.hits if self.hits else 1.0

    @property
    def hit_rate(self) -> float:
        return self.correct_hits / self.same if self.same else 0.0

    @property
    def trap_precision(self) -> float:
        return self.traps_missed / self.different if self.different else 1.0


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    threshold: float
    results: tuple[PairResult, ...]
    overall: Stats
    splits: dict[str, Stats]
    kinds: dict[tuple[str, str], Stats]
    """Keyed by (split, kind); split "all" aggregates both."""


def load_pairs(path: str | Path) -> list[LabelledPair]:
    """Read a JSON-lines pair file (blank lines and lines starting with `#` are skipped)."""
    pairs: list[LabelledPair] = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        row = json.loads(line)
        if row["label"] not in ("same", "different") or row["split"] not in ("tune", "holdout"):
            raise ValueError(f"{path}:{number}: bad label or split")
        pairs.append(
            LabelledPair(
                stored=str(row["stored"]),
                query=str(row["query"]),
                label=row["label"],
                kind=str(row["kind"]),
                split=row["split"],
                partitioned=bool(row.get("partitioned", False)),
            )
        )
    return pairs


def similarities(pairs: Iterable[LabelledPair], embed: Callable[[str], Vector]) -> list[float]:
    """The cosine similarity of each pair (each distinct text embedded once)."""
    vectors: dict[str, Vector] = {}

    def vector(text: str) -> Vector:
        if text not in vectors:
            vectors[text] = embed(text)
        return vectors[text]

    return [float(vector(p.stored) @ vector(p.query)) for p in pairs]


def evaluate(
    pairs: list[LabelledPair],
    embed: Callable[[str], Vector],
    threshold: float,
    *,
    precomputed: list[float] | None = None,
) -> EvaluationReport:
    """Run the semantic-match decision over `pairs` at `threshold` (cosine of `embed` vectors).

    `precomputed` (one similarity per pair, from `similarities`) skips embedding, for threshold sweeps."""
    sims = precomputed if precomputed is not None else similarities(pairs, embed)
    if len(sims) != len(pairs):
        raise ValueError("one similarity per pair")
    results: list[PairResult] = []
    overall = Stats()
    splits: dict[str, Stats] = {}
    kinds: dict[tuple[str, str], Stats] = {}
    for pair, similarity in zip(pairs, sims, strict=True):
        decision = semantic_match(pair.stored, pair.query, similarity, threshold)
        result = PairResult(pair, similarity, decision, hit=decision.accepted and not pair.partitioned)
        results.append(result)
        overall.add(result)
        splits.setdefault(pair.split, Stats()).add(result)
        for split in (pair.split, "all"):
            kinds.setdefault((split, pair.kind), Stats()).add(result)
    return EvaluationReport(threshold, tuple(results), overall, splits, kinds)
