"""RPv2's natural-language signals: word statistics, stop words, symbols, sentences, boilerplate.

Values follow RedPajama-V2's definitions (``app/src/core/quality_signals/natural_language.py``
and ``content.py`` at commit 6d2cee9) and its rounding to 8 decimals. Where RPv2 returns no value
(``None``) because there is nothing to count — no words, or no lines — we return 0.0, so every
signal is a finite float on every text, the empty string included.

Judgement calls, besides that:

* ``rps_doc_stop_word_fraction`` counts *raw* (WordPunct) tokens found in the language's list,
  case-sensitively (``The`` is not ``the``), over all raw tokens including punctuation tokens; it
  is 0.0 when the normalised text has no words (as RPv2) and for a language without a list.
  Lists: ``beam_curation/filters/resources/stopwords_rpv2.json`` (bg, de, en, es, fi, fr, it).
* ``rps_doc_frac_no_alph_words`` means "no ASCII letter" (RPv2's ``[a-zA-Z]``): a word in
  Cyrillic or CJK counts as having no alphabetical character, exactly as in RPv2.
* ``rps_doc_lorem_ipsum`` counts ``lorem ipsum`` case-insensitively in the normalised text, but
  only when the exact lowercase phrase occurs at least once (RPv2's early exit).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from importlib import resources
from itertools import repeat
from operator import mul, neg
from types import MappingProxyType

import numpy as np

from beam_curation.filters.heuristics.rpv2.document import DocumentView, codepoints
from beam_curation.filters.heuristics.rpv2.registry import signal

__all__ = ["PRECISION", "load_stop_words"]

PRECISION = 8  # RPv2 rounds most fractions to 8 decimals.

_SENTENCE_RE = re.compile(r"\b[^.!?]+[.!?]*")
_LOREM_RE = re.compile("lorem ipsum", re.IGNORECASE)
_ELLIPSIS = ("...", "\u2026")


def load_stop_words() -> Mapping[str, frozenset[str]]:
    """The bundled RPv2 stop-word lists, language code -> words."""
    path = resources.files("beam_curation.filters") / "resources" / "stopwords_rpv2.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return MappingProxyType({lang: frozenset(words) for lang, words in data.items()})


@signal("rps_doc_word_count", kind="doc")
def word_count(doc: DocumentView) -> float:
    """Number of normalised words."""
    return float(len(doc.normalized_words))


@signal("rps_doc_mean_word_length", kind="doc")
def mean_word_length(doc: DocumentView) -> float:
    """Mean length of the normalised words (0.0 without words)."""
    n = len(doc.normalized_words)
    if n == 0:
        return 0.0
    return round(doc.total_word_chars / n, PRECISION)


@signal("rps_doc_frac_unique_words", kind="doc")
def frac_unique_words(doc: DocumentView) -> float:
    """Distinct normalised words over all normalised words (0.0 without words)."""
    n = len(doc.normalized_words)
    if n == 0:
        return 0.0
    return round(len(doc.word_counts) / n, PRECISION)


@signal("rps_doc_unigram_entropy", kind="doc")
def unigram_entropy(doc: DocumentView) -> float:
    """Entropy (natural log) of the normalised-word distribution (0.0 without words).

    Summed term by term in order of first occurrence, as RPv2 sums over a ``Counter``.
    """
    total = len(doc.normalized_words)
    if total == 0:
        return 0.0
    # c / total is the same IEEE division in numpy and Python; the logs use math.log and the
    # sum runs left to right, as in RPv2, so the value is bit-identical.
    shares = (doc.word_counts / total).tolist()
    entropy = sum(map(mul, map(neg, shares), map(math.log, shares)))
    return round(entropy, PRECISION)


@signal("rps_doc_frac_all_caps_words", kind="doc")
def frac_all_caps_words(doc: DocumentView) -> float:
    """Raw tokens that are all uppercase (``str.isupper``) over all raw tokens."""
    n = doc.num_raw_words
    if n == 0:
        return 0.0
    # Punctuation tokens have no cased character, so they are never "upper".
    upper = sum(map(str.isupper, doc.raw_word_tokens))
    return round(upper / n, PRECISION)


@signal("rps_doc_frac_no_alph_words", kind="doc")
def frac_no_alph_words(doc: DocumentView) -> float:
    """Raw tokens without an ASCII letter over all raw tokens (0.0 without tokens)."""
    n = doc.num_raw_words
    if n == 0:
        return 0.0
    words = doc.raw_word_tokens
    with_letter = 0
    if words:
        # Vectorised "contains [a-zA-Z]" per token: tokens joined by spaces, code points
        # flagged, flags summed per token.
        cps = codepoints(" ".join(words))
        token_index = np.cumsum(cps == 32)
        is_letter = ((cps | 32) - 97) < 26  # uint32 arithmetic: wraps below "a"
        with_letter = int(np.count_nonzero(np.bincount(token_index[is_letter], minlength=len(words))))
    return round(1.0 - with_letter / n, PRECISION)


@signal("rps_doc_symbol_to_word_ratio", kind="doc")
def symbol_to_word_ratio(doc: DocumentView) -> float:
    """Occurrences of ``#``, ``...`` and ``…`` over raw tokens (0.0 without tokens)."""
    n = doc.num_raw_words
    if n == 0:
        return 0.0
    text = doc.text
    symbols = text.count("#") + text.count("...") + text.count("\u2026")
    return round(symbols / n, PRECISION)


@signal("rps_doc_frac_lines_end_with_ellipsis", kind="doc")
def frac_lines_end_with_ellipsis(doc: DocumentView) -> float:
    """Lines ending (before trailing whitespace) with ``...`` or ``…`` over lines."""
    lines = doc.line_texts
    if not lines:
        return 0.0
    ending = sum(map(str.endswith, map(str.rstrip, lines), repeat(_ELLIPSIS)))
    return round(ending / len(lines), PRECISION)


@signal("rps_doc_num_sentences", kind="doc")
def num_sentences(doc: DocumentView) -> float:
    """Matches of ``\\b[^.!?]+[.!?]*`` on the raw text."""
    return float(len(_SENTENCE_RE.findall(doc.text)))


@signal("rps_doc_curly_bracket", kind="doc")
def curly_bracket(doc: DocumentView) -> float:
    """Occurrences of ``{`` and ``}`` over raw characters (0.0 on empty text)."""
    text = doc.text
    if not text:
        return 0.0
    return round((text.count("{") + text.count("}")) / len(text), PRECISION)


@signal("rps_doc_lorem_ipsum", kind="doc")
def lorem_ipsum(doc: DocumentView) -> float:
    """Occurrences of ``lorem ipsum`` over characters of the normalised text."""
    text = doc.normalized_text
    if "lorem ipsum" not in text:
        return 0.0
    return round(len(_LOREM_RE.findall(text)) / len(text), PRECISION)


@signal("rps_doc_stop_word_fraction", kind="doc", resource=load_stop_words)
def stop_word_fraction(doc: DocumentView, stop_words: Mapping[str, frozenset[str]]) -> float:
    """Raw tokens in the language's stop-word list over all raw tokens (see module notes)."""
    words = stop_words.get(doc.language)
    if not words or not doc.normalized_words:
        return 0.0
    # Every stop word is a \w+ token or contains punctuation (never a WordPunct token), so only
    # the \w+ tokens can match.
    hits = sum(map(words.__contains__, doc.raw_word_tokens))
    return round(hits / doc.num_raw_words, PRECISION)

