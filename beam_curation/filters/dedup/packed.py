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
    return int.from_bytes(key[-2:], "big") % PARTITIONS  # a 1-byte key: its byte


def pack(members: Iterable[tuple[bytes, int]]) -> list[tuple[int, bytes]]:
    """``(key, node)`` memberships -> ``(partition, block)``, one block of rows per partition present."""
    keys, nodes = [], []
    for key, node in members:
        keys.append(key)
        nodes.append(node)
    if not keys:
        return []
    width = 8 * _KEY_WORDS
    lengths = np.fromiter(map(len, keys), dtype=np.int64, count=len(keys))
    if lengths.max() > width:
        raise ValueError(f"bucket key of {int(lengths.max())} bytes: at most {width} are packed")
    block = np.zeros(len(keys), dtype=ROW)
    block["len"] = lengths
    block["node"] = nodes  # OverflowError for a node outside int64
    if lengths.min() == lengths.max():  # one width (the usual case): no per-key padding
        n = int(lengths[0])
        raw = np.zeros((len(keys), width), dtype=np.uint8)
        raw[:, :n] = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), n)
        last2 = raw[:, n - 2].astype(np.int64) * 256 + raw[:, n - 1] if n >= 2 else raw[:, 0].astype(np.int64)
    else:
        raw = np.frombuffer(b"".join(k.ljust(width, b"\0") for k in keys), dtype=np.uint8).reshape(len(keys), width)
        last2 = np.array([partition_of(k) for k in keys], dtype=np.int64)
    block["k"] = raw.view(">u8")
    part = last2 % PARTITIONS
    order = np.argsort(part, kind="stable")
    part, block = part[order], block[order]
    cuts = np.flatnonzero(np.diff(part)) + 1
    return [(int(p[0]), b.tobytes()) for p, b in zip(np.split(part, cuts), np.split(block, cuts))]


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
