"""Paragraph (line) dedup on one document: split, normalise, hash, and cut repeated paragraphs (no Beam here).

A paragraph is a line of `text` split on "\\n", as RedPajama-V2's line spans, CCNet's line hashes and Dolma's
paragraph dedup define it (Dolma splits on "\\n" too). Normalisation follows CCNet's `normalize_for_dedup`
(strip, lower-case, every digit to "0", punctuation and non-printing characters removed) and goes a little
further so that copies differing in layout only meet: every Unicode punctuation character (category P*, not
only CCNet's list of CJK and typographic marks) and every control, format or surrogate character (Cc, Cf, Cs)
is dropped, digits are Unicode decimal digits (Nd), and runs of whitespace become one space. A
paragraph whose normalised form has fewer than `min_chars` characters takes no part (CCNet: only empty lines).
The hash is the first 8 bytes of BLAKE2b over the normalised UTF-8 (a collision between two distinct
paragraphs of a run of 10^9 paragraphs has probability ~ n^2 / 2^65 ~ 3%, and costs one wrongly marked line).

Which occurrence of a paragraph is its first is decided across the run by the pipeline
(beam_curation.pipeline.graph.paragraphs); here are the per-document and per-paragraph parts.
"""

from __future__ import annotations

import functools
import hashlib
import sys
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Iterator, Literal, NamedTuple, Optional

from beam_curation.settings import decided_later

HASH_BYTES = 8
REASON_PARAGRAPHS = "dedup_paragraphs"
SPANS_COLUMN = "dup_paragraph_spans"  # signals/: the repeats, as rps_lines_* spans over `text`


@dataclass(frozen=True)
class ParagraphDedupConfig:
    """`dedup.paragraphs`: exact dedup of normalised paragraphs (lines) across the run.

    Every setting is decided later: the hashes are computed in the decision step from the stored text (the text
    documents/ gets, after extraction and PII redaction), so switching paragraph dedup on, or changing its
    settings, reuses a run's annotations."""

    enabled: bool = decided_later(False)
    # paragraphs whose normalised form is shorter are ignored (never marked, never a first occurrence)
    min_chars: int = decided_later(1)
    # annotate: spans only (signals/ dup_paragraph_spans); remove: the repeats are also cut from documents/ text
    mode: Literal["annotate", "remove"] = decided_later("annotate")
    # remove mode: a document left with fewer characters (surrounding whitespace stripped) goes to removed/
    min_doc_chars: int = decided_later(1)

    def __post_init__(self) -> None:
        if self.mode not in ("annotate", "remove"):
            raise ValueError(f"dedup.paragraphs.mode must be 'annotate' or 'remove', got {self.mode!r}")
        if self.min_chars < 1:
            raise ValueError(f"dedup.paragraphs.min_chars must be >= 1, got {self.min_chars}")
        if self.min_doc_chars < 0:
            raise ValueError(f"dedup.paragraphs.min_doc_chars must be >= 0, got {self.min_doc_chars}")


class Paragraph(NamedTuple):
    """One paragraph of a document: its hash and its [start, end) character offsets in the text (no "\\n")."""

    hash: bytes
    start: int
    end: int


@functools.lru_cache(maxsize=1)
def _fold_table() -> dict[int, Optional[str]]:
    """str.translate table: decimal digits (Unicode Nd) to "0"; punctuation (P*), control, format and surrogate
    characters (Cc, Cf, Cs) deleted, whitespace kept. Built once per process (~0.3 s)."""
    table: dict[int, Optional[str]] = {}
    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        category = unicodedata.category(ch)
        if category == "Nd":
            table[code] = "0"
        elif (category[0] == "P" or category in ("Cc", "Cf", "Cs")) and not ch.isspace():
            table[code] = None
    return table


def normalize_paragraph(line: str) -> str:
    """The form two paragraphs must share to be copies (see the module docstring)."""
    return " ".join(line.lower().translate(_fold_table()).split())


def paragraph_hash(normalized: str) -> bytes:
    return hashlib.blake2b(normalized.encode("utf-8", "surrogatepass"), digest_size=HASH_BYTES).digest()


def line_spans(text: str) -> Iterator[tuple[int, int]]:
    """[start, end) of every line of `text` split on "\\n" (the "\\n" itself in none)."""
    start = 0
    while True:
        end = text.find("\n", start)
        if end < 0:
            yield start, len(text)
            return
        yield start, end
        start = end + 1


def paragraphs(text: str, min_chars: int = 1) -> list[Paragraph]:
    """The document's paragraphs that take part: normalised form of at least `min_chars` characters."""
    out = []
    for start, end in line_spans(text):
        normalized = normalize_paragraph(text[start:end])
        if len(normalized) >= min_chars:
            out.append(Paragraph(paragraph_hash(normalized), start, end))
    return out


def repeats(occurrences: Iterable[Optional[tuple]]) -> Iterator[tuple]:
    """The occurrences of one paragraph that are not its first: every one but the smallest (the order key is the
    tuple itself, its last members being the place in the document); every one when a None is among them (an
    earlier run holds the paragraph). `occurrences` is read twice (minimum, then the rest), never stored: a
    paragraph in millions of documents costs time, not memory."""
    first, earlier = None, False
    for occurrence in occurrences:
        if occurrence is None:
            earlier = True
        elif first is None or occurrence < first:
            first = occurrence
    for occurrence in occurrences:
        if occurrence is not None and (earlier or occurrence != first):
            yield occurrence


def cut(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """`text` without the lines that `spans` cover (each span a whole line), each with its line break: the
    other lines are joined by "\\n" as they were."""
    starts = {start for start, _end in spans}
    if not starts:
        return text
    return "\n".join(text[s:e] for s, e in line_spans(text) if s not in starts)


def too_short(text: str, min_doc_chars: int) -> bool:
    """Left with too little after the cut: fewer than `min_doc_chars` characters, or only whitespace."""
    stripped = text.strip()
    return not stripped or len(stripped) < min_doc_chars


def span_records(spans: Iterable[tuple[int, int]], score: float = 1.0) -> list[dict[str, object]]:
    """Spans as the `dup_paragraph_spans` column holds them (the rps_lines_* struct), in text order."""
    return [{"start": s, "end": e, "score": score} for s, e in sorted(spans)]


def remove_spans(text: str, spans: Iterable[tuple[int, int]], config: ParagraphDedupConfig
                 ) -> tuple[str, Optional[str]]:
    """(text with the repeats cut, REASON_PARAGRAPHS when what is left is too short, else None)."""
    left = cut(text, spans)
    return left, (REASON_PARAGRAPHS if too_short(left, config.min_doc_chars) else None)
