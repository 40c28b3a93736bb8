"""Fix 9: a partition moves between workers in one piece.

Upstream defect: every task of upstream's runner returns a plain `list` (`apply_dofn_to_bundle` in
`apache_beam/runners/dask/transform_evaluator.py`, and `bag.groupby` / `db.concat` partitions). distributed's
`serialize` walks a top-level list and pickles each item on its own (a frame, a header and a module lookup per
element), which on a dedup run took more worker time than the DoFns. A list subclass is not walked: it is
pickled whole. Every task this layer adds returns a `Partition`.
"""

from __future__ import annotations

import typing as t


class Partition(list):
    """A bag partition: a list that distributed pickles in one piece when it moves between workers."""

    __slots__ = ()


def concat(*partitions: t.Iterable) -> Partition:
    """The partitions' values, in order, as one Partition."""
    return Partition(value for partition in partitions for value in partition)


def discard(_partition) -> Partition:
    """An empty Partition: a bag computed for its side effects, without shipping its values to the client."""
    return Partition()


def runs(n: int, count: int) -> list[range]:
    """0..n-1 cut into `count` runs of adjacent indices, as even as can be."""
    bounds = [round(i * n / count) for i in range(count + 1)]
    return [range(bounds[r], bounds[r + 1]) for r in range(count)]


def bag_of(graph: dict, name: str, parts: int, source):
    """The bag whose partitions are the tasks (name, 0..parts-1) of `graph`, built on the bag `source`."""
    from dask.bag import Bag
    from dask.highlevelgraph import HighLevelGraph

    return Bag(HighLevelGraph.from_collections(name, graph, dependencies=[source]), name, parts)


def merge_adjacent(bag, parts: int):
    """Runs of adjacent partitions of `bag` merged into `parts` Partitions (as `Bag.repartition`, whose
    partitions are plain lists)."""
    from dask.base import tokenize

    name = f"merge-{tokenize(bag.name, parts)}"
    graph = {(name, r): (concat, *[(bag.name, i) for i in run]) for r, run in enumerate(runs(bag.npartitions, parts))}
    return bag_of(graph, name, parts, bag)
