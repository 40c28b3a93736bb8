"""Paragraph dedup across the run, distributed and deterministic (no single-node set, no Bloom filter).

    decision rows (with text) ──> ParagraphHashes: (node, [(hash, start, end)])  ┐
    DedupDoc (rank, id)       ──> (node, (rank, id))                              ├ group by node
    cluster members           ──> (node, loser) for members document dedup removes┘
         v
    (hash, (loser, rank, id, node, start, end)) per paragraph ── group by hash ──> every occurrence but the
    smallest -> (node, (start, end)) ── group by node ──> (node, spans) ──> by part, to WritePart

Order: a paragraph's first occurrence is the one in the document that comes first in document dedup's keep
order (the keep policy's rank, then id, then node: the `DedupDoc` that document dedup builds, so both follow
one ordering), and within a document the earliest line. Paragraph dedup runs after the rules and after
document dedup (the cheap document-level pass first): documents a rule removes take no part, and documents
document dedup removes sort after every kept one (the `loser` flag), so a paragraph held by a kept document is
never cut because a removed copy came first, while those removed documents still get their spans. Hot
paragraphs (a cookie banner in a million pages) are streamed twice per group (minimum, then the rest), never
held. `earlier` hashes (paragraphs of earlier runs, `dedup.against`) come before every occurrence of this run.

Spans index the text as stored in the annotations, which is the text documents/ gets: after extraction and
PII redaction. In remove mode the cut text is written to documents/, and every span column (these and
`rps_lines_*`) still indexes the text before the cut: the spans say what was cut.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Optional

import apache_beam as beam

from beam_curation.filters.dedup.paragraphs import paragraphs, repeats
from beam_curation.pipeline.graph.decide import node_of, shard_row
from beam_curation.pipeline.graph.metrics import measured

EARLIER = None  # the value an earlier run's hash is grouped with (beam_curation.filters.dedup.paragraphs.repeats)


class ParagraphHashes(beam.DoFn):
    """(shard index, decision rows with `text`) -> (node, [(hash, start, end)]) for each document with text
    and at least one paragraph that takes part; which documents take part is left to the join with the
    documents of dedup (only those meet their rank)."""

    def __init__(self, min_chars: int):
        self._min_chars = min_chars

    def process(self, element: tuple[int, list[dict[str, Any]]]) -> Iterator[tuple[int, list[tuple]]]:
        shard_index, rows = element
        for row in rows:
            text = row.get("text")
            if not text or row.get("_error") is not None:
                continue
            found = paragraphs(text, self._min_chars)
            if found:
                yield node_of(shard_index, row["_row"]), [tuple(p) for p in found]


def _occurrences(element: tuple[int, dict[str, Iterable]]) -> Iterator[tuple[bytes, tuple]]:
    """A document's paragraphs, its (rank, id) and whether document dedup removes it -> one record per
    paragraph, keyed by hash. A document without (rank, id) took no part in dedup: nothing."""
    node, grouped = element
    info = next(iter(grouped["info"]), None)
    found = next(iter(grouped["hashes"]), None)
    if info is None or found is None:
        return
    loser = any(True for _ in grouped["losers"])
    rank, doc_id = info
    for digest, start, end in found:
        yield digest, (loser, rank, doc_id, node, start, end)


def _repeats(element: tuple[bytes, Iterable[Optional[tuple]]]) -> Iterator[tuple[int, tuple[int, int]]]:
    """(hash, occurrences) -> (node, (start, end)) for every occurrence but the first (all of them when an
    earlier run holds the paragraph): two passes over the re-iterable group, nothing stored."""
    _digest, values = element
    for _loser, _rank, _id, node, start, end in repeats(values):
        yield node, (start, end)


def _sorted_spans(element: tuple[int, Iterable[tuple[int, int]]]) -> tuple[int, list[tuple[int, int]]]:
    node, spans = element
    return node, sorted(spans)


class DedupParagraphs(beam.PTransform):
    """Decision rows (with text) -> (node, sorted [(start, end)]) for every document with a repeated
    paragraph; `docs` are the documents of dedup (DedupDoc), `members` document dedup's cluster members
    (node, ClusterMember), `earlier` an optional PCollection of paragraph hashes of earlier runs."""

    def __init__(self, docs, members, min_chars: int, earlier=None, measure: bool = False):
        super().__init__()
        self._docs = docs
        self._members = members
        self._min_chars = min_chars
        self._earlier = earlier
        self._measure = measure

    def expand(self, rows):
        m = self._measure
        hashes = rows | "Hashes" >> beam.ParDo(ParagraphHashes(self._min_chars))
        info = self._docs | "Info" >> beam.Map(lambda d: (d.node, (d.rank, d.id)))
        losers = self._members | "Losers" >> beam.FlatMapTuple(
            lambda node, member: [] if member.keep else [(node, True)])
        joined = ({"hashes": measured(hashes, "CountHashes", "paragraphs", m),
                   "info": measured(info, "CountInfo", "paragraphs", m),
                   "losers": measured(losers, "CountLosers", "paragraphs", m)}
                  | "JoinDocs" >> beam.CoGroupByKey())
        occurrences = joined | "Occurrences" >> beam.FlatMap(_occurrences)
        if self._earlier is not None:
            earlier = self._earlier | "Earlier" >> beam.Map(lambda digest: (digest, EARLIER))
            occurrences = (occurrences, earlier) | "WithEarlier" >> beam.Flatten()
        repeated = (measured(occurrences, "CountOccurrences", "paragraphs", m)
                    | "GroupHash" >> beam.GroupByKey()
                    | "Repeats" >> beam.FlatMap(_repeats))
        return (measured(repeated, "CountSpans", "paragraphs", m)
                | "GroupDoc" >> beam.GroupByKey()
                | "Sorted" >> beam.Map(_sorted_spans))


def _documents_files(folder: str) -> list[str]:
    """The documents/ files of a finished output folder (any Beam filesystem), sorted."""
    import posixpath

    from apache_beam.io.filesystems import FileSystems

    pattern = posixpath.join(folder.rstrip("/"), "documents", "*.parquet")
    return sorted(m.path for result in FileSystems.match([pattern]) for m in result.metadata_list)


def _file_hashes(path: str, min_chars: int) -> Iterator[bytes]:
    """Every paragraph hash of one documents/ file, a row group at a time."""
    import pyarrow.parquet as pq

    from beam_curation.pipeline.io.readers import open_path

    with open_path(path) as handle:
        parquet = pq.ParquetFile(handle)
        for group in range(parquet.num_row_groups):
            for text in parquet.read_row_group(group, columns=["text"]).column(0).to_pylist():
                for paragraph in paragraphs(text or "", min_chars):
                    yield paragraph.hash


class EarlierParagraphs(beam.PTransform):
    """Earlier output folders -> the distinct hashes of the paragraphs their documents/ hold (read, never
    written): what `DedupParagraphs(earlier=...)` takes, so that every occurrence of this run of a paragraph an
    earlier run kept is a repeat. The seam for `dedup.against`, which does not feed it yet."""

    def __init__(self, folders: list[str], min_chars: int):
        super().__init__()
        self._folders = list(folders)
        self._min_chars = min_chars

    def expand(self, p):
        return (p
                | "Folders" >> beam.Create(self._folders)
                | "Files" >> beam.FlatMap(_documents_files)
                | "SpreadFiles" >> beam.Reshuffle()
                | "Hashes" >> beam.FlatMap(_file_hashes, self._min_chars)
                | "Distinct" >> beam.Distinct())


def spans_by_part(element: tuple[int, list[tuple[int, int]]], rows_per_file: int) -> tuple[tuple[int, int], tuple]:
    """(node, spans) -> ((shard index, part), (row, spans)) for the part's writer."""
    from beam_curation.pipeline.io.shards import part_of

    node, spans = element
    shard, row = shard_row(node)
    return (shard, part_of(row, rows_per_file)), (row, spans)


def strip_text(element: tuple[int, list[dict[str, Any]]]) -> tuple[int, list[dict[str, Any]]]:
    """Decision rows without their text (before rows are regrouped by node: nothing grouped carries text)."""
    shard_index, rows = element
    return shard_index, [{k: v for k, v in row.items() if k != "text"} for row in rows]
