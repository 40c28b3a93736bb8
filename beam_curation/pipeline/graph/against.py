"""Dedup against earlier runs (`dedup.against`): their kept documents' stored keys are an index the new
documents are matched with before the new documents are clustered among themselves.

    index parts ──> IndexEntries ──┐ (bucket key, index entry)     bucket keys: exact keys and the primary
    new DedupDocs ─> NewMembers ───┤ (bucket key, new node)        threshold's LSH bands, as ClusterDocs uses
                                   v
                      group by key -> each new node -> the best index entry of its bucket (verified if
                                   │   `verify_jaccard`) -> per node the best over its buckets
                                   v
              removed as a duplicate of that earlier document (its id and folder in duplicates/); the new
              documents with no match go on to ClusterDocs, as a run of only them would.

Earlier documents always win: a new document never keeps its place against an earlier kept one, and among
earlier documents the first folder in `dedup.against` wins, then the keep policy's (rank, id), then the row.
Index entries take part in buckets only: they are not clustered, written, or counted in the new run, so the cost
is one read of the index plus a grouping of its bucket keys, not a re-dedup of the union.
"""

from __future__ import annotations

import itertools
from typing import Iterator, Optional

import apache_beam as beam
import numpy as np
from apache_beam import pvalue

from beam_curation.filters.dedup.minhash import estimate_jaccard
from beam_curation.filters.dedup.types import DedupConfig, DedupDoc
from beam_curation.pipeline.graph.decide import KeepValues
from beam_curation.pipeline.graph.dedup import ClusterMember
from beam_curation.pipeline.io.against import IndexPart, index_rows

EXACT, BAND = b"e", b"b"
_BATCH = 1024  # index rows whose bucket keys are hashed at once


def _bucket_keys(doc: DedupDoc) -> Iterator[bytes]:
    for key in doc.exact:
        yield EXACT + key
    if doc.shingled and doc.bands:
        for key in doc.bands[0]:  # the primary threshold's bands (the pipeline clusters at that one only)
            yield BAND + key


class IndexEntries(beam.DoFn):
    """An earlier run's shard (IndexPart) -> (bucket key, ("i", entry, signature)) for each document it kept;
    entry = (folder index, keep rank, id, shard, row): the order in which earlier documents win."""

    def __init__(self, dedup: DedupConfig):
        self._dedup = dedup
        self._keyer = None

    def setup(self) -> None:
        from beam_curation.filters.dedup.keys import DedupKeyer

        self._keyer = DedupKeyer(self._dedup)
        self._keep = KeepValues(self._dedup.keep)

    def process(self, part: IndexPart) -> Iterator[tuple[bytes, tuple]]:
        rows = index_rows(part, self._keep.columns)
        while batch := list(itertools.islice(rows, _BATCH)):  # bucket keys are hashed a batch at a time
            bands = self._keyer.bands([row.get("_minhash") for row in batch])
            for row, row_bands in zip(batch, bands):
                doc = self._keyer.doc(0, row["id"], row.get("_text_chars") or 0, row.get("quality_score"),
                                      row["_text_hash"], row.get("url"), row.get("_minhash"),
                                      bool(row.get("_shingled")), row.get("language"), self._keep.source(row),
                                      self._keep.value(row), bands=row_bands)
                entry = (part.folder_index, doc.rank, doc.id, part.shard_index, row["_row"])
                for key in _bucket_keys(doc):
                    yield key, ("i", entry, doc.signature if key[:1] == BAND else None)


def _new_members(doc: DedupDoc) -> Iterator[tuple[bytes, tuple]]:
    for key in _bucket_keys(doc):
        yield key, ("n", doc.node, doc.signature if key[:1] == BAND else None)


class _MatchBucket(beam.DoFn):
    """A bucket -> (new node, (best index entry, 0 for an exact key else 1)) for each new member that an index
    entry of the bucket matches; nothing for a bucket without index entries. Index entries of a bucket are few
    (an earlier run kept at most a handful of documents sharing a key); new members are streamed."""

    def __init__(self, verify_threshold: Optional[float]):
        self._verify = verify_threshold

    def process(self, element):
        key, values = element
        index = sorted((entry, sig) for tag, entry, sig in values if tag == "i")
        if not index:
            return
        exact = key[:1] == EXACT
        verify = self._verify is not None and not exact
        sigs = [np.frombuffer(sig, dtype=np.uint32) if verify and sig is not None else None for _, sig in index]
        for tag, node, sig in values:
            if tag != "n":
                continue
            mine = np.frombuffer(sig, dtype=np.uint32) if verify and sig is not None else None
            for (entry, _), theirs in zip(index, sigs):
                if not verify or (mine is not None and theirs is not None
                                  and estimate_jaccard(mine, theirs) >= self._verify):
                    yield node, (entry, 0 if exact else 1)
                    break


class _Members(beam.DoFn):
    """(index entry, [(node, flag)]) -> (node, ClusterMember naming the earlier document and its folder) for each
    new document it removes; on ``exact``, the nodes it matched by an exact key."""

    EXACT = "exact"

    def __init__(self, folders: tuple[str, ...]):
        self._folders = folders

    def process(self, element):
        entry, matched = element
        size = 1 + sum(1 for _ in matched)
        for node, flag in matched:
            yield node, ClusterMember(entry[2], size, False, self._folders[entry[0]])
            if flag == 0:
                yield pvalue.TaggedOutput(self.EXACT, node)


def _unmatched(element) -> Iterator[DedupDoc]:
    _, grouped = element
    if not list(grouped["hit"]):
        yield from grouped["doc"]


class MatchAgainst(beam.PTransform):
    """New ``DedupDoc``s and the `against` runs -> {"members": (node, ClusterMember), "exact": node,
    "rest": the new DedupDocs no earlier kept document matches}."""

    def __init__(self, dedup: DedupConfig, parts: list[IndexPart]):
        super().__init__()
        self._dedup = dedup
        self._parts = parts

    def expand(self, docs):
        c = self._dedup
        index = (docs.pipeline | "IndexParts" >> beam.Create(self._parts)
                 | "SpreadIndex" >> beam.Reshuffle()
                 | "IndexEntries" >> beam.ParDo(IndexEntries(c)))
        new = docs | "NewMembers" >> beam.FlatMap(_new_members)
        best = ((index, new) | "JoinBuckets" >> beam.Flatten()
                | "GroupBuckets" >> beam.GroupByKey()
                | "Match" >> beam.ParDo(_MatchBucket(float(c.threshold) if c.verify_jaccard else None))
                | "BestMatch" >> beam.CombinePerKey(min))
        removed = (best | "ByEntry" >> beam.MapTuple(lambda node, match: (match[0], (node, match[1])))
                   | "GroupByEntry" >> beam.GroupByKey()
                   | "Members" >> beam.ParDo(_Members(c.against)).with_outputs(_Members.EXACT, main="members"))
        rest = ({"doc": docs | "DocByNode" >> beam.Map(lambda d: (d.node, d)),
                 "hit": best | "HitByNode" >> beam.MapTuple(lambda node, _: (node, None))}
                | "JoinHits" >> beam.CoGroupByKey()
                | "Rest" >> beam.FlatMap(_unmatched))
        return {"members": removed.members, "exact": removed[_Members.EXACT], "rest": rest}

