"""FineWeb's rule chain (Gopher repetition -> Gopher quality -> C4 -> FineWeb) as a reference decision.

The pipeline expresses these same rules in YAML over stored signals; this module exists so tests and
``scripts/compare_datatrove.py`` can show that signals + rules reproduce DataTrove's filters. ``RULES``
lists every rule in FineWeb's order as (stage, DataTrove's removal reason, signal, operator, threshold):
a document is kept by a rule when ``signal <op> threshold`` holds.
"""

from __future__ import annotations

import operator

from beam_curation.filters.heuristics.c4 import c4_filter_lines
from beam_curation.filters.heuristics.fineweb_quality import fineweb_quality_signals
from beam_curation.filters.heuristics.gopher_quality import gopher_quality_signals
from beam_curation.filters.heuristics.gopher_repetition import gopher_repetition_signals
from beam_curation.filters.text.word_tokens import EnglishWordTokenizer, default_tokenizer

Rule = tuple[str, str, str, str, float]

RULES: tuple[Rule, ...] = (
    ("gopher_repetition", "dup_para_frac", "gopher_dup_para_frac", "<=", 0.3),
    ("gopher_repetition", "dup_para_char_frac", "gopher_dup_para_char_frac", "<=", 0.2),
    ("gopher_repetition", "dup_line_frac", "gopher_dup_line_frac", "<=", 0.3),
    ("gopher_repetition", "dup_line_char_frac", "gopher_dup_line_char_frac", "<=", 0.2),
    ("gopher_repetition", "top_2_gram", "gopher_top_2gram_char_frac", "<=", 0.20),
    ("gopher_repetition", "top_3_gram", "gopher_top_3gram_char_frac", "<=", 0.18),
    ("gopher_repetition", "top_4_gram", "gopher_top_4gram_char_frac", "<=", 0.16),
    ("gopher_repetition", "duplicated_5_n_grams", "gopher_dup_5gram_char_frac", "<=", 0.15),
    ("gopher_repetition", "duplicated_6_n_grams", "gopher_dup_6gram_char_frac", "<=", 0.14),
    ("gopher_repetition", "duplicated_7_n_grams", "gopher_dup_7gram_char_frac", "<=", 0.13),
    ("gopher_repetition", "duplicated_8_n_grams", "gopher_dup_8gram_char_frac", "<=", 0.12),
    ("gopher_repetition", "duplicated_9_n_grams", "gopher_dup_9gram_char_frac", "<=", 0.11),
    ("gopher_repetition", "duplicated_10_n_grams", "gopher_dup_10gram_char_frac", "<=", 0.10),
    ("gopher_quality", "gopher_short_doc", "gopher_word_count", ">=", 50),
    ("gopher_quality", "gopher_long_doc", "gopher_word_count", "<=", 100_000),
    ("gopher_quality", "gopher_below_avg_threshold", "gopher_mean_word_length", ">=", 3),
    ("gopher_quality", "gopher_above_avg_threshold", "gopher_mean_word_length", "<=", 10),
    ("gopher_quality", "gopher_too_many_hashes", "gopher_hash_to_word_ratio", "<=", 0.1),
    ("gopher_quality", "gopher_too_many_ellipsis", "gopher_ellipsis_to_word_ratio", "<=", 0.1),
    ("gopher_quality", "gopher_too_many_bullets", "gopher_bullet_lines_frac", "<=", 0.9),
    ("gopher_quality", "gopher_too_many_end_ellipsis", "gopher_ellipsis_lines_frac", "<=", 0.3),
    ("gopher_quality", "gopher_below_alpha_threshold", "gopher_alpha_words_frac", ">=", 0.8),
    ("gopher_quality", "gopher_enough_stop_words", "gopher_stop_word_count", ">=", 2),
    ("c4", "lorem_ipsum", "c4_lorem_ipsum", "==", 0),
    ("c4", "curly_bracket", "c4_curly_bracket", "==", 0),
    ("c4", "too_few_sentences", "c4_num_sentences", ">=", 5),
    ("fineweb", "empty", "fineweb_line_count", ">", 0),
    ("fineweb", "line_punct_ratio", "fineweb_line_punct_ratio", ">=", 0.12),
    ("fineweb", "short_line_ratio", "fineweb_short_line_frac", "<=", 0.67),
    ("fineweb", "char_dup_ratio", "fineweb_dup_line_char_frac", "<=", 0.01),
    ("fineweb", "list_ratio", "fineweb_newline_to_word_ratio", "<=", 0.3),
)

_OPERATORS = {"<=": operator.le, ">=": operator.ge, "==": operator.eq, ">": operator.gt}


def fineweb_signals(text: str, tokenizer: EnglishWordTokenizer | None = None) -> tuple[dict[str, float], str]:
    """Every signal of the chain for ``text`` (tokenized once) and the text after C4's line filter."""
    tokenizer = tokenizer or default_tokenizer()
    words = tokenizer.words(text)
    signals = gopher_repetition_signals(text, words=words)
    signals.update(gopher_quality_signals(text, words=words))
    c4 = c4_filter_lines(text, filter_no_terminal_punct=False, tokenizer=tokenizer, prefetch=False)
    signals.update(c4.signals)
    signals.update(fineweb_quality_signals(c4.text, word_count=c4.word_count))
    return signals, c4.text


def fineweb_decision(
    text: str, language: str = "en", tokenizer: EnglishWordTokenizer | None = None
) -> tuple[bool, str | None, str]:
    """(keep, DataTrove's removal reason or None, text after C4's line filter) for an English ``text``.

    An empty text is removed as ``empty`` (DataTrove's Gopher repetition filter does the same).
    """
    if language != "en":
        raise ValueError(f"the FineWeb chain here is English-only, got language={language!r}")
    if not text:
        return False, "empty", text
    signals, text_after = fineweb_signals(text, tokenizer)
    for _stage, reason, name, op, threshold in RULES:
        if not _OPERATORS[op](signals[name], threshold):
            return False, reason, text_after
    return True, None, text_after


def rule_expressions() -> list[str]:
    """The rules as ``signal <op> threshold`` strings, in FineWeb order (for configs and reports)."""
    return [f"{name} {op} {threshold}" for _stage, _reason, name, op, threshold in RULES]
