"""One document as RedPajama-V2 reads it: every view of the text computed once, on first use.

RedPajama-V2 (RPv2) signals look at a document through a handful of views — the raw text, a
normalised text and its words, the raw "word-punct" tokens and the lines with their character
offsets. A :class:`DocumentView` computes each view lazily and keeps it, so thirty signals share
one tokenisation. Derived structures that only one signal family needs (e.g. the n-gram index of
``repetition.py``) are memoised on the view with :meth:`DocumentView.memo`.

How RPv2 reads text (reproduced here, see the module functions):

* normalised text: delete ASCII ``string.punctuation``, lowercase, strip, collapse runs of
  whitespace to one space, Unicode NFD — in this order;
* normalised words: the normalised text split on whitespace;
* raw words: nltk's WordPunctTokenizer on the raw text (``\\w+|[^\\w\\s]+`` compiled with the
  ``regex`` module, as nltk does: see :mod:`beam_curation.filters.text.word_punct`);
* lines: the matches of ``[^\\n]*\\n|[^\\n]+$``; empty lines are kept, each keeps its ``\\n``, and
  the spans tile the text exactly.
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Callable
from functools import cache, cached_property
from itertools import count
from typing import Any, TypeVar

import numpy as np

from beam_curation.filters.text import word_punct

__all__ = ["DocumentView", "char_flags", "char_values", "codepoints", "normalize"]

_T = TypeVar("_T")

# ASCII punctuation is deleted from the UTF-8 bytes: those bytes never occur inside the encoding
# of another character, and bytes.translate is ~10x faster than str.translate or re.sub.
_ASCII_PUNCTUATION_BYTES = string.punctuation.encode("ascii")


def normalize(text: str) -> str:
    """RPv2's normalisation: drop ASCII punctuation, lowercase, collapse whitespace, NFD.

    ``" ".join(s.split())`` equals RPv2's ``re.sub(r"\\s+", " ", s.strip())``: Python's regex
    ``\\s`` and ``str.split()`` agree on every code point. NFD is skipped where it is the identity
    (ASCII text, or text that is already NFD).
    """
    return _collapse_and_decompose(_delete_ascii_punctuation(text).lower())


def _delete_ascii_punctuation(text: str) -> str:
    data = text.encode("utf-8", "surrogatepass").translate(None, _ASCII_PUNCTUATION_BYTES)
    return data.decode("utf-8", "surrogatepass")


def _collapse_and_decompose(text: str) -> str:
    """The last steps of :func:`normalize`: strip, collapse whitespace, NFD."""
    text = " ".join(text.split())
    if not text.isascii() and not unicodedata.is_normalized("NFD", text):
        text = unicodedata.normalize("NFD", text)
    return text


_BMP = 0x10000


def _nfd_length(char: str) -> int:
    return len(unicodedata.normalize("NFD", char))


@cache
def _bmp_table(fn: Callable[[str], Any], dtype: type) -> np.ndarray:
    """``fn(chr(cp))`` for every Basic-Multilingual-Plane code point, built once (~15-60 ms)."""
    return np.fromiter(map(fn, map(chr, range(_BMP))), dtype=dtype, count=_BMP)


def codepoints(text: str) -> np.ndarray:
    """The code points of ``text`` (uint8 for ASCII text, else uint32; lone surrogates kept)."""
    if text.isascii():
        return np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def char_values(cps: np.ndarray, fn: Callable[[str], Any], dtype: type = bool) -> np.ndarray:
    """``fn(c)`` for each code point of ``cps``, vectorised by a lookup table.

    ``fn`` is a per-character function such as ``str.isupper``; characters outside the BMP
    (emoji, rare scripts) are computed once per distinct code point.
    """
    table = _bmp_table(fn, dtype)
    if cps.dtype == np.uint8:
        return np.take(table, cps)
    outside = cps >= _BMP
    if not outside.any():
        return np.take(table, cps)
    values = np.zeros(len(cps), dtype=dtype)
    inside = ~outside
    values[inside] = np.take(table, cps[inside])
    distinct, where = np.unique(cps[outside], return_inverse=True)
    computed = np.fromiter((fn(chr(cp)) for cp in distinct.tolist()), dtype=dtype, count=len(distinct))
    values[outside] = computed[where]
    return values


def char_flags(text: str, predicate: Callable[[str], bool]) -> np.ndarray:
    """``predicate(c)`` for each character ``c`` of ``text`` (e.g. ``str.isupper``)."""
    return char_values(codepoints(text), predicate)


def _span_totals(values: np.ndarray, starts: Any, ends: Any) -> np.ndarray:
    """Sum of ``values`` over each ``[start, end)``."""
    running = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(values, out=running[1:])
    return running[ends] - running[starts]


class DocumentView:
    """Lazily computed, shared views of one document's text (see the module docstring).

    ``language`` is the document's language code (e.g. ``"en"``); language-specific signals
    (stop words, LDNOOBW) use it. Views are plain attributes after their first use; do not
    mutate them.
    """

    def __init__(self, text: str, language: str = "") -> None:
        self.text = text
        self.language = language
        self._memo: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self.text)

    def memo(self, key: str, build: Callable[[DocumentView], _T]) -> _T:
        """Return ``build(self)``, computed once per view and key (for signal families)."""
        try:
            return self._memo[key]
        except KeyError:
            value = self._memo[key] = build(self)
            return value

    # --- normalised text -------------------------------------------------------------------

    @cached_property
    def _unpunctuated_lower(self) -> str:
        # The first two steps of normalize(), shared by the text and its lines: both act
        # character by character and never touch "\n", so they commute with line splitting.
        return _delete_ascii_punctuation(self.text).lower()

    @cached_property
    def _normalized(self) -> tuple[str, list[str]]:
        lowered = self._unpunctuated_lower
        words = lowered.split()
        text = " ".join(words)
        if not text.isascii() and not unicodedata.is_normalized("NFD", text):
            text = unicodedata.normalize("NFD", text)
            words = text.split()
        return text, words

    @property
    def normalized_text(self) -> str:
        """``normalize(text)``."""
        return self._normalized[0]

    @property
    def normalized_words(self) -> list[str]:
        """The normalised text split on whitespace."""
        return self._normalized[1]

    @cached_property
    def word_lengths(self) -> np.ndarray:
        """``len`` of each normalised word (int64)."""
        words = self.normalized_words
        return np.fromiter(map(len, words), dtype=np.int64, count=len(words))

    @cached_property
    def total_word_chars(self) -> int:
        return int(self.word_lengths.sum())

    @cached_property
    def _first_seen(self) -> tuple[dict[str, int], np.ndarray]:
        first_seen: dict[str, int] = {}
        words = self.normalized_words
        ids = np.fromiter(map(first_seen.setdefault, words, count()), dtype=np.int64, count=len(words))
        return first_seen, ids

    @property
    def word_ids(self) -> np.ndarray:
        """Each normalised word's id: the position of that word's first occurrence (int64)."""
        return self._first_seen[1]

    @property
    def first_positions(self) -> dict[str, int]:
        """Distinct normalised word -> its id (first position), in order of first occurrence.

        Shared, do not mutate.
        """
        return self._first_seen[0]

    @cached_property
    def id_counts(self) -> np.ndarray:
        """Occurrences of each word, indexed by id (0 at positions that are not an id)."""
        return np.bincount(self.word_ids, minlength=len(self.normalized_words))

    @cached_property
    def word_counts(self) -> np.ndarray:
        """Occurrences of each distinct normalised word, in order of first occurrence."""
        counts = self.id_counts
        return counts[counts > 0]

    # --- raw word-punct tokens ---------------------------------------------------------------

    @cached_property
    def codepoints(self) -> np.ndarray:
        """``codepoints(text)``: uint8 for ASCII text, else uint32."""
        return codepoints(self.text)

    @cached_property
    def raw_words(self) -> list[str]:
        """The WordPunct tokens of the raw text, in order (not used by the built-in signals)."""
        return word_punct.tokenize(self.text)

    @cached_property
    def _raw_token_split(self) -> tuple[list[str], int]:
        return word_punct.word_and_punct_tokens(self.text, self.codepoints)

    @property
    def raw_word_tokens(self) -> list[str]:
        """The ``\\w+`` tokens among the raw words, in no particular order."""
        return self._raw_token_split[0]

    @property
    def raw_punct_token_count(self) -> int:
        """Number of ``[^\\w\\s]+`` tokens among the raw words."""
        return self._raw_token_split[1]

    @property
    def num_raw_words(self) -> int:
        return len(self._raw_token_split[0]) + self._raw_token_split[1]

    # --- lines -------------------------------------------------------------------------------

    @cached_property
    def _line_pieces(self) -> list[str]:
        # The lines without their "\n": splitting on "\n" gives the regex's lines, except for
        # the empty piece after a final "\n", which is no line.
        pieces = self.text.split("\n")
        if not pieces[-1]:
            pieces.pop()
        return pieces

    @cached_property
    def _line_bounds(self) -> tuple[list[int], list[int]]:
        lengths = np.fromiter(map(len, self._line_pieces), dtype=np.int64, count=len(self._line_pieces))
        ends = np.cumsum(lengths + 1)
        if len(ends) and ends[-1] > len(self.text):  # the last line has no "\n"
            ends[-1] = len(self.text)
        starts = np.zeros(len(ends), dtype=np.int64)
        starts[1:] = ends[:-1]
        return starts.tolist(), ends.tolist()

    @property
    def line_starts(self) -> list[int]:
        """Start offset of each line."""
        return self._line_bounds[0]

    @property
    def line_ends(self) -> list[int]:
        """End offset of each line (after its ``\\n``, if it has one)."""
        return self._line_bounds[1]

    @property
    def line_spans(self) -> list[tuple[int, int]]:
        """``(start, end)`` character offsets of the lines (the matches of ``[^\\n]*\\n|[^\\n]+$``).

        Together they tile ``text``; the empty text has no line.
        """
        return list(zip(*self._line_bounds))

    @property
    def num_lines(self) -> int:
        return len(self._line_pieces)

    @property
    def line_texts(self) -> list[str]:
        """Raw line texts without their trailing ``\\n`` (same ``strip()`` as the lines)."""
        return self._line_pieces

    @cached_property
    def lines(self) -> list[str]:
        """Raw line texts, each with its trailing ``\\n`` if it has one."""
        text = self.text
        return [text[a:b] for a, b in zip(*self._line_bounds)]

    @cached_property
    def normalized_lines(self) -> list[str]:
        """``normalize(line)`` for each line (RPv2 normalises lines one by one).

        The line signals do not need these strings (see :attr:`_normalized_line_stats`).
        """
        pieces = self._unpunctuated_lower.split("\n")[: self.num_lines]
        return list(map(_collapse_and_decompose, pieces))

    @cached_property
    def _normalized_line_stats(self) -> tuple[list[int], list[int], list[int]]:
        # Per line of the normalised text: words, characters and numeric characters, computed
        # on the punctuation-free lowercased text without building the line strings. Collapsing
        # whitespace and NFD keep every word and every numeric character (checked for all code
        # points), and NFD's length is the sum of its per-character decomposition lengths.
        lowered = self._unpunctuated_lower
        cps = codepoints(lowered)
        space = char_values(cps, str.isspace)
        word_start = ~space
        word_start[1:] &= space[:-1]
        newlines = np.flatnonzero(cps == 10)
        starts = np.concatenate(([0], newlines + 1))[: self.num_lines]
        ends = np.concatenate((newlines, [len(cps)]))[: self.num_lines]
        words = _span_totals(word_start, starts, ends)
        if cps.dtype == np.uint8:
            chars = np.where(space, 0, 1)
        else:
            chars = np.where(space, 0, char_values(cps, _nfd_length, np.int64))
        lengths = _span_totals(chars, starts, ends) + np.maximum(words - 1, 0)
        numerics = _span_totals(char_values(cps, str.isnumeric), starts, ends)
        return words.tolist(), lengths.tolist(), numerics.tolist()

    @property
    def normalized_line_word_counts(self) -> list[int]:
        """Number of words of each normalised line."""
        return self._normalized_line_stats[0]

    @property
    def normalized_line_lengths(self) -> list[int]:
        """Characters of each normalised line."""
        return self._normalized_line_stats[1]

    @property
    def normalized_line_numeric_counts(self) -> list[int]:
        """Characters with ``str.isnumeric()`` in each normalised line."""
        return self._normalized_line_stats[2]

    @cached_property
    def line_uppercase_counts(self) -> list[int]:
        """Characters with ``str.isupper()`` in each raw line."""
        starts, ends = self._line_bounds
        return _span_totals(char_values(self.codepoints, str.isupper), starts, ends).tolist()
