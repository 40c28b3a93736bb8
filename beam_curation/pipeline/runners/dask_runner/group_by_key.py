"""Fix 8: a GroupByKey is a one-stage shuffle of at most MAX_SHUFFLE_PARTITIONS, with a cheap stable key hash;
fix 11: its ReifyWindows step is skipped in the global window.

Upstream defect (fix 8): `GroupByKey.apply` (`apache_beam/runners/dask/transform_evaluator.py`) is
`input_bag.groupby(key)`: Dask's task shuffle, which hashes every element's key with `tokenize` (an MD5 of its
normalised form) and makes about n * k * stages tasks for n input partitions (k = n up to 32, two stages
beyond). A GroupByKey over a few hundred partitions makes hundreds of thousands of tasks, and the driver's
scheduler holds gigabytes for them.

Here (`GroupByKey`, `shuffle`) at most MAX_SHUFFLE_PARTITIONS splitting tasks, each over a run of adjacent input
partitions, send each (key, value) to one of as many grouping tasks by `key_hash`: CRC-32 of the key's pickle
for keys of plain types (int, str, bytes, tuples of them), the same in every process (Python's str and bytes
hashes are salted per process), and Dask's `tokenize` for other keys, as upstream.

Upstream cost (fix 11, not a defect): `dask_overrides` expands GroupByKey into ReifyWindows, _GroupByKeyOnly
and _GroupAlsoByWindow. The ReifyWindows ParDo wraps every value with its window and timestamp for the grouping
to unwrap again (about a tenth of the workers' time on a dedup run); this runner, as upstream, groups in the
global window only. `skips_reify_windows` tells the translation to pass the values on as they are there.
"""

from __future__ import annotations

import pickle
import typing as t
import zlib

import apache_beam as beam
from apache_beam.runners.dask import transform_evaluator as upstream
from apache_beam.runners.dask.transform_evaluator import defenestrate

from beam_curation.pipeline.runners.dask_runner.partition import Partition, bag_of, runs

MAX_SHUFFLE_PARTITIONS = 32  # Dask's task shuffle stays one stage up to its max_branch, 32
_PLAIN_KEYS = (int, str, bytes)


class GroupByKey(upstream.DaskBagOp):
    """_GroupByKeyOnly as one `shuffle` into at most `parts` (MAX_SHUFFLE_PARTITIONS unless the translation sets
    it, fix 12) partitions: (key, [value, ...])."""

    parts = MAX_SHUFFLE_PARTITIONS

    def apply(self, input_bag, side_inputs=None):
        return shuffle(input_bag, self.parts)


def _plain(key) -> bool:
    kind = type(key)
    return kind in _PLAIN_KEYS or (kind is tuple and all(_plain(part) for part in key))


def key_hash(key) -> int:
    """The same for equal keys in every worker process."""
    if _plain(key):
        return zlib.crc32(pickle.dumps(key, protocol=4))
    from dask.base import tokenize

    return int(tokenize(key), 16)


class _Splits(tuple):
    """One splitting task's output: part j goes to grouping task j (a tuple subclass: moved whole, if at all)."""

    __slots__ = ()


def _split(parts: int, *partitions) -> _Splits:
    """The (key, value) pairs of a run of input partitions, by the grouping task their key's hash sends them to."""
    out = [Partition() for _ in range(parts)]
    for partition in partitions:
        for pair in partition:
            out[key_hash(pair[0]) % parts].append(pair)
    return _Splits(out)


def _pick(splits: _Splits, j: int) -> Partition:
    return splits[j]


def _group(*picked) -> Partition:
    """Beam's (key, [value, ...]) per key, keys in order of arrival, values unwrapped as upstream's op does."""
    groups: dict = {}
    for pairs in picked:
        for key, value in pairs:
            groups.setdefault(key, []).append(defenestrate(value))
    return Partition(groups.items())


def shuffle(bag, parts: int):
    """GroupByKey over `bag` as one task shuffle: at most `parts` splitting tasks, each over a run of adjacent
    input partitions, one picking task per (split, group) pair (it runs where the split is, so only that part
    moves) and `parts` grouping tasks: parts * (parts + 2) tasks, whatever the input's partition count."""
    from dask.base import tokenize

    parts = max(1, min(parts, bag.npartitions))
    token = tokenize(bag.name, parts)
    split, pick, name = f"gbk-split-{token}", f"gbk-pick-{token}", f"gbk-group-{token}"
    graph: dict = {}
    for s, run in enumerate(runs(bag.npartitions, parts)):  # as many splitting tasks as grouping ones
        graph[(split, s)] = (_split, parts, *[(bag.name, i) for i in run])
        for j in range(parts):
            graph[(pick, s, j)] = (_pick, (split, s), j)
    for j in range(parts):
        graph[(name, j)] = (_group, *[(pick, s, j) for s in range(parts)])
    return bag_of(graph, name, parts, bag)


def skips_reify_windows(node, main_input) -> bool:
    """The node is the ReifyWindows step of a GroupByKey over globally windowed values (fix 11)."""
    from apache_beam.transforms.window import GlobalWindows

    windowing = getattr(main_input, "windowing", None)
    return (type(node.transform) is beam.ParDo
            and isinstance(t.cast(beam.ParDo, node.transform).fn, beam.GroupByKey.ReifyWindows)
            and windowing is not None and windowing.windowfn == GlobalWindows())
