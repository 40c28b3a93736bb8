"""nltk's WordPunctTokenizer, token for token, on every script: RedPajama-V2's "raw words".

RedPajama-V2 takes a document's raw words from nltk's ``WordPunctTokenizer``: the matches of
``\\w+|[^\\w\\s]+``. nltk 3.10.3 and later compile that pattern with the third-party ``regex`` module, not
with Python's ``re``, and the two disagree on what a word character is:

* combining marks (Arabic harakat, Devanagari, Bengali and Thai vowel signs, Hebrew points, ...) are word
  characters for ``regex`` (Unicode's word class) and separators for ``re``, so ``re`` cuts such words
  into pieces;
* "other numbers" (``¼``, ``²``, ``①``, Unicode category No) are word characters for ``re`` only;
* U+001C..U+001F are whitespace for ``re`` only;
* characters newer than Python's Unicode tables are word characters for ``regex`` only.

(nltk up to 3.10.2, which RedPajama-Data ran when RedPajama-V2 was published, used ``re``.) This module
follows current nltk: the same pattern compiled with ``regex`` and nltk's flags, so :func:`tokenize` is
nltk's output by construction (``tests/filters/text/test_word_punct.py`` checks it against nltk itself).

Most signals need only the multiset of tokens, which :func:`word_and_punct_tokens` gets ~3x faster than
the regex: a whitespace-separated chunk made only of letters and digits is one word token, and only the
other chunks go through a regex (Python's ``re`` when the document has no character on which ``re`` and
``regex`` disagree). :func:`char_classes` (computed from the installed Python and ``regex`` at first use)
says where ``str.isalnum`` / ``str.isspace`` and ``regex``'s classes disagree; a chunk holding an
alphanumeric non-word character (``m²``) goes through the regex, and a document holding U+001C..U+001F
is tokenised by the regex alone.
"""

from __future__ import annotations

import functools
import re
from itertools import compress
from operator import not_

import numpy as np
import regex

__all__ = [
    "AGREE", "ALNUM_NOT_WORD", "PATTERN", "REGEX_WORD_ONLY", "SPACE_MISMATCH", "char_classes", "tokenize",
    "word_and_punct_tokens",
]

PATTERN = r"\w+|[^\w\s]+"
# nltk's RegexpTokenizer compiles with these flags (they change nothing for this pattern; kept identical).
_FLAGS = re.UNICODE | re.MULTILINE | re.DOTALL
_WORD_PUNCT = regex.compile(PATTERN, _FLAGS)
_WORD_RUN = regex.compile(r"\w+", _FLAGS)
_PUNCT_RUN = regex.compile(r"[^\w\s]+", _FLAGS)
_RE_WORD_RUN = re.compile(r"\w+")
_RE_PUNCT_RUN = re.compile(r"[^\w\s]+")

_CODE_POINTS = 0x110000
_MARK = "\ud800"


def tokenize(text: str) -> list[str]:
    """``nltk.tokenize.WordPunctTokenizer().tokenize(text)``: word and punctuation runs, in order."""
    return _WORD_PUNCT.findall(text)


AGREE, REGEX_WORD_ONLY, ALNUM_NOT_WORD, SPACE_MISMATCH = 0, 1, 2, 3
"""Per-character classes of :func:`char_classes`, in order of the care they need."""


@functools.cache
def char_classes() -> np.ndarray:
    """Per code point (uint8, indexed by code point; built once, ~0.3 s): how Python's ``re`` and
    ``str`` classes relate to ``regex``'s ``\\w`` and ``\\s`` on that character.

    * ``AGREE``: ``re`` and ``regex`` agree on it (all of ASCII but U+001C..U+001F, all letters and
      decimal digits Python knows);
    * ``REGEX_WORD_ONLY``: a word character for ``regex`` only, such as a combining mark (a chunk holding
      one is not ``isalnum``, so it goes through ``regex``);
    * ``ALNUM_NOT_WORD``: Python calls it alphanumeric and ``regex`` does not (``²``, ``¼``): chunks holding
      one go through ``regex`` too;
    * ``SPACE_MISMATCH``: whitespace for one of them only (U+001C..U+001F): only the whole-text regex is
      exact.
    """
    every = "".join(map(chr, range(0xD800))) + "".join(map(chr, range(0xE000, _CODE_POINTS)))
    cps = np.concatenate([np.arange(0xD800), np.arange(0xE000, _CODE_POINTS)])

    def matches(pattern: re.Pattern | regex.Pattern) -> np.ndarray:
        # Each matching character becomes a lone surrogate (not in ``every``): flags in one C-level pass.
        marked = pattern.sub(_MARK, every).encode("utf-32-le", "surrogatepass")
        return np.frombuffer(marked, dtype="<u4") == ord(_MARK)

    regex_word, regex_space = matches(regex.compile(r"\w", _FLAGS)), matches(regex.compile(r"\s", _FLAGS))
    python_word, python_space = matches(re.compile(r"\w")), matches(re.compile(r"\s"))
    python_alnum = python_word & (cps != ord("_"))  # re's \w is str.isalnum() or "_", its \s str.isspace()
    classes = np.zeros(_CODE_POINTS, dtype=np.uint8)
    classes[cps[python_word != regex_word]] = REGEX_WORD_ONLY
    classes[cps[python_alnum & ~regex_word]] = ALNUM_NOT_WORD
    classes[cps[python_space != regex_space]] = SPACE_MISMATCH
    return classes


def _codepoints(text: str) -> np.ndarray:
    if text.isascii():
        return np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def word_and_punct_tokens(text: str, codepoints: np.ndarray | None = None) -> tuple[list[str], int]:
    """The word tokens (``\\w+`` matches, in no particular order) and the number of punctuation tokens
    of :func:`tokenize`'s output.

    ``codepoints`` may carry the text's code points (uint8 for ASCII text, else uint32) when the caller
    already has them.
    """
    cps = _codepoints(text) if codepoints is None else codepoints
    kinds = np.take(char_classes(), cps)
    kind = int(kinds.max()) if len(cps) else AGREE
    if kind == SPACE_MISMATCH:
        tokens = _WORD_PUNCT.findall(text)
        words = [t for t in tokens if _WORD_RUN.match(t)]
        return words, len(tokens) - len(words)
    chunks = text.split()
    if kind == ALNUM_NOT_WORD:
        not_word = frozenset(map(chr, np.unique(cps[kinds == ALNUM_NOT_WORD]).tolist()))
        alnum = [chunk.isalnum() and not_word.isdisjoint(chunk) for chunk in chunks]
    else:
        alnum = list(map(str.isalnum, chunks))
    words = list(compress(chunks, alnum))
    rest = " ".join(compress(chunks, map(not_, alnum)))
    # Where every character is AGREE, Python's re gives regex's matches, ~1.4x faster.
    word_run, punct_run = (_RE_WORD_RUN, _RE_PUNCT_RUN) if kind == AGREE else (_WORD_RUN, _PUNCT_RUN)
    punct_runs = 0
    if rest:
        words.extend(word_run.findall(rest))
        punct_runs = len(punct_run.findall(rest))
    return words, punct_runs
