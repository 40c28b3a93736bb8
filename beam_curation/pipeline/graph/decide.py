"""Decisions from stored annotations: the one rule path, and what dedup sees and says.

`run` (fresh or reusing annotations) and `refilter` decide with this module alone. In filter mode a document
is, in order: removed by the language gate (its raw HTML is confidently in none of the kept languages, so it
need not have been extracted), failed (errors/), removed by an annotation stage (no text left), removed by the
first rule it fails (the language keep-list and threshold come first, as the rule `langid`), removed as a
duplicate of its cluster's keeper, or kept. The gate is decided from the stored guess, so a page a fresh run
skips is removed alike by a run that reuses annotations made with another keep-list. A missing value (no model for the language, host on no list) is NaN to every rule.
Annotate mode removes nothing by rule or dedup; dedup still records clusters.

Dedup nodes are integers, `shard index << 40 | row`, so the records clustering shuffles stay small and each
result finds its way back to its shard and row without any id being parsed.
"""

from __future__ import annotations

import json
import math
from typing import Any, Iterable, Iterator, Mapping, Optional

import apache_beam as beam

from beam_curation.filters.dedup.types import DedupConfig, DedupDoc, DupRecord, KeepRanking
from beam_curation.filters.models.langid_prefilter import outside
from beam_curation.filters.bands import Bands, compile_bands
from beam_curation.filters.rules import Rule, compile_rule, first_failed
from beam_curation.pipeline.graph.dedup import ClusterMember, dup_record
from beam_curation.pipeline.io.annotations import PASSTHROUGH_JSON, PASSTHROUGH_PREFIX
from beam_curation.pipeline.io.document import LANGID_PREFILTER
from beam_curation.pipeline.plan import Decisions

ROW_BITS = 40  # rows per shard < 2^40; shards per run < 2^23


def node_of(shard_index: int, row: int) -> int:
    return (shard_index << ROW_BITS) | row


def shard_row(node: int) -> tuple[int, int]:
    return node >> ROW_BITS, node & ((1 << ROW_BITS) - 1)


class Decider:
    """Decides for one annotation row (a mapping of annotation columns) what becomes of the document."""

    def __init__(self, decisions: Decisions):
        stored = list(decisions.available)
        self._bands: list[Bands] = [compile_bands(b.name, b.value, b.edges, b.labels, b.params, stored)
                                    for b in decisions.buckets]
        readable = stored + [b.name for b in self._bands]
        self._rules: list[Rule] = [compile_rule(s.name, s.keep, s.params, readable, s.languages)
                                   for s in decisions.rules]
        self._filter = decisions.filter_mode
        self._gate = decisions.gate
        self.dedup = decisions.dedup

    @property
    def columns(self) -> list[str]:
        """Stored annotation columns the rules and bands read."""
        bands = {b.name for b in self._bands}
        read = {c for rule in self._rules for c in rule.columns} - bands
        return sorted({"language", "language_score"} | read | {c for b in self._bands for c in b.columns})

    def bands(self, row: Mapping[str, Any]) -> dict[str, Optional[str]]:
        """The document's label in each band set (None: its value is NaN)."""
        return {b.name: b.band(row, row.get("language")) for b in self._bands}

    def gated(self, row: Mapping[str, Any]) -> bool:
        """The language gate removes the document (before anything else: a skipped page has no extraction)."""
        if outside(row.get("_langid_guess"), self._gate):
            return True
        if row["_removed_by"] == LANGID_PREFILTER:  # skipped with a keep-list this run's is not a subset of
            raise RuntimeError(f"document {row['id']} was not annotated (language gate) and this run keeps its "
                               "language: its task must be annotated again")
        return False

    def rule_decision(self, row: Mapping[str, Any]) -> Optional[str]:
        """The first rule the document fails, or None."""
        if not self._rules:
            return None
        values = {c: (math.nan if row.get(c) is None else row[c]) for c in self.columns}
        values.update(self.bands(row))
        values["language"] = row.get("language") or ""
        values["language_score"] = row["language_score"] if row.get("language_score") is not None else 0.0
        return first_failed(self._rules, values, row.get("language"))

    def before_dedup(self, row: Mapping[str, Any]) -> Optional[str]:
        """What removes the document before dedup (the gate, a stage or a rule); None: it takes part in dedup."""
        if self.gated(row):
            return LANGID_PREFILTER
        return row["_removed_by"] or self.rule_decision(row)

    def outcome(self, row: Mapping[str, Any], dup: Optional[tuple[Optional[ClusterMember], bool]]
                ) -> tuple[Optional[str], Optional[DupRecord]]:
        """(removed_by or None, the document's dedup record or None) for a document that did not fail;
        `dup` is its cluster membership and exact-copy flag, None when it is in no cluster."""
        removed = self.before_dedup(row)
        if removed is not None or not self.dedup:
            return removed, None
        member, exact = dup if dup is not None else (None, False)
        record = dup_record(row["id"], member, exact)
        return (record.reason if self._filter and not record.keep else None), record


class KeepValues:
    """What a keep ranking (`dedup.keep: {source: [...], by: ...}`) reads of an annotation row: the document's
    `source` (its passthrough column, Dolma's `source`) and the value of the `by` expression, compiled by the
    one rule evaluator (beam_curation.filters.rules)."""

    def __init__(self, keep: Any):
        self._ranking = keep if isinstance(keep, KeepRanking) else None
        self._by = compile_rule("dedup.keep.by", keep.by) if self._ranking and keep.by else None

    @property
    def columns(self) -> list[str]:
        if self._ranking is None:
            return []
        source = [PASSTHROUGH_PREFIX + "source", PASSTHROUGH_JSON] if self._ranking.source else []
        return source + sorted(self._by.columns if self._by else ())

    def source(self, row: Mapping[str, Any]) -> Optional[str]:
        if self._ranking is None or not self._ranking.source:
            return None
        value = row.get(PASSTHROUGH_PREFIX + "source")
        if value is None and row.get(PASSTHROUGH_JSON):
            value = json.loads(row[PASSTHROUGH_JSON]).get("source")
        return value if isinstance(value, str) else None

    def value(self, row: Mapping[str, Any]) -> Any:
        return None if self._by is None else self._by.value(row, row.get("language"))


def decision_columns(dedup: DedupConfig, decider: Decider) -> list[str]:
    """Annotation columns the dedup decision step reads back from a finished task (never the text)."""
    columns = ["id", "url", "_removed_by", "_error", "_text_chars", "_text_hash", "_minhash", "_shingled",
               "_langid_guess", *decider.columns, *KeepValues(dedup.keep).columns]
    if dedup.keep == "highest_quality":
        columns.append("quality_score")
    if dedup.paragraphs.enabled:  # hashed on the way (beam_curation.pipeline.graph.paragraphs), never grouped
        columns.append("text")
    return sorted(set(columns))


class DedupDocs(beam.DoFn):
    """(shard index, annotation rows) of one task -> a DedupDoc for each document that takes part in dedup."""

    def __init__(self, decisions: Decisions, dedup: DedupConfig):
        self._decisions = decisions
        self._dedup = dedup
        self._decider = self._keyer = None

    def setup(self) -> None:
        from beam_curation.filters.dedup.keys import DedupKeyer

        self._decider = Decider(self._decisions)
        self._keyer = DedupKeyer(self._dedup)
        self._keep = KeepValues(self._dedup.keep)

    def process(self, element: tuple[int, list[dict[str, Any]]]) -> Iterator[DedupDoc]:
        shard_index, rows = element
        rows = [row for row in rows if not (self._decider.gated(row) or row["_error"] is not None
                                            or self._decider.before_dedup(row) is not None)]
        bands = self._keyer.bands([row["_minhash"] for row in rows])
        for row, row_bands in zip(rows, bands):
            yield self._keyer.doc(node_of(shard_index, row["_row"]), row["id"], row["_text_chars"],
                                  row.get("quality_score"), row["_text_hash"], row["url"], row["_minhash"],
                                  bool(row["_shingled"]), row.get("language"), self._keep.source(row),
                                  self._keep.value(row), bands=row_bands)


def members_by_part(element: tuple[int, ClusterMember], rows_per_file: int) -> tuple[tuple[int, int], tuple]:
    """(node, membership) -> ((shard index, part), (row, membership)) for the part's writer."""
    from beam_curation.pipeline.io.shards import part_of

    node, member = element
    shard, row = shard_row(node)
    return (shard, part_of(row, rows_per_file)), (row, member)


def exact_by_part(node: int, rows_per_file: int) -> tuple[tuple[int, int], int]:
    from beam_curation.pipeline.io.shards import part_of

    shard, row = shard_row(node)
    return (shard, part_of(row, rows_per_file)), row


def part_dups(members: Iterable[tuple[int, ClusterMember]], exact_rows: Iterable[int]
              ) -> dict[int, tuple[ClusterMember, bool]]:
    """A part's cluster members by row, with their exact-copy flags (documents in no cluster are absent)."""
    exact = set(exact_rows)
    return {row: (member, row in exact) for row, member in members}
