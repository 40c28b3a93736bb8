"""FineWeb-2's per-language signals: Gopher repetition, FineWeb quality and Gopher quality, per language.

FineWeb-2 runs DataTrove's three filters on each language's extracted text (no C4 line filter), splitting
words with the language's tokenizer (:mod:`beam_curation.filters.text.word_tokenizers`) and counting the language's own stop
words (``resources/stopwords_fineweb2.json``, written by ``scripts/generate_fineweb2_config.py`` from
FineWeb-2's configs). The signal names are those of the English groups, so ``configs/fineweb2.yaml``'s
rules read like ``configs/fineweb.yaml``'s, with per-language thresholds.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType

from beam_curation.filters.heuristics import fineweb_quality

from beam_curation.filters.heuristics import gopher_quality

from beam_curation.filters.heuristics import gopher_repetition
from beam_curation.filters.heuristics.fineweb_quality import fineweb_quality_signals
from beam_curation.filters.heuristics.gopher_quality import gopher_quality_signals
from beam_curation.filters.heuristics.gopher_repetition import gopher_repetition_signals
from beam_curation.filters.text.word_tokenizers import word_tokenizer

__all__ = ["SIGNAL_NAMES", "fineweb2_signals", "load_stop_words"]

# What `fineweb2_signals` returns, in its order: FineWeb-2's filter order (Gopher repetition, FineWeb
# quality, Gopher quality), declared so that a run's columns are known without loading a tokeniser.
SIGNAL_NAMES: tuple[str, ...] = (
    *gopher_repetition.SIGNAL_NAMES, *fineweb_quality.SIGNAL_NAMES, *gopher_quality.SIGNAL_NAMES,
)


@functools.cache
def load_stop_words() -> Mapping[str, frozenset[str]]:
    """FineWeb-2's stop words, lid.176 language code -> words (empty when the file was not generated)."""
    path = resources.files("beam_curation.filters") / "resources" / "stopwords_fineweb2.json"
    if not path.is_file():
        return MappingProxyType({})
    data = json.loads(path.read_text(encoding="utf-8"))
    return MappingProxyType({lang: frozenset(words) for lang, words in data.items()})


def fineweb2_signals(text: str, language: str) -> dict[str, float]:
    """Every signal FineWeb-2's rules read, for ``text`` in ``language`` (words split once).

    A language without FineWeb-2 stop words counts none (its stop-word rule then removes everything,
    as DataTrove's filter would with an empty list), so configure only languages that have them.
    """
    words = word_tokenizer(language).words(text)
    signals = gopher_repetition_signals(text, words=words)
    signals.update(fineweb_quality_signals(text, word_count=len(words)))
    signals.update(gopher_quality_signals(text, words=words, stop_words=load_stop_words().get(language, frozenset())))
    return signals
