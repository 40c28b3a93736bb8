"""Rules as data: a named keep-condition over signal columns.

A rule is a small expression (`rps_doc_word_count >= 50 and rps_doc_mean_word_length <= max_len`) checked
once, at config time, against a whitelist of syntax, against bounds on its size and exponents, and against
the columns the run will produce; it is then compiled into a tree of small functions (no `eval`, no builtins)
evaluated per document. `params` give names to thresholds; a param may be a per-language mapping
(`{en: 0.65, de: 0.6, default: 0.5}`), resolved with the document's language. A document whose language has
no value and no `default` is not judged by that rule, nor is one outside the rule's `languages` (when given).

Evaluation never raises, whatever the signal values, because a run must not die after hours of work on one
odd document. Arithmetic is IEEE float64 (numpy scalars with floating-point errors ignored): `x / 0` is +-inf,
`0 / 0` NaN, overflow inf, and anything a rule cannot compute (a string in arithmetic, `len` of a number) is
NaN, which is what a missing signal already is. Comparisons with NaN are false (`!=` and `not in` true), so a
rule that compares an uncomputable value removes the document exactly as it would for a missing signal. No
Python integer arithmetic happens at all, so no expression can hang: `9 ** 9 ** 9` is refused at compile time
and `x ** y` with a huge `y` is inf.
"""

from __future__ import annotations

import ast
import math
import operator
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import numpy as np

_ALLOWED_NODES = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod, ast.FloorDiv, ast.Pow,
    ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
    ast.Name, ast.Load, ast.Constant, ast.List, ast.Tuple, ast.Set, ast.Call, ast.IfExp,
)
DEFAULT_KEY = "default"

# Bounds checked at compile time: a rule beyond them is a mistake, not a threshold.
MAX_LENGTH = 10_000  # characters of an expression
MAX_NODES = 2_000  # syntax-tree nodes (`language in [...]` with 200 languages is about 200)
MAX_DEPTH = 50  # nesting of the syntax tree (`a + b + c` is 3 deep)
MAX_EXPONENT = 100  # largest |exponent| written as a number (or a param) in `x ** n`
MAX_INTEGER = 2 ** 53  # largest |integer| a rule may write: float64 holds every integer up to it

_NAN = np.float64(math.nan)
Scope = Mapping[str, Any]
Evaluator = Callable[[Scope], Any]


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
    _evaluate: Evaluator | None = field(default=None, repr=False, compare=False)
    _uses_numpy: bool = field(default=False, repr=False, compare=False)

    def keep(self, values: Mapping[str, Any], language: str | None = None) -> bool:
        """True when the document passes (or the rule does not apply to its language). A missing or None
        value is NaN. Never raises, whatever the values."""
        if self.languages and language not in self.languages:
            return True
        try:
            return _truth(self._value(values, language))
        except _NotApplicable:
            return True

    def value(self, values: Mapping[str, Any], language: str | None = None) -> Any:
        """The expression's value for a document (what `keep` takes the truth of): NaN where it does not apply
        (another language, a param without a value for the document's language). Never raises."""
        if self.languages and language not in self.languages:
            return math.nan
        try:
            return self._value(values, language)
        except _NotApplicable:
            return math.nan

    def _value(self, values: Mapping[str, Any], language: str | None) -> Any:
        scope = {name: _resolve(self.params[name], language) for name in self.params}
        for column in self.columns:
            value = values.get(column)
            scope[column] = math.nan if value is None else value
        if not self._uses_numpy:
            return self._evaluate(scope)
        with np.errstate(all="ignore"):  # x/0, overflow, invalid: IEEE results, no warning, no exception
            return self._evaluate(scope)

    def __reduce__(self):  # the evaluator is closures: a pickled rule is compiled again
        return compile_rule, (self.name, self.expression, dict(self.params), None, tuple(self.languages))


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
    """Parse and check a rule; `available` is the set of column names the run produces. Every refusal is a
    RuleError of one line that starts with `rule <name>:`."""
    params = dict(params or {})
    tree = _parse(name, expression)
    for param, value in params.items():
        _check_integers(name, value, f"param {param}")
    callees = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise RuleError(f"rule {name}: {type(node).__name__} is not allowed in {_shown(expression)}")
        if isinstance(node, ast.Call):
            _check_call(name, node)
        elif isinstance(node, ast.Constant):
            _check_constant(name, node.value)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            _check_power(name, node, params)
        elif isinstance(node, ast.Name) and id(node) not in callees:
            names.add(node.id)
    columns = names - set(params)
    if available is not None:
        missing = sorted(columns - set(available))
        if missing:
            raise RuleError(f"rule {name}: unknown signal {missing[0]!r} (not produced by the enabled stages)")
    uses_numpy = any(isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Call)) for node in ast.walk(tree))
    return Rule(name=name, expression=expression, params=params, columns=frozenset(columns),
                languages=frozenset(languages), _evaluate=_build(tree.body), _uses_numpy=uses_numpy)


def first_failed(rules: Iterable[Rule], values: Mapping[str, Any], language: str | None) -> str | None:
    """Name of the first rule, in order, that the document fails; None when it passes them all."""
    for rule in rules:
        if not rule.keep(values, language):
            return rule.name
    return None


# --- compile-time checks ---------------------------------------------------------------------------------

def _parse(name: str, expression: str) -> ast.Expression:
    """The syntax tree, refused when the text or the tree is beyond the bounds (before anything recurses)."""
    if len(expression) > MAX_LENGTH:
        raise RuleError(f"rule {name}: the expression is {len(expression)} characters long (at most {MAX_LENGTH})")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise RuleError(f"rule {name}: cannot parse {_shown(expression)}: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # a NUL byte; nesting the parser cannot hold
        raise RuleError(f"rule {name}: cannot parse {_shown(expression)}: {exc}") from None
    nodes, stack = 0, [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise RuleError(f"rule {name}: the expression has more than {MAX_NODES} parts; split it into rules")
        if depth > MAX_DEPTH:
            raise RuleError(f"rule {name}: the expression nests more than {MAX_DEPTH} deep; split it into rules")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return tree


_FUNCTION_ARITY = {"abs": (1, 1), "len": (1, 1), "isnan": (1, 1), "min": (1, None), "max": (1, None)}


def _check_call(name: str, node: ast.Call) -> None:
    if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTION_ARITY or node.keywords:
        raise RuleError(f"rule {name}: only {', '.join(sorted(_FUNCTION_ARITY))} may be called")
    least, most = _FUNCTION_ARITY[node.func.id]
    if len(node.args) < least or (most is not None and len(node.args) > most):
        wanted = "one argument" if most == 1 else "at least one argument"
        raise RuleError(f"rule {name}: {node.func.id} takes {wanted}, not {len(node.args)}")


def _check_constant(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, (bool, int, float, str)):
        raise RuleError(f"rule {name}: the constant {value!r} is not a number, a string, True, False or None")
    _check_integers(name, value, "the constant")


def _check_integers(name: str, value: Any, where: str) -> None:
    """Integers a rule writes stay within float64's exact range (rules compute in float64, never in Python's
    unbounded integers); a param may be a per-language mapping or a list."""
    if isinstance(value, Mapping):
        for item in value.values():
            _check_integers(name, item, where)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_integers(name, item, where)
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
        raise RuleError(f"rule {name}: {where} {_number_text(value)} is an integer beyond 2**53; write a "
                        "large number as a float (1e20)")


def _check_power(name: str, node: ast.BinOp, params: Mapping[str, Any]) -> None:
    """No power in an exponent (`9 ** 9 ** 9`) and no exponent beyond MAX_EXPONENT written as a number or
    a param: both are mistakes, whose value in float64 would be inf, 0 or 1 for nearly every base."""
    text = _shown(ast.unparse(node))
    if any(isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.Pow) for inner in ast.walk(node.right)):
        raise RuleError(f"rule {name}: a power in an exponent is not allowed ({text}); write (a ** b) ** c "
                        "or compute the exponent as a signal")
    exponent, where = _literal(node.right), ""
    if exponent is None and isinstance(node.right, ast.Name) and node.right.id in params:
        exponent, where = params[node.right.id], f" (param {node.right.id})"
    values = exponent.values() if isinstance(exponent, Mapping) else [exponent]
    for value in values:
        if _is_number(value) and not abs(value) <= MAX_EXPONENT:
            raise RuleError(f"rule {name}: the exponent {_number_text(value)}{where} in {text} is beyond "
                            f"+-{MAX_EXPONENT}")


def _shown(text: str) -> str:
    """An expression in a one-line message: quoted, control characters escaped, cut at 100 characters."""
    return repr(text if len(text) <= 100 else text[:100] + "...")


def _number_text(value: Any) -> str:
    """A number in a message; an integer too long to show (or to turn into text at all) by its size."""
    return str(value) if not isinstance(value, int) or abs(value) < 10 ** 40 else "(over 40 digits)"


def _literal(node: ast.AST) -> Any:
    """The number a node writes (`3`, `-2.5`, `+1`), or None."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _literal(node.operand)
        if inner is None or isinstance(node.op, ast.UAdd):
            return inner
        return -inner if inner else -float(inner)  # `-0` is IEEE's negative zero (x / -0 is -inf), not int 0
    if isinstance(node, ast.Constant) and _is_number(node.value):
        return node.value
    return None


# --- evaluation: IEEE float64, NaN for what cannot be computed, never an exception ------------------------

def _float(value: Any) -> np.float64:
    """A value as float64 for arithmetic: a number as itself (an integer beyond float64 as +-inf), a bool as
    0 or 1, anything else (a string, a list, None) NaN."""
    if isinstance(value, (int, float, np.integer, np.floating, np.bool_)):
        try:
            return np.float64(value)
        except OverflowError:
            return np.float64(math.inf if value > 0 else -math.inf)
    return _NAN


def _truth(value: Any) -> bool:
    """Python's truth of a value: NaN is true (it is not zero), as in Python, numpy and C; a value with no
    truth (an array) counts as NaN."""
    try:
        return bool(value)
    except Exception:  # noqa: BLE001 - whatever a value does, a rule does not raise
        return True


def _arithmetic(operation: Callable[[Any, Any], Any]) -> Callable[[Any, Any], float]:
    def apply(left: Any, right: Any) -> float:
        return float(operation(_float(left), _float(right)))
    return apply


_BINARY = {op: _arithmetic(function) for op, function in {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}.items()}
_UNARY = {ast.USub: lambda value: float(-_float(value)), ast.UAdd: lambda value: float(_float(value)),
          ast.Not: lambda value: not _truth(value)}


def _member(item: Any, group: Any) -> bool:
    """`item in group` by `==` alone (Python's own `in` finds a NaN that is the same object: not IEEE)."""
    if isinstance(group, (list, tuple)):
        return any(item == member for member in group)
    return item in group  # a substring of a string


def _comparison(test: Callable[[Any, Any], Any], uncomputable: bool) -> Callable[[Any, Any], bool]:
    """A comparison that cannot be made (`x < 'en'`, `x in 3.0`) is a comparison with NaN: false, except for
    `!=` and `not in`."""
    def compare(left: Any, right: Any) -> bool:
        try:
            return bool(test(left, right))
        except Exception:  # noqa: BLE001
            return uncomputable
    return compare


_COMPARE = {ast.Eq: _comparison(operator.eq, False), ast.NotEq: _comparison(operator.ne, True),
            ast.Lt: _comparison(operator.lt, False), ast.LtE: _comparison(operator.le, False),
            ast.Gt: _comparison(operator.gt, False), ast.GtE: _comparison(operator.ge, False),
            ast.In: _comparison(lambda item, group: _member(item, group), False),
            ast.NotIn: _comparison(lambda item, group: not _member(item, group), True)}


def _abs(value: Any) -> float:
    return float(abs(_float(value)))


def _len(value: Any) -> Any:
    try:
        return len(value)
    except Exception:  # noqa: BLE001 - len of a number
        return math.nan


def _isnan(value: Any) -> bool:
    """A NaN number (a missing signal, an uncomputable value); a string or a list is not NaN."""
    if value is None:
        return True
    return isinstance(value, (int, float, np.integer, np.floating, np.bool_)) and bool(np.isnan(_float(value)))


def _extreme(reduce: Callable[[np.ndarray], Any]) -> Callable[..., float]:
    """min / max over numbers, of the arguments or of one list, as numpy's minimum / maximum: NaN when any
    is NaN (Python's own min(1, nan) is 1 but min(nan, 1) NaN) or when there are none."""
    def extreme(*args: Any) -> float:
        items = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
        if not items:
            return math.nan
        return float(reduce(np.array([_float(item) for item in items], dtype=np.float64)))
    return extreme


_FUNCTIONS = {"abs": _abs, "len": _len, "isnan": _isnan, "min": _extreme(np.minimum.reduce),
              "max": _extreme(np.maximum.reduce)}


def _build(node: ast.AST) -> Evaluator:
    """The node as a function of the scope (columns and resolved params). Compile-time checks come first:
    only whitelisted nodes reach here, nested at most MAX_DEPTH deep."""
    literal = _literal(node)
    if literal is not None or isinstance(node, ast.Constant):
        value = node.value if literal is None else literal
        return lambda scope: value
    if isinstance(node, ast.Name):
        key = node.id
        return lambda scope: scope[key]
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = [_build(item) for item in node.elts]
        if all(isinstance(item, ast.Constant) for item in node.elts):
            constant = tuple(item.value for item in node.elts)
            return lambda scope: constant
        return lambda scope: tuple(item(scope) for item in items)
    if isinstance(node, ast.BinOp):
        left, right, apply = _build(node.left), _build(node.right), _BINARY[type(node.op)]
        return lambda scope: apply(left(scope), right(scope))
    if isinstance(node, ast.UnaryOp):
        operand, apply = _build(node.operand), _UNARY[type(node.op)]
        return lambda scope: apply(operand(scope))
    if isinstance(node, ast.BoolOp):
        return _bool_op(isinstance(node.op, ast.And), [_build(value) for value in node.values])
    if isinstance(node, ast.Compare):
        return _chain([_build(node.left), *map(_build, node.comparators)], [_COMPARE[type(op)] for op in node.ops])
    if isinstance(node, ast.IfExp):
        test, body, orelse = _build(node.test), _build(node.body), _build(node.orelse)
        return lambda scope: body(scope) if _truth(test(scope)) else orelse(scope)
    if isinstance(node, ast.Call):
        function, args = _FUNCTIONS[node.func.id], [_build(arg) for arg in node.args]
        return lambda scope: function(*(arg(scope) for arg in args))
    raise AssertionError(f"unchecked node {type(node).__name__}")  # compile_rule's whitelist comes first


def _bool_op(conjunction: bool, parts: list[Evaluator]) -> Evaluator:
    """`and` / `or` as Python: the first operand that decides, else the last."""
    def evaluate(scope: Scope) -> Any:
        value = None
        for part in parts:
            value = part(scope)
            if _truth(value) != conjunction:
                return value
        return value
    return evaluate


def _chain(operands: list[Evaluator], tests: list[Callable[[Any, Any], bool]]) -> Evaluator:
    """`a < b <= c` as Python: each comparison in turn, each operand computed once, false at the first failure."""
    def evaluate(scope: Scope) -> bool:
        left = operands[0](scope)
        for test, operand in zip(tests, operands[1:]):
            right = operand(scope)
            if not test(left, right):
                return False
            left = right
        return True
    return evaluate

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
