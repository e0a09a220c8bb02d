"""Binary quantisation: one bit per dimension, compared by Hamming distance.

The codes are laid out as sqlite-vec's `vec_quantize_binary` lays them out
(bit i of a vector is bit i % 8, least significant first, of byte i // 8), so
codes made here and codes stored by sqlite-vec compare directly.
"""

from __future__ import annotations

import numpy as np

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def binary_code(vector: np.ndarray) -> np.ndarray:
    return np.packbits(np.asarray(vector) > 0, bitorder="little")


def hamming(codes: np.ndarray, code: np.ndarray) -> np.ndarray:
    """Hamming distance of each row of `codes` (n x bytes, uint8) to `code`.

    Summing the per-word counts column by column is several times faster than
    numpy's sum(axis=1) over so narrow a matrix.
    """
    if codes.shape[1] % 8 == 0 and hasattr(np, "bitwise_count"):
        counts = np.bitwise_count(np.ascontiguousarray(codes).view(np.uint64) ^ code.view(np.uint64))
    else:
        counts = _POPCOUNT[codes ^ code]
    distance = counts[:, 0].astype(np.int32)
    for column in range(1, counts.shape[1]):
        distance += counts[:, column]
    return distance
