"""Phase 2's last step: each output part is written by streaming its shard's annotation files back, applying
the decisions (beam_curation.pipeline.graph.decide), and a shard's marker is committed once all its parts are on disk.

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

from beam_curation.filters.dedup.paragraphs import SPANS_COLUMN, remove_spans, span_records
from beam_curation.filters.dedup.types import DedupConfig

from beam_curation.pipeline.io.annotations import TaskDone, iter_rows
from beam_curation.pipeline.graph.decide import Decider, part_dups
from beam_curation.pipeline.graph.decontam import fill
from beam_curation.pipeline.io import formats
from beam_curation.pipeline.io.document import LANGID_PREFILTER, STAGE_REMOVALS, reached_signals
from beam_curation.pipeline.io.passthrough import ColumnUnion, decode_fields, encode_fields, fingerprint
from beam_curation.pipeline.io.figures import Figures
from beam_curation.pipeline.graph.metrics import count, count_written
from beam_curation.pipeline.io.shards import ShardMarker, part_name
from beam_curation.pipeline.plan import Decisions, Writing
from beam_curation.pipeline.io.writers import PartWriter, commit_shard, sum_stats


class PartSpec(NamedTuple):
    shard: str
    input: str
    part: int
    files: list[str]  # the shard's annotation files, one per task
    columns: str  # the shard's own passthrough columns (beam_curation.pipeline.io.passthrough.encode_fields)
    stages: dict[str, Any]  # the shard's annotation stage stats (part 0 carries them into the marker)


def shard_columns(done: Iterable[TaskDone]) -> str:
    """The passthrough columns of a shard: the union of its tasks' (slices of one input)."""
    union = ColumnUnion()
    for d in sorted(done, key=lambda d: d.task.slice):
        union.add(0, decode_fields(d.marker.passthrough), ordered=not formats.get(d.task.format).varying_columns)
    return encode_fields(union.fields())


class RunColumns(beam.CombineFn):
    """(shard index, shard columns) of every shard the graph reads, plus `known` (the complete shards it does
    not) -> the run's output passthrough columns, encoded: what every part is written with."""

    def __init__(self, known: ColumnUnion):
        self._known = known

    def create_accumulator(self) -> ColumnUnion:
        return ColumnUnion()

    def add_input(self, union: ColumnUnion, element: tuple[int, str]) -> ColumnUnion:
        return union.add(element[0], decode_fields(element[1]))

    def merge_accumulators(self, unions: Iterable[ColumnUnion]) -> ColumnUnion:
        merged = ColumnUnion()
        for union in unions:
            merged.merge(union)
        return merged

    def extract_output(self, union: ColumnUnion) -> str:
        return encode_fields(ColumnUnion().merge(self._known).merge(union).output_fields())


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
    columns = shard_columns(done)
    stages = sum_stats({"input": 0, "kept": 0, "removed": {}, "errors": {}, "stages": d.marker.stages}
                       for d in done)["stages"]
    task = done[0].task
    for part in range(parts):
        yield (index, part), PartSpec(task.name, task.path, part, files, columns, stages if part == 0 else {})


class PartWritten(NamedTuple):
    shard: str
    input: str
    part: int
    files: list[str]
    stats: dict[str, Any]
    columns: str  # the shard's passthrough columns (PartSpec.columns)
    schema: str  # fingerprint of the run's passthrough columns the files were written with
    sums: dict[str, Any] = {}  # each file's size and sha256 (beam_curation.pipeline.io.checksum), by path


class WritePart(beam.DoFn):
    """((shard index, part), {'spec': [PartSpec], 'members': [(row, ClusterMember)], 'exact': [row],
    'found': [(row, joined decontamination figures)], 'paragraphs': [(row, repeated paragraph spans)]})
    -> that part's files; yields (shard index, PartWritten)
    for `CommitShard`. A part without a spec belongs to a shard that is already complete (its dedup results
    are dropped). `columns` (side input) is the run's passthrough columns (`RunColumns`)."""

    def __init__(self, writing: Writing, decisions: Decisions, dedup: DedupConfig):
        self._writing = writing
        self._decisions = decisions
        self._dedup = dedup
        self._signature_columns = list(writing.signature_columns)
        self._paragraphs = decisions.dedup and dedup.paragraphs.enabled
        self._decider = self._keyer = None
        self._columns: tuple[str, list[pa.Field]] | None = None

    def setup(self) -> None:
        self._decider = Decider(self._decisions)
        if self._signature_columns:
            from beam_curation.filters.dedup.keys import DedupKeyer

            self._keyer = DedupKeyer(self._dedup)

    def _paragraph_outcome(self, row: dict[str, Any], removed_by: str | None, spans: Iterable[tuple[int, int]]
                           ) -> tuple[dict[str, Any], str | None]:
        """A document that took part in dedup, with its repeated paragraphs: their spans in signals/, and in
        remove mode (filter runs) its text without them, or removed when too little is left (the original
        text goes to removed/). The spans index the text before the cut."""
        row[SPANS_COLUMN] = span_records(spans)
        if spans:
            count("paragraphs_documents_with_repeats")
            count("paragraphs_repeated_lines", len(spans))
        config = self._dedup.paragraphs
        if spans and removed_by is None and config.mode == "remove" and self._decisions.filter_mode:
            left, reason = remove_spans(row["text"] or "", spans, config)
            if reason is not None:
                return row, reason
            return {**row, "text": left}, None
        return row, removed_by

    def _passthrough(self, columns: str) -> list[pa.Field]:
        if self._columns is None or self._columns[0] != columns:
            self._columns = (columns, decode_fields(columns))
        return self._columns[1]

    def process(self, element: tuple[tuple[int, int], dict[str, Iterable]],
                columns: str) -> Iterator[tuple[int, PartWritten]]:
        (index, part), grouped = element
        specs = list(grouped["spec"])
        if not specs:
            return
        spec = specs[0]
        passthrough = self._passthrough(columns)
        schema = fingerprint(passthrough)
        started = time.perf_counter()
        writing = self._writing
        output = writing.output
        per_file = output.rows_per_file
        lo, hi = (part * per_file, (part + 1) * per_file) if per_file > 0 else (0, None)
        rows = iter_rows(spec.files, None, lo, hi)
        first = next(rows, None)
        if first is None and part > 0:  # a gap in the input (a lost row group): no files for it
            yield index, PartWritten(spec.shard, spec.input, part, [], _stats(Counter(), Counter(), 0, spec.stages),
                                     spec.columns, schema)
            return
        dups = part_dups(grouped.get("members", ()), grouped.get("exact", ()))
        repeated = dict(grouped.get("paragraphs", ()))  # row -> its repeated paragraphs' spans
        found = dict(grouped.get("found", ()))
        writer = PartWriter(output.path, part_name(spec.shard, part, per_file), list(writing.signal_fields),
                            passthrough, output.compression, self._decisions.dedup, self._signature_columns,
                            bool(self._dedup.against))
        removed, errors, skipped, n = Counter(), Counter(), Counter(), 0
        figures = Figures(writing.figures)
        for row in _chain(first, rows):
            n += 1
            fill(row, found.get(row["_row"]))
            if self._decider.gated(row):  # as a fresh run writes a page it did not extract, whatever is stored
                removed[LANGID_PREFILTER] += 1
                writer.document(_not_extracted(row), LANGID_PREFILTER, None, False)
                continue
            if row["_error"] is not None:
                errors[row["_error_stage"]] += 1
                writer.error(row)
                continue
            if row["_removed_by"] is None:  # it reached the models: was each one for its language?
                for column, languages in writing.model_languages.items():
                    if row["language"] not in languages:
                        skipped[column] += 1
            removed_by, dup = self._decider.outcome(row, dups.get(row["_row"]))
            if self._paragraphs and dup is not None:
                row, removed_by = self._paragraph_outcome(row, removed_by, repeated.get(row["_row"], ()))
            if removed_by is not None:
                removed[removed_by] += 1
                if removed_by not in STAGE_REMOVALS:
                    count(f"{'dedup' if dup is not None else 'filters'}_removed_{removed_by}")
            reached = reached_signals(row["_removed_by"], row["_error"])
            if reached:
                row.update(self._decider.bands(row))
            writer.document(row, removed_by, dup, reached)
            figures.add(row, removed_by is None, reached, dup)
            if self._signature_columns and row.get("_minhash") is not None:
                writer.signatures(row["id"], self._keyer.band_signatures(row["_minhash"]))
        sums = writer.close()
        files = list(sums)
        stats = _stats(removed, errors, n, spec.stages, skipped)
        stats.update(figures.as_stats())
        stats["stages"]["write"] = {"documents": n, "seconds": round(time.perf_counter() - started, 6)}
        count_written(stats)
        yield index, PartWritten(spec.shard, spec.input, part, files, stats, spec.columns, schema, sums)


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
                             dedup_scope=self._scope, passthrough=parts[0].columns, schema=parts[0].schema,
                             sums={path: s for p in parts for path, s in p.sums.items()})
        yield commit_shard(self._output, marker)
