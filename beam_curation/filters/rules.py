"""Rules as data: a named keep-condition over signal columns.

A rule is a small expression (`rps_doc_word_count >= 50 and rps_doc_mean_word_length <= max_len`) checked
once, at config time, against a whitelist of syntax and against the columns the run will produce; it is then
compiled to a code object and evaluated per document with no access to builtins. `params` give names to
thresholds; a param may be a per-language mapping (`{en: 0.65, de: 0.6, default: 0.5}`), resolved with the
document's language. A document whose language has no value and no `default` is not judged by that rule,
nor is one outside the rule's `languages` (when given).
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

_ALLOWED_NODES = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod, ast.FloorDiv, ast.Pow,
    ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
    ast.Name, ast.Load, ast.Constant, ast.List, ast.Tuple, ast.Set, ast.Call, ast.IfExp,
)
_FUNCTIONS = {"abs": abs, "min": min, "max": max, "len": len, "isnan": math.isnan}
DEFAULT_KEY = "default"


class RuleError(ValueError):
    """A rule that cannot be compiled or names a column the run does not produce."""


class _NotApplicable(Exception):
    pass


@dataclass(frozen=True)
class Rule:
    name: str
    expression: str
    params: Mapping[str, Any] = field(default_factory=dict)
    columns: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    _code: Any = field(default=None, repr=False, compare=False)

    def keep(self, values: Mapping[str, Any], language: str | None = None) -> bool:
        """True when the document passes (or the rule does not apply to its language)."""
        if self.languages and language not in self.languages:
            return True
        try:
            scope = {name: _resolve(self.params[name], language) for name in self.params}
        except _NotApplicable:
            return True
        for column in self.columns:
            scope[column] = values[column]
        scope.update(_FUNCTIONS)
        return bool(eval(self._code, {"__builtins__": {}}, scope))  # noqa: S307 - whitelisted AST only


def _resolve(value: Any, language: str | None) -> Any:
    if isinstance(value, Mapping):
        if language in value:
            return value[language]
        if DEFAULT_KEY in value:
            return value[DEFAULT_KEY]
        raise _NotApplicable
    return value


def compile_rule(name: str, expression: str, params: Mapping[str, Any] | None = None,
                 available: Iterable[str] | None = None, languages: Iterable[str] = ()) -> Rule:
    """Parse and check a rule; `available` is the set of column names the run produces."""
    params = dict(params or {})
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise RuleError(f"rule {name}: cannot parse {expression!r}: {exc.msg}") from None
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise RuleError(f"rule {name}: {type(node).__name__} is not allowed in {expression!r}")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS or node.keywords:
                raise RuleError(f"rule {name}: only {', '.join(sorted(_FUNCTIONS))} may be called")
        if isinstance(node, ast.Name):
            names.add(node.id)
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call)}
    columns = names - set(params) - called
    if available is not None:
        missing = sorted(columns - set(available))
        if missing:
            raise RuleError(f"rule {name}: unknown signal {missing[0]!r} (not produced by the enabled stages)")
    code = compile(tree, f"<rule {name}>", "eval")
    return Rule(name=name, expression=expression, params=params, columns=frozenset(columns),
                languages=frozenset(languages), _code=code)


def first_failed(rules: Iterable[Rule], values: Mapping[str, Any], language: str | None) -> str | None:
    """Name of the first rule, in order, that the document fails; None when it passes them all."""
    for rule in rules:
        if not rule.keep(values, language):
            return rule.name
    return None


_FLIPPED = {ast.Lt: ">", ast.LtE: ">=", ast.Gt: "<", ast.GtE: "<=", ast.Eq: "==", ast.NotEq: "!="}
_OPERATORS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}


@dataclass(frozen=True)
class Comparison:
    """`column operator value` as a rule writes it (`3 <= x` is `x >= 3`); `value` is a number or a
    per-language mapping of numbers (a param)."""

    column: str
    operator: str
    value: Any


def comparisons(rule: Rule) -> list[Comparison]:
    """Every comparison of a signal column with a number or a numeric param in `rule`: what a
    report draws as the rule's thresholds. Comparisons of expressions (`abs(x) < 3`, `x / y > 2`) are not
    thresholds on one signal and are left out."""
    found = []
    for node in ast.walk(ast.parse(rule.expression.strip(), mode="eval")):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for left, op, right in zip(operands, node.ops, operands[1:]):
            if type(op) not in _OPERATORS:
                continue
            if _column(left, rule) is not None and _number(right, rule) is not None:
                found.append(Comparison(_column(left, rule), _OPERATORS[type(op)], _number(right, rule)))
            elif _column(right, rule) is not None and _number(left, rule) is not None:
                found.append(Comparison(_column(right, rule), _FLIPPED[type(op)], _number(left, rule)))
    return found


def _column(node: ast.AST, rule: Rule) -> str | None:
    return node.id if isinstance(node, ast.Name) and node.id in rule.columns else None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(node: ast.AST, rule: Rule) -> Any:
    """A number, or a numeric param (scalar or per-language mapping) the node stands for; None otherwise."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _number(node.operand, rule)
        if _is_number(inner):
            return -inner if isinstance(node.op, ast.USub) else inner
        return None
    if isinstance(node, ast.Constant) and _is_number(node.value):
        return node.value
    if isinstance(node, ast.Name) and node.id in rule.params:
        value = rule.params[node.id]
        if _is_number(value):
            return value
        if isinstance(value, Mapping) and value and all(_is_number(v) for v in value.values()):
            return dict(value)
    return None
