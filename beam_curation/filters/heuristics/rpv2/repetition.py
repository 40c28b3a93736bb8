"""RPv2's repetition signals over normalised words: duplicated n-grams and the top n-gram.

* ``rps_doc_frac_chars_dupe_{5..10}grams``: characters of the words covered by at least one
  word n-gram that occurs twice or more, over the characters of all words. A word inside several
  duplicated (overlapping) n-grams counts once. Spaces are not characters here. 0.0 with fewer
  than ``n`` words.
* ``rps_doc_frac_chars_top_{2,3,4}gram``: characters of the most frequent n-gram times its count,
  over the characters of all words; 0.0 when no n-gram occurs twice. Among n-grams with the
  highest count the one that occurs first wins (RPv2 takes ``Counter.most_common(1)``, which
  returns the first-inserted maximum). Overlapping occurrences all count, so the share can
  exceed 1 ("the the the": "the the" twice, 12 of 9 characters) — RPv2's definition, kept.

All nine signals share one index, built once per document: the word suffixes sorted by their
first ten words. In that order every n-gram's occurrences (n <= 10) are adjacent, and the common
prefix length of neighbours tells, for every position and every n at once, whether the n-gram
starting there is repeated and how often. One sort replaces nine n-gram counters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from beam_curation.filters.heuristics.rpv2.document import DocumentView
from beam_curation.filters.heuristics.rpv2.natural_language import PRECISION
from beam_curation.filters.heuristics.rpv2.registry import REGISTRY

__all__ = ["NgramIndex", "build_ngram_index", "frac_chars_dupe_ngrams", "frac_chars_top_ngram"]

MAX_N = 10
DUPE_NS = range(5, 11)
TOP_NS = (2, 3, 4)


@dataclass(frozen=True)
class NgramIndex:
    """Suffixes of the word sequence sorted by their first ``MAX_N`` words.

    ``order[k]`` is the start position of the k-th suffix in sorted order; ``lcp[k]`` is the
    number of leading words (capped at ``MAX_N``) shared by suffixes ``order[k]`` and
    ``order[k + 1]``; ``repeat[p]`` is the longest prefix the suffix at ``p`` shares with any
    other suffix, so the n-gram at ``p`` is duplicated iff ``repeat[p] >= n``.
    """

    order: np.ndarray
    lcp: np.ndarray
    repeat: np.ndarray


def build_ngram_index(word_ids: np.ndarray) -> NgramIndex:
    """Sort suffixes of ``word_ids`` (non-negative ints < len) by their first ``MAX_N`` ids."""
    n = len(word_ids)
    # Column k holds the (k+1)-th word of each suffix as id + 1, or 0 past the end. Two distinct
    # suffixes never both hold 0 at the first column where one of them has ended, so the 0s
    # cannot make different suffixes look equal.
    columns = np.zeros((MAX_N, n), dtype=np.int64)
    shifted = word_ids + 1
    for k in range(min(MAX_N, n)):
        columns[k, : n - k] = shifted[k:]
    # Pack several columns into one int64 sort key (values <= n take n.bit_length() bits).
    bits = max(1, n.bit_length())
    per_key = max(1, 63 // bits)
    keys = []
    for first in range(0, MAX_N, per_key):
        key = np.zeros(n, dtype=np.int64)
        for k in range(first, min(first + per_key, MAX_N)):
            key = (key << bits) | columns[k]
        keys.append(key)
    if len(keys) == 1:
        order = np.argsort(keys[0], kind="stable")
    else:
        order = np.lexsort(keys[::-1])
    # Shared prefix length of neighbours in sorted order (capped at MAX_N): the index of the
    # first column where they differ, with an always-different sentinel row at the end.
    ordered = columns[:, order]
    differs = np.ones((MAX_N + 1, max(n - 1, 0)), dtype=bool)
    np.not_equal(ordered[:, 1:], ordered[:, :-1], out=differs[:MAX_N])
    lcp = np.argmax(differs, axis=0)
    padded = np.zeros(n + 1, dtype=np.int64)
    padded[1:n] = lcp
    repeat = np.empty(n, dtype=np.int64)
    repeat[order] = np.maximum(padded[:-1], padded[1:])
    return NgramIndex(order=order, lcp=lcp, repeat=repeat)


def _index(doc: DocumentView) -> NgramIndex:
    return doc.memo("repetition.ngram_index", lambda d: build_ngram_index(d.word_ids))


def _longest_repeat(doc: DocumentView) -> int:
    """Length (capped at ``MAX_N``) of the longest word sequence that occurs twice or more."""
    if len(doc.first_positions) == len(doc.normalized_words):
        return 0  # no word repeats: skip the index
    return int(_index(doc).repeat.max())


def frac_chars_dupe_ngrams(doc: DocumentView, n: int) -> float:
    """Share of word characters inside duplicated word ``n``-grams (overlaps counted once)."""
    return doc.memo("repetition.dupe_fractions", _dupe_fractions)[n]


def _dupe_fractions(doc: DocumentView) -> dict[int, float]:
    fractions = dict.fromkeys(DUPE_NS, 0.0)
    longest = _longest_repeat(doc)
    if longest < DUPE_NS[0]:
        return fractions
    repeat = _index(doc).repeat
    num_words = len(repeat)
    positions = np.arange(num_words)
    started = np.zeros(num_words + 1, dtype=np.int64)
    for n in DUPE_NS:
        if n > longest:
            break
        # Word w is covered iff some duplicated n-gram starts in [w - n + 1, w].
        np.cumsum(repeat >= n, out=started[1:])
        covered = started[1:] > started[np.maximum(positions - n + 1, 0)]
        chars = int(doc.word_lengths[covered].sum())
        fractions[n] = round(chars / doc.total_word_chars, PRECISION)
    return fractions


def frac_chars_top_ngram(doc: DocumentView, n: int) -> float:
    """Share of word characters in the most frequent word ``n``-gram (first occurring on ties)."""
    if _longest_repeat(doc) < n:
        return 0.0  # no n-gram occurs twice
    index = _index(doc)
    group_starts = np.concatenate(([True], index.lcp < n))
    counts = np.bincount(np.cumsum(group_starts) - 1)
    top = int(counts.max())
    first_positions = np.minimum.reduceat(index.order, np.flatnonzero(group_starts))
    position = int(first_positions[counts == top].min())
    chars = int(doc.word_lengths[position : position + n].sum())
    return round(chars * top / doc.total_word_chars, PRECISION)


def _register() -> None:
    for n in DUPE_NS:
        REGISTRY.add(
            f"rps_doc_frac_chars_dupe_{n}grams",
            "doc",
            lambda doc, n=n: frac_chars_dupe_ngrams(doc, n),
        )
    for n in TOP_NS:
        REGISTRY.add(
            f"rps_doc_frac_chars_top_{n}gram",
            "doc",
            lambda doc, n=n: frac_chars_top_ngram(doc, n),
        )


_register()
