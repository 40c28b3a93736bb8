"""Gopher's quality signals (Rae et al. 2021) as DataTrove computes them for FineWeb.

Definitions (words are DataTrove's English words, see ``beam_curation.filters.text.word_tokens``):
- ``gopher_word_count``: words with at least one character outside ``PUNCTUATION_CHARS``;
  ``gopher_mean_word_length``: their mean length in characters (0 when there are none).
- ``gopher_hash_to_word_ratio`` / ``gopher_ellipsis_to_word_ratio``: ``#`` count, and ``...`` plus ``…``
  count, in the raw text over *all* words (symbol-only words included).
- ``gopher_bullet_lines_frac`` / ``gopher_ellipsis_lines_frac``: over ``text.splitlines()``, lines whose
  left-stripped text starts with ``•`` or ``-`` / whose right-stripped text ends with ``...`` or ``…``.
- ``gopher_alpha_words_frac``: words (all words) containing an alphabetic character, over all words.
- ``gopher_stop_word_count``: how many *distinct* words of {the, be, to, of, and, that, have, with}
  occur (case-sensitive), which is what DataTrove compares with its minimum of 2.
"""

from __future__ import annotations

from collections import Counter

from beam_curation.filters.heuristics.punctuation import PUNCTUATION_CHARS
from beam_curation.filters.text.word_tokens import split_into_words

GOPHER_STOP_WORDS: frozenset[str] = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})

SIGNAL_NAMES: tuple[str, ...] = (
    "gopher_word_count",
    "gopher_all_word_count",
    "gopher_mean_word_length",
    "gopher_hash_to_word_ratio",
    "gopher_ellipsis_to_word_ratio",
    "gopher_bullet_lines_frac",
    "gopher_ellipsis_lines_frac",
    "gopher_alpha_words_frac",
    "gopher_stop_word_count",
)


def gopher_quality_signals(
    text: str, *, words: list[str] | None = None, stop_words: frozenset[str] = GOPHER_STOP_WORDS
) -> dict[str, float]:
    """All Gopher quality signals of ``text``; ``words`` may pass pre-computed words of ``text``."""
    if words is None:
        words = split_into_words(text)
    counts = Counter(words)
    n_words = len(words)
    n_content = content_chars = n_alpha = 0
    for word, count in counts.items():
        if not PUNCTUATION_CHARS.issuperset(word):
            n_content += count
            content_chars += len(word) * count
        if word.isalpha() or any(map(str.isalpha, word)):
            n_alpha += count
    lines = text.splitlines()
    n_lines = len(lines)
    bullets = sum(1 for line in lines if line.lstrip().startswith(("\u2022", "-")))
    ellipsis_lines = sum(1 for line in lines if line.rstrip().endswith(("...", "\u2026")))
    return {
        "gopher_word_count": float(n_content),
        "gopher_all_word_count": float(n_words),
        "gopher_mean_word_length": content_chars / n_content if n_content else 0.0,
        "gopher_hash_to_word_ratio": text.count("#") / n_words if n_words else 0.0,
        "gopher_ellipsis_to_word_ratio": (text.count("...") + text.count("\u2026")) / n_words if n_words else 0.0,
        "gopher_bullet_lines_frac": bullets / n_lines if n_lines else 0.0,
        "gopher_ellipsis_lines_frac": ellipsis_lines / n_lines if n_lines else 0.0,
        "gopher_alpha_words_frac": n_alpha / n_words if n_words else 0.0,
        "gopher_stop_word_count": float(len(stop_words.intersection(counts))),
    }
