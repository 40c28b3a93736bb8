"""Reading a finished run's documents for a mixture: each documents/ file with its signals/ file, and the
group, tokens and unit keys of every document (beam_curation.filters.mixture).

A part's documents/ and signals/ files have the same name and hold their rows in input order, documents/ a
subsequence of signals/ (every kept document reached the signal stages), so they are joined by streaming
both side by side: memory holds one record batch of each, whatever the file's size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator, NamedTuple, Optional

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from beam_curation.filters.mixture import Key, estimated_tokens, rehydration_factor, unit_key
from beam_curation.filters.rules import Rule, compile_rule
from beam_curation.pipeline.io.readers import open_path

BATCH = 512  # documents per read (and per row group of an output file)
SOURCE = "source"  # the expression name: the documents' own `source`, else the run's declared source
CHARS = "_chars"  # the text's length in characters, when tokens are estimated from it


class FileSpec(NamedTuple):
    """One documents/ file of a --from run and what to read beside it."""

    run: int  # position of the run among --from
    documents: str
    signals: Optional[str]  # the same part's signals/ file; None when nothing is read from signals/
    document_columns: tuple[str, ...]  # what the groups, tokens and upsampling read from documents/
    signal_columns: tuple[str, ...]  # ... and from signals/
    source: str  # `source` where the documents have none: the run's input.source, else its folder's name
    name: str  # the output file's stem


@dataclass(frozen=True)
class Reading:
    """How every worker judges a document: the groups' expressions, the token column (None: characters / 4),
    the rehydration table (None: no upsampling) and the seed."""

    groups: tuple[tuple[str, str], ...]  # (name, where)
    string_columns: frozenset[str]  # a missing value is "" to the expressions; to the others NaN
    tokens_column: Optional[str]
    rehydration: Optional[tuple[tuple[int, int], ...]]
    seed: int


class Choice(NamedTuple):
    group: int
    tokens: int  # of one copy
    keys: list[Key]  # one per copy in the group's pool


class Chooser:
    """The group (the first whose `where` holds), tokens and unit keys of a document; None when no group
    takes it. An expression that cannot be evaluated on a document does not hold for it (counted)."""

    def __init__(self, reading: Reading):
        self._reading = reading
        self._rules: list[Rule] = [compile_rule(name, where) for name, where in reading.groups]
        self._table = dict(reading.rehydration) if reading.rehydration is not None else None
        self.unevaluable = 0
        self.tokens_missing = 0

    def _value(self, values: dict[str, Any], column: str) -> Any:
        value = values.get(column)
        if value is None:
            return "" if column in self._reading.string_columns else math.nan
        return value

    def group(self, values: dict[str, Any]) -> Optional[int]:
        for index, rule in enumerate(self._rules):
            scope = {c: self._value(values, c) for c in rule.columns}
            try:
                if rule.keep(scope):
                    return index
            except (ArithmeticError, TypeError, ValueError):
                self.unevaluable += 1
        return None

    def tokens(self, values: dict[str, Any]) -> int:
        column = self._reading.tokens_column
        if column is None:
            return estimated_tokens(values[CHARS])
        value = values.get(column)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            self.tokens_missing += 1
            return 0
        return max(0, int(round(value)))

    def copies(self, values: dict[str, Any]) -> int:
        if self._table is None:
            return 1
        cluster = values.get("dup_cluster_id")
        if cluster is not None and cluster != values["id"]:  # not its cluster's keeper (an annotate-mode run)
            return 1
        return rehydration_factor(values.get("dup_cluster_size"), self._table)

    def choose(self, values: dict[str, Any], run: int) -> Optional[Choice]:
        group = self.group(values)
        if group is None:
            return None
        doc_id = values["id"]
        keys = [unit_key(self._reading.seed, run, doc_id, copy) for copy in range(self.copies(values))]
        return Choice(group, self.tokens(values), keys)


def _signal_rows(path: str, columns: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    with open_path(path) as handle:
        for batch in pq.ParquetFile(handle).iter_batches(batch_size=BATCH, columns=["id", *columns]):
            yield from batch.to_pylist()


def joined(spec: FileSpec, reading: Reading, all_columns: bool = False
           ) -> Iterator[tuple[pa.RecordBatch, list[dict[str, Any]]]]:
    """(documents batch, the values each row's expressions and tokens read) for every batch of the file; the
    batch holds every column with `all_columns`, else only those read."""
    estimate = reading.tokens_column is None
    wanted = None if all_columns else sorted({"id", *spec.document_columns, *(["text"] if estimate else [])})
    signals = _signal_rows(spec.signals, spec.signal_columns) if spec.signals else iter(())
    with open_path(spec.documents) as handle:
        parquet = pq.ParquetFile(handle)
        has_source = SOURCE in parquet.schema_arrow.names
        for batch in parquet.iter_batches(batch_size=BATCH, columns=wanted):
            own = batch.select([c for c in batch.schema.names if c in spec.document_columns or c == "id"])
            rows = own.to_pylist()
            if estimate:
                chars = pc.utf8_length(batch.column("text")).fill_null(0).to_pylist()
                for row, n in zip(rows, chars):
                    row[CHARS] = n
            for row in rows:
                if not has_source or row.get(SOURCE) is None:
                    row[SOURCE] = spec.source
                if spec.signals:
                    row.update(_matching(signals, row["id"], spec))
            yield batch, rows


def _matching(signals: Iterator[dict[str, Any]], doc_id: str, spec: FileSpec) -> dict[str, Any]:
    """The signals/ row of `doc_id`: the next one with its id (signals/ holds the documents in order)."""
    for row in signals:
        if row["id"] == doc_id:
            row.pop("id")
            return row
    raise RuntimeError(f"{spec.documents}: document {doc_id} has no row in {spec.signals} (not one run's files?)")
