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
nltk's output by construction (``tests/test_word_punct.py`` checks it against nltk itself).

Most signals need only the multiset of tokens, which :func:`word_and_punct_tokens` gets ~3x faster than
the regex: a whitespace-separated chunk made only of letters and digits is one word token, and only the
other chunks go through the regex. That shortcut relies on Python's ``str.isalnum`` / ``str.isspace``
agreeing with ``regex``'s classes on the document's characters; a document holding any character where
they disagree (:func:`fast_path_unsafe`, computed from the installed Python and ``regex`` at first use)
is tokenised by the regex alone.
"""

from __future__ import annotations

import functools
import re
from itertools import compress
from operator import not_

import numpy as np
import regex

__all__ = ["PATTERN", "fast_path_unsafe", "tokenize", "word_and_punct_tokens"]

PATTERN = r"\w+|[^\w\s]+"
# nltk's RegexpTokenizer compiles with these flags (they change nothing for this pattern; kept identical).
_FLAGS = re.UNICODE | re.MULTILINE | re.DOTALL
_WORD_PUNCT = regex.compile(PATTERN, _FLAGS)
_WORD_RUN = regex.compile(r"\w+", _FLAGS)
_PUNCT_RUN = regex.compile(r"[^\w\s]+", _FLAGS)

_CODE_POINTS = 0x110000


def tokenize(text: str) -> list[str]:
    """``nltk.tokenize.WordPunctTokenizer().tokenize(text)``: word and punctuation runs, in order."""
    return _WORD_PUNCT.findall(text)


@functools.cache
def fast_path_unsafe() -> np.ndarray:
    """Per code point: does Python's ``isalnum``/``isspace`` disagree with ``regex``'s ``\\w``/``\\s``
    in a way the chunk shortcut cannot absorb? (bool, indexed by code point; built once, ~0.3 s)

    Unsafe are characters Python calls alphanumeric that are no ``\\w`` for ``regex`` (``¼``) and
    characters that are whitespace for one and not the other (U+001C..U+001F). The converse (``\\w`` for
    ``regex`` only: combining marks) is safe: such chunks are not ``isalnum`` and go through the regex.
    """
    every = "".join(map(chr, range(0xD800))) + "".join(map(chr, range(0xE000, _CODE_POINTS)))
    alnum_not_word = _WORD_RUN.sub("", "".join(filter(str.isalnum, every)))
    python_space = "".join(filter(str.isspace, every))
    regex_space = "".join(regex.findall(r"\s", every, _FLAGS))
    space_mismatch = set(python_space).symmetric_difference(regex_space)
    unsafe = np.zeros(_CODE_POINTS, dtype=bool)
    unsafe[[ord(c) for c in set(alnum_not_word) | space_mismatch]] = True
    return unsafe


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
    if fast_path_unsafe()[cps].any():
        tokens = _WORD_PUNCT.findall(text)
        words = [t for t in tokens if _WORD_RUN.match(t)]
        return words, len(tokens) - len(words)
    chunks = text.split()
    alnum = list(map(str.isalnum, chunks))
    words = list(compress(chunks, alnum))
    rest = " ".join(compress(chunks, map(not_, alnum)))
    punct_runs = 0
    if rest:
        words.extend(_WORD_RUN.findall(rest))
        punct_runs = len(_PUNCT_RUN.findall(rest))
    return words, punct_runs
