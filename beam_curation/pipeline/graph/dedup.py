"""Exact and MinHash near-duplicate detection on Beam, with no single-node step.

Graph (every arrow is a shuffle of small records; no step holds all documents or all edges):

1. Each document is a *node*: a compact integer unique within the run. Buckets, edges and component rounds
   carry only nodes and fixed-width keys (a few bytes each); a document's id and keep rank travel once.
2. Buckets -> edges. Exact keys (hash of normalised text, optionally of the normalised URL) and LSH bucket
   keys (one per band and threshold, 12 bytes; documents without shingles get none) group nodes. Every member
   is linked to its bucket's minimum node: ``size - 1`` edges per bucket, never all pairs. Memberships travel
   packed: per batch of documents, one block of fixed-width (key, node) rows per key partition
   (``filters/dedup/packed.py``), sorted per partition, so a document costs a small fraction of a shuffled
   record instead of ~15; with ``verify_jaccard`` (signatures travel too) a record per membership, each bucket
   streamed twice (minimum, then edges).
3. Connected components by alternating large-star / small-star rounds (Kiveris et al., "Connected
   Components in MapReduce and Beyond", SoCC 2014), unrolled ``max_rounds`` times. Edges travel as blocks of
   int64 pairs keyed by a partition of the node space (``filters/dedup/components.py``): each step sorts a
   partition's rows and handles all its nodes at once, and a bundle's output goes on as one block per next
   partition, so a round costs a few records a bundle, not one an edge. A final grouping checks the fixed
   point (every component a star around its minimum) and fails the pipeline, naming ``dedup.max_rounds``, if
   it was not reached.
4. Keepers. Labels are joined with every document's (rank, id, exact keys); nodes on an edge (members of
   clusters of two or more) are grouped by component: the member with the smallest (rank, id, node) is kept,
   ``cluster_id`` is its id. A removed member is an exact duplicate when a better-ranked member of its cluster
   shares one of its exact keys (a grouping by component and key), else a MinHash duplicate. Documents on no
   edge are singletons: kept, and nothing more is shuffled for them.

Results depend only on the input and config: the same on every runner, worker count and rerun.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
from typing import Iterator, NamedTuple, Optional

import apache_beam as beam
import numpy as np
from apache_beam import pvalue
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from beam_curation.filters.dedup import components
from beam_curation.filters.dedup.keys import DedupKeyer
from beam_curation.filters.dedup.types import REASON_EXACT, REASON_MINHASH, DedupConfig, DedupDoc, DupRecord
from beam_curation.filters.dedup.minhash import estimate_jaccard
from beam_curation.filters.dedup.packed import link_blocks, pack
from beam_curation.pipeline.graph.metrics import measured

logger = logging.getLogger(__name__)


_PACK_BATCH = 1024  # documents whose memberships are packed together (a block per key partition)
_EDGE_BATCH = 4096  # edge records made one block per node partition
_FLUSH_ROWS = 1 << 20  # a star step sends its gathered edges on at least this often (16 MB of rows)


# ---------------------------------------------------------------------------------------------------
# DoFns and small composites
# ---------------------------------------------------------------------------------------------------


def _member_node(value):
    return value[0] if isinstance(value, tuple) else value


class _LinkToBucketMin(beam.DoFn):
    """One bucket -> edges ``(min node, member)`` linking every member to the bucket's minimum node.

    Members are streamed (two passes over a re-iterable), never held in a list. They are ``node`` or, when
    verifying, ``(node, signature bytes)``; with verification an edge is kept only if the MinHash estimate of
    Jaccard similarity with the minimum reaches ``threshold``.
    """

    def __init__(self, verify_threshold: Optional[float] = None):
        self._verify = verify_threshold

    def process(self, element):
        _key, values = element
        m = None
        count = 0
        for value in values:
            node = _member_node(value)
            count += 1
            if m is None or node < m:
                m = node
        if count < 2:
            return
        m_sig = None
        if self._verify is not None:
            for node, sig in values:
                if node == m:
                    m_sig = np.frombuffer(sig, dtype=np.uint32)
                    break
        for value in values:
            node = _member_node(value)
            if node == m:
                continue
            if self._verify is not None and estimate_jaccard(np.frombuffer(value[1], dtype=np.uint32), m_sig) < self._verify:
                continue
            yield (m, node)


class LinkBuckets(beam.PTransform):
    """``(bucket key, member)`` -> edges ``(min node, node)`` linking each member to its bucket's minimum."""

    def __init__(self, verify_threshold: Optional[float] = None, label: str = "buckets", measure: bool = False):
        super().__init__()
        self._verify = verify_threshold
        self._label = label
        self._measure = measure

    def expand(self, members):
        return (
            measured(members, "Count", self._label, self._measure)
            | "Group" >> beam.GroupByKey()
            | "Link" >> beam.ParDo(_LinkToBucketMin(self._verify))
        )


class LinkPacked(beam.PTransform):
    """Batches of documents -> edges ``(min node, node)``, the same as ``LinkBuckets`` over ``members(doc)``, but
    shuffling one block of packed (key, node) rows per batch and key partition instead of a record per key."""

    def __init__(self, members, label: str = "buckets", measure: bool = False):
        super().__init__()
        self._members = members
        self._label = label
        self._measure = measure

    def expand(self, batches):
        members = self._members
        blocks = batches | "Pack" >> beam.FlatMap(lambda batch: pack(m for doc in batch for m in members(doc)))
        return (
            measured(blocks, "Count", self._label, self._measure)
            | "Group" >> beam.GroupByKey()
            | "Link" >> beam.FlatMap(lambda part: link_blocks(part[1]))
        )


def _exact_members(doc: DedupDoc) -> Iterator[tuple[bytes, int]]:
    for key in doc.exact:
        yield key, doc.node


def _band_members(doc: DedupDoc, t_index: int) -> Iterator[tuple[bytes, object]]:
    if not (doc.shingled and doc.bands):
        return
    member = (doc.node, doc.signature) if doc.signature is not None else doc.node
    for key in doc.bands[t_index]:
        yield key, member


class _StarStep(beam.DoFn):
    """(partition, edge blocks) -> a star step's edges, gathered over the bundle and sent on as blocks keyed by the
    next step's partitions (a few records a bundle, not one an edge)."""

    def __init__(self, step, route_next):
        self._step = step
        self._route = route_next

    def start_bundle(self) -> None:
        self._a, self._b, self._rows = [], [], 0

    def process(self, element):
        a, b = self._step(*components.rows_of(element[1]))
        self._a.append(a)
        self._b.append(b)
        self._rows += len(a)
        if self._rows >= _FLUSH_ROWS:
            yield from self._flush()

    def finish_bundle(self):
        for block in self._flush():
            yield WindowedValue(block, MIN_TIMESTAMP, [GlobalWindow()])

    def _flush(self) -> list[tuple[int, bytes]]:
        if not self._a:
            return []
        a, b = np.concatenate(self._a), np.concatenate(self._b)
        self._a, self._b, self._rows = [], [], 0
        return self._route(a, b)


def _to_larger_end(a, b):
    return components.route(b, a)


class _CheckedLabel(beam.DoFn):
    """Star-form check of the last round, per partition: emits ``(node, label)`` for every node on an edge, and the
    number of nodes not in star form on the ``bad`` output."""

    BAD = "bad"

    def process(self, element):
        nodes, labels, bad = components.star_labels(*components.rows_of(element[1]))
        if bad:
            yield pvalue.TaggedOutput(self.BAD, bad)
        yield from zip(nodes.tolist(), labels.tolist())


def _fail_unless_converged(node_label, bad: int, max_rounds: int):
    if bad:
        raise RuntimeError(
            f"dedup connected components did not converge in dedup.max_rounds={max_rounds} "
            f"({bad} nodes not in star form); raise dedup.max_rounds"
        )
    return node_label


class ConnectedComponents(beam.PTransform):
    """Edges ``(a, b)`` of non-negative int nodes (duplicates allowed) -> ``(node, label)`` for every node on an
    edge; label = the component's minimum node."""

    def __init__(self, max_rounds: int, measure: bool = False):
        super().__init__()
        self._max_rounds = max_rounds
        self._measure = measure

    def expand(self, edges):
        m = self._measure
        blocks = (edges
                  | "Batch" >> beam.BatchElements(min_batch_size=_EDGE_BATCH, max_batch_size=_EDGE_BATCH)
                  | "Blocks" >> beam.FlatMap(lambda batch: components.route_both(*components.edges_array(batch))))
        for i in range(self._max_rounds):
            last = i == self._max_rounds - 1
            blocks = (measured(blocks, f"LargeStar{i}Count", "components", m)
                      | f"LargeStar{i}Group" >> beam.GroupByKey()
                      | f"LargeStar{i}" >> beam.ParDo(_StarStep(components.large_star, _to_larger_end)))
            blocks = (measured(blocks, f"SmallStar{i}Count", "components", m)
                      | f"SmallStar{i}Group" >> beam.GroupByKey()
                      | f"SmallStar{i}" >> beam.ParDo(_StarStep(
                          components.small_star, components.label_rows if last else components.route_both)))
        checked = (
            measured(blocks, "LabelCount", "components", m)
            | "LabelGroup" >> beam.GroupByKey()
            | "Label" >> beam.ParDo(_CheckedLabel()).with_outputs(_CheckedLabel.BAD, main="labels")
        )
        bad = checked[_CheckedLabel.BAD] | "CountBad" >> beam.CombineGlobally(sum)
        return checked.labels | "CheckConverged" >> beam.Map(
            _fail_unless_converged, bad=pvalue.AsSingleton(bad), max_rounds=self._max_rounds
        )


class ClusterMember(NamedTuple):
    """A member of a cluster of two or more: its keeper's id, the cluster's size, whether it is the keeper, and
    the keeper's folder when it is an earlier run's (`dedup.against`; None: this run), and its own id."""

    cluster_id: str
    cluster_size: int
    keep: bool
    keeper_run: Optional[str] = None
    doc_id: Optional[str] = None


@beam.typehints.with_output_types(beam.typehints.Tuple[beam.typehints.Any, beam.typehints.Any])
class _LabelledMember(beam.DoFn):
    """(node, [label and/or info]) -> (label, (rank, id, node, exact keys)) for nodes on an edge; with
    ``singletons``, the id of every document on no edge on the ``singletons`` output (it saves a later join of
    every document's id with the members)."""

    SINGLETONS = "singletons"

    def __init__(self, singletons: bool = False):
        self._singletons = singletons

    def process(self, element):
        node, values = element
        label = info = None
        for tag, value in values:
            if tag == "l":
                label = value
            else:
                info = value
        if info is None:
            return
        rank, doc_id, exact = info
        if label is not None:
            yield label, (rank, doc_id, node, exact)
        elif self._singletons:
            yield pvalue.TaggedOutput(self.SINGLETONS, doc_id)


class _ChooseKeeper(beam.DoFn):
    """One component (label, members) -> (node, ClusterMember) per member, plus, per member and exact key,
    ((label, key), (rank, id, node)) on the ``by_key`` output for the exact-duplicate check."""

    BY_KEY = "by_key"

    def process(self, element):
        label, members = element
        best, size = None, 0
        for rank, doc_id, node, _ in members:
            size += 1
            if best is None or (rank, doc_id, node) < best:
                best = (rank, doc_id, node)
        keeper_id, keeper_node = best[1], best[2]
        for rank, doc_id, node, exact in members:
            yield node, ClusterMember(keeper_id, size, node == keeper_node, None, doc_id)
            for key in exact:
                yield pvalue.TaggedOutput(self.BY_KEY, ((label, key), (rank, doc_id, node)))


def _exact_copies(element) -> Iterator[int]:
    """Members of one (component, exact key) group that a better-ranked member shares the key with."""
    _, members = element
    best = None
    for member in members:
        if best is None or member < best:
            best = member
    for member in members:
        if member != best:
            yield member[2]


class AssignClusters(beam.PTransform):
    """Labels ``(node, label)`` and every document -> ``{"members": (node, ClusterMember), "exact": node}``.

    ``exact`` holds the removed members that are exact copies of a better-ranked member (their removal reason is
    ``dedup_exact``; other removed members are ``dedup_minhash``). Singletons produce nothing, or with
    ``singletons`` their ids on a third output, ``"singletons"``."""

    def __init__(self, docs, measure: bool = False, singletons: bool = False):
        super().__init__()
        self._docs = docs
        self._measure = measure
        self._singletons = singletons

    def expand(self, labels):
        info = self._docs | "Info" >> beam.Map(lambda d: (d.node, ("i", (d.rank, d.id, d.exact))))
        m = self._measure
        joined = (labels | "TagLabel" >> beam.MapTuple(lambda node, label: (node, ("l", label))), info) | "JoinInfo" >> beam.Flatten()
        labelled = (measured(joined, "CountInfo", "assign", m)
                    | "GroupNode" >> beam.GroupByKey()
                    | "Labelled" >> beam.ParDo(_LabelledMember(self._singletons)).with_outputs(
                        _LabelledMember.SINGLETONS, main="members"))
        chosen = (measured(labelled.members, "CountMembers", "assign", m)
                  | "GroupCluster" >> beam.GroupByKey()
                  | "Keeper" >> beam.ParDo(_ChooseKeeper()).with_outputs(_ChooseKeeper.BY_KEY, main="members"))
        exact = (measured(chosen[_ChooseKeeper.BY_KEY], "CountByKey", "assign", m)
                 | "GroupByKey" >> beam.GroupByKey()
                 | "ExactCopies" >> beam.FlatMap(_exact_copies))
        out = {"members": chosen.members, "exact": exact}
        if self._singletons:
            out["singletons"] = labelled[_LabelledMember.SINGLETONS]
        return out


def dup_record(doc_id: str, member: Optional[ClusterMember], exact_copy: bool) -> DupRecord:
    """The dedup result of one document (``member`` None: a singleton, its own cluster of one, kept)."""
    if member is None:
        return DupRecord(doc_id, doc_id, 1, True, None)
    reason = None if member.keep else (REASON_EXACT if exact_copy else REASON_MINHASH)
    return DupRecord(doc_id, member.cluster_id, member.cluster_size, member.keep, reason, member.keeper_run)


class ClusterDocs(beam.PTransform):
    """``PCollection[DedupDoc]`` -> ``{threshold: {"members": ..., "exact": ...}}`` (see ``AssignClusters``)
    for ``config.all_thresholds()``. Exact-key edges are computed once and shared by every threshold."""

    def __init__(self, config: DedupConfig = DedupConfig(), measure: bool = False, singletons: bool = False):
        super().__init__()
        self._config = config
        self._measure = measure
        self._singletons = singletons

    def expand(self, docs):
        c = self._config
        thresholds = c.all_thresholds()
        keyer = DedupKeyer(c)
        if c.minhash:
            for params in keyer.params:
                logger.info("dedup: threshold %.2f -> %d bands x %d rows of %d permutations",
                            params.threshold, params.bands, params.rows, c.num_perm)
        edge_sets = []
        # Memberships travel packed in blocks (LinkPacked) unless pairs are verified, which needs signatures.
        batches = docs | "Batch" >> beam.BatchElements(min_batch_size=_PACK_BATCH, max_batch_size=_PACK_BATCH)
        if c.exact or c.url:
            edge_sets.append(batches | "ExactLink" >> LinkPacked(_exact_members, "exact", self._measure))
        results = {}
        for i, t in enumerate(thresholds):
            name = f"T{t:g}"
            sets = list(edge_sets)
            if c.minhash and c.verify_jaccard:
                sets.append(docs | f"{name}Bands" >> beam.FlatMap(_band_members, i)
                            | f"{name}Link" >> LinkBuckets(t, "bands", self._measure))
            elif c.minhash:
                sets.append(batches | f"{name}Link" >> LinkPacked(functools.partial(_band_members, t_index=i),
                                                                  "bands", self._measure))
            if not sets:
                sets.append(docs | f"{name}NoKeys" >> beam.FlatMap(lambda d: ()))
            edges = measured(sets | f"{name}Edges" >> beam.Flatten(), f"{name}CountEdges", "edges", self._measure)
            labels = edges | f"{name}CC" >> ConnectedComponents(c.max_rounds, self._measure)
            results[t] = labels | f"{name}Assign" >> AssignClusters(docs, self._measure, self._singletons)
        return results


def _text_node(doc_id: str) -> int:
    """A 63-bit node for a standalone document id (``Deduplicate``): ids must be unique."""
    return int.from_bytes(hashlib.blake2b(doc_id.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                          "big") >> 1


class _StandaloneDocs(beam.DoFn):
    """A batch of ``DedupInput`` -> ``DedupDoc`` (signatures computed in batches)."""

    def __init__(self, config: DedupConfig):
        self._config = config
        self._keyer = None

    def setup(self) -> None:
        self._keyer = DedupKeyer(self._config)

    def process(self, batch):
        annotations = self._keyer.annotate(d.text or "" for d in batch)
        bands = self._keyer.bands([signature for _, signature, _ in annotations])
        for d, (exact, signature, shingled), doc_bands in zip(batch, annotations, bands):
            yield self._keyer.doc(_text_node(d.id), d.id, len(d.text or ""), d.quality_score, exact, d.url,
                                  signature, shingled, d.language, bands=doc_bands)


def _member_record(element) -> DupRecord:
    """(node, [its ClusterMember, and "x" when it is an exact copy]) -> its record."""
    _, values = element
    member, exact = None, False
    for tag, value in values:
        if tag == "m":
            member = value
        else:
            exact = True
    return dup_record(member.doc_id, member, exact)


class DeduplicateAll(beam.PTransform):
    """``DedupInput`` -> ``{threshold: PCollection[DupRecord]}``, one record per input, for every threshold.

    Standalone use (tests, benchmarks, other pipelines); the curation pipeline feeds ``ClusterDocs`` from
    stored annotations instead."""

    def __init__(self, config: DedupConfig = DedupConfig(), measure: bool = False):
        super().__init__()
        self._config = config
        self._measure = measure  # count the records (and bytes) of every grouping

    def expand(self, inputs):
        c = self._config
        docs = (inputs
                | "Batch" >> beam.BatchElements(min_batch_size=max(1, c.batch_size // 4), max_batch_size=c.batch_size)
                | "Docs" >> beam.ParDo(_StandaloneDocs(c)))
        if not c.enabled or not (c.exact or c.url or c.minhash):
            records = docs | "Singletons" >> beam.Map(lambda d: dup_record(d.id, None, False))
            return {t: records for t in c.all_thresholds()}
        out = {}
        for t, clusters in (docs | "Cluster" >> ClusterDocs(c, self._measure, singletons=True)).items():
            name = f"T{t:g}"
            # Only members of clusters are joined (with their exact-copy mark); singletons come out of the
            # clustering's own join of labels with documents.
            members = clusters["members"] | f"{name}TagMember" >> beam.MapTuple(lambda n, m: (n, ("m", m)))
            exact = clusters["exact"] | f"{name}TagExact" >> beam.Map(lambda n: (n, ("x", None)))
            records = ((members, exact) | f"{name}Join" >> beam.Flatten()
                       | f"{name}Group" >> beam.GroupByKey() | f"{name}Record" >> beam.Map(_member_record))
            singles = clusters["singletons"] | f"{name}Singleton" >> beam.Map(lambda i: dup_record(i, None, False))
            out[t] = (records, singles) | f"{name}Records" >> beam.Flatten()
        return out


class Deduplicate(beam.PTransform):
    """``PCollection[DedupInput]`` -> ``PCollection[DupRecord]`` (one per input) at ``config.threshold``."""

    def __init__(self, config: DedupConfig = DedupConfig(), measure: bool = False):
        super().__init__()
        self._config = config
        self._measure = measure

    def expand(self, docs):
        single = dataclasses.replace(self._config, thresholds=())
        return (docs | "All" >> DeduplicateAll(single, self._measure))[float(single.threshold)]
