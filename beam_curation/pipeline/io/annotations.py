"""The stored annotations of one task: `_annotations/<task>.parquet` and its marker `_annotations/<task>.json`.

An annotation file holds every document of its task in input order, as the stages left it: text (after any
text refinement), the signal columns, the stage removal or error (with the original record to replay it),
the dedup signature and exact hash, and the passthrough columns. It is written in row groups as the task goes
(nothing held whole), first under a temporary name, and the marker is written once it is in place, with the
file's size and sha256: a marker whose file is missing or differs is discarded on resume (`read_task_marker`). Decisions
(rules, the language keep-list, dedup) are made from these files, so a rerun that changes only decisions reads
them back instead of extracting again, and the final folders are written by streaming them.

Internal columns start with `_`; passthrough columns are stored as `pt.<name>` so that no input column can
collide with a signal; JSONL records, whose keys vary, keep theirs as one JSON object in `_passthrough`. The
task's marker records the passthrough columns and their types (for JSONL, those its values have), from
which the run's output columns are unified (beam_curation.pipeline.io.passthrough).
"""

from __future__ import annotations

import heapq
import json
import logging
import posixpath
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Iterator, NamedTuple, Optional

import pyarrow as pa
import pyarrow.parquet as pq

from beam_curation.pipeline.io import failpoints
from beam_curation.pipeline.io.checksum import FileSum, HashingWriter, mismatch
from beam_curation.pipeline.io.document import Doc, ShardSpec
from beam_curation.pipeline.io.input_record import encode_input

log = logging.getLogger(__name__)

ANNOTATIONS = "_annotations"
ROW = "_row"
PASSTHROUGH_JSON = "_passthrough"
PASSTHROUGH_PREFIX = "pt."
META_FIELDS = [pa.field(ROW, pa.int64()), pa.field("id", pa.string()), pa.field("url", pa.string()),
               pa.field("text", pa.string()), pa.field("_removed_by", pa.string()),
               pa.field("_error_stage", pa.string()), pa.field("_error", pa.string()),
               pa.field("_input", pa.string()), pa.field("_text_chars", pa.int64()),
               pa.field("_langid_guess", pa.list_(pa.string()))]
DEDUP_FIELDS = [pa.field("_text_hash", pa.binary()), pa.field("_minhash", pa.binary()),
                pa.field("_shingled", pa.bool_())]
NGRAMS = "_decontam_ngrams"  # a document's distinct n-gram hashes, 8 bytes each, when a set is joined
ROW_GROUP = 512  # documents per row group: what one read of the file holds


def input_passthrough(spec: ShardSpec) -> list[pa.Field]:
    """The input's passthrough columns as the file types them (JSONL: none here, see `_passthrough`)."""
    from beam_curation.pipeline.io import formats

    return formats.get(spec.format).passthrough_fields(spec.path)


class AnnotationSchema:
    """The columns of one task's annotation file, and Docs -> Arrow table."""

    def __init__(self, signal_fields: list[pa.Field], passthrough: list[pa.Field], fmt: str, dedup: bool,
                 ngrams: bool = False):
        from beam_curation.pipeline.io import formats

        self.signal_fields = signal_fields
        self.passthrough = passthrough
        self._format = formats.get(fmt)
        self._json_passthrough = self._format.varying_columns
        self._dedup = dedup
        self._ngrams = ngrams  # an evaluation set is joined (beam_curation.pipeline.graph.decontam): store the n-gram hashes
        fields = [*META_FIELDS, *signal_fields, *(DEDUP_FIELDS if dedup else [])]
        if ngrams:
            fields.append(pa.field(NGRAMS, pa.binary()))
        fields += [pa.field(PASSTHROUGH_PREFIX + f.name, f.type) for f in passthrough]
        if self._json_passthrough:
            fields.append(pa.field(PASSTHROUGH_JSON, pa.string()))
        self.schema = pa.schema(fields)

    def table(self, docs: list[Doc]) -> pa.Table:
        return self.rows_table(self.rows(docs))

    def rows_table(self, rows: list[dict[str, Any]]) -> pa.Table:
        return pa.Table.from_pylist(rows, schema=self.schema)

    def rows(self, docs: list[Doc]) -> list[dict[str, Any]]:
        """One annotation row per document."""
        rows = []
        for d in docs:
            row = {ROW: d.row, "id": d.id, "url": d.url, "_removed_by": d.removed_by, "_error_stage": d.error_stage,
                   "_error": d.error, "_text_chars": len(d.text or ""),
                   "_langid_guess": list(d.language_guess) if d.language_guess is not None else None}
            if d.error is None:
                row["text"] = d.text or ""
            else:
                row["_input"] = encode_input(self._format.raw_record(d))
            row.update({f.name: d.signals.get(f.name) for f in self.signal_fields})
            row["language"], row["language_score"] = d.language, d.language_score
            if self._dedup and d.dedup is not None:
                row["_text_hash"], row["_minhash"], row["_shingled"] = d.dedup
            if self._ngrams:
                row[NGRAMS] = d.ngrams
            if d.raw_input is None:
                row.update({PASSTHROUGH_PREFIX + f.name: d.passthrough.get(f.name) for f in self.passthrough})
                if self._json_passthrough:
                    row[PASSTHROUGH_JSON] = json.dumps(d.passthrough, sort_keys=True, ensure_ascii=False)
            rows.append(row)
        return rows


@dataclass(frozen=True)
class TaskMarker:
    """Written once a task's annotation file is in place: with the same digest, the task is done."""

    task: str
    shard: str
    input: str
    digest: str
    rows: int  # 1 + the largest input row the task holds (0 when empty)
    documents: int
    stages: dict[str, Any]  # per stage: documents and seconds, as when the task was annotated
    file: str  # relative to the annotations folder
    passthrough: str  # the task's passthrough columns (beam_curation.pipeline.io.passthrough.encode_fields)
    # The language gate skipped (did not annotate) pages guessed outside these languages; None: none skipped.
    gated: Optional[list[str]] = None
    # Size and sha256 of `file` as written (beam_curation.pipeline.io.checksum); None in markers written before
    # markers recorded them.
    file_sum: Optional[dict[str, Any]] = None

    def covers(self, gate: Optional[frozenset[str]]) -> bool:
        """Every page a run with this gate needs annotated is annotated: none was skipped, or the run keeps a
        subset of the languages the skipping kept (skipping is monotone in the keep-list)."""
        return self.gated is None or (gate is not None and gate <= frozenset(self.gated))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, indent=1)


class TaskDone(NamedTuple):
    """A task and its marker: what annotation hands to the global step."""

    task: ShardSpec
    marker: TaskMarker


def marker_path(folder: str, task: str) -> str:
    return posixpath.join(folder, f"{task}.json")


def read_task_marker(folder: str, task: str, verify: bool = False) -> Optional[TaskMarker]:
    """The task's marker, None when there is none (or it does not parse). With `verify`, also None when its
    annotation file is not the one it recorded (missing, truncated, another attempt's): the marker is discarded
    with a warning, and the task is annotated again."""
    from apache_beam.io.filesystems import FileSystems

    path = marker_path(folder, task)
    if not FileSystems.exists(path):
        return None
    try:
        with FileSystems.open(path, compression_type="uncompressed") as handle:
            marker = TaskMarker(**json.loads(handle.read()))
    except (ValueError, TypeError):
        log.warning("%s does not parse: discarded, the task is annotated again", path)
        return None
    if verify:
        file = posixpath.join(folder, marker.file)
        why = mismatch(file, FileSum.from_dict(marker.file_sum) if marker.file_sum is not None else None)
        if why is not None:
            log.warning("discarding the marker %s: its annotation file %s is %s; the task is annotated again",
                        path, file, why)
            return None
    return marker


def incomplete_tasks(folder: str, tasks: list[str], half_only: bool = False) -> list[tuple[str, str]]:
    """(task, what is missing) for each task without its marker or its annotation file, from one listing of the
    folder: what a reader of another run's annotations (`refilter`) checks before it starts. `half_only`: only
    tasks with one of the two (what a crash or a race leaves; a task with neither was not annotated there). Whether
    a present file is the one its marker recorded is checked where the file is read (`read_task_marker`)."""
    from apache_beam.io.filesystems import FileSystems

    try:
        listed = {posixpath.basename(m.path) for m in FileSystems.match([posixpath.join(folder, "*")])[0].metadata_list}
    except Exception:  # noqa: BLE001 - no such folder: every task is missing
        listed = set()
    missing = []
    for task in tasks:
        absent = [(name, what) for name, what in ((f"{task}.json", "marker"), (f"{task}.parquet", "annotation file"))
                  if name not in listed]
        if absent and not (half_only and len(absent) == 2):
            missing.append((task, f"no {absent[0][1]} {posixpath.join(folder, absent[0][0])}"))
    return missing


def write_task_marker(folder: str, marker: TaskMarker) -> None:
    from beam_curation.pipeline.io.atomic import atomic_write

    atomic_write(marker_path(folder, marker.task), lambda handle: handle.write(marker.to_json().encode()))
    failpoints.reached("task_marker")


def _row_groups(parquet: pq.ParquetFile, lo: int, hi: Optional[int]) -> list[int]:
    """Row groups whose `_row` range meets [lo, hi), from the footer's statistics."""
    index = parquet.schema_arrow.get_field_index(ROW)
    groups = []
    for g in range(parquet.num_row_groups):
        stats = parquet.metadata.row_group(g).column(index).statistics
        if stats is not None and stats.has_min_max and (stats.max < lo or (hi is not None and stats.min >= hi)):
            continue
        groups.append(g)
    return groups


def iter_file(path: str, columns: Optional[list[str]] = None, lo: int = 0,
              hi: Optional[int] = None) -> Iterator[dict[str, Any]]:
    """Rows of one annotation file with lo <= _row < hi, in row order, one row group in memory at a time."""
    from beam_curation.pipeline.io.readers import open_path

    with open_path(path) as handle:
        parquet = pq.ParquetFile(handle)
        wanted = None if columns is None else [c for c in dict.fromkeys([ROW, *columns])
                                                if c in parquet.schema_arrow.names]
        for group in _row_groups(parquet, lo, hi):
            for row in parquet.read_row_group(group, columns=wanted).to_pylist():
                if row[ROW] >= lo and (hi is None or row[ROW] < hi):
                    yield row


def iter_rows(paths: Iterable[str], columns: Optional[list[str]] = None, lo: int = 0,
              hi: Optional[int] = None) -> Iterator[dict[str, Any]]:
    """Rows of a shard's annotation files (one per slice) merged into input order."""
    streams = [iter_file(p, columns, lo, hi) for p in paths]
    return heapq.merge(*streams, key=lambda row: row[ROW]) if len(streams) > 1 else iter(streams[0] if streams else ())


def file_schema(path: str) -> pa.Schema:
    from beam_curation.pipeline.io.readers import open_path

    with open_path(path) as handle:
        return pq.ParquetFile(handle).schema_arrow


class AnnotationFile:
    """Streams one task's annotation file: `write(docs)` appends a row group; `close()` puts it in place."""

    def __init__(self, path: str, schema: AnnotationSchema, compression: Optional[str]):
        from apache_beam.io.filesystems import FileSystems

        self.path = path
        self._temp = f"{path}.inprogress"
        self._schema = schema
        self._handle = HashingWriter(FileSystems.create(self._temp, mime_type="application/octet-stream",
                                                        compression_type="uncompressed"))
        self._writer = pq.ParquetWriter(self._handle, schema.schema, compression=compression)
        self.sum: Optional[FileSum] = None  # the file's size and sha256, once closed (what its marker records)

    def write(self, docs: list[Doc]) -> pa.Table:
        table = self._schema.table(docs)
        self._writer.write_table(table)
        return table

    def write_table(self, table: pa.Table) -> None:
        self._writer.write_table(table)

    def close(self) -> None:
        from apache_beam.io.filesystems import FileSystems

        self._writer.close()
        self._handle.close()
        self.sum = self._handle.sum()
        if FileSystems.exists(self.path):
            FileSystems.delete([self.path])
        FileSystems.rename([self._temp], [self.path])
        failpoints.reached("annotation_file")

    def abort(self) -> None:
        try:
            self._writer.close()
            self._handle.close()
        except Exception:  # noqa: BLE001 - best effort; the temporary file is replaced by the next attempt
            pass
