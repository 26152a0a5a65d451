"""`OnnxEmbedder`: the real all-MiniLM-L6-v2 int8 model, offline: 384-d unit vectors, deterministic,
paraphrases closer than unrelated prompts, long texts truncated."""

from __future__ import annotations

import numpy as np
import pytest

from ext_proc.cache.onnx_embedder import MODEL_NAME, OnnxEmbedder


@pytest.fixture(scope="module")
def model() -> OnnxEmbedder:
    return OnnxEmbedder()


def test_name_and_dimensions(model: OnnxEmbedder) -> None:
    assert model.name == MODEL_NAME == "all-MiniLM-L6-v2-int8"
    assert OnnxEmbedder.dimensions == 384


@pytest.mark.parametrize("text", ["What is the capital of France?", "a", "", "2+2=?", "x " * 2000])
def test_unit_norm_384_float32(model: OnnxEmbedder, text: str) -> None:
    vector = model.embed_sync(text)
    assert vector.shape == (384,)
    assert vector.dtype == np.float32
    assert np.isfinite(vector).all()
    assert float(np.linalg.norm(vector)) == pytest.approx(1.0, abs=1e-5)


def test_deterministic(model: OnnxEmbedder) -> None:
    text = "How do I reverse a list in Python?"
    np.testing.assert_array_equal(model.embed_sync(text), model.embed_sync(text))


def test_paraphrase_is_closer_than_unrelated(model: OnnxEmbedder) -> None:
    a = model.embed_sync("How do I reverse a list in Python?")
    paraphrase = model.embed_sync("What's the way to reverse a Python list?")
    unrelated = model.embed_sync("What is the best recipe for banana bread?")
    similar, different = float(a @ paraphrase), float(a @ unrelated)
    assert similar > 0.7
    assert different < 0.3
    assert similar > different + 0.4


def test_text_beyond_max_tokens_is_ignored(model: OnnxEmbedder) -> None:
    """The model reads 256 tokens: what comes after does not change the vector."""
    head = "word " * 300
    np.testing.assert_allclose(model.embed_sync(head + "cats"), model.embed_sync(head + "dogs"), atol=1e-6)
