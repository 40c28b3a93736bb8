"""Gopher's repetition signals (Rae et al. 2021, table A1) as DataTrove computes them for FineWeb.

Definitions (all fractions of ``len(text)``, the raw character count, unless said otherwise):
- paragraphs: ``text.strip()`` split on runs of two or more ``\\n``; lines: ``text`` split on runs of ``\\n``
  (so a leading/trailing newline yields an empty line). An item is a duplicate when an equal item came
  before it; ``*_frac`` counts duplicates over all items, ``*_char_frac`` sums their lengths.
- top n-gram (n = 2, 3, 4): n-grams of words joined by one space; the most frequent one (the earliest
  among ties) times its count, in characters.
- duplicated n-gram (n = 5..10): scanning positions left to right, an n-gram whose words, concatenated
  *without* separator, were seen before adds its length and the scan jumps n words; otherwise it is
  remembered and the scan moves one word.
Words are DataTrove's English words (see ``beam_curation.filters.text.word_tokens``).
"""

from __future__ import annotations

import re

import numpy as np

from beam_curation.filters.text.word_tokens import split_into_words

_PARAGRAPH_SPLIT = re.compile(r"\n{2,}")
_LINE_SPLIT = re.compile(r"\n+")
TOP_NGRAM_SIZES = (2, 3, 4)
DUP_NGRAM_SIZES = (5, 6, 7, 8, 9, 10)

_HASH_BASE = np.uint64(0x9E3779B97F4A7C15 | 1)
_HASH_BASE_INV = np.uint64(pow(int(_HASH_BASE), -1, 2**64))
_LENGTH_MIX = np.uint64(0xC2B2AE3D27D4EB4F)


def duplicates(items: list[str]) -> tuple[int, int]:
    """(number of items equal to an earlier one, total characters of those items)."""
    unique = set(items)
    dup_items = len(items) - len(unique)
    if not dup_items:
        return 0, 0
    return dup_items, sum(map(len, items)) - sum(map(len, unique))


def gopher_repetition_signals(text: str, *, words: list[str] | None = None) -> dict[str, float]:
    """All Gopher repetition signals of ``text``; ``words`` may pass pre-computed words of ``text``."""
    n_chars = len(text)
    signals = {name: 0.0 for name in SIGNAL_NAMES}
    if not n_chars:
        return signals
    paragraphs = _PARAGRAPH_SPLIT.split(text.strip())
    dup, dup_chars = duplicates(paragraphs)
    signals["gopher_dup_para_frac"] = dup / len(paragraphs)
    signals["gopher_dup_para_char_frac"] = dup_chars / n_chars
    lines = _LINE_SPLIT.split(text)
    dup, dup_chars = duplicates(lines)
    signals["gopher_dup_line_frac"] = dup / len(lines)
    signals["gopher_dup_line_char_frac"] = dup_chars / n_chars

    if words is None:
        words = split_into_words(text)
    if len(words) < 2:
        return signals
    first: dict[str, int] = {}  # a word's id: where it first occurs (one C-level pass)
    ids = np.fromiter(map(first.setdefault, words, range(len(words))), dtype=np.int64, count=len(words))
    bound = len(words)
    if bound ** TOP_NGRAM_SIZES[-1] >= 2**62:  # a long document: dense ids keep the n-gram keys in 64 bits
        ids = np.unique(ids, return_inverse=True)[1].astype(np.int64)
        bound = len(first)
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    for n in TOP_NGRAM_SIZES:
        if len(words) >= n:
            signals[f"gopher_top_{n}gram_char_frac"] = _top_ngram_chars(ids, lengths, bound, n) / n_chars
    if len(words) >= DUP_NGRAM_SIZES[0]:
        concatenated = "".join(words)
        offsets = np.zeros(len(words) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        prefix_hash, inverse_powers = _prefix_hashes(concatenated)
        for n in DUP_NGRAM_SIZES:
            if len(words) >= n:
                chars = _duplicated_ngram_chars(concatenated, offsets, prefix_hash, inverse_powers, n)
                signals[f"gopher_dup_{n}gram_char_frac"] = chars / n_chars
    return signals


SIGNAL_NAMES: tuple[str, ...] = (
    "gopher_dup_para_frac",
    "gopher_dup_para_char_frac",
    "gopher_dup_line_frac",
    "gopher_dup_line_char_frac",
    *(f"gopher_top_{n}gram_char_frac" for n in TOP_NGRAM_SIZES),
    *(f"gopher_dup_{n}gram_char_frac" for n in DUP_NGRAM_SIZES),
)


def _top_ngram_chars(ids: np.ndarray, lengths: np.ndarray, bound: int, n: int) -> int:
    """Characters covered by the most frequent space-joined n-gram (earliest among ties) times its count; the
    word ids lie in [0, bound)."""
    count = len(ids) - n + 1
    if bound ** n < 2**62:
        keys = ids[:count].copy()
        for k in range(1, n):
            keys = keys * bound + ids[k : k + count]
        top, start = _most_frequent(keys)
    else:
        rows = np.stack([ids[k : k + count] for k in range(n)], axis=1)
        _, first, counts = np.unique(rows, axis=0, return_index=True, return_counts=True)
        top = counts.max()
        start = int(first[counts == top].min())
    return (int(lengths[start : start + n].sum()) + n - 1) * int(top)


def _most_frequent(keys: np.ndarray) -> tuple[int, int]:
    """(count of the most frequent key, first position of a key with that count): `np.unique` with counts and
    first indices would sort stably; a plain sort gives the counts, and the first position is looked up."""
    ordered = np.sort(keys)
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    counts = np.diff(np.append(starts, len(ordered)))
    top = int(counts.max())
    if top == 1:  # every key is unique: the first n-gram
        return 1, 0
    winners = ordered[starts[counts == top]]  # sorted
    if len(winners) == 1:
        return top, int(np.argmax(keys == winners[0]))
    return top, int(np.argmax(_members(keys, winners)))


def _members(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Mask of `keys` found in `values` (sorted, non-empty)."""
    at = np.searchsorted(values, keys)
    np.minimum(at, len(values) - 1, out=at)
    return values[at] == keys


def _repeated(keys: np.ndarray) -> np.ndarray:
    """Positions (ascending) of the keys that occur more than once."""
    ordered = np.sort(keys)
    same = ordered[1:] == ordered[:-1]
    if not same.any():
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(_members(keys, ordered[1:][same]))


def _prefix_hashes(s: str) -> tuple[np.ndarray, np.ndarray]:
    """Polynomial prefix hashes (mod 2**64) of ``s`` and the inverse powers that normalise a substring's hash."""
    codes = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    powers = np.full(len(codes), _HASH_BASE, dtype=np.uint64)
    powers[0] = 1
    np.cumprod(powers, out=powers)
    inverse = np.full(len(codes) + 1, _HASH_BASE_INV, dtype=np.uint64)
    inverse[0] = 1
    np.cumprod(inverse, out=inverse)
    prefix = np.zeros(len(codes) + 1, dtype=np.uint64)
    np.cumsum(codes * powers, out=prefix[1:])
    return prefix, inverse


def _duplicated_ngram_chars(
    concatenated: str, offsets: np.ndarray, prefix: np.ndarray, inverse: np.ndarray, n: int
) -> int:
    """Gopher's duplicated n-gram characters (greedy left-to-right scan, separator-free n-gram keys).

    Hashes only pick the candidate positions (n-grams whose hash occurs twice or more); the scan
    itself compares the real strings, so a hash collision cannot change the result.
    """
    starts = offsets[: len(offsets) - n]
    ends = offsets[n:]
    keys = (prefix[ends] - prefix[starts]) * inverse[starts] + (ends - starts).astype(np.uint64) * _LENGTH_MIX
    candidates = _repeated(keys)
    if not len(candidates):
        return 0
    seen: set[str] = set()
    repeated = 0
    next_allowed = 0
    for pos, a, b in zip(candidates.tolist(), starts[candidates].tolist(), ends[candidates].tolist()):
        if pos < next_allowed:
            continue
        key = concatenated[a:b]
        if key in seen:
            repeated += b - a
            next_allowed = pos + n
        else:
            seen.add(key)
            next_allowed = pos + 1
    return repeated
