"""Phase 1: annotate one task (a shard, or a slice of one) from start to finish in one worker, no shuffle.

read -> extract -> language -> signals -> pii -> decontamination -> perplexity -> classifiers -> dedup
signature, in batches of `ROW_GROUP` documents, each batch appended to the task's annotation file as it is
done; the task's marker is written as soon as the file is in place, so a killed run keeps every finished task.
A task whose marker matches this config's annotation digest is not read again: its stored columns are read
back instead. With the language gate, a task's marker also says which keep-list its skipped pages were
skipped by: a run that keeps a language outside it reads the task again and annotates the skipped pages it now
needs (the other rows are taken from the stored file as they are).

Downstream goes only what the global step needs: one `TaskMarker` per task and, with dedup on, batches of
the few annotation columns that decisions read (never text, signals beyond the rules' or raw input); with an
evaluation set joined, the documents' n-gram hashes (beam_curation.pipeline.graph.decontam).
"""

from __future__ import annotations

import itertools
import logging
import posixpath
import time
from typing import Any, Iterator

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam import pvalue
from apache_beam.utils.shared import Shared

from beam_curation.pipeline.io.annotations import (NGRAMS, ROW_GROUP, AnnotationFile, AnnotationSchema, TaskDone, TaskMarker,
                                     file_schema, input_passthrough, iter_file, read_task_marker, write_task_marker)
from beam_curation.pipeline.io.document import LANGID_PREFILTER, Doc, ShardSpec
from beam_curation.pipeline.graph.metrics import count, count_outcome
from beam_curation.pipeline.io.passthrough import ColumnUnion, decode_fields, encode_fields, input_fields
from beam_curation.pipeline.io import formats
from beam_curation.pipeline.io.readers import read_shard
from beam_curation.pipeline.plan import Annotation
from beam_curation.pipeline.stages.base import run_stages, set_up_stages, tear_down_stages

log = logging.getLogger(__name__)


class AnnotateTask(beam.DoFn):
    """ShardSpec (a task) -> TaskDone, plus (shard index, decision rows) batches on `DECISIONS` when
    `decision_columns` is given (dedup on), and (shard index, [(row, n-gram hashes)]) batches on `NGRAMS`
    when an evaluation set is joined: `ngrams` is "written" (for the tasks of shards this run writes) or
    "all" (every task: dedup's rules read a joined column)."""

    DECISIONS = "decisions"
    NGRAMS = "ngrams"

    def __init__(self, annotation: Annotation, folder: str, digest: str, shared: Shared,
                 decision_columns: list[str] | None = None, compute: bool = True, ngrams: str = ""):
        self._annotation = annotation
        self._folder = folder  # the annotations folder (another run's, for refilter)
        self._digest = digest
        self._shared = shared
        self._columns = decision_columns
        self._ngrams = ngrams
        self._compute = compute  # False: every task must already be annotated (refilter)
        self._stages = None
        self._fields = list(annotation.fields)
        self._gate = annotation.context.gate  # the keep-list pages are skipped by, or None

    def _ready_stages(self) -> list:
        """The stages, set up on the first task that needs annotating (a rerun that reuses every task never
        starts the extraction sandbox or loads a model)."""
        if self._stages is None:
            self._stages = self._annotation.build(self._shared)
            set_up_stages(self._stages)
        return self._stages

    def teardown(self) -> None:
        tear_down_stages(self._stages or [])

    def process(self, task: ShardSpec) -> Iterator[Any]:
        marker = read_task_marker(self._folder, task.task, verify=True)
        if marker is None or marker.digest != self._digest or marker.input != task.path:
            marker = None
        if marker is not None and marker.covers(self._gate):
            count("tasks_reused")
            if self._columns is not None:
                path = posixpath.join(self._folder, marker.file)
                rows = iter_file(path, self._columns)
                while batch := list(itertools.islice(rows, ROW_GROUP)):
                    yield pvalue.TaggedOutput(self.DECISIONS, (task.index, batch))
            if self._wants_ngrams(task):
                yield from self._stored_ngrams(task, posixpath.join(self._folder, marker.file))
            yield TaskDone(task, marker)
            return
        if not self._compute:
            raise RuntimeError(f"task {task.task} has no annotations matching this config in {self._folder} (or "
                               "its annotation file is not the one its marker recorded: see the warning above); "
                               "rerun `beam-curation run` on that folder, which redoes it")
        yield from self._annotate(task, marker)

    def _annotate(self, task: ShardSpec, previous: TaskMarker | None = None) -> Iterator[Any]:
        """Annotate the task; with `previous` (same digest, pages skipped by a gate this run does not cover),
        only the skipped pages this run needs, the other rows copied from the stored file."""
        schema = AnnotationSchema(self._fields, input_passthrough(task), task.format, self._annotation.dedup,
                                  bool(self._ngrams))
        name = f"{task.task}.parquet"
        compression = self._annotation.compression
        stored = _StoredRows(posixpath.join(self._folder, previous.file)) if previous is not None else None
        out = AnnotationFile(posixpath.join(self._folder, name), schema, compression)
        timing: dict[str, dict[str, float]] = {s: dict(v) for s, v in previous.stages.items()} if previous else {}
        rows = documents = 0
        input_format = formats.get(task.format)
        varying = input_format.varying_columns  # the records say their columns (JSONL)
        passthrough = ColumnUnion()
        if varying:  # the format's columns always (a null column is a string one), then what the records hold
            passthrough.add(0, [pa.field(k, pa.null()) for k in input_format.always_columns], ordered=False)
        else:
            passthrough.add(0, input_fields(schema.passthrough))
        if previous is not None:  # the stored rows' columns, as their marker recorded them
            passthrough.add(0, decode_fields(previous.passthrough), ordered=not varying)
        gated_guesses: list[Any] = []
        try:
            docs = self._read(task)
            stages = self._ready_stages()
            while batch := list(itertools.islice(docs, ROW_GROUP)):
                kept_rows = []
                if stored is not None:  # rows the stored file already has right
                    todo = []
                    for doc in batch:
                        row = stored.get(doc.row)
                        if row is not None and not self._needs(row):
                            kept_rows.append(row)
                        else:
                            todo.append(doc)
                    count("prefilter_reannotated_documents", len(todo))
                else:
                    todo = batch
                run_stages(stages, todo)
                table = schema.table(todo)
                if kept_rows:  # each side converted on its own (stored rows are dicts, new ones hold tuples)
                    table = pa.concat_tables([schema.rows_table(kept_rows), table]).sort_by("_row")
                out.write_table(table)
                gated = pc.equal(table.column("_removed_by"), LANGID_PREFILTER).fill_null(False)
                gated_guesses += table.filter(gated).column("_langid_guess").to_pylist()
                documents += len(kept_rows)
                for doc in todo:
                    for stage_name, seconds in doc.seconds.items():
                        agg = timing.setdefault(stage_name, {"documents": 0, "seconds": 0.0})
                        agg["documents"] += 1
                        agg["seconds"] += seconds
                    if doc.raw_input is None and varying:
                        passthrough.add_values(doc.passthrough)
                documents += len(todo)
                rows = max(rows, batch[-1].row + 1)
                if self._columns is not None:
                    columns = [c for c in self._columns if c in table.column_names]
                    yield pvalue.TaggedOutput(self.DECISIONS, (task.index, table.select(["_row", *columns]).to_pylist()))
                if self._wants_ngrams(task):
                    pairs = [(d.row, d.ngrams) for d in todo if d.ngrams is not None]
                    pairs += [(r["_row"], r[NGRAMS]) for r in kept_rows if r.get(NGRAMS) is not None]
                    yield pvalue.TaggedOutput(self.NGRAMS, (task.index, sorted(pairs, key=lambda pair: pair[0])))
            if stored is not None:
                stored.close()  # before the new file takes the stored one's place
            out.close()
        except BaseException:
            out.abort()
            raise
        marker = TaskMarker(task=task.task, shard=task.name, input=task.path, digest=self._digest, rows=rows,
                            documents=documents,
                            stages={s: {"documents": v["documents"], "seconds": round(v["seconds"], 6)}
                                    for s, v in sorted(timing.items())},
                            file=name, passthrough=encode_fields(passthrough.fields()),
                            gated=self._gated_by(gated_guesses, previous), file_sum=out.sum.to_dict())
        write_task_marker(self._folder, marker)
        count("tasks_annotated")
        yield TaskDone(task, marker)

    def _wants_ngrams(self, task: ShardSpec) -> bool:
        return self._ngrams == "all" or (self._ngrams == "written" and task.write)

    def _stored_ngrams(self, task: ShardSpec, path: str) -> Iterator[Any]:
        """A reused task's n-gram hashes, read back in row groups (as the decision columns are)."""
        if NGRAMS not in file_schema(path).names:
            raise RuntimeError(f"{path}: annotated without n-gram hashes, but an evaluation set is joined")
        rows = iter_file(path, [NGRAMS])
        while batch := list(itertools.islice(rows, ROW_GROUP)):
            yield pvalue.TaggedOutput(self.NGRAMS, (task.index, [(r["_row"], r[NGRAMS]) for r in batch
                                                                 if r[NGRAMS] is not None]))

    def _needs(self, row: dict[str, Any]) -> bool:
        """A stored row this run must annotate: a page skipped by a gate that this run's does not imply."""
        from beam_curation.filters.models.langid_prefilter import outside

        return row["_removed_by"] == LANGID_PREFILTER and not outside(row["_langid_guess"], self._gate)

    def _gated_by(self, guesses: list[Any], previous: TaskMarker | None) -> list[str] | None:
        """The widest keep-list every skipped page of the task is outside (what the marker records)."""
        from beam_curation.filters.models.langid_prefilter import outside

        if not guesses:
            return None
        gate = self._gate or frozenset()
        candidates = [frozenset(previous.gated or ()) | gate] if previous is not None else []
        for widest in [*candidates, gate]:
            if widest and all(outside(g, widest) for g in guesses):
                return sorted(widest)
        raise RuntimeError("pages were skipped that no keep-list of this run skips")  # pragma: no cover

    def _read(self, task: ShardSpec) -> Iterator[Doc]:
        """The task's documents, timing the reader alone (not the stages run between reads)."""
        docs = read_shard(task, self._annotation.max_text_bytes)
        while True:
            started = time.perf_counter()
            doc = next(docs, None)
            if doc is None:
                return
            doc.add_seconds("read", time.perf_counter() - started)
            count_outcome("read", doc)
            yield doc


class _StoredRows:
    """A stored annotation file's rows looked up in input order (both streams ascend in `_row`)."""

    def __init__(self, path: str):
        self._rows = iter_file(path)
        self._next: dict[str, Any] | None = next(self._rows, None)

    def get(self, row: int) -> dict[str, Any] | None:
        while self._next is not None and self._next["_row"] < row:
            self._next = next(self._rows, None)
        if self._next is not None and self._next["_row"] == row:
            return self._next
        return None

    def close(self) -> None:
        self._rows.close()
