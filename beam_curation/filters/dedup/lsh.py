"""Locality-sensitive hashing over MinHash signatures: band/row choice and band keys.

Bands ``b`` and rows ``r`` for a Jaccard threshold are chosen exactly as ``datasketch.MinHashLSH`` does
(``_optimal_param``: minimise ``w_fp * P(false positive) + w_fn * P(false negative)``, both integrals of
the S-curve ``1 - (1 - s**r)**b`` computed with ``scipy.integrate.quad``, scanning ``b = 1..num_perm`` and
``r = 1..num_perm // b`` and keeping the first strict minimum). Band ``i`` covers signature positions
``[i*r, (i+1)*r)``; its key is those uint32 values as big-endian bytes, which is the key datasketch's
``MinHashLSH`` stores for the band (``bytes(hs.byteswap().data)``), so two documents share a bucket here
exactly when they do in datasketch.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

import numpy as np


@dataclass(frozen=True)
class LSHParams:
    """Banding of a signature for one threshold."""

    threshold: float
    bands: int
    rows: int


def _false_positive_probability(threshold: float, b: int, r: int) -> float:
    from scipy.integrate import quad  # imported when banding is first chosen, not with the module

    return quad(lambda s: 1 - (1 - s ** float(r)) ** float(b), 0.0, threshold)[0]


def _false_negative_probability(threshold: float, b: int, r: int) -> float:
    from scipy.integrate import quad

    return quad(lambda s: 1 - (1 - (1 - s ** float(r)) ** float(b)), threshold, 1.0)[0]


@lru_cache(maxsize=256)
def optimal_params(
    threshold: float, num_perm: int, false_positive_weight: float = 0.5, false_negative_weight: float = 0.5
) -> tuple[int, int]:
    """``(bands, rows)`` minimising the weighted error for ``threshold``, as datasketch chooses them."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    if num_perm < 1:
        raise ValueError(f"num_perm must be >= 1, got {num_perm}")
    min_error = float("inf")
    best = (0, 0)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            error = (
                _false_positive_probability(threshold, b, r) * false_positive_weight
                + _false_negative_probability(threshold, b, r) * false_negative_weight
            )
            if error < min_error:
                min_error = error
                best = (b, r)
    return best


def lsh_params(thresholds: Iterable[float], num_perm: int, false_negative_weight: float = 0.5) -> list[LSHParams]:
    """Banding for several thresholds at once, as datasketch's ``MinHashLSH(threshold, num_perm, weights=(1 - w,
    w))`` chooses it (its default weights: 0.5/0.5)."""
    out = []
    w = float(false_negative_weight)
    for t in thresholds:
        b, r = optimal_params(float(t), num_perm, 1.0 - w, w)
        out.append(LSHParams(float(t), b, r))
    return out


def band_keys(signatures: np.ndarray, params: LSHParams) -> list[list[bytes]]:
    """Per document, the ``params.bands`` band keys (``4 * rows`` bytes each) of a ``(n, num_perm)`` array."""
    sig = np.ascontiguousarray(np.atleast_2d(signatures), dtype=np.uint32)
    n, num_perm = sig.shape
    b, r = params.bands, params.rows
    if b * r > num_perm:
        raise ValueError(f"{b} bands x {r} rows need {b * r} permutations, signature has {num_perm}")
    raw = sig[:, : b * r].astype(">u4").tobytes()
    width = 4 * r
    stride = 4 * num_perm if b * r == num_perm else 4 * b * r
    return [[raw[d * stride + i * width : d * stride + (i + 1) * width] for i in range(b)] for d in range(n)]


def signature_column(threshold: float) -> str:
    """RedPajama-V2's column name for a threshold's band signatures: signature_sim0.7 ... signature_sim1.0."""
    return f"signature_sim{threshold:.1f}" if round(threshold, 1) == threshold else f"signature_sim{threshold:g}"


BUCKET_BYTES = 12  # 96-bit bucket keys: a chance collision links two documents ~1e-9 times at 1e10 band keys
_BUCKET_WORDS = BUCKET_BYTES // 4


@lru_cache(maxsize=64)
def _bucket_hash_params(threshold_index: int, bands: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Multipliers ``(3, bands, rows)`` and offsets ``(3, bands)`` of the bucket hashes: uint64 words drawn from
    BLAKE2b of their coordinates, so they are the same on every machine and library version."""
    from hashlib import blake2b

    def word(*coords: int) -> int:
        data = b"bucket" + b"".join(c.to_bytes(4, "big") for c in coords)
        return int.from_bytes(blake2b(data, digest_size=8).digest(), "big")

    a = np.array([[[word(threshold_index, j, i, k) for k in range(rows)] for i in range(bands)]
                  for j in range(_BUCKET_WORDS)], dtype=np.uint64)
    c = np.array([[word(threshold_index, j, i, rows) for i in range(bands)] for j in range(_BUCKET_WORDS)],
                 dtype=np.uint64)
    return a, c


def bucket_keys(signatures: np.ndarray, params: LSHParams, threshold_index: int = 0) -> list[tuple[bytes, ...]]:
    """Per document, one fixed-width bucket key per band: three independent 32-bit hashes of the band's values.

    Each hash is vector multiply-shift (Dietzfelbinger; Thorup, "High Speed Hashing for Integers and Strings",
    2015): ``(sum_k a_k * x_k + c) mod 2**64 >> 32`` over the band's uint32 values ``x``, with random 64-bit
    ``a``, ``c`` of its own per threshold, band and word. It is strongly universal, so two different bands
    collide with probability 2^-96, and two documents share a bucket exactly when they share that band's
    datasketch key otherwise. The key is 12 bytes whatever the number of rows, which is what clustering
    shuffles, and a whole batch is hashed in a few numpy operations."""
    sig = np.ascontiguousarray(np.atleast_2d(signatures), dtype=np.uint32)
    n, num_perm = sig.shape
    b, r = params.bands, params.rows
    if b * r > num_perm:
        raise ValueError(f"{b} bands x {r} rows need {b * r} permutations, signature has {num_perm}")
    a, c = _bucket_hash_params(threshold_index, b, r)
    x = sig[:, : b * r].reshape(n, b, r).astype(np.uint64)
    h = np.empty((n, b, _BUCKET_WORDS), dtype=">u4")
    for j in range(_BUCKET_WORDS):
        h[:, :, j] = (np.einsum("nbr,br->nb", x, a[j]) + c[j]) >> np.uint64(32)
    raw = h.tobytes()
    keys = [raw[o : o + BUCKET_BYTES] for o in range(0, len(raw), BUCKET_BYTES)]
    return [tuple(keys[i : i + b]) for i in range(0, len(keys), b)]
