"""Word n-grams shared with each evaluation set (beam_curation.filters.release.decontamination):
`decontam_<name>` (distinct n-grams) and `decontam_<name>_items` (distinct items; NaN with a Bloom index). The
driver chose each set's path before the run (beam_curation.pipeline.io.eval_sets): a side-input index is loaded
once per worker process and matched here; for a joined set the document's distinct n-gram hashes are kept
(`Doc.ngrams`, stored in the annotations) and its columns hold 0 until the global join adds what it finds
(beam_curation.pipeline.graph.decontam)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Union

import pyarrow as pa

from beam_curation.pipeline.io.content import content_digest
from beam_curation.pipeline.io.document import Doc
from beam_curation.pipeline.stages.base import Stage, acquire
from beam_curation.settings import ConfigError, annotation_view, setting

COLUMN_SUFFIX = re.compile(r"^[a-z0-9][a-z0-9_]*$")


@dataclass(frozen=True)
class EvalSetSpec:
    """One evaluation set: a JSONL / Parquet / CSV file or a `datasets` save_to_disk folder."""

    name: str  # column suffix: decontam_<name>, decontam_<name>_items
    path: str = setting(path="input")
    text_column: Union[str, list[str]] = "text"  # several columns are joined with a newline
    split: Optional[str] = None  # a DatasetDict folder: only this split (default: all)


@dataclass(frozen=True)
class DecontaminationConfig:
    """A set whose index fits `max_index_mb` is a side input: its index is built once by the driver at start and
    loaded once per worker process. `index: auto` takes the exact index (n-grams and items) when it fits, else
    a Bloom filter (n-grams only) when that fits, else joins the set with the documents' n-grams in the global
    step (exact figures, no index in any worker; beam_curation.pipeline.graph.decontam). `exact` and `bloom`
    over the limit are refused at start; `join` always joins."""

    enabled: bool = False
    sets: list[EvalSetSpec] = field(default_factory=list)
    ngram: int = 13
    index: Literal["auto", "exact", "bloom", "join"] = "auto"
    max_index_mb: float = 512.0  # memory one set's index may take in every worker; beyond it, `auto` joins
    bloom_error_rate: float = 1e-6  # false positive rate per n-gram of a Bloom index


class Decontaminate(Stage):
    STAGE = SECTION = "decontamination"
    Settings = DecontaminationConfig
    OPTIONAL = True
    HINT = "a decontamination.sets entry"

    @classmethod
    def columns(cls, section: DecontaminationConfig) -> list[pa.Field]:
        from beam_curation.filters.release.decontamination import signal_names

        return [pa.field(column, pa.float64()) for spec in section.sets for column in signal_names(spec.name)]

    @classmethod
    def digest(cls, section: DecontaminationConfig) -> dict[str, Any]:
        """The settings and the sets' contents: a benchmark updated in place is matched anew."""
        if not section.enabled:
            return {}
        return {cls.SECTION: annotation_view(section), "eval_sets": [content_digest(s.path) for s in section.sets]}

    @classmethod
    def validate(cls, section: DecontaminationConfig) -> None:
        if not section.enabled:
            return
        if not section.sets:
            raise ConfigError("decontamination.sets: enabled, but no evaluation set is given")
        if not 1 <= section.ngram <= 64:
            raise ConfigError("decontamination.ngram: must lie in [1, 64]")
        if section.max_index_mb <= 0:
            raise ConfigError("decontamination.max_index_mb: must be > 0")
        if not 0 < section.bloom_error_rate < 1:
            raise ConfigError("decontamination.bloom_error_rate: must lie in (0, 1)")
        columns: dict[str, str] = {}
        for i, spec in enumerate(section.sets):
            if not COLUMN_SUFFIX.match(spec.name):
                raise ConfigError(f"decontamination.sets[{i}].name: {spec.name!r} cannot be a column suffix "
                                  "(lower-case letters, digits and _)")
            for column in (f"decontam_{spec.name}", f"decontam_{spec.name}_items"):
                if column in columns:
                    raise ConfigError(f"decontamination.sets[{i}].name: {spec.name!r} would write {column}, as "
                                      f"the set {columns[column]!r} does (names must be unique)")
                columns[column] = spec.name
            text_columns = [spec.text_column] if isinstance(spec.text_column, str) else spec.text_column
            if not text_columns or not all(text_columns):
                raise ConfigError(f"decontamination.sets[{i}].text_column: give a column name or a list of them")

    @classmethod
    def check(cls, section: DecontaminationConfig, config: Any) -> None:
        from beam_curation.pipeline.io.eval_sets import check_eval_sets

        check_eval_sets(section)

    def setup(self) -> None:
        from beam_curation.filters.release.decontamination import load_index
        from beam_curation.pipeline.io.eval_sets import INDEXES, read_description

        output = self.context.output
        self._indexes, self._joined = {}, []
        for spec in self.section.sets:
            described = read_description(output, spec.name)
            if described is None:
                raise RuntimeError(f"no decontamination index for {spec.name!r} under {output}/{INDEXES}")
            if described["kind"] == "join":
                self._joined.append(spec.name)
            else:
                path = f"{output.rstrip('/')}/{INDEXES}/{described['file']}"
                self._indexes[spec.name] = acquire(self.shared, load_index, path)

    def apply(self, doc: Doc) -> None:
        import numpy as np

        from beam_curation.filters.release.decontamination import decontamination_signals, ngram_hashes, signal_names

        text = doc.text or ""
        n = self.section.ngram
        hashes = ngram_hashes(text, n)
        doc.signals.update(decontamination_signals(text, self._indexes, {n: hashes}))
        if self._joined:
            doc.ngrams = np.unique(hashes).astype("<u8").tobytes()
            for name in self._joined:
                doc.signals.update(dict.fromkeys(signal_names(name), 0.0))


STAGE = Decontaminate
