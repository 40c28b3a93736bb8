"""RPv2's line-level signals: one ``(start, end, score)`` span per line of the raw text.

Lines are the matches of ``[^\\n]*\\n|[^\\n]+$`` (empty lines kept, each with its ``\\n``), so the
spans tile the text and an empty text has no spans. Some signals read the raw line, others the
line normalised on its own, exactly as RedPajama-V2 does (``quality_signals/lines.py``):

* raw line: terminal punctuation, bullet point, uppercase fraction (its denominator is the raw
  line length *including* the ``\\n``);
* normalised line: number of words, ``javascript`` count, numerical-character fraction (its
  denominator is the normalised line's length; 0.0 for a line that normalises to nothing).

Scores are floats (RPv2 stores the word count as an int; the output contract is float64).
"""

from __future__ import annotations

from itertools import repeat

from beam_curation.filters.heuristics.rpv2.document import DocumentView
from beam_curation.filters.heuristics.rpv2.natural_language import PRECISION
from beam_curation.filters.heuristics.rpv2.registry import LineSpans, signal

__all__: list[str] = []

_TERMINAL_PUNCTUATION = (".", "!", "?", "\u201d")
_BULLETS = (
    "\u2022",  # bullet
    "\u2023",  # triangular bullet
    "\u25b6",  # black right-pointing triangle
    "\u25c0",  # black left-pointing triangle
    "\u25e6",  # white bullet
    "\u25a0",  # black square
    "\u25a1",  # white square
    "\u25aa",  # black small square
    "\u25ab",  # white small square
    "\u2013",  # en dash
)


def _spans(doc: DocumentView, scores: list[float]) -> LineSpans:
    return list(zip(doc.line_starts, doc.line_ends, scores))


@signal("rps_lines_ending_with_terminal_punctution_mark", kind="lines")
def ending_with_terminal_punctuation(doc: DocumentView) -> LineSpans:
    """1.0 if the line, right-stripped, ends with ``.``, ``!``, ``?`` or ``”``, else 0.0."""
    stripped = map(str.rstrip, doc.line_texts)
    return _spans(doc, list(map(float, map(str.endswith, stripped, repeat(_TERMINAL_PUNCTUATION)))))


@signal("rps_lines_start_with_bulletpoint", kind="lines")
def start_with_bulletpoint(doc: DocumentView) -> LineSpans:
    """1.0 if the line, left-stripped, starts with a bullet symbol or an en dash, else 0.0."""
    stripped = map(str.lstrip, doc.line_texts)
    return _spans(doc, list(map(float, map(str.startswith, stripped, repeat(_BULLETS)))))


@signal("rps_lines_uppercase_letter_fraction", kind="lines")
def uppercase_letter_fraction(doc: DocumentView) -> LineSpans:
    """Uppercase characters (``str.isupper``) over all characters of the raw line, ``\\n`` included."""
    uppers = doc.line_uppercase_counts
    return _spans(
        doc,
        [
            round(u / (end - start), PRECISION) if u else 0.0
            for u, start, end in zip(uppers, doc.line_starts, doc.line_ends)
        ],
    )


@signal("rps_lines_num_words", kind="lines")
def num_words(doc: DocumentView) -> LineSpans:
    """Number of words of the normalised line."""
    return _spans(doc, list(map(float, doc.normalized_line_word_counts)))


@signal("rps_lines_javascript_counts", kind="lines")
def javascript_counts(doc: DocumentView) -> LineSpans:
    """Words of the normalised line equal to ``javascript``."""
    if "javascript" not in doc.normalized_text:
        # Normalising the whole text and normalising line by line give the same words.
        return _spans(doc, [0.0] * doc.num_lines)
    return _spans(doc, [float(line.split().count("javascript")) for line in doc.normalized_lines])


@signal("rps_lines_numerical_chars_fraction", kind="lines")
def numerical_chars_fraction(doc: DocumentView) -> LineSpans:
    """Numeric characters (``str.isnumeric``) over characters of the normalised line."""
    numerics = doc.normalized_line_numeric_counts
    lengths = doc.normalized_line_lengths
    return _spans(
        doc, [round(k / n, PRECISION) if k else 0.0 for k, n in zip(numerics, lengths)]
    )
