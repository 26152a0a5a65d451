"""`RedisAnswerStore`: the cached answers in Redis, the cache's truth (an `AnswerStore`).

Keys (`control_plane.keys`), all of one namespace in one Cluster slot (hash tag `{c:<namespace>}`):

    tw:{c:<ns>}:gen           string (integer): the namespace's generation, 0 when unset; purge bumps it
    tw:{c:<ns>}:e:<entry id>  hash, with the entry's TTL:
                                  answer  orjson of the `CachedAnswer` fields
                                  ns      the namespace          part  the partition
                                  prompt  the prompt (absent when the entry has none)
                                  gen     the generation it was written in
                                  at      Unix time it was stored

A write is one Lua script (generation check + DEL + HSET + EXPIRE, atomically): an entry is only written
in the namespace's current generation, so an answer computed before a purge never lands after it. A read
is one pipeline (GET generation + HGETALL per id) and serves only entries of the current generation.

Entries written with a vector are announced on the index feed (`CACHE_FEED`, an `EntryAdded`, XADD MAXLEN
~); a purge (`control_plane.cache_admin.purge_cache_namespace`) announces a `NamespacePurged`. The feed
lives in another slot and is written by a separate command: it is only a hint for the replicas' local
indexes, and every candidate is re-read here.

Failing open: a Redis error or a call slower than `timeout_s` makes `read` return [], `write` False and
`generation` None (a cache miss, never an error to the client). After a failure the store does not try
Redis again for `retry_s`, so an unreachable Redis costs one request `timeout_s` per `retry_s`, not every
request. Failures are logged once per `quiet_s` (`ThrottledLog`). Purges are not
here: the admin API runs them and reports a failure, because a purge silently not done is worse than an
error.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from redis.exceptions import RedisError

from control_plane.cache_feed import CACHE_FEED_MAXLEN, EntryAdded, NamespacePurged, encode_feed_event
from control_plane.keys import CACHE_FEED, cache_entry, cache_generation
from control_plane.redis_client import RedisClient
from ext_proc.cache.contracts import CachedAnswer, CacheEntry, Vector
from ext_proc.cache.similarity import vector_to_bytes

__all__ = ["RedisAnswerStore", "ThrottledLog", "decode_answer", "encode_answer"]

_logger = logging.getLogger(__name__)

_REDIS_ERRORS = (RedisError, OSError, TimeoutError)

# KEYS: generation, entry. ARGV: generation, ttl_s, answer, ns, part, at, has_prompt ("1"/"0"), prompt.
_WRITE = """
local current = redis.call('GET', KEYS[1])
if current == false then current = '0' end
if current ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'answer', ARGV[3], 'ns', ARGV[4], 'part', ARGV[5], 'gen', ARGV[1], 'at', ARGV[6])
if ARGV[7] == '1' then redis.call('HSET', KEYS[2], 'prompt', ARGV[8]) end
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""


class ThrottledLog:
    """Logs a recurring warning at most once per `quiet_s`; the ones in between go to debug, counted."""

    def __init__(
        self, logger: logging.Logger, *, quiet_s: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._logger = logger
        self._quiet_s = quiet_s
        self._clock = clock
        self._next = float("-inf")
        self._suppressed = 0

    def warning(self, message: str, *args: object) -> None:
        now = self._clock()
        if now < self._next:
            self._suppressed += 1
            self._logger.debug(message, *args)
            return
        if self._suppressed:
            message = f"{message} ({self._suppressed} similar warnings suppressed)"
        self._suppressed = 0
        self._next = now + self._quiet_s
        self._logger.warning(message, *args)


def encode_answer(answer: CachedAnswer) -> bytes:
    """The `answer` field of an entry hash."""
    return orjson.dumps(dataclasses.asdict(answer))


def _optional_str(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ValueError("expected a string or null")


def _int(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError("expected an integer")


def _str(value: object) -> str:
    if isinstance(value, str):
        return value
    raise ValueError("expected a string")


def decode_answer(raw: bytes | str) -> CachedAnswer:
    """The `CachedAnswer` in an entry's `answer` field; ValueError if it is not one."""
    fields: Any = orjson.loads(raw)
    if not isinstance(fields, dict):
        raise ValueError("the answer is not a JSON object")
    return CachedAnswer(
        content=_str(fields["content"]),
        model=_str(fields["model"]),
        prompt_tokens=_int(fields["prompt_tokens"]),
        completion_tokens=_int(fields["completion_tokens"]),
        system_fingerprint=_optional_str(fields.get("system_fingerprint")),
        refusal=_optional_str(fields.get("refusal")),
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _field(fields: Mapping[Any, Any], name: str) -> Any:
    value = fields.get(name.encode())
    return fields.get(name) if value is None else value


def _decode_entry(entry_id: str, fields: Mapping[Any, Any]) -> CacheEntry:
    """The entry in an HGETALL reply (bytes or str keys); ValueError/KeyError/TypeError if malformed."""
    answer, namespace, partition = _field(fields, "answer"), _field(fields, "ns"), _field(fields, "part")
    generation, stored_at = _field(fields, "gen"), _field(fields, "at")
    if answer is None or namespace is None or partition is None or generation is None or stored_at is None:
        raise ValueError("a field is missing")
    prompt = _field(fields, "prompt")
    return CacheEntry(
        entry_id=entry_id,
        namespace=_text(namespace),
        partition=_text(partition),
        prompt=None if prompt is None else _text(prompt),
        answer=decode_answer(answer),
        generation=int(generation),
        stored_at=float(stored_at),
    )


def _generation(raw: bytes | str | None) -> int:
    return 0 if raw is None else int(raw)


class RedisAnswerStore:
    """Cached answers in Redis (see the module doc); every method fails open."""

    def __init__(
        self,
        client: RedisClient,
        *,
        feed_maxlen: int = CACHE_FEED_MAXLEN,
        timeout_s: float = 0.25,
        retry_s: float = 1.0,
        quiet_s: float = 30.0,
    ) -> None:
        self._client = client
        self._feed_maxlen = feed_maxlen
        self._timeout_s = timeout_s
        self._retry_s = retry_s
        self._down_until = float("-inf")
        self._log = ThrottledLog(_logger, quiet_s=quiet_s)
        self._write = client.register_script(_WRITE)

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, operation: str, exc: BaseException) -> None:
        self._down_until = time.monotonic() + self._retry_s
        self._log.warning(
            "cache %s failed (%s: %s); serving without the cache for now", operation, type(exc).__name__, exc
        )

    async def read(self, namespace: str, entry_ids: list[str]) -> list[CacheEntry]:
        ids = list(dict.fromkeys(entry_ids))
        if not ids or not self._available():
            return []
        try:
            async with asyncio.timeout(self._timeout_s), self._client.pipeline(transaction=False) as pipe:
                pipe.get(cache_generation(namespace))
                for entry_id in ids:
                    pipe.hgetall(cache_entry(namespace, entry_id))
                replies = await pipe.execute()
        except _REDIS_ERRORS as exc:
            self._failed("read", exc)
            return []
        try:
            current = _generation(replies[0])
        except ValueError:
            _logger.debug("the generation of cache namespace %s is not an integer", namespace)
            return []
        entries: list[CacheEntry] = []
        for entry_id, fields in zip(ids, replies[1:], strict=True):
            if not fields:
                continue
            try:
                entry = _decode_entry(entry_id, fields)
            except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
                _logger.debug("skipping malformed cache entry %s/%s: %s", namespace, entry_id, exc)
                continue
            if entry.generation == current and entry.namespace == namespace:
                entries.append(entry)
        return entries

    async def write(self, entry: CacheEntry, vector: Vector | None, *, ttl_s: int, embedder: str) -> bool:
        if ttl_s <= 0 or not self._available():
            return False
        args: list[bytes | str | int] = [
            str(entry.generation),
            int(ttl_s),
            encode_answer(entry.answer),
            entry.namespace,
            entry.partition,
            repr(float(entry.stored_at)),
            "0" if entry.prompt is None else "1",
            entry.prompt or "",
        ]
        keys = [cache_generation(entry.namespace), cache_entry(entry.namespace, entry.entry_id)]
        try:
            async with asyncio.timeout(self._timeout_s):
                written = await self._write(keys=keys, args=args)
        except _REDIS_ERRORS as exc:
            self._failed("write", exc)
            return False
        if not written:
            _logger.debug(
                "cache entry %s not written: generation %d is stale", entry.entry_id, entry.generation
            )
            return False
        if vector is not None:
            event = EntryAdded(
                namespace=entry.namespace,
                partition=entry.partition,
                entry_id=entry.entry_id,
                generation=entry.generation,
                expires_at=time.time() + ttl_s,
                embedder=embedder,
                vector=vector_to_bytes(vector),
            )
            try:
                async with asyncio.timeout(self._timeout_s):
                    await self._announce(event)
            except _REDIS_ERRORS as exc:  # the entry is stored: only the semantic layer misses it
                self._failed("feed write", exc)
        return True

    async def generation(self, namespace: str) -> int | None:
        if not self._available():
            return None
        try:
            async with asyncio.timeout(self._timeout_s):
                raw = await self._client.get(cache_generation(namespace))
            return _generation(raw)
        except _REDIS_ERRORS as exc:
            self._failed("generation read", exc)
            return None
        except ValueError:
            _logger.debug("the generation of cache namespace %s is not an integer", namespace)
            return None

    async def _announce(self, event: EntryAdded | NamespacePurged) -> None:
        fields: dict[Any, Any] = encode_feed_event(event)
        await self._client.xadd(CACHE_FEED, fields, maxlen=self._feed_maxlen, approximate=True)
