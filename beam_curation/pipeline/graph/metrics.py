"""Every Beam counter of the pipeline, in one place.

Counters live in the `curation` namespace (Dataflow's and Flink's job pages show them as progress; a run
returns them as `RunSummary.counters`): `<stage>_documents`, `<stage>_removed_<reason>`, `<stage>_errors`,
`output_*` tallies that add up to stats.json, `tasks_annotated` / `tasks_reused`, and, when measuring, before
every grouping `shuffled_records_<label>` and `shuffled_bytes_<label>`: the encoded size of what the runner
must move, which is how `scripts/bench.py shuffle` checks that only keys and decisions travel.
"""

from __future__ import annotations

import logging
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

log = logging.getLogger(__name__)

NAMESPACE = "curation"


def count(name: str, n: int = 1) -> None:
    """Add to the counter `curation:<name>` (works inside any DoFn or Map)."""
    Metrics.counter(NAMESPACE, name).inc(n)


def count_outcome(stage: str, doc: Any) -> None:
    """Count a document a stage processed, and its removal or failure if that stage caused it."""
    count(f"{stage}_documents")
    if doc.error is not None and doc.error_stage == stage:
        count(f"{stage}_errors")
    elif doc.removed_by is not None and doc.error is None:
        count(f"{stage}_removed_{doc.removed_by}")


def count_written(stats: dict[str, Any]) -> None:
    """What a part wrote: output_documents, output_kept, output_removed_<reason>, output_errors_<stage>,
    output_not_scored_<column> (documents a model was not for)."""
    count("output_documents", stats["input"])
    count("output_kept", stats["kept"])
    for reason, n in stats["removed"].items():
        count(f"output_removed_{reason}", n)
    for stage, n in stats["errors"].items():
        count(f"output_errors_{stage}", n)
    for column, n in stats.get("not_scored", {}).items():
        count(f"output_not_scored_{column}", n)


class CountShuffled(beam.DoFn):
    """Passes elements through, counting them and their encoded bytes, before a grouping (see `measured`).

    The bytes are those of Beam's default coder for untyped elements (FastPrimitivesCoder), which is what the
    runner encodes for these PCollections."""

    def __init__(self, label: str):
        self._label = label
        self._records = self._bytes = self._coder = None

    def setup(self) -> None:
        self._records = Metrics.counter(NAMESPACE, f"shuffled_records_{self._label}")
        self._bytes = Metrics.counter(NAMESPACE, f"shuffled_bytes_{self._label}")
        self._coder = beam.coders.FastPrimitivesCoder()

    def process(self, element):
        self._records.inc()
        self._bytes.inc(len(self._coder.encode(element)))
        yield element


def measured(pcoll: Any, step: str, label: str, measure: bool) -> Any:
    """`pcoll` through a `CountShuffled(label)` step when measuring (`runner.measure_shuffle`), else `pcoll`
    itself: encoding every record twice costs microseconds each, and a step per grouping costs set-up time on
    local runners, so it is only there when asked for."""
    return pcoll | step >> beam.ParDo(CountShuffled(label)) if measure else pcoll


def beam_counters(result: Any) -> dict[str, int]:
    """The run's `curation` counters by name; {} (with a note) on a runner that reports no metrics."""
    from apache_beam.metrics.metric import MetricsFilter

    try:
        queried = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]
    except (NotImplementedError, AttributeError) as exc:
        log.info("this runner reports no Beam metrics (%s); stats.json comes from the shard markers", exc)
        return {}
    totals: dict[str, int] = {}
    for counter in queried:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + (value or 0)
    return dict(sorted(totals.items()))


def shuffle_totals(counters: dict[str, int]) -> dict[str, int]:
    """Records and bytes that went through groupings, summed over labels."""
    return {"records": sum(v for k, v in counters.items() if k.startswith("shuffled_records_")),
            "bytes": sum(v for k, v in counters.items() if k.startswith("shuffled_bytes_"))}
