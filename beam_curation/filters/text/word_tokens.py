"""English (and other space-separated) words and sentence breaks exactly as DataTrove's filters see them.

DataTrove (>= 0.3) splits English text with spaCy's blank English tokenizer and counts sentences with
spaCy's rule-based sentencizer; for most other languages it uses that language's blank spaCy tokenizer
(see ``beam_curation.filters.text.word_tokenizers``), which works the same way. spaCy tokenizes every whitespace-free chunk of the text independently,
so this module tokenizes each distinct chunk once (one spaCy call per batch of unseen chunks) and caches
the result; a document's words are then the concatenation of its chunks' tokens. That is what makes
the FineWeb chain here several times faster than calling spaCy per filter and per line, while giving
the same tokens.

Sentence breaks follow the sentencizer's rule: a new sentence starts at the first token that is neither
punctuation nor a sentence-final mark after a sentence-final mark (``.``, ``!``, ``?``, ...). Each
token is classified once into one letter: ``i`` (a sentence-final mark), ``x`` (other punctuation) or
``p`` (anything else); whitespace other than a single space between chunks is a spaCy token of its own
and counts as ``p``.
"""

from __future__ import annotations

import functools
import re
import threading
from itertools import chain
from operator import itemgetter


_SENTENCE_BREAK = re.compile(r"i[ix]*p")
_WHITESPACE_RUN = re.compile(r"\s+")

ChunkTokens = tuple[tuple[str, ...], str]
"""The tokens of one whitespace-free chunk and their classes (one of ``i``/``x``/``p`` per token)."""
_TOKENS, _CLASSES = itemgetter(0), itemgetter(1)


class SpacyWordTokenizer:
    """A blank spaCy tokenizer with a per-chunk cache (bounded; cleared when full).

    Only for languages whose blank pipeline uses spaCy's rule-based ``Tokenizer`` (not Chinese,
    Japanese, Korean, Thai or Vietnamese, whose segmenters look across chunks). One instance per worker
    process (thread-safe): the cache is its only state and holds nothing document-specific, so results
    never depend on what was tokenized before.
    """

    def __init__(self, language: str = "en", cache_size: int = 200_000) -> None:
        import spacy
        from spacy.attrs import IS_PUNCT, LANG
        from spacy.pipeline import Sentencizer
        from spacy.tokenizer import Tokenizer

        self.language = language
        self._nlp = spacy.blank(language)
        if type(self._nlp.tokenizer) is not Tokenizer:
            raise ValueError(f"spaCy's {language!r} tokenizer is not rule-based: chunks are not independent")
        # A new word's lexeme gets every lexical attribute the vocabulary has getters for (shape, like_num,
        # like_url, lower...: most of the tokenizer's time); only IS_PUNCT is read here, and no attribute
        # decides where the rule-based tokenizer splits. Its own private vocabulary, so nothing else sees this.
        vocab = self._nlp.vocab
        vocab.lex_attr_getters = {attr: vocab.lex_attr_getters[attr] for attr in (LANG, IS_PUNCT)
                                  if attr in vocab.lex_attr_getters}
        self._sentence_final = frozenset(Sentencizer.default_punct_chars)
        self._cache: dict[str, ChunkTokens] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()  # spaCy's memory zones are not safe to interleave across threads

    def chunks(self, chunks: list[str]) -> list[ChunkTokens]:
        """Tokens and classes for each whitespace-free chunk, in order."""
        cache = self._cache
        try:
            return list(map(cache.__getitem__, chunks))
        except KeyError:
            pass
        with self._lock:
            missing = [c for c in set(chunks) if c not in cache]
            if len(cache) + len(missing) > self._cache_size:
                cache.clear()  # the chunks that were cached are gone too: all of them are tokenized again
                missing = list(set(chunks))
            self._tokenize_missing(missing)
            return list(map(cache.__getitem__, chunks))

    def _tokenize_missing(self, missing: list[str]) -> None:
        """Tokenize unseen chunks in one spaCy call (joined by single spaces, which spaCy never keeps)."""
        joined = " ".join(missing)
        bounds = []
        pos = 0
        for chunk in missing:
            bounds.append(pos + len(chunk))
            pos += len(chunk) + 1
        final = self._sentence_final
        cache = self._cache
        with self._nlp.memory_zone():
            doc = self._nlp.tokenizer(joined)
            k = 0
            tokens: list[str] = []
            classes: list[str] = []
            for token in doc:
                text = token.text
                while token.idx >= bounds[k]:
                    cache[missing[k]] = (tuple(tokens), "".join(classes))
                    tokens, classes = [], []
                    k += 1
                tokens.append(text)
                classes.append("i" if text in final else ("x" if token.is_punct else "p"))
            cache[missing[k]] = (tuple(tokens), "".join(classes))
            for rest in missing[k + 1 :]:  # pragma: no cover - every chunk yields at least one token
                cache[rest] = ((), "")

    def words(self, text: str) -> list[str]:
        """DataTrove's ``split_into_words(text, language)``: every non-whitespace token, in order."""
        chunks = text.split()
        try:  # every chunk cached: no list of entries in between
            return list(chain.from_iterable(map(_TOKENS, map(self._cache.__getitem__, chunks))))
        except KeyError:
            return list(chain.from_iterable(map(_TOKENS, self.chunks(chunks))))

    def line_stats(self, line: str, chunks: list[str] | None = None) -> tuple[int, int]:
        """(sentences spaCy's sentencizer finds, words) in a stripped, non-empty line.

        ``chunks`` may carry ``line.split()`` when the caller already has it.
        """
        if chunks is None:
            chunks = line.split()
        entries = self.chunks(chunks)
        classes = "".join(map(_CLASSES, entries))
        n_words = len(classes)
        if len(line) - len(chunks) + 1 != sum(map(len, chunks)) or line.count(" ") != len(chunks) - 1:
            classes = _classes_with_whitespace_tokens(line, entries)  # gaps other than one space are tokens
        if "i" not in classes:
            return 1, n_words
        return 1 + len(_SENTENCE_BREAK.findall(classes)), n_words

    def count_sentences(self, line: str) -> int:
        """Number of sentences spaCy's sentencizer finds in a stripped, non-empty line."""
        return self.line_stats(line)[0]


class EnglishWordTokenizer(SpacyWordTokenizer):
    """spaCy's blank English tokenizer (DataTrove's English words), cached per chunk."""

    def __init__(self, cache_size: int = 200_000) -> None:
        super().__init__("en", cache_size)


def _classes_with_whitespace_tokens(line: str, chunk_tokens: list[ChunkTokens]) -> str:
    """Token classes of a line with the whitespace tokens spaCy emits: one for every gap other than a
    single space, one for trailing whitespace other than a single space, and one for leading whitespace
    (which can never start a sentence, so it is left out). Lines only carry edge whitespace after
    citation removal, which DataTrove does not follow with a strip.
    """
    parts: list[str] = []
    gaps = _WHITESPACE_RUN.findall(line.strip())
    for i, (_, classes) in enumerate(chunk_tokens):
        if i and gaps[i - 1] != " ":
            parts.append("p")
        parts.append(classes)
    stripped = line.rstrip()
    if len(line) - len(stripped) > 1 or (stripped != line and line[-1] != " "):
        parts.append("p")
    return "".join(parts)


@functools.lru_cache(maxsize=1)
def default_tokenizer() -> EnglishWordTokenizer:
    """The process-wide tokenizer (loaded once per process, like a model)."""
    return EnglishWordTokenizer()


def split_into_words(text: str, tokenizer: EnglishWordTokenizer | None = None) -> list[str]:
    """Words of ``text`` as DataTrove's English filters count them."""
    return (tokenizer or default_tokenizer()).words(text)
