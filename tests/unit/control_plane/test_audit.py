"""The audit log in a real (embedded) Valkey: newest first, filters, paging by id, the cap, unreadable
entries skipped, and an outage reported as StoreUnavailableError."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from control_plane.audit import RedisAuditLog
from control_plane.errors import StoreUnavailableError
from control_plane.keys import ADMIN_AUDIT
from control_plane.model import AuditEntry
from control_plane.redis_client import connect

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
async def client(valkey_url: str) -> AsyncIterator[aioredis.Redis]:
    client = connect(valkey_url)
    await client.flushdb()
    yield client
    await client.aclose()


def _entry(i: int, actor: str = "ada", action: str = "tenant.put", target: str = "acme") -> AuditEntry:
    return AuditEntry(
        at=T0 + timedelta(seconds=i),
        actor=actor,
        action=action,
        target=target,
        before=None if i == 0 else {"n": i - 1},
        after={"n": i},
    )


async def test_pages_newest_first_and_continues_with_next_before(client: aioredis.Redis) -> None:
    log = RedisAuditLog(client)
    for i in range(7):
        await log.append(_entry(i))
    first = await log.page(limit=3)
    assert [e.after for _, e in first.entries] == [{"n": 6}, {"n": 5}, {"n": 4}]
    assert first.next_before == first.entries[-1][0]
    second = await log.page(limit=3, before=first.next_before)
    assert [e.after for _, e in second.entries] == [{"n": 3}, {"n": 2}, {"n": 1}]
    third = await log.page(limit=3, before=second.next_before)
    assert [e.after for _, e in third.entries] == [{"n": 0}]
    assert third.next_before is None
    assert third.entries[0][1] == _entry(0)  # round-trips exactly


async def test_filters_by_actor_action_prefix_and_target(client: aioredis.Redis) -> None:
    log = RedisAuditLog(client)
    await log.append(_entry(0, actor="ada", action="tenant.put", target="acme"))
    await log.append(_entry(1, actor="bob", action="tenant.remove", target="acme"))
    await log.append(_entry(2, actor="ada", action="key.revoke", target="k1"))
    await log.append(_entry(3, actor="token", action="tenant.put", target="globex"))
    ada = await log.page(actor="ada")
    assert [e.target for _, e in ada.entries] == ["k1", "acme"]
    tenants = await log.page(action="tenant.")
    assert [e.actor for _, e in tenants.entries] == ["token", "bob", "ada"]
    acme = await log.page(target="acme", action="tenant.put")
    assert [e.actor for _, e in acme.entries] == ["ada"]
    assert (await log.page(actor="nobody")).entries == ()


async def test_a_bounded_scan_says_where_to_continue(client: aioredis.Redis) -> None:
    log = RedisAuditLog(client)
    await log.append(_entry(0, actor="rare"))
    for i in range(1, 1_201):
        await log.append(_entry(i))
    page = await log.page(actor="rare", max_scan=1_000)
    assert page.entries == ()
    assert page.next_before is not None  # not the end: more to look at
    rest = await log.page(actor="rare", before=page.next_before)
    assert [e.actor for _, e in rest.entries] == ["rare"]


async def test_the_stream_is_capped_near_max_entries(client: aioredis.Redis) -> None:
    log = RedisAuditLog(client, max_entries=100)
    for i in range(1_000):
        await log.append(_entry(i))
    assert await client.xlen(ADMIN_AUDIT) < 300  # approximate trimming keeps about 100
    newest = (await log.page(limit=1)).entries[0][1]
    assert newest.after == {"n": 999}


async def test_unreadable_entries_are_skipped(client: aioredis.Redis) -> None:
    log = RedisAuditLog(client)
    await log.append(_entry(0))
    await client.xadd(ADMIN_AUDIT, {"a": b"{not json"})
    await client.xadd(ADMIN_AUDIT, {"other": b"x"})
    page = await log.page()
    assert [e.after for _, e in page.entries] == [{"n": 0}]


async def test_an_unreachable_store_is_store_unavailable() -> None:
    client = connect("redis://127.0.0.1:1/0")
    log = RedisAuditLog(client)
    with pytest.raises(StoreUnavailableError):
        await log.append(_entry(0))
    with pytest.raises(StoreUnavailableError):
        await log.page()
    await client.aclose()


@pytest.mark.parametrize(
    "cursor", ["0-0", "99999999999999999999-0", "1-99999999999999999999", "x-1", "-", "12"]
)
async def test_a_bad_cursor_lists_from_the_newest_not_an_outage(client: aioredis.Redis, cursor: str) -> None:
    log = RedisAuditLog(client)
    await log.append(_entry(0))
    page = await log.page(before=cursor)
    assert [e.after for _, e in page.entries] == [{"n": 0}]
