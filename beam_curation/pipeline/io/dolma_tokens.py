"""Dolma's tokenized format (`dolma tokens`): a token memmap `.npy` and its `.csv.gz` metadata, per file.

As allenai/dolma's `MemmapWriter` (python/dolma/tokenizer/memmap_writer.py) leaves them:

- `<name>.npy`: the documents' token ids back to back, a raw array with no header (numpy.memmap's bytes, which
  OLMo reads with `np.memmap(path, dtype=..., mode="r")`), little-endian.
- `<name>.csv.gz`: one CSV row per document, no header, the fields of Dolma's `MemmapMetadata` in order:
  `start`, `end` (token offsets into the memmap, end exclusive), `id`, `src` (the document's source file) and
  `loc` (its place in that file; here the 0-based row of the Parquet file).

The dtype is the smallest unsigned type that holds every id (Dolma's tokenizer takes
`np.min_scalar_type(vocab_size - 1)`; its files are uint16 or uint32), here uint16 up to 65,536 ids, else
uint32. The gzip header carries no time or name, so the same rows give the same bytes.
"""

from __future__ import annotations

import csv
import gzip
import io
from typing import Sequence

import numpy as np

from beam_curation.pipeline.io.atomic import atomic_write

MEMMAP_SUFFIX = ".npy"
METADATA_SUFFIX = ".csv.gz"


def dolma_dtype(cardinality: int) -> np.dtype:
    """uint16 when every id fits in it, else uint32."""
    return np.dtype(np.uint16 if cardinality <= 1 << 16 else np.uint32)


def metadata_bytes(rows: Sequence[tuple[int, int, str, str, int]]) -> bytes:
    """The `.csv.gz` of (start, end, id, src, loc) rows, gzip without a timestamp."""
    text = io.StringIO(newline="")
    csv.writer(text, lineterminator="\n").writerows(rows)
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as handle:
        handle.write(text.getvalue().encode("utf-8"))
    return raw.getvalue()


def write_memmap(prefix: str, documents: Sequence[np.ndarray], ids: Sequence[str], sources: Sequence[str],
                 rows: Sequence[int], dtype: np.dtype) -> list[str]:
    """Write `prefix.npy` and `prefix.csv.gz` (each moved into place whole); returns the two paths."""
    dtype = np.dtype(dtype).newbyteorder("<")
    metadata, start = [], 0
    for tokens, doc_id, src, row in zip(documents, ids, sources, rows):
        metadata.append((start, start + len(tokens), doc_id, src, row))
        start += len(tokens)

    def write_tokens(handle) -> None:
        for tokens in documents:
            handle.write(np.ascontiguousarray(tokens, dtype=dtype).tobytes())

    blob = metadata_bytes(metadata)
    memmap_path, metadata_path = prefix + MEMMAP_SUFFIX, prefix + METADATA_SUFFIX
    atomic_write(memmap_path, write_tokens)
    atomic_write(metadata_path, lambda handle: handle.write(blob))
    return [memmap_path, metadata_path]
