"""Connected components by large-star / small-star rounds, on edge blocks instead of one record per edge.

Kiveris et al. ("Connected Components in MapReduce and Beyond", SoCC 2014) group edges by node once per step.
Here a step's input is a partition of the node space: its rows ``(key, other)`` (``key``'s neighbour ``other``)
arrive as blocks of int64 pairs, are sorted once, and every node of the partition is handled at once with numpy
(a minimum per run of equal keys). Its output edges are routed, as blocks again, to the partitions of the next
step's keys. Duplicate rows are dropped at every step: an edge list and its distinct edges have the same
components, so results do not depend on how edges were batched.

Nodes are non-negative int64 (``-1`` marks a star root in the final check). A partition holds ~1/256 of a step's
rows, 16 bytes each, with the sort's copies.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

PARTITIONS = 256
_ROOT = -1  # the final check's "this node is some edge's smaller end" tag


def partition_of(nodes: np.ndarray) -> np.ndarray:
    """Partition of each node: the top 8 bits of a multiplicative (Fibonacci) hash, so that structured node
    numbers (shard, row) spread evenly."""
    h = nodes.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return (h >> np.uint64(56)).astype(np.int64)


def route(keys: np.ndarray, others: np.ndarray) -> list[tuple[int, bytes]]:
    """Rows ``(key, other)`` -> one block per partition of the keys present, ``(partition, bytes)``."""
    if not len(keys):
        return []
    part = partition_of(keys)
    order = np.argsort(part, kind="stable")
    part = part[order]
    rows = np.empty((len(keys), 2), dtype="<i8")
    rows[:, 0] = keys[order]
    rows[:, 1] = others[order]
    bounds = np.flatnonzero(np.diff(part)) + 1
    starts = np.concatenate(([0], bounds))
    ends = np.concatenate((bounds, [len(part)]))
    return [(int(part[s]), rows[s:e].tobytes()) for s, e in zip(starts.tolist(), ends.tolist())]


def route_both(a: np.ndarray, b: np.ndarray) -> list[tuple[int, bytes]]:
    """Edges ``(a, b)`` -> rows for both ends: ``(a, b)`` to ``a``'s partition and ``(b, a)`` to ``b``'s."""
    return route(np.concatenate((a, b)), np.concatenate((b, a)))


def edges_array(edges: Iterable[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """A batch of edge records as two int64 arrays."""
    flat = np.array([n for edge in edges for n in edge], dtype=np.int64)
    if flat.size and flat.min() < 0:
        raise ValueError("connected components need non-negative int64 nodes")
    return flat[0::2], flat[1::2]


def rows_of(blocks: Iterable[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """A partition's blocks -> its distinct rows ``(keys, others)`` sorted by key, then other."""
    rows = np.frombuffer(b"".join(blocks), dtype="<i8").reshape(-1, 2)
    keys, others = rows[:, 0], rows[:, 1]
    order = np.lexsort((others, keys))
    keys, others = keys[order], others[order]
    keep = np.ones(len(keys), dtype=bool)
    keep[1:] = (keys[1:] != keys[:-1]) | (others[1:] != others[:-1])
    return keys[keep], others[keep]


def _runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and length of each run of equal (sorted) keys."""
    new = np.ones(len(keys), dtype=bool)
    new[1:] = keys[1:] != keys[:-1]
    starts = np.flatnonzero(new)
    return starts, np.diff(np.append(starts, len(keys)))


_EMPTY = np.empty(0, dtype=np.int64)


def large_star(keys: np.ndarray, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted rows ``(u, v)`` (all of ``u``'s neighbours) -> edges ``(m, v)`` for every ``v > u``, where ``m`` is the
    minimum of ``u``'s closed neighbourhood."""
    if not len(keys):
        return _EMPTY, _EMPTY
    starts, lengths = _runs(keys)
    m = np.repeat(np.minimum(np.minimum.reduceat(others, starts), keys[starts]), lengths)
    larger = others > keys
    return m[larger], others[larger]


def small_star(keys: np.ndarray, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted rows ``(u, w)``, ``w < u`` (``u``'s smaller neighbours) -> edges linking ``u`` and each ``w`` to the
    smallest of them, ``m``: ``(m, w)`` for ``w != m`` and ``(m, u)``."""
    if not len(keys):
        return _EMPTY, _EMPTY
    starts, lengths = _runs(keys)
    node = keys[starts]
    m_node = np.minimum(np.minimum.reduceat(others, starts), node)
    m = np.repeat(m_node, lengths)
    linked = others != m
    moved = node != m_node
    return np.concatenate((m[linked], m_node[moved])), np.concatenate((others[linked], node[moved]))


def label_rows(a: np.ndarray, b: np.ndarray) -> list[tuple[int, bytes]]:
    """Final edges ``(a, b)``, ``a < b`` -> the check's rows: ``(b, a)`` (``a`` is a parent of ``b``) and
    ``(a, -1)`` (``a`` is a root)."""
    return route(np.concatenate((b, a)), np.concatenate((a, np.full(len(a), _ROOT, dtype=np.int64))))


def star_labels(keys: np.ndarray, others: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Sorted check rows -> ``(nodes, labels, bad)``: each node's label (its parent, or itself for a root) and
    how many nodes are not in star form (a node with a parent that is also a root, or with two parents)."""
    if not len(keys):
        return _EMPTY, _EMPTY, 0
    starts, lengths = _runs(keys)
    node = keys[starts]
    is_root = others[starts] == _ROOT  # -1 sorts first in its run
    parents = lengths - is_root
    first_parent = others[np.minimum(starts + is_root, len(others) - 1)]
    labels = np.where(parents > 0, first_parent, node)
    bad = int(np.count_nonzero((parents > 0) & (is_root | (parents > 1))))
    return node, labels, bad
