"""RedPajama-V2 quality signals in pure Python: text and language in, named signal values out.

    >>> from beam_curation.filters.heuristics.rpv2 import SignalComputer
    >>> sc = SignalComputer(["rps_doc_word_count", "rps_lines_num_words"])
    >>> sc.compute("Hello world.\\nBye", "en")
    {'rps_doc_word_count': 3.0, 'rps_lines_num_words': [(0, 13, 2.0), (13, 16, 1.0)]}

Doc-level signals (kind ``"doc"``) are floats; line-level signals (``rps_lines_*``, kind
``"lines"``) are one ``(start, end, score)`` span per line, offsets into the text. Names are
RedPajama-V2's, misspellings included. Each group lives in its own module (``natural_language``,
``lines``, ``repetition``, ``ldnoobw``, ``ccnet_length``) and registers with
:mod:`beam_curation.filters.heuristics.rpv2.registry`; the shared text views are in :mod:`beam_curation.filters.heuristics.rpv2.document`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

# Importing the signal modules registers their signals.
from beam_curation.filters.heuristics.rpv2 import ccnet_length, ldnoobw, lines, natural_language, repetition  # noqa: F401
from beam_curation.filters.heuristics.rpv2.document import DocumentView
from beam_curation.filters.heuristics.rpv2.registry import REGISTRY, SignalKind, SignalValue

__all__ = ["DocumentView", "SIGNAL_KINDS", "SignalComputer"]

SIGNAL_KINDS: Mapping[str, SignalKind] = MappingProxyType(
    {name: spec.kind for name, spec in REGISTRY.specs.items()}
)


class SignalComputer:
    """Computes a chosen set of registered signals; word lists are loaded once, here.

    ``names=None`` selects every registered signal (in registration order); an unknown name
    raises ``ValueError`` naming it. Instances hold only immutable state, can be shared by
    threads, and pickle as their list of names.
    """

    def __init__(self, names: Iterable[str] | None = None) -> None:
        specs = REGISTRY.specs
        if names is None:
            selected = tuple(specs)
        else:
            selected = tuple(dict.fromkeys(names))
            unknown = [n for n in selected if n not in specs]
            if unknown:
                raise ValueError(
                    f"unknown signal name(s): {', '.join(map(repr, unknown))}; "
                    f"known: {', '.join(specs)}"
                )
        loaded: dict[Callable[[], Any], Any] = {}
        bound: list[tuple[str, Callable[[DocumentView], SignalValue]]] = []
        for name in selected:
            spec = specs[name]
            fn = spec.compute
            if spec.resource is not None:
                if spec.resource not in loaded:
                    loaded[spec.resource] = spec.resource()
                fn = _resource_last(spec.compute, loaded[spec.resource])
            bound.append((name, fn))
        self._bound = tuple(bound)
        self.names: tuple[str, ...] = selected

    def __reduce__(self) -> tuple[type[SignalComputer], tuple[tuple[str, ...]]]:
        # Pickles as its names (Beam ships DoFns pickled); word lists reload on arrival.
        return (SignalComputer, (self.names,))

    def compute(self, text: str, language: str) -> dict[str, SignalValue]:
        """All selected signals of ``text`` (a document in language ``language``, e.g. "en")."""
        doc = DocumentView(text, language)
        return {name: fn(doc) for name, fn in self._bound}


def _resource_last(fn: Callable[..., SignalValue], resource: Any) -> Callable[[DocumentView], SignalValue]:
    def bound(doc: DocumentView) -> SignalValue:
        return fn(doc, resource)

    return bound
