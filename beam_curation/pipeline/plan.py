"""The run plan: a config resolved once on the driver into the parts each step of the graph uses.

Which stages run and with which settings, the columns a run writes and its rules may read, the language gate,
the rule list (the language keep-list first, as the rule `langid`), dedup and output settings: each derived
here, once, and handed to the DoFn that needs it. No worker sees the whole config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pyarrow as pa

from beam_curation.filters.dedup.types import DedupConfig
from beam_curation.filters.models.langid_prefilter import gate_languages
from beam_curation.pipeline.config import BucketSpec, Config, OutputConfig, RuleSpec
from beam_curation.pipeline.io.figures import FigureColumns
from beam_curation.pipeline.stages import Stage, StageContext
from beam_curation.pipeline.stages.tokens import COLUMN as TOKEN_COLUMN, CountTokens

LANGUAGE_RULE = "langid"
LANGUAGE_FIELDS = [pa.field("language", pa.string()), pa.field("language_score", pa.float64())]


@dataclass(frozen=True)
class Annotation:
    """What annotating a task needs: the enabled stages with their sections, what they share, the columns."""

    stages: tuple[tuple[type[Stage], Any], ...]
    context: StageContext
    fields: tuple[pa.Field, ...]  # signal columns of the annotation files, in stage order
    dedup: bool  # the files carry the dedup keys
    compression: Optional[str]  # Parquet compression of the annotation files (None: none)
    max_text_bytes: Optional[int] = None  # the readers' text cap (`input.max_text_bytes`; None: none)

    def build(self, shared: Any) -> list[Stage]:
        """The stage objects of one worker (not set up yet)."""
        return [stage(section, self.context, shared) for stage, section in self.stages]


@dataclass(frozen=True)
class Decisions:
    """What deciding a document needs: the rules in order, the mode, the gate, whether dedup takes part."""

    rules: tuple[RuleSpec, ...]
    filter_mode: bool
    gate: Optional[frozenset[str]]
    dedup: bool
    available: tuple[str, ...]  # the stored columns rules and bands may read (sorted)
    buckets: tuple[BucketSpec, ...] = ()  # band columns, decided before the rules (which may read them)


@dataclass(frozen=True)
class Writing:
    """What writing a part needs, beside the decisions."""

    output: OutputConfig
    signal_fields: tuple[pa.Field, ...]  # signals/ columns after `id`
    signature_columns: tuple[str, ...]  # minhash/ columns (RedPajama-V2-style band signatures), or none
    model_languages: dict[str, frozenset[str]]  # output column -> the languages its model is for
    figures: FigureColumns  # what the data card's figures are counted from


@dataclass(frozen=True)
class RunPlan:
    annotation: Annotation
    decisions: Decisions
    writing: Writing
    dedup: DedupConfig
    decontamination: Any  # the section (evaluation sets joined in the global step read it)
    measure_shuffle: bool


def resolve(config: Config) -> RunPlan:
    """The plan of `config` (on the driver, before the graph is built)."""
    fields = tuple(annotation_fields(config))
    available = tuple(sorted(annotation_rule_columns(config)))
    compression = None if config.output.compression == "none" else config.output.compression
    languages: dict[str, frozenset[str]] = {}
    for stage, section in enabled_stages(config):
        languages.update(stage.languages(section))
    return RunPlan(
        annotation=Annotation(tuple(enabled_stages(config)), stage_context(config), fields, config.dedup.enabled,
                              compression, config.input.max_text_bytes),
        decisions=Decisions(tuple(rule_specs(config)), config.mode == "filter", prefilter_gate(config),
                            config.dedup.enabled, available, tuple(config.buckets)),
        writing=Writing(config.output, tuple(signal_fields(config)), tuple(signature_columns(config)), languages,
                        figure_columns(config)),
        dedup=config.dedup,
        decontamination=config.decontamination,
        measure_shuffle=config.runner.measure_shuffle,
    )


def figure_columns(config: Config) -> FigureColumns:
    from beam_curation.filters.release.decontamination import signal_names
    from beam_curation.filters.release.pii import PII_KINDS, signal_name

    pii, decon = config.pii, config.decontamination
    return FigureColumns(
        pii={k: signal_name(k) for k in PII_KINDS if pii.enabled and k in pii.kinds},
        sets={s.name: signal_names(s.name)[0] for s in decon.sets} if decon.enabled else {},
        dedup=config.dedup.enabled,
        paragraphs=config.dedup.enabled and config.dedup.paragraphs.enabled,
        tokens=TOKEN_COLUMN if CountTokens.enabled(config.tokens) else None)


def enabled_stages(config: Config) -> list[tuple[type[Stage], Any]]:
    """(stage, section) of every enabled annotation stage, in the order they run."""
    return [(stage, section) for stage, section in config.stage_sections() if stage.enabled(section)]


def stage_context(config: Config) -> StageContext:
    # Pages are guessed (and the guess stored) whenever there is a language stage and extraction: with any
    # keep-list, so that a rerun or refilter that keeps only some languages decides the gate as a fresh run.
    guess = config.extract.enabled and config.langid.enabled and config.langid.prefilter
    return StageContext(gate=prefilter_gate(config), guess_languages=guess, output=config.output.path)


def prefilter_gate(config: Config) -> Optional[frozenset[str]]:
    """The kept languages the gate skips pages by, or None when it is off. It removes only what the `langid`
    rule would remove, so it is on in filter mode with a keep-list whose languages CLD2 can see."""
    langid = config.langid
    if not (config.mode == "filter" and langid.enabled and langid.prefilter and config.extract.enabled):
        return None
    return gate_languages(langid.keep)


def language_rule(config: Config) -> Optional[RuleSpec]:
    """`langid.keep` and `langid.min_score` as a rule named `langid` (None when they keep everything)."""
    langid = config.langid
    if not langid.enabled:
        return None
    conditions, params = [], {}
    if langid.keep:
        conditions.append("language in keep_languages")
        params["keep_languages"] = list(langid.keep)
    if langid.min_score > 0:
        conditions.append("language_score >= min_language_score")
        params["min_language_score"] = langid.min_score
    if not conditions:
        return None
    return RuleSpec(name=LANGUAGE_RULE, keep=" and ".join(conditions), params=params)


def rule_specs(config: Config) -> list[RuleSpec]:
    """The rules a filter-mode run applies, in order; none in annotate mode."""
    if config.mode != "filter":
        return []
    specs = [r for r in [language_rule(config)] if r is not None]
    if config.filters.enabled:
        specs += list(config.filters.rules)
    return specs


def annotation_fields(config: Config) -> list[pa.Field]:
    """Signal columns the annotation stages write, in stage order (language and language_score first)."""
    fields = [f for stage, section in enabled_stages(config) for f in stage.columns(section)]
    if not any(f.name == "language" for f in fields):  # documents/ and signals/ always carry the language columns
        fields = [*LANGUAGE_FIELDS, *fields]
    return fields


def dedup_columns(config: Config) -> list[pa.Field]:
    """signals/ columns the dedup decision writes."""
    if not config.dedup.enabled:
        return []
    fields = [pa.field("dup_cluster_id", pa.string()), pa.field("dup_cluster_size", pa.int64())]
    if config.dedup.paragraphs.enabled:
        from beam_curation.filters.dedup.paragraphs import SPANS_COLUMN
        from beam_curation.pipeline.stages.base import SPANS

        fields.append(pa.field(SPANS_COLUMN, SPANS))  # the rps_lines_* type
    return fields


def bucket_fields(config: Config) -> list[pa.Field]:
    """signals/ columns of the band sets (`buckets`): each document's label."""
    return [pa.field(spec.name, pa.string()) for spec in config.buckets]


def signal_fields(config: Config) -> list[pa.Field]:
    """Columns of signals/ after `id`: every stage's, the bands', then the dedup decision's."""
    return annotation_fields(config) + bucket_fields(config) + dedup_columns(config)


def annotation_rule_columns(config: Config) -> set[str]:
    """Stored columns a rule or a band set may read: document-level (numeric or string) annotation columns."""
    return {f.name for f in annotation_fields(config) if not pa.types.is_list(f.type)}


def rule_columns(config: Config) -> set[str]:
    """Names a rule may use: the stored document-level columns and the bands (rules run before dedup)."""
    return annotation_rule_columns(config) | {spec.name for spec in config.buckets}


def signature_columns(config: Config) -> list[str]:
    """minhash/ columns when the config asks for RedPajama-V2-style band signatures, else none."""
    from beam_curation.filters.dedup.lsh import signature_column

    if not (config.dedup.enabled and config.dedup.write_signatures):
        return []
    return [signature_column(t) for t in config.dedup.all_thresholds()]
