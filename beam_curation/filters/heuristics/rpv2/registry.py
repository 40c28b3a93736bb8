"""Signals register themselves by name, so the output schema is the list of registered names.

A signal is a function of a :class:`~beam_curation.filters.heuristics.rpv2.document.DocumentView` that returns a float
(kind ``"doc"``) or one ``(start, end, score)`` span per line (kind ``"lines"``). A signal that
needs a resource (a word list) names a loader; :class:`~beam_curation.filters.heuristics.rpv2.SignalComputer` calls
each loader once and passes its result as the second argument::

    @signal("rps_doc_word_count", kind="doc")
    def word_count(doc: DocumentView) -> float: ...

    @signal("rps_doc_stop_word_fraction", kind="doc", resource=load_stop_words)
    def stop_word_fraction(doc: DocumentView, stop_words: Mapping[str, frozenset[str]]) -> float: ...

Registration happens when the signal modules are imported (``beam_curation.filters.heuristics.rpv2`` imports them
all); after that the registry is only read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, TypeVar

__all__ = ["LineSpans", "REGISTRY", "SignalKind", "SignalRegistry", "SignalSpec", "SignalValue", "signal"]

SignalKind = Literal["doc", "lines"]
LineSpans = list[tuple[int, int, float]]
SignalValue = float | LineSpans

_F = TypeVar("_F", bound=Callable[..., SignalValue])


@dataclass(frozen=True)
class SignalSpec:
    """One registered signal: its output name, kind, function and optional resource loader."""

    name: str
    kind: SignalKind
    compute: Callable[..., SignalValue]
    resource: Callable[[], Any] | None = None


class SignalRegistry:
    """Name -> :class:`SignalSpec`, in registration order; a name can be registered once."""

    def __init__(self) -> None:
        self._specs: dict[str, SignalSpec] = {}

    def add(
        self,
        name: str,
        kind: SignalKind,
        compute: Callable[..., SignalValue],
        resource: Callable[[], Any] | None = None,
    ) -> None:
        """Register ``compute`` under ``name`` (for families registered in a loop)."""
        if kind not in ("doc", "lines"):
            raise ValueError(f"signal {name!r}: kind must be 'doc' or 'lines', not {kind!r}")
        if name in self._specs:
            raise ValueError(f"signal {name!r} is already registered")
        self._specs[name] = SignalSpec(name, kind, compute, resource)

    def register(
        self, name: str, kind: SignalKind, resource: Callable[[], Any] | None = None
    ) -> Callable[[_F], _F]:
        """Decorator form of :meth:`add`."""

        def decorate(fn: _F) -> _F:
            self.add(name, kind, fn, resource)
            return fn

        return decorate

    @property
    def specs(self) -> Mapping[str, SignalSpec]:
        return MappingProxyType(self._specs)


REGISTRY = SignalRegistry()
signal = REGISTRY.register
