"""Driver-side planning: which files are input shards, what each is called, which are already done.

Runs before the graph is built, so that a glob matching nothing or a Parquet shard without a text column
fails at once with the path in the message, and a rerun skips the shards whose outputs are complete. The task
list reaches the workers as a file under the output (`_plan/tasks.jsonl`), never inside the graph, so the
job graph is the same size for 10 shards or 100,000; planning is linear in the number of files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
from collections import Counter
from dataclasses import dataclass, fields
from typing import Any, Iterator

from pipeline.config import Config, ConfigError
from pipeline.io.document import ShardSpec
from pipeline.io.readers import SchemaError, check_parquet_schema, detect_format, parquet_schema

log = logging.getLogger(__name__)

SHARD_MARKERS = "_shards"
PLAN = "_plan"
# Parquet footers checked at start (a missing text/html column fails the run before any work); beyond this
# many files the rest are checked by the worker that reads them (a read error naming the file).
SCHEMA_CHECKS = 1000
_EXTENSIONS = (".warc.gz", ".arc.gz", ".jsonl.gz", ".jsonl.zst", ".json.gz", ".json.zst", ".parquet", ".warc",
               ".jsonl", ".json")


def match_inputs(patterns: list[str]) -> list[str]:
    from apache_beam.io.filesystems import FileSystems

    if not patterns:
        raise ConfigError("input.paths: no input given (set input.paths or pass --input)")
    found: set[str] = set()
    for pattern in patterns:
        try:
            result = FileSystems.match([pattern])[0]
        except Exception as exc:
            raise ConfigError(f"input.paths: cannot read {pattern}: {exc}") from None
        paths = [m.path for m in result.metadata_list if not m.path.endswith("/")]
        if not paths:
            raise ConfigError(f"input.paths: no file matches {pattern}")
        found.update(paths)
    return sorted(found)


def shard_stem(path: str) -> str:
    base = posixpath.basename(path.replace("\\", "/"))
    lower = base.lower()
    for ext in _EXTENSIONS:
        if lower.endswith(ext):
            return base[: -len(ext)] or base
    return base


def plan_shards(config: Config) -> list[ShardSpec]:
    """Match the input globs and describe each shard; fail early on what no worker could read."""
    paths = match_inputs(config.input.paths)
    stems = [shard_stem(p) for p in paths]
    repeated = {stem for stem, n in Counter(stems).items() if n > 1}
    specs = []
    for index, (path, stem) in enumerate(zip(paths, stems)):
        name = f"{stem}-{hashlib.sha1(path.encode()).hexdigest()[:8]}" if stem in repeated else stem
        try:
            fmt = config.input.format if config.input.format != "auto" else detect_format(path)
        except SchemaError as exc:
            raise ConfigError(f"input.format: {exc}") from None
        if fmt == "parquet" and index < SCHEMA_CHECKS:
            try:
                schema = parquet_schema(path)
            except Exception as exc:  # corrupt: left to the worker, which records it in errors/
                log.warning("cannot read the schema of %s (%s); its documents will be reported in errors/",
                            path, exc)
            else:
                try:
                    check_parquet_schema(path, schema)
                except SchemaError as exc:
                    raise ConfigError(f"input: {exc}") from None
        specs.append(ShardSpec(path=path, name=name, format=fmt, index=index))
    return specs


def read_tasks(shards: list[ShardSpec], splits: int) -> list[ShardSpec]:
    """Each shard as `splits` slices (by row group for Parquet where it can, else by row): parallel reading and
    extraction within a shard, no shuffle."""
    return [ShardSpec(s.path, s.name, s.format, slice=i, slices=splits, index=s.index, write=s.write)
            for s in shards for i in range(splits)]


def write_plan(output: str, tasks: list[ShardSpec]) -> str:
    """The run's task list as a file the workers read (one JSON object a line); returns its path."""
    from pipeline.io.atomic import atomic_write

    path = posixpath.join(output, PLAN, "tasks.jsonl")
    names = [f.name for f in fields(ShardSpec)]
    blob = "".join(json.dumps({n: getattr(t, n) for n in names}, sort_keys=True) + "\n" for t in tasks).encode()
    atomic_write(path, lambda handle: handle.write(blob))
    return path


PLAN_CHUNKS = 64  # the task list is read in this many interleaved chunks, each its own element


def plan_chunks(tasks: int) -> int:
    """How many chunks a plan of `tasks` tasks is read in: a runner that does not redistribute after a read
    (Dask) still spreads the tasks over its workers, and the graph holds at most PLAN_CHUNKS small integers."""
    return max(1, min(tasks, PLAN_CHUNKS))


def read_plan(chunk: int, path: str, chunks: int = 1) -> Iterator[ShardSpec]:
    """Chunk `chunk` of a plan file's tasks (lines chunk, chunk + chunks, ...), on a worker."""
    from pipeline.io.readers import open_path

    with open_path(path) as handle:
        for i, line in enumerate(line for line in handle if line.strip()):
            if i % chunks == chunk:
                yield ShardSpec(**json.loads(line))


@dataclass(frozen=True)
class ShardMarker:
    """Written last for a shard: its existence with the same config digest means the shard is complete."""

    name: str
    input: str
    config: str
    stats: dict[str, Any]
    files: list[str]
    dedup_scope: str = ""  # the shard set it was deduplicated with (see `dedup_scope`)
    passthrough: str = ""  # the shard's own passthrough columns (pipeline.io.passthrough.encode_fields)
    schema: str = ""  # fingerprint of the run's passthrough columns its files have ("": an older layout)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True, indent=1)


def marker_path(output: str, name: str) -> str:
    return posixpath.join(output, SHARD_MARKERS, f"{name}.json")


def dedup_scope(shards: list[ShardSpec]) -> str:
    """Hash of the run's shard set: dedup decisions hold only among the same shards."""
    blob = json.dumps(sorted((s.name, s.path) for s in shards)).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def part_of(row: int, rows_per_file: int) -> int:
    """The output part holding input row `row` (always 0 when shards are written whole)."""
    return row // rows_per_file if rows_per_file > 0 else 0


def part_name(shard: str, part: int, rows_per_file: int) -> str:
    """File stem of a shard's part: the shard's name when shards are written whole."""
    return f"{shard}-{part:05d}" if rows_per_file > 0 else shard


def read_marker(output: str, name: str) -> ShardMarker | None:
    from apache_beam.io.filesystems import FileSystems

    path = marker_path(output, name)
    if not FileSystems.exists(path):
        return None
    try:
        with FileSystems.open(path, compression_type="uncompressed") as handle:
            return ShardMarker(**json.loads(handle.read()))
    except (ValueError, TypeError):
        return None


def existing_markers(output: str) -> set[str]:
    """Names of the shards that have a marker under `output`, from one listing (no per-shard lookups)."""
    from apache_beam.io.filesystems import FileSystems

    try:
        found = FileSystems.match([posixpath.join(output, SHARD_MARKERS, "*.json")])[0].metadata_list
    except Exception:  # noqa: BLE001 - nothing there yet
        return set()
    return {posixpath.basename(m.path)[: -len(".json")] for m in found}


def split_done(specs: list[ShardSpec], output: str, digest: str, scope: str | None = None
               ) -> tuple[list[ShardSpec], list[ShardSpec]]:
    """(to do, already complete with this config); with dedup on (`scope` given) a complete shard must also
    have been deduplicated with this very shard set. Whether its passthrough columns are still the run's is
    known only once every shard's are (pipeline.run)."""
    present = existing_markers(output)
    todo, done = [], []
    for spec in specs:
        marker = read_marker(output, spec.name) if spec.name in present else None
        complete = (marker is not None and marker.config == digest and marker.input == spec.path
                    and (scope is None or marker.dedup_scope == scope) and bool(marker.schema))
        (done if complete else todo).append(spec)
    return todo, done
