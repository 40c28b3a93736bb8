"""The pipeline as Dask bags: upstream's translation with fixes 2, 5, 6 and 10 wired in, and fixes 4, 8, 11
and 12 chosen per transform.

Upstream: `DaskRunner.to_dask_bag_visitor` (`apache_beam/runners/dask/dask_runner.py`) returns a
`DaskBagVisitor` that looks each primitive up in `TRANSLATIONS` (`transform_evaluator.py`) and applies the op
to its input bags. `BagVisitor` does the same with upstream's ops where they are right (`NoOp` for Reshuffle,
Read, _GroupAlsoByWindow, ...) and this package's subclasses where they are not (`TRANSLATIONS` below). A ParDo
is translated here rather than by an op: its task may run a chain of ParDos (fix 10), reads its producer's
output by tag (fix 2) and depends on its side inputs' tasks (fix 6).
"""

from __future__ import annotations

import re
import types
import typing as t

import apache_beam as beam
from apache_beam.pipeline import AppliedPTransform, PipelineVisitor
from apache_beam.runners.dask import transform_evaluator as upstream
from apache_beam.runners.dask.overrides import _Create, _Flatten, _GroupByKeyOnly, dask_overrides

from beam_curation.pipeline.runners.dask_runner.bundle import ParDoSpec
from beam_curation.pipeline.runners.dask_runner.create import Create
from beam_curation.pipeline.runners.dask_runner.flatten import Flatten
from beam_curation.pipeline.runners.dask_runner.fusion import Consumers, run_chain
from beam_curation.pipeline.runners.dask_runner.group_by_key import (MAX_SHUFFLE_PARTITIONS, GroupByKey,
                                                                     skips_reify_windows)
from beam_curation.pipeline.runners.dask_runner.metrics import METRICS
from beam_curation.pipeline.runners.dask_runner.outputs import UNTAGGED, select
from beam_curation.pipeline.runners.dask_runner.partition import discard
from beam_curation.pipeline.runners.dask_runner.side_inputs import side_input_value

# Upstream's ops, but Create (fix 4), GroupByKey (fix 8) and Flatten (widest input's partition count).
TRANSLATIONS = types.MappingProxyType(
    {**upstream.TRANSLATIONS, _Create: Create, _GroupByKeyOnly: GroupByKey, _Flatten: Flatten})


class BagVisitor(PipelineVisitor):
    """Translates each primitive into a Dask bag (`bags`, by node); a ParDo's bag holds (tag, value) pairs."""

    def __init__(self, bag_kwargs: dict, pool: str, consumers: dict[AppliedPTransform, int],
                 shuffle_parts: int = MAX_SHUFFLE_PARTITIONS):
        self.bag_kwargs = bag_kwargs
        self.shuffle_parts = shuffle_parts  # every GroupByKey's partition count (fix 12)
        self.pool = pool  # the run's DoFnPool name
        self.consumers = consumers  # Consumers.counts
        self.bags: dict[AppliedPTransform, t.Any] = {}
        self.pardos: list[AppliedPTransform] = []  # nodes whose bags hold (tag, value) pairs
        self.consumed: set[AppliedPTransform] = set()
        self.chains: dict[AppliedPTransform, tuple] = {}  # ParDo -> (source bag, chain, side values)
        self.fused: set[AppliedPTransform] = set()  # ParDos run inside their one consumer's tasks (fix 10)

    def _raw(self, pcoll):
        self.consumed.add(pcoll.producer)
        return self.bags[pcoll.producer], pcoll.producer in self.pardos

    def bag_for(self, pcoll):
        """The bag of one PCollection: only its own tag's values when a ParDo made it (fix 2)."""
        bag, tagged = self._raw(pcoll)
        return bag.map_partitions(select, pcoll.tag) if tagged else bag

    def visit_transform(self, node: AppliedPTransform) -> None:
        inputs = [pc for pc in node.inputs if not isinstance(pc, beam.pvalue.PBegin) and pc.producer in self.bags]
        if skips_reify_windows(node, inputs[0] if inputs else None):
            self.bags[node] = self.bag_for(inputs[0])  # fix 11: the values go to the shuffle as they are
        elif type(node.transform) is beam.ParDo:
            self.bags[node] = self.pardo(node, inputs[0])
            self.pardos.append(node)
        else:
            op = TRANSLATIONS.get(type(node.transform), upstream.NoOp)(node, bag_kwargs=dict(self.bag_kwargs))
            if isinstance(op, GroupByKey):
                op.parts = self.shuffle_parts  # fix 12
            bags = [self.bag_for(pc) for pc in inputs]
            # As upstream: a Flatten takes a list of bags, any other op its one input bag (None: a root).
            self.bags[node] = op.apply(bags if isinstance(op, upstream.Flatten) else (bags[0] if bags else None))

    def pardo(self, node: AppliedPTransform, main_input):
        """One task per partition running `run_chain`: this ParDo, after the chain of its producer when this is
        the producer's only consumer (fix 10); side inputs as tasks computed once (fix 6)."""
        producer = main_input.producer
        bag, tagged = self._raw(main_input)
        spec = ParDoSpec.of(node, main_input, input_tag=main_input.tag if tagged else UNTAGGED)
        side_values = [side_input_value(self.bag_for(si.pvalue)) for si in node.side_inputs]
        chain = ((spec, len(side_values)),)
        if producer in self.chains and self.consumers.get(producer) == 1:
            bag, producer_chain, producer_sides = self.chains[producer]
            chain, side_values = producer_chain + chain, [*producer_sides, *side_values]
            self.fused.add(producer)
        self.chains[node] = (bag, chain, side_values)
        # Named after the transform, so that the dashboard's task stream reads as the pipeline.
        token = re.sub(r"[^A-Za-z0-9_.]+", "_", node.full_label)
        return bag.map_partitions(run_chain, self.pool, chain, *side_values, token=token)

    def leaves(self) -> list:
        """Fix 5: every bag nothing else consumes, drained (its values stay on the workers).

        Upstream defect: `DaskRunner.run_pipeline` (`dask_runner.py`) computes only the last translated bag
        (`list(dask_visitor.bags.values())[-1]`), so a branch that does not feed it, a second sink, never runs."""
        seen, out = set(), []
        for node, bag in self.bags.items():
            if node in self.consumed or bag is None or bag.name in seen:
                continue
            seen.add(bag.name)
            out.append(bag.map_partitions(discard))
        return out

    def metric_bags(self) -> list:
        """Each chain's metric updates (fix 3), from its last ParDo (a fused one's travel with its consumer's)."""
        return [self.bags[node].map_partitions(select, METRICS) for node in self.pardos if node not in self.fused]


def translate(pipeline, bag_kwargs: dict, pool: str, shuffle_parts: int = MAX_SHUFFLE_PARTITIONS) -> BagVisitor:
    """The pipeline, with upstream's overrides applied (`dask_overrides`), translated into bags; every
    GroupByKey into `shuffle_parts` partitions (fix 12, `shuffle_width`)."""
    pipeline.replace_all(dask_overrides())
    consumers = Consumers()
    pipeline.visit(consumers)
    visitor = BagVisitor(bag_kwargs, pool, consumers.counts, shuffle_parts)
    pipeline.visit(visitor)
    return visitor
