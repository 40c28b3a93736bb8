"""Earlier finished runs as a dedup index (`dedup.against`): checked at start, listed part by part, read only.

An earlier run's index is the stored dedup keys (`_text_hash`, `_minhash`, `_shingled`, `url`, `language` in
its annotation files) of the documents its dedup kept (`keep` true in its duplicates/). Nothing here writes:
the folders are opened for reading and listed, never created, locked or mended.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import posixpath
from typing import Any, Iterator, NamedTuple

from beam_curation.pipeline.io.json_files import read_json_object
from beam_curation.filters.dedup.types import DedupConfig
from beam_curation.pipeline.io.lease import check_free
from beam_curation.settings import SHAPES, ConfigError

MANIFEST = "manifest.json"
INDEX_COLUMNS = ["_row", "id", "url", "language", "_text_chars", "_text_hash", "_minhash", "_shingled",
                 "quality_score"]


class IndexPart(NamedTuple):
    """One shard of an earlier run: what a worker reads to emit that shard's kept documents' dedup keys."""

    folder_index: int  # position in `dedup.against` (earlier in the list wins a tie)
    folder: str
    shard_index: int
    annotations: list[str]  # the shard's annotation files (one per task)
    duplicates: list[str]  # the shard's duplicates/ files: which documents its dedup kept


def _list(pattern: str) -> list[str]:
    from apache_beam.io.filesystems import FileSystems

    try:
        return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    except Exception:  # noqa: BLE001 - no such folder
        return []


def signature_settings(dedup: DedupConfig) -> dict[str, Any]:
    """The dedup settings that shape the stored keys (the signature's): they must be equal to reuse them."""
    return {f.name: getattr(dedup, f.name) for f in dataclasses.fields(dedup) if f.metadata.get(SHAPES, True)}


def _annotations_folder(folder: str, manifest: dict[str, Any]) -> str:
    """Where the run's stored annotations are: its own, or those a `refilter` output decided from."""
    source = manifest.get("refiltered_from")
    return posixpath.join(source or folder, "_annotations")


def check_against(dedup: DedupConfig, output: str) -> None:
    """Each `dedup.against` folder is a finished run with stored dedup keys made with our signature settings,
    and not this run's output; else one line naming the folder and what is wrong (ConfigError)."""
    ours = signature_settings(dedup)
    for i, folder in enumerate(dedup.against):
        key = f"dedup.against[{i}]"
        if folder.rstrip("/") == output.rstrip("/"):
            raise ConfigError(f"{key}: {folder} is this run's output folder: an earlier run is read, never written")
        manifest = read_json_object(posixpath.join(folder, MANIFEST))
        if manifest is None:
            raise ConfigError(f"{key}: {folder} is not a finished run (no readable {MANIFEST})")
        check_free(folder, key)  # a folder a live command is rewriting is no finished run, whatever its manifest
        theirs = (manifest.get("config") or {}).get("dedup") or {}
        if not theirs.get("enabled", False):
            raise ConfigError(f"{key}: {folder} was run with dedup off: it stored no dedup keys")
        for name, value in ours.items():
            if name in theirs and _plain(theirs[name]) != _plain(value):
                raise ConfigError(f"{key}: {folder} stored its dedup keys with dedup.{name}={theirs[name]!r}, this "
                                  f"run has {value!r}: the signatures are not comparable")
        missing = [s["shard"] for s in manifest.get("inputs", [])
                   if read_json_object(posixpath.join(folder, "_shards", f"{s['shard']}.json")) is None]
        if missing:
            raise ConfigError(f"{key}: {folder} is not a finished run (shard {missing[0]} has no marker)")
        if manifest.get("inputs") and not _list(posixpath.join(_annotations_folder(folder, manifest), "*.json")):
            raise ConfigError(f"{key}: {folder} has no stored dedup keys (its _annotations/ is empty or gone)")


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def index_parts(dedup: DedupConfig) -> list[IndexPart]:
    """Every shard of every `against` run (read on the driver: one marker per shard and per task)."""
    parts = []
    for i, folder in enumerate(dedup.against):
        manifest = read_json_object(posixpath.join(folder, MANIFEST)) or {}
        annotations = _annotations_folder(folder, manifest)
        tasks: dict[str, list[str]] = {}
        for path in _list(posixpath.join(annotations, "*.json")):
            marker = read_json_object(path)
            if marker and "shard" in marker and "file" in marker:
                tasks.setdefault(marker["shard"], []).append(posixpath.join(annotations, marker["file"]))
        for index, entry in enumerate(manifest.get("inputs", [])):
            name = entry["shard"]
            shard = read_json_object(posixpath.join(folder, "_shards", f"{name}.json")) or {}
            dups = [posixpath.join(folder, f) for f in shard.get("files", []) if f.startswith("duplicates/")]
            if dups and tasks.get(name):
                parts.append(IndexPart(i, folder, index, sorted(tasks[name]), sorted(dups)))
    return parts


def kept_ids(duplicates: list[str]) -> set[str]:
    """Ids of the documents an earlier run's dedup kept (duplicates/ rows with `keep`)."""
    import pyarrow.parquet as pq

    from beam_curation.pipeline.io.readers import open_path

    kept: set[str] = set()
    for path in duplicates:
        with open_path(path) as handle:
            table = pq.read_table(handle, columns=["id", "keep"])
        kept.update(i for i, k in zip(table.column("id").to_pylist(), table.column("keep").to_pylist()) if k)
    return kept


def index_rows(part: IndexPart, extra: list[str] = ()) -> Iterator[dict[str, Any]]:
    """The annotation rows (dedup columns and `extra`, those the keep policy reads) of the documents the
    earlier run kept, in input order."""
    from beam_curation.pipeline.io.annotations import iter_rows

    kept = kept_ids(part.duplicates)
    for row in iter_rows(part.annotations, [*INDEX_COLUMNS, *extra]):
        if row["id"] in kept and row["_text_hash"] is not None:
            yield row


def against_scope(scope: str, dedup: DedupConfig) -> str:
    """The run's dedup scope, made to change when an `against` folder's contents do (its manifest lists its
    files and config): decisions made against another index are not reused."""
    if not dedup.against:
        return scope
    from apache_beam.io.filesystems import FileSystems

    blob = [scope]
    for folder in dedup.against:
        with FileSystems.open(posixpath.join(folder, MANIFEST), compression_type="uncompressed") as handle:
            blob.append(hashlib.sha256(handle.read()).hexdigest())
        for path in _list(posixpath.join(folder, "_shards", "*.json")):
            with FileSystems.open(path, compression_type="uncompressed") as handle:
                blob.append(hashlib.sha256(handle.read()).hexdigest())
    return hashlib.sha256(json.dumps(blob).encode()).hexdigest()[:16]
