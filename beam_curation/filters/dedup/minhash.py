"""MinHash signatures for near-duplicate detection, vectorised over batches of documents.

Signatures are bit-identical to ``datasketch.MinHash(num_perm=N, seed=S)`` (datasketch >= 2.0, default
``affine32`` scheme) fed the same shingles with ``update(shingle.encode("utf8"))``:

* input hash: ``sha1_hash32`` = the first 4 bytes of SHA-1 of the shingle, read little-endian;
* pre-mix: the 32-bit MurmurHash3 finalizer (``fmix32``);
* permutations: ``h -> a_k * h + b_k mod 2**32`` with ``gen = numpy.random.RandomState(seed)``,
  ``a = gen.randint(0, 2**31, N, dtype=uint32) * 2 + 1`` then ``b = gen.randint(0, 2**32, N, dtype=uint32)``;
* signature: the per-permutation minimum, ``2**32 - 1`` when there is no shingle.

Speed comes from hashing each shingle once with one SHA-1 call (CPython's built-in ``_sha1``, half the
per-call cost of ``hashlib``'s OpenSSL one on short inputs) on a byte slice of the normalised document (no per-shingle string building) and applying all permutations to a whole batch of
documents as one ``(shingles x num_perm)`` uint32 matrix reduced with ``numpy.minimum.reduceat``.

Shingling (what a "shingle" is) is defined by :class:`ShingleConfig`:

* normalisation (in this order): Unicode normal form (default NFD), optional removal of punctuation
  (``"ascii"``: the characters of ``string.punctuation``, as RedPajama-V2; ``"unicode"``: every character
  whose Unicode category starts with ``P`` plus ASCII punctuation; ``"keep"``: nothing removed),
  optional lower-casing, then whitespace runs (``str.split()``) collapsed to one space and stripped;
* words: the normalised text split on single spaces;
* ``unit="word"``: shingles are ``" ".join(words[i:i + n])``; a document with fewer than ``n`` words
  (but at least one) is one shingle, the whole normalised text;
* ``unit="char"``: shingles are ``normalised[i:i + n]``; a shorter non-empty text is one shingle;
* an empty normalised text has no shingles (signature of all ``2**32 - 1``).
"""

from __future__ import annotations

import hashlib
import re
import string
import sys
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Literal, Sequence

import numpy as np

try:  # CPython's own SHA-1 (HACL*): the same digests as OpenSSL's, at half the cost per call on ~35-byte shingles
    from _sha1 import sha1 as _sha1
except ImportError:  # an interpreter built without it
    _sha1 = hashlib.sha1

MAX_HASH32 = np.uint32(0xFFFFFFFF)

# Rows of the (shingles x permutations) matrix processed at once: bounds the working set (~4 MB at 128 perms).
_CHUNK_ROWS = 8192


@dataclass(frozen=True)
class ShingleConfig:
    """How a document becomes a set of shingles.

    FineWeb uses word 5-grams; RedPajama-V2 uses word 13-grams (both over normalised, lower-cased words).
    """

    ngram: int = 5
    unit: Literal["word", "char"] = "word"
    lowercase: bool = True
    punctuation: Literal["ascii", "unicode", "keep"] = "ascii"
    unicode_form: Literal["NFD", "NFC", "NFKD", "NFKC"] | None = "NFD"

    def __post_init__(self) -> None:
        if self.ngram < 1:
            raise ValueError(f"ngram must be >= 1, got {self.ngram}")
        if self.unit not in ("word", "char"):
            raise ValueError(f"unit must be 'word' or 'char', got {self.unit!r}")
        if self.punctuation not in ("ascii", "unicode", "keep"):
            raise ValueError(f"punctuation must be 'ascii', 'unicode' or 'keep', got {self.punctuation!r}")


_ASCII_PUNCTUATION = string.punctuation.encode("ascii")


@lru_cache(maxsize=1)
def _unicode_punctuation_re() -> re.Pattern[str]:
    """A regex matching runs of punctuation (cached: building it scans all code points, ~0.3 s)."""
    chars = set(string.punctuation)
    chars.update(chr(cp) for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp)).startswith("P"))
    return re.compile("[" + "".join(re.escape(c) for c in sorted(chars)) + "]+")


def normalize_text(text: str, config: ShingleConfig = ShingleConfig()) -> str:
    """Normalise ``text`` for shingling (see the module docstring for the exact steps)."""
    if config.unicode_form:
        text = unicodedata.normalize(config.unicode_form, text)
    if config.punctuation == "ascii":
        # ASCII bytes never occur inside a multi-byte UTF-8 sequence, so deleting them from the bytes is safe
        # (and ~50x faster than str.translate).
        text = text.encode("utf-8", "surrogatepass").translate(None, _ASCII_PUNCTUATION).decode("utf-8", "surrogatepass")
    elif config.punctuation == "unicode":
        text = _unicode_punctuation_re().sub("", text)
    if config.lowercase:
        text = text.lower()
    return " ".join(text.split())


# str.split() splits on these ASCII separators too, bytes.split() does not: they become spaces first.
ASCII_SEPARATORS_TO_SPACE = bytes.maketrans(b"\x1c\x1d\x1e\x1f", b"    ")


def normalized_bytes(text: str, config: ShingleConfig = ShingleConfig()) -> bytes:
    """UTF-8 of :func:`normalize_text`. ASCII text (most of an English crawl) never leaves bytes: each Unicode
    normal form of ASCII is itself, and its punctuation under either rule is ``string.punctuation``."""
    if not text.isascii():
        return normalize_text(text, config).encode("utf-8")
    data = text.encode("ascii").translate(ASCII_SEPARATORS_TO_SPACE,
                                          b"" if config.punctuation == "keep" else _ASCII_PUNCTUATION)
    if config.lowercase:
        data = data.lower()
    return b" ".join(data.split())


def shingle_strings(text: str, config: ShingleConfig = ShingleConfig()) -> list[str]:
    """The shingles of ``text`` as strings (reference form; :func:`shingle_spans` is the fast path)."""
    norm = normalize_text(text, config)
    if not norm:
        return []
    n = config.ngram
    if config.unit == "char":
        if len(norm) <= n:
            return [norm]
        return [norm[i : i + n] for i in range(len(norm) - n + 1)]
    words = norm.split(" ")
    if len(words) <= n:
        return [norm]
    return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]


def shingle_spans(text: str, config: ShingleConfig = ShingleConfig()) -> tuple[bytes, list[int], list[int]]:
    """UTF-8 bytes of the normalised text and the byte ``[start, end)`` of every shingle in it.

    ``data[start:end]`` equals ``shingle.encode("utf8")`` for the shingles of :func:`shingle_strings`.
    """
    data = normalized_bytes(text, config)
    if not data:
        return b"", [], []
    n = config.ngram
    if config.unit == "char":
        if data.isascii():  # byte offsets are character offsets
            nchars = len(data)
            if nchars <= n:
                return data, [0], [len(data)]
            starts = range(nchars - n + 1)
            return data, list(starts), [s + n for s in starts]
        # Byte offset of every character start: bytes that are not UTF-8 continuation bytes.
        arr = np.frombuffer(data, dtype=np.uint8)
        offs = np.flatnonzero((arr & 0xC0) != 0x80)
        nchars = len(offs)
        if nchars <= n:
            return data, [0], [len(data)]
        offs = np.append(offs, len(data))
        return data, offs[: nchars - n + 1].tolist(), offs[n:].tolist()
    arr = np.frombuffer(data, dtype=np.uint8)
    spaces = np.flatnonzero(arr == 32)
    nwords = len(spaces) + 1
    if nwords <= n:
        return data, [0], [len(data)]
    starts = np.empty(nwords, dtype=np.int64)
    starts[0] = 0
    starts[1:] = spaces + 1
    ends = np.empty(nwords, dtype=np.int64)
    ends[:-1] = spaces
    ends[-1] = len(data)
    return data, starts[: nwords - n + 1].tolist(), ends[n - 1 :].tolist()


def sha1_hash32_many(data: bytes, starts: Sequence[int], ends: Sequence[int]) -> np.ndarray:
    """``datasketch.hashfunc.sha1_hash32`` of every slice ``data[s:e]``, as a uint32 array."""
    sha1 = _sha1
    digests = b"".join([sha1(data[s:e]).digest() for s, e in zip(starts, ends)])
    # Each SHA-1 digest is 20 bytes = 5 little-endian uint32 words; keep the first of each.
    return np.frombuffer(digests, dtype="<u4").reshape(-1, 5)[:, 0].astype(np.uint32)


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer (a bijection), applied element-wise with wrap-around arithmetic."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The affine permutation parameters ``(a, b)`` datasketch's ``affine32`` scheme draws for ``seed``."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


class MinHasher:
    """Computes MinHash signatures (uint32, ``num_perm`` per document) for batches of documents.

    Immutable after construction; safe to share between threads.
    """

    def __init__(self, num_perm: int = 112, seed: int = 1, shingles: ShingleConfig = ShingleConfig()):
        if num_perm < 1:
            raise ValueError(f"num_perm must be >= 1, got {num_perm}")
        self.num_perm = num_perm
        self.seed = seed
        self.shingles = shingles
        self._a, self._b = permutations(num_perm, seed)
        self._a.setflags(write=False)
        self._b.setflags(write=False)

    def signatures_from_hashes(self, hashes: Sequence[np.ndarray]) -> np.ndarray:
        """Signatures ``(len(hashes), num_perm)`` from each document's uint32 shingle hashes."""
        out = np.full((len(hashes), self.num_perm), MAX_HASH32, dtype=np.uint32)
        counts = np.fromiter((len(h) for h in hashes), dtype=np.int64, count=len(hashes))
        nonempty = np.flatnonzero(counts)
        if len(nonempty) == 0:
            return out
        all_h = fmix32(np.concatenate([hashes[i] for i in nonempty]).astype(np.uint32, copy=False))
        seg_counts = counts[nonempty]
        seg_starts = np.zeros(len(nonempty) + 1, dtype=np.int64)
        np.cumsum(seg_counts, out=seg_starts[1:])
        # Walk documents in groups whose shingles fit one chunk; a document larger than a chunk is split.
        doc = 0
        ndocs = len(nonempty)
        # Layout (num_perm, shingles): the min-reduction runs along contiguous memory (much faster).
        a = self._a[:, None]
        b = self._b[:, None]
        buf = np.empty((self.num_perm, _CHUNK_ROWS), dtype=np.uint32)
        while doc < ndocs:
            lo = seg_starts[doc]
            last = int(np.searchsorted(seg_starts, lo + _CHUNK_ROWS, side="right")) - 1
            if last <= doc:  # one big document: reduce it chunk by chunk
                hi = seg_starts[doc + 1]
                acc = out[nonempty[doc]]
                for c in range(lo, hi, _CHUNK_ROWS):
                    part = all_h[c : min(c + _CHUNK_ROWS, hi)]
                    m = buf[:, : len(part)]
                    np.multiply(a, part[None, :], out=m)
                    m += b
                    np.minimum(acc, m.min(axis=1), out=acc)
                doc += 1
                continue
            hi = seg_starts[last]
            part = all_h[lo:hi]
            m = buf[:, : len(part)]
            np.multiply(a, part[None, :], out=m)
            m += b
            out[nonempty[doc:last]] = np.minimum.reduceat(m, seg_starts[doc:last] - lo, axis=1).T
            doc = last
        return out

    def hash_shingles(self, text: str) -> np.ndarray:
        """The ``sha1_hash32`` value of every shingle of ``text`` (duplicates included)."""
        data, starts, ends = shingle_spans(text, self.shingles)
        return sha1_hash32_many(data, starts, ends)

    def signatures(self, texts: Iterable[str]) -> np.ndarray:
        """Signatures ``(n, num_perm)`` uint32 of ``texts``, one row per text."""
        return self.signatures_from_hashes([self.hash_shingles(t) for t in texts])

    def signature(self, text: str) -> np.ndarray:
        """The signature of one text (prefer :meth:`signatures` for many)."""
        return self.signatures([text])[0]


def estimate_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """MinHash estimate of Jaccard similarity: the fraction of equal signature positions."""
    if len(sig_a) != len(sig_b):
        raise ValueError("signatures of different lengths")
    return float(np.count_nonzero(sig_a == sig_b)) / len(sig_a)
