"""Flatten keeps the partition count of its widest input (not an upstream defect: what it costs).

Upstream's `Flatten.apply` (`apache_beam/runners/dask/transform_evaluator.py`) is `db.concat`, whose partition
count is the sum of its inputs': every later ParDo and shuffle makes that many tasks. Here runs of adjacent
partitions are merged down to the widest input's count, into Partitions (fix 9).
"""

from __future__ import annotations

from apache_beam.runners.dask import transform_evaluator as upstream

from beam_curation.pipeline.runners.dask_runner.partition import merge_adjacent


class Flatten(upstream.Flatten):
    """Upstream's Flatten, then adjacent partitions merged down to the widest input's count."""

    def apply(self, input_bag: list, side_inputs=None):
        from dask import bag as db

        if not input_bag:
            return db.from_sequence([], npartitions=1)
        joined = super().apply(input_bag, side_inputs)
        widest = max(bag.npartitions for bag in input_bag)
        return merge_adjacent(joined, widest) if joined.npartitions > widest else joined
