"""Fix 10: a ParDo whose outputs feed exactly one ParDo runs inside that ParDo's tasks.

Upstream cost (not a defect; Beam's other runners fuse likewise): `ParDo.apply`
(`apache_beam/runners/dask/transform_evaluator.py`) makes each ParDo a task per partition (two, with its
`map(get_windowed_value)`), whose whole output stays in worker memory until its consumer's task has run. Here a
chain of ParDos, each feeding only the next (`Consumers` counts main and side inputs), is one task per partition
(`run_chain`): a bundle of each ParDo in turn, each link's selected output (fix 2) feeding the next, so the
partitions between them never exist as Dask results. Every ParDo, fused or not, runs through `run_chain`.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.pipeline import AppliedPTransform, PipelineVisitor

from beam_curation.pipeline.runners.dask_runner.bundle import DoFnPool, ParDoSpec
from beam_curation.pipeline.runners.dask_runner.metrics import METRICS, BundleMetrics
from beam_curation.pipeline.runners.dask_runner.outputs import UNTAGGED, select
from beam_curation.pipeline.runners.dask_runner.partition import Partition


class Consumers(PipelineVisitor):
    """How many main and side inputs each primitive's outputs feed (`counts`, by producing node)."""

    def __init__(self) -> None:
        self.counts: dict[AppliedPTransform, int] = {}

    def visit_transform(self, node: AppliedPTransform) -> None:
        fed = [pc for pc in node.inputs if not isinstance(pc, beam.pvalue.PBegin)]
        fed += [side.pvalue for side in node.side_inputs]
        for pcoll in fed:
            self.counts[pcoll.producer] = self.counts.get(pcoll.producer, 0) + 1


def run_chain(partition, pool: str, chain: tuple[tuple[ParDoSpec, int], ...], *side_values) -> Partition:
    """One Dask partition as one Beam bundle of each ParDo of `chain` in turn. `chain` pairs each ParDo's spec
    with its number of side inputs, whose values follow in order; `pool` names the run's DoFnPool. Returns the
    last link's (tag, value) outputs, then every link's metric updates under the tag METRICS (fix 3)."""
    found = DoFnPool.on_this_worker(pool)
    pool_here = found if found is not None else DoFnPool(pool)  # outside a worker: set up and torn down here
    try:
        out, updates, taken = partition, [], 0
        for spec, sides in chain:
            items = out if spec.input_tag == UNTAGGED else select(out, spec.input_tag)
            instance = pool_here.acquire(spec, side_values[taken:taken + sides])
            taken += sides
            try:
                with BundleMetrics(spec.label) as metrics:
                    out = instance.bundle(items, spec.window_fn)
            except BaseException:
                instance.teardown()  # as Beam's other runners, a DoFn that failed a bundle is not reused
                raise
            pool_here.release(spec, instance)
            if metrics.updates is not None:
                updates.append(metrics.updates)
        out.extend((METRICS, update) for update in updates)
        return out
    finally:
        if found is None:
            pool_here.close()
