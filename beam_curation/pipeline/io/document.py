"""The record an annotation task works on, and the input-shard / task descriptor.

A `Doc` carries its shard name and row so that each shard's outputs can be written in input order (the key
to byte-identical files on any runner), the original fields needed to replay it, and what each stage added.
Once a document is removed by a stage or has failed, later stages pass it through untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


# Removals by annotation stages rather than rules: a document left without text. Everything else (the
# language keep-list, rules, dedup) is decided later from the stored annotations.
STAGE_REMOVALS = frozenset({"extract_empty", "c4_empty"})
# A page whose raw HTML is confidently in none of the kept languages: not extracted, not annotated.
LANGID_PREFILTER = "langid_prefilter"


def reached_signals(removed_by: Optional[str], error: Optional[str]) -> bool:
    """A document went through the signal stages (and has a signals/ row): it had text and did not fail."""
    return error is None and removed_by != "extract_empty"


@dataclass(frozen=True)
class ShardSpec:
    """One input file, or one slice of it (an annotation task): read by one worker, written back as one file
    (or one file per part) in each output folder."""

    path: str
    name: str  # output file stem, unique within a run
    format: str  # an input format's name (beam_curation.pipeline.io.formats)
    slice: int = 0  # this task reads its slice of the rows (input.splits)
    slices: int = 1
    index: int = 0  # position in the run's sorted shard list: the high bits of its documents' dedup nodes
    write: bool = True  # this run writes the shard's outputs (False: they are complete, only its keys are needed)

    @property
    def task(self) -> str:
        """The annotation task's name: the shard's, or the shard's and its slice's."""
        return self.name if self.slices == 1 else f"{self.name}.slice{self.slice:04d}of{self.slices:04d}"


@dataclass
class Doc:
    shard: str
    row: int
    id: str
    url: Optional[str] = None
    text: Optional[str] = None
    html: Optional[bytes | str] = None
    charset: Optional[str] = None  # transport charset (WARC HTTP header), a hint for decoding
    passthrough: dict[str, Any] = field(default_factory=dict)
    raw_input: Optional[dict[str, Any]] = None  # set when the record could not be parsed: what was read
    # (the record errors/ keeps is the reader's: beam_curation.pipeline.io.formats.InputFormat.raw_record)
    raw_text: Optional[bytes] = None  # the text's bytes as read, kept only when decoding them was lossy (WET)
    language: Optional[str] = None
    language_score: Optional[float] = None
    language_guess: Optional[tuple[str, ...]] = None  # CLD2's languages on the raw HTML (langid_prefilter)
    signals: dict[str, Any] = field(default_factory=dict)
    removed_by: Optional[str] = None
    error_stage: Optional[str] = None
    error: Optional[str] = None
    dedup: Optional[tuple] = None  # (exact-text hash, signature bytes or None, has shingles) when dedup is on
    ngrams: Optional[bytes] = None  # distinct n-gram hashes (uint64 LE) when an evaluation set is joined
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """Still being processed: neither removed nor failed."""
        return self.removed_by is None and self.error is None

    def fail(self, stage: str, error: BaseException | str) -> None:
        self.error_stage = stage
        self.error = error if isinstance(error, str) else f"{type(error).__name__}: {error}"

    def add_seconds(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
