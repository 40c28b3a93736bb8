"""`refilter --from OUT --output OUT2`: decide again from a finished run's annotations, into another folder.

Compute once, decide many times. This is `run`'s own decision path (beam_curation.pipeline.graph.decide) reading OUT's
annotations instead of annotating: rules, the language keep-list, mode, dedup thresholds and keep policy and
the output layout may all differ from OUT's config; everything that shapes the annotations (extraction, the
stages, their models, the dedup signature) must be the same, and the output is byte-identical to a fresh run
of the new config.
"""

from __future__ import annotations

import json
import posixpath

from beam_curation.pipeline.io.annotations import ANNOTATIONS, incomplete_tasks
from beam_curation.pipeline.config import Config, ConfigError, parse_config
from beam_curation.pipeline.io.document import ShardSpec
from beam_curation.pipeline.io.lease import check_free
from beam_curation.pipeline.io.shards import read_tasks
from beam_curation.pipeline.io.readers import open_path
from beam_curation.pipeline.plan import annotation_rule_columns, prefilter_gate
from beam_curation.pipeline.progress import RunProgress
from beam_curation.pipeline.io.against import check_against
from beam_curation.pipeline.run import RunSummary, check_rules, run


def computed_columns(source: str, manifest: dict) -> set[str]:
    """The columns a rule may use that `source` computed, from the config its manifest records."""
    try:
        return annotation_rule_columns(parse_config(manifest["config"]))
    except (ConfigError, KeyError, TypeError) as exc:
        raise ConfigError(f"--from {source}: its manifest.json holds no config this version reads ({exc})") from None


def refilter(source: str, config: Config, beam_args: list[str] = (), progress: RunProgress | None = None
             ) -> RunSummary:
    from apache_beam.io.filesystems import FileSystems

    manifest_path = posixpath.join(source, "manifest.json")
    if not FileSystems.exists(source):
        raise ConfigError(f"--from {source}: no such folder")
    check_free(source, "--from")  # a folder a live run is writing is no finished run, whatever its manifest says
    if not FileSystems.exists(manifest_path):
        raise ConfigError(f"--from {source}: not a finished run (no manifest.json)")
    with open_path(manifest_path) as handle:
        source_manifest = json.loads(handle.read())
    computed = computed_columns(source, source_manifest)
    if source_manifest.get("refiltered_from"):
        source = source_manifest["refiltered_from"]  # its annotations live there
    if posixpath.normpath(source) == posixpath.normpath(config.output.path):
        raise ConfigError("--output: refilter writes into another folder; to decide again in place, use run")
    check_rules(config, computed, source)  # before the digest: a rule on a signal not computed says which one
    if config.dedup.enabled:
        check_against(config.dedup, config.output.path)
    if source_manifest.get("annotation_digest") != config.annotation_digest():
        raise ConfigError(f"--config: its extraction, stages, models or dedup signature differ from those {source} "
                          "was annotated with; refilter changes only rules, langid.keep/min_score, mode, dedup "
                          "thresholds and keep policy, and the layout (use run to annotate anew)")
    skipped = source_manifest.get("prefilter_skipped_outside")
    gate = prefilter_gate(config)
    if skipped is not None and (gate is None or not gate <= frozenset(skipped)):
        keeps = "every language" if gate is None else ", ".join(sorted(gate - frozenset(skipped)))
        raise ConfigError(f"--config: {source} did not annotate the pages its language gate guessed outside "
                          f"{', '.join(skipped)}, and this config keeps {keeps}; run it with `run` on {source} "
                          "(it annotates those pages), or set langid.prefilter: false on the first run")
    shards = [ShardSpec(path=s["path"], name=s["shard"], format=s["format"], index=i)
              for i, s in enumerate(source_manifest["inputs"])]
    splits = source_manifest["config"]["input"]["splits"]
    missing = incomplete_tasks(posixpath.join(source, ANNOTATIONS), [t.task for t in read_tasks(shards, splits)])
    if missing:
        raise ConfigError(f"--from {source}: the annotations of {len(missing)} task(s) are incomplete ({missing[0][1]});"
                          f" rerun `beam-curation run` with its config on {source}, which redoes them, then refilter")
    return run(config, beam_args, annotations_from=posixpath.join(source, ANNOTATIONS), shards=shards,
               splits=splits, skipped_outside=skipped, progress=progress)
