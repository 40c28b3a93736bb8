"""Raw words are nltk's WordPunctTokenizer output on every script: nltk itself is the oracle.

The hand-made strings cover what Python's ``re`` splits differently from nltk's ``regex``-compiled
pattern (combining marks, other numbers, U+001C..U+001F, joiners, characters newer than Python's Unicode
tables); the real ones are web sentences in 75 languages and extracted pages in 16 languages.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nltk.tokenize import RegexpTokenizer, WordPunctTokenizer

from beam_curation.filters.text.word_punct import (
    AGREE, ALNUM_NOT_WORD, PATTERN, REGEX_WORD_ONLY, SPACE_MISMATCH, char_classes, tokenize, word_and_punct_tokens,
)
from multilingual_text import INDONESIAN_WITH_ARABIC, SCRIPTS, langid_documents

NLTK = WordPunctTokenizer()

NLTK_PUNCT = RegexpTokenizer(r"[^\w\s]+")


def _is_punct_token(token: str) -> bool:
    """nltk's own answer: a token is punctuation iff nltk's punctuation-only tokenizer yields it whole."""
    return NLTK_PUNCT.tokenize(token) == [token]


def _nltk_words_and_puncts(text: str) -> tuple[Counter, int]:
    tokens = NLTK.tokenize(text)
    puncts = [t for t in tokens if _is_punct_token(t)]
    return Counter(tokens) - Counter(puncts), len(puncts)


def assert_like_nltk(text: str) -> None:
    assert tokenize(text) == NLTK.tokenize(text)
    words, n_punct = word_and_punct_tokens(text)
    want_words, want_punct = _nltk_words_and_puncts(text)
    assert (Counter(words), n_punct) == (want_words, want_punct)


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_scripts_tokenize_as_nltk(name):
    assert_like_nltk(SCRIPTS[name])


@pytest.mark.parametrize("name", ["arabic_harakat", "devanagari", "bengali_tamil", "thai", "hebrew_points",
                                  "fractions", "controls", "newer_than_python"])
def test_these_scripts_are_where_python_re_differs(name):
    """The cases are not vacuous: Python's re tokenises each of them differently from nltk."""
    text = SCRIPTS[name]
    assert re.findall(r"\w+|[^\w\s]+", text) != NLTK.tokenize(text)


def test_hand_checked_differences():
    # a kasra is part of the word (re makes each mark a punctuation token); a fraction is
    # punctuation; U+001F is not whitespace
    assert tokenize("بِسْمِ") == ["بِسْمِ"]
    assert re.findall(r"\w+|[^\w\s]+", "بِسْمِ") == ["ب", "\u0650", "س", "\u0652", "م", "\u0650"]
    assert tokenize("3½ cups") == ["3", "½", "cups"]
    assert word_and_punct_tokens("120 m² and 3½ cups") == (["120", "and", "cups", "m", "3"], 2)
    assert tokenize("a\x1fb c") == ["a", "\x1f", "b", "c"]


def test_char_classes():
    classes = char_classes()
    assert all(classes[ord(c)] == ALNUM_NOT_WORD for c in "¼²①₂")
    assert all(classes[ord(c)] == SPACE_MISMATCH for c in "\x1c\x1d\x1e\x1f")
    assert all(classes[ord(c)] == REGEX_WORD_ONLY for c in "\u0650\u093e\u0e31\u0301\u200d\u203f\U0001e030")
    assert all(classes[ord(c)] == AGREE for c in "aZ09_ \n\t!?.日한٣ⅷ\u00a0\u2028")
    assert (classes == SPACE_MISMATCH).sum() == 4 and (classes == ALNUM_NOT_WORD).sum() < 2000
    # the classes rest on re's \w being str.isalnum() or "_" and its \s being str.split()'s whitespace
    every = "".join(map(chr, range(0xD800))) + "".join(map(chr, range(0xE000, 0x110000)))
    assert re.findall(r"\w", every) == [c for c in every if c.isalnum() or c == "_"]
    assert re.findall(r"\s", every) == [c for c in every if c.isspace()]
    # lone surrogates (kept by the readers' surrogatepass) are punctuation for both engines
    surrogates = "".join(map(chr, range(0xD800, 0xE000)))
    assert re.findall(PATTERN, surrogates) == tokenize(surrogates) == [surrogates]


_ALPHABET = st.sampled_from(
    [*"ab Z_ .!?,;'\"#{}…–•\n\t09", "\u0650", "\u093e", "\u0e31", "¼", "²", "\x1c", "\x1f", "\u200d",
     "😀", "日", "한", "\U0001e030", "\u0301", "ⅷ", "٣", "\u00a0", "\u2028", "\ud800"]
)


@pytest.mark.slow
@settings(max_examples=400, deadline=None, derandomize=True)
@given(text=st.lists(_ALPHABET, max_size=60).map("".join) | st.text(max_size=100))
def test_hypothesis_like_nltk(text):
    assert_like_nltk(text)


# --- real text ------------------------------------------------------------------------------------

@pytest.mark.shared_data
@pytest.mark.slow
def test_langid_sentences_tokenize_as_nltk():
    docs = langid_documents()
    assert len(docs) == 75
    differ = 0
    for text in docs.values():
        assert_like_nltk(text)
        differ += re.findall(r"\w+|[^\w\s]+", text) != NLTK.tokenize(text)
    assert differ >= 10  # Indic, Arabic-script, Thai, Hebrew ... documents: re would be wrong on them


@pytest.mark.shared_data
@pytest.mark.slow
def test_real_pages_tokenize_as_nltk(multilingual_pages):
    real_pages = multilingual_pages
    assert len(real_pages) >= 40 and sum(map(len, real_pages.values())) > 100_000
    for text in real_pages.values():
        assert_like_nltk(text)
    page = real_pages[INDONESIAN_WITH_ARABIC]  # the example: Arabic quotations in Indonesian
    assert len(NLTK.tokenize(page)) < 0.9 * len(re.findall(r"\w+|[^\w\s]+", page))
