"""CCNet-style KenLM perplexity and head/middle/tail bucket, with the model of the document's language."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from beam_curation.pipeline.io.document import Doc
from beam_curation.pipeline.stages.base import Stage, acquire, check_model
from beam_curation.settings import ConfigError, setting


@dataclass(frozen=True)
class PerplexityConfig:
    enabled: bool = False
    models: dict[str, str] = setting(default_factory=dict, path="model")  # language -> KenLM binary
    # language -> [p30, p60]; when absent, the cut-offs of the model card beside the model (en.bin -> en.json)
    buckets: dict[str, list[float]] = field(default_factory=dict)


class ScorePerplexity(Stage):
    STAGE = SECTION = "perplexity"
    Settings = PerplexityConfig

    @classmethod
    def columns(cls, section: PerplexityConfig) -> list[pa.Field]:
        return [pa.field("ccnet_perplexity", pa.float64()), pa.field("ccnet_bucket", pa.int64())]

    @classmethod
    def validate(cls, section: PerplexityConfig) -> None:
        for lang, cut in section.buckets.items():
            if len(cut) != 2 or cut[0] > cut[1]:
                raise ConfigError(f"perplexity.buckets.{lang}: expected [p30, p60] with p30 <= p60")

    @classmethod
    def languages(cls, section: PerplexityConfig) -> dict[str, frozenset[str]]:
        return {"ccnet_perplexity": frozenset(section.models)}

    @classmethod
    def check(cls, section: PerplexityConfig, config: Any) -> None:
        """Every KenLM model loads (KenLM checks a binary's headers against its size)."""
        from beam_curation.filters.models.perplexity import PerplexityModel

        for key, path in cls.model_paths(section):
            check_model(key, path, PerplexityModel)

    def setup(self) -> None:
        from beam_curation.filters.models.perplexity import PerplexityModel

        self._models = {lang: acquire(self.shared, PerplexityModel, path)
                        for lang, path in self.section.models.items()}

    def applies(self, doc: Doc) -> bool:
        return doc.active and (doc.language or "") in self._models

    def apply(self, doc: Doc) -> None:
        from beam_curation.filters.models.perplexity import bucket

        model = self._models[doc.language]
        ppl = model.perplexity(doc.text or "")
        cutoffs = self.section.buckets.get(doc.language) or model.cutoffs
        doc.signals["ccnet_perplexity"] = ppl
        doc.signals["ccnet_bucket"] = bucket(ppl, cutoffs) if cutoffs else None


STAGE = ScorePerplexity
