"""The annotation stages, in the order they run on each document.

A stage is one module of this package (or any importable module) that defines `STAGE`, a
`beam_curation.pipeline.stages.base.Stage` subclass declaring its config section, the columns it writes, the
files it opens, its checks and what of its settings shapes the annotations; adding one is that module plus its
line below. Config loading, start-time checks, the annotation digest, the manifest and the output schema loop
over `STAGES`.
"""

from __future__ import annotations

import importlib

from beam_curation.pipeline.stages.base import Stage, StageContext

ORDER = (
    "beam_curation.pipeline.stages.extract",
    "beam_curation.pipeline.stages.langid",
    "beam_curation.pipeline.stages.signals",
    "beam_curation.pipeline.stages.pii",
    "beam_curation.pipeline.stages.decontamination",
    "beam_curation.pipeline.stages.perplexity",
    "beam_curation.pipeline.stages.classifiers",
    "beam_curation.pipeline.stages.tokens",
    "beam_curation.pipeline.stages.dedup_keys",
)

STAGES: tuple[type[Stage], ...] = tuple(importlib.import_module(module).STAGE for module in ORDER)

__all__ = ["ORDER", "STAGES", "Stage", "StageContext"]
