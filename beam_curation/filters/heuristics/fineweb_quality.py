"""FineWeb's own quality signals (Penedo et al. 2024), computed as DataTrove's ``FineWebQualityFilter`` does.

FineWeb applies them to the text left after C4's line filter. Lines are ``text.split("\\n")`` without
the blank ones (only whitespace):
- ``fineweb_line_punct_ratio``: lines whose last character is a sentence-final mark (``TERMINAL_PUNCTUATION``:
  ``. ! ?`` and their counterparts in other scripts; quotes do not count);
- ``fineweb_short_line_frac``: lines of at most 30 characters;
- ``fineweb_dup_line_char_frac``: characters of lines equal to an earlier line, over the characters of the
  text without its ``\\n``;
- ``fineweb_newline_to_word_ratio``: ``\\n`` count over the number of words (DataTrove's English words).
``fineweb_line_count`` (non-blank lines) is 0 for a blank text, which DataTrove drops as ``empty``.
"""

from __future__ import annotations

from beam_curation.filters.heuristics.gopher_repetition import duplicates
from beam_curation.filters.heuristics.punctuation import TERMINAL_PUNCTUATION_TUPLE
from beam_curation.filters.text.word_tokens import split_into_words

SHORT_LINE_LENGTH = 30

SIGNAL_NAMES: tuple[str, ...] = (
    "fineweb_line_count",
    "fineweb_line_punct_ratio",
    "fineweb_short_line_frac",
    "fineweb_dup_line_char_frac",
    "fineweb_newline_to_word_ratio",
)


def fineweb_quality_signals(
    text: str, *, word_count: int | None = None, short_line_length: int = SHORT_LINE_LENGTH
) -> dict[str, float]:
    """FineWeb signals of ``text`` (the C4-filtered text); ``word_count`` may pass its known word count."""
    lines = [line for line in text.split("\n") if line.strip()]
    n_lines = len(lines)
    if not n_lines:
        return dict.fromkeys(SIGNAL_NAMES, 0.0)
    punct = sum(1 for line in lines if line.endswith(TERMINAL_PUNCTUATION_TUPLE))
    short = sum(1 for line in lines if len(line) <= short_line_length)
    dup_chars = duplicates(lines)[1]
    if word_count is None:
        word_count = len(split_into_words(text))
    newlines = text.count("\n")
    return {
        "fineweb_line_count": float(n_lines),
        "fineweb_line_punct_ratio": punct / n_lines,
        "fineweb_short_line_frac": short / n_lines,
        "fineweb_dup_line_char_frac": dup_chars / (len(text) - newlines),
        "fineweb_newline_to_word_ratio": newlines / word_count if word_count else 0.0,
    }
