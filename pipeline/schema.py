"""Output schemas, fixed by the config before the run starts.

The columns of signals/ follow from which stages are enabled, never from the data, so every shard of a run
has the same schema (and an empty shard still gets a well-typed file).
"""

from __future__ import annotations

import pyarrow as pa

from pipeline.config import Config

SPAN = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("score", pa.float64())])
SPANS = pa.list_(SPAN)
REMOVED_LINES = pa.list_(pa.struct([("start", pa.int64()), ("end", pa.int64()), ("reason", pa.string())]))

DOCUMENT_FIELDS = [pa.field("id", pa.string()), pa.field("text", pa.string()), pa.field("url", pa.string()),
                   pa.field("language", pa.string()), pa.field("language_score", pa.float64())]
DUPLICATES_SCHEMA = pa.schema([pa.field("id", pa.string()), pa.field("cluster_id", pa.string()),
                               pa.field("cluster_size", pa.int64()), pa.field("keep", pa.bool_())])
# _shards/<shard>.dedup_keys.parquet: a finished shard's dedup keys (filters.dedup_types.DedupKeys), so a
# rerun clusters the unfinished shards against them without reading the finished shards' text again.
DEDUP_KEYS_SCHEMA = pa.schema([pa.field("node", pa.binary()), pa.field("exact", pa.list_(pa.binary())),
                               pa.field("bands", pa.list_(pa.list_(pa.binary()))),
                               pa.field("signature", pa.binary()), pa.field("shingled", pa.bool_())])
ERROR_SCHEMA = pa.schema([pa.field("id", pa.string()), pa.field("stage", pa.string()),
                          pa.field("error", pa.string()), pa.field("input", pa.string())])


def quality_signals(config: Config):
    """The configured signal computer (filters.quality_signals.QualitySignals)."""
    from filters.quality_signals import QualitySignals

    return QualitySignals(config.signals.groups, config.signals.names, config.signals.c4,
                          remove_lines=config.mode == "filter")


def signal_fields(config: Config) -> list[pa.Field]:
    """Columns of signals/ after `id`, in a fixed order: language, per-stage signals, scores."""
    fields = [pa.field("language", pa.string()), pa.field("language_score", pa.float64())]
    if config.signals.enabled:
        for name, kind in quality_signals(config).names():
            fields.append(pa.field(name, SPANS if kind == "lines" else pa.float64()))
        if config.signals.ut1_blocklist:
            fields.append(pa.field("rps_doc_ut1_blacklist", pa.float64()))
        if "c4" in config.signals.groups:
            fields.append(pa.field("c4_removed_lines", REMOVED_LINES))
        for target in config.signals.importance:
            fields += [pa.field(f"rps_doc_{target}_importance", pa.float64()),
                       pa.field(f"rps_doc_{target}_importance_length_correction", pa.float64())]
    if config.perplexity.enabled:
        fields += [pa.field("ccnet_perplexity", pa.float64()), pa.field("ccnet_bucket", pa.int64())]
    if config.classifiers.enabled:
        for spec in config.classifiers.models:
            fields.append(pa.field(spec.output, pa.float64()))
            if spec.level == "paragraph":
                fields.append(pa.field(f"{spec.output}_spans", SPANS))
    if config.dedup.enabled:
        fields += [pa.field("dup_cluster_id", pa.string()), pa.field("dup_cluster_size", pa.int64())]
    return fields


def rule_columns(config: Config) -> set[str]:
    """Names a rule may use: document-level (numeric or string) signal columns."""
    return {f.name for f in signal_fields(config) if f.type not in (SPANS, REMOVED_LINES)}
