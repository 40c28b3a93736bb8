"""Evaluation sets for decontamination, prepared by the driver before any worker starts.

Each set of `decontamination.sets` takes one of two paths, chosen by size (`decontamination.max_index_mb`,
the memory one set's index may take in every worker):

- **side input**: the set's n-gram index (exact, or a Bloom filter when the exact one would exceed the limit,
  or as `index` says) is built by the driver and saved under `OUT/_decontamination/<name>-<digest>-<kind>.npz`;
  workers load it once per process (beam_curation.pipeline.stages.decontamination), so the set itself need not be
  reachable from them.
- **join** (`index: auto` when even the Bloom filter would exceed the limit, or `index: join`): no index is
  built; documents store their n-gram hashes in the annotations and the global step joins them with the
  set's, read by the workers (beam_curation.pipeline.graph.decontam). The driver only streams the set once to count its
  n-grams (nothing of it is held).

Either way a description `<name>.json` records the choice; a rerun whose set and settings are unchanged
reuses it (and the saved index).
"""

from __future__ import annotations

import io
import json
import logging
import posixpath
import time
from pathlib import Path
from typing import Any, Optional

from beam_curation.pipeline.io.content import content_digest
from beam_curation.settings import ConfigError

log = logging.getLogger(__name__)

INDEXES = "_decontamination"
MIB = 1 << 20


def _description_path(output: str, name: str) -> str:
    return posixpath.join(output, INDEXES, f"{name}.json")


def check_eval_sets(decon: Any) -> None:
    """Start-time check: every enabled evaluation set (of the `decontamination` section) is a local file or a
    `datasets` save_to_disk folder."""
    if not decon.enabled:
        return
    for i, spec in enumerate(decon.sets):
        path = Path(spec.path.removeprefix("file://"))
        if "://" in spec.path.removeprefix("file://"):
            raise ConfigError(f"decontamination.sets[{i}].path: {spec.path}: evaluation sets are read by the "
                              "driver from a local path (copy the set first)")
        if path.is_dir():
            if not ((path / "state.json").is_file() or (path / "dataset_dict.json").is_file()):
                raise ConfigError(f"decontamination.sets[{i}].path: {spec.path} is a folder but not one written "
                                  "by datasets' save_to_disk (no state.json or dataset_dict.json)")
        elif not path.is_file():
            raise ConfigError(f"decontamination.sets[{i}].path: evaluation set not found: {spec.path}")


def read_description(output: str, name: str) -> Optional[dict[str, Any]]:
    from apache_beam.io.filesystems import FileSystems

    path = _description_path(output, name)
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path, compression_type="uncompressed") as handle:
        return json.loads(handle.read())


def built_index_path(output: str, name: str) -> str:
    """The saved index of set `name` (what a worker loads)."""
    described = read_description(output, name)
    if described is None:
        raise RuntimeError(f"no decontamination index for {name!r} under {posixpath.join(output, INDEXES)}")
    return posixpath.join(output, INDEXES, described["file"])


def _settings(spec: Any, decon: Any) -> dict[str, Any]:
    return {"name": spec.name, "path": spec.path, "text_column": spec.text_column, "split": spec.split,
            "sha256": content_digest(spec.path), "ngram": decon.ngram, "index": decon.index,
            "max_index_mb": decon.max_index_mb, "bloom_error_rate": decon.bloom_error_rate}


def _build(spec: Any, decon: Any, where: str):
    """(the set's index, of the kind the settings and its size choose, or None for the join path; the set's
    item, short item and n-gram counts)."""
    from beam_curation.filters.release.decontamination import (BloomNgramIndex, NgramIndex, bloom_index_bytes,
                                                               count_ngrams)
    from beam_curation.pipeline.io.eval_files import read_eval_texts

    limit = decon.max_index_mb * MIB

    def texts():
        return read_eval_texts(spec.path, spec.text_column, spec.split)

    try:
        counts = count_ngrams(texts(), decon.ngram)
    except (KeyError, ValueError, OSError) as exc:
        raise ConfigError(f"{where}: cannot read {spec.path}: {exc}") from None
    items, _, ngrams = counts
    if not items:
        raise ConfigError(f"{where}: {spec.path} holds no item with text in {spec.text_column!r}")
    if decon.index == "join" or (decon.index == "auto" and bloom_index_bytes(ngrams, decon.bloom_error_rate) > limit):
        return None, counts
    index = None
    if decon.index in ("auto", "exact"):
        index = NgramIndex.build(texts(), decon.ngram)
        if index.nbytes() > limit:
            if decon.index == "exact":
                raise ConfigError(f"{where}: the exact index of {spec.path} takes {index.nbytes() / MIB:.0f} MiB, "
                                  f"more than decontamination.max_index_mb={decon.max_index_mb:g} (every worker "
                                  "holds it); use index: auto, bloom or join, or raise the limit")
            index = None
    if index is None:
        index = BloomNgramIndex.build(texts(), decon.ngram, decon.bloom_error_rate)
        if index.nbytes() > limit:  # only with index: bloom (auto joins a set whose filter would not fit)
            raise ConfigError(f"{where}: even as a Bloom filter the index of {spec.path} takes "
                              f"{index.nbytes() / MIB:.0f} MiB, more than decontamination.max_index_mb="
                              f"{decon.max_index_mb:g}; use index: auto or join, or raise the limit")
    return index, counts


def joined_sets(described: list[dict[str, Any]]) -> tuple[str, ...]:
    """Names of the sets whose descriptions chose the join path."""
    return tuple(d["name"] for d in described if d.get("kind") == "join")


def prepare_indexes(decon: Any, output: str) -> list[dict[str, Any]]:
    """Build (or reuse) every evaluation set's index of the `decontamination` section under the output folder;
    returns their descriptions (the manifest records them and the data card reports them)."""
    from apache_beam.io.filesystems import FileSystems

    from beam_curation.pipeline.io.atomic import atomic_write

    if not decon.enabled:
        return []
    folder = posixpath.join(output, INDEXES)
    if not FileSystems.exists(folder):
        FileSystems.mkdirs(folder)
    described = []
    for i, spec in enumerate(decon.sets):
        settings = _settings(spec, decon)
        previous = read_description(output, spec.name)
        if previous is not None and previous.get("settings") == settings and \
                (previous["file"] is None or FileSystems.exists(posixpath.join(folder, previous["file"]))):
            described.append(previous)
            continue
        started = time.perf_counter()
        index, (items, short, ngrams) = _build(spec, decon, f"decontamination.sets[{i}]")
        if index is None:  # the join: nothing to save, the workers read the set ("ngrams": all, not distinct)
            info = {"name": spec.name, "file": None, "settings": settings, "kind": "join", "items": items,
                    "short_items": short, "ngrams": ngrams, "index_bytes": 0}
            log.info("decontamination set %s: %d items, %d %d-grams: joined with the documents' n-grams "
                     "(its index would exceed max_index_mb=%g)", spec.name, info["items"], info["ngrams"],
                     decon.ngram, decon.max_index_mb)
        else:
            kind = "exact" if hasattr(index, "item_ids") else "bloom"
            name = f"{spec.name}-{settings['sha256'][:12]}-{kind}.npz"
            buffer = io.BytesIO()
            index.save(buffer)
            blob = buffer.getvalue()
            atomic_write(posixpath.join(folder, name), lambda handle: handle.write(blob))
            info = {"name": spec.name, "file": name, "settings": settings, "kind": kind, "items": index.num_items,
                    "short_items": index.short_items, "ngrams": len(index) if kind == "exact" else index.num_ngrams,
                    "index_bytes": index.nbytes()}
            log.info("decontamination set %s: %d items, %d distinct %d-grams, %s index of %.1f MiB", spec.name,
                     info["items"], info["ngrams"], decon.ngram, kind, info["index_bytes"] / MIB)
        info["build_seconds"] = round(time.perf_counter() - started, 3)
        text = json.dumps(info, indent=2, sort_keys=True).encode()
        atomic_write(_description_path(output, spec.name), lambda handle: handle.write(text))
        described.append(info)
    return described


def described_indexes(decon: Any, output: str) -> list[dict[str, Any]]:
    """The descriptions of the indexes another run built (what `refilter` records of its source)."""
    if not decon.enabled:
        return []
    return [d for d in (read_description(output, s.name) for s in decon.sets) if d is not None]
