"""The rule language: what it accepts, how per-language params resolve, which rule is named, and that it never
raises: IEEE float64 arithmetic, NaN for what cannot be computed, bounds refused at compile time."""

from __future__ import annotations

import functools
import json
import math
import pickle
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beam_curation.filters.rules import RuleError, compile_rule, first_failed
from conftest import REPO, assert_conservation, read_folder

SAMPLE_DOCS = 55  # HTML responses in sample/*.warc.gz (see sample/README.md)


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


# --- rules never raise: IEEE float64 arithmetic, NaN for what cannot be computed, bounds checked at compile ---

INF = {"inf": math.inf}  # a param: rules have no name for infinity


def test_the_issue_division_rule_is_ieee_and_removes_a_zero_stop_word_page():
    """The issue's rule died with ZeroDivisionError on a Chinese page (stop-word fraction 0). Now x/0 is +inf,
    inf < 100 is false: the page fails the rule, as any comparison that reads a non-finite value does."""
    rule = compile_rule("ratio", "rps_doc_mean_word_length / rps_doc_stop_word_fraction < 100")
    assert rule.keep({"rps_doc_mean_word_length": 4.5, "rps_doc_stop_word_fraction": 0.3})
    assert not rule.keep({"rps_doc_mean_word_length": 4.5, "rps_doc_stop_word_fraction": 0.0})
    assert not rule.keep({"rps_doc_mean_word_length": 0.0, "rps_doc_stop_word_fraction": 0.0}), "0/0 is NaN"
    assert not rule.keep({"rps_doc_mean_word_length": 4.5, "rps_doc_stop_word_fraction": math.nan}), "missing"
    negated = compile_rule("ratio", "not (rps_doc_mean_word_length / rps_doc_stop_word_fraction >= 100)")
    assert negated.keep({"rps_doc_mean_word_length": 0.0, "rps_doc_stop_word_fraction": 0.0})


@pytest.mark.parametrize("expression, x, y", [
    ("x / y == inf", 1.0, 0.0), ("x / y == -inf", -1.0, 0.0), ("x / y == -inf", 1.0, -0.0),
    ("isnan(x / y)", 0.0, 0.0), ("isnan(x / y)", math.inf, math.inf),
    ("x // y == inf", 3.0, 0.0), ("x // y == -inf", -3.0, 0.0), ("isnan(x // y)", 0.0, 0.0),
    ("isnan(x % y)", 3.0, 0.0), ("isnan(x % y)", math.inf, 2.0), ("x % y == 1", -5.0, 3.0),
    ("x * y == inf", 1e308, 10.0), ("x + y == -inf", -1e308, -1e308), ("x - y == inf", 1e308, -1e308),
    ("x ** y == inf", 10.0, 999999999.0), ("x ** y == 0", 0.5, 999999999.0), ("x ** y == -inf", -10.0, 999999999.0),
    ("x ** y == inf", 0.0, -1.0), ("isnan(x ** y)", -8.0, 1 / 3), ("x ** y == 1", math.nan, 0.0),
    ("isnan(x + y)", math.nan, 1.0), ("isnan(x * y)", math.inf, 0.0), ("isnan(x - y)", math.inf, math.inf),
    ("isnan(-x + y)", math.nan, 0.0), ("isnan(abs(x) + y)", math.nan, 0.0),
    ("isnan(min(x, y))", 1.0, math.nan), ("isnan(max(x, y))", math.nan, 1.0), ("min([x, y]) == -inf", 1.0, -math.inf),
])
def test_arithmetic_is_ieee_float64(expression, x, y):
    assert compile_rule("r", expression, INF).keep({"x": x, "y": y}), expression


@pytest.mark.parametrize("expression", ["x < 1", "x <= 1", "x > 1", "x >= 1", "x == x", "1 < x < 2", "x in [x, 1]"])
def test_comparisons_with_nan_are_false(expression):
    assert not compile_rule("r", expression).keep({"x": math.nan})
    assert compile_rule("r", f"not ({expression})").keep({"x": math.nan})


def test_nan_is_not_equal_to_anything():
    assert compile_rule("r", "x != 1 and x != x and x not in [1, 2]").keep({"x": math.nan})


@pytest.mark.parametrize("expression, values, keeps", [
    ("language * 2 > 1", {"language": "en"}, False),  # a string in arithmetic: NaN
    ("isnan(language + 1)", {"language": "en"}, True),
    ("isnan(language)", {"language": "en"}, False),  # a string is not a NaN number
    ("len(x) > 0", {"x": 3.0}, False),  # len of a number: NaN
    ("isnan(len(x))", {"x": 3.0}, True),
    ("len(x) == 2", {"x": "en"}, True),
    ("x < 'en'", {"x": 3.0}, False),  # an ordering that cannot be made: a comparison with NaN
    ("x != 'en'", {"x": 3.0}, True),
    ("x in y", {"x": 3.0, "y": 4.0}, False),  # membership in a number: cannot be made
    ("x not in y", {"x": 3.0, "y": 4.0}, True),
    ("x + y > 1", {"x": None, "y": 3.0}, False),  # None, as the Decider passes a missing value: NaN
    ("isnan(x)", {}, True),  # a column absent from the values: missing, NaN
    ("x * 2 == inf", {"x": 10 ** 400}, True),  # an integer beyond float64: +inf in arithmetic
    ("x + 1 == 2", {"x": True}, True),
    ("isnan(x ** 0.5)", {"x": -4}, True),  # Python would give a complex number
])
def test_a_value_that_cannot_be_computed_is_nan(expression, values, keeps):
    assert compile_rule("r", expression, INF).keep(values) is keeps


def test_nan_is_true_as_a_bare_value_as_in_python():
    """A rule's value is kept when true; NaN (not zero) is true, as in Python, numpy and C: the rest of the system
    has always passed missing values into rules as NaN, and this stays so. Rules compare, or test isnan."""
    assert compile_rule("r", "x / y").keep({"x": 0.0, "y": 0.0})
    assert not compile_rule("r", "not (x / y)").keep({"x": 0.0, "y": 0.0})
    assert not compile_rule("r", "x - y").keep({"x": 2.0, "y": 2.0})


def test_a_power_with_a_huge_exponent_from_a_signal_is_inf_at_once():
    """`9 ** 9 ** 9` hung in Python's integers; from signals, the same power is float64 and ends at once."""
    rule = compile_rule("r", "(a ** b) ** c > x and a ** c > x")
    started = time.perf_counter()
    assert rule.keep({"a": 9, "b": 9, "c": 387420489, "x": 1e308})
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("expression, message", [
    ("x ** 999999999", r"^rule bad: the exponent 999999999 in 'x \*\* 999999999' is beyond \+-100$"),
    ("9 ** 9 ** 9 > x", r"^rule bad: a power in an exponent is not allowed \('9 \*\* 9 \*\* 9'\); write \(a \*\* b\) "
                        r"\*\* c or compute the exponent as a signal$"),
    ("x ** (y + 2 ** z) > 1", r"^rule bad: a power in an exponent is not allowed"),
    ("x ** -101 > 0", r"^rule bad: the exponent -101 in 'x \*\* \(-101\)' is beyond \+-100$"),
    ("x ** p > 0", r"^rule bad: the exponent 1000 \(param p\) in 'x \*\* p' is beyond \+-100$"),
    ("x > 100000000000000000000", r"^rule bad: the constant 100000000000000000000 is an integer beyond 2\*\*53; "
                                  r"write a large number as a float \(1e20\)$"),
    ("x * 1j > 0", r"^rule bad: the constant 1j is not a number, a string, True, False or None$"),
    ("abs(x, y) > 0", r"^rule bad: abs takes one argument, not 2$"),
    ("max() > 0", r"^rule bad: max takes at least one argument, not 0$"),
    (" + ".join(["x"] * 60) + " > 0", r"^rule bad: the expression nests more than 50 deep; split it into rules$"),
    ("x in [" + ", ".join(["1"] * 2100) + "]", r"^rule bad: the expression has more than 2000 parts; split it"),
    ("x > 1" + " and x > 1" * 1200, r"^rule bad: the expression is 12005 characters long \(at most 10000\)$"),
    ("(" * 300 + "x" + ")" * 300, r"^rule bad: cannot parse '\(\(\(.*\.\.\.': too many nested parentheses$"),
])
def test_bounds_and_mistakes_are_refused_at_compile_time_in_one_line(expression, message):
    with pytest.raises(RuleError, match=message) as refused:
        compile_rule("bad", expression, {"p": {"en": 2, "de": 1000}})
    assert "\n" not in str(refused.value)


def test_an_integer_param_beyond_float64_is_refused():
    with pytest.raises(RuleError, match=r"^rule bad: param q 10000000000000000000000 is an integer beyond 2\*\*53"):
        compile_rule("bad", "x > q", {"q": {"en": 10 ** 22}})


def test_powers_within_the_bounds_compile():
    rule = compile_rule("ok", "x ** 2 + x ** -1 + x ** 0.5 + (x ** 2) ** 3 + x ** p > 0", {"p": {"en": 3}})
    assert rule.keep({"x": 2.0}, "en")


def test_a_refused_rule_ends_the_run_at_start_with_one_line(tmp_path, minimal_config, capsys, in_repo):
    """`run` with the issue's exponent: exit 2, one line on stderr naming the rule, nothing created."""
    from beam_curation.pipeline.cli import main

    out = tmp_path / "out"
    rule = 'filters.rules=[{name: huge_power, keep: "rps_doc_word_count ** 999999999 > 1"}]'
    assert main(["run", "--config", str(minimal_config), "--input", "sample/*.warc.gz", "--output", str(out),
                 "--set", rule]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "config error: filters.rules: rule huge_power: the exponent 999999999 in "
        "'rps_doc_word_count ** 999999999' is beyond +-100"]
    assert not out.exists()


def test_a_pickled_rule_is_the_same_rule():
    rule = compile_rule("r", "x / y < t", {"t": {"en": 2.0, "default": 1.0}}, languages=["en", "de"])
    again = pickle.loads(pickle.dumps(rule))
    assert again == rule
    for values in ({"x": 1.0, "y": 0.0}, {"x": 3.0, "y": 2.0}, {"x": 1.0, "y": 2.0}):
        for language in ("en", "de", "fr"):
            assert again.keep(values, language) == rule.keep(values, language)


# Fuzzing: random values (NaN, inf, 0, -0, huge, tiny, negative, huge integers, strings, lists, None) into
# random small expressions of the whole grammar. Compiling raises only RuleError; evaluating never raises, never
# warns, and gives a bool.

NUMBERS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [0.0, -0.0, 1e308, -1e308, 5e-324, math.nan, math.inf, -math.inf]) | st.integers()
VALUES = NUMBERS | st.booleans() | st.none() | st.text(max_size=3) | st.lists(NUMBERS, max_size=3)
LITERALS = st.sampled_from(["0", "1", "-3", "0.5", "100", "1e308", "1e-320", "1e999", "'en'", "True", "None"]) | \
    st.floats(allow_nan=False, allow_infinity=False).map(repr) | st.integers(-2 ** 53, 2 ** 53).map(str)
LEAVES = st.sampled_from(["x", "y", "z", "p"]) | LITERALS
ARITHMETIC = ["+", "-", "*", "/", "//", "%", "**"]
COMPARE = ["<", "<=", ">", ">=", "==", "!=", "in", "not in"]


def _grow(inner):
    def binary(parts):
        return f"({parts[0]} {parts[1]} {parts[2]})"

    return st.one_of(
        st.tuples(inner, st.sampled_from(ARITHMETIC + COMPARE + ["and", "or"]), inner).map(binary),
        st.tuples(st.sampled_from(["-", "+", "not "]), inner).map(lambda p: f"({p[0]}{p[1]})"),
        st.tuples(st.sampled_from(["abs", "len", "isnan"]), inner).map(lambda p: f"{p[0]}({p[1]})"),
        st.tuples(st.sampled_from(["min", "max"]), st.lists(inner, min_size=1, max_size=3)).map(
            lambda p: f"{p[0]}({', '.join(p[1])})"),
        st.lists(inner, max_size=3).map(lambda items: f"[{', '.join(items)}]"),
        st.tuples(inner, inner, inner).map(lambda p: f"({p[0]} if {p[1]} else {p[2]})"),
        st.tuples(inner, st.sampled_from(COMPARE[:4]), inner, st.sampled_from(COMPARE[:4]), inner).map(
            lambda p: f"({' '.join(p)})"),
    )


EXPRESSIONS = st.recursive(LEAVES, _grow, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(expression=EXPRESSIONS, x=VALUES, y=VALUES, z=VALUES, p=VALUES | st.dictionaries(
    st.sampled_from(["en", "default"]), NUMBERS, max_size=2), language=st.sampled_from([None, "en", "de"]))
def test_fuzz_evaluation_never_raises(expression, x, y, z, p, language):
    try:
        rule = compile_rule("fuzz", expression, {"p": p})
    except RuleError as exc:
        assert "\n" not in str(exc)
        return
    with warnings.catch_warnings(), np.errstate(all="raise"):  # the rule's own float handling must hold
        warnings.simplefilter("error")
        kept = rule.keep({"x": x, "y": y, "z": z}, language)
        assert first_failed([rule], {"x": x, "y": y, "z": z}, language) == (None if kept else "fuzz")
    assert kept is True or kept is False


@settings(max_examples=300, deadline=None)
@given(text=st.lists(st.sampled_from(list("xy0129e.+-*/%()<>=! ,[]'") + ["**", " and ", " not ", "abs", " if ",
                                                                           " else ", " in "]), max_size=30
                    ).map("".join) | st.text(max_size=40))
def test_fuzz_compiling_raises_only_rule_errors(text):
    try:
        rule = compile_rule("fuzz", text)
    except RuleError as exc:
        assert str(exc).startswith("rule fuzz: ") and "\n" not in str(exc)
        return
    with np.errstate(all="raise"):
        assert rule.keep({c: 0.0 for c in rule.columns}) in (True, False)


# The arithmetic against numpy's own: a numeric expression's value as a rule sees it equals the same expression
# computed with numpy's ufuncs on float64 arrays (a separate path from the rules' scalar operators).

UFUNCS = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.true_divide, "//": np.floor_divide,
          "%": np.remainder, "**": np.power}
VARIABLES = st.sampled_from(["x", "y", "z"]).map(lambda name: (name, lambda v, n=name: v[n]))


def _constants(*texts: str):
    return st.sampled_from(texts).map(lambda text: (text, lambda v, c=float(text.strip("()")): np.array([c])))


NUMERIC_LEAVES = VARIABLES | _constants("0", "1", "2", "(-3)", "0.5", "7.25", "1e308", "1e-320", "(-1e-320)")
EXPONENTS = VARIABLES | _constants("0", "1", "2", "(-3)", "0.5", "(-0.5)", "100")  # within the bound


def _numeric(inner):
    def binary(parts):
        (left, f), op, (right, g) = parts
        return f"({left} {op} {right})", lambda v: UFUNCS[op](f(v), g(v))

    def power(parts):  # exponents are leaves: a power in an exponent is refused at compile time
        (base, f), (exponent, g) = parts
        return f"({base} ** {exponent})", lambda v: np.power(f(v), g(v))

    def call(parts):
        name, args = parts
        texts, functions = zip(*args)
        if name == "abs":
            return f"abs({texts[0]})", lambda v: np.abs(functions[0](v))
        reduce = np.minimum if name == "min" else np.maximum
        return f"{name}({', '.join(texts)})", lambda v: functools.reduce(reduce, [fn(v) for fn in functions])

    return st.one_of(
        st.tuples(inner, st.sampled_from(ARITHMETIC[:-1]), inner).map(binary),
        st.tuples(inner, EXPONENTS).map(power),
        inner.map(lambda p: (f"(-{p[0]})", lambda v, f=p[1]: np.negative(f(v)))),
        st.tuples(st.sampled_from(["abs", "min", "max"]), st.lists(inner, min_size=1, max_size=3)).map(call),
    )


def _as_float(value: float | int) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer beyond float64
        return math.copysign(math.inf, value)


@settings(max_examples=300, deadline=None)
@given(expression=st.recursive(NUMERIC_LEAVES, _numeric, max_leaves=10), x=NUMBERS, y=NUMBERS, z=NUMBERS)
def test_fuzz_arithmetic_equals_numpy_float64(expression, x, y, z):
    text, reference = expression
    floats = {name: _as_float(value) for name, value in {"x": x, "y": y, "z": z}.items()}
    with np.errstate(all="ignore"):
        want = float(reference({name: np.array([value]) for name, value in floats.items()})[0])
    values = {"x": x, "y": y, "z": z}
    assert compile_rule("nan", f"isnan({text})").keep(values) is math.isnan(want), text
    if not math.isnan(want):
        assert compile_rule("equal", f"{text} == want", {"want": want}).keep(values), (text, want)


@pytest.mark.slow
def test_a_run_with_the_issue_division_rule_completes(tmp_path):
    """The issue's run: the default config on the sample (non-English pages have stop-word fraction 0) with
    the division rule. It completes (exit 0, no traceback), conserves every document, and the pages whose
    fraction is 0 are removed by the rule (x/0 is inf, inf < 100 is false)."""
    out = tmp_path / "out"
    rule = 'filters.rules=[{name: ratio, keep: "rps_doc_mean_word_length / rps_doc_stop_word_fraction < 100"}]'
    done = subprocess.run([sys.executable, "-m", "beam_curation", "run", "--config", "configs/default.yaml",
                           "--output", str(out), "--set", rule], cwd=REPO, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert_conservation(out, SAMPLE_DOCS)
    removed_by = {r["id"]: r["removed_by"] for r in read_folder(out, "removed")}
    kept = {r["id"] for r in read_folder(out, "documents")}
    zero = [r["id"] for r in read_folder(out, "signals")
            if r["rps_doc_stop_word_fraction"] == 0 and r["rps_doc_mean_word_length"] > 0]
    judged = [doc for doc in zero if removed_by.get(doc) not in {"langid"}]  # the langid rule comes first
    assert len(judged) >= 5, "the sample has non-English pages with stop-word fraction 0"
    assert all(removed_by.get(doc) == "ratio" for doc in judged) and not kept & set(judged)
    assert json.loads((out / "stats.json").read_text())["removed"]["ratio"] >= len(judged)
