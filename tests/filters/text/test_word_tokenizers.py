"""Per-language words and FineWeb-2's filters against DataTrove 0.10.1's own output.

DataTrove runs in its own virtualenv, never here: ``scripts/compare_fineweb2.py`` recorded, for real
language-ID dev sentences, the sha1 of DataTrove's word list per language and DataTrove's keep/drop
decision with FineWeb-2's per-language parameters per document (tests/data/fineweb2_datatrove_*.jsonl).
These tests rebuild the same texts from ../shared/data and must reproduce both.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from conftest import REPO, shared_data

DATA = REPO / "tests" / "data"
# Every tokenizer kind and proxy: spaCy (Cyrillic, Arabic, Hebrew, Greek, Latin; Serbian for Bosnian,
# Bokmål for `no`), jieba, Sudachi, pyvi, PyThaiNLP, Kiwi, Indic NLP (three scripts).
LANGUAGES = ["de", "ru", "ar", "fa", "he", "el", "tr", "pl", "bs", "no", "zh", "ja", "vi", "th", "ko", "hi", "bn", "ta"]


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _records(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def compare():
    shared_data("langid_dev")
    import sys

    sys.path.insert(0, str(REPO))
    from scripts import compare_fineweb2

    return compare_fineweb2


def _tokenizer(language: str):
    if language == "ko":
        pytest.importorskip("kiwipiepy", reason="Korean words need the optional `korean` extra (kiwipiepy, LGPL-3.0)")
    from beam_curation.filters.text.word_tokenizers import word_tokenizer

    return word_tokenizer(language)


@pytest.mark.shared_data
@pytest.mark.slow
@pytest.mark.parametrize("language", LANGUAGES)
def test_words_equal_datatrove(compare, language):
    """Words of 30 real sentences of the language, as DataTrove's load_word_tokenizer gives them."""
    expected = {r["language"]: r for r in _records("fineweb2_datatrove_words.jsonl")}[language]
    (lang, text), = compare.word_samples(shared_data(), {language})
    words = _tokenizer(language).words(text)
    assert (len(words), _sha1("\n".join(words))) == (expected["words"], expected["sha1"])


def test_every_language_of_the_config_has_recorded_words():
    import yaml

    config = yaml.safe_load((REPO / "configs" / "fineweb2.yaml").read_text(encoding="utf-8"))
    recorded = {r["language"] for r in _records("fineweb2_datatrove_words.jsonl")}
    assert set(config["langid"]["keep"]) == recorded and len(recorded) >= 20


@pytest.mark.shared_data
@pytest.mark.slow
def test_segmenters_split_unspaced_scripts(compare):
    """A real run of 12+ characters without a space becomes several words in each unspaced script."""
    sentences = compare.langid_sentences(shared_data())
    for language in ("zh", "ja", "th"):
        chunk = next(c for s in sentences[language] for c in s.split() if len(c) >= 12)
        words = _tokenizer(language).words(chunk)
        assert len(words) >= 3 and "".join(words) == chunk, language


def test_byte_bounded_pieces():
    from beam_curation.filters.text.word_tokenizers import byte_bounded_pieces

    text = "日本語のテキスト。" * 3000 + "end"
    pieces = byte_bounded_pieces(text, 40_000)
    assert "".join(pieces) == text and len(pieces) == 3
    assert all(len(p.encode("utf-8")) <= 40_000 for p in pieces)
    assert byte_bounded_pieces("short", 40_000) == ["short"]


@pytest.mark.shared_data
@pytest.mark.slow
def test_fineweb2_decisions_equal_datatrove(compare):
    """configs/fineweb2.yaml's rules on FineWeb-2's signals keep and drop what DataTrove's filters do."""
    expected = {r["sha1"]: r for r in _records("fineweb2_datatrove_expectations.jsonl")}
    rules = compare.fineweb2_rules(REPO / "configs" / "fineweb2.yaml")
    corpus = compare.load_corpus(shared_data(), set(LANGUAGES), pages=False)
    # Kiwi analyses Korean slowly (~0.3 s a document here): its 8 shortest documents only.
    korean = sorted((t for lang, t in corpus if lang == "ko"), key=len)[:8]
    if korean:
        _tokenizer("ko")
    corpus = [(lang, t) for lang, t in corpus if lang != "ko"] + [("ko", t) for t in korean]
    agree = kept = 0
    reasons = set()
    for language, text in corpus:
        want = expected[_sha1(text)]
        keep, rule = compare.our_decision(rules, text, language)
        agree += keep == want["keep"]
        kept += keep
        if not keep:
            assert compare.REASONS.get(rule, rule) == want["reason"], (language, text[:80])
            reasons.add(rule)
    assert len(corpus) > 300 and {lang for lang, _ in corpus} == set(LANGUAGES)
    assert agree == len(corpus)
    assert 0.3 < kept / len(corpus) < 0.9 and len(reasons) >= 6  # both outcomes, many rules at work
