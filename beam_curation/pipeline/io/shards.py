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
import os
import posixpath
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any, Iterator

from beam_curation.pipeline.config import Config, ConfigError
from beam_curation.pipeline.io import formats
from beam_curation.pipeline.io.document import ShardSpec
from beam_curation.pipeline.io.formats import SchemaError

log = logging.getLogger(__name__)

SHARD_MARKERS = "_shards"
PLAN = "_plan"
# Files whose schema is checked at start (a Parquet file without a text/html column fails the run before any
# work); beyond this many files the rest are checked by the worker that reads them (a read error naming the file).
SCHEMA_CHECKS = 1000


@dataclass(frozen=True)
class InputFile:
    path: str
    size: int


def match_inputs(patterns: list[str], fmt: str = formats.AUTO) -> list[InputFile]:
    """The files the input patterns name, sorted by path. A pattern is a file, a glob, or a folder: every
    supported input file under it, at any depth (see `folder_inputs`)."""
    if not patterns:
        raise ConfigError("input.paths: no input given (set input.paths or pass --input)")
    found: dict[str, InputFile] = {}
    for pattern in patterns:
        files = _match(pattern)
        if not _is_glob(pattern) and _is_folder(pattern, files):
            files = folder_inputs(pattern, fmt)
        elif not files:
            raise ConfigError(f"input.paths: no file matches {pattern}")
        found.update((f.path, f) for f in files)
    return [found[p] for p in sorted(found)]


def _match(pattern: str) -> list[InputFile]:
    from apache_beam.io.filesystems import FileSystems

    try:
        result = FileSystems.match([pattern])[0]
    except Exception as exc:
        raise ConfigError(f"input.paths: cannot read {pattern}: {exc}") from None
    return [InputFile(m.path, m.size_in_bytes) for m in result.metadata_list if not m.path.endswith("/")]


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def _is_local(path: str) -> bool:
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.io.localfilesystem import LocalFileSystem

    return isinstance(FileSystems.get_filesystem(path), LocalFileSystem)


def _is_folder(pattern: str, matched: list[InputFile]) -> bool:
    """A local directory, a path ending in `/`, or on an object store a name that is no object (a prefix)."""
    if pattern.endswith("/"):
        return True
    if _is_local(pattern):
        return os.path.isdir(pattern)
    return not matched


def folder_inputs(folder: str, fmt: str) -> list[InputFile]:
    """Every supported input file under `folder`, recursively (Common Crawl and Hugging Face datasets nest their
    files), sorted. Supported: a name that tells an input format (the configured one's family unless `auto`:
    WARC and WET go together), not one a format refuses (WAT). Entries whose name or folder starts with `.` or `_` are hidden or internal
    (`_SUCCESS`, this pipeline's `_annotations/`), as pyarrow datasets take them. Everything skipped is named
    in one log line; a folder with nothing to read fails."""
    root = folder.rstrip("/")
    listed = _match(root + "/**")
    if not listed:  # on an object store a mistyped file name is a prefix with nothing under it
        why = "the folder is empty" if _is_local(folder) and os.path.isdir(folder) else "nothing under it"
        raise ConfigError(f"input.paths: no file matches {folder} ({why})")
    family = None if fmt == formats.AUTO else formats.get(fmt).family_name
    chosen: list[InputFile] = []
    skipped: dict[str, list[str]] = {}
    for entry in listed:
        relative = entry.path[len(root):].lstrip("/\\")
        named = formats.detect(entry.path)
        refused = formats.refused(entry.path)
        if any(part.startswith((".", "_")) for part in relative.replace("\\", "/").split("/")):
            reason = "hidden or internal"
        elif refused is not None:
            reason = refused.label
        elif named is None:
            reason = "not an input format"
        elif family is not None and named.family_name != family:
            reason = f"not {fmt}"
        else:
            chosen.append(entry)
            continue
        skipped.setdefault(reason, []).append(relative)
    summary = "; ".join(f"{len(names)} {reason} ({_some(names)})" for reason, names in sorted(skipped.items()))
    if not chosen:
        raise ConfigError(f"input.paths: no supported input file in {folder} (skipped: {summary})")
    if skipped:
        log.warning("input %s: reading %d file(s); skipped %s", folder, len(chosen), summary)
    return chosen


def _some(names: list[str], shown: int = 5) -> str:
    return ", ".join(names[:shown]) + (f", and {len(names) - shown} more" if len(names) > shown else "")


def resolve_formats(files: list[InputFile], configured: str) -> list[str]:
    """Each file's format. A file a format refuses (WAT) fails the run (nothing in it can be read as a page).
    `auto` goes by name. An explicit format follows the name within its family (`warc` or `wet`: WET files are
    WARC files, the same reader takes either), said in one log line. An explicit format is for names that tell
    none (`part-0001`); one that contradicts a file's name (a `.parquet` as jsonl) fails, where it would turn
    every line into an error."""
    refused = [(f.path, why) for f in files if (why := formats.refused(f.path)) is not None]
    if refused:
        first = refused[0][1]
        raise ConfigError(f"input: {_some([p for p, why in refused if why == first], 3)}: {first.why}")
    chosen = None if configured == formats.AUTO else formats.get(configured)
    found: list[str] = []
    renamed: dict[str, list[str]] = {}
    for f in files:
        named = formats.detect(f.path)
        if chosen is None:
            if named is None:
                raise ConfigError(f"input.format: cannot tell the format of {f.path}; set input.format")
            found.append(named.name)
        elif named is not None and named.family_name == chosen.family_name:
            found.append(named.name)
            if named is not chosen:
                renamed.setdefault(named.name, []).append(f.path)
        elif named is not None:
            raise ConfigError(f"input.format: {configured}, but {f.path} is named as {named.name}; set "
                              "input.format: auto to read each file by its name")
        else:
            found.append(configured)
    for name, paths in renamed.items():
        label = formats.get(name).label
        log.info("input.format is %s: %d file(s) %s: %s", configured, len(paths),
                 f"named as {label} are read as {label} ({formats.get(name).reads})", _some(paths, 3))
    return found


def shard_stem(path: str) -> str:
    """The file name without its input extension, as its format names shards (beam_curation.pipeline.io.formats)."""
    return formats.shard_stem(path)


def plan_shards(config: Config) -> list[ShardSpec]:
    """Match the inputs and describe each shard; fail early on what no worker could read."""
    files = match_inputs(config.input.paths, config.input.format)
    file_formats = resolve_formats(files, config.input.format)
    empty = [f.path for f in files if f.size == 0]
    if empty:
        log.warning("%d input file(s) are empty (0 bytes), each reported as a read error in errors/: %s",
                    len(empty), _some(empty))
    paths = [f.path for f in files]
    stems = [shard_stem(p) for p in paths]
    repeated = {stem for stem, n in Counter(stems).items() if n > 1}
    specs = []
    for index, (path, stem, fmt) in enumerate(zip(paths, stems, file_formats)):
        name = f"{stem}-{hashlib.sha1(path.encode()).hexdigest()[:8]}" if stem in repeated else stem
        reader = formats.get(fmt)
        if index < SCHEMA_CHECKS and path not in empty:
            try:
                reader.check_schema(path)
            except SchemaError as exc:
                raise ConfigError(f"input: {exc}") from None
            except Exception as exc:  # corrupt: left to the worker, which records it in errors/
                log.warning("cannot read the schema of %s (%s); its documents will be reported in errors/",
                            path, exc)
        specs.append(ShardSpec(path=path, name=name, format=fmt, index=index))
    return specs


def read_tasks(shards: list[ShardSpec], splits: int) -> list[ShardSpec]:
    """Each shard as `splits` slices (as its format slices: by row group for Parquet where it can, else by row):
    parallel reading and extraction within a shard, no shuffle."""
    return [ShardSpec(s.path, s.name, s.format, slice=i, slices=splits, index=s.index, write=s.write)
            for s in shards for i in range(splits)]


def write_plan(output: str, tasks: list[ShardSpec]) -> str:
    """The run's task list as a file the workers read (one JSON object a line); returns its path."""
    from beam_curation.pipeline.io.atomic import atomic_write

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
    from beam_curation.pipeline.io.readers import open_path

    with open_path(path) as handle:
        for i, line in enumerate(line for line in handle if line.strip()):
            if i % chunks == chunk:
                yield ShardSpec(**json.loads(line))


@dataclass(frozen=True)
class ShardMarker:
    """Written last for a shard: its existence with the same config digest, and its files as it recorded them,
    mean the shard is complete."""

    name: str
    input: str
    config: str
    stats: dict[str, Any]
    files: list[str]
    dedup_scope: str = ""  # the shard set it was deduplicated with (see `dedup_scope`)
    passthrough: str = ""  # the shard's own passthrough columns (beam_curation.pipeline.io.passthrough.encode_fields)
    schema: str = ""  # fingerprint of the run's passthrough columns its files have ("": an older layout)
    # Size and sha256 of each file (beam_curation.pipeline.io.checksum), by path as in `files`; empty in markers
    # written before markers recorded them.
    sums: dict[str, dict[str, Any]] = field(default_factory=dict)

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
    known only once every shard's are (beam_curation.pipeline.run)."""
    present = existing_markers(output)
    candidates = []
    for spec in specs:
        marker = read_marker(output, spec.name) if spec.name in present else None
        complete = (marker is not None and marker.config == digest and marker.input == spec.path
                    and (scope is None or marker.dedup_scope == scope) and bool(marker.schema))
        candidates.append((spec, marker if complete else None))
    proven = _files_proven(output, [m for _, m in candidates if m is not None])
    todo, done = [], []
    for spec, marker in candidates:
        (done if marker is not None and proven[marker.name] else todo).append(spec)
    return todo, done


VERIFY_THREADS = 8  # files checked at once (reading them back is I/O bound, on object stores most of all)


def _files_proven(output: str, markers: list[ShardMarker]) -> dict[str, bool]:
    """Per shard: every file its marker lists is the one it recorded (beam_curation.pipeline.io.checksum). A
    shard with a file missing or different is written again; its marker is discarded with a warning."""
    from concurrent.futures import ThreadPoolExecutor

    from beam_curation.pipeline.io.checksum import FileSum, mismatch

    def check(marker: ShardMarker) -> tuple[str, str | None]:
        for file in marker.files:
            recorded = marker.sums.get(file)
            why = mismatch(posixpath.join(output, file), FileSum.from_dict(recorded) if recorded else None)
            if why is not None:
                return file, why
        return "", None

    proven = {}
    with ThreadPoolExecutor(max_workers=VERIFY_THREADS) as pool:
        for marker, (file, why) in zip(markers, pool.map(check, markers)):
            proven[marker.name] = why is None
            if why is not None:
                log.warning("discarding the marker of shard %s: its file %s is %s; the shard is written again",
                            marker.name, file, why)
    return proven
