"""Words per language as DataTrove splits them for FineWeb-2 (its ``load_word_tokenizer``).

DataTrove (0.10.1) assigns each language a word tokeniser (``assets/tokenizer_assignment.csv``): a blank
spaCy pipeline of the language or of a related one for most languages, and a dedicated segmenter where
words are not separated by spaces. Its words are the tokens, stripped, without the blank ones. This
module makes the same choice for the languages below (keyed by the language ID's lid.176 codes) from
libraries that install from PyPI with their data inside the wheels (no download at run time):

============================  ==================================================  ===================
languages                     library (DataTrove's class)                         licence
============================  ==================================================  ===================
ru de es fr it pt pl nl id    spaCy blank ``<lang>`` (``SpaCyTokenizer``); bs     spaCy: MIT
fa ar tr uk el cs sv hu ro    uses Serbian (``sr``), no Bokmål (``nb``), and
no da bg fi sk he lt bs sl    any other language the multi-language ``xx``
et ca hr lv ms (+ others)     (``WhitespaceTokenizer``)
zh                            spaCy ``zh`` with the jieba segmenter               jieba: MIT
ja                            spaCy ``ja``: SudachiPy, SudachiDict-core, split    Apache-2.0 (both)
                              mode A; texts cut into pieces of <= 40,000 bytes
vi                            spaCy ``vi``: pyvi                                  pyvi: MIT
th                            PyThaiNLP ``newmm-safe`` (``ThaiTokenizer``)        Apache-2.0
ko                            kiwipiepy, model ``sbg`` (``KiwiTokenizer``)        LGPL-3.0 (optional
                                                                                  ``korean`` extra)
hi bn ta ur mr gu pa te kn ml  Indic NLP Library ``trivial_tokenize``              MIT
============================  ==================================================  ===================

Transitive dependencies: pyvi needs sklearn-crfsuite and python-crfsuite (MIT) and scikit-learn (BSD-3);
Indic NLP needs Morfessor (BSD) and pandas (BSD-3); SudachiPy and Kiwi carry their dictionaries and
models in their wheels (``sudachidict_core``, ``kiwipiepy_model``, same licences as above).

DataTrove's Stanza (models downloaded at run time), botok (Tibetan; downloads its dialect pack) and the
Khmer, Lao and Burmese segmenters are not covered. Space-separated languages share
:class:`beam_curation.filters.text.word_tokens.SpacyWordTokenizer`'s per-chunk cache; the segmenters see whole texts.
``tests/filters/text/test_word_tokenizers.py`` checks each on real sentences.
"""

from __future__ import annotations

import functools
import re
import threading
from typing import Iterable, Protocol

from beam_curation.filters.text.word_tokens import SpacyWordTokenizer

__all__ = ["ASSIGNMENTS", "WordTokenizer", "missing_libraries", "word_tokenizer"]


class WordTokenizer(Protocol):
    def words(self, text: str) -> list[str]: ...


# language -> (kind, argument): DataTrove 0.10.1's assignment for that language.
ASSIGNMENTS: dict[str, tuple[str, str]] = {
    **{code: ("spacy", code) for code in (
        "ru de es fr it pt pl nl id fa ar tr uk el cs sv hu ro da bg fi sk he lt sl et ca hr lv ms "
        "sr en af eu ga hy is lb mk sq yo"
    ).split()},
    "bs": ("spacy", "sr"),
    "no": ("spacy", "nb"),
    "nb": ("spacy", "nb"),
    "nn": ("spacy", "nb"),
    "zh": ("spacy_zh", "zh"),
    "ja": ("spacy_ja", "ja"),
    "vi": ("spacy_whole", "vi"),
    "th": ("thai", ""),
    "ko": ("kiwi", "sbg"),
    **{code: ("indic", code) for code in "hi bn ta ur mr gu pa te kn ml or as ne sa si".split()},
}
FALLBACK = ("spacy", "xx")  # DataTrove's WhitespaceTokenizer: spaCy's multi-language tokenizer

# The modules each kind needs beyond spaCy, and the extra that installs them.
_LIBRARIES: dict[str, tuple[tuple[str, ...], str]] = {
    "spacy_zh": (("jieba",), "multilingual"),
    "spacy_ja": (("sudachipy", "sudachidict_core"), "multilingual"),
    "spacy_whole": (("pyvi",), "multilingual"),
    "thai": (("pythainlp",), "multilingual"),
    "indic": (("indicnlp",), "multilingual"),
    "kiwi": (("kiwipiepy",), "korean"),
}


def missing_libraries(languages: Iterable[str]) -> dict[str, tuple[str, str]]:
    """language -> (missing module, the extra that installs it), for the given languages' segmenters; found
    without importing anything (a driver checks this before a run starts)."""
    from importlib.util import find_spec

    missing = {}
    for language in languages:
        modules, extra = _LIBRARIES.get(ASSIGNMENTS.get(language, FALLBACK)[0], ((), ""))
        for module in modules:
            if find_spec(module) is None:
                missing[language] = (module, extra)
                break
    return missing


def _strip(tokens) -> list[str]:
    """DataTrove keeps tokens stripped, without the blank ones."""
    return [s for s in (t.strip() for t in tokens) if s]


class _SpacyWholeText:
    """A blank spaCy pipeline with a language-specific segmenter, run on whole texts."""

    def __init__(self, language: str, config: dict | None = None, max_bytes: int | None = None) -> None:
        import spacy

        self._nlp = spacy.blank(language, config=config) if config else spacy.blank(language)
        self._max_bytes = max_bytes
        self._lock = threading.Lock()

    def words(self, text: str) -> list[str]:
        pieces = [text] if self._max_bytes is None else byte_bounded_pieces(text, self._max_bytes)
        with self._lock, self._nlp.memory_zone():
            return _strip(token.text for piece in pieces for token in self._nlp.tokenizer(piece))


def byte_bounded_pieces(text: str, max_bytes: int) -> list[str]:
    """Cut ``text`` where DataTrove cuts Japanese texts before spaCy (spaCy/Sudachi's input limit).

    The first guess is ``max_bytes`` times the text's characters-per-byte, less 10; it shrinks by 10
    characters while it holds too many bytes (and stays shrunk for the next pieces); each piece then grows
    from it by steps of 10 characters while it has fewer than ``max_bytes`` bytes, and takes back the last
    step if that one went over.
    """
    def size(s: str) -> int:
        return len(s.encode("utf-8"))

    total = size(text)
    factor = len(text) / total if total else 1
    step = int(max(min(max_bytes * 0.1, 10), 1))
    shrink = int(min(max_bytes * 0.001, 10))
    guess = int(max(max_bytes * factor - 10, 1))
    pieces: list[str] = []
    rest = text
    while rest:
        if size(rest[:guess]) > max_bytes:
            guess = max(guess - shrink, 1)
            continue
        cut = guess
        piece = rest[:cut]
        while size(piece) < max_bytes and piece != rest:
            cut = min(len(rest), cut + step)
            piece = rest[:cut]
        if size(piece) > max_bytes:
            cut -= step
        pieces.append(rest[:cut])
        rest = rest[cut:]
    return pieces


class _Thai:
    def __init__(self) -> None:
        from pythainlp.tokenize import word_tokenize

        self._tokenize = word_tokenize

    def words(self, text: str) -> list[str]:
        return _strip(self._tokenize(text, keep_whitespace=False, engine="newmm-safe"))


class _Kiwi:
    _LONG_NUMBER = re.compile("[0-9,]{20,}")  # DataTrove drops these runs before Kiwi (it fails on them)

    def __init__(self, model_type: str) -> None:
        try:
            from kiwipiepy import Kiwi
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise ImportError("Korean words need kiwipiepy (LGPL-3.0): pip install 'beam-curation[korean]'") from exc
        self._kiwi = Kiwi(model_type=model_type)
        self._lock = threading.Lock()

    def words(self, text: str) -> list[str]:
        with self._lock:
            tokens = self._kiwi.tokenize(self._LONG_NUMBER.sub("", text))
        # Offsets refer to the text without the long numbers, but DataTrove slices the original: kept so.
        return _strip(text[t.start : t.end] for t in tokens)


class _Indic:
    def __init__(self, language: str) -> None:
        from indicnlp.tokenize.indic_tokenize import trivial_tokenize

        self._tokenize = trivial_tokenize
        self._language = language

    def words(self, text: str) -> list[str]:
        return _strip(self._tokenize(text, self._language))


def _build(kind: str, argument: str) -> WordTokenizer:
    if kind == "spacy":
        return SpacyWordTokenizer(argument)
    if kind == "spacy_zh":
        return _SpacyWholeText("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    if kind == "spacy_ja":
        return _SpacyWholeText("ja", max_bytes=40_000)
    if kind == "spacy_whole":
        return _SpacyWholeText(argument)
    if kind == "thai":
        return _Thai()
    if kind == "kiwi":
        return _Kiwi(argument)
    if kind == "indic":
        return _Indic(argument)
    raise ValueError(f"unknown word tokenizer kind {kind!r}")


@functools.lru_cache(maxsize=None)
def _shared(kind: str, argument: str) -> WordTokenizer:
    return _build(kind, argument)


def word_tokenizer(language: str) -> WordTokenizer:
    """The process-wide word tokenizer for a language code (lid.176's); spaCy ``xx`` for other languages."""
    return _shared(*ASSIGNMENTS.get(language, FALLBACK))
