"""Evaluate the semantic cache's match decision (cosine + near-miss guard) on the labelled pair set.

    .venv/bin/python bench/cache_eval.py [--threshold 0.90] [--pairs bench/cache_eval/pairs.jsonl]

Embeds every prompt with the real offline embedder (`OnnxEmbedder`), then prints, per split and per
kind: precision (correct hits / hits), hit rate (hits on `same` pairs), trap precision (`different`
pairs correctly missed), the false hits, and a threshold sweep over the tune split only (the holdout
split is for checking the chosen threshold, never for choosing it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from control_plane.model import DEFAULT_CACHE_POLICY
from ext_proc.cache.evaluation import EvaluationReport, Stats, evaluate, load_pairs, similarities
from ext_proc.cache.onnx_embedder import OnnxEmbedder

PAIRS = Path(__file__).parent / "cache_eval" / "pairs.jsonl"
SWEEP = [0.80, 0.82, 0.84, 0.86, 0.88, 0.90, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98]


def row(name: str, stats: Stats) -> str:
    return (
        f"  {name:<22} {stats.pairs:>5} {stats.partitioned:>5} {stats.same:>5} {stats.different:>5} {stats.hits:>5}"
        f" {stats.precision:>9.3f} {stats.hit_rate:>8.3f} {stats.trap_precision:>9.3f}"
    )


HEADER = f"  {'':<22} {'pairs':>5} {'part.':>5} {'same':>5} {'diff':>5} {'hits':>5} {'precision':>9} {'hit rate':>8} {'trap prec':>9}"


def print_report(report: EvaluationReport) -> None:
    print(f"\nthreshold {report.threshold:.2f}")
    print(HEADER)
    for split in ("tune", "holdout"):
        if split in report.splits:
            print(row(split, report.splits[split]))
    print(row("all", report.overall))
    for split in ("tune", "holdout", "all"):
        print(f"\n by kind ({split})")
        print(HEADER)
        for (s, kind), stats in sorted(report.kinds.items()):
            if s == split:
                print(row(kind, stats))
    false_hits = report.overall.false_hits
    print(f"\nfalse hits: {len(false_hits)}")
    for result in false_hits:
        p = result.pair
        print(
            f"  [{p.split}/{p.kind}] cos={result.similarity:.3f} {result.decision.reason}: {p.stored!r} -> {p.query!r}"
        )
    missed = [r for r in report.results if r.pair.label == "same" and not r.hit]
    print(f"\nmissed re-typed repeats (label same): {len(missed)}")
    for result in missed:
        p = result.pair
        print(
            f"  [{p.split}/{p.kind}] cos={result.similarity:.3f} {result.decision.reason}: {p.stored!r} -> {p.query!r}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threshold", type=float, default=DEFAULT_CACHE_POLICY.similarity_threshold)
    parser.add_argument("--pairs", type=Path, default=PAIRS)
    args = parser.parse_args()

    pairs = load_pairs(args.pairs)
    embedder = OnnxEmbedder()
    started = time.perf_counter()
    sims = similarities(pairs, embedder.embed_sync)
    print(f"{len(pairs)} pairs, embedded in {time.perf_counter() - started:.1f} s with {embedder.name}")
    print_report(evaluate(pairs, embedder.embed_sync, args.threshold, precomputed=sims))

    tune = [i for i, p in enumerate(pairs) if p.split == "tune"]
    tune_pairs, tune_sims = [pairs[i] for i in tune], [sims[i] for i in tune]
    print("\nthreshold sweep (tune split only)")
    print(
        f"  {'threshold':>9} {'hits':>5} {'precision':>9} {'hit rate':>8} {'trap prec':>9} {'false hits':>10}"
    )
    for threshold in SWEEP:
        stats = evaluate(tune_pairs, embedder.embed_sync, threshold, precomputed=tune_sims).overall
        print(
            f"  {threshold:>9.2f} {stats.hits:>5} {stats.precision:>9.3f} {stats.hit_rate:>8.3f}"
            f" {stats.trap_precision:>9.3f} {len(stats.false_hits):>10}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
