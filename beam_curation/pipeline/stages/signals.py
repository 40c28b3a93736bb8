"""Every configured quality signal from one pass over the text, plus URL blocklist and DSIR importance."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Optional

import pyarrow as pa

from beam_curation.filters.heuristics.quality_signals import C4Options
from beam_curation.pipeline.io.document import Doc
from beam_curation.pipeline.stages.base import SPANS, Stage, acquire, check_model
from beam_curation.settings import ConfigError, setting

log = logging.getLogger(__name__)

REMOVED_LINES = pa.list_(pa.struct([("start", pa.int64()), ("end", pa.int64()), ("reason", pa.string())]))


@dataclass(frozen=True)
class SignalsConfig:
    enabled: bool = True
    # Any of rpv2, gopher_repetition, gopher_quality, c4, fineweb (or fineweb2: FineWeb-2's per-language versions of
    # the gopher and fineweb groups, instead of them); computed in that recipe order, and in filter
    # mode the c4 group's line filter changes the document text (annotate mode records its removals only).
    groups: list[str] = field(default_factory=lambda: ["rpv2"])
    names: Optional[list[str]] = None  # None: every registered RedPajama-V2 signal
    c4: C4Options = field(default_factory=C4Options)  # C4's line filter; FineWeb: filter_no_terminal_punct false
    # UT1-style blocklist folder (<dir>/<category>/domains) -> rps_doc_ut1_blacklist; categories: all found if empty
    ut1_blocklist: Optional[str] = setting(None, path="resource")
    ut1_categories: list[str] = field(default_factory=list)
    # DSIR models by target name -> rps_doc_{name}_importance and rps_doc_{name}_importance_length_correction
    importance: dict[str, str] = setting(default_factory=dict, path="model")


def signal_computer(section: SignalsConfig):
    """The configured signal computer (beam_curation.filters.heuristics.quality_signals.QualitySignals)."""
    from beam_curation.filters.heuristics.quality_signals import QualitySignals

    return QualitySignals(section.groups, section.names, section.c4)


class ComputeSignals(Stage):
    """With the c4 group, the document's text becomes C4's line-filtered text (`signals.c4.remove_lines`) and the
    removed lines are recorded (`c4_removed_lines`, spans over the text before removal)."""

    STAGE = SECTION = "signals"
    Settings = SignalsConfig

    @classmethod
    def columns(cls, section: SignalsConfig) -> list[pa.Field]:
        from beam_curation.filters.heuristics.quality_signals import signal_names

        names = tuple(section.names) if section.names is not None else None
        fields = [pa.field(name, SPANS if kind == "lines" else pa.float64())
                  for name, kind in signal_names(tuple(section.groups), names, section.c4)]
        if section.ut1_blocklist:
            fields.append(pa.field("rps_doc_ut1_blacklist", pa.float64()))
        if "c4" in section.groups:
            fields.append(pa.field("c4_removed_lines", REMOVED_LINES))
        for target in section.importance:
            fields += [pa.field(f"rps_doc_{target}_importance", pa.float64()),
                       pa.field(f"rps_doc_{target}_importance_length_correction", pa.float64())]
        return fields

    @classmethod
    def hint(cls, column: str, section: SignalsConfig) -> Optional[str]:
        from beam_curation.filters.heuristics.quality_signals import GROUPS, signal_names

        groups = [g for g in GROUPS if column in {name for name, _ in signal_names((g,), None, C4Options())}]
        if groups:
            return f"signals.groups: {' or '.join(groups)}"
        if column == "rps_doc_ut1_blacklist":
            return "signals.ut1_blocklist"
        importance = re.fullmatch(r"rps_doc_(\w+?)_importance(_length_correction)?", column)
        return f"signals.importance.{importance[1]}" if importance else None

    @classmethod
    def check(cls, section: SignalsConfig, config: Any) -> None:
        try:
            cls.columns(section)  # builds the signal computer once (cached): unknown groups or names fail here
        except ValueError as exc:
            raise ConfigError(f"signals: {exc}") from None
        _check_word_segmenters(section, config.langid.keep)
        if section.ut1_blocklist:
            from beam_curation.filters.heuristics.url_blocklist import DomainBlocklist

            try:
                DomainBlocklist.load(section.ut1_blocklist, section.ut1_categories)
            except (FileNotFoundError, NotADirectoryError) as exc:
                raise ConfigError(f"signals.ut1_blocklist: {exc}") from None
        from beam_curation.filters.models.dsir import DsirModel

        for key, path in cls.model_paths(section):  # the DSIR models load
            check_model(key, path, DsirModel.load)

    def setup(self) -> None:
        from beam_curation.filters.heuristics.url_blocklist import DomainBlocklist
        from beam_curation.filters.models.dsir import DsirModel

        section = self.section
        self._computer = signal_computer(section)
        self._computer.warm_up()  # spaCy's second, while the extraction child (set up before) starts
        self._blocklist = None
        if section.ut1_blocklist:
            self._blocklist = acquire(self.shared, DomainBlocklist.load, section.ut1_blocklist,
                                      tuple(section.ut1_categories))
        self._importance = {target: acquire(self.shared, DsirModel.load, path)
                            for target, path in section.importance.items()}

    def apply(self, doc: Doc) -> None:
        result = self._computer.compute(doc.text or "", doc.language or "")
        doc.signals.update(result.signals)
        if "c4" in self._computer.groups:
            doc.signals["c4_removed_lines"] = result.removed_lines
        if self._blocklist is not None:
            category = self._blocklist.category_id(doc.url)
            doc.signals["rps_doc_ut1_blacklist"] = float(category) if category is not None else None
        doc.text = result.text
        if not doc.text.strip():
            doc.removed_by = "c4_empty"  # C4's line filter removed every line
        for target, model in self._importance.items():
            score, corrected = model.importance(doc.text)
            doc.signals[f"rps_doc_{target}_importance"] = score
            doc.signals[f"rps_doc_{target}_importance_length_correction"] = corrected


def _check_word_segmenters(section: SignalsConfig, keep: list[str]) -> None:
    """The `fineweb2` group splits words with each language's segmenter: one that is not installed fails the
    run at start for the languages the run keeps, except Korean's (Kiwi is LGPL-3.0 and optional: Korean
    documents then fail one by one, in errors/, with the install hint)."""
    if "fineweb2" not in section.groups:
        return
    from beam_curation.filters.text.word_tokenizers import ASSIGNMENTS, missing_libraries

    missing = missing_libraries(keep or sorted(ASSIGNMENTS))
    optional = {lang: m for lang, m in missing.items() if m[1] == "korean"}
    required = {lang: m for lang, m in missing.items() if m[1] != "korean"}
    if required:
        languages = ", ".join(f"{lang} ({module})" for lang, (module, _) in sorted(required.items()))
        raise ConfigError(f"signals.groups: fineweb2 needs the word segmenters of {languages}: "
                          "pip install 'beam-curation[multilingual]', or leave those languages out of langid.keep")
    if optional:
        log.warning("kiwipiepy is not installed: Korean documents will fail the signal stage (errors/); "
                    "pip install 'beam-curation[korean]' (LGPL-3.0) or leave ko out of langid.keep")


STAGE = ComputeSignals
