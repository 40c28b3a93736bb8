"""The Beam graph, on one screen: read -> extract -> language -> signals -> scores -> decide -> dedup -> write.

Documents are grouped by input shard only at the end, with the dedup decisions for that shard, so each
shard's files are written by one worker in input order.
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
from pipeline.shards import read_tasks
from pipeline.writers import WriteShard


def build_graph(p: beam.Pipeline, config: Config, shards: list[ShardSpec], digest: str,
                finished: list[ShardSpec] = ()) -> beam.PCollection:
    """Wire the enabled stages for `shards`; returns the PCollection of per-shard completion markers.

    With dedup on, the stored dedup keys of `finished` shards (complete from an earlier run with the same
    config) join the clustering, so their documents still count as copies without being read again."""
    models = Shared()  # one copy of each model per worker process
    specs = p | "ListShards" >> beam.Create(shards)
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

    by_shard = {"spec": specs | "KeySpecs" >> beam.Map(lambda s: (s.name, s)),
                "docs": docs | "KeyByShard" >> beam.Map(lambda d: (d.shard, d))}
    if config.dedup.enabled:
        dedup = dataclasses.replace(config.dedup, thresholds=())  # cluster at the primary threshold only
        keys = docs | "DedupInputs" >> beam.FlatMap(stages.dedup_input) | "DedupKeys" >> ComputeDedupKeys(dedup)
        all_keys = keys
        if finished:
            stored = (p | "ListFinished" >> beam.Create(finished) | "SpreadFinished" >> beam.Reshuffle()
                      | "ReadStoredKeys" >> beam.ParDo(stages.ReadDedupKeys(config.output.path)))
            all_keys = (keys, stored) | "WithStoredKeys" >> beam.Flatten()
        todo = {s.name for s in shards}
        by_shard["dups"] = ((all_keys | "Cluster" >> ClusterKeys(dedup))[float(dedup.threshold)]
                            | "DupsByShard" >> beam.Map(stages.dup_by_shard)
                            | "OnlyShardsToWrite" >> beam.Filter(lambda kv, names: kv[0] in names, todo))
        by_shard["keys"] = keys | "KeysByShard" >> beam.Map(stages.keys_by_shard)
        if config.dedup.write_signatures:
            by_shard["minhash"] = (docs
                                   | "BatchForSignatures" >> beam.BatchElements(max_batch_size=config.dedup.batch_size)
                                   | "BandSignatures" >> beam.ParDo(stages.BandSignatures(config.dedup)))
    return (
        by_shard
        | "GroupByShard" >> beam.CoGroupByKey()
        | "WriteShards" >> beam.ParDo(WriteShard(config, digest, signal_fields(config)))
    )
