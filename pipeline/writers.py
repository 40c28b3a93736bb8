"""Write one shard's outputs: documents/, removed/, errors/, signals/, duplicates/ and its completion marker.

Rows are written in input order, one file per output folder named after the input shard, each first under a
temporary name and then renamed, so a crashed attempt never leaves a half file under a final name and a
rerun produces the same bytes. The marker goes last: its presence means the shard is complete.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import posixpath
import time
from collections import Counter
from typing import Any, Iterable, Iterator, NamedTuple

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.atomic import atomic_write
from pipeline.config import Config
from pipeline.document import Doc, ShardSpec
from pipeline.readers import DOLMA_FIELDS, WARC_PASSTHROUGH, parquet_schema, passthrough_fields
from pipeline.schema import DEDUP_KEYS_SCHEMA, DOCUMENT_FIELDS, DUPLICATES_SCHEMA, ERROR_SCHEMA
from pipeline.shards import SHARD_MARKERS, ShardMarker, marker_path, part_name, read_marker

log = logging.getLogger(__name__)

OUTPUT_DIRS = ("documents", "removed", "errors", "signals", "duplicates")


def encode_input(record: dict[str, Any]) -> str:
    """JSON for errors/`input`; bytes values become {"$base64": ...} so the record replays exactly."""
    def default(value: Any) -> Any:
        if isinstance(value, (bytes, bytearray)):
            return {"$base64": base64.b64encode(bytes(value)).decode("ascii")}
        return str(value)

    return json.dumps(record, sort_keys=True, ensure_ascii=False, default=default)


def decode_input(blob: str) -> dict[str, Any]:
    """Inverse of `encode_input`: the original record, with HTML bytes restored."""
    def hook(obj: dict[str, Any]) -> Any:
        if set(obj) == {"$base64"}:
            return base64.b64decode(obj["$base64"])
        return obj

    return json.loads(blob, object_hook=hook)


@functools.lru_cache(maxsize=64)
def _parquet_passthrough(path: str) -> tuple[pa.Field, ...]:
    """The input file's passthrough columns; its footer is read once per worker process, not once per part."""
    try:
        return tuple(passthrough_fields(parquet_schema(path)))
    except Exception:  # unreadable footer: the shard produced only errors
        return ()


def _passthrough_schema(spec: ShardSpec, docs: list[Doc]) -> list[pa.Field]:
    if spec.format == "parquet":
        return list(_parquet_passthrough(spec.path))
    if spec.format == "warc":
        return [pa.field(name, pa.string()) for name in WARC_PASSTHROUGH]
    # Dolma JSONL: the format's own fields always, so every shard and part of a dataset has them as columns
    # (null where a record lacks one), plus whatever other keys these records carry.
    names = sorted(set(DOLMA_FIELDS) | {key for doc in docs if doc.raw_input is None for key in doc.passthrough})
    return [pa.field(name, pa.string()) for name in names]


class ShardWriter:
    """Builds and writes the Arrow tables of one shard."""

    def __init__(self, output: str, signal_fields: list[pa.Field], compression: str):
        self.output = output
        self.signal_schema = pa.schema([pa.field("id", pa.string()), *signal_fields])
        self.compression = None if compression == "none" else compression

    def write(self, name: str, docs: list[Doc], extra: list[pa.Field], errors: pa.Table | None = None,
              duplicates: pa.Table | None = None) -> list[str]:
        """Write the shard's four files (rows in the order given); `extra` are the passthrough columns.

        `errors`, when given, is written as errors/ as it is (refilter carries a run's errors over);
        `duplicates`, when given, is written as duplicates/.
        """
        doc_schema = pa.schema([*DOCUMENT_FIELDS, *extra])
        removed_schema = doc_schema.append(pa.field("removed_by", pa.string()))
        kept = [d for d in docs if d.error is None and d.removed_by is None]
        removed = [d for d in docs if d.error is None and d.removed_by is not None]
        failed = [d for d in docs if d.error is not None]
        tables = {
            "documents": self._documents(kept, doc_schema, extra),
            "removed": self._documents(removed, removed_schema, extra),
            "errors": errors if errors is not None else pa.Table.from_pylist(
                [{"id": d.id, "stage": d.error_stage, "error": d.error, "input": encode_input(d.original_record())}
                 for d in failed], schema=ERROR_SCHEMA),
            "signals": self._signals([d for d in docs if d.reached_signals and d.error is None]),
        }
        if duplicates is not None:
            tables["duplicates"] = duplicates
        return [self.write_table(table, folder, name) for folder, table in tables.items()]

    def write_dedup_keys(self, name: str, keys: Iterable[Any]) -> str:
        """The shard's dedup keys (sorted by node, so the file is the same on every runner) next to its marker."""
        rows = [{"node": k.node, "exact": list(k.exact), "bands": [list(b) for b in k.bands],
                 "signature": k.signature, "shingled": k.shingled} for k in sorted(keys, key=lambda k: k.node)]
        return self.write_table(pa.Table.from_pylist(rows, schema=DEDUP_KEYS_SCHEMA), SHARD_MARKERS,
                                f"{name}.dedup_keys")

    def write_signatures(self, name: str, rows: list[tuple[int, str, dict[str, list[bytes]]]],
                         columns: list[str]) -> str:
        """minhash/: `id` and one list<binary> column of band signatures per threshold (rows in input order)."""
        schema = pa.schema([pa.field("id", pa.string()), *(pa.field(c, pa.list_(pa.binary())) for c in columns)])
        table = pa.Table.from_pylist([{"id": doc_id, **bands} for _, doc_id, bands in rows], schema=schema)
        return self.write_table(table, "minhash", name)

    def _documents(self, docs: list[Doc], schema: pa.Schema, extra: list[pa.Field]) -> pa.Table:
        rows = []
        for d in docs:
            row = {"id": d.id, "text": d.text or "", "url": d.url, "language": d.language,
                   "language_score": d.language_score}
            for f in extra:
                row[f.name] = d.passthrough.get(f.name)
            if d.removed_by is not None:
                row["removed_by"] = d.removed_by
            rows.append(row)
        return pa.Table.from_pylist(rows, schema=schema)

    def _signals(self, docs: list[Doc]) -> pa.Table:
        names = self.signal_schema.names
        rows = []
        for d in docs:
            row = {name: d.signals.get(name) for name in names}
            row["id"], row["language"], row["language_score"] = d.id, d.language, d.language_score
            rows.append(row)
        return pa.Table.from_pylist(rows, schema=self.signal_schema)

    def write_table(self, table: pa.Table, folder: str, name: str) -> str:
        """Write `table` atomically as <folder>/<name>.parquet; returns that path relative to the output."""
        final = posixpath.join(self.output, folder, f"{name}.parquet")
        atomic_write(final, lambda handle: pq.write_table(table, handle, compression=self.compression))
        return posixpath.join(folder, f"{name}.parquet")


def shard_stats(docs: Iterable[Doc]) -> dict[str, Any]:
    docs = list(docs)
    removed = Counter(d.removed_by for d in docs if d.error is None and d.removed_by is not None)
    errors = Counter(d.error_stage for d in docs if d.error is not None)
    counts: Counter = Counter()
    seconds: Counter = Counter()
    for d in docs:
        for stage, value in d.seconds.items():
            counts[stage] += 1
            seconds[stage] += value
    return {
        "input": len(docs),
        "kept": sum(1 for d in docs if d.error is None and d.removed_by is None),
        "removed": dict(sorted(removed.items())),
        "errors": dict(sorted(errors.items())),
        "stages": {s: {"documents": counts[s], "seconds": round(seconds[s], 6)} for s in sorted(counts)},
    }


def apply_duplicates(docs: list[Doc], dups: dict[int, Any], filter_mode: bool) -> pa.Table:
    """Attach dedup results to the shard's documents; in filter mode non-keepers are removed. Returns duplicates/."""
    records = []
    for doc in docs:
        record = dups.get(doc.row)
        if record is None:
            continue
        records.append(record)
        doc.signals["dup_cluster_id"] = record.cluster_id
        doc.signals["dup_cluster_size"] = record.cluster_size
        if filter_mode and not record.keep and doc.active:
            doc.removed_by = record.reason
    return pa.Table.from_pylist([{"id": r.id, "cluster_id": r.cluster_id, "cluster_size": r.cluster_size,
                                  "keep": r.keep} for r in records], schema=DUPLICATES_SCHEMA)


def signature_columns(config: Config) -> list[str]:
    """minhash/ columns when the config asks for RedPajama-V2-style band signatures, else none."""
    from filters.lsh import signature_column

    if not (config.dedup.enabled and config.dedup.write_signatures):
        return []
    return [signature_column(t) for t in config.dedup.all_thresholds()]


class WritePart(beam.DoFn):
    """((shard, part), {'spec': [shard name], 'docs': docs, 'dups': [(row, DupRecord)], 'keys': [DedupKeys],
    'minhash': [...]}) -> that part's files; yields (shard, PartWritten) for `CommitShard`.

    A part is a whole shard unless `output.rows_per_file` cuts shards into row ranges. Part 0 of every shard
    is always written (the shard's name is keyed there), so a shard without documents still gets its (empty)
    files and its marker.
    """

    def __init__(self, config: Config, config_digest: str, signal_fields: list[pa.Field], shards: list[ShardSpec]):
        self._output = config.output.path
        self._compression = config.output.compression
        self._rows_per_file = config.output.rows_per_file
        self._dedup = config.dedup.enabled
        self._filter_mode = config.mode == "filter"
        self._signal_fields = signal_fields
        self._signature_columns = signature_columns(config)
        self._specs = {s.name: s for s in shards}

    def process(self, element: tuple[tuple[str, int], dict[str, Iterable]]) -> Iterator[tuple[str, PartWritten]]:
        (shard, part), grouped = element
        spec = self._specs.get(shard)
        if spec is None:
            raise RuntimeError(f"documents for unknown shard {shard}")
        name = part_name(shard, part, self._rows_per_file)
        docs = sorted(grouped["docs"], key=lambda d: d.row)
        started = time.perf_counter()
        duplicates = None
        if self._dedup:
            duplicates = apply_duplicates(docs, dict(grouped.get("dups", ())), self._filter_mode)
        writer = ShardWriter(self._output, self._signal_fields, self._compression)
        files = writer.write(name, docs, _passthrough_schema(spec, docs), duplicates=duplicates)
        if self._signature_columns:
            files.append(writer.write_signatures(name, sorted(grouped.get("minhash", ())),
                                                 self._signature_columns))
        keys = [writer.write_dedup_keys(name, grouped.get("keys", ()))] if self._dedup else []
        stats = shard_stats(docs)
        stats["stages"]["write"] = {"documents": len(docs), "seconds": round(time.perf_counter() - started, 6)}
        _count_written(stats)
        yield shard, PartWritten(part, files, keys, stats)


def _count_written(stats: dict[str, Any]) -> None:
    """Beam counters of what a part wrote: output_documents, output_kept, output_removed_<reason>,
    output_errors_<stage>; over a run they add up to stats.json."""
    from pipeline.stages import count

    count("output_documents", stats["input"])
    count("output_kept", stats["kept"])
    for reason, n in stats["removed"].items():
        count(f"output_removed_{reason}", n)
    for stage, n in stats["errors"].items():
        count(f"output_errors_{stage}", n)


class PartWritten(NamedTuple):
    part: int
    files: list[str]
    dedup_keys: list[str]
    stats: dict[str, Any]


class CommitShard(beam.DoFn):
    """(shard, [PartWritten]) -> the shard's marker, written once every part of it is on disk."""

    def __init__(self, config_digest: str, output: str, shards: list[ShardSpec], scope: str = ""):
        self._digest = config_digest
        self._output = output
        self._inputs = {s.name: s.path for s in shards}
        self._scope = scope

    def process(self, element: tuple[str, Iterable[PartWritten]]) -> Iterator[ShardMarker]:
        shard, parts = element
        parts = sorted(parts)
        marker = ShardMarker(name=shard, input=self._inputs[shard], config=self._digest,
                             stats=sum_stats([p.stats for p in parts]),
                             files=[f for p in parts for f in p.files],
                             dedup_keys=[f for p in parts for f in p.dedup_keys],
                             dedup_scope=self._scope if any(p.dedup_keys for p in parts) else "")
        yield commit_shard(self._output, marker)


def sum_stats(stats: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Counts and stage seconds of several parts or shards (as `shard_stats` gives them), added up."""
    total: dict[str, Any] = {"input": 0, "kept": 0, "removed": {}, "errors": {}, "stages": {}}
    for s in stats:
        total["input"] += s["input"]
        total["kept"] += s["kept"]
        for key in ("removed", "errors"):
            for reason, n in s[key].items():
                total[key][reason] = total[key].get(reason, 0) + n
        for stage, v in s["stages"].items():
            agg = total["stages"].setdefault(stage, {"documents": 0, "seconds": 0.0})
            agg["documents"] += v["documents"]
            agg["seconds"] = round(agg["seconds"] + v["seconds"], 6)
    for key in ("removed", "errors", "stages"):
        total[key] = dict(sorted(total[key].items()))
    return total


def commit_shard(output: str, marker: ShardMarker) -> ShardMarker:
    """Write the shard's completion marker (atomically): the last act of finishing a shard.

    Files an earlier marker of the shard listed that this one does not (another `output.rows_per_file`
    layout) are deleted first, so each folder holds exactly the current files of every shard."""
    from apache_beam.io.filesystems import FileSystems

    previous = read_marker(output, marker.name)
    if previous is not None:
        stale = set(previous.files + previous.dedup_keys) - set(marker.files + marker.dedup_keys)
        paths = [p for p in (posixpath.join(output, f) for f in sorted(stale)) if FileSystems.exists(p)]
        if paths:
            FileSystems.delete(paths)
    atomic_write(marker_path(output, marker.name), lambda handle: handle.write(marker.to_json().encode()))
    log.info("shard %s: %d in, %d kept", marker.name, marker.stats["input"], marker.stats["kept"])
    return marker
