"""Fix 2: each output of a multi-output ParDo reaches only its own consumers.

Upstream defect: `apply_dofn_to_bundle` (`apache_beam/runners/dask/transform_evaluator.py`) returns
`[v.value for v in tagged_receivers.values]`, main outputs as plain values and tagged ones as WindowedValues, with
no tag; and `DaskBagVisitor.visit_transform` (`dask_runner.py`) hands a producer's one bag to each consumer,
whatever tag the consumed PCollection has. So every consumer of `ParDo(...).with_outputs("odd", main="even")` got
both outputs, the tagged ones still windowed.

Here a ParDo's partition holds (tag, value) pairs, main outputs under None, and each consumer selects its own
tag. Upstream's receivers (`OneReceiver`, `TaggingReceiver`) keep the tag and are used as they are; only the way
the outputs are taken out of them (`take_outputs`) differs.
"""

from __future__ import annotations

from apache_beam.pvalue import TaggedOutput

from beam_curation.pipeline.runners.dask_runner.partition import Partition

# input_tag of a ParDo whose main input is not a ParDo's bag: its partitions are plain values, nothing to select.
UNTAGGED = "__dask_runner_untagged__"


def take_outputs(receivers) -> Partition:
    """A bundle's outputs as (tag, value) pairs, plain values under their tag (None: the main output), taken out of
    upstream's `OneReceiver` (which the DoFn's `_OutputHandler` fills) and cleared from it for the next bundle."""
    out = Partition((output.tag, output.value.value) if isinstance(output, TaggedOutput) else (None, output.value)
                    for output in receivers.values)
    receivers.values.clear()
    return out


def select(partition, tag) -> Partition:
    """One output's values out of a ParDo partition's (tag, value) pairs."""
    return Partition(value for pair_tag, value in partition if pair_tag == tag)
