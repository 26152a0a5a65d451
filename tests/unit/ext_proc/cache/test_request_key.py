"""Cache identity: what partitions, what only changes the entry, what is ignored; Cache-Control."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ext_proc.cache.contracts import CacheRequest
from ext_proc.cache.request_key import CacheDirectives, Uncacheable, cache_request

NAMESPACE = "t.acme"
MODEL = "gpt-4o-mini"


def _base() -> dict[str, Any]:
    return {
        "model": "mini-alias",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "What is 2+2?"},
        ],
        "temperature": 0.7,
        "max_tokens": 100,
    }


def _key(document: dict[str, Any], *, namespace: str = NAMESPACE, model: str = MODEL) -> CacheRequest:
    result = cache_request(document, namespace=namespace, model=model)
    assert isinstance(result, CacheRequest), result
    return result


def _changed(change: Any) -> CacheRequest:
    document = _base()
    change(document)
    return _key(document)


def test_same_request_same_ids() -> None:
    first, second = _key(_base()), _key(_base())
    assert first == second
    assert first.namespace == NAMESPACE
    assert len(first.partition) == 64
    assert len(first.entry_id) == 64
    assert first.partition != first.entry_id
    assert first.prompt == "What is 2+2?"


def test_key_order_does_not_matter() -> None:
    document = _base()
    reordered = dict(reversed(list(document.items())))
    reordered["messages"] = [dict(reversed(list(m.items()))) for m in document["messages"]]
    assert _key(reordered) == _key(document)


def _set(name: str, value: Any) -> Any:
    return lambda document: document.__setitem__(name, value)


def _set_message(index: int, field: str, value: Any) -> Any:
    return lambda document: document["messages"][index].__setitem__(field, value)


PARTITIONING_CHANGES = {
    "system prompt": _set_message(0, "content", "You are verbose."),
    "earlier user turn": _set_message(1, "content", "Hey"),
    "earlier assistant turn": _set_message(2, "content", "Hello!"),
    "earlier turn's name": _set_message(1, "name", "bob"),
    "earlier turn's role": _set_message(0, "role", "developer"),
    "temperature": _set("temperature", 0.8),
    "top_p": _set("top_p", 0.5),
    "max_tokens": _set("max_tokens", 101),
    "max_completion_tokens": _set("max_completion_tokens", 100),
    "seed": _set("seed", 7),
    "stop": _set("stop", ["\n"]),
    "presence_penalty": _set("presence_penalty", 0.5),
    "logit_bias": _set("logit_bias", {"50256": -100}),
    "tools": _set(
        "tools", [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}]
    ),
    "tool_choice": _set("tool_choice", "none"),
    "parallel_tool_calls": _set("parallel_tool_calls", False),
    "response_format": _set("response_format", {"type": "json_object"}),
    "reasoning_effort": _set("reasoning_effort", "low"),
    "vendor parameter": _set("top_k", 5),
    "n = 1 explicitly": _set("n", 1),
}


@pytest.mark.parametrize("change", PARTITIONING_CHANGES.values(), ids=PARTITIONING_CHANGES.keys())
def test_changes_that_partition(change: Any) -> None:
    base, changed = _key(_base()), _changed(change)
    assert changed.partition != base.partition
    assert changed.entry_id != base.entry_id


def test_model_and_namespace_partition() -> None:
    base = _key(_base())
    for other in (_key(_base(), model="gpt-4o"), _key(_base(), namespace="s.shared")):
        assert other.partition != base.partition
        assert other.entry_id != base.entry_id
    assert _key(_base(), namespace="s.shared").namespace == "s.shared"


def test_the_requested_alias_does_not_matter_the_canonical_model_does() -> None:
    document = _base()
    document["model"] = "gpt-4o-mini-2024-07-18"
    assert _key(document) == _key(_base())


IGNORED_CHANGES = {
    "stream": _set("stream", True),
    "stream_options": _set("stream_options", {"include_usage": True}),
    "user": _set("user", "someone"),
    "metadata": _set("metadata", {"trace": "x"}),
    "store": _set("store", True),
    "safety_identifier": _set("safety_identifier", "abc"),
    "prompt_cache_key": _set("prompt_cache_key", "abc"),
    "a null parameter": _set("seed", None),
    "a null message field": _set_message(1, "name", None),
}


@pytest.mark.parametrize("change", IGNORED_CHANGES.values(), ids=IGNORED_CHANGES.keys())
def test_changes_that_do_not_matter(change: Any) -> None:
    assert _changed(change) == _key(_base())


def test_last_message_changes_the_entry_not_the_partition() -> None:
    base = _key(_base())
    changed = _changed(_set_message(-1, "content", "What is 2+3?"))
    assert changed.partition == base.partition
    assert changed.entry_id != base.entry_id
    assert changed.prompt == "What is 2+3?"
    named = _changed(_set_message(-1, "name", "bob"))  # only the text is compared: the rest partitions
    assert named.prompt == base.prompt
    assert named.partition != base.partition


def test_same_last_message_in_another_conversation_is_another_partition() -> None:
    other = _base()
    other["messages"] = [{"role": "user", "content": "What is 2+2?"}]
    assert _key(other).partition != _key(_base()).partition
    assert _key(other).prompt == _key(_base()).prompt


@pytest.mark.parametrize(
    ("name", "integral", "real"),
    [("temperature", 1, 1.0), ("top_p", 0, 0.0), ("max_tokens", 100, 100.0), ("seed", 2**60, float(2**60))],
)
def test_integral_numbers_are_canonical(name: str, integral: Any, real: Any) -> None:
    first, second = _base(), _base()
    first[name], second[name] = integral, real
    assert _key(first) == _key(second)


def test_nested_numbers_are_canonical() -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "n", "schema": {"minimum": 1}}}
    first, second = _base(), _base()
    first["response_format"] = schema
    second["response_format"] = copy.deepcopy(schema)
    second["response_format"]["json_schema"]["schema"]["minimum"] = 1.0
    assert _key(first) == _key(second)
    second["response_format"]["json_schema"]["schema"]["minimum"] = 1.5
    assert _key(first).partition != _key(second).partition


def test_nearby_reals_differ() -> None:
    first, second = _base(), _base()
    first["temperature"], second["temperature"] = 0.7, 0.70000001
    assert _key(first).partition != _key(second).partition


def test_huge_integers_are_encodable() -> None:
    document = _base()
    document["seed"] = 2**70
    other = _base()
    other["seed"] = 2**70 + 1
    assert _key(document).partition != _key(other).partition


@pytest.mark.parametrize(
    ("content", "prompt"),
    [
        ("plain", "plain"),
        ([{"type": "text", "text": "one"}, {"type": "text", "text": "two"}], "one\ntwo"),
        (
            [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "http://x/i.png"}}],
            None,
        ),
        ([], None),
        ("   ", None),
        (None, None),
    ],
)
def test_prompt_of_the_last_user_message(content: Any, prompt: str | None) -> None:
    document = _base()
    document["messages"][-1]["content"] = content
    assert _key(document).prompt == prompt


def test_a_last_message_that_is_not_from_the_user_is_exact_only() -> None:
    document = _base()
    document["messages"].append(
        {"role": "tool", "tool_call_id": "call_1", "content": "4"},
    )
    result = _key(document)
    assert result.prompt is None
    assert result.partition != _key(_base()).partition


def test_tool_calls_in_history_partition() -> None:
    def with_call(arguments: str) -> dict[str, Any]:
        document = _base()
        document["messages"][2] = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": arguments}}
            ],
        }
        document["messages"].insert(3, {"role": "tool", "tool_call_id": "call_1", "content": "4"})
        return document

    first, second = _key(with_call('{"a": 2, "b": 2}')), _key(with_call('{"a": 2, "b": 3}'))
    assert first.partition != second.partition


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"n": 2}, "n_not_1"),
        ({"n": True}, "n_not_1"),
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 3}, "logprobs"),
        ({"modalities": ["text", "audio"]}, "audio"),
        ({"audio": {"voice": "alloy", "format": "wav"}}, "audio"),
        ({"web_search_options": {}}, "web_search"),
        ({"messages": []}, "no_messages"),
        ({"messages": "hi"}, "no_messages"),
        ({"messages": [{"content": "no role"}]}, "bad_message"),
        ({"messages": ["hi"]}, "bad_message"),
        ({"temperature": {1, 2}}, "unencodable"),
    ],
)
def test_uncacheable(change: dict[str, Any], reason: str) -> None:
    document = {**_base(), **change}
    assert cache_request(document, namespace=NAMESPACE, model=MODEL) == Uncacheable(reason)


@pytest.mark.parametrize(
    "change",
    [{"n": 1}, {"n": None}, {"logprobs": False}, {"modalities": ["text"]}, {"audio": None}],
)
def test_cacheable_defaults(change: dict[str, Any]) -> None:
    assert isinstance(cache_request({**_base(), **change}, namespace=NAMESPACE, model=MODEL), CacheRequest)


def test_uncacheable_is_frozen() -> None:
    with pytest.raises(AttributeError):
        Uncacheable("n_not_1").reason = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, CacheDirectives()),
        ({"cache-control": "no-cache"}, CacheDirectives(no_cache=True)),
        ({"Cache-Control": "No-Store"}, CacheDirectives(no_store=True)),
        ({"cache-control": "max-age=60"}, CacheDirectives(max_age_s=60)),
        ({"cache-control": 'max-age="30"'}, CacheDirectives(max_age_s=30)),
        ({"cache-control": " no-cache , MAX-AGE = 5 ,no-store"}, CacheDirectives(True, True, 5)),
        ({"cache-control": "max-age=60, max-age=10"}, CacheDirectives(max_age_s=10)),
        ({"cache-control": "max-age=abc"}, CacheDirectives(max_age_s=0)),
        ({"cache-control": "max-age=-5"}, CacheDirectives(max_age_s=0)),
        ({"cache-control": "max-age"}, CacheDirectives(max_age_s=0)),
        ({"cache-control": "max-age=99999999999999"}, CacheDirectives(max_age_s=2**31 - 1)),
        ({"cache-control": "private, must-revalidate, max-stale=3"}, CacheDirectives()),
        ({"pragma": "no-cache"}, CacheDirectives(no_cache=True)),
        ({"Pragma": "No-Cache"}, CacheDirectives(no_cache=True)),
        ({"pragma": "something-else"}, CacheDirectives()),
        ({"cache-control": "max-age=10", "pragma": "no-cache"}, CacheDirectives(True, False, 10)),
        ({"x-other": "no-store"}, CacheDirectives()),
    ],
)
def test_cache_control(headers: dict[str, str], expected: CacheDirectives) -> None:
    assert CacheDirectives.from_headers(headers) == expected


def test_directive_semantics() -> None:
    assert CacheDirectives().may_serve
    assert CacheDirectives().may_store
    no_cache = CacheDirectives(no_cache=True)
    assert not no_cache.may_serve
    assert no_cache.may_store
    no_store = CacheDirectives(no_store=True)
    assert not no_store.may_serve
    assert not no_store.may_store
    bounded = CacheDirectives(max_age_s=60)
    assert bounded.fresh_enough(59.5)
    assert bounded.fresh_enough(60)
    assert not bounded.fresh_enough(60.1)
    assert CacheDirectives().fresh_enough(1e9)
    assert not CacheDirectives(max_age_s=0).fresh_enough(0.001)


def test_the_last_messages_name_partitions() -> None:
    def keyed(name: str) -> str:
        document = {"model": "m", "messages": [{"role": "user", "name": name, "content": "What is my name?"}]}
        result = cache_request(document, namespace="t.a", model="m")
        assert isinstance(result, CacheRequest)
        return result.partition

    assert keyed("alice") != keyed("bob")


def test_a_deeply_nested_parameter_is_uncacheable_not_an_error() -> None:
    nested: object = 1
    for _ in range(5000):
        nested = [nested]
    document = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "metadata_x": nested}
    assert isinstance(cache_request(document, namespace="t.a", model="m"), Uncacheable)
