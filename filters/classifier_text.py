"""Text normalisation shared by fastText classifier training and scoring.

A fastText model only works on text prepared the way its training text was, so training
(`scripts/train_fasttext.py`) and scoring (`filters/classifier.py`) both call
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


NORMALIZATIONS: dict[str, Callable[[str], str]] = {
    "none": _none,
    "fasttext_basic": _fasttext_basic,
    "dclm": _dclm,
    "dolma_jigsaw": _dolma_jigsaw,
    "lower_punct_eol": _lower_punct_eol,
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
