"""Quality bands: a named column whose value is the band an expression of signals falls in.

Nemotron-CC buckets documents by an ensemble of classifier scores before mixing (e.g. `max(a, b, c)` cut
into five levels); CCNet cuts perplexity into head, middle and tail. A band set is one expression in the rule
language (beam_curation.filters.rules: IEEE arithmetic, NaN for what cannot be computed), ascending `edges`
and one more label than edges: a value below `edges[0]` is `labels[0]`, one at or above `edges[-1]` is
`labels[-1]`, NaN is no band (null). `edges` may be a per-language mapping, as rule params are.

Pure Python: no Beam, no I/O.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from beam_curation.filters.rules import DEFAULT_KEY, Rule, RuleError, compile_rule


@dataclass(frozen=True)
class Bands:
    name: str  # the column it writes
    value: Rule  # the expression (its truth is never taken)
    edges: Any  # ascending numbers, or a mapping language -> ascending numbers (with `default`)
    labels: tuple[str, ...]

    @property
    def columns(self) -> frozenset[str]:
        """The signal columns the expression reads."""
        return self.value.columns

    def band(self, values: Mapping[str, Any], language: Optional[str] = None) -> Optional[str]:
        """The label the document's value falls in; None when the value is NaN or not a number, or the
        language has no edges."""
        edges = self.edges
        if isinstance(edges, Mapping):
            edges = edges.get(language, edges.get(DEFAULT_KEY))
            if edges is None:
                return None
        value = self.value.value(values, language)
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        if math.isnan(number):
            return None
        return self.labels[bisect.bisect_right(edges, number)]


def compile_bands(name: str, value: str, edges: Any, labels: Sequence[str],
                  params: Optional[Mapping[str, Any]] = None, available: Optional[Sequence[str]] = None) -> Bands:
    """Check and compile a band set (a RuleError of one line naming it otherwise)."""
    expression = compile_rule(name, value, params, available)
    labels = tuple(labels)
    if len(set(labels)) != len(labels) or not all(isinstance(label, str) and label for label in labels):
        raise RuleError(f"bands {name}: labels must be distinct, non-empty strings")
    for where, cut in (edges.items() if isinstance(edges, Mapping) else [("", edges)]):
        numbers = list(cut)
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in numbers):
            raise RuleError(f"bands {name}: edges{f' for {where}' if where else ''} must be finite numbers")
        if numbers != sorted(numbers) or len(set(numbers)) != len(numbers):
            raise RuleError(f"bands {name}: edges{f' for {where}' if where else ''} must be strictly ascending")
        if len(numbers) + 1 != len(labels):
            raise RuleError(f"bands {name}: {len(labels)} labels need {len(labels) - 1} edges, "
                            f"got {len(numbers)}{f' for {where}' if where else ''}")
    return Bands(name, expression, {k: tuple(v) for k, v in edges.items()} if isinstance(edges, Mapping)
                 else tuple(edges), labels)
