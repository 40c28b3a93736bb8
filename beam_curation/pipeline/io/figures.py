"""Figures a data card reports, counted while each output part is written and added up into stats.json.

Per part (then per shard and run, by `add_figures`): kept documents and characters by language; for each
personal-data kind the values found and the documents holding any, among all documents that reached the
signal stages and among the kept ones; the same for each evaluation set's matched n-grams; dedup clusters
(of more than one document) and their members, and with `dedup.paragraphs` the documents holding repeated
paragraphs, the paragraphs and their characters. The card (beam_curation.pipeline.report.card) reads them from stats.json, so
every figure it shows is one stats.json holds.

They belong to writing the output (beam_curation.pipeline.io.writers adds them up, the part's writer in
beam_curation.pipeline.graph.materialize counts them), not to the report that reads them afterwards: here,
io/ and graph/ need nothing of report/.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from beam_curation.filters.dedup.paragraphs import SPANS_COLUMN

FIGURE_KEYS = ("languages", "pii", "decontamination", "duplicates", "tokens")
UNKNOWN_LANGUAGE = "und"  # ISO 639-2 "undetermined": no language identified


@dataclass(frozen=True)
class FigureColumns:
    """Which figures a run counts, from which signal columns (resolved by the run plan)."""

    pii: dict[str, str] = field(default_factory=dict)  # kind -> its count column
    sets: dict[str, str] = field(default_factory=dict)  # evaluation set -> its n-gram column
    dedup: bool = False
    paragraphs: bool = False  # dedup with dedup.paragraphs: the repeated paragraphs, from their spans column
    tokens: Optional[str] = None  # the token count column, when tokens are counted


class Figures:
    """Counts of one part; `add(row, ...)` per document that did not fail, `as_stats()` at the end."""

    def __init__(self, columns: FigureColumns):
        self._pii = columns.pii
        self._sets = columns.sets
        self._dedup = columns.dedup
        self._tokens = columns.tokens
        self.languages: dict[str, dict[str, int]] = {}
        self.pii = {k: {"values": 0, "documents": 0, "kept_values": 0, "kept_documents": 0} for k in self._pii}
        self.decontamination = {n: {"documents": 0, "ngrams": 0, "kept_documents": 0} for n in self._sets}
        self.duplicates = {"clusters": 0, "documents_in_clusters": 0}
        self._paragraphs = columns.paragraphs
        if self._paragraphs:
            self.duplicates.update({"documents_with_repeated_paragraphs": 0, "repeated_paragraphs": 0,
                                    "repeated_paragraph_chars": 0})
        # all and kept, per language and per declared source (a `source` column, as Dolma's documents have)
        self.tokens: dict[str, Any] = {"documents": 0, "tokens": 0, "kept_documents": 0, "kept_tokens": 0,
                                       "languages": {}, "sources": {}}

    def add(self, row: Mapping[str, Any], kept: bool, reached_signals: bool, dup: Optional[Any]) -> None:
        if kept:
            lang = self.languages.setdefault(row["language"] or UNKNOWN_LANGUAGE, {"documents": 0, "chars": 0})
            lang["documents"] += 1
            lang["chars"] += len(row["text"] or "")
        if self._tokens and row.get(self._tokens) is not None:
            self._add_tokens(row, int(row[self._tokens]), kept)
        if reached_signals:
            for kind, column in self._pii.items():
                n = int(row.get(column) or 0)
                if n:
                    agg = self.pii[kind]
                    agg["values"] += n
                    agg["documents"] += 1
                    if kept:
                        agg["kept_values"] += n
                        agg["kept_documents"] += 1
            for name, column in self._sets.items():
                n = int(row.get(column) or 0)
                if n:
                    agg = self.decontamination[name]
                    agg["documents"] += 1
                    agg["ngrams"] += n
                    agg["kept_documents"] += int(kept)
        if dup is not None and dup.cluster_size > 1:
            self.duplicates["documents_in_clusters"] += 1
            self.duplicates["clusters"] += int(dup.keep)  # one keeper per cluster
            if getattr(dup, "keeper_run", None) is not None:  # dedup.against: its keeper is an earlier run's
                self.duplicates["earlier_runs"] = self.duplicates.get("earlier_runs", 0) + 1
        spans = row.get(SPANS_COLUMN) if self._paragraphs else None
        if spans:
            self.duplicates["documents_with_repeated_paragraphs"] += 1
            self.duplicates["repeated_paragraphs"] += len(spans)
            self.duplicates["repeated_paragraph_chars"] += sum(span["end"] - span["start"] for span in spans)

    def _add_tokens(self, row: Mapping[str, Any], n: int, kept: bool) -> None:
        groups = [self.tokens, self.tokens["languages"].setdefault(row["language"] or UNKNOWN_LANGUAGE, {})]
        source = row.get("source")
        if isinstance(source, str) and source:
            groups.append(self.tokens["sources"].setdefault(source, {}))
        for agg in groups:
            for key, value in (("documents", 1), ("tokens", n)):
                agg[key] = agg.get(key, 0) + value
                if kept:
                    agg[f"kept_{key}"] = agg.get(f"kept_{key}", 0) + value

    def as_stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"languages": self.languages}
        if self._tokens:
            out["tokens"] = self.tokens
        if self._pii:
            out["pii"] = self.pii
        if self._sets:
            out["decontamination"] = self.decontamination
        if self._dedup:
            out["duplicates"] = self.duplicates
        return out


def add_figures(total: dict[str, Any], part: Mapping[str, Any]) -> None:
    """Add `part`'s figures into `total` (nested mappings of counts, summed key by key)."""
    for key in FIGURE_KEYS:
        if key in part:
            _add(total.setdefault(key, {}), part[key])


def _add(total: dict[str, Any], part: Mapping[str, Any]) -> None:
    for key, value in part.items():
        if isinstance(value, Mapping):
            _add(total.setdefault(key, {}), value)
        else:
            total[key] = total.get(key, 0) + value


def sort_figures(stats: dict[str, Any]) -> None:
    for key in FIGURE_KEYS:
        if key in stats:
            stats[key] = _sorted(stats[key])


def _sorted(value: Any) -> Any:
    return {k: _sorted(v) for k, v in sorted(value.items())} if isinstance(value, Mapping) else value
