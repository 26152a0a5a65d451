"""Similarity units: dot products of unit vectors, the float32 wire form, the one VSIM conversion."""

import numpy as np
import pytest

from ext_proc.cache.similarity import (
    cosine_from_vsim_score,
    cosine_scores,
    vector_from_bytes,
    vector_to_bytes,
)


def _unit(values: list[float]) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_cosine_scores_are_dot_products_of_unit_rows() -> None:
    matrix = np.stack([_unit([1, 0, 0]), _unit([0, 1, 0]), _unit([1, 1, 0]), _unit([-1, 0, 0])])
    scores = cosine_scores(matrix, _unit([1, 0, 0]))
    assert scores.dtype == np.float32
    assert scores.tolist() == pytest.approx([1.0, 0.0, 2**-0.5, -1.0], abs=1e-6)


def test_vector_round_trip_is_float32_little_endian() -> None:
    vector = _unit([0.1, -0.2, 0.3, 0.4])
    data = vector_to_bytes(vector)
    assert data == vector.astype("<f4").tobytes()
    assert len(data) == 16
    back = vector_from_bytes(data, 4)
    assert back.dtype == np.float32
    assert np.array_equal(back, vector)
    back[0] = 1.0  # a writable copy


def test_vector_to_bytes_converts_other_dtypes() -> None:
    assert vector_to_bytes(np.asarray([1.0, 2.0], dtype=np.float64)) == np.asarray([1, 2], "<f4").tobytes()


@pytest.mark.parametrize(
    ("data", "dimensions", "error"),
    [
        (b"\x00\x00\x80", None, "whole number"),
        (np.zeros(3, "<f4").tobytes(), 4, "3 dimensions, expected 4"),
        (np.asarray([np.nan, 1.0], "<f4").tobytes(), None, "non-finite"),
    ],
)
def test_vector_from_bytes_rejects_malformed(data: bytes, dimensions: int | None, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        vector_from_bytes(data, dimensions)


@pytest.mark.parametrize(("score", "cosine"), [(1.0, 1.0), (0.5, 0.0), (0.0, -1.0), (0.975, 0.95)])
def test_cosine_from_vsim_score(score: float, cosine: float) -> None:
    assert cosine_from_vsim_score(score) == pytest.approx(cosine)
