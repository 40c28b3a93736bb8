"""Output schemas, fixed by the config before the run starts.

The columns of signals/ follow from which stages are enabled, never from the data, so every shard of a run
has the same schema (and an empty shard still gets a well-typed file).
"""

from __future__ import annotations

import pyarrow as pa

from pipeline.config import Config

SPAN = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("score", pa.float64())])
SPANS = pa.list_(SPAN)

DOCUMENT_FIELDS = [pa.field("id", pa.string()), pa.field("text", pa.string()), pa.field("url", pa.string()),
                   pa.field("language", pa.string()), pa.field("language_score", pa.float64())]
DUPLICATES_SCHEMA = pa.schema([pa.field("id", pa.string()), pa.field("cluster_id", pa.string()),
                               pa.field("cluster_size", pa.int64()), pa.field("keep", pa.bool_())])
ERROR_SCHEMA = pa.schema([pa.field("id", pa.string()), pa.field("stage", pa.string()),
                          pa.field("error", pa.string()), pa.field("input", pa.string())])


def signal_fields(config: Config) -> list[pa.Field]:
    """Columns of signals/ after `id`, in a fixed order: language, per-stage signals, scores."""
    fields = [pa.field("language", pa.string()), pa.field("language_score", pa.float64())]
    if config.signals.enabled:
        from filters.signals import SIGNAL_KINDS, SignalComputer

        for name in SignalComputer(config.signals.names).names:
            fields.append(pa.field(name, SPANS if SIGNAL_KINDS[name] == "lines" else pa.float64()))
        for target in config.signals.importance:
            fields += [pa.field(f"rps_doc_{target}_importance", pa.float64()),
                       pa.field(f"rps_doc_{target}_importance_length_correction", pa.float64())]
    if config.perplexity.enabled:
        fields += [pa.field("ccnet_perplexity", pa.float64()), pa.field("ccnet_bucket", pa.int64())]
    if config.classifiers.enabled:
        fields += [pa.field(spec.output, pa.float64()) for spec in config.classifiers.models]
    if config.dedup.enabled:
        fields += [pa.field("dup_cluster_id", pa.string()), pa.field("dup_cluster_size", pa.int64())]
    return fields


def rule_columns(config: Config) -> set[str]:
    """Names a rule may use: document-level (numeric or string) signal columns."""
    return {f.name for f in signal_fields(config) if f.type != SPANS}
