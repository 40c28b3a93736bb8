"""The options of main-text extraction, in a module of their own so that each backend module can take them
without importing `beam_curation.filters.text.extract`, which imports the backends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from beam_curation.settings import setting


@dataclass(frozen=True)
class ExtractOptions:
    # newer than the first digests: left out of them while it is trafilatura (beam_curation.settings)
    backend: Literal["trafilatura", "resiliparse"] = setting("trafilatura", newer=True)
    favor: Literal["balanced", "precision", "recall"] = "balanced"
    include_tables: bool = True
    include_comments: bool = False
    include_links: bool = False
    deduplicate: bool = False
    fast: bool = False
    max_input_bytes: int = 20_000_000
