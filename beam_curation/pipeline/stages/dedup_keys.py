"""What dedup needs from the text, computed once: the MinHash signature and the exact-text hash. Buckets,
thresholds and keepers are decided from them later (beam_curation.pipeline.graph.decide), without the text."""

from __future__ import annotations

from typing import Any

from beam_curation.filters.dedup.types import DedupConfig
from beam_curation.pipeline.io.document import Doc
from beam_curation.pipeline.stages.base import Stage
from beam_curation.settings import annotation_view


class DedupKeys(Stage):
    STAGE = "dedup_keys"
    SECTION = "dedup"
    Settings = DedupConfig  # its own checks run as it is built (DedupConfig.__post_init__)

    @classmethod
    def digest(cls, section: DedupConfig) -> dict[str, Any]:
        """The signature's settings (the only ones marked as shaping annotations), or None when dedup is off."""
        return {cls.SECTION: annotation_view(section) if section.enabled else None}

    @classmethod
    def check(cls, section: DedupConfig, config: Any) -> None:
        """The `against` runs are finished, with dedup keys made with our signature settings."""
        from beam_curation.pipeline.io.against import check_against

        check_against(section, config.output.path)
        check_keep(section, config)

    def setup(self) -> None:
        from beam_curation.filters.dedup.keys import DedupKeyer

        self._keyer = DedupKeyer(self.section)

    def apply_batch(self, docs: list[Doc]) -> None:
        for doc, keys in zip(docs, self._keyer.annotate(d.text or "" for d in docs)):
            doc.dedup = keys


def check_keep(section: DedupConfig, config: Any) -> None:
    """A keep ranking's `by` expression parses and reads only stored columns (one line otherwise)."""
    from beam_curation.filters.dedup.types import KeepRanking
    from beam_curation.filters.rules import RuleError, compile_rule
    from beam_curation.pipeline.plan import annotation_rule_columns
    from beam_curation.settings import ConfigError

    if isinstance(section.keep, KeepRanking) and section.keep.by:
        try:
            compile_rule("dedup.keep.by", section.keep.by, None, annotation_rule_columns(config))
        except RuleError as exc:
            raise ConfigError(f"dedup.keep.by: {exc}") from None


STAGE = DedupKeys
