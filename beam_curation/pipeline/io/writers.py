"""Write one output part's files: documents/, removed/, errors/, signals/, duplicates/, minhash/.

Rows arrive in input order with their decision already made (beam_curation.pipeline.graph.materialize) and are streamed into
each folder's file in row groups, first under a temporary name, then renamed, so a crashed attempt never
leaves a half file under a final name, memory does not grow with the part, and a rerun writes the same bytes.
No file has 0 rows; every file of a folder has the same schema.
"""

from __future__ import annotations

import json
import logging
import posixpath
from typing import Any, Iterable, Optional

import pyarrow as pa
import pyarrow.parquet as pq

from beam_curation.pipeline.io.annotations import PASSTHROUGH_JSON, PASSTHROUGH_PREFIX, ROW_GROUP
from beam_curation.pipeline.io import failpoints
from beam_curation.pipeline.io.atomic import atomic_write
from beam_curation.pipeline.io.checksum import FileSum, HashingWriter
from beam_curation.pipeline.io.figures import add_figures, sort_figures
from beam_curation.pipeline.io.passthrough import conform, output_column
from beam_curation.pipeline.io.schema import DOCUMENT_FIELDS, DUPLICATES_AGAINST_SCHEMA, DUPLICATES_SCHEMA, ERROR_SCHEMA
from beam_curation.pipeline.io.shards import ShardMarker, marker_path, read_marker

log = logging.getLogger(__name__)

OUTPUT_DIRS = ("documents", "removed", "errors", "signals", "duplicates")


class _StreamedTable:
    """One output file written in row groups under a temporary name; `close` moves it into place."""

    def __init__(self, path: str, schema: pa.Schema, compression: Optional[str]):
        from apache_beam.io.filesystems import FileSystems

        self.path = path
        self._temp = f"{path}.inprogress"
        self._schema = schema
        self._rows: list[dict[str, Any]] = []
        self._handle = HashingWriter(FileSystems.create(self._temp, mime_type="application/octet-stream",
                                                        compression_type="uncompressed"))
        self._writer = pq.ParquetWriter(self._handle, schema, compression=compression)

    def add(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        if len(self._rows) >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        self._writer.write_table(pa.Table.from_pylist(self._rows, schema=self._schema))
        self._rows = []

    def close(self) -> FileSum:
        """Move the file into place; its size and sha256 (what the shard's marker records)."""
        from apache_beam.io.filesystems import FileSystems

        if self._rows:
            self._flush()
        self._writer.close()
        self._handle.close()
        if FileSystems.exists(self.path):
            FileSystems.delete([self.path])
        FileSystems.rename([self._temp], [self.path])
        failpoints.reached("data_file")
        return self._handle.sum()


class PartWriter:
    """The files of one part. `document`, `error` and `signatures` take annotation rows (beam_curation.pipeline.io.annotations).

    A folder's file is created with the folder's first row: a part with nothing for a folder writes no file
    there (a 0-row file is one that `datasets` refuses), and deletes the file an earlier attempt or run of the
    part left there. `passthrough` is the run's passthrough columns (beam_curation.pipeline.io.passthrough), the same for
    every part, so each folder has one schema."""

    def __init__(self, output: str, name: str, signal_fields: list[pa.Field], passthrough: list[pa.Field],
                 compression: str, dedup: bool, signature_columns: list[str], against: bool = False):
        self._compression = None if compression == "none" else compression
        self._passthrough = {f.name: f.type for f in passthrough}
        self._signal_names = [f.name for f in signal_fields]
        documents = pa.schema([*DOCUMENT_FIELDS, *passthrough])
        self._schemas = {"documents": documents, "removed": documents.append(pa.field("removed_by", pa.string())),
                         "errors": ERROR_SCHEMA, "signals": pa.schema([pa.field("id", pa.string()), *signal_fields])}
        if dedup:
            self._schemas["duplicates"] = DUPLICATES_AGAINST_SCHEMA if against else DUPLICATES_SCHEMA
        self._against = against
        if signature_columns:
            self._schemas["minhash"] = pa.schema([pa.field("id", pa.string()),
                                                  *(pa.field(c, pa.list_(pa.binary())) for c in signature_columns)])
        self._signature_columns = signature_columns
        self._output = output
        self._name = name
        self._tables: dict[str, _StreamedTable] = {}

    def _path(self, folder: str) -> str:
        return posixpath.join(self._output, folder, f"{self._name}.parquet")

    def _add(self, folder: str, row: dict[str, Any]) -> None:
        table = self._tables.get(folder)
        if table is None:
            table = self._tables[folder] = _StreamedTable(self._path(folder), self._schemas[folder],
                                                          self._compression)
        table.add(row)

    def _passthrough_values(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row's passthrough values under their output names, typed as the run's columns."""
        blob = row.get(PASSTHROUGH_JSON)
        if blob is not None:
            values = json.loads(blob)
        else:
            values = {k[len(PASSTHROUGH_PREFIX):]: v for k, v in row.items() if k.startswith(PASSTHROUGH_PREFIX)}
        out = dict.fromkeys(self._passthrough)
        for key, value in values.items():
            name = output_column(key)
            out[name] = conform(value, self._passthrough[name])
        return out

    def document(self, row: dict[str, Any], removed_by: Optional[str], dup: Any,
                 reached_signals: bool) -> None:
        """A document that did not fail: to documents/ or removed/, and to signals/ and duplicates/."""
        out = {"id": row["id"], "text": row["text"] or "", "url": row["url"], "language": row["language"],
               "language_score": row["language_score"], **self._passthrough_values(row)}
        if removed_by is None:
            self._add("documents", out)
        else:
            out["removed_by"] = removed_by
            self._add("removed", out)
        if reached_signals:
            signals = {name: row.get(name) for name in self._signal_names}
            signals["id"] = row["id"]
            if dup is not None:
                signals["dup_cluster_id"], signals["dup_cluster_size"] = dup.cluster_id, dup.cluster_size
            self._add("signals", signals)
        if dup is not None:
            record = {"id": row["id"], "cluster_id": dup.cluster_id, "cluster_size": dup.cluster_size,
                      "keep": dup.keep}
            if self._against:
                record.update(reason=dup.reason, keeper_run=dup.keeper_run)
            self._add("duplicates", record)

    def error(self, row: dict[str, Any]) -> None:
        self._add("errors", {"id": row["id"], "stage": row["_error_stage"], "error": row["_error"],
                             "input": row["_input"]})

    def signatures(self, doc_id: str, bands: list[list[bytes]]) -> None:
        """minhash/: RedPajama-V2's band signatures of one document, one list per threshold."""
        self._add("minhash", {"id": doc_id, **dict(zip(self._signature_columns, bands))})

    def close(self) -> dict[str, dict[str, Any]]:
        """Put every file in place and delete this part's old files in the folders it wrote nothing to; the
        paths written, relative to the output, with each file's size and sha256 (`FileSum.to_dict`)."""
        from apache_beam.io.filesystems import FileSystems

        sums = {posixpath.join(folder, f"{self._name}.parquet"): table.close().to_dict()
                for folder, table in self._tables.items()}
        old = [p for p in (self._path(f) for f in self._schemas if f not in self._tables) if FileSystems.exists(p)]
        if old:
            FileSystems.delete(old)
        return {path: sums[path] for path in (posixpath.join(folder, f"{self._name}.parquet")
                                              for folder in self._schemas if folder in self._tables)}


def sum_stats(stats: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Counts, stage seconds and card figures (beam_curation.pipeline.io.figures) of several parts or shards, added up.
    `not_scored`: documents a model left unscored because it is not for their language, by output column."""
    total: dict[str, Any] = {"input": 0, "kept": 0, "removed": {}, "errors": {}, "not_scored": {}, "stages": {}}
    for s in stats:
        total["input"] += s["input"]
        total["kept"] += s["kept"]
        for key in ("removed", "errors", "not_scored"):
            for reason, n in s.get(key, {}).items():
                total[key][reason] = total[key].get(reason, 0) + n
        for stage, v in s["stages"].items():
            agg = total["stages"].setdefault(stage, {"documents": 0, "seconds": 0.0})
            agg["documents"] += v["documents"]
            agg["seconds"] = round(agg["seconds"] + v["seconds"], 6)
        add_figures(total, s)
    for key in ("removed", "errors", "not_scored", "stages"):
        total[key] = dict(sorted(total[key].items()))
    sort_figures(total)
    return total


def commit_shard(output: str, marker: ShardMarker) -> ShardMarker:
    """Write the shard's completion marker (atomically): the last act of finishing a shard.

    Files an earlier marker of the shard listed that this one does not (another `output.rows_per_file`
    layout) are deleted first, so each folder holds exactly the current files of every shard."""
    from apache_beam.io.filesystems import FileSystems

    previous = read_marker(output, marker.name)
    if previous is not None:
        stale = set(previous.files) - set(marker.files)
        paths = [p for p in (posixpath.join(output, f) for f in sorted(stale)) if FileSystems.exists(p)]
        if paths:
            FileSystems.delete(paths)
    atomic_write(marker_path(output, marker.name), lambda handle: handle.write(marker.to_json().encode()))
    failpoints.reached("shard_marker")
    log.info("shard %s: %d in, %d kept", marker.name, marker.stats["input"], marker.stats["kept"])
    return marker
