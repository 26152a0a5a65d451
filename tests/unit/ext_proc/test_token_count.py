"""Prompt token estimates: exact with tiktoken for normal text, by size for huge text."""

from __future__ import annotations

import random
import string
import time

import orjson
import pytest

from ext_proc.token_count import TokenCounter


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenCounter(exact_limit_chars=1000)


def test_text_is_counted_with_cl100k(counter: TokenCounter) -> None:
    assert counter.text("hello world") == 2
    assert counter.text("") == 0


def test_huge_text_is_exact_up_to_the_budget_then_extrapolated_from_the_sample(counter: TokenCounter) -> None:
    text = "hello world " * 200  # 2,400 chars > budget; exact count would be 400
    head = counter.text(text[:1000])
    # The sample runs ~6 bytes per token, below the floor of 1 token per 3 bytes: the floor wins.
    assert counter.text(text) == head + 1400 // 3 + 1
    assert 400 < counter.text(text) < 2400 // 3


def test_the_budget_is_per_document_not_per_text(counter: TokenCounter) -> None:
    messages = [{"role": "user", "content": "hello world " * 50} for _ in range(10)]  # 600 chars each
    exact = sum(3 + 1 + 100 for _ in messages) + 3
    estimate = counter.chat({"messages": messages})
    # Only the first ~1,000 characters are tokenized; the rest is priced at 1 token per 3 bytes.
    assert exact < estimate <= 3 + 10 * (3 + 1) + 6000 // 3 + 2


def _words(seed: int, size: int) -> str:
    rng = random.Random(seed)
    alphabet = string.ascii_lowercase
    words = ["".join(rng.choices(alphabet, k=rng.randint(2, 9))) for _ in range(2000)]
    parts: list[str] = []
    length = 0
    while length < size:
        parts.append(rng.choice(words))
        length += len(parts[-1]) + 1
    return " ".join(parts)


ENGLISH = "The quick brown fox jumps over the lazy dog while the gateway counts every token. "
SAMPLES = {
    "english": ENGLISH * 2000,
    "random words (~2 bytes per token)": _words(1, 160_000),
    "cjk (3 bytes per char)": "大型语言模型网关统计每一个令牌。" * 8000,
    "tool json": orjson.dumps(
        [
            {"type": "function", "function": {"name": f"tool_{i}", "description": ENGLISH * 3,
             "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}
            for i in range(400)
        ]
    ).decode(),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_extrapolation_errs_high_by_at_most_the_floor_on_homogeneous_text(name: str) -> None:
    counter = TokenCounter(exact_limit_chars=4096)
    text = SAMPLES[name]
    exact = len(counter._encoding.encode_ordinary(text))
    estimate = counter.text(text)
    size = len(text.encode())
    # The sample's own ratio (within 10 %), or 1 token per 3 bytes when the text packs more per token.
    assert exact <= estimate <= max(1.1 * exact, size / 3 + 2), (exact, estimate)
    assert estimate <= size  # never more than one token per byte


def test_an_8_mb_tool_list_is_counted_in_a_few_milliseconds() -> None:
    counter = TokenCounter()
    tools = [
        {"type": "function", "function": {"name": f"tool_{i}", "description": _words(i, 2000)}}
        for i in range(50)
    ] * 80  # ≈ 8 MB of JSON
    document = {"messages": [{"role": "user", "content": "hi"}], "tools": tools}
    size = len(orjson.dumps(tools))
    assert size > 8_000_000
    start = time.perf_counter()
    estimate = counter.chat(document)
    elapsed = time.perf_counter() - start
    # Exact counting takes ≈ 1.1 s here; the budgeted count ≈ 15 ms (bound generous for busy CI).
    assert elapsed < 0.15, elapsed
    assert size / 3 < estimate <= size


def test_chat_adds_per_message_overhead_names_and_tools(counter: TokenCounter) -> None:
    plain = {"messages": [{"role": "user", "content": "hello world"}]}
    # priming 3 + per message 3 + "user" 1 + "hello world" 2
    assert counter.chat(plain) == 9
    named = {"messages": [{"role": "user", "content": "hello world", "name": "bob"}]}
    assert counter.chat(named) == 9 + 1 + counter.text("bob")
    tools = {**plain, "tools": [{"type": "function", "function": {"name": "f"}}]}
    assert counter.chat(tools) > 9


def test_chat_content_parts_count_text_and_images(counter: TokenCounter) -> None:
    parts = {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "hello world"}, {"type": "image_url", "image_url": {}}],
            }
        ]
    }
    assert counter.chat(parts) == 9 + 85


@pytest.mark.parametrize(
    ("value", "expected"),
    [("hello world", 2), (["hello world", "hello"], 3), ([1, 2, 3], 3), ([[1, 2], [3]], 3), (None, 0)],
)
def test_completion_and_embedding_inputs(counter: TokenCounter, value: object, expected: int) -> None:
    assert counter.completion({"prompt": value}) == expected
    assert counter.embeddings({"input": value}) == expected
