"""Bucket members packed into blocks: what clustering shuffles instead of one record per (bucket, member).

A document has one LSH bucket per band (14 at 0.7) and an exact-text key, so linking buckets one record per
membership makes ~15 shuffled records a document, and on local runners each costs a decode and a dict insert in
the runner process. Here a batch of documents becomes, per partition of the key space, one block of fixed-width
rows (key, node); a partition's blocks are concatenated and sorted, and every member of a bucket is linked to
the bucket's minimum node: the same edges as linking the buckets one by one, in a few records per batch.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Sequence

import numpy as np

PARTITIONS = 256  # a partition holds ~1/256 of all memberships: 10M documents x 15 keys -> ~12 MB of rows each
_KEY_WORDS = 3  # keys up to 24 bytes (12-byte bucket keys, 17-byte exact keys), zero-padded, plus their length


def _row_dtype() -> np.dtype:
    return np.dtype([("len", ">u1"), ("k", ">u8", (_KEY_WORDS,)), ("node", ">i8")])


ROW = _row_dtype()


def partition_of(key: bytes) -> int:
    """The partition of a bucket key (keys are hashes: their last two bytes are uniform)."""
    return int.from_bytes(key[-2:], "big") % PARTITIONS


def pack(members: Iterable[tuple[bytes, int]]) -> list[tuple[int, bytes]]:
    """``(key, node)`` memberships -> ``(partition, block)``, one block of rows per partition present."""
    parts: dict[int, list[tuple[bytes, int]]] = {}
    for key, node in members:
        if len(key) > 8 * _KEY_WORDS:
            raise ValueError(f"bucket key of {len(key)} bytes: at most {8 * _KEY_WORDS} are packed")
        parts.setdefault(partition_of(key), []).append((key, node))
    out = []
    width = 8 * _KEY_WORDS
    for part in sorted(parts):
        rows = parts[part]
        block = np.zeros(len(rows), dtype=ROW)
        block["len"] = [len(k) for k, _ in rows]
        padded = b"".join(k.ljust(width, b"\0") for k, _ in rows)
        block["k"] = np.frombuffer(padded, dtype=">u8").reshape(-1, _KEY_WORDS)
        block["node"] = [n for _, n in rows]  # OverflowError for a node outside int64
        out.append((part, block.tobytes()))
    return out


def link_blocks(blocks: Iterable[bytes]) -> Iterator[tuple[int, int]]:
    """Edges ``(bucket's minimum node, member)`` for every other member of every bucket in ``blocks`` (members
    equal to the minimum give none), in a deterministic order."""
    rows = np.frombuffer(b"".join(blocks), dtype=ROW)
    if len(rows) < 2:
        return
    k = rows["k"]
    node = rows["node"].astype(np.int64)
    order = np.lexsort((node, *[k[:, i] for i in reversed(range(_KEY_WORDS))], rows["len"]))
    k, node, length = k[order], node[order], rows["len"][order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (length[1:] != length[:-1]) | (k[1:] != k[:-1]).any(axis=1)
    start = np.flatnonzero(new)
    group_min = np.repeat(node[start], np.diff(np.append(start, len(order))))
    linked = np.flatnonzero(node != group_min)
    yield from zip(group_min[linked].tolist(), node[linked].tolist())


def link_members(members: Sequence[tuple[bytes, int]]) -> list[tuple[int, int]]:
    """The edges of ``members`` by way of blocks (reference for tests)."""
    by_part: dict[int, list[bytes]] = {}
    for part, block in pack(members):
        by_part.setdefault(part, []).append(block)
    return [e for part in sorted(by_part) for e in link_blocks(by_part[part])]
