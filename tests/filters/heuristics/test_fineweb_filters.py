"""FineWeb's rule chain: hand-checked signals, and equivalence with DataTrove on real texts."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from beam_curation.filters.heuristics.c4 import c4_filter_lines
from beam_curation.filters.heuristics.fineweb_chain import RULES, fineweb_decision, fineweb_signals, rule_expressions
from beam_curation.filters.heuristics.fineweb_quality import fineweb_quality_signals
from beam_curation.filters.heuristics.gopher_quality import gopher_quality_signals
from beam_curation.filters.heuristics.gopher_repetition import SIGNAL_NAMES as REPETITION_SIGNALS
from beam_curation.filters.heuristics.gopher_repetition import gopher_repetition_signals
from beam_curation.filters.text.word_tokens import default_tokenizer, split_into_words
from conftest import REPO, SHARED_DATA

DATA = SHARED_DATA
EXPECTATIONS = REPO / "tests" / "data" / "fineweb_datatrove_expectations.jsonl"

# A clean English paragraph that passes every FineWeb rule.
GOOD = (
    "The river runs through the valley and feeds the old mill near the village.\n"
    "Farmers have used its water for centuries to grow wheat, barley and oats.\n"
    "In spring the snow melts in the mountains, and the river often floods the lower fields.\n"
    "The villagers built a stone wall to protect their homes from the rising water.\n"
    "Today the mill is a small museum that shows how flour was made with the power of the river.\n"
    "Visitors can walk along the bank and watch the wheel turn slowly in the current."
)


# --- words and sentences ------------------------------------------------------------------------


def test_words_are_spacy_english_tokens():
    assert split_into_words("Don't stop, U.S.A.! (ok)") == ["Do", "n't", "stop", ",", "U.S.A.", "!", "(", "ok", ")"]
    assert split_into_words("  \n\t ") == []


@pytest.mark.parametrize(
    ("line", "sentences"),
    [
        ("Hello world. This is it! Ok", 3),
        ("See e.g. the U.S. report. Fine", 2),  # abbreviations are single tokens: no break
        ("It ends here.", 1),
        ("end.  )", 2),  # a double space is a whitespace token, which starts a sentence
        ("end. )", 1),
        ("Why?! Because.", 2),
    ],
)
def test_sentence_count_follows_spacy_sentencizer(line, sentences):
    assert default_tokenizer().count_sentences(line) == sentences


@pytest.mark.shared_data
@pytest.mark.slow
def test_tokenizer_matches_spacy_on_real_text():
    """Chunk-cached words and per-line sentence counts equal spaCy run on the whole text / line."""
    spacy = pytest.importorskip("spacy")
    path = DATA / "quality_reference" / "dclm_human_quality_majority_only.jsonl"
    if not path.exists():
        pytest.skip(f"shared data not found at {path}")
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    tok = default_tokenizer()
    texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()[:60]]
    for text in texts:
        expected = [t.text.strip() for t in nlp.tokenizer(text) if t.text.strip()]
        assert tok.words(text) == expected
        for line in text.splitlines():
            line = line.strip()
            if len(line.split()) >= 3:
                assert tok.count_sentences(line) == len(list(nlp(line).sents)), line


def test_tokenizer_cache_overflow_tokenizes_every_chunk_again():
    """A text whose new chunks overflow the chunk cache clears it: its chunks that were cached come back too."""
    from beam_curation.filters.text.word_tokens import EnglishWordTokenizer

    tok = EnglishWordTokenizer(cache_size=4)
    assert tok.words("It's here.") == ["It", "'s", "here", "."]
    assert tok.words("It's here, isn't it?") == ["It", "'s", "here", ",", "is", "n't", "it", "?"]
    assert tok.line_stats("here. It's") == (2, 4)


def test_new_words_carry_only_the_punctuation_flag_and_tokenize_alike():
    """The tokenizer's lexemes skip the attributes nothing reads; tokens and punctuation are spaCy's."""
    spacy = pytest.importorskip("spacy")
    text = "Prices rose 3.5% in Q1 (see https://example.com/a?b=1); e-mail me: a@b.org -- ok?! \u2026 \"done\""
    expected = [(t.text, t.is_punct) for t in spacy.blank("en").tokenizer(text) if t.text.strip()]
    entries = default_tokenizer().chunks(text.split())
    found = [(token, cls != "p") for tokens, classes in entries for token, cls in zip(tokens, classes)]
    assert found == expected


# --- Gopher repetition ----------------------------------------------------------------------------


def test_duplicate_paragraphs_and_lines():
    s = gopher_repetition_signals("a\n\nb\n\na")
    assert s["gopher_dup_para_frac"] == pytest.approx(1 / 3)
    assert s["gopher_dup_para_char_frac"] == pytest.approx(1 / 7)
    assert s["gopher_dup_line_frac"] == pytest.approx(1 / 3)
    assert s["gopher_dup_line_char_frac"] == pytest.approx(1 / 7)
    s = gopher_repetition_signals("x\ny\nx\n")  # lines split on \n+: a trailing \n adds an empty line
    assert s["gopher_dup_line_frac"] == pytest.approx(1 / 4)
    assert s["gopher_dup_para_frac"] == 0.0


def test_top_ngram_ties_go_to_the_earliest():
    # 2-grams: "b c" x2, "c aa" x2, "aa b" x1 -> the earliest top one is "b c" (3 chars) x2
    s = gopher_repetition_signals("b c aa b c aa")
    assert s["gopher_top_2gram_char_frac"] == pytest.approx(6 / 13)
    assert s["gopher_top_3gram_char_frac"] == pytest.approx(2 * len("b c aa") / 13)


def test_duplicated_ngrams_use_concatenated_words_and_skip():
    # "ab c d e f" and "a bc d e f" concatenate to the same "abcdef": DataTrove counts it as a repeat.
    s = gopher_repetition_signals("ab c d e f a bc d e f")
    assert s["gopher_dup_5gram_char_frac"] == pytest.approx(6 / 21)
    assert s["gopher_dup_6gram_char_frac"] == 0.0
    # 12 x "a": positions 0 (new), 1 (repeat, jump to 6), 6 (repeat, jump to 11 -> done) = 10 chars
    s = gopher_repetition_signals(" ".join(["a"] * 12))
    assert s["gopher_dup_5gram_char_frac"] == pytest.approx(10 / 23)


def test_ngram_counting_equals_numpy_unique():
    """The sorted-key helpers give what np.unique's counts, first indices and inverse would."""
    import numpy as np

    from beam_curation.filters.heuristics.gopher_repetition import _most_frequent, _repeated

    rng = np.random.default_rng(7)
    for size in [1, 2, 3, 5, 40, 400] * 30:
        keys = rng.integers(0, rng.integers(1, 2 * size + 2), size=size).astype(np.uint64)
        _, first, inverse, counts = np.unique(keys, return_index=True, return_inverse=True, return_counts=True)
        top = counts.max()
        assert _most_frequent(keys) == (top, first[counts == top].min())
        assert _repeated(keys).tolist() == np.flatnonzero(counts[inverse] > 1).tolist()


def test_top_ngrams_of_a_long_document():
    """Past 46,340 words the n-gram keys are built from dense word ids (positions would overflow 64 bits)."""
    text = " ".join(["x y"] * 25_000)  # 50,000 words, 99,999 characters
    s = gopher_repetition_signals(text, words=text.split())
    assert s["gopher_top_2gram_char_frac"] == pytest.approx(3 * 25_000 / 99_999)  # "x y" x 25,000
    assert s["gopher_top_3gram_char_frac"] == pytest.approx(5 * 24_999 / 99_999)  # "x y x" ties "y x y": first
    assert s["gopher_top_4gram_char_frac"] == pytest.approx(7 * 24_999 / 99_999)


def test_repetition_signals_on_empty_and_short_text():
    assert gopher_repetition_signals("") == dict.fromkeys(REPETITION_SIGNALS, 0.0)
    assert gopher_repetition_signals("one")["gopher_top_2gram_char_frac"] == 0.0


# --- Gopher quality -------------------------------------------------------------------------------


def test_gopher_quality_hand_checked():
    text = "The cat... sat on #1 the mat!\n\u2022 bullet\n - dash \u2026"
    # words: The cat ... sat on # 1 the mat ! • bullet - dash …  (15; "•" is not a symbol for Gopher)
    s = gopher_quality_signals(text)
    assert s["gopher_all_word_count"] == 15
    assert s["gopher_word_count"] == 10
    assert s["gopher_mean_word_length"] == pytest.approx(29 / 10)
    assert s["gopher_hash_to_word_ratio"] == pytest.approx(1 / 15)
    assert s["gopher_ellipsis_to_word_ratio"] == pytest.approx(2 / 15)
    assert s["gopher_bullet_lines_frac"] == pytest.approx(2 / 3)
    assert s["gopher_ellipsis_lines_frac"] == pytest.approx(1 / 3)
    assert s["gopher_alpha_words_frac"] == pytest.approx(8 / 15)
    assert s["gopher_stop_word_count"] == 1  # "the" only: case-sensitive, distinct words


def test_stop_words_are_counted_once_each():
    assert gopher_quality_signals("the the the of")["gopher_stop_word_count"] == 2


# --- C4 -------------------------------------------------------------------------------------------


def test_c4_line_rules_and_spans():
    text = (
        "Our story begins in a small town.[1] It grew.\n"
        "Menu\n"
        "Please enable JavaScript to see this page.\n"
        "We use cookies, see our Privacy Policy.\n"
        "A line with a " + "w" * 1001 + " word.\n"
        "No final mark here but enough words"
    )
    r = c4_filter_lines(text, filter_no_terminal_punct=False)
    assert r.text == "Our story begins in a small town. It grew.\nNo final mark here but enough words"
    assert r.signals["c4_too_few_words"] == 1
    assert r.signals["c4_javascript"] == 1
    assert r.signals["c4_policy"] == 1
    assert r.signals["c4_too_long_word"] == 1
    assert r.signals["c4_no_terminal_punct"] == 0
    assert r.signals["c4_citations"] == 1
    assert r.signals["c4_num_sentences"] == 3
    assert r.word_count == len(split_into_words(r.text))
    reasons = {reason: text[a:b] for a, b, reason in r.removed}
    assert reasons["citation"] == "[1]"
    assert reasons["too_few_words"] == "Menu"
    assert reasons["javascript"].startswith("Please enable")
    # with C4's original terminal-punctuation rule the last line goes too
    strict = c4_filter_lines(text)
    assert strict.signals["c4_no_terminal_punct"] == 2  # "Menu" fails this test before the word count
    assert strict.signals["c4_too_few_words"] == 0
    assert strict.text == "Our story begins in a small town. It grew."


def test_c4_citation_removal_keeps_edge_whitespace():
    # DataTrove does not strip again after removing citations: "ends.  " has a trailing whitespace
    # token, which spaCy's sentencizer makes a sentence of its own.
    r = c4_filter_lines("It ends.  [5]\nIt ends. [6]", filter_no_terminal_punct=False, min_words_per_line=1)
    assert r.signals["c4_num_sentences"] == 3
    assert r.text == "It ends.  \nIt ends."


def test_c4_document_flags():
    r = c4_filter_lines("Some text here. Lorem Ipsum dolor sit amet.")
    assert r.signals["c4_lorem_ipsum"] == 1
    assert c4_filter_lines("Lorem ipsum\nfine text here.").signals["c4_lorem_ipsum"] == 0  # < 3 words: dropped first
    assert c4_filter_lines("code like f(x) { here }.").signals["c4_curly_bracket"] == 1
    # a javascript line is dropped before the bracket test
    assert c4_filter_lines("javascript code { here }.").signals["c4_curly_bracket"] == 0
    # only the flag DataTrove meets first is set, so its removal reason can be reproduced
    both = c4_filter_lines("code like f(x) { here }.\nSome lorem ipsum text.").signals
    assert (both["c4_curly_bracket"], both["c4_lorem_ipsum"]) == (1, 0)
    both = c4_filter_lines("Lorem ipsum with { here }.").signals
    assert (both["c4_curly_bracket"], both["c4_lorem_ipsum"]) == (0, 1)


def test_c4_sentence_mode():
    r = c4_filter_lines("One two three. Four five six!  Go", split_paragraph=False, filter_no_terminal_punct=False)
    assert r.text == "One two three. Four five six!"
    assert r.signals["c4_num_sentences"] == 2
    assert r.signals["c4_too_few_words"] == 1


# --- FineWeb --------------------------------------------------------------------------------------


def test_fineweb_quality_hand_checked():
    text = "A first line that ends well.\nshort one\nA first line that ends well.\nQuoted end\""
    s = fineweb_quality_signals(text)
    assert s["fineweb_line_count"] == 4
    assert s["fineweb_line_punct_ratio"] == pytest.approx(2 / 4)  # a quote is not terminal punctuation
    assert s["fineweb_short_line_frac"] == pytest.approx(4 / 4)
    assert s["fineweb_dup_line_char_frac"] == pytest.approx(28 / (len(text) - 3))
    words = len(split_into_words(text))
    assert s["fineweb_newline_to_word_ratio"] == pytest.approx(3 / words)
    assert fineweb_quality_signals("\n \n")["fineweb_line_count"] == 0


# --- the chain ------------------------------------------------------------------------------------


def test_chain_keeps_good_text_and_names_the_first_failing_rule():
    keep, reason, after = fineweb_decision(GOOD)
    assert (keep, reason) == (True, None)
    assert after == GOOD
    assert fineweb_decision("") == (False, "empty", "")
    assert fineweb_decision("\n".join([GOOD] * 3))[1] == "dup_line_frac"
    no_stop_words = re.sub(r"\b(the|and|of|to|have|with|that|be)\b", "a", GOOD)
    assert fineweb_decision(no_stop_words)[1] == "gopher_enough_stop_words"
    assert fineweb_decision(GOOD + "\nLorem ipsum dolor sit amet.")[1] == "lorem_ipsum"
    with pytest.raises(ValueError):
        fineweb_decision(GOOD, language="de")


def test_rules_cover_every_signal_once_in_order():
    signals, _ = fineweb_signals(GOOD)
    assert all(name in signals for _, _, name, _, _ in RULES)
    assert rule_expressions()[0] == "gopher_dup_para_frac <= 0.3"
    assert [stage for stage, *_ in RULES] == sorted(
        (stage for stage, *_ in RULES), key=["gopher_repetition", "gopher_quality", "c4", "fineweb"].index
    )


# --- equivalence with DataTrove -------------------------------------------------------------------


def _load_compare_script():
    spec = importlib.util.spec_from_file_location("compare_datatrove", REPO / "scripts" / "compare_datatrove.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.shared_data
@pytest.mark.slow
def test_decisions_equal_datatrove_on_real_texts():
    """Every real document gets DataTrove's decision (directly, or as recorded by compare_datatrove.py)."""
    if not DATA.exists():
        pytest.skip(f"shared data not found at {DATA}")
    compare = _load_compare_script()
    corpus = compare.load_corpus(DATA)
    try:
        from datatrove.data import Document  # noqa: F401  (only in DataTrove's own virtualenv)
    except ImportError:
        expected = {}
        for line in EXPECTATIONS.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            expected[row["sha1"]] = row
    else:  # pragma: no cover - DataTrove is not a project dependency
        results, _ = compare.run_datatrove(__import__("sys").executable, [t for _, t in corpus])
        expected = {compare.sha1(t): r for (_, t), r in zip(corpus, results)}
    found = [(source, text, expected[compare.sha1(text)]) for source, text in corpus if compare.sha1(text) in expected]
    assert len(found) >= 0.95 * len(corpus), "texts changed (trafilatura version?): regenerate the expectations"
    assert len(found) >= 1000
    disagreements = []
    for source, text, dt in found:
        keep, reason, after = fineweb_decision(text)
        if (keep, reason) != (dt["keep"], dt["reason"]):
            disagreements.append((source, compare.sha1(text)[:12], reason, dt["reason"]))
        elif keep and dt.get("text_after_sha1"):
            assert compare.sha1(after) == dt["text_after_sha1"]
    assert not disagreements, disagreements[:10]
    assert {dt["reason"] for _, _, dt in found} >= {None, "lorem_ipsum", "dup_para_frac", "gopher_long_doc", "top_2_gram"}
