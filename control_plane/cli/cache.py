"""`tollway cache stats|reset-stats|purge`: the response cache's counters per tenant, and purges."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from control_plane.cli.connection import AdminUrlOpt, JsonOpt, StateDirOpt, TokenOpt, admin, fail
from control_plane.cli.output import print_json, print_table
from control_plane.usage import format_micro

__all__ = ["STATS_HEADERS", "app", "stats_row"]

app = typer.Typer(
    help="Response cache: hit rates and savings per tenant; purge cached answers.", no_args_is_help=True
)

STATS_HEADERS = (
    "TENANT", "HITS", "EXACT", "SEMANTIC", "MISSES", "BYPASSES", "HIT RATE", "STORED", "SAVED TOKENS",
    "SAVED COST",
)  # fmt: skip


def stats_row(stats: Mapping[str, Any]) -> tuple[object, ...]:
    """One tenant's counters as a table row (saved tokens = prompt + completion)."""
    saved_tokens = stats["saved_prompt_tokens"] + stats["saved_completion_tokens"]
    return (
        stats["tenant"], stats["hits"], stats["hits_exact"], stats["hits_semantic"], stats["misses"],
        stats["bypasses"], f"{stats['hit_rate']:.1%}", stats["stored"], saved_tokens,
        format_micro(stats["saved_cost_micro"]),
    )  # fmt: skip


@app.command("stats")
def cache_stats(
    tenant: Annotated[str | None, typer.Argument(help="tenant id; omit for every tenant")] = None,
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cache counters of TENANT (or of every tenant): hits per layer, misses, bypasses, hit rate (hits /
    (hits + misses)), answers stored, and what hits saved (tokens and cost, in currency units)."""
    with admin(state_dir, admin_url, token) as client:
        result = client.cache_stats(tenant)
    if as_json:
        print_json(result)
        return
    rows = [stats_row(result)] if tenant is not None else [stats_row(s) for s in result["tenants"]]
    print_table(STATS_HEADERS, rows)


@app.command("reset-stats")
def cache_reset_stats(
    tenant: Annotated[str, typer.Argument(help="tenant id")],
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Zero TENANT's cache counters (cached answers are kept; see `purge` for those)."""
    with admin(state_dir, admin_url, token) as client:
        result = client.reset_cache_stats(tenant)
    if as_json:
        print_json(result)
        return
    typer.echo(f"reset: cache counters of tenant {result['tenant']}")


@app.command("purge")
def cache_purge(
    tenant: Annotated[str | None, typer.Option(help="purge this tenant's own namespace")] = None,
    namespace: Annotated[
        str | None, typer.Option(help="purge this shared namespace (every tenant's)")
    ] = None,
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Invalidate every cached answer of a tenant's own namespace (--tenant) or of a shared namespace
    (--namespace). Takes effect at once on every gateway replica; nothing else is touched."""
    if (tenant is None) == (namespace is None):
        fail("give exactly one of --tenant or --namespace")
    with admin(state_dir, admin_url, token) as client:
        if tenant is not None:
            result = client.purge_tenant_cache(tenant)
        else:
            assert namespace is not None
            result = client.purge_cache_namespace(namespace)
    if as_json:
        print_json(result)
        return
    typer.echo(f"purged: cache namespace {result['namespace']} (generation {result['generation']})")
