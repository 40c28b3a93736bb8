"""Evaluation-set indexes for decontamination, prepared by the driver before any worker starts.

Each set of `decontamination.sets` is read once, its n-gram index built (exact, or a Bloom filter when the
exact index would exceed `decontamination.max_index_mb`, or as `index` says) and saved under
`OUT/_decontamination/<name>-<content digest>.npz` with a description `<name>.json`. Workers load the saved
index once per process (pipeline.graph.stages.Decontaminate), so the set itself need not be reachable from them
(a laptop's file, a Dataflow job). A rerun whose set and settings are unchanged reuses the saved index.

Every worker holds each index whole: this is the side-input path for sets up to `max_index_mb`. A set larger
than that even as a Bloom filter is refused at start; a join on n-gram hashes for such sets is not built.
"""

from __future__ import annotations

import io
import json
import logging
import posixpath
import time
from pathlib import Path
from typing import Any, Optional

from pipeline.config import Config, ConfigError, EvalSetSpec, content_digest

log = logging.getLogger(__name__)

INDEXES = "_decontamination"
MIB = 1 << 20


def _description_path(output: str, name: str) -> str:
    return posixpath.join(output, INDEXES, f"{name}.json")


def check_eval_sets(config: Config) -> None:
    """Start-time check: every enabled evaluation set is a local file or a `datasets` save_to_disk folder."""
    decon = config.decontamination
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


def _settings(spec: EvalSetSpec, config: Config) -> dict[str, Any]:
    decon = config.decontamination
    return {"name": spec.name, "path": spec.path, "text_column": spec.text_column, "split": spec.split,
            "sha256": content_digest(spec.path), "ngram": decon.ngram, "index": decon.index,
            "max_index_mb": decon.max_index_mb, "bloom_error_rate": decon.bloom_error_rate}


def _build(spec: EvalSetSpec, config: Config, where: str):
    """The set's index, of the kind the settings and its size choose."""
    from filters.release.decontamination import BloomNgramIndex, NgramIndex, read_eval_texts

    decon = config.decontamination
    limit = decon.max_index_mb * MIB
    try:
        texts = list(read_eval_texts(spec.path, spec.text_column, spec.split))
    except (KeyError, ValueError, OSError) as exc:
        raise ConfigError(f"{where}: cannot read {spec.path}: {exc}") from None
    if not texts:
        raise ConfigError(f"{where}: {spec.path} holds no item with text in {spec.text_column!r}")
    index = None
    if decon.index in ("auto", "exact"):
        index = NgramIndex.build(texts, decon.ngram)
        if index.nbytes() > limit:
            if decon.index == "exact":
                raise ConfigError(f"{where}: the exact index of {spec.path} takes {index.nbytes() / MIB:.0f} MiB, "
                                  f"more than decontamination.max_index_mb={decon.max_index_mb:g} (every worker "
                                  "holds it); use index: bloom or auto, or raise the limit")
            index = None
    if index is None:
        index = BloomNgramIndex.build(texts, decon.ngram, decon.bloom_error_rate)
        if index.nbytes() > limit:
            raise ConfigError(f"{where}: even as a Bloom filter the index of {spec.path} takes "
                              f"{index.nbytes() / MIB:.0f} MiB, more than decontamination.max_index_mb="
                              f"{decon.max_index_mb:g}; split the set or raise the limit (a join on n-gram hashes "
                              "for sets larger than a worker's memory is not implemented)")
    return index


def prepare_indexes(config: Config) -> list[dict[str, Any]]:
    """Build (or reuse) every evaluation set's index under the output; returns their descriptions (the
    manifest records them and the data card reports them)."""
    from apache_beam.io.filesystems import FileSystems

    from pipeline.io.atomic import atomic_write

    decon = config.decontamination
    if not decon.enabled:
        return []
    output = config.output.path
    folder = posixpath.join(output, INDEXES)
    if not FileSystems.exists(folder):
        FileSystems.mkdirs(folder)
    described = []
    for i, spec in enumerate(decon.sets):
        settings = _settings(spec, config)
        previous = read_description(output, spec.name)
        if previous is not None and previous.get("settings") == settings and \
                FileSystems.exists(posixpath.join(folder, previous["file"])):
            described.append(previous)
            continue
        started = time.perf_counter()
        index = _build(spec, config, f"decontamination.sets[{i}]")
        kind = "exact" if hasattr(index, "item_ids") else "bloom"
        name = f"{spec.name}-{settings['sha256'][:12]}-{kind}.npz"
        buffer = io.BytesIO()
        index.save(buffer)
        blob = buffer.getvalue()
        atomic_write(posixpath.join(folder, name), lambda handle: handle.write(blob))
        info = {"name": spec.name, "file": name, "settings": settings, "kind": kind, "items": index.num_items,
                "short_items": index.short_items, "ngrams": len(index) if kind == "exact" else index.num_ngrams,
                "index_bytes": index.nbytes(), "build_seconds": round(time.perf_counter() - started, 3)}
        text = json.dumps(info, indent=2, sort_keys=True).encode()
        atomic_write(_description_path(output, spec.name), lambda handle: handle.write(text))
        log.info("decontamination set %s: %d items, %d distinct %d-grams, %s index of %.1f MiB", spec.name,
                 info["items"], info["ngrams"], decon.ngram, kind, info["index_bytes"] / MIB)
        described.append(info)
    return described


def described_indexes(config: Config, output: str) -> list[dict[str, Any]]:
    """The descriptions of the indexes another run built (what `refilter` records of its source)."""
    if not config.decontamination.enabled:
        return []
    return [d for d in (read_description(output, s.name) for s in config.decontamination.sets) if d is not None]
