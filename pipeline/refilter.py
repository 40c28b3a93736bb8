"""`refilter`: apply a config's rules to a finished run's stored signals, without recomputing anything.

Compute once, decide many times (as Dolma's mixer does): each shard of the source run is read back from
documents/, removed/ and signals/, the rules of the new config decide again for every document that reached
the signal stages, and the folders are written under the new output. Removals before the signal stages
(`extract_empty`, `langid`) stand; a dedup removal stands unless a rule now removes the document first. Dedup
is not recomputed: when new rules remove a cluster's keeper, rerun to choose another. errors/, duplicates/
and minhash/ are carried over as they are. One Beam task per shard.
"""

from __future__ import annotations

import json
import posixpath
import time
from typing import Iterator

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from filters.rules import compile_rule, first_failed
from pipeline.config import Config, ConfigError
from pipeline.document import DEDUP_REMOVALS, EARLY_REMOVALS, Doc, ShardSpec
from pipeline.readers import open_path
from pipeline.run import (RunSummary, aggregate_stats, finished_markers, manifest, pipeline_options,
                          prepare_output, write_json)
from pipeline.schema import DOCUMENT_FIELDS, ERROR_SCHEMA, SPANS
from pipeline.shards import ShardMarker, read_marker
from pipeline.writers import ShardWriter, commit_shard, shard_stats, sum_stats

SOURCE_COLUMNS = {f.name for f in DOCUMENT_FIELDS} | {"removed_by"}


def _read(path: str) -> pa.Table | None:
    from apache_beam.io.filesystems import FileSystems

    if not FileSystems.exists(path):
        return None
    with open_path(path) as handle:
        return pq.read_table(handle)


class RefilterShard(beam.DoFn):
    def __init__(self, source: str, config: Config, digest: str):
        self._source = source
        self._config = config
        self._digest = digest

    def process(self, marker: ShardMarker) -> Iterator[ShardMarker]:
        # A shard written in parts (output.rows_per_file) is refiltered part by part, into parts of the same names.
        parts = sorted({posixpath.basename(f)[: -len(".parquet")] for f in marker.files
                        if f.startswith("documents/")})
        written = [self._part(part) for part in parts]
        yield commit_shard(self._config.output.path, ShardMarker(
            name=marker.name, input=marker.input, config=self._digest,
            stats=sum_stats(stats for _, stats in written), files=[f for files, _ in written for f in files]))

    def _part(self, name: str) -> tuple[list[str], dict]:
        started = time.perf_counter()
        config = self._config
        tables = {f: _read(posixpath.join(self._source, f, f"{name}.parquet"))
                  for f in ("documents", "removed", "errors", "signals", "duplicates", "minhash")}
        signals_table = tables["signals"]
        signal_fields = [f for f in signals_table.schema if f.name != "id"] if signals_table is not None else []
        signals = {row["id"]: row for row in signals_table.to_pylist()} if signals_table is not None else {}
        rules = []
        if config.mode == "filter" and config.filters.enabled:
            available = {f.name for f in signal_fields if f.type != SPANS}
            rules = [compile_rule(r.name, r.keep, r.params, available, r.languages) for r in config.filters.rules]
        docs: list[Doc] = []
        extra: list[pa.Field] = []
        for folder in ("documents", "removed"):
            table = tables[folder]
            if table is None:
                continue
            extra = [f for f in table.schema if f.name not in SOURCE_COLUMNS]
            for row in table.to_pylist():
                doc = Doc(shard=name, row=len(docs), id=row["id"], url=row["url"], text=row["text"],
                          language=row["language"], language_score=row["language_score"],
                          passthrough={f.name: row[f.name] for f in extra},
                          removed_by=row.get("removed_by"))
                if doc.id in signals:
                    doc.reached_signals = True
                    doc.signals = {k: v for k, v in signals[doc.id].items() if k != "id"}
                    if doc.removed_by not in EARLY_REMOVALS:
                        # Rules come before dedup, as in a run; a duplicate that passes them stays removed.
                        failed = first_failed(rules, doc.signals, doc.language) if rules else None
                        dedup = doc.removed_by if doc.removed_by in DEDUP_REMOVALS else None
                        doc.removed_by = failed or dedup
                docs.append(doc)
        # Keep the signal file's order (input order) for documents that reached it.
        order = {doc_id: i for i, doc_id in enumerate(signals)}
        docs.sort(key=lambda d: (order.get(d.id, len(order)), d.row))
        errors = tables["errors"] if tables["errors"] is not None else pa.Table.from_pylist([], schema=ERROR_SCHEMA)
        writer = ShardWriter(config.output.path, signal_fields, config.output.compression)
        files = writer.write(name, docs, extra, errors=errors, duplicates=tables["duplicates"])
        if tables["minhash"] is not None:
            files.append(writer.write_table(tables["minhash"], "minhash", name))
        stats = shard_stats(docs)
        stats["input"] += errors.num_rows
        stages = errors.column("stage").to_pylist()
        stats["errors"] = {stage: stages.count(stage) for stage in sorted(set(stages))}
        stats["stages"] = {"refilter": {"documents": len(docs), "seconds": round(time.perf_counter() - started, 6)}}
        return files, stats


def refilter(source: str, config: Config, beam_args: list[str] = ()) -> RunSummary:
    from apache_beam.io.filesystems import FileSystems

    started = time.perf_counter()
    manifest_path = posixpath.join(source, "manifest.json")
    if not FileSystems.exists(manifest_path):
        raise ConfigError(f"--from {source}: not a finished run (no manifest.json)")
    with open_path(manifest_path) as handle:
        source_manifest = json.loads(handle.read())
    inputs = source_manifest["inputs"]
    source_rows = source_manifest.get("config", {}).get("output", {}).get("rows_per_file", 0)
    if source_rows != config.output.rows_per_file:
        raise ConfigError(f"output.rows_per_file: {config.output.rows_per_file} but {source} was written with "
                          f"{source_rows}; refilter keeps the source's files, so set the same value")
    markers = [read_marker(source, s["shard"]) for s in inputs]
    if any(m is None for m in markers):
        raise ConfigError(f"--from {source}: a shard marker is missing; rerun the source first")
    output = config.output.path
    prepare_output(output, ("minhash",) if FileSystems.exists(posixpath.join(source, "minhash")) else ())
    digest = config.digest()
    with beam.Pipeline(options=pipeline_options(config, list(beam_args))) as p:
        (p | "ListShards" >> beam.Create(markers) | "Spread" >> beam.Reshuffle()
         | "Refilter" >> beam.ParDo(RefilterShard(source, config, digest)))
    shards = [ShardSpec(path=s["path"], name=s["shard"], format=s["format"]) for s in inputs]
    seconds = time.perf_counter() - started
    finished = finished_markers(output, shards)
    stats = aggregate_stats(finished, seconds)
    write_json(posixpath.join(output, "stats.json"), stats)
    built = manifest(config, digest, shards, finished)
    built["refiltered_from"] = source
    write_json(posixpath.join(output, "manifest.json"), built)
    return RunSummary(output=output, shards=len(shards), skipped=0, stats=stats, seconds=seconds)
