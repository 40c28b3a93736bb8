"""Driver of `beam-curation mix`: check the runs and the config against each other, run the graph, then
write stats.json, the data card and manifest.json (last: the marker that the mixture is complete).

Everything a user can get wrong is found before the job starts and said in one line: a --from that is not
a finished run (or is a mixture), a group expression on a column a run does not have, a token column that
is not there, rehydration without the runs' dedup cluster sizes, runs whose documents/ columns disagree.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Optional

import pyarrow as pa
import pyarrow.parquet as pq

from beam_curation.pipeline.io.json_files import read_json
from beam_curation.filters.rules import compile_rule
from beam_curation.pipeline.config import ConfigError, absolute_path
from beam_curation.pipeline.io.readers import open_path
from beam_curation.pipeline.mix.config import MixConfig
from beam_curation.pipeline.mix.graph import FILES, MIX_COUNT, MIX_GROUP, PLAN, WORK, build_mix
from beam_curation.pipeline.mix.read import SOURCE, FileSpec, Reading

log = logging.getLogger(__name__)

KIND = "mixture"  # manifest.json and stats.json of a mixture say so (a mixture is no --from of another)
TOKEN_COUNT = "token_count"  # the `tokens` stage's column
CLUSTER_COLUMNS = ("dup_cluster_id", "dup_cluster_size")
ESTIMATE = "characters / 4"


@dataclass(frozen=True)
class RunFiles:
    """What the driver knows of one --from run."""

    index: int
    path: str
    manifest: dict[str, Any]
    documents: list[str]  # documents/*.parquet, sorted
    signals: dict[str, str]  # stem -> signals/<stem>.parquet
    document_schema: Optional[pa.Schema]  # None: the run kept nothing
    signal_schema: Optional[pa.Schema]
    source: str

    def columns(self) -> set[str]:
        names = set(self.document_schema.names if self.document_schema else ())
        names |= set(self.signal_schema.names if self.signal_schema else ())
        return names | {SOURCE}

    def field(self, name: str) -> Optional[pa.Field]:
        for schema in (self.document_schema, self.signal_schema):
            if schema is not None and name in schema.names:
                return schema.field(name)
        return None


@dataclass
class MixSummary:
    output: str
    stats: dict[str, Any]
    seconds: float


def _match(pattern: str) -> list[str]:
    from apache_beam.io.filesystems import FileSystems

    try:
        return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    except Exception:  # noqa: BLE001 - no such folder
        return []


def _schema(path: Optional[str]) -> Optional[pa.Schema]:
    if path is None:
        return None
    with open_path(path) as handle:
        return pq.ParquetFile(handle).schema_arrow


def _stem(path: str) -> str:
    return posixpath.basename(path)[: -len(".parquet")]


def read_run(index: int, path: str) -> RunFiles:
    """A --from folder as a finished run, or a one-line ConfigError saying why it is not one."""
    from apache_beam.io.filesystems import FileSystems

    if not FileSystems.exists(path):
        raise ConfigError(f"--from {path}: no such folder")
    manifest_path = posixpath.join(path, "manifest.json")
    if not FileSystems.exists(manifest_path):
        raise ConfigError(f"--from {path}: not a finished run (no manifest.json; run, or rerun, "
                          f"beam-curation run ... --output {path} first)")
    try:
        with open_path(manifest_path) as handle:
            manifest = json.loads(handle.read())
    except ValueError as exc:
        raise ConfigError(f"--from {path}: manifest.json is not JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("kind") == KIND:
        raise ConfigError(f"--from {path}: a mixture, not a run; mix from the runs it was drawn from")
    if "config" not in manifest:
        raise ConfigError(f"--from {path}: its manifest.json holds no run config (not a run of beam-curation)")
    documents = _match(posixpath.join(path, "documents", "*.parquet"))
    signals = {_stem(p): p for p in _match(posixpath.join(path, "signals", "*.parquet"))}
    declared = ((manifest.get("config") or {}).get("input") or {}).get("source")
    return RunFiles(index, path, manifest, documents, signals,
                    _schema(documents[0]) if documents else None,
                    _schema(next(iter(sorted(signals.values())), None)),
                    declared or posixpath.basename(path.rstrip("/")))


def tokens_column(config: MixConfig, runs: list[RunFiles]) -> Optional[str]:
    """The column that counts tokens (None: the estimate), checked on every run that kept documents."""
    runs = [r for r in runs if r.documents]
    if config.tokens_column is not None:
        for run in runs:
            field = run.field(config.tokens_column)
            if field is None:
                raise ConfigError(f"tokens_column: {config.tokens_column!r} is not a column of --from {run.path}'s "
                                  "documents/ or signals/")
            if not (pa.types.is_integer(field.type) or pa.types.is_floating(field.type)):
                raise ConfigError(f"tokens_column: {config.tokens_column!r} of --from {run.path} is {field.type}, "
                                  "not a number")
        return config.tokens_column
    having = [r for r in runs if r.field(TOKEN_COUNT) is not None]
    if runs and len(having) == len(runs):
        return TOKEN_COUNT
    if having:
        log.warning("only some --from runs store %s (%s): every document's tokens are estimated as %s",
                    TOKEN_COUNT, ", ".join(r.path for r in having), ESTIMATE)
    return None


def check_groups(config: MixConfig, runs: list[RunFiles]) -> set[str]:
    """Every column the groups' expressions name is a column of some run (a run without it gives its
    documents NaN there, "" for text, as rules see a missing signal); the columns."""
    needed: set[str] = set()
    known = set().union(*(r.columns() for r in runs if r.documents)) if any(r.documents for r in runs) else None
    for group in config.groups:
        columns = compile_rule(group.name, group.where).columns
        missing = sorted(columns - known) if known is not None else []
        if missing:
            raise ConfigError(f"groups: group {group.name}: {missing[0]!r} is a column of no --from run's "
                              "documents/ or signals/ (source, language, url, the documents' columns and the "
                              "stored signals are)")
        needed |= columns
    return needed


def plan_files(config: MixConfig, runs: list[RunFiles]) -> tuple[Reading, list[FileSpec], pa.Schema, Optional[str]]:
    """What every worker reads: the Reading, one FileSpec per documents/ file, the output schema, and the
    token column (None: estimated)."""
    needed = check_groups(config, runs)
    tokens = tokens_column(config, runs)
    if tokens is not None:
        needed.add(tokens)
    if config.upsample == "rehydrate":
        for run in runs:
            if run.documents and any(run.signal_schema is None or c not in run.signal_schema.names
                                     for c in CLUSTER_COLUMNS):
                raise ConfigError(f"upsample: rehydrate needs dup_cluster_size in --from {run.path}'s signals/ "
                                  "(run it with dedup.enabled: true)")
        needed |= set(CLUSTER_COLUMNS)
    needed.discard(SOURCE)
    strings = {SOURCE}
    files = []
    for run in runs:
        if not run.documents:
            log.warning("--from %s kept no documents: nothing to draw from it", run.path)
            continue
        own = set(run.document_schema.names)
        stored = set(run.signal_schema.names) - {"id"} if run.signal_schema is not None else set()
        from_documents = tuple(sorted(needed & own | ({SOURCE} & own)))
        from_signals = tuple(sorted((needed - own) & stored))
        for column in needed:
            field = run.field(column)
            if field is not None and (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
                strings.add(column)
        for path in run.documents:
            stem = _stem(path)
            if from_signals and stem not in run.signals:
                raise ConfigError(f"--from {run.path}: documents/{stem}.parquet has no signals/{stem}.parquet "
                                  "(not a finished run?)")
            name = stem if len(runs) == 1 else f"{run.index}-{stem}"
            files.append(FileSpec(run.index, path, run.signals[stem] if from_signals else None, from_documents,
                                  from_signals, run.source, name))
    reading = Reading(tuple((g.name, g.where) for g in config.groups), frozenset(strings), tokens,
                      tuple(sorted(config.rehydration_table().items())) if config.upsample == "rehydrate" else None,
                      config.seed)
    return reading, files, output_schema(runs), tokens


def output_schema(runs: list[RunFiles]) -> pa.Schema:
    """The documents columns of every run (types widened where runs differ), then mix_count and mix_group."""
    schemas = [r.document_schema for r in runs if r.document_schema is not None]
    try:
        unified = pa.unify_schemas(schemas, promote_options="permissive") if schemas else pa.schema(
            [pa.field("id", pa.string()), pa.field("text", pa.string())])
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ConfigError(f"--from: the runs' documents/ columns cannot be read as one table ({exc})") from None
    for name in (MIX_COUNT, MIX_GROUP):
        if name in unified.names:
            raise ConfigError(f"--from: documents/ already has a {name} column (a mixture?)")
    return unified.append(pa.field(MIX_COUNT, pa.int64())).append(pa.field(MIX_GROUP, pa.string()))


def prepare(output: str, sources: list[str], names: set[str]) -> None:
    """The output folder: another folder than every --from, without the marker of a finished mixture while
    this one is drawn, and without documents of an earlier mixture that this one does not write."""
    from apache_beam.io.filesystems import FileSystems

    from beam_curation.pipeline.run import check_output

    for source in sources:
        if posixpath.normpath(source) == posixpath.normpath(output):
            raise ConfigError(f"--output {output}: is a --from run; a mixture is written into another folder")
    check_output(output)
    try:
        for folder in ("documents", posixpath.join(WORK, FILES)):
            if not FileSystems.exists(posixpath.join(output, folder)):
                FileSystems.mkdirs(posixpath.join(output, folder))
    except OSError as exc:
        raise ConfigError(f"--output: cannot create {output}: {exc}") from None
    stale = [p for p in (posixpath.join(output, f) for f in ("manifest.json", "stats.json", "README.md"))
             if FileSystems.exists(p)]
    stale += _match(posixpath.join(output, WORK, FILES, "*.json")) + _match(posixpath.join(output, WORK, PLAN))
    stale += [p for p in _match(posixpath.join(output, "documents", "*.parquet")) if _stem(p) not in names]
    if stale:
        FileSystems.delete(stale)


def aggregate(config: MixConfig, runs: list[RunFiles], files: list[FileSpec], output: str,
              tokens: Optional[str]) -> dict[str, Any]:
    """stats.json: what was available and what was drawn, per group and in all."""
    plan = read_json(posixpath.join(output, WORK, PLAN))
    if "error" in plan:
        raise ConfigError(f"mix: {plan['error']}")
    figures = [read_json(posixpath.join(output, WORK, FILES, f"{spec.name}.json")) for spec in files]
    weight_sum = sum(Fraction(g.weight) for g in config.groups if g.weight is not None)
    drawn_total = sum(g["tokens"] for f in figures for g in f["groups"].values())
    groups = {}
    for spec, planned in zip(config.groups, plan["groups"]):
        got = {"documents": 0, "drawn": 0, "tokens": 0}
        for f in figures:
            for key, value in f["groups"].get(spec.name, {}).items():
                got[key] += value
        groups[spec.name] = {
            "where": spec.where,
            "weight": spec.weight,
            "share": float(Fraction(spec.weight) / weight_sum) if spec.weight is not None else None,
            "budget": spec.tokens,
            "target_tokens": planned["target"],
            "available_documents": planned["documents"],
            "available_tokens": planned["available"],  # the pool: each document times its rehydration factor
            "whole_passes": planned["passes"],
            "largest_document_tokens": planned["max_unit"],
            "documents": got["documents"],  # distinct documents drawn (rows of documents/)
            "drawn": got["drawn"],  # documents times their mix_count
            "tokens": got["tokens"],
            "token_share": got["tokens"] / drawn_total if drawn_total else 0.0,  # of the whole mixture
        }
    weighted_total = sum(groups[g.name]["tokens"] for g in config.groups if g.weight is not None)
    for g in config.groups:  # what compares with `share`: the group's part of the weighted groups' tokens
        if g.weight is not None:
            groups[g.name]["weighted_share"] = groups[g.name]["tokens"] / weighted_total if weighted_total else 0.0
    stats: dict[str, Any] = {
        "kind": KIND,
        "from": [r.path for r in runs],
        "input": sum(f["documents_read"] for f in figures),
        "kept": sum(g["documents"] for g in groups.values()),
        "drawn": sum(g["drawn"] for g in groups.values()),
        "tokens": drawn_total,
        "tokens_counted_by": {"column": tokens} if tokens else {"estimate": ESTIMATE},
        "total_tokens": config.total_tokens,
        "upsample": config.upsample,
        "seed": config.seed,
        "unmatched": {k: sum(f["unmatched"][k] for f in figures) for k in ("documents", "tokens")},
        "unevaluable": sum(f["unevaluable"] for f in figures),
        "tokens_missing": sum(f["tokens_missing"] for f in figures),
        "groups": groups,
    }
    if config.upsample == "rehydrate":
        copies: dict[str, int] = {}
        for f in figures:
            for factor, n in f["copies"].items():
                copies[factor] = copies.get(factor, 0) + n
        stats["documents_by_rehydration_factor"] = dict(sorted(copies.items(), key=lambda kv: int(kv[0])))
    return stats


def _pipeline_options(beam_args: list[str]):
    from apache_beam.options.pipeline_options import PipelineOptions

    given = {a.split("=", 1)[0] for a in beam_args}
    return PipelineOptions(([] if "--runner" in given else ["--runner=FnApiRunner"]) + list(beam_args))


def mix(sources: list[str], config: MixConfig, output: str, beam_args: list[str] = ()) -> MixSummary:
    """`beam-curation mix`: draw `config`'s mixture from the finished runs `sources` into `output`."""
    import apache_beam as beam

    from beam_curation.pipeline.report.mix_card import write_mix_card
    from beam_curation.pipeline.run import package_versions, write_json
    from beam_curation.pipeline.runners.options import runner_for

    started = time.perf_counter()
    output = absolute_path(output)
    sources = [absolute_path(s) for s in sources]
    runs = [read_run(i, s) for i, s in enumerate(sources)]
    reading, files, schema, tokens = plan_files(config, runs)
    prepare(output, sources, {f.name for f in files})
    options = _pipeline_options(list(beam_args))
    with beam.Pipeline(runner=runner_for(options), options=options) as p:
        build_mix(p, files, reading, tuple(config.targets()), config.total_tokens, output, schema, config.compression)
    stats = aggregate(config, runs, files, output, tokens)
    write_json(posixpath.join(output, "stats.json"), stats)
    written = sorted(posixpath.join("documents", f"{f.name}.parquet") for f in files
                     if read_json(posixpath.join(output, WORK, FILES, f"{f.name}.json")).get("file"))
    manifest = {
        "kind": KIND,
        "mix": config.to_dict(),
        "config_digest": hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()[:16],
        "from": [{"path": r.path, "config_digest": r.manifest.get("config_digest"),
                  "annotation_digest": r.manifest.get("annotation_digest"), "source": r.source,
                  "license": ((r.manifest.get("config") or {}).get("input") or {}).get("license")} for r in runs],
        "tokens_counted_by": stats["tokens_counted_by"],
        "packages": package_versions(),
        "outputs": written + ["stats.json", "README.md"],
    }
    write_mix_card(output, stats, manifest)
    write_json(posixpath.join(output, "manifest.json"), manifest)
    return MixSummary(output, stats, time.perf_counter() - started)


def summary(result: MixSummary) -> str:
    s = result.stats
    lines = [f"output: {result.output}",
             f"documents read: {s['input']}, drawn: {s['kept']} ({s['drawn']} with repeats), tokens: {s['tokens']:,} "
             f"(counted by {s['tokens_counted_by'].get('column') or s['tokens_counted_by']['estimate']})"]
    for name, g in s["groups"].items():
        aim = (f"{g['weighted_share']:.4f} of the weighted tokens for a weight share of {g['share']:.4f}"
               if g["weight"] is not None else f"budget {g['budget']:,}")
        lines.append(f"  {name}: {g['tokens']:,} tokens ({aim}), {g['documents']} documents, {g['drawn']} drawn")
    lines.append(f"not in any group: {s['unmatched']['documents']} documents")
    lines.append(f"seconds: {result.seconds:.1f}")
    return "\n".join(lines)
