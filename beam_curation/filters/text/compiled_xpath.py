"""trafilatura's pruning XPaths, compiled to Python over lxml elements: same elements, a fraction of the CPU.

Over half of trafilatura's CPU on a web page goes to the XPath lists it prunes boilerplate with: libxml2 walks
the tree once per expression and calls back into Python for every `re:test` on every element, attributes or
not. The subset those expressions use (descendant steps, `self::` tests, attribute presence and equality,
`contains`, `starts-with`, `translate`, EXSLT `re:test`, `not`, `and`, `or`, unions) is small, so each one is
parsed here from trafilatura's own source text into one Python function that walks the candidate elements
once, reading each element's attributes once and deciding each distinct (tag, attributes) once. XPath's
semantics are kept exactly: the string of an attribute union is the value of its first attribute in document
(source) order, or ''; a node-set equals a string when any node does; `re:test` is `re.search`, as lxml's
EXSLT is. Anything outside the subset (positions, numbers, other axes or functions) raises `Unsupported`, and
that expression stays lxml's.

`compile_trafilatura()` swaps the compiled forms in for the XPath objects trafilatura's modules hold (its
pruning lists in place, so every module that imported them gets them). Tests hold every compiled expression
equal to lxml's, element for element at every call during extraction, on real pages, and the extracted text
byte-identical.
"""

from __future__ import annotations

import logging
import re
from typing import Callable

from lxml import etree

logger = logging.getLogger(__name__)

_TOKEN = re.compile(r"""\s*(?:
    (?P<string>'[^']*'|"[^"]*")
  | (?P<number>\d+(?:\.\d*)?)
  | (?P<op>\.//|//|::|!=|[\[\]()|,=@*/.])
  | (?P<name>[A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?)
)""", re.VERBOSE)


class Unsupported(ValueError):
    """The expression uses XPath beyond the compiled subset; lxml keeps evaluating it."""


def _tokens(path: str) -> list[tuple[str, str]]:
    tokens, position, path = [], 0, path.rstrip()
    while position < len(path):
        match = _TOKEN.match(path, position)
        if not match:
            raise Unsupported(f"cannot read {path[position:position + 20]!r}")
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        position = match.end()
    return tokens + [("end", "")]


# Values while parsing: ("attributes", names) a node-set of the element's attributes; ("literal", text);
# ("string", code) and ("boolean", code) Python expressions over `element`, `tag` and `attributes` (a dict
# of the element's attributes in source order); ("self", names) a `self::` test, kept as names so a step
# walks only those elements.

def _first_in_order(attributes: dict, names: tuple[str, ...]) -> str:
    """XPath's string() of `@a|@b`: the first of them in the element's source order, or ''."""
    for name in attributes:
        if name in names:
            return attributes[name]
    return ""


class _Compiler:
    """Recursive descent over the subset, emitting one Python function per location step."""

    def __init__(self, path: str):
        self.path = path
        self.tokens = _tokens(path)
        self.at = 0
        self.constants: list = []
        self.uses_descendants = False

    # tokens

    def peek(self, offset: int = 0) -> tuple[str, str]:
        return self.tokens[min(self.at + offset, len(self.tokens) - 1)]

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        token_kind, token = self.peek()
        if (value is not None and token != value) or (kind is not None and token_kind != kind):
            raise Unsupported(f"expected {value or kind}, found {token!r} in {self.path!r}")
        self.at += 1
        return token

    def at_op(self, value: str) -> bool:
        return self.peek() == ("op", value)

    def constant(self, value) -> str:
        self.constants.append(value)
        return f"K[{len(self.constants) - 1}]"

    # location paths

    def union(self) -> Callable[[etree._Element], list]:
        """The whole expression as one walk: an element is selected when any step of the union selects it
        (each step is `.//` from the same context, so their union in document order is that walk's order)."""
        steps = [self.step()]
        while self.at_op("|"):
            self.take("|")
            steps.append(self.step())
        self.take(kind="end")
        if any(names is None for names, _ in steps):
            names = None
        else:
            names = tuple(dict.fromkeys(name for step_names, _ in steps for name in step_names))
        if len(steps) == 1:
            condition = steps[0][1]  # the walk visits only the step's names already
        else:
            condition = " or ".join(
                f"({step_condition})" if step_names is None
                else f"tag in {step_names!r}" if step_condition is None
                else f"(tag in {step_names!r} and ({step_condition}))"
                for step_names, step_condition in steps)
        if condition is None:
            return _walk(names)
        return self.function(names, condition)

    def step(self) -> tuple[tuple[str, ...] | None, str | None]:
        """(the names a step selects from, None for any element; its condition as Python, None for none)."""
        self.take(".//")
        test = "*" if self.at_op("*") else self.peek()[1]
        self.take(kind="op" if test == "*" else "name")
        names = None if test == "*" else (test,)
        conditions = []
        while self.at_op("["):
            self.take("[")
            value = self.disjunction()
            self.take("]")
            if value[0] == "self" and names is None and not conditions:
                names = value[1]
            else:
                conditions.append(self.boolean(value))
        return names, (" and ".join(f"({c})" for c in conditions) if conditions else None)

    def function(self, names: tuple[str, ...] | None, condition: str) -> Callable:
        """The walk as Python: over the candidates, each one's attributes read once, each distinct (tag,
        attributes) decided once unless the condition also looks below the element."""
        candidates = "context.iterdescendants(*NAMES)" if names else "context.iterdescendants(ELEMENT)"
        if self.uses_descendants:  # the answer depends on more than the element's own tag and attributes
            loop = [
                "        attributes = dict(element.items())",
                f"        if {condition}:",
                "            append(element)",
            ]
        else:  # decided once per distinct (tag, attributes) in the walk
            loop = [
                "        key = (tag, tuple(element.items()))",
                "        hit = seen.get(key)",
                "        if hit is None:",
                "            attributes = dict(key[1])",
                f"            hit = seen[key] = bool({condition})",
                "        if hit:",
                "            append(element)",
            ]
        source = "\n".join([
            "def evaluate(context):",
            "    found = []",
            "    append = found.append",
            "    seen = {}",
            f"    for element in {candidates}:",
            "        tag = element.tag",
            *loop,
            "    return found",
        ])
        scope = {"K": self.constants, "NAMES": names, "ELEMENT": etree.Element, "_first_in_order": _first_in_order}
        exec(compile(source, f"<xpath {self.path.strip()[:60]}>", "exec"), scope)
        return scope["evaluate"]

    # expressions

    def disjunction(self):
        terms = [self.conjunction()]
        while self.peek() == ("name", "or"):
            self.take("or")
            terms.append(self.conjunction())
        if len(terms) == 1:
            return terms[0]
        if all(term[0] == "self" for term in terms):
            return ("self", tuple(name for term in terms for name in term[1]))
        return ("boolean", " or ".join(f"({self.boolean(term)})" for term in terms))

    def conjunction(self):
        terms = [self.comparison()]
        while self.peek() == ("name", "and"):
            self.take("and")
            terms.append(self.comparison())
        if len(terms) == 1:
            return terms[0]
        return ("boolean", " and ".join(f"({self.boolean(term)})" for term in terms))

    def comparison(self):
        left = self.primary()
        if not (self.at_op("=") or self.at_op("!=")):
            return left
        operator = self.take()
        right = self.primary()
        if operator != "=" or left[0] != "attributes" or right[0] != "literal":
            raise Unsupported(f"only @attribute = 'literal' is compiled, in {self.path!r}")
        return ("boolean", " or ".join(f"attributes.get({name!r}) == {right[1]!r}" for name in left[1]))

    def primary(self):
        kind, token = self.peek()
        if kind == "string":
            self.take()
            return ("literal", token[1:-1])
        if (kind, token) == ("op", "("):
            self.take("(")
            inner = self.disjunction()
            self.take(")")
            return inner
        if (kind, token) == ("op", "@"):
            names = [self.attribute()]
            while self.at_op("|") and self.peek(1) == ("op", "@"):
                self.take("|")
                names.append(self.attribute())
            return ("attributes", tuple(names))
        if (kind, token) == ("op", ".//"):
            self.take(".//")
            name = self.take(kind="name")
            if self.at_op("[") or self.at_op("/") or self.at_op("//"):
                raise Unsupported(f"only a bare .//name is compiled inside a predicate, in {self.path!r}")
            self.uses_descendants = True
            return ("boolean", f"next(element.iterdescendants({name!r}), None) is not None")
        if kind == "name" and self.peek(1) == ("op", "::"):
            axis = self.take()
            self.take("::")
            if axis != "self":
                raise Unsupported(f"axis {axis}:: in {self.path!r}")
            return ("self", (self.take(kind="name"),))
        if kind == "name" and self.peek(1) == ("op", "("):
            return self.call()
        raise Unsupported(f"{token!r} in {self.path!r}")

    def attribute(self) -> str:
        self.take("@")
        name = self.take(kind="name")
        if ":" in name:
            raise Unsupported(f"namespaced attribute @{name} in {self.path!r}")
        return name

    def call(self):
        function = self.take(kind="name")
        self.take("(")
        arguments = []
        while not self.at_op(")"):
            arguments.append(self.disjunction())
            if not self.at_op(")"):
                self.take(",")
        self.take(")")
        count = len(arguments)
        if function == "not" and count == 1:
            return ("boolean", f"not ({self.boolean(arguments[0])})")
        if function == "contains" and count == 2:
            return ("boolean", f"{self.literal(arguments[1])!r} in {self.string(arguments[0])}")
        if function == "starts-with" and count == 2:
            return ("boolean", f"{self.string(arguments[0])}.startswith({self.literal(arguments[1])!r})")
        if function == "translate" and count == 3:
            source, target = self.literal(arguments[1]), self.literal(arguments[2])
            table = {ord(char): (target[i] if i < len(target) else None)
                     for i, char in reversed(list(enumerate(source)))}  # a repeated char maps as its first
            return ("string", f"{self.string(arguments[0])}.translate({self.constant(table)})")
        if function == "re:test" and count in (2, 3):
            flags = self.literal(arguments[2]) if count == 3 else ""
            search = re.compile(self.literal(arguments[1]), re.IGNORECASE if "i" in flags else 0).search
            return ("boolean", f"{self.constant(search)}({self.string(arguments[0])}) is not None")
        raise Unsupported(f"function {function}() with {count} arguments in {self.path!r}")

    # conversions, as XPath's boolean() and string()

    def boolean(self, value) -> str:
        kind, content = value
        if kind == "boolean":
            return content
        if kind == "attributes":
            return " or ".join(f"{name!r} in attributes" for name in content)
        if kind == "self":
            return f"tag in {content!r}"
        if kind == "literal":
            return repr(bool(content))
        raise Unsupported(f"a string used as a boolean in {self.path!r}")

    def string(self, value) -> str:
        kind, content = value
        if kind == "string":
            return f"({content})"
        if kind == "literal":
            return repr(content)
        if kind == "attributes":
            if len(content) == 1:
                return f"attributes.get({content[0]!r}, '')"
            return f"_first_in_order(attributes, {content!r})"
        raise Unsupported(f"a boolean used as a string in {self.path!r}")

    def literal(self, value) -> str:
        if value[0] != "literal":
            raise Unsupported(f"a computed pattern, needle or table in {self.path!r}")
        return value[1]


def _walk(names: tuple[str, ...] | None) -> Callable[[etree._Element], list]:
    """A step without predicates: the named descendants (or every element) in document order."""
    if names is None:
        return lambda context: list(context.iterdescendants(etree.Element))
    return lambda context: list(context.iterdescendants(*names))


class CompiledXPath:
    """A drop-in for an `lxml.etree.XPath` of the subset: called on a context element, returns the list."""

    def __init__(self, path: str, original: etree.XPath | None = None):
        self.path = path
        self.original = original
        self._evaluate = _Compiler(path).union()

    def __call__(self, context: etree._Element) -> list:
        if self.original is not None and not isinstance(context, etree._Element):
            return self.original(context)  # a whole document or other context: lxml's, as before
        return self._evaluate(context)

    def __repr__(self) -> str:
        return f"CompiledXPath({self.path.strip()!r})"


def compile_xpath(path: str) -> CompiledXPath:
    """Compile one expression; raises `Unsupported` outside the subset."""
    return CompiledXPath(path)


_MARK = "_beam_curation_compiled"


def _trafilatura_modules() -> list:
    import sys

    import trafilatura  # noqa: F401  (and so every module it imports)

    return [module for name, module in sorted(sys.modules.items())
            if module is not None and (name == "trafilatura" or name.startswith("trafilatura."))]


def compile_trafilatura() -> tuple[int, int]:
    """Swap compiled forms in for trafilatura's XPath objects, once per process: those its modules hold, alone
    or in lists (its pruning lists are module-level lists that the modules using them import, so the swap is in
    place). (distinct expressions compiled, left to lxml). Each compiled one keeps the XPath it replaces
    (`original`), and `restore_trafilatura` puts them back."""
    import trafilatura

    done = getattr(trafilatura, _MARK, None)
    if done is not None:
        return done
    swapped: dict[int, CompiledXPath | etree.XPath] = {}

    def swap(expression):
        if not isinstance(expression, etree.XPath):
            return expression
        if id(expression) not in swapped:
            try:
                swapped[id(expression)] = CompiledXPath(expression.path, original=expression)
            except Unsupported as unsupported:
                logger.debug("left to lxml: %s", unsupported)
                swapped[id(expression)] = expression
        return swapped[id(expression)]

    for module in _trafilatura_modules():
        for name, value in list(vars(module).items()):
            if isinstance(value, etree.XPath):
                setattr(module, name, swap(value))
            elif isinstance(value, list) and any(isinstance(item, etree.XPath) for item in value):
                value[:] = [swap(item) for item in value]
    compiled = sum(isinstance(x, CompiledXPath) for x in swapped.values())
    setattr(trafilatura, _MARK, (compiled, len(swapped) - compiled))
    return getattr(trafilatura, _MARK)


def restore_trafilatura() -> None:
    """Put trafilatura's own XPath objects back (for comparing the two in one process)."""
    import trafilatura

    def back(expression):
        return expression.original if isinstance(expression, CompiledXPath) else expression

    for module in _trafilatura_modules():
        for name, value in list(vars(module).items()):
            if isinstance(value, CompiledXPath):
                setattr(module, name, back(value))
            elif isinstance(value, list) and any(isinstance(item, CompiledXPath) for item in value):
                value[:] = [back(item) for item in value]
    if hasattr(trafilatura, _MARK):
        delattr(trafilatura, _MARK)
