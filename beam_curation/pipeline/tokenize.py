"""`tokenize --from OUT --tokenizer tokenizer.json --format megatron|dolma --output DIR`: training shards.

Driver side: everything a user can get wrong is checked first (`prepare`, one line each: the folder read,
the tokenizer, its end-of-document token, the output folder), then `execute` runs the Beam job
(beam_curation.pipeline.graph.tokenize) into `DIR/_tokenize/`, moves its files into DIR under consecutive
names (`part-00000.bin` + `.idx`, or `part-00000.npy` + `.csv.gz`), removes shards of an earlier tokenize
that are not this one's, and writes stats.json, then manifest.json last (the marker that DIR is finished).
`prepare` holds no lock and writes nothing; whatever guards an output folder wraps `execute`.
"""

from __future__ import annotations

import json
import logging
import posixpath
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from beam_curation.filters.tokenized import find_eod_token, id_cardinality
from beam_curation.pipeline.config import ConfigError, content_digest
from beam_curation.pipeline.io.dolma_tokens import METADATA_SUFFIX, MEMMAP_SUFFIX, dolma_dtype
from beam_curation.pipeline.io.megatron import megatron_dtype

log = logging.getLogger(__name__)

FORMATS = {"megatron": (".bin", ".idx"), "dolma": (MEMMAP_SUFFIX, METADATA_SUFFIX)}
WORK = "_tokenize"
COUNT_COLUMN = "mix_count"  # a mixture's documents: how many times each was drawn
DEFAULT_TOKENS_PER_FILE = 512 * 1024 * 1024  # Dolma's MemmapWriter default: 512 Mi tokens per file
OUR_FILES = ("part-*.bin", "part-*.idx", "part-*.npy", "part-*.csv.gz")


@dataclass(frozen=True)
class TokenizePlan:
    """A checked `tokenize` command: what `execute` needs."""

    source: str
    output: str
    tokenizer: str
    format: str
    eod_token: str
    eod_id: int
    vocabulary: int  # ids the tokenizer can emit (largest + 1)
    dtype: str
    seed: int
    tokens_per_file: int
    inputs: list[str] = field(default_factory=list)
    count_column: Optional[str] = None


@dataclass
class TokenizeSummary:
    output: str
    stats: dict[str, Any]
    files: list[str]


def _load_tokenizer(path: str):
    from apache_beam.io.filesystems import FileSystems
    from tokenizers import Tokenizer

    from beam_curation.pipeline.io.readers import open_path

    if not FileSystems.exists(path):
        raise ConfigError(f"--tokenizer {path}: no such file")
    try:
        with open_path(path) as handle:
            return Tokenizer.from_str(handle.read().decode("utf-8"))
    except Exception as exc:  # noqa: BLE001 - the library's message says what is wrong with the file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"--tokenizer {path}: not a Hugging Face tokenizer.json ({first})") from None


def _documents(source: str) -> tuple[list[str], Optional[str]]:
    """The Parquet files of `source`'s documents/ and the copy-count column they hold, if any."""
    import pyarrow.parquet as pq
    from apache_beam.io.filesystems import FileSystems

    from beam_curation.pipeline.io.readers import open_path

    if not FileSystems.exists(source):
        raise ConfigError(f"--from {source}: no such folder")
    if not FileSystems.exists(posixpath.join(source, "manifest.json")):
        raise ConfigError(f"--from {source}: not a finished run or mixture (no manifest.json)")
    try:
        found = FileSystems.match([posixpath.join(source, "documents", "*.parquet")])[0].metadata_list
    except Exception:  # noqa: BLE001 - no documents/ folder
        found = []
    files = sorted(m.path for m in found)
    if not files:
        raise ConfigError(f"--from {source}: documents/ holds no .parquet file (nothing was kept)")
    with open_path(files[0]) as handle:
        names = pq.ParquetFile(handle).schema_arrow.names
    missing = [c for c in ("id", "text") if c not in names]
    if missing:
        raise ConfigError(f"--from {source}: {files[0]} has no {' or '.join(missing)} column")
    return files, COUNT_COLUMN if COUNT_COLUMN in names else None


def _check_output(source: str, output: str) -> None:
    from apache_beam.io.filesystems import FileSystems

    from beam_curation.pipeline.io.readers import open_path

    if posixpath.normpath(output) == posixpath.normpath(source):
        raise ConfigError("--output: tokenize writes into another folder than --from")
    manifest = posixpath.join(output, "manifest.json")
    if FileSystems.exists(manifest):
        with open_path(manifest) as handle:
            try:
                command = json.loads(handle.read()).get("command")
            except (ValueError, AttributeError):
                command = None
        if command != "tokenize":
            raise ConfigError(f"--output {output}: holds another command's output (its manifest.json is not "
                              "tokenize's); give an empty or new folder")


def prepare(source: str, tokenizer: str, fmt: str, output: str, *, tokens_per_file: int = DEFAULT_TOKENS_PER_FILE,
            seed: int = 0, eod_token: Optional[str] = None) -> TokenizePlan:
    """Check the command before any work: one ConfigError line for the first mistake."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt}: one of {', '.join(FORMATS)}")
    if tokens_per_file < 1:
        raise ConfigError(f"--tokens-per-file: must be >= 1, got {tokens_per_file}")
    inputs, count_column = _documents(source)
    loaded = _load_tokenizer(tokenizer)
    if eod_token is None:
        eod_token = find_eod_token(loaded)
        if eod_token is None:
            raise ConfigError(f"--tokenizer {tokenizer}: no end-of-document token found (none of <|endoftext|>, "
                              "</s>, <eos>, ...); name one with --eod-token")
    eod_id = loaded.token_to_id(eod_token)
    if eod_id is None:
        raise ConfigError(f"--eod-token {eod_token}: not a token of {tokenizer}")
    vocabulary = id_cardinality(loaded)
    dtype = (megatron_dtype if fmt == "megatron" else dolma_dtype)(vocabulary)
    _check_output(source, output)
    return TokenizePlan(source=source, output=output, tokenizer=tokenizer, format=fmt, eod_token=eod_token,
                        eod_id=eod_id, vocabulary=vocabulary, dtype=dtype.name, seed=seed,
                        tokens_per_file=tokens_per_file, inputs=inputs, count_column=count_column)


def _options(beam_args: list[str]):
    from apache_beam.options.pipeline_options import PipelineOptions

    given = {a.split("=", 1)[0] for a in beam_args}
    return PipelineOptions(([] if "--runner" in given else ["--runner=FnApiRunner"]) + list(beam_args))


def _read_summary(work: str) -> tuple[list[dict[str, Any]], int]:
    from beam_curation.pipeline.io.readers import open_path

    shards, empty = [], 0
    with open_path(posixpath.join(work, "summary.jsonl")) as handle:
        for line in handle.read().decode("utf-8").splitlines():
            if line.strip():
                entry = json.loads(line)
                if "empty" in entry:
                    empty += entry["empty"]
                else:
                    shards.append(entry)
    return sorted(shards, key=lambda s: s["file"]), empty


def _existing_shards(output: str) -> list[str]:
    from apache_beam.io.filesystems import FileSystems

    found = []
    for pattern in OUR_FILES:
        try:
            found += [m.path for m in FileSystems.match([posixpath.join(output, pattern)])[0].metadata_list]
        except Exception:  # noqa: BLE001 - none
            continue
    return found


def execute(plan: TokenizePlan, beam_args: list[str] = ()) -> TokenizeSummary:
    """Run the job and put its files, stats.json and manifest.json in place."""
    import apache_beam as beam
    from apache_beam.io.filesystems import FileSystems

    from beam_curation.pipeline.graph.tokenize import TokenizeJob, build, shard_prefix
    from beam_curation.pipeline.run import package_versions, write_json
    from beam_curation.pipeline.runners.options import runner_for

    started = time.monotonic()
    output, work = plan.output, posixpath.join(plan.output, WORK)
    try:
        if FileSystems.exists(work):
            FileSystems.delete([work])
        FileSystems.mkdirs(work)
    except OSError as exc:
        raise ConfigError(f"--output: cannot create {work}: {exc}") from None
    job = TokenizeJob(source=plan.source, tokenizer=plan.tokenizer, eod_id=plan.eod_id, dtype=plan.dtype,
                      format=plan.format, seed=plan.seed, tokens_per_file=plan.tokens_per_file, work=work,
                      count_column=plan.count_column)
    options = _options(list(beam_args))
    log.info("tokenize %d file(s) of %s into %s (%s, %s ids, end-of-document %s = %d)", len(plan.inputs), plan.source,
             output, plan.format, plan.dtype, plan.eod_token, plan.eod_id)
    with beam.Pipeline(runner=runner_for(options), options=options) as p:
        build(p, plan.inputs, job)
    shards, empty = _read_summary(work)

    # The job's files, named by file number, become consecutive parts; files of an earlier tokenize go.
    names, sources, targets = [], [], []
    for part, shard in enumerate(shards):
        for suffix in FORMATS[plan.format]:
            sources.append(shard_prefix(work, shard["file"]) + suffix)
            targets.append(posixpath.join(output, f"part-{part:05d}{suffix}"))
            names.append(posixpath.basename(targets[-1]))
    manifest_path = posixpath.join(output, "manifest.json")
    if FileSystems.exists(manifest_path):  # DIR no longer holds a finished tokenize while files move
        FileSystems.delete([manifest_path])
    keep = set(targets)
    stale = [path for path in _existing_shards(output) if path not in keep]
    if stale:
        FileSystems.delete(stale)
    for src, dst in zip(sources, targets):
        if FileSystems.exists(dst):
            FileSystems.delete([dst])
        FileSystems.rename([src], [dst])
    FileSystems.delete([work])

    stats = {
        "documents": sum(s["documents"] for s in shards),  # sequences written (a mixture's copies each count)
        "distinct_documents": sum(s["documents"] - s["repeats"] for s in shards),
        "empty_documents": empty,  # no token to write (left out, as Megatron and Dolma do)
        "tokens": sum(s["tokens"] for s in shards),  # end-of-document ids included
        "files": len(shards),
        "per_file": [{"name": f"part-{i:05d}", "documents": s["documents"], "tokens": s["tokens"]}
                     for i, s in enumerate(shards)],
        "wall_seconds": round(time.monotonic() - started, 3),
    }
    write_json(posixpath.join(output, "stats.json"), stats)
    settings = {k: v for k, v in asdict(plan).items() if k not in ("inputs", "output")}
    write_json(manifest_path, {
        "command": "tokenize",
        **settings,
        "tokenizer_sha256": content_digest(plan.tokenizer) if "://" not in plan.tokenizer else None,
        "order": "documents sorted by blake2b-64(seed, copy, id) (beam_curation.filters.tokenized.shuffle_key); "
                 "a file holds the documents starting in its tokens_per_file range of token offsets",
        "packages": {**package_versions(), **_tokenizers_version()},
        "inputs": [posixpath.relpath(path, plan.source) if path.startswith(plan.source.rstrip("/") + "/") else path
                   for path in plan.inputs],
        "outputs": names + ["stats.json"],
    })
    return TokenizeSummary(output=output, stats=stats, files=names)


def _tokenizers_version() -> dict[str, str]:
    from importlib import metadata

    try:
        return {"tokenizers": metadata.version("tokenizers")}
    except metadata.PackageNotFoundError:
        return {}


def tokenize(source: str, tokenizer: str, fmt: str, output: str, *, tokens_per_file: int = DEFAULT_TOKENS_PER_FILE,
             seed: int = 0, eod_token: Optional[str] = None, beam_args: list[str] = ()) -> TokenizeSummary:
    """`beam-curation tokenize`: check, then run."""
    plan = prepare(source, tokenizer, fmt, output, tokens_per_file=tokens_per_file, seed=seed, eod_token=eod_token)
    return execute(plan, beam_args)


def summary(result: TokenizeSummary) -> str:
    s = result.stats
    return "\n".join([f"output: {result.output}  ({s['files']} shard(s): {len(result.files)} file(s) and stats.json, "
                      "manifest.json)",
                      f"documents: {s['documents']} ({s['distinct_documents']} distinct; {s['empty_documents']} "
                      "without tokens left out)",
                      f"tokens: {s['tokens']}", f"seconds: {s['wall_seconds']:.1f}"])
