"""Fix 4: `beam.Create` spreads its items over the workers.

Upstream defect: `Create.apply` (`apache_beam/runners/dask/transform_evaluator.py`), unless `--dask_npartitions`
or `--dask_partition_size` is given, puts up to 128 items (`partition_size = max(128, ...)`) in each partition.
A pipeline that starts from a short list of work items (file names, read tasks) then runs on one worker, one
item after the other.

Here each item gets its own partition, up to MAX_CREATE_PARTITIONS; with either option given, upstream's op
partitions as asked.
"""

from __future__ import annotations

import typing as t

from apache_beam.runners.dask import transform_evaluator as upstream

MAX_CREATE_PARTITIONS = 1024


class Create(upstream.Create):
    """Upstream's Create, one item per partition by default."""

    def apply(self, input_bag, side_inputs=None):
        if self.bag_kwargs:
            return super().apply(input_bag, side_inputs)
        from dask import bag as db

        items = t.cast(t.Any, self.transform).values
        return db.from_sequence(items, npartitions=max(1, min(len(items), MAX_CREATE_PARTITIONS)))
