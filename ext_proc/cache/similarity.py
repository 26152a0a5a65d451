"""Similarity units, in one place: every score the cache compares with a threshold is a cosine similarity.

Vectors are unit-norm float32 (`contracts.Vector`), so the cosine similarity of two vectors is their dot
product, in [-1, 1]. On the wire (the index feed) a vector is float32 little-endian bytes.

Redis 8 vector sets report `VSIM ... WITHSCORES` as (1 + cos) / 2, in [0, 1]; `cosine_from_vsim_score` is
the only conversion from that unit. Nothing uses VSIM today; the function exists so that nobody converts
anywhere else (threshold unit confusion is a known failure class of semantic caches).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ext_proc.cache.contracts import Vector

__all__ = ["cosine_from_vsim_score", "cosine_scores", "vector_from_bytes", "vector_to_bytes"]

_WIRE_DTYPE = np.dtype("<f4")


def cosine_scores(matrix: npt.NDArray[np.float32], vector: Vector) -> npt.NDArray[np.float32]:
    """The cosine similarity of each row of `matrix` (unit vectors, shape (n, d)) with `vector` (d,)."""
    scores: npt.NDArray[np.float32] = matrix @ vector
    return scores


def vector_to_bytes(vector: Vector) -> bytes:
    """`vector` as float32 little-endian bytes (the index feed's encoding)."""
    return np.ascontiguousarray(vector, dtype=_WIRE_DTYPE).tobytes()


def vector_from_bytes(data: bytes, dimensions: int | None = None) -> Vector:
    """The vector encoded by `vector_to_bytes` (a writable native float32 copy).

    Raises ValueError when `data` is not whole float32 values, has not `dimensions` of them (if given),
    or holds a non-finite value.
    """
    if len(data) % _WIRE_DTYPE.itemsize:
        raise ValueError(f"{len(data)} bytes is not a whole number of float32 values")
    count = len(data) // _WIRE_DTYPE.itemsize
    if dimensions is not None and count != dimensions:
        raise ValueError(f"a vector of {count} dimensions, expected {dimensions}")
    vector = np.frombuffer(data, dtype=_WIRE_DTYPE).astype(np.float32)
    if not np.isfinite(vector).all():
        raise ValueError("a vector with a non-finite value")
    return vector


def cosine_from_vsim_score(score: float) -> float:
    """The cosine similarity behind a Redis 8 `VSIM ... WITHSCORES` score, (1 + cos) / 2 → cos.

    The only conversion between the two units: compare thresholds in cosine, always.
    """
    return 2.0 * float(score) - 1.0
