"""The record that flows through the graph, and the input-shard descriptor.

A `Doc` carries its shard name and row so that each shard's outputs can be written in input order (the key
to byte-identical files on any runner), the original fields needed to replay it, and what each stage added.
Once a document is removed or has failed, later stages pass it through untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


# Removals by stages rather than rules: before or at the signal stages, and by dedup (after the rules).
EARLY_REMOVALS = frozenset({"extract_empty", "langid", "c4_empty"})
DEDUP_REMOVALS = frozenset({"dedup_exact", "dedup_minhash"})


@dataclass(frozen=True)
class ShardSpec:
    """One input file: read by one worker, written back as one file per output folder."""

    path: str
    name: str  # output file stem, unique within a run
    format: str  # parquet | jsonl | warc
    slice: int = 0  # this task reads rows with row % slices == slice (input.splits)
    slices: int = 1


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
    language: Optional[str] = None
    language_score: Optional[float] = None
    signals: dict[str, Any] = field(default_factory=dict)
    removed_by: Optional[str] = None
    error_stage: Optional[str] = None
    error: Optional[str] = None
    reached_signals: bool = False
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

    def original_record(self) -> dict[str, Any]:
        """The input record as read (HTML or text, id, url, passthrough): what errors/ stores to replay it."""
        if self.raw_input is not None:
            return self.raw_input
        record: dict[str, Any] = {"id": self.id}
        if self.url is not None:
            record["url"] = self.url
        if self.html is not None:
            record["html"] = self.html
        elif self.text is not None:
            record["text"] = self.text
        record.update(self.passthrough)
        return record
