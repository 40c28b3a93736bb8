"""Personal data (beam_curation.filters.release.pii) in the text as the signal stages left it (C4's lines
removed): counts per kind and spans over that text; in `redact` mode the values are replaced by placeholders,
so perplexity, classifiers, dedup and documents/ see the redacted text. Span columns written before this stage
(`rps_lines_*`, `c4_removed_lines`) refer to the text before redaction, as `pii_spans` does."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa

from beam_curation.pipeline.graph.metrics import count
from beam_curation.pipeline.io.document import Doc
from beam_curation.pipeline.stages.base import Stage
from beam_curation.settings import ConfigError

PII_SPANS = pa.list_(pa.struct([("start", pa.int64()), ("end", pa.int64()), ("kind", pa.string())]))


@dataclass(frozen=True)
class PiiConfig:
    """Counts `pii_<kind>` and spans `pii_spans`; `redact` also replaces each value in the text by its
    placeholder. Removing documents with personal data is a rule on the counts."""

    enabled: bool = False
    mode: Literal["annotate", "redact"] = "annotate"
    kinds: list[str] = field(default_factory=lambda: ["email", "ip", "phone"])  # also: card, iban
    phone_regions: list[str] = field(default_factory=lambda: ["US"])  # national formats of these regions


class FindPii(Stage):
    STAGE = SECTION = "pii"
    Settings = PiiConfig
    OPTIONAL = True
    HINT = "pii.enabled and pii.kinds"

    @classmethod
    def columns(cls, section: PiiConfig) -> list[pa.Field]:
        from beam_curation.filters.release.pii import PII_KINDS, signal_name

        kinds = [k for k in PII_KINDS if k in section.kinds]
        return [*(pa.field(signal_name(k), pa.float64()) for k in kinds), pa.field("pii_spans", PII_SPANS)]

    @classmethod
    def validate(cls, section: PiiConfig) -> None:
        if not section.enabled:
            return
        from beam_curation.filters.release.pii import PII_KINDS, PiiDetector

        for i, kind in enumerate(section.kinds):
            if kind not in PII_KINDS:
                raise ConfigError(f"pii.kinds[{i}]: unknown kind {kind!r} (known: {', '.join(PII_KINDS)})")
        if not section.kinds or len(set(section.kinds)) != len(section.kinds):
            raise ConfigError("pii.kinds: list each kind once, at least one")
        try:
            PiiDetector(section.kinds, phone_regions=section.phone_regions)
        except ValueError as exc:
            raise ConfigError(f"pii.phone_regions: {exc}") from None

    def setup(self) -> None:
        from beam_curation.filters.release.pii import PiiDetector

        self._detector = PiiDetector(self.section.kinds, phone_regions=self.section.phone_regions)
        self._redact = self.section.mode == "redact"

    def apply(self, doc: Doc) -> None:
        from beam_curation.filters.release.pii import redact

        text = doc.text or ""
        spans = self._detector.find(text)
        doc.signals.update(self._detector.counts(spans))
        doc.signals["pii_spans"] = [{"start": s.start, "end": s.end, "kind": s.kind} for s in spans]
        if self._redact and spans:
            doc.text = redact(text, spans)
            count("pii_redacted_values", len(spans))


STAGE = FindPii
