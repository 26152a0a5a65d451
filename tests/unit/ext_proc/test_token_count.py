"""Prompt token estimates: exact with tiktoken for normal text, by size for huge text."""

from __future__ import annotations

import pytest

from ext_proc.token_count import TokenCounter


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenCounter(exact_limit_chars=1000)


def test_text_is_counted_with_cl100k(counter: TokenCounter) -> None:
    assert counter.text("hello world") == 2
    assert counter.text("") == 0


def test_huge_text_is_estimated_from_its_size_on_the_safe_side(counter: TokenCounter) -> None:
    text = "hello world " * 200  # 2,400 chars > limit; exact count would be 400
    assert counter.text(text) == 800  # 2,400 bytes / 3


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
