"""Exact and MinHash near-duplicate detection on Beam, with no single-node step.

Graph (every arrow is a shuffle of small records; no step holds all documents or all edges):

1. Each document becomes a *node*: 8 bytes ranking it under the keep policy, then its id. Nodes sort
   by (rank, id), so the minimum node of any group is the document to keep there.
2. Buckets -> edges. Exact keys (hash of normalised text, optionally of the normalised URL) and LSH band
   keys (one per band and threshold; documents without shingles get none) group nodes into buckets.
   Every member is linked to its bucket's minimum node: ``size - 1`` edges per bucket, never all pairs,
   never a list of members in memory. For exact keys a combiner computes each bucket's (size, minimum)
   before the shuffle (hot keys: one boilerplate text in millions of pages) and is joined back to the
   members; for band keys, mostly singletons, one grouping streams each bucket twice (size and minimum,
   then edges), which shuffles half as many records.
3. Connected components by alternating large-star / small-star rounds (Kiveris et al., "Connected
   Components in MapReduce and Beyond", SoCC 2014), unrolled ``max_rounds`` times. Each round groups
   edges by node and streams each neighbourhood twice (minimum, then emit), so a node with millions of
   neighbours costs time, not memory. A final grouping checks the fixed point (every component a star
   around its minimum) and fails the pipeline, naming ``dedup.max_rounds``, if it was not reached.
4. The component's minimum node is its keeper; ``cluster_id`` is the keeper's id. Sizes come from a
   combiner; a last grouping by node gives exactly one ``DupRecord`` per input document.

Results depend only on the input and config: the same on every runner, worker count and rerun.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import struct
from typing import Iterable, Iterator, Optional

import apache_beam as beam
import numpy as np
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from filters.dedup_types import REASON_EXACT, REASON_MINHASH, DedupConfig, DedupInput, DedupKeys, DupRecord
from filters.exact_dedup import text_hash, url_hash
from filters.lsh import band_keys, lsh_params
from filters.minhash import MAX_HASH32, MinHasher, ShingleConfig, estimate_jaccard

logger = logging.getLogger(__name__)

_RANK_BYTES = 8
_METRICS_NAMESPACE = "dedup"


# ---------------------------------------------------------------------------------------------------
# Nodes: documents ordered by the keep policy
# ---------------------------------------------------------------------------------------------------


def _ordered_float_bytes(x: float) -> bytes:
    """8 bytes whose lexicographic order is the numeric order of ``x`` (IEEE-754 sign trick)."""
    (u,) = struct.unpack(">Q", struct.pack(">d", x))
    u = (~u & 0xFFFFFFFFFFFFFFFF) if u >> 63 else (u | (1 << 63))
    return struct.pack(">Q", u)


def keep_rank(doc: DedupInput, keep: str) -> float:
    """Lower is better: the number the keep policy sorts by before the id."""
    if keep == "longest_text":
        return -float(len(doc.text or ""))
    if keep == "highest_quality":
        q = doc.quality_score
        if q is None or (isinstance(q, float) and math.isnan(q)):
            return math.inf
        return -float(q)
    return 0.0


def node_key(doc: DedupInput, keep: str) -> bytes:
    """The document's node: rank bytes then UTF-8 id (UTF-8 byte order is code point order)."""
    return _ordered_float_bytes(keep_rank(doc, keep)) + doc.id.encode("utf-8", "surrogatepass")


def node_id(node: bytes) -> str:
    return node[_RANK_BYTES:].decode("utf-8", "surrogatepass")


def _edge(a: bytes, b: bytes) -> tuple[bytes, bytes]:
    return (a, b) if a < b else (b, a)


# ---------------------------------------------------------------------------------------------------
# Per-key steps (plain functions: unit-testable without Beam)
# ---------------------------------------------------------------------------------------------------


def large_star(node: bytes, neighbours: Iterable[bytes]) -> Iterator[tuple[bytes, bytes]]:
    """Link every strictly larger neighbour of ``node`` to the minimum of its closed neighbourhood."""
    m = node
    for v in neighbours:
        if v < m:
            m = v
    for v in neighbours:  # second pass over a re-iterable: no neighbourhood list in memory
        if v > node:
            yield (m, v)


def small_star(node: bytes, smaller: Iterable[bytes]) -> Iterator[tuple[bytes, bytes]]:
    """Link ``node`` and its smaller neighbours to the smallest of them."""
    m = node
    for v in smaller:
        if v < m:
            m = v
    for v in smaller:
        if v != m:
            yield (m, v)
    if node != m:
        yield (m, node)


def star_label(node: bytes, tags: Iterable[tuple[str, Optional[bytes]]]) -> tuple[bytes, bool]:
    """``(label, ok)`` for a node of the final edge set; ``ok`` is False unless it is a star root or leaf."""
    is_root = False
    parent: Optional[bytes] = None
    parents = 0
    for kind, other in tags:
        if kind == "S":
            is_root = True
        elif parent is None or other != parent:
            parents += 1
            parent = other if parent is None or other < parent else parent
    if parent is None:
        return node, True
    return parent, (not is_root and parents == 1)


# ---------------------------------------------------------------------------------------------------
# DoFns and small composites
# ---------------------------------------------------------------------------------------------------


class _Count(beam.DoFn):
    """Passes elements through and counts them (records entering a shuffle)."""

    def __init__(self, name: str):
        self._name = name
        self._counter = None

    def setup(self) -> None:
        self._counter = Metrics.counter(_METRICS_NAMESPACE, self._name)

    def process(self, element):
        self._counter.inc()
        yield element


class _CountMin(beam.CombineFn):
    """(count, minimum node) of a bucket: lifted before the shuffle, so hot buckets are cheap."""

    def create_accumulator(self):
        return (0, None)

    def add_input(self, acc, node):
        n, m = acc
        return (n + 1, node if m is None or node < m else m)

    def merge_accumulators(self, accs):
        n, m = 0, None
        for an, am in accs:
            n += an
            if am is not None and (m is None or am < m):
                m = am
        return (n, m)

    def extract_output(self, acc):
        return acc


def _member_node(value) -> bytes:
    return value[0] if isinstance(value, tuple) else value


class _LinkToBucketMin(beam.DoFn):
    """One bucket -> edges ``(min node, member)`` linking every member to the bucket's minimum node.

    Values are ``(tag, value)`` when a combiner's summary ``(count, min node)`` was joined in (tag 1;
    members are tag 0), else plain members; then the first pass over the bucket computes the summary
    itself. Either way members are streamed (two passes over a re-iterable), never held in a list.
    Members are ``node`` or, when verifying, ``(node, signature bytes)``; with verification an edge is
    kept only if the MinHash estimate of Jaccard similarity with the minimum reaches ``threshold``.
    With ``emit_non_min`` every member that is not the minimum also goes to the ``non_min`` output.
    """

    NON_MIN = "non_min"

    def __init__(self, joined_summary: bool, verify_threshold: Optional[float] = None, emit_non_min: bool = False):
        self._joined = joined_summary
        self._verify = verify_threshold
        self._emit_non_min = emit_non_min

    def _members(self, values):
        if not self._joined:
            return values
        return (value for tag, value in values if tag == 0)

    def process(self, element):
        _key, values = element
        m = None
        m_sig = None
        if self._joined:
            for tag, value in values:
                if tag == 1:
                    m = value[1]
                    break
            if m is None:  # singleton bucket (its summary was filtered out)
                return
        else:
            count = 0
            for value in values:
                node = _member_node(value)
                count += 1
                if m is None or node < m:
                    m = node
            if count < 2:
                return
        if self._verify is not None:
            for node, sig in self._members(values):
                if node == m:
                    m_sig = np.frombuffer(sig, dtype=np.uint32)
                    break
        for value in self._members(values):
            node = _member_node(value)
            if node == m:
                continue
            if self._verify is not None and estimate_jaccard(np.frombuffer(value[1], dtype=np.uint32), m_sig) < self._verify:
                continue
            yield (m, node)
            if self._emit_non_min:
                yield pvalue.TaggedOutput(self.NON_MIN, node)


class LinkBuckets(beam.PTransform):
    """``(bucket key, member)`` -> edges ``(min node, node)`` linking each member to its bucket's minimum.

    With ``combine`` the bucket summaries (size, minimum) are computed by a combiner lifted before the
    shuffle and joined back; without, one grouping streams each bucket twice (half the shuffled
    records, for keys that are mostly singletons such as LSH bands).
    """

    def __init__(
        self, combine: bool, verify_threshold: Optional[float] = None, emit_non_min: bool = False, label: str = ""
    ):
        super().__init__()
        self._combine = combine
        self._verify = verify_threshold
        self._emit_non_min = emit_non_min
        self._metric = f"shuffled_{label}" if label else "shuffled_buckets"

    def expand(self, members):
        if self._combine:
            summaries = (
                members
                | "Nodes" >> beam.MapTuple(lambda k, v: (k, _member_node(v)))
                | "CountMin" >> beam.CombinePerKey(_CountMin())
                | "NonSingleton" >> beam.Filter(lambda kv: kv[1][0] > 1)
                | "TagSummary" >> beam.MapTuple(lambda k, s: (k, (1, s)))
            )
            tagged = members | "TagMember" >> beam.MapTuple(lambda k, v: (k, (0, v)))
            grouped_input = (tagged, summaries) | "Join" >> beam.Flatten()
        else:
            grouped_input = members
        return (
            grouped_input
            | "Count" >> beam.ParDo(_Count(self._metric))
            | "Group" >> beam.GroupByKey()
            | "Link" >> beam.ParDo(_LinkToBucketMin(self._combine, self._verify, self._emit_non_min)).with_outputs(
                _LinkToBucketMin.NON_MIN, main="edges"
            )
        )


class _ComputeKeys(beam.DoFn):
    """A batch of ``(node, DedupInput)`` -> one ``DedupKeys`` per document."""

    def __init__(self, config: DedupConfig):
        self._config = config
        self._hasher: Optional[MinHasher] = None
        self._params = lsh_params(config.all_thresholds(), config.num_perm)
        self._docs = None

    def setup(self) -> None:
        c = self._config
        shingles = ShingleConfig(
            ngram=c.ngram, unit=c.ngram_unit, lowercase=c.lowercase, punctuation=c.punctuation,
            unicode_form=c.unicode_form,
        )
        self._hasher = MinHasher(c.num_perm, c.seed, shingles)
        self._docs = Metrics.counter(_METRICS_NAMESPACE, "minhash_docs")

    def process(self, batch):
        c = self._config
        exact = [tuple(_exact_keys(doc, c.exact, c.url)) for _, doc in batch]
        if not c.minhash:
            for (node, _), keys in zip(batch, exact):
                yield DedupKeys(node, keys, (), shingled=False)
            return
        sigs = self._hasher.signatures([doc.text or "" for _, doc in batch])
        no_shingles = (sigs == MAX_HASH32).all(axis=1)
        self._docs.inc(len(batch))
        per_threshold = [band_keys(sigs, params) for params in self._params]
        for i, ((node, _), keys) in enumerate(zip(batch, exact)):
            bands = tuple(tuple(t_keys[i]) for t_keys in per_threshold)
            # no shingles (empty text): nothing to compare by MinHash, exact dedup still applies
            yield DedupKeys(node, keys, bands, sigs[i].tobytes() if c.verify_jaccard else None,
                            shingled=not no_shingles[i])


def _exact_keys(doc: DedupInput, use_text: bool, use_url: bool) -> Iterator[bytes]:
    if use_text:
        yield b"t" + text_hash(doc.text or "")
    if use_url:
        h = url_hash(doc.url)
        if h is not None:
            yield b"u" + h


def _exact_members(keys: DedupKeys) -> Iterator[tuple[bytes, bytes]]:
    for key in keys.exact:
        yield key, keys.node


def _band_members(keys: DedupKeys, t_index: int) -> Iterator[tuple[bytes, object]]:
    if not (keys.shingled and keys.bands):
        return
    prefix = bytes([t_index])
    member = (keys.node, keys.signature) if keys.signature is not None else keys.node
    for band, key in enumerate(keys.bands[t_index]):
        yield prefix + struct.pack(">H", band) + key, member


class _CheckedLabel(beam.DoFn):
    """Star-form check of the last round: emits ``(node, label)``; counts nodes not in star form."""

    BAD = "bad"

    def process(self, element):
        node, tags = element
        label, ok = star_label(node, tags)
        if not ok:
            yield pvalue.TaggedOutput(self.BAD, 1)
        yield (node, label)


def _fail_unless_converged(node_label, bad: int, max_rounds: int):
    if bad:
        raise RuntimeError(
            f"dedup connected components did not converge in dedup.max_rounds={max_rounds} "
            f"({bad} nodes not in star form); raise dedup.max_rounds"
        )
    return node_label


class ConnectedComponents(beam.PTransform):
    """Edges ``(a, b)`` -> ``(node, label)`` for every node on an edge; label = component's minimum node."""

    def __init__(self, max_rounds: int):
        super().__init__()
        self._max_rounds = max_rounds

    def expand(self, edges):
        e = edges
        for i in range(self._max_rounds):
            e = (
                e
                | f"LargeStar{i}Out" >> beam.FlatMap(lambda ab: ((ab[0], ab[1]), (ab[1], ab[0])))
                | f"LargeStar{i}Count" >> beam.ParDo(_Count("shuffled_cc"))
                | f"LargeStar{i}Group" >> beam.GroupByKey()
                | f"LargeStar{i}" >> beam.FlatMapTuple(large_star)
            )
            e = (
                e
                | f"SmallStar{i}Count" >> beam.ParDo(_Count("shuffled_cc"))
                | f"SmallStar{i}Orient" >> beam.MapTuple(lambda a, b: (b, a))  # key: the larger end
                | f"SmallStar{i}Group" >> beam.GroupByKey()
                | f"SmallStar{i}" >> beam.FlatMapTuple(small_star)
            )
        checked = (
            e
            | "LabelTags" >> beam.FlatMap(lambda ab: ((ab[1], ("L", ab[0])), (ab[0], ("S", None))))
            | "LabelCount" >> beam.ParDo(_Count("shuffled_cc"))
            | "LabelGroup" >> beam.GroupByKey()
            | "Label" >> beam.ParDo(_CheckedLabel()).with_outputs(_CheckedLabel.BAD, main="labels")
        )
        bad = checked[_CheckedLabel.BAD] | "CountBad" >> beam.CombineGlobally(sum)
        return checked.labels | "CheckConverged" >> beam.Map(
            _fail_unless_converged, bad=pvalue.AsSingleton(bad), max_rounds=self._max_rounds
        )


class _EmitClusterMembers(beam.DoFn):
    """One component (label -> size, members) -> ``(node, (keeper id, size))`` per member."""

    def process(self, element):
        label, values = element
        size = 0
        for tag, value in values:
            if tag == 1:
                size = value
                break
        keeper = node_id(label)
        for tag, value in values:
            if tag == 0:
                yield (value, (keeper, size))


def _dup_record(element) -> DupRecord:
    node, values = element
    cluster = None
    exact_dup = False
    for tag, value in values:
        if tag == "c":
            cluster = value
        elif tag == "x":
            exact_dup = True
    doc_id = node_id(node)
    if cluster is None:
        return DupRecord(doc_id, doc_id, 1, True, None)
    keeper, size = cluster
    keep = keeper == doc_id
    reason = None if keep else (REASON_EXACT if exact_dup else REASON_MINHASH)
    return DupRecord(doc_id, keeper, size, keep, reason)


class AssignClusters(beam.PTransform):
    """Nodes, labels and exact-duplicate flags -> one ``DupRecord`` per node."""

    def __init__(self, nodes, exact_dups):
        super().__init__()
        self._nodes = nodes
        self._exact_dups = exact_dups

    def expand(self, labels):
        sizes = (
            labels
            | "LabelOne" >> beam.MapTuple(lambda node, label: (label, 1))
            | "Size" >> beam.CombinePerKey(sum)
            | "TagSize" >> beam.MapTuple(lambda label, n: (label, (1, n)))
        )
        members = labels | "TagMember" >> beam.MapTuple(lambda node, label: (label, (0, node)))
        clustered = (
            (members, sizes)
            | "JoinSize" >> beam.Flatten()
            | "CountClusters" >> beam.ParDo(_Count("shuffled_assign"))
            | "GroupCluster" >> beam.GroupByKey()
            | "Members" >> beam.ParDo(_EmitClusterMembers())
            | "TagCluster" >> beam.MapTuple(lambda node, c: (node, ("c", c)))
        )
        parts = [
            self._nodes | "TagDoc" >> beam.Map(lambda node: (node, ("d", None))),
            clustered,
        ]
        if self._exact_dups is not None:
            parts.append(self._exact_dups | "TagExact" >> beam.Map(lambda node: (node, ("x", None))))
        return (
            parts
            | "JoinDoc" >> beam.Flatten()
            | "CountDocs" >> beam.ParDo(_Count("shuffled_assign"))
            | "GroupDoc" >> beam.GroupByKey()
            | "Record" >> beam.Map(_dup_record)
        )


class ComputeDedupKeys(beam.PTransform):
    """``PCollection[DedupInput]`` -> ``PCollection[DedupKeys]``: the only step that reads text."""

    def __init__(self, config: DedupConfig = DedupConfig()):
        super().__init__()
        self._config = config

    def expand(self, docs):
        c = self._config
        return (
            docs
            | "Node" >> beam.Map(lambda d, keep: (node_key(d, keep), d), keep=c.keep)
            | "Batch" >> beam.BatchElements(min_batch_size=max(1, c.batch_size // 4), max_batch_size=c.batch_size)
            | "Keys" >> beam.ParDo(_ComputeKeys(c))
        )


class ClusterKeys(beam.PTransform):
    """``PCollection[DedupKeys]`` -> ``{threshold: PCollection[DupRecord]}`` for ``config.all_thresholds()``.

    Exact-duplicate edges are computed once and shared by every threshold.
    """

    def __init__(self, config: DedupConfig = DedupConfig()):
        super().__init__()
        self._config = config

    def expand(self, keys):
        c = self._config
        thresholds = c.all_thresholds()
        if c.enabled and c.minhash:
            for params in lsh_params(thresholds, c.num_perm):
                logger.info(
                    "dedup: threshold %.2f -> %d bands x %d rows of %d permutations",
                    params.threshold, params.bands, params.rows, c.num_perm,
                )
        nodes = keys | "Nodes" >> beam.Map(lambda k: k.node)
        if not c.enabled or not (c.exact or c.url or c.minhash):
            records = nodes | "Singletons" >> beam.Map(lambda n: DupRecord(node_id(n), node_id(n), 1, True, None))
            return {t: records for t in thresholds}

        edge_sets: list = []
        exact_dups = None
        if c.exact or c.url:
            exact = (
                keys
                | "ExactKeys" >> beam.FlatMap(_exact_members)
                | "CountExactCombine" >> beam.ParDo(_Count("shuffled_exact_combiner_input"))
                | "ExactLink" >> LinkBuckets(combine=True, emit_non_min=True, label="exact")
            )
            edge_sets.append(exact.edges)
            exact_dups = exact[_LinkToBucketMin.NON_MIN]

        results = {}
        for i, t in enumerate(thresholds):
            name = f"T{t:g}"
            sets = list(edge_sets)
            if c.minhash:
                bands = (keys
                         | f"{name}Bands" >> beam.FlatMap(_band_members, i)
                         | f"{name}Link" >> LinkBuckets(combine=False, verify_threshold=t if c.verify_jaccard else None,
                                                        label="bands"))
                sets.append(bands.edges)
            edges = (
                sets
                | f"{name}Edges" >> beam.Flatten()
                | f"{name}Canonical" >> beam.MapTuple(_edge)
                | f"{name}CountEdges" >> beam.ParDo(_Count("shuffled_distinct_edges"))
                | f"{name}Distinct" >> beam.Distinct()
            )
            labels = edges | f"{name}CC" >> ConnectedComponents(c.max_rounds)
            results[t] = labels | f"{name}Assign" >> AssignClusters(nodes, exact_dups)
        return results


class DeduplicateAll(beam.PTransform):
    """``DedupInput`` -> ``{threshold: PCollection[DupRecord]}`` for ``config.all_thresholds()``.

    Signatures and exact keys are computed once (``ComputeDedupKeys``) and shared by every threshold.
    """

    def __init__(self, config: DedupConfig = DedupConfig()):
        super().__init__()
        self._config = config

    def expand(self, docs):
        return docs | "Keys" >> ComputeDedupKeys(self._config) | "Cluster" >> ClusterKeys(self._config)


class Deduplicate(beam.PTransform):
    """``PCollection[DedupInput]`` -> ``PCollection[DupRecord]`` (one per input) at ``config.threshold``."""

    def __init__(self, config: DedupConfig = DedupConfig()):
        super().__init__()
        self._config = config

    def expand(self, docs):
        single = dataclasses.replace(self._config, thresholds=())
        return (docs | "All" >> DeduplicateAll(single))[float(single.threshold)]
