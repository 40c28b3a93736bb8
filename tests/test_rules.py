"""The rule language: what it accepts, how per-language params resolve, which rule is named."""

from __future__ import annotations

import math

import pytest

from beam_curation.filters.rules import RuleError, compile_rule, first_failed


def test_comparisons_boolean_logic_and_arithmetic():
    rule = compile_rule("r", "3 <= mean <= 10 and (words >= 50 or not short) and words * 2 > 10")
    assert rule.keep({"mean": 4.0, "words": 60, "short": True})
    assert not rule.keep({"mean": 11.0, "words": 60, "short": True})
    assert not rule.keep({"mean": 4.0, "words": 10, "short": True})
    assert rule.columns == {"mean", "words", "short"}


def test_membership_and_functions():
    rule = compile_rule("lang", "language in ['en', 'de'] and isnan(blocked) and max(a, b) < 1")
    assert rule.keep({"language": "en", "blocked": math.nan, "a": 0.2, "b": 0.5})
    assert not rule.keep({"language": "fr", "blocked": math.nan, "a": 0.2, "b": 0.5})
    assert not rule.keep({"language": "en", "blocked": 3.0, "a": 0.2, "b": 0.5})


def test_per_language_params_and_default():
    rule = compile_rule("score", "language_score >= t", {"t": {"en": 0.65, "default": 0.5}})
    assert not rule.keep({"language_score": 0.6}, "en")
    assert rule.keep({"language_score": 0.6}, "de")
    strict = compile_rule("score", "language_score >= t", {"t": {"en": 0.65}})
    assert strict.keep({"language_score": 0.1}, "de"), "no value for the language: the rule does not judge"


def test_languages_restrict_a_rule():
    rule = compile_rule("words", "words >= 50", languages=["en"])
    assert not rule.keep({"words": 3}, "en")
    assert rule.keep({"words": 3}, "zh")


def test_first_failed_names_the_first_rule_in_order():
    rules = [compile_rule("a", "x > 0"), compile_rule("b", "y > 0"), compile_rule("c", "x > 10")]
    assert first_failed(rules, {"x": 1, "y": 1}, None) == "c"
    assert first_failed(rules, {"x": 0, "y": 0}, None) == "a"
    assert first_failed(rules, {"x": 11, "y": 1}, None) is None


@pytest.mark.parametrize("expression", ["__import__('os')", "x.real > 0", "[y for y in z]", "lambda: 1",
                                        "open('f')", "x[0] > 1"])
def test_anything_beyond_the_whitelist_is_refused(expression):
    with pytest.raises(RuleError):
        compile_rule("bad", expression)


def test_unknown_columns_are_refused_when_the_available_set_is_known():
    with pytest.raises(RuleError, match="unknown signal 'wrods'"):
        compile_rule("typo", "wrods > 3", available={"words"})
    with pytest.raises(RuleError, match="cannot parse"):
        compile_rule("syntax", "words >", available={"words"})
