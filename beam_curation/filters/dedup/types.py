"""Input, output and configuration types of document deduplication (no Beam here)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Optional, Union

from beam_curation.filters.dedup.paragraphs import ParagraphDedupConfig
from beam_curation.settings import decided_later, setting

KEEP_POLICIES = ("smallest_id", "longest_text", "highest_quality")
REASON_EXACT = "dedup_exact"
REASON_MINHASH = "dedup_minhash"


class DedupInput(NamedTuple):
    """One document as deduplication sees it. ``id`` must be unique within the input; ``language`` matters
    only with ``per_language``."""

    id: str
    text: str
    url: Optional[str] = None
    quality_score: Optional[float] = None
    language: Optional[str] = None


class DedupDoc(NamedTuple):
    """Everything clustering needs from one document, and nothing more (no text).

    ``node`` is a compact integer unique within the run (the pipeline uses ``shard index << 40 | row``), so the
    records that meet in buckets and component rounds are a few bytes each; ``id`` and ``rank`` travel once,
    to choose each cluster's keeper: the member with the smallest ``(rank, id, node)``. ``exact`` are the
    exact-match keys (normalised text hash, normalised URL hash), ``bands`` per threshold the fixed-width LSH
    bucket keys; a text without shingles (``shingled`` False) takes part in no LSH bucket. ``signature`` is the
    MinHash signature's bytes, carried only when candidate pairs are verified."""

    node: int
    id: str
    rank: float
    exact: tuple[bytes, ...]
    bands: tuple[tuple[bytes, ...], ...]
    signature: Optional[bytes] = None
    shingled: bool = True


@dataclass(frozen=True)
class KeepRanking:
    """A keep policy as a ranking (Zyda-2 keeps a cluster's copy from the best source: FineWeb-Edu > DCLM > ...):
    first the document's `source` by its position in `source` (an unlisted or missing source after every listed
    one), then the value of the expression `by` over stored signals (the rule language, beam_curation.filters
    .rules), highest first with `order: max`; NaN last. Ties fall to the id, as with every policy."""

    source: tuple[str, ...] = ()
    by: Optional[str] = None
    order: Literal["max", "min"] = "max"

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", tuple(str(s) for s in self.source))
        if not self.source and not self.by:
            raise ValueError("a keep ranking needs `source` (a list of sources, best first) or `by`")
        if len(set(self.source)) != len(self.source):
            raise ValueError("keep.source lists a source twice")
        if self.order not in ("max", "min"):
            raise ValueError(f"keep.order must be 'max' or 'min', got {self.order!r}")


def keep_text(keep: Union[str, KeepRanking]) -> str:
    """The keep policy in a line (reports, cards): the name, or the ranking's order."""
    if not isinstance(keep, KeepRanking):
        return keep
    parts = [f"source {' > '.join(keep.source)} > others"] if keep.source else []
    if keep.by:
        parts.append(f"{'highest' if keep.order == 'max' else 'lowest'} {keep.by}")
    return ", then ".join(parts)


def keep_rank(keep: Union[str, KeepRanking], text_chars: int, quality_score: Optional[float],
              source: Optional[str] = None, value: Any = None) -> Any:
    """Lower is better: what the keep policy sorts cluster members by, before their id (a float, or for a
    ranking the pair (source position, value rank); one run's documents all get the same kind)."""
    if isinstance(keep, KeepRanking):
        position = keep.source.index(source) if source in keep.source else len(keep.source)
        return float(position), (_value_rank(value, keep.order) if keep.by else 0.0)
    if keep == "longest_text":
        return -float(text_chars)
    if keep == "highest_quality":
        if quality_score is None or math.isnan(quality_score):
            return math.inf
        return -float(quality_score)
    return 0.0


def _value_rank(value: Any, order: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.inf
    if math.isnan(number):
        return math.inf
    return -number if order == "max" else number


class DupRecord(NamedTuple):
    """Deduplication result for one input document.

    ``cluster_id`` is the id of the cluster's kept document (RedPajama-V2's rule: keep the document
    whose id equals its cluster id); a singleton is its own cluster of size 1 and is kept.
    ``reason`` is None for kept documents, else ``dedup_exact`` (same normalised text, or same
    normalised URL when URL dedup is on, as a better-ranked document) or ``dedup_minhash``.
    ``keeper_run`` is the output folder of the kept document when it is an earlier run's (``dedup.against``).
    """

    id: str
    cluster_id: str
    cluster_size: int
    keep: bool
    reason: Optional[str]
    keeper_run: Optional[str] = None


@dataclass(frozen=True)
class DedupConfig:
    """Deduplication settings.

    Defaults: FineWeb's shingles (word 5-grams over normalised lower-cased words) with RedPajama-V2's
    128 permutations and threshold 0.7, banded for recall (20 bands x 6 rows, ``false_negative_weight``);
    the anchors' recipes pin datasketch's default banding (14 x 9 at 0.7). ``thresholds`` adds clusterings
    at other thresholds (RedPajama-V2: 0.7, 0.8, 0.9, 1.0) computed from the same signatures.
    """

    # Only the signature's settings (shingles, permutations, seed) shape the stored dedup keys; the rest is
    # decided later from them, so changing it reuses a run's annotations.
    enabled: bool = decided_later(True)
    # FineWeb-2: each language is deduplicated on its own. The document's language is folded into every
    # exact and band bucket key at decision time, so documents of two languages never share a bucket.
    per_language: bool = decided_later(False)
    exact: bool = decided_later(True)
    url: bool = decided_later(False)
    minhash: bool = True
    threshold: float = decided_later(0.7)
    thresholds: tuple[float, ...] = decided_later(())
    # datasketch's MinHashLSH `weights=(1 - w, w)`: how bands x rows are chosen for a threshold. 0.9 (0.7 at 128
    # permutations: 20 x 6) finds pairs just above the threshold that datasketch's default 0.5 (14 x 9, RedPajama-V2's
    # and FineWeb's bandings, which their recipes pin) misses: recall 0.99 against 0.89 on real near-duplicates.
    false_negative_weight: float = decided_later(0.9)
    num_perm: int = 128
    ngram: int = 5
    ngram_unit: Literal["word", "char"] = "word"
    lowercase: bool = True
    punctuation: Literal["ascii", "unicode", "keep"] = "ascii"
    unicode_form: Optional[Literal["NFD", "NFC", "NFKD", "NFKC"]] = "NFD"
    seed: int = 1
    keep: Union[Literal["smallest_id", "longest_text", "highest_quality"], KeepRanking] = decided_later("smallest_id")
    verify_jaccard: bool = decided_later(False)
    max_rounds: int = decided_later(10)
    batch_size: int = decided_later(512)
    # RedPajama-V2-style minhash/ output: per document, the band signatures for each threshold
    write_signatures: bool = decided_later(False)
    # Earlier finished output folders whose kept documents' stored keys act as an index (beam_curation.pipeline
    # .graph.against): a document duplicating one of them is removed. Decided later (the run's annotations do
    # not change); the decisions' scope follows the folders' contents.
    against: tuple[str, ...] = setting((), shapes=False, path="input", newer=True)
    # paragraph (line) dedup, decided from the stored text (beam_curation.filters.dedup.paragraphs)
    paragraphs: ParagraphDedupConfig = decided_later(ParagraphDedupConfig(), newer=True)

    def __post_init__(self) -> None:
        if isinstance(self.keep, dict):
            object.__setattr__(self, "keep", KeepRanking(**self.keep))
        if not isinstance(self.keep, KeepRanking) and self.keep not in KEEP_POLICIES:
            raise ValueError(f"dedup.keep must be one of {KEEP_POLICIES}, got {self.keep!r}")
        if self.ngram_unit not in ("word", "char"):
            raise ValueError(f"dedup.ngram_unit must be 'word' or 'char', got {self.ngram_unit!r}")
        if self.punctuation not in ("ascii", "unicode", "keep"):
            raise ValueError(f"dedup.punctuation must be 'ascii', 'unicode' or 'keep', got {self.punctuation!r}")
        for t in (self.threshold, *self.thresholds):
            if not 0.0 < float(t) <= 1.0:
                raise ValueError(f"dedup thresholds must be in (0, 1], got {t}")
        if not 0.0 < float(self.false_negative_weight) < 1.0:
            raise ValueError(f"dedup.false_negative_weight must be in (0, 1), got {self.false_negative_weight}")
        if self.write_signatures and not self.minhash:
            raise ValueError("dedup.write_signatures needs dedup.minhash: the signatures are MinHash band keys")
        if self.num_perm < 2:
            raise ValueError(f"dedup.num_perm must be >= 2, got {self.num_perm}")
        if self.ngram < 1:
            raise ValueError(f"dedup.ngram must be >= 1, got {self.ngram}")
        if self.max_rounds < 1:
            raise ValueError(f"dedup.max_rounds must be >= 1, got {self.max_rounds}")
        if self.batch_size < 1:
            raise ValueError(f"dedup.batch_size must be >= 1, got {self.batch_size}")
        object.__setattr__(self, "thresholds", tuple(float(t) for t in self.thresholds))
        object.__setattr__(self, "against", tuple(str(f) for f in self.against))
        if self.against and not (self.exact or self.url or self.minhash):
            raise ValueError("dedup.against needs a key to match on: dedup.exact, dedup.url or dedup.minhash")

    def all_thresholds(self) -> tuple[float, ...]:
        """The primary threshold first, then the extra ones, without repeats."""
        out = [float(self.threshold)]
        for t in self.thresholds:
            if t not in out:
                out.append(t)
        return tuple(out)
