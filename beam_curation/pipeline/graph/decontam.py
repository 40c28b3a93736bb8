"""Phase 2's join for evaluation sets too large to be a side input: documents' n-grams against the set's.

    annotations' n-gram hashes (per task batch) ──> (bucket, doc pairs)  ┐
    evaluation set, read by the workers in pieces ──> (bucket, set pairs) ┴─> group by bucket -> probe
         -> (node, matched pairs) -> group by node -> per set: distinct n-grams, distinct items
         -> by output part (WritePart fills the columns) and, when dedup's rules read them, by node

A join bucket is the top 10 bits of the n-gram hash (beam_curation.filters.release.decontamination.JOIN_BUCKETS): each
record carries the pairs of one batch (a task's row group of documents, or a chunk of the set) that fall in
one bucket, as arrays, not one record per n-gram. A bucket's values are read twice, never held: first its
set pairs are gathered into a small sorted index (1/1024 of the set), then its document pairs are streamed
against it. Only matches leave the bucket, so what is grouped by node is the few contaminated documents.

The figures are those of the side-input path by construction (the same hashes, the same distinct counts):
a document's columns hold 0 from annotation and the join replaces them where it finds n-grams, before any
rule reads them, so `run`, `refilter` and the rules see one set of columns whichever path computed them.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable, Iterator

import apache_beam as beam
import numpy as np

from beam_curation.filters.release.decontamination import (NgramIndex, ngram_pairs, signal_names, split_by_bucket,
                                                           summarize_arrays)
from beam_curation.pipeline.io.eval_files import EvalUnit, eval_units, read_unit
from beam_curation.pipeline.stages.decontamination import EvalSetSpec
from beam_curation.pipeline.graph.metrics import count, measured

EVAL_CHUNK_PAIRS = 1 << 20  # (n-gram, item) pairs a reader gathers before cutting them into buckets


def _arrays(hashes: np.ndarray, values: np.ndarray) -> tuple[bytes, bytes]:
    return hashes.astype("<u8").tobytes(), values.astype("<i8").tobytes()


def _unpack(hashes: bytes, values: bytes) -> tuple[np.ndarray, np.ndarray]:
    return np.frombuffer(hashes, dtype="<u8"), np.frombuffer(values, dtype="<i8")


def doc_buckets(element: tuple[int, list[tuple[int, bytes]]]) -> Iterator[tuple[int, tuple]]:
    """(shard index, [(row, n-gram hashes)]) of one batch -> (bucket, ("d", -1, hashes, nodes))."""
    from beam_curation.pipeline.graph.decide import node_of

    shard_index, rows = element
    hashes = [np.frombuffer(h, dtype="<u8") for _, h in rows]
    if not hashes:
        return
    nodes = np.repeat(np.array([node_of(shard_index, row) for row, _ in rows], dtype=np.int64),
                      [len(h) for h in hashes])
    for bucket, h, n in split_by_bucket(np.concatenate(hashes), nodes):
        yield bucket, ("d", -1, *_arrays(h, n))


class ReadEvalUnit(beam.DoFn):
    """(set number, EvalUnit) -> (bucket, ("e", set number, hashes, item ids)): a piece of an evaluation set,
    streamed, its items' distinct n-grams hashed `ITEMS_AT_ONCE` items at a time and cut into buckets every
    `EVAL_CHUNK_PAIRS` pairs or so."""

    ITEMS_AT_ONCE = 4096

    def __init__(self, specs: list[EvalSetSpec], n: int):
        self._columns = [s.text_column for s in specs]
        self._n = n

    def process(self, element: tuple[int, EvalUnit]) -> Iterator[tuple[int, tuple]]:
        number, unit = element
        hashes: list[np.ndarray] = []
        items: list[np.ndarray] = []
        pairs = total = 0
        for batch in _batches(read_unit(unit, self._columns[number]), self.ITEMS_AT_ONCE):
            h, position = ngram_pairs([text for _, text in batch], self._n)
            hashes.append(h)
            items.append(np.array([item for item, _ in batch], dtype=np.int64)[position])
            pairs += len(h)
            total += len(batch)
            if pairs >= EVAL_CHUNK_PAIRS:
                yield from self._emit(number, hashes, items)
                hashes, items, pairs = [], [], 0
        yield from self._emit(number, hashes, items)
        count("decontam_join_eval_items", total)

    @staticmethod
    def _emit(number: int, hashes: list[np.ndarray], items: list[np.ndarray]) -> Iterator[tuple[int, tuple]]:
        if hashes:
            for bucket, h, i in split_by_bucket(np.concatenate(hashes), np.concatenate(items)):
                yield bucket, ("e", number, *_arrays(h, i))


def _batches(pairs: Iterator[tuple[int, str]], size: int) -> Iterator[list[tuple[int, str]]]:
    while batch := list(itertools.islice(pairs, size)):
        yield batch


class ProbeBucket(beam.DoFn):
    """(bucket, its set and document pairs) -> (node, (set number, matched hashes, their items)), per
    document with a match. Two passes over the re-iterable values: the set's pairs, then the documents'."""

    def process(self, element: tuple[int, Iterable[tuple]]) -> Iterator[tuple[int, tuple]]:
        _, values = element
        gathered: dict[int, tuple[list, list]] = {}
        for side, number, hashes, ids in values:
            if side == "e":
                h, i = _unpack(hashes, ids)
                held = gathered.setdefault(number, ([], []))
                held[0].append(h)
                held[1].append(i)
        if not gathered:
            return
        indexes = {number: NgramIndex.from_pairs(np.concatenate(h), np.concatenate(i))
                   for number, (h, i) in gathered.items()}
        for side, _, hashes, nodes in values:
            if side != "d":
                continue
            h, n = _unpack(hashes, nodes)
            for number, index in indexes.items():
                matched_nodes, matched_hashes, matched_items = index.join(h, n)
                if not len(matched_nodes):
                    continue
                order = np.argsort(matched_nodes, kind="stable")
                matched_nodes, matched_hashes, matched_items = (matched_nodes[order], matched_hashes[order],
                                                                matched_items[order])
                present, starts = np.unique(matched_nodes, return_index=True)
                ends = np.append(starts[1:], len(matched_nodes))
                for node, start, end in zip(present.tolist(), starts.tolist(), ends.tolist()):
                    yield node, (number, *_arrays(matched_hashes[start:end], matched_items[start:end]))


class SummarizeDocument(beam.DoFn):
    """(node, its matched pairs from every bucket) -> (node, {column: value}) for the sets it matched."""

    def __init__(self, names: list[str]):
        self._columns = [signal_names(name) for name in names]

    def process(self, element: tuple[int, Iterable[tuple]]) -> Iterator[tuple[int, dict[str, float]]]:
        node, found = element
        by_set: dict[int, tuple[list, list]] = {}
        for number, hashes, items in found:
            h, i = _unpack(hashes, items)
            held = by_set.setdefault(number, ([], []))
            held[0].append(h)
            held[1].append(i)
        values = {}
        for number, (h, i) in sorted(by_set.items()):
            match = summarize_arrays(np.concatenate(h), np.concatenate(i))
            column, items_column = self._columns[number]
            values[column], values[items_column] = float(match.ngrams), match.items
        count("decontam_join_matched_documents")
        yield node, values


def fill(row: dict[str, Any], found: dict[str, float] | None) -> dict[str, Any]:
    """The annotation row with the join's figures in its joined columns (they hold 0 from annotation)."""
    if found:
        row.update(found)
    return row


class JoinEvalSets(beam.PTransform):
    """PCollection of (shard index, [(row, n-gram hashes)]) -> (node, {column: value}) for every document that
    shares an n-gram with a joined set."""

    def __init__(self, decontamination: Any, names: tuple[str, ...], measure: bool = False):
        """`decontamination`: that config section; `names`: the sets it joins."""
        super().__init__()
        self._specs = [s for s in decontamination.sets if s.name in names]
        self._n = decontamination.ngram
        self._measure = measure

    def expand(self, ngrams):
        units = [(number, unit) for number, spec in enumerate(self._specs)
                 for unit in eval_units(spec.path.removeprefix("file://"), spec.split)]
        docs = ngrams | "DocBuckets" >> beam.FlatMap(doc_buckets)
        evals = (ngrams.pipeline | "EvalUnits" >> beam.Create(units)
                 | "SpreadUnits" >> beam.Reshuffle()
                 | "ReadEvalSets" >> beam.ParDo(ReadEvalUnit(self._specs, self._n)))
        both = (docs, evals) | "BothSides" >> beam.Flatten()
        matched = (measured(both, "CountNgramBuckets", "decontam_buckets", self._measure)
                   | "GroupByBucket" >> beam.GroupByKey()
                   | "Probe" >> beam.ParDo(ProbeBucket()))
        return (measured(matched, "CountMatches", "decontam_matches", self._measure)
                | "GroupMatchesByDoc" >> beam.GroupByKey()
                | "Summarize" >> beam.ParDo(SummarizeDocument([s.name for s in self._specs])))


def found_by_part(element: tuple[int, dict[str, float]], rows_per_file: int) -> tuple[tuple[int, int], tuple]:
    """(node, figures) -> ((shard index, part), (row, figures)) for the part's writer."""
    from beam_curation.pipeline.graph.decide import shard_row
    from beam_curation.pipeline.io.shards import part_of

    node, found = element
    shard, row = shard_row(node)
    return (shard, part_of(row, rows_per_file)), (row, found)


def rows_by_node(element: tuple[int, list[dict[str, Any]]]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(shard index, decision rows) -> (node, row), to meet the join's figures before dedup decides."""
    from beam_curation.pipeline.graph.decide import node_of

    shard_index, rows = element
    for row in rows:
        yield node_of(shard_index, row["_row"]), row


def filled_rows(element: tuple[int, dict[str, list]]) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """(node, {"rows": [row], "found": [figures]}) -> (shard index, [the row with its figures])."""
    from beam_curation.pipeline.graph.decide import shard_row

    node, grouped = element
    found = grouped["found"][0] if grouped["found"] else None
    for row in grouped["rows"]:
        yield shard_row(node)[0], [fill(row, found)]
