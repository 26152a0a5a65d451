"""The response cache end to end: real Envoy, Valkey, ext_proc (MiniLM embedder) and mock upstream,
driven with the official `openai` SDK.

The demo upstream echoes the last user message, so a semantic hit is visible in the content: the
client gets the answer stored for the FIRST wording. Each test uses fresh tenants (own namespaces).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from control_plane.launcher import StackInfo
from control_plane.model import CachePolicy, HitBilling, Limits, Tenant
from tests.support.ledger import ledger_records
from tests.support.tenants import ProvisionedTenant, TenantFactory

Messages = list[dict[str, str]]


@pytest.fixture
def cached_tenant(tenants: TenantFactory) -> Callable[..., ProvisionedTenant]:
    def create(**policy: Any) -> ProvisionedTenant:
        return tenants.create(Limits(), cache=CachePolicy(enabled=True, **policy))

    return create


def _sdk(info: StackInfo, tenant: ProvisionedTenant) -> openai.OpenAI:
    return openai.OpenAI(base_url=info.listener_url, api_key=tenant.secret, max_retries=0, timeout=20.0)


def _ask(client: openai.OpenAI, model: str, messages: Messages, **extra: Any) -> tuple[str, httpx.Headers]:
    raw = client.chat.completions.with_raw_response.create(model=model, messages=messages, **extra)  # type: ignore[arg-type]
    completion = raw.parse()
    return completion.choices[0].message.content or "", raw.headers


def _user(text: str) -> Messages:
    return [{"role": "user", "content": text}]


def _store(client: openai.OpenAI, model: str, messages: Messages, **extra: Any) -> str:
    """Ask once (a miss), then until the same request is an exact hit: the entry is stored and indexed."""
    content, headers = _ask(client, model, messages, **extra)
    assert headers["x-tollway-cache"] == "miss"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        again, headers = _ask(client, model, messages, **extra)
        if headers["x-tollway-cache"] == "hit":  # (the write may land while the semantic layer looks)
            assert again == content
            again, headers = _ask(client, model, messages, **extra)
            assert headers["x-tollway-cache-layer"] == "exact"
            assert again == content
            time.sleep(0.2)  # the index feed event follows the Redis write by well under this
            return content
        time.sleep(0.05)
    raise AssertionError("the answer was never stored")


def _upstream_calls(info: StackInfo, *request_ids: str) -> int:
    """How many times the upstream was called for these gateway requests (by their x-request-id;
    a count over all traffic would also see other tests' stragglers and retries)."""
    assert info.demo_upstream_url is not None
    stats = httpx.get(f"{info.demo_upstream_url}/mock/stats", timeout=5).json()
    wanted = set(request_ids)
    return sum(1 for arrival in stats["arrivals"] if arrival["request_id"] in wanted)


@pytest.fixture
def model(info: StackInfo) -> str:
    return info.demo_model


def test_identical_request_is_an_exact_hit_without_an_upstream_call_and_is_billed_as_a_hit(
    info: StackInfo, model: str, cached_tenant: Callable[..., ProvisionedTenant]
) -> None:
    tenant = cached_tenant()
    client = _sdk(info, tenant)
    messages = _user("Name three primary colours.")
    content = _store(client, model, messages)
    raw = client.chat.completions.with_raw_response.create(model=model, messages=messages)  # type: ignore[arg-type]
    completion = raw.parse()
    assert raw.headers["x-tollway-cache"] == "hit"
    assert raw.headers["x-tollway-cache-layer"] == "exact"
    assert "x-tollway-cache-similarity" not in raw.headers
    assert completion.choices[0].message.content == content
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens > 0
    assert _upstream_calls(info, raw.headers["x-request-id"]) == 0
    (record,) = ledger_records(info.redis_url, tenant.id, raw.headers["x-request-id"])
    assert record["outcome"] == "cache_hit"
    assert record["cache_hit"] is True
    assert record["cost_pico"] == 0  # hits are free by default
    assert record["prompt_tokens"] == 0


def test_paraphrase_is_a_semantic_hit_with_the_stored_answer(
    info: StackInfo, model: str, cached_tenant: Callable[..., ProvisionedTenant]
) -> None:
    client = _sdk(info, cached_tenant())
    stored = _store(client, model, _user("What is the capital city of Australia?"))
    hits: list[str] = []
    for paraphrase in (
        "what's the capital city of australia",
        "Please tell me, what is the capital city of Australia??",
    ):
        content, headers = _ask(client, model, _user(paraphrase))
        assert headers["x-tollway-cache"] == "hit", paraphrase
        assert headers["x-tollway-cache-layer"] == "semantic"
        assert float(headers["x-tollway-cache-similarity"]) >= 0.8
        assert content == stored  # the upstream would have echoed the new wording
        hits.append(headers["x-request-id"])
    assert _upstream_calls(info, *hits) == 0


TRAPS = {
    "numbers": ("What is 2+2?", "What is 2+3?"),
    "negation": ("Is Python a compiled language?", "Is Python not a compiled language?"),
    "entity_swap": ("What is the capital of France?", "What is the capital of Spain?"),
    "order": ("Convert 10 miles to km", "Convert 10 km to miles"),
    "antonym": ("Sort the list in ascending order", "Sort the list in descending order"),
    "scope": ("List all users in the database", "List all active users in the database"),
}


@pytest.mark.parametrize("trap", sorted(TRAPS))
def test_each_trap_class_is_a_miss(
    info: StackInfo, model: str, cached_tenant: Callable[..., ProvisionedTenant], trap: str
) -> None:
    client = _sdk(info, cached_tenant())
    stored_prompt, trap_prompt = TRAPS[trap]
    _store(client, model, _user(stored_prompt))
    content, headers = _ask(client, model, _user(trap_prompt))
    assert headers["x-tollway-cache"] == "miss"
    assert trap_prompt.split()[-1].rstrip("?") in content  # the upstream answered the new question


def test_multi_turn_same_last_message_after_a_different_turn_is_a_miss(
    info: StackInfo, model: str, cached_tenant: Callable[..., ProvisionedTenant]
) -> None:
    client = _sdk(info, cached_tenant())
    first = [
        {"role": "user", "content": "I want to cancel my gym membership."},
        {"role": "assistant", "content": "Do you want me to cancel it?"},
        {"role": "user", "content": "yes, cancel it"},
    ]
    _store(client, model, first)
    second = [*first]
    second[0] = {"role": "user", "content": "I want to cancel my flight to Oslo."}
    _content, headers = _ask(client, model, second)
    assert headers["x-tollway-cache"] == "miss"


@pytest.mark.parametrize(
    ("change", "extra", "messages"),
    [
        ("system prompt", {}, [{"role": "system", "content": "Answer in French."}]),
        ("temperature", {"temperature": 0.9}, []),
        ("earlier turn", {}, [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"}]),
    ],
)
def test_a_different_partition_is_a_miss(
    info: StackInfo,
    model: str,
    cached_tenant: Callable[..., ProvisionedTenant],
    change: str,
    extra: dict[str, Any],
    messages: Messages,
) -> None:
    client = _sdk(info, cached_tenant())
    question = _user("Explain what a hash table is.")
    _store(client, model, question, temperature=0.2)
    _content, headers = _ask(client, model, [*messages, *question], **{"temperature": 0.2, **extra})
    assert headers["x-tollway-cache"] == "miss", change


def test_tenant_b_never_gets_tenant_a_entry(
    info: StackInfo, model: str, cached_tenant: Callable[..., ProvisionedTenant]
) -> None:
    messages = _user("What is the boiling point of water at sea level?")
    _store(_sdk(info, cached_tenant()), model, messages)
    # A fresh tenant per question: a tenant's own miss stores its own entry, which it may then hit.
    for prompt in (messages, _user("what's the boiling point of water at sea level")):
        _content, headers = _ask(_sdk(info, cached_tenant()), model, prompt)
        assert headers["x-tollway-cache"] == "miss"


def test_tenants_sharing_a_namespace_share_entries(
    info: StackInfo, model: str, cached_tenant: Callable[..., ProvisionedTenant], admin: Any
) -> None:
    namespace = f"shared-{time.monotonic_ns()}"
    sharing = [cached_tenant(), cached_tenant()]
    for tenant in sharing:  # sharing is the tenant's opt-in, set on the tenant itself
        admin.put_tenant(Tenant(id=tenant.id, plan=tenant.plan, cache=CachePolicy(namespace=namespace)))
    # Until the registry change reaches every ext_proc, an answer may still be stored in the tenant's own
    # namespace: each round stores a new question as A and asks it as B. Without sharing, never a hit.
    deadline = time.monotonic() + 10
    for round_ in itertools.count():
        messages = _user(f"How many legs does a spider have? (round {round_})")
        stored = _store(_sdk(info, sharing[0]), model, messages)
        content, headers = _ask(_sdk(info, sharing[1]), model, messages)
        if headers["x-tollway-cache"] == "hit":
            assert content == stored
            break
        assert time.monotonic() < deadline, "tenant B never got tenant A's answer in their shared namespace"


def test_streaming_client_gets_a_valid_sse_replay_and_streams_are_stored(
    info: StackInfo, model: str, cached_tenant: Callable[..., ProvisionedTenant]
) -> None:
    client = _sdk(info, cached_tenant())
    messages = _user("Describe the water cycle in one sentence, please, with some detail on evaporation.")
    stored = _store(client, model, messages)  # stored from a non-stream answer
    with client.chat.completions.with_streaming_response.create(
        model=model,
        messages=messages,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    ) as response:
        assert response.headers["x-tollway-cache"] == "hit"
        assert response.headers["content-type"].startswith("text/event-stream")
        chunks = list(response.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == stored
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) >= 2

    fresh = _user("Name the largest planet in the solar system.")
    streamed = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(model=model, messages=fresh, stream=True)  # type: ignore[arg-type]
        if c.choices
    )
    deadline = time.monotonic() + 5
    while True:
        content, headers = _ask(client, model, fresh)  # non-stream client, JSON answer
        if headers["x-tollway-cache"] == "hit" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert headers["x-tollway-cache"] == "hit"
    assert headers["content-type"].startswith("application/json")
    assert content == streamed


def test_no_cache_skips_lookup_and_no_store_skips_storing(
    info: StackInfo, model: str, cached_tenant: Callable[..., ProvisionedTenant]
) -> None:
    client = _sdk(info, cached_tenant())
    messages = _user("What colour is the sky on a clear day?")
    _store(client, model, messages)
    _content, headers = _ask(client, model, messages, extra_headers={"Cache-Control": "no-cache"})
    assert headers["x-tollway-cache"] == "bypass"
    assert _upstream_calls(info, headers["x-request-id"]) == 1

    fresh = _user("What colour is grass?")
    _content, headers = _ask(client, model, fresh, extra_headers={"Cache-Control": "no-store"})
    assert headers["x-tollway-cache"] == "bypass"
    time.sleep(0.5)
    _content, headers = _ask(client, model, fresh)
    assert headers["x-tollway-cache"] == "miss"  # nothing was stored


def test_cache_price_billing_charges_hits_at_the_cache_price(
    info: StackInfo, model: str, tenants: TenantFactory, admin: Any
) -> None:
    tenant = tenants.create(Limits(), cache=CachePolicy(enabled=True, hit_billing=HitBilling.CACHE_PRICE))
    client = _sdk(info, tenant)
    messages = _user("Spell the word cache backwards.")
    _store(client, model, messages)
    raw = client.chat.completions.with_raw_response.create(model=model, messages=messages)  # type: ignore[arg-type]
    assert raw.headers["x-tollway-cache"] == "hit"
    (record,) = ledger_records(info.redis_url, tenant.id, raw.headers["x-request-id"])
    assert record["outcome"] == "cache_hit"
    assert record["prompt_tokens"] > 0
    assert record["completion_tokens"] > 0
    prices = admin.prices(model)["prices"]
    hit_price = max((p.get("cache_hit_per_1m_micro", 0) for p in prices), default=0)
    assert hit_price > 0  # the demo price has one
    expected = (record["prompt_tokens"] + record["completion_tokens"]) * hit_price
    assert record["cost_pico"] == expected


def test_a_known_hit_is_still_refused_by_quota_without_an_upstream_call(
    info: StackInfo, model: str, tenants: TenantFactory
) -> None:
    shared = CachePolicy(namespace=f"quota-{time.monotonic_ns()}")  # the tenants' own opt-in to share
    writer = tenants.create(Limits(), cache=CachePolicy(enabled=True), tenant_cache=shared)
    messages = _user("Which gas do plants take in from the air?")
    stored = _store(_sdk(info, writer), model, messages)
    reader = tenants.create(
        Limits(requests_per_minute=2), cache=CachePolicy(enabled=True), tenant_cache=shared
    )
    client = _sdk(info, reader)
    answered: list[str] = []
    for _ in range(2):
        content, headers = _ask(client, model, messages)
        assert (headers["x-tollway-cache"], content) == ("hit", stored)
        answered.append(headers["x-request-id"])
    # The same hit, once the requests per minute are spent:
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]
    answered.append(refused.value.response.headers["x-request-id"])
    assert _upstream_calls(info, *answered) == 0


def test_purge_makes_entries_unreachable_and_stats_count_hits(
    info: StackInfo, model: str, cached_tenant: Callable[..., ProvisionedTenant], admin: Any
) -> None:
    tenant = cached_tenant()
    client = _sdk(info, tenant)
    messages = _user("Which ocean is the largest?")
    _store(client, model, messages)
    # Purge before each question: a miss stores a fresh entry, which the next question could hit.
    for prompt in (messages, _user("which ocean is the largest")):
        admin.purge_tenant_cache(tenant.id)
        _content, headers = _ask(client, model, prompt)
        assert headers["x-tollway-cache"] == "miss"
    deadline = time.monotonic() + 5  # each ext_proc adds its counts once a second
    while True:
        stats = admin.cache_stats(tenant.id)
        settled = stats["misses"] >= 3 and stats["hits_exact"] >= 1 and stats["stored"] >= 1
        if (settled and stats["saved_completion_tokens"] > 0) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert stats["hits_exact"] >= 1
    assert stats["misses"] >= 3
    assert stats["stored"] >= 1
    assert stats["saved_completion_tokens"] > 0
