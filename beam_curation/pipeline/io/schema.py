"""Output schemas, fixed by the config before the run starts.

The columns of signals/ are the columns each enabled stage declares (beam_curation.pipeline.graph.stages, in stage order) plus
those of the dedup decision (beam_curation.pipeline.graph.decide), never a function of the data, so every shard of a run has the
same schema. The passthrough columns of documents/ and removed/ are the run's union (beam_curation.pipeline.io.passthrough).
"""

from __future__ import annotations

import pyarrow as pa

from beam_curation.pipeline.config import Config
from beam_curation.pipeline.graph.stages import enabled_stages

DOCUMENT_FIELDS = [pa.field("id", pa.string()), pa.field("text", pa.string()), pa.field("url", pa.string()),
                   pa.field("language", pa.string()), pa.field("language_score", pa.float64())]
DUPLICATES_SCHEMA = pa.schema([pa.field("id", pa.string()), pa.field("cluster_id", pa.string()),
                               pa.field("cluster_size", pa.int64()), pa.field("keep", pa.bool_())])
ERROR_SCHEMA = pa.schema([pa.field("id", pa.string()), pa.field("stage", pa.string()),
                          pa.field("error", pa.string()), pa.field("input", pa.string())])


def quality_signals(config: Config):
    """The configured signal computer (beam_curation.filters.heuristics.quality_signals.QualitySignals)."""
    from beam_curation.filters.heuristics.quality_signals import QualitySignals

    return QualitySignals(config.signals.groups, config.signals.names, config.signals.c4)


def annotation_fields(config: Config) -> list[pa.Field]:
    """Signal columns the annotation stages write, in stage order (language and language_score first)."""
    fields = []
    for stage in enabled_stages(config):
        fields += stage.columns(config)
    if not config.langid.enabled:  # documents/ and signals/ always carry the language columns
        fields = [pa.field("language", pa.string()), pa.field("language_score", pa.float64()), *fields]
    return fields


def signal_fields(config: Config) -> list[pa.Field]:
    """Columns of signals/ after `id`: every stage's, then the dedup decision's."""
    from beam_curation.pipeline.graph.decide import dedup_columns

    return annotation_fields(config) + dedup_columns(config)


def rule_columns(config: Config) -> set[str]:
    """Names a rule may use: document-level (numeric or string) annotation columns (rules run before dedup)."""
    return {f.name for f in annotation_fields(config) if not pa.types.is_list(f.type)}


def signature_columns(config: Config) -> list[str]:
    """minhash/ columns when the config asks for RedPajama-V2-style band signatures, else none."""
    from beam_curation.filters.dedup.lsh import signature_column

    if not (config.dedup.enabled and config.dedup.write_signatures):
        return []
    return [signature_column(t) for t in config.dedup.all_thresholds()]
