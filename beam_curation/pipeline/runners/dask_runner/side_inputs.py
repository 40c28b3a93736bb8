"""Fix 6: a side input is computed once, not once per bundle of its consumer.

Upstream defect: `DaskBagVisitor.visit_transform` (`apache_beam/runners/dask/dask_runner.py`) wraps the side
input's bag in a `DaskBagWindowedIterator` (`transform_evaluator.py`) inside the `SideInputMap` it passes to the
consumer's op, so the bag, with its whole upstream graph, is pickled into every task of the consumer, and
`list(self.bag)` computes it there again, once per bundle, on Dask's default scheduler inside the worker.

Here the side input is one task (`side_input_value`: its partitions concatenated) that every consuming task
depends on; Dask computes it once and hands each task its values, which `side_input_maps` wraps in upstream's
`SideInputMap` and `DaskBagWindowedIterator` (which iterates a list as it iterates a bag).
"""

from __future__ import annotations

from apache_beam.runners.dask.transform_evaluator import DaskBagWindowedIterator
from apache_beam.transforms.sideinputs import SideInputMap
from apache_beam.transforms.window import GlobalWindows

from beam_curation.pipeline.runners.dask_runner.partition import concat


def side_input_value(bag):
    """One Dask task holding all of `bag`'s values (a Partition), for consuming tasks to depend on."""
    import dask

    # Partition by partition and unoptimised: a finalised bag would carry its own fused copy of its graph.
    return dask.delayed(concat, pure=True)(*bag.to_delayed(optimize_graph=False))


def side_input_maps(side_specs: tuple, side_values: tuple) -> list[SideInputMap]:
    """The `SideInputMap`s a DoFn invoker takes, from each side input's (view class, view options) and values,
    in the global window (this runner, as upstream, runs in the global window only)."""
    return [SideInputMap(view, options, DaskBagWindowedIterator(values, GlobalWindows()))
            for (view, options), values in zip(side_specs, side_values)]
