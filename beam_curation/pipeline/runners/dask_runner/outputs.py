"""Fix 2: each output of a multi-output ParDo reaches only its own consumers.

Upstream defect: `apply_dofn_to_bundle` (`apache_beam/runners/dask/transform_evaluator.py`) returns
`[v.value for v in tagged_receivers.values]`, main outputs as plain values and tagged ones as WindowedValues, with
no tag; and `DaskBagVisitor.visit_transform` (`dask_runner.py`) hands a producer's one bag to each consumer,
whatever tag the consumed PCollection has. So every consumer of `ParDo(...).with_outputs("odd", main="even")` got
both outputs, the tagged ones still windowed.

Here a ParDo's partition holds (tag, value) pairs, main outputs under None (`TaggedReceivers`), and each
consumer selects its own tag (`select`). Upstream's `OneReceiver` keeps the tag too, but wraps each tagged
output in a `TaggedOutput` for a second pass to unwrap: writing the pair directly halves the runner's
per-element cost of a bundle.
"""

from __future__ import annotations

from apache_beam.runners.common import Receiver

from beam_curation.pipeline.runners.dask_runner.partition import Partition

# input_tag of a ParDo whose main input is not a ParDo's bag: its partitions are plain values, nothing to select.
UNTAGGED = "__dask_runner_untagged__"


class _PairReceiver(Receiver):
    """Appends (tag, plain value) to the running bundle's outputs."""

    def __init__(self, tag, owner: "TaggedReceivers"):
        self.tag, self.owner = tag, owner

    def receive(self, windowed_value) -> None:
        self.owner.out.append((self.tag, windowed_value.value))


class TaggedReceivers(dict):
    """Output tag -> receiver (made on first use), as the DoFn's `_OutputHandler` takes them (main: self[None]);
    all append to `out`, the running bundle's outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.out = Partition()

    def __missing__(self, tag) -> _PairReceiver:
        receiver = self[tag] = _PairReceiver(tag, self)
        return receiver

    def take(self) -> Partition:
        """The bundle's (tag, value) outputs; the next bundle's start empty."""
        out, self.out = self.out, Partition()
        return out


def select(partition, tag) -> Partition:
    """One output's values out of a ParDo partition's (tag, value) pairs."""
    return Partition(value for pair_tag, value in partition if pair_tag == tag)
