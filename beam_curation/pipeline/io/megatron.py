"""Megatron-LM's indexed dataset (`.bin` + `.idx`, index format version 1), written without Megatron or torch.

The layout is the one `megatron/core/datasets/indexed_dataset.py` reads (`_IndexReader`) and writes
(`IndexedDatasetBuilder` + `_IndexWriter`); all integers little-endian:

- `.bin`: every sequence's token ids back to back, in the index's dtype, no header.
- `.idx`: the magic `MMIDIDX\\x00\\x00` (9 bytes); the version, uint64 1; the dtype code, uint8 (Megatron's
  `DType`: uint8 1, int8 2, int16 3, int32 4, int64 5, float64 6, float32 7, uint16 8); the sequence count,
  uint64; the document count, uint64 (the length of the document indices, which start with 0, so one more
  than the documents); the sequence lengths, int32 each; the sequence pointers (byte offsets into `.bin`),
  int64 each; the document indices (the sequence index where each document ends), int64 each.

Here every document is one sequence (as `preprocess_data.py` writes it without sentence splitting), so the
document indices are 0, 1, ..., n. Megatron picks the dtype from the vocabulary size (`DType.optimal_dtype`):
uint16 below 65,500, else int32.
"""

from __future__ import annotations

import struct
from typing import Sequence

import numpy as np

from beam_curation.pipeline.io.atomic import atomic_write

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
DTYPE_CODES = {"uint8": 1, "int8": 2, "int16": 3, "int32": 4, "int64": 5, "float64": 6, "float32": 7, "uint16": 8}
UINT16_BELOW = 65500  # Megatron's DType.optimal_dtype: cardinality < 65500 -> uint16


def megatron_dtype(cardinality: int) -> np.dtype:
    """The dtype Megatron-LM's preprocess_data.py stores ids of a vocabulary of `cardinality` tokens in."""
    return np.dtype(np.uint16 if cardinality < UINT16_BELOW else np.int32)


def index_bytes(lengths: Sequence[int], dtype: np.dtype) -> bytes:
    """The `.idx` file of sequences of `lengths` tokens stored as `dtype`, one document per sequence."""
    dtype = np.dtype(dtype)
    lengths = np.asarray(lengths, dtype=np.int64)
    pointers = np.zeros(len(lengths), dtype=np.int64)
    if len(lengths):
        pointers[1:] = np.cumsum(lengths[:-1] * dtype.itemsize)
    document_indices = np.arange(len(lengths) + 1, dtype=np.int64)
    return b"".join([MAGIC, struct.pack("<Q", VERSION), struct.pack("<B", DTYPE_CODES[dtype.name]),
                     struct.pack("<Q", len(lengths)), struct.pack("<Q", len(document_indices)),
                     lengths.astype("<i4").tobytes(), pointers.astype("<i8").tobytes(),
                     document_indices.astype("<i8").tobytes()])


def write_indexed_dataset(prefix: str, documents: Sequence[np.ndarray], dtype: np.dtype) -> list[str]:
    """Write `prefix.bin` and `prefix.idx` (each moved into place whole) holding `documents`, each an array of
    ids already in `dtype`; returns the two paths."""
    dtype = np.dtype(dtype).newbyteorder("<")

    def write_bin(handle) -> None:
        for ids in documents:
            handle.write(np.ascontiguousarray(ids, dtype=dtype).tobytes())

    index = index_bytes([len(ids) for ids in documents], dtype)
    bin_path, idx_path = f"{prefix}.bin", f"{prefix}.idx"
    atomic_write(bin_path, write_bin)
    atomic_write(idx_path, lambda handle: handle.write(index))
    return [bin_path, idx_path]
