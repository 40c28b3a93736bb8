"""DSIR importance weights: how much more likely a document is under a target domain than the raw web.

DSIR (Xie et al. 2023) represents a document as a hashed bag of word unigrams and bigrams and
fits one bag-of-features distribution to a target corpus (p: Wikipedia, books, ...) and one to
raw web text (q). RedPajama-V2 stores, per target domain,

* ``rps_doc_<target>_importance`` = ``features(doc) . (log(p + 1e-8) - log(q + 1e-8))``
* ``rps_doc_<target>_importance_length_correction`` = the same plus
  ``log(Poisson(len; lambda_p) + 1e-8) - log(Poisson(len; lambda_q) + 1e-8)``

where the features are counts over the raw words (``\\w+|[^\\w\\s]+`` on the raw, case-kept text)
and their consecutive pairs, hashed into 10,000 buckets, and ``lambda`` is the mean number of raw
words per training document. RedPajama-V2 evaluates the Poisson term at the document's length in
*characters* (``len(document)``) although lambda counts words; ``length_unit="chars"`` (the
default) reproduces that, ``"words"`` uses the word count, which is what the model estimates.

RedPajama-V2 hashes with Python's built-in ``hash``, which is salted per process; here features
are hashed with BLAKE2b so the same text gets the same buckets in every worker and every run.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from beam_curation.filters.text import word_punct

DEFAULT_BUCKETS = 10_000
EPSILON = 1e-8  # added to probabilities before the log, as RedPajama-V2 does
HASH_ID = "blake2b64_utf8_mod"  # recorded in model files; a model only fits features hashed this way


def raw_words(text: str) -> list[str]:
    """nltk WordPunctTokenizer tokens of the raw text (RedPajama-V2's 'raw words')."""
    return word_punct.tokenize(text)


def feature_bucket(feature: str, buckets: int = DEFAULT_BUCKETS) -> int:
    """Stable bucket of a unigram ('word') or bigram ('word1 word2') feature."""
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % buckets


def hashed_features(words: list[str], buckets: int = DEFAULT_BUCKETS) -> np.ndarray:
    """Counts of the words and of their consecutive pairs, hashed into ``buckets`` bins."""
    counts = np.zeros(buckets, dtype=np.int64)
    if not words:
        return counts
    features = words + [f"{a} {b}" for a, b in zip(words, words[1:])]
    np.add.at(counts, [feature_bucket(f, buckets) for f in features], 1)
    return counts


def log_probabilities(counts: np.ndarray) -> np.ndarray:
    """``log(counts / counts.sum() + 1e-8)``: the smoothed log distribution DSIR compares."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        raise ValueError("cannot fit a distribution to zero feature counts")
    return np.log(counts / total + EPSILON)


def poisson_log_pmf(k: int, lam: float) -> float:
    """``log P(K = k)`` for ``K ~ Poisson(lam)``, exact in log space."""
    if lam <= 0:
        return 0.0 if k == 0 else -math.inf
    return k * math.log(lam) - lam - math.lgamma(k + 1)


def length_log_ratio(length: int, target_lambda: float, raw_lambda: float) -> float:
    """RedPajama-V2's length term: ``log(pmf_p(len) + 1e-8) - log(pmf_q(len) + 1e-8)``."""
    p = math.exp(poisson_log_pmf(length, target_lambda))
    q = math.exp(poisson_log_pmf(length, raw_lambda))
    return math.log(p + EPSILON) - math.log(q + EPSILON)


class DsirModel:
    """A target-vs-raw hashed n-gram model, loaded from the ``.npz`` written by ``scripts/train_dsir.py``.

    The file holds ``target_log_prob`` and ``raw_log_prob`` (float64, one per bucket),
    ``target_lambda`` and ``raw_lambda`` (mean raw words per training document), and ``card``
    (JSON: target, sources, hash, ...).
    """

    def __init__(self, target_log_prob: np.ndarray, raw_log_prob: np.ndarray,
                 target_lambda: float, raw_lambda: float, card: dict | None = None,
                 length_unit: str = "chars") -> None:
        if target_log_prob.shape != raw_log_prob.shape or target_log_prob.ndim != 1:
            raise ValueError("target and raw log-probability vectors must be 1-d and the same size")
        if length_unit not in ("chars", "words"):
            raise ValueError(f"length_unit must be 'chars' or 'words', not {length_unit!r}")
        self.buckets = int(target_log_prob.shape[0])
        self.log_ratio_weights = np.asarray(target_log_prob, np.float64) - np.asarray(raw_log_prob, np.float64)
        self.target_lambda = float(target_lambda)
        self.raw_lambda = float(raw_lambda)
        self.card = card or {}
        self.length_unit = length_unit

    @classmethod
    def load(cls, path: str | Path, length_unit: str = "chars") -> DsirModel:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"DSIR model not found: {path}")
        with np.load(path, allow_pickle=False) as data:
            card = json.loads(str(data["card"])) if "card" in data.files else {}
            if card.get("hash", HASH_ID) != HASH_ID:
                raise ValueError(f"{path}: features hashed with {card['hash']!r}, expected {HASH_ID!r}")
            return cls(data["target_log_prob"], data["raw_log_prob"], float(data["target_lambda"]),
                       float(data["raw_lambda"]), card, length_unit)

    @classmethod
    def from_counts(cls, target_counts: np.ndarray, raw_counts: np.ndarray, target_lambda: float,
                    raw_lambda: float, card: dict | None = None, length_unit: str = "chars") -> DsirModel:
        return cls(log_probabilities(target_counts), log_probabilities(raw_counts), target_lambda,
                   raw_lambda, card, length_unit)

    def log_ratio(self, words: list[str]) -> float:
        """``log p(doc) - log q(doc)`` under the two hashed bag-of-n-gram models."""
        return float(hashed_features(words, self.buckets) @ self.log_ratio_weights)

    def importance(self, text: str) -> tuple[float, float]:
        """``(importance, importance_length_correction)`` as RedPajama-V2 defines them.

        The second value already includes the first (it is the corrected score, not the term).
        Both are NaN for an empty text, where RedPajama-V2 stores null.
        """
        if not text:
            return math.nan, math.nan
        words = raw_words(text)
        score = self.log_ratio(words)
        length = len(text) if self.length_unit == "chars" else len(words)
        return score, score + length_log_ratio(length, self.target_lambda, self.raw_lambda)


def fit_counts(texts: Iterable[str], buckets: int = DEFAULT_BUCKETS) -> tuple[np.ndarray, float, int]:
    """Summed feature counts, mean raw words per document, and the number of documents."""
    total = np.zeros(buckets, dtype=np.int64)
    n_docs = n_words = 0
    for text in texts:
        words = raw_words(text)
        total += hashed_features(words, buckets)
        n_words += len(words)
        n_docs += 1
    if n_docs == 0:
        raise ValueError("no documents to fit")
    return total, n_words / n_docs, n_docs
