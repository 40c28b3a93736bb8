"""The Beam graph, on one screen: read -> extract -> language -> signals -> scores -> decide -> dedup -> write.

Documents are grouped by output part (a shard, or a range of its rows with `output.rows_per_file`) only at
the end, with the dedup decisions for that part, so each part's files are written by one worker in input
order; a shard's marker is written once all its parts are.
"""

from __future__ import annotations

import dataclasses

import apache_beam as beam
from apache_beam.utils.shared import Shared

from pipeline import stages
from pipeline.config import Config
from pipeline.dedup import ClusterKeys, ComputeDedupKeys
from pipeline.document import ShardSpec
from pipeline.schema import rule_columns, signal_fields
from pipeline.shards import part_of, read_tasks
from pipeline.writers import CommitShard, WritePart, signature_columns


def build_graph(p: beam.Pipeline, config: Config, shards: list[ShardSpec], digest: str,
                stored_keys: list[str] = (), scope: str = "") -> beam.PCollection:
    """Wire the enabled stages for `shards`; returns the PCollection of per-shard completion markers.

    With dedup on, `stored_keys` (the dedup-keys files of shards finished by an earlier run with the same config)
    join the clustering, so those shards' documents still count as copies without being read again. `scope`
    (pipeline.shards.dedup_scope of the run's whole shard set) goes into the markers."""
    models = Shared()  # one copy of each model per worker process
    rows_per_file = config.output.rows_per_file
    docs = (p | "ListReadTasks" >> beam.Create(read_tasks(shards, config.input.splits))
            | "SpreadTasks" >> beam.Reshuffle() | "ReadShards" >> beam.ParDo(stages.ReadShard()))
    if config.input.redistribute:
        docs = docs | "SpreadDocuments" >> beam.Reshuffle()

    if config.extract.enabled:
        docs = docs | "ExtractText" >> beam.ParDo(stages.Extract(config.extract))
    else:
        docs = docs | "RequireText" >> beam.Map(stages.require_text)
    docs = docs | "DropEmpty" >> beam.Map(stages.drop_if_empty)
    if config.langid.enabled:
        docs = (docs
                | "BatchForLangId" >> beam.BatchElements(min_batch_size=1, max_batch_size=config.langid.batch_size)
                | "IdentifyLanguage" >> beam.ParDo(stages.IdentifyLanguage(config.langid, config.mode == "filter",
                                                                           models)))
    if config.signals.enabled:
        docs = docs | "ComputeSignals" >> beam.ParDo(stages.ComputeSignals(config, models))
    else:
        docs = docs | "ReachSignals" >> beam.Map(stages.mark_reached_signals)
    if config.perplexity.enabled:
        docs = docs | "ScorePerplexity" >> beam.ParDo(stages.ScorePerplexity(config.perplexity, models))
    if config.classifiers.enabled and config.classifiers.models:
        docs = (docs
                | "BatchForClassifiers" >> beam.BatchElements(min_batch_size=1,
                                                              max_batch_size=config.classifiers.batch_size)
                | "Classify" >> beam.ParDo(stages.Classify(config.classifiers, models)))
    if config.mode == "filter" and config.filters.enabled:
        docs = docs | "ApplyRules" >> beam.ParDo(stages.ApplyRules(config, rule_columns(config)))

    # Everything below is keyed by output part: (shard, part), where a part is the whole shard unless
    # output.rows_per_file cuts it into row ranges. Each part is written by one worker.
    def part(shard: str, row: int) -> tuple[str, int]:
        return shard, part_of(row, rows_per_file)

    by_part = {"spec": p | "ListShards" >> beam.Create([((s.name, 0), s.name) for s in shards]),
               "docs": docs | "KeyByPart" >> beam.Map(lambda d: (part(d.shard, d.row), d))}
    if config.dedup.enabled:
        dedup = dataclasses.replace(config.dedup, thresholds=())  # cluster at the primary threshold only
        # keys for every threshold when minhash/ wants their band signatures (the primary comes first)
        keys = (docs | "DedupInputs" >> beam.FlatMap(stages.dedup_input)
                | "DedupKeys" >> ComputeDedupKeys(config.dedup if config.dedup.write_signatures else dedup))
        all_keys = keys
        if stored_keys:
            stored = (p | "ListStoredKeys" >> beam.Create(list(stored_keys)) | "SpreadStoredKeys" >> beam.Reshuffle()
                      | "ReadStoredKeys" >> beam.ParDo(stages.ReadDedupKeys(config.output.path)))
            all_keys = (keys, stored) | "WithStoredKeys" >> beam.Flatten()
        todo = {s.name for s in shards}
        by_part["dups"] = ((all_keys | "Cluster" >> ClusterKeys(dedup))[float(dedup.threshold)]
                           | "DupsByShard" >> beam.Map(stages.dup_by_shard)
                           | "OnlyShardsToWrite" >> beam.Filter(lambda kv, names: kv[0] in names, todo)
                           | "DupsByPart" >> beam.MapTuple(lambda shard, dup: (part(shard, dup[0]), dup)))
        by_part["keys"] = keys | "KeysByPart" >> beam.Map(
            lambda k: (part(*stages.dedup_node_shard_row(k.node)), k))
        if config.dedup.write_signatures:
            by_part["minhash"] = (keys
                                  | "SignatureRows" >> beam.Map(stages.signature_row, signature_columns(config))
                                  | "SignaturesByPart" >> beam.MapTuple(lambda shard, sig: (part(shard, sig[0]), sig)))
    return (
        by_part
        | "GroupByPart" >> beam.CoGroupByKey()
        | "WriteParts" >> beam.ParDo(WritePart(config, digest, signal_fields(config), shards))
        | "GroupPartsByShard" >> beam.GroupByKey()
        | "CommitShards" >> beam.ParDo(CommitShard(digest, config.output.path, shards, scope))
    )
