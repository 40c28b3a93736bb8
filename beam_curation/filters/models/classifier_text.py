"""Text normalisation shared by fastText classifier training and scoring.

A fastText model only works on text prepared the way its training text was, so training
(`scripts/train_fasttext.py`) and scoring (`beam_curation/filters/models/classifier.py`) both call
`normalize(text, name)` with the name recorded in the model card.  fastText reads one example
per line, so every normalisation removes line breaks.

Named normalisations:

- ``none``: only what fastText requires: each ``\\n`` becomes a space.  Case, punctuation and
  other whitespace are left as they are.
- ``fasttext_basic``: lowercase, every whitespace run (newlines included) collapsed to one
  space, stripped.
- ``dclm``: what DCLM's fastText quality scorer feeds its model: the stripped text's lines
  (Python ``str.splitlines`` boundaries) joined with one space; case kept.
- ``dolma_jigsaw``: what Dolma's Jigsaw fastText taggers feed theirs: ``\\n`` -> space, then
  stripped; case kept.
- ``lower_punct_eol``: ``fasttext_basic`` plus punctuation split off words (``end.`` -> ``end .``)
  and every line end marked by a ``__eol__`` token, so the model sees how lines finish
  (sentence punctuation vs bare menu items) even though fastText cannot see newlines.
- ``lower_punct_lines``: lowercase, punctuation split off, digits mapped to ``0``, and after every
  line two layout tokens: how it ends (``__eol_punct__`` after sentence punctuation or a closing
  quote, ``__eol_bare__`` otherwise) and its length in words (``__line_w0__`` .. ``__line_w4__``
  for <3, <8, <20, <50, more).  A bag-of-words model then weighs the share of prose lines against
  menu, list and table lines directly.  The default quality model uses it.
"""

from __future__ import annotations

import re
from typing import Callable

__all__ = ["NORMALIZATIONS", "normalize", "normalizer", "EOL_TOKEN"]

EOL_TOKEN = "__eol__"

_WHITESPACE = re.compile(r"\s+")
# One non-space, non-word character: split off as its own token.
_PUNCT = re.compile(r"[^\w\s]")
_EOL_SEP = f" {EOL_TOKEN} "
_DIGIT = re.compile(r"\d")
_SENTENCE_END = frozenset('.!?"\'\u201d\u2019)\u2026:')
_LINE_WORD_BUCKETS = (3, 8, 20, 50)  # __line_w{i}__: fewer words than the i-th bound


def _none(text: str) -> str:
    return text.replace("\n", " ")


def _fasttext_basic(text: str) -> str:
    return _WHITESPACE.sub(" ", text.lower()).strip()


def _dclm(text: str) -> str:
    return " ".join(text.strip().splitlines())


def _dolma_jigsaw(text: str) -> str:
    return text.replace("\n", " ").strip()


def _lower_punct_eol(text: str) -> str:
    # str.splitlines breaks at \n, \r, \r\n, \v, \f, \x1c-\x1e, \x85, \u2028, \u2029
    lines = [line for line in text.lower().splitlines() if line and not line.isspace()]
    if not lines:
        return ""
    text = _PUNCT.sub(r" \g<0> ", _EOL_SEP.join(lines) + _EOL_SEP)
    return " ".join(text.split())


def _lower_punct_lines(text: str) -> str:
    parts = []
    for line in _DIGIT.sub("0", text.lower()).splitlines():
        line = line.strip()
        if not line:
            continue
        n_words = len(line.split())
        bucket = next((i for i, bound in enumerate(_LINE_WORD_BUCKETS) if n_words < bound), len(_LINE_WORD_BUCKETS))
        ends = "__eol_punct__" if line[-1] in _SENTENCE_END else "__eol_bare__"
        parts.append(f"{line} {ends} __line_w{bucket}__")
    # the layout tokens are word characters only, so splitting punctuation afterwards leaves them whole
    return " ".join(_PUNCT.sub(r" \g<0> ", " ".join(parts)).split())


NORMALIZATIONS: dict[str, Callable[[str], str]] = {
    "none": _none,
    "fasttext_basic": _fasttext_basic,
    "dclm": _dclm,
    "dolma_jigsaw": _dolma_jigsaw,
    "lower_punct_eol": _lower_punct_eol,
    "lower_punct_lines": _lower_punct_lines,
}


def normalizer(name: str) -> Callable[[str], str]:
    """Return the normalisation function called `name` (ValueError naming the choices if unknown)."""
    try:
        return NORMALIZATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown classifier normalization {name!r}; choose one of {sorted(NORMALIZATIONS)}"
        ) from None


def normalize(text: str, name: str) -> str:
    """Normalise `text` with the named normalisation; the result never contains ``\\n``."""
    return normalizer(name)(text)
