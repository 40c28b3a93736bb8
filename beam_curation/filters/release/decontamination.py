"""Benchmark decontamination: word n-grams a document shares with an evaluation set.

The definition is lm-evaluation-harness's (``lm_eval.decontamination.janitor``), the 13-gram overlap GPT-3
introduced: text is normalised by lower-casing ASCII letters and deleting every character of
``string.punctuation`` (nothing else: no Unicode folding, other characters stay), split on whitespace, and
every run of ``n`` consecutive words (default 13) is an n-gram. A document is contaminated by an evaluation
item when they share at least one n-gram. Items shorter than ``n`` words have no n-gram and can never match
(as in lm-eval-harness); the index counts them in ``short_items``.

N-grams are compared as 64-bit hashes: each word is hashed once (BLAKE2b, 8 bytes, the same in every process
and on every machine), an n-gram's hash is a polynomial of its words' hashes mod 2^64 passed through
MurmurHash3's 64-bit finaliser. Two different n-grams collide with probability about 2^-64.

Two indexes over an evaluation set, both picklable (a Beam side input) and saveable:

- :class:`NgramIndex`: the sorted distinct n-gram hashes and, for each, the items holding it; gives the
  number of distinct n-grams a document shares with the set and the number of distinct items they belong to.
- :class:`BloomNgramIndex`: a Bloom filter of the hashes (Dolma's approach to large sets), a fraction of the
  memory; gives the matched n-grams (false positive rate per n-gram ``error_rate``) but not which items
  (``items`` is NaN).

For a set too large for one worker, the set is joined with the documents on n-gram hash instead: both sides
are cut into :data:`JOIN_BUCKETS` by the hash's top bits (:func:`split_by_bucket`), each bucket's evaluation
pairs become a small :class:`NgramIndex` (:meth:`NgramIndex.from_pairs`) probed with the bucket's document
pairs (:meth:`NgramIndex.join`), and :func:`summarize_matches` turns a document's joined pairs into the same
figures as :meth:`NgramIndex.match`.

This module works on strings and arrays only: reading evaluation sets from files is the pipeline's
(beam_curation.pipeline.io.eval_files).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Mapping, NamedTuple, Optional, Sequence

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_NGRAM = 13
# The same mapping on UTF-8 bytes (ASCII bytes never occur inside a multi-byte sequence), which
# bytes.translate applies at C speed.
_NORMALIZE_BYTES = bytes.maketrans(string.ascii_uppercase.encode(), string.ascii_lowercase.encode())
_PUNCTUATION_BYTES = string.punctuation.encode()
_P = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier of the polynomial
_M1, _M2 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_WORD_CACHE: dict[str, int] = {}
_WORD_CACHE_MAX = 2_000_000


def normalize(text: str) -> str:
    """lm-eval-harness's ``Janitor.normalize_string``: ASCII lower-case, ``string.punctuation`` deleted."""
    data = text.encode("utf-8", "surrogatepass").translate(_NORMALIZE_BYTES, _PUNCTUATION_BYTES)
    return data.decode("utf-8", "surrogatepass")


def normalized_words(text: str) -> list[str]:
    return normalize(text).split()


def _word_hash(word: str) -> int:
    h = _WORD_CACHE.get(word)
    if h is None:
        h = int.from_bytes(hashlib.blake2b(word.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")
        if len(_WORD_CACHE) >= _WORD_CACHE_MAX:
            _WORD_CACHE.clear()
        _WORD_CACHE[word] = h
    return h


def _fmix(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> _S33)
    h = h * _M1
    h = h ^ (h >> _S33)
    h = h * _M2
    return h ^ (h >> _S33)


def ngram_hashes(text: str, n: int = DEFAULT_NGRAM) -> np.ndarray:
    """The hash of every word n-gram of ``text`` in order (uint64; repeats kept; empty under ``n`` words)."""
    words = normalized_words(text)
    count = len(words) - n + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    cached = list(map(_WORD_CACHE.get, words))
    if None in cached:
        cached = [h if h is not None else _word_hash(w) for h, w in zip(cached, words)]
    wh = np.array(cached, dtype=np.uint64)
    h = np.zeros(count, dtype=np.uint64)
    for j in range(n):
        h = h * _P + wh[j:j + count]
    return _fmix(h)


def ngram_pairs(texts: Sequence[str], n: int = DEFAULT_NGRAM) -> tuple[np.ndarray, np.ndarray]:
    """The distinct n-gram hashes of every text, with the text's position in ``texts``: two aligned arrays
    (uint64, int64) sorted by position, then hash. Equal to ``np.unique(ngram_hashes(text, n))`` text by text,
    computed over all texts at once (short evaluation items otherwise pay numpy's per-call cost each)."""
    words = [normalized_words(t) for t in texts]
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    flat = [w for ws in words for w in ws]
    count = len(flat) - n + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    cached = list(map(_WORD_CACHE.get, flat))
    if None in cached:
        cached = [h if h is not None else _word_hash(w) for h, w in zip(cached, flat)]
    wh = np.array(cached, dtype=np.uint64)
    h = np.zeros(count, dtype=np.uint64)
    for j in range(n):
        h = h * _P + wh[j:j + count]
    owner = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)[:count]  # the text each window starts in
    inside = np.arange(count, dtype=np.int64) + n <= np.cumsum(lengths)[owner]  # ... and ends in
    h, owner = _fmix(h[inside]), owner[inside]
    order = np.lexsort((h, owner))
    h, owner = h[order], owner[order]
    first = np.ones(len(h), dtype=bool)
    first[1:] = (h[1:] != h[:-1]) | (owner[1:] != owner[:-1])
    return h[first], owner[first]


class Match(NamedTuple):
    """What one document shares with one evaluation set."""

    ngrams: int  # distinct n-grams of the document found in the set
    items: float  # distinct evaluation items those n-grams belong to (NaN for a Bloom index)


def signal_names(name: str) -> tuple[str, str]:
    """The two signal columns of evaluation set ``name``."""
    return f"decontam_{name}", f"decontam_{name}_items"


@dataclass
class NgramIndex:
    """Exact index: sorted distinct n-gram hashes, and per hash the items holding it (CSR layout)."""

    n: int
    keys: np.ndarray  # uint64, sorted, distinct
    offsets: np.ndarray  # int64, len(keys) + 1: items of keys[i] are item_ids[offsets[i]:offsets[i+1]]
    item_ids: np.ndarray  # int32
    num_items: int
    short_items: int = 0
    meta: dict = field(default_factory=dict)

    @classmethod
    def build(cls, texts: Iterable[str], n: int = DEFAULT_NGRAM) -> "NgramIndex":
        pairs_h, pairs_i = [], []
        num = short = 0
        for item, text in enumerate(texts):
            num += 1
            h = np.unique(ngram_hashes(text, n))
            if not len(h):
                short += 1
                continue
            pairs_h.append(h)
            pairs_i.append(np.full(len(h), item, dtype=np.int32))
        if short:
            log.info("%d of %d evaluation items have fewer than %d words and can never match", short, num, n)
        hashes = np.concatenate(pairs_h) if pairs_h else np.empty(0, np.uint64)
        items = np.concatenate(pairs_i) if pairs_i else np.empty(0, np.int32)
        index = cls.from_pairs(hashes, items, n)
        index.num_items, index.short_items = num, short
        return index

    @classmethod
    def from_pairs(cls, hashes: np.ndarray, items: np.ndarray, n: int = DEFAULT_NGRAM) -> "NgramIndex":
        """The index of ``(n-gram hash, item id)`` pairs (each pair once); ``num_items`` counts distinct ids."""
        order = np.lexsort((items, hashes))
        hashes, items = hashes[order], items[order]
        keys, starts = np.unique(hashes, return_index=True)
        offsets = np.append(starts, len(hashes)).astype(np.int64)
        return cls(n, keys, offsets, items, len(np.unique(items)))

    def __len__(self) -> int:
        return len(self.keys)

    def _positions(self, hashes: np.ndarray) -> np.ndarray:
        uniq = np.unique(hashes)
        if not len(uniq) or not len(self.keys):
            return np.empty(0, dtype=np.int64)
        pos = np.searchsorted(self.keys, uniq)
        pos[pos == len(self.keys)] = 0
        return pos[self.keys[pos] == uniq]

    def match_hashes(self, hashes: np.ndarray) -> Match:
        pos = self._positions(hashes)
        if not len(pos):
            return Match(0, 0.0)
        items = np.concatenate([self.item_ids[self.offsets[p]:self.offsets[p + 1]] for p in pos])
        return Match(len(pos), float(len(np.unique(items))))

    def match(self, text: str) -> Match:
        return self.match_hashes(ngram_hashes(text, self.n))

    def matched_items(self, text: str) -> set[int]:
        """The ids (row numbers in the evaluation set) of the items ``text`` overlaps."""
        pos = self._positions(ngram_hashes(text, self.n))
        return {int(i) for p in pos for i in self.item_ids[self.offsets[p]:self.offsets[p + 1]]}

    def join(self, hashes: np.ndarray, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(node, hash, item)`` for every document pair ``(hashes[i], nodes[i])`` whose hash the index holds,
        once per item holding it: the probe side of the join."""
        if not len(hashes) or not len(self.keys):
            empty = np.empty(0, np.int64)
            return empty, np.empty(0, np.uint64), empty
        pos = np.searchsorted(self.keys, hashes)
        pos[pos == len(self.keys)] = 0
        hit = self.keys[pos] == hashes
        pos, nodes, hashes = pos[hit], nodes[hit], hashes[hit]
        counts = self.offsets[pos + 1] - self.offsets[pos]
        # every matched pair repeated once per item of its key, then those items in order
        starts = np.repeat(self.offsets[pos], counts)
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return np.repeat(nodes, counts), np.repeat(hashes, counts), self.item_ids[starts + within].astype(np.int64)

    def entries(self) -> Iterator[tuple[int, int]]:
        """``(ngram hash, item id)`` pairs, the evaluation side of a join on n-gram hash."""
        for k, (start, end) in enumerate(zip(self.offsets[:-1], self.offsets[1:])):
            key = int(self.keys[k])
            for item in self.item_ids[start:end]:
                yield key, int(item)

    def nbytes(self) -> int:
        return self.keys.nbytes + self.offsets.nbytes + self.item_ids.nbytes

    def save(self, path: str | Path) -> None:
        np.savez(path, kind="exact", n=self.n, keys=self.keys, offsets=self.offsets, item_ids=self.item_ids,
                 num_items=self.num_items, short_items=self.short_items, meta=json.dumps(self.meta))


@dataclass
class BloomNgramIndex:
    """Bloom filter of an evaluation set's n-gram hashes: membership only, in ``-ln(p)/ln(2)^2`` bits a key."""

    n: int
    bits: np.ndarray  # uint8, m/8 bytes
    m: int
    k: int
    num_items: int
    short_items: int = 0
    num_ngrams: int = 0
    meta: dict = field(default_factory=dict)

    @classmethod
    def build(cls, texts: Iterable[str], n: int = DEFAULT_NGRAM, error_rate: float = 1e-6,
              capacity: int | None = None) -> "BloomNgramIndex":
        """``capacity``: expected distinct n-grams (default: counted from ``texts``, which are then held in
        memory as hashes while building)."""
        chunks, num, short = [], 0, 0
        for text in texts:
            num += 1
            h = ngram_hashes(text, n)
            if not len(h):
                short += 1
            chunks.append(np.unique(h))
        hashes = np.unique(np.concatenate(chunks)) if chunks else np.empty(0, np.uint64)
        cap = max(capacity or len(hashes), 1)
        m = max(64, int(math.ceil(-cap * math.log(error_rate) / math.log(2) ** 2)))
        m = (m + 7) // 8 * 8
        k = max(1, round(m / cap * math.log(2)))
        index = cls(n, np.zeros(m // 8, dtype=np.uint8), m, k, num, short, len(hashes))
        for pos in index._bit_positions(hashes):
            np.bitwise_or.at(index.bits, pos >> np.uint64(3), (np.uint8(1) << (pos & np.uint64(7)).astype(np.uint8)))
        return index

    def _bit_positions(self, hashes: np.ndarray) -> Iterator[np.ndarray]:
        h1 = hashes
        h2 = _fmix(hashes ^ np.uint64(0x5BD1E9955BD1E995)) | np.uint64(1)
        m = np.uint64(self.m)
        for i in range(self.k):
            yield (h1 + np.uint64(i) * h2) % m

    def match_hashes(self, hashes: np.ndarray) -> Match:
        uniq = np.unique(hashes)
        if not len(uniq):
            return Match(0, math.nan)
        present = np.ones(len(uniq), dtype=bool)
        for pos in self._bit_positions(uniq):
            present &= (self.bits[pos >> np.uint64(3)] >> (pos & np.uint64(7)).astype(np.uint8)) & np.uint8(1) == 1
            if not present.any():
                break
        return Match(int(present.sum()), math.nan)

    def match(self, text: str) -> Match:
        return self.match_hashes(ngram_hashes(text, self.n))

    def nbytes(self) -> int:
        return self.bits.nbytes

    def save(self, path: str | Path) -> None:
        np.savez(path, kind="bloom", n=self.n, bits=self.bits, m=self.m, k=self.k, num_items=self.num_items,
                 short_items=self.short_items, num_ngrams=self.num_ngrams, meta=json.dumps(self.meta))


Index = NgramIndex | BloomNgramIndex


def load_index(path: str | Path) -> Index:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        if str(z["kind"]) == "exact":
            return NgramIndex(int(z["n"]), z["keys"], z["offsets"], z["item_ids"], int(z["num_items"]),
                              int(z["short_items"]), meta)
        return BloomNgramIndex(int(z["n"]), z["bits"], int(z["m"]), int(z["k"]), int(z["num_items"]),
                               int(z["short_items"]), int(z["num_ngrams"]), meta)


def build_index(texts: Iterable[str], n: int = DEFAULT_NGRAM, kind: str = "exact",
                error_rate: float = 1e-6) -> Index:
    """``kind``: ``exact`` (n-grams and items) or ``bloom`` (n-grams only, less memory)."""
    if kind == "exact":
        return NgramIndex.build(texts, n)
    if kind == "bloom":
        return BloomNgramIndex.build(texts, n, error_rate)
    raise ValueError(f"index kind must be 'exact' or 'bloom', not {kind!r}")


def decontamination_signals(text: str, indexes: Mapping[str, Index],
                            known: Optional[Mapping[int, np.ndarray]] = None) -> dict[str, float]:
    """``decontam_<name>`` (distinct shared n-grams) and ``decontam_<name>_items`` for every named set;
    ``known``: the text's :func:`ngram_hashes` by ``n``, when the caller has them already."""
    out: dict[str, float] = {}
    cache: dict[int, np.ndarray] = dict(known or {})
    for name, index in indexes.items():
        hashes = cache.get(index.n)
        if hashes is None:
            hashes = cache[index.n] = ngram_hashes(text, index.n)
        match = index.match_hashes(hashes)
        col, col_items = signal_names(name)
        out[col] = float(match.ngrams)
        out[col_items] = match.items
    return out


def summarize_matches(pairs: Iterable[tuple[int, int]]) -> Match:
    """A document's ``(ngram hash, item id)`` pairs from a join with :meth:`NgramIndex.entries`."""
    hashes, items = set(), set()
    for h, item in pairs:
        hashes.add(h)
        items.add(item)
    return Match(len(hashes), float(len(items)))


def summarize_arrays(hashes: np.ndarray, items: np.ndarray) -> Match:
    """:func:`summarize_matches` of the pairs ``zip(hashes, items)``, on arrays."""
    return Match(len(np.unique(hashes)), float(len(np.unique(items))))


# --- the join on n-gram hash ------------------------------------------------------------------------------

JOIN_BUCKET_BITS = 10
JOIN_BUCKETS = 1 << JOIN_BUCKET_BITS  # a bucket holds 1/1024 of the set's pairs: 12 MB for a billion


def split_by_bucket(hashes: np.ndarray, values: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """``(bucket, hashes, values)`` for each join bucket that ``hashes`` (uint64, aligned with ``values``)
    reach: the bucket is the hash's top :data:`JOIN_BUCKET_BITS` bits (the hashes are uniform there)."""
    if not len(hashes):
        return
    buckets = (hashes >> np.uint64(64 - JOIN_BUCKET_BITS)).astype(np.int64)
    order = np.argsort(buckets, kind="stable")
    buckets, hashes, values = buckets[order], hashes[order], values[order]
    present, starts = np.unique(buckets, return_index=True)
    ends = np.append(starts[1:], len(buckets))
    for bucket, start, end in zip(present.tolist(), starts.tolist(), ends.tolist()):
        yield bucket, hashes[start:end], values[start:end]


def count_ngrams(texts: Iterable[str], n: int = DEFAULT_NGRAM) -> tuple[int, int, int]:
    """``(items, items shorter than n words, n-grams)`` of a set, streamed: the n-gram count bounds the
    distinct n-grams and the (n-gram, item) pairs any index of the set holds."""
    items = short = ngrams = 0
    for text in texts:
        items += 1
        count = len(normalized_words(text)) - n + 1
        if count > 0:
            ngrams += count
        else:
            short += 1
    return items, short, ngrams


def exact_index_bytes(ngrams: int) -> int:
    """What :class:`NgramIndex` takes for ``ngrams`` distinct n-grams each in one item (keys, offsets, ids)."""
    return 20 * ngrams + 8


def bloom_index_bytes(ngrams: int, error_rate: float) -> int:
    """What :class:`BloomNgramIndex` takes for ``ngrams`` distinct n-grams at ``error_rate``."""
    m = max(64, int(math.ceil(-max(ngrams, 1) * math.log(error_rate) / math.log(2) ** 2)))
    return (m + 7) // 8
