"""Levenshtein edit distance between token or pitch sequences: a leaf both editing and eval use.

Insert, delete and substitute each cost 1. :func:`edit_distances` does many equal-length pairs at
once, vectorised over pairs; :func:`edit_distance` is one pair of any lengths.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def edit_distances(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Levenshtein distances of row pairs: ``first`` (P, n) against ``second`` (P, m) -> (P,) ints.

    One dynamic-programming row per token of ``first``, each vectorised over the P pairs; the
    insertion chain inside a row is a running minimum (d[j] = j + min_{k<=j}(c[k] - k)).
    """
    first = np.asarray(first)
    second = np.asarray(second)
    if first.ndim != 2 or second.ndim != 2 or first.shape[0] != second.shape[0]:
        raise ValueError(f"need (P, n) and (P, m) arrays, got shapes {first.shape} and {second.shape}")
    num_pairs, first_length = first.shape
    second_length = second.shape[1]
    columns = np.arange(second_length + 1, dtype=np.int32)  # (m+1,)
    previous = np.broadcast_to(columns, (num_pairs, second_length + 1)).copy()  # (P, m+1)
    for i in range(1, first_length + 1):
        mismatch = (first[:, i - 1 : i] != second).astype(np.int32)  # (P, m)
        current = np.empty_like(previous)
        current[:, 0] = i
        current[:, 1:] = np.minimum(previous[:, :-1] + mismatch, previous[:, 1:] + 1)
        previous = np.minimum.accumulate(current - columns, axis=1) + columns
    return previous[:, second_length]


def edit_distance(first: Sequence[int], second: Sequence[int]) -> int:
    """Levenshtein distance between two token sequences (any lengths)."""
    first_row = np.asarray(first, dtype=np.int64).reshape(1, -1)
    second_row = np.asarray(second, dtype=np.int64).reshape(1, -1)
    return int(edit_distances(first_row, second_row)[0])
