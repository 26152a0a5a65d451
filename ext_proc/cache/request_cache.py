"""One chat-completion request's dealings with the response cache, for the inference processor.

    cache = RequestCache.open(response_cache, headers=..., document=..., tenant=..., model=..., settings=...)
    hit = await cache.lookup()                    # after admission; None = go upstream
    reply = cache.hit_reply(hit, ...)             # a hit: JSON or a whole SSE body
    ... response ...
    cache.observe_chunk(document)                 # each SSE chunk (wired to SseUsageReader)
    cache.complete_json(document) / cache.complete_stream(done=..., error=...)

`status` is what the client's `x-tollway-cache` header says: `hit`, `miss` (looked up, not found) or
`bypass` (not looked up: caching off, `Cache-Control: no-cache` / `no-store`, or a request the cache
never serves such as `n > 1`). Only complete answers are stored, and never under `no-store`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from control_plane.keys import cache_namespace
from control_plane.model import (
    CACHE_HEADER,
    CACHE_LAYER_HEADER,
    CACHE_SIMILARITY_HEADER,
    CacheLayer,
    CacheSettings,
    HitBilling,
)
from ext_proc.cache.answer import SseAnswerAssembler, answer_from_response, render_json, render_sse
from ext_proc.cache.contracts import CachedAnswer, CacheHit, CacheRequest, Vector
from ext_proc.cache.request_key import CacheDirectives, cache_request
from ext_proc.cache.service import ResponseCache
from ext_proc.exchange import Immediate

__all__ = ["CacheStatus", "RequestCache"]


class CacheStatus(StrEnum):
    HIT = "hit"
    MISS = "miss"
    BYPASS = "bypass"


class RequestCache:
    __slots__ = (
        "_assembler",
        "_cache",
        "_directives",
        "_generation",
        "_request",
        "_settings",
        "_tenant",
        "_vector",
        "status",
    )

    def __init__(
        self,
        cache: ResponseCache | None,
        request: CacheRequest | None,
        settings: CacheSettings,
        directives: CacheDirectives,
        tenant: str,
    ) -> None:
        self._cache = cache
        self._request = request
        self._settings = settings
        self._directives = directives
        self._tenant = tenant
        self._generation: int | None = None
        self._vector: Vector | None = None
        self._assembler: SseAnswerAssembler | None = None
        self.status = CacheStatus.BYPASS

    @classmethod
    def open(
        cls,
        cache: ResponseCache | None,
        *,
        headers: Mapping[str, str],
        document: dict[str, Any],
        tenant: str,
        model: str,
        settings: CacheSettings,
    ) -> RequestCache:
        directives = CacheDirectives.from_headers(headers)
        request: CacheRequest | None = None
        if cache is not None and settings.enabled and not directives.no_store:
            keyed = cache_request(
                document, namespace=cache_namespace(tenant, settings.namespace), model=model
            )
            request = keyed if isinstance(keyed, CacheRequest) else None
        return cls(cache, request, settings, directives, tenant)

    @property
    def hit_billing(self) -> HitBilling:
        return self._settings.hit_billing

    @property
    def storing(self) -> bool:
        """The answer will be stored if it turns out complete."""
        return self._request is not None and self._generation is not None

    async def lookup(self) -> CacheHit | None:
        """Look the request up (unless bypassed); remembers what storing the answer needs."""
        cache, request = self._cache, self._request
        if cache is None or request is None:
            self._count("bypasses")
            return None
        if self._directives.no_cache:
            self._count("bypasses")
            self._generation = await cache.generation(request.namespace)
            return None
        found = await cache.lookup(request, self._settings, max_age_s=self._directives.max_age_s)
        self._generation, self._vector = found.generation, found.vector
        if found.hit is None:
            self.status = CacheStatus.MISS
            self._count("misses")
            return None
        self.status = CacheStatus.HIT
        self._count("hits_exact" if found.hit.layer is CacheLayer.EXACT else "hits_semantic")
        self._generation = None  # nothing to store
        return found.hit

    def headers(self) -> tuple[tuple[str, str], ...]:
        return ((CACHE_HEADER, self.status.value),)

    def hit_reply(
        self,
        hit: CacheHit,
        *,
        request_id: str,
        stream: bool,
        include_usage: bool,
        extra_headers: tuple[tuple[str, str], ...],
    ) -> Immediate:
        created = int(time.time())
        if stream:
            body = render_sse(hit.answer, request_id=request_id, created=created, include_usage=include_usage)
            content_type = "text/event-stream"
        else:
            body = render_json(hit.answer, request_id=request_id, created=created)
            content_type = "application/json"
        headers: list[tuple[str, str]] = [
            ("content-type", content_type),
            ("x-request-id", request_id),
            ("cache-control", "no-cache"),
            *self.headers(),
            (CACHE_LAYER_HEADER, hit.layer.value),
            ("age", str(max(int(hit.age_s), 0))),
        ]
        if hit.similarity is not None:
            headers.append((CACHE_SIMILARITY_HEADER, f"{hit.similarity:.4f}"))
        return Immediate(200, body, (*headers, *extra_headers), details="tollway_cache_hit")

    def record_saving(self, hit: CacheHit, *, full_cost_pico: int, billed_cost_pico: int) -> None:
        self._count("saved_prompt_tokens", hit.answer.prompt_tokens)
        self._count("saved_completion_tokens", hit.answer.completion_tokens)
        self._count("saved_cost_pico", max(full_cost_pico - billed_cost_pico, 0))

    # -- the upstream's answer -------------------------------------------------------------------

    def observe_chunk(self, document: dict[str, Any]) -> None:
        """One parsed SSE chunk of the upstream's stream."""
        if self.storing:
            if self._assembler is None:
                self._assembler = SseAnswerAssembler()
            self._assembler.feed(document)

    def complete_stream(self, *, done: bool, error: bool) -> None:
        if self._assembler is not None:
            self._store(self._assembler.finish(done=done, error=error))
            self._assembler = None

    def complete_json(self, document: dict[str, Any] | None) -> None:
        if self.storing and document is not None:
            self._store(answer_from_response(document))

    def _store(self, answer: CachedAnswer | None) -> None:
        cache, request, generation = self._cache, self._request, self._generation
        self._generation = None  # at most once
        if answer is None or cache is None or request is None or generation is None:
            return
        cache.store_later(
            self._tenant, request, self._settings, answer, generation=generation, vector=self._vector
        )

    def _count(self, field: str, amount: int = 1) -> None:
        if self._cache is not None:
            self._cache.stats.count(self._tenant, field, amount)
