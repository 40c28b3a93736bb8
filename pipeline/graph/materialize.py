"""Phase 2's last step: each output part is written by streaming its shard's annotation files back, applying
the decisions (pipeline.graph.decide), and a shard's marker is committed once all its parts are on disk.

A part is a whole shard unless `output.rows_per_file` cuts shards into row ranges. What is grouped to get
here is small: one marker per task, and per part the dedup cluster memberships of its documents.
"""

from __future__ import annotations

import posixpath
import time
from collections import Counter
from typing import Any, Iterable, Iterator, NamedTuple

import apache_beam as beam
import pyarrow as pa

from pipeline.io.annotations import TaskDone, file_schema, iter_rows
from pipeline.config import Config
from pipeline.graph.decide import Decider, part_dups
from pipeline.io.document import LANGID_PREFILTER, STAGE_REMOVALS, reached_signals
from pipeline.report.figures import Figures
from pipeline.graph.metrics import count, count_written
from pipeline.io.shards import ShardMarker, part_name
from pipeline.io.writers import PartWriter, commit_shard, sum_stats


class PartSpec(NamedTuple):
    shard: str
    input: str
    part: int
    files: list[str]  # the shard's annotation files, one per task
    jsonl_keys: list[str]
    stages: dict[str, Any]  # the shard's annotation stage stats (part 0 carries them into the marker)


def expand_parts(element: tuple[int, Iterable[TaskDone]], folder: str, rows_per_file: int
                 ) -> Iterator[tuple[tuple[int, int], PartSpec]]:
    """(shard index, its tasks) -> one PartSpec per output part of a shard this run writes."""
    index, done = element
    done = sorted(done, key=lambda d: d.task.slice)
    if not done[0].task.write:
        return
    rows = max(d.marker.rows for d in done)
    parts = max(1, -(-rows // rows_per_file)) if rows_per_file > 0 else 1
    files = [posixpath.join(folder, d.marker.file) for d in done]
    keys = sorted({k for d in done for k in d.marker.passthrough_keys})
    stages = sum_stats({"input": 0, "kept": 0, "removed": {}, "errors": {}, "stages": d.marker.stages}
                       for d in done)["stages"]
    task = done[0].task
    for part in range(parts):
        yield (index, part), PartSpec(task.name, task.path, part, files, keys, stages if part == 0 else {})


class PartWritten(NamedTuple):
    shard: str
    input: str
    part: int
    files: list[str]
    stats: dict[str, Any]


class WritePart(beam.DoFn):
    """((shard index, part), {'spec': [PartSpec], 'members': [(row, ClusterMember)], 'exact': [row]}) ->
    that part's files; yields (shard index, PartWritten) for `CommitShard`. A part without a spec belongs to a
    shard that is already complete (its dedup results are dropped)."""

    def __init__(self, config: Config, signal_fields: list[pa.Field], available: Iterable[str],
                 signature_columns: list[str]):
        self._config = config
        self._signal_fields = signal_fields
        self._available = sorted(available)
        self._signature_columns = signature_columns
        self._decider = self._keyer = None

    def setup(self) -> None:
        from pipeline.graph.stages import model_languages

        self._decider = Decider(self._config, self._available)
        self._model_languages = model_languages(self._config)
        if self._signature_columns:
            from filters.dedup.keys import DedupKeyer

            self._keyer = DedupKeyer(self._config.dedup)

    def process(self, element: tuple[tuple[int, int], dict[str, Iterable]]) -> Iterator[tuple[int, PartWritten]]:
        (index, part), grouped = element
        specs = list(grouped["spec"])
        if not specs:
            return
        spec = specs[0]
        started = time.perf_counter()
        config = self._config
        per_file = config.output.rows_per_file
        lo, hi = (part * per_file, (part + 1) * per_file) if per_file > 0 else (0, None)
        rows = iter_rows(spec.files, None, lo, hi)
        first = next(rows, None)
        if first is None and part > 0:  # a gap in the input (a lost row group): no files for it
            yield index, PartWritten(spec.shard, spec.input, part, [], _stats(Counter(), Counter(), 0, spec.stages))
            return
        dups = part_dups(grouped.get("members", ()), grouped.get("exact", ()))
        writer = PartWriter(config.output.path, part_name(spec.shard, part, per_file), self._signal_fields,
                            file_schema(spec.files[0]), spec.jsonl_keys, config.output.compression,
                            config.dedup.enabled, self._signature_columns)
        removed, errors, skipped, n = Counter(), Counter(), Counter(), 0
        figures = Figures(config)
        for row in _chain(first, rows):
            n += 1
            if self._decider.gated(row):  # as a fresh run writes a page it did not extract, whatever is stored
                removed[LANGID_PREFILTER] += 1
                writer.document(_not_extracted(row), LANGID_PREFILTER, None, False)
                continue
            if row["_error"] is not None:
                errors[row["_error_stage"]] += 1
                writer.error(row)
                continue
            if row["_removed_by"] is None:  # it reached the models: was each one for its language?
                for column, languages in self._model_languages.items():
                    if row["language"] not in languages:
                        skipped[column] += 1
            removed_by, dup = self._decider.outcome(row, dups.get(row["_row"]))
            if removed_by is not None:
                removed[removed_by] += 1
                if removed_by not in STAGE_REMOVALS:
                    count(f"{'dedup' if dup is not None else 'filters'}_removed_{removed_by}")
            reached = reached_signals(row["_removed_by"], row["_error"])
            writer.document(row, removed_by, dup, reached)
            figures.add(row, removed_by is None, reached, dup)
            if self._signature_columns and row.get("_minhash") is not None:
                writer.signatures(row["id"], self._keyer.band_signatures(row["_minhash"]))
        files = writer.close()
        stats = _stats(removed, errors, n, spec.stages, skipped)
        stats.update(figures.as_stats())
        stats["stages"]["write"] = {"documents": n, "seconds": round(time.perf_counter() - started, 6)}
        count_written(stats)
        yield index, PartWritten(spec.shard, spec.input, part, files, stats)


def _not_extracted(row: dict[str, Any]) -> dict[str, Any]:
    """A row as the language gate leaves it: no text, no language."""
    return {**row, "text": "", "language": None, "language_score": None}


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    if first is not None:
        yield first
        yield from rest


def _stats(removed: Counter, errors: Counter, n: int, stages: dict[str, Any],
           skipped: Counter = Counter()) -> dict[str, Any]:
    return {"input": n, "kept": n - sum(removed.values()) - sum(errors.values()),
            "removed": dict(sorted(removed.items())), "errors": dict(sorted(errors.items())),
            "not_scored": dict(sorted(skipped.items())), "stages": {s: dict(v) for s, v in stages.items()}}


class CommitShard(beam.DoFn):
    """(shard index, [PartWritten]) -> the shard's marker, written once every part of it is on disk."""

    def __init__(self, config_digest: str, output: str, scope: str = ""):
        self._digest = config_digest
        self._output = output
        self._scope = scope

    def process(self, element: tuple[int, Iterable[PartWritten]]) -> Iterator[ShardMarker]:
        _, parts = element
        parts = sorted(parts, key=lambda p: p.part)
        marker = ShardMarker(name=parts[0].shard, input=parts[0].input, config=self._digest,
                             stats=sum_stats([p.stats for p in parts]), files=[f for p in parts for f in p.files],
                             dedup_scope=self._scope)
        yield commit_shard(self._output, marker)
