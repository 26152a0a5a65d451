"""Request bodies the integration tests send."""

from __future__ import annotations

__all__ = ["chat_body"]


def chat_body(model: str, *, stream: bool = False) -> dict[str, object]:
    """A short chat completion request body."""
    return {
        "model": model,
        "messages": [{"role": "user", "content": "say something"}],
        "max_tokens": 8,
        "stream": stream,
    }
