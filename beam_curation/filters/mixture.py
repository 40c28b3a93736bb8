"""The arithmetic of a mixture: which documents are drawn, and how many times, decided from a hash.

A mixture is made of groups; each group has a target in tokens (a share of the mixture or a budget). The
group's pool is its documents, each present `factor` times (1, or its rehydration factor: FineWeb-2 repeats a
duplicate cluster's keeper by its cluster size). Every copy of a document is a *unit*, with a key
`(hash(seed, id, copy), run, id, copy)`: a total order that is the same on every machine and every rerun.

A group's target T over a pool of A tokens is met as `passes = T // A` whole passes over the pool (every unit
drawn) and a remainder `T - passes * A` taken from the units in key order until the next unit would exceed it.
So a group's drawn tokens are its target minus less than one unit (one document), whatever the input size,
and a document's draw count is a function of its own key and the group's cut-off key only: the cut-off is
found by the Beam graph (token sums per hash bucket, then the units of one bucket sorted), with no step
holding more than the keys of one bucket.

Pure Python: no Beam, no I/O.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterable, Mapping, Optional, Sequence

HASH_BITS = 64
BUCKET_BITS = 16  # 65,536 buckets per group: the finest level summed over the whole pool
CHARS_PER_TOKEN = 4  # the estimate when no token counts are stored (GPT-style BPE on English: about 4)

# FineWeb-2's "re-hydration" weights: a duplicate cluster's keeper is repeated this many times, by the
# smallest listed cluster size at or below its own (the keys are lower bounds). Source: the README of
# huggingface/fineweb-2 (section "Deduplication", the `Rehydrater` block: upsampling_weights =
# {1: 1, 2: 2, 3: 3, 5: 5, 100: 8, 1000: 1}): sizes 2 and 3 N times, 4 three times, 5-99 five times,
# 100-999 eight times, 1000 and more once ("very large clusters are lower quality").
FINEWEB2_REHYDRATION = {1: 1, 2: 2, 3: 3, 5: 5, 100: 8, 1000: 1}

Key = tuple  # (hash, run, id, copy)


def unit_hash(seed: int, doc_id: str, copy: int = 0) -> int:
    """A uniform 64-bit integer from the seed, the document id and the copy number (blake2b: the same on
    every platform and Python, unlike `hash`)."""
    blob = f"{seed}\x1f{doc_id}\x1f{copy}".encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(blob, digest_size=8).digest(), "big")


def unit_key(seed: int, run: int, doc_id: str, copy: int = 0) -> Key:
    return (unit_hash(seed, doc_id, copy), run, doc_id, copy)


def bucket_of(key: Key) -> int:
    return key[0] >> (HASH_BITS - BUCKET_BITS)


def rehydration_factor(cluster_size: Optional[int], table: Mapping[int, int]) -> int:
    """How many times a cluster's keeper is repeated: the table's value at the largest size <= the cluster's
    (a document in no cluster, or in a cluster smaller than every listed size, counts once)."""
    if cluster_size is None or (isinstance(cluster_size, float) and math.isnan(cluster_size)):
        return 1
    limits = sorted(table)
    at = bisect.bisect_right(limits, int(cluster_size)) - 1
    return table[limits[at]] if at >= 0 else 1


def estimated_tokens(chars: int) -> int:
    """Tokens of a text of `chars` characters when no token counts are stored: characters / 4, rounded up."""
    return -(-chars // CHARS_PER_TOKEN)


@dataclass(frozen=True)
class GroupTarget:
    """A group as the plan needs it: a weight (a share of what the weighted groups make up) or a budget."""

    name: str
    weight: Optional[float] = None
    tokens: Optional[int] = None


@dataclass(frozen=True)
class GroupPlan:
    """A group's target and how it is met: `passes` whole passes over the pool, then `remainder` tokens taken
    in key order. `available` is the pool's tokens (each document times its factor)."""

    name: str
    documents: int
    available: int
    target: int
    passes: int
    remainder: int
    max_unit: int  # the largest document of the pool, in tokens: the budget's tolerance

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class MixtureError(ValueError):
    """A mixture that cannot be drawn from these runs (weights with nothing to draw from, budgets above the
    total)."""


def plan_groups(groups: Sequence[GroupTarget], pools: Mapping[str, tuple[int, int, int]],
                total_tokens: Optional[int]) -> list[GroupPlan]:
    """Each group's target in tokens and its passes and remainder; `pools` maps a group to (documents,
    available tokens, largest unit) over its pool.

    Budgets are targets as given. Weighted groups share the weighted tokens W in proportion to their weights:
    W is `total_tokens` less the budgets when a total is given, else the largest W at which no weighted group
    needs more than its pool (the scarcest group is taken whole, the others subsampled). Exact rational
    arithmetic: the scarcest group's target is its pool, to the token."""
    weighted = [g for g in groups if g.weight is not None]
    budgets = sum(g.tokens for g in groups if g.tokens is not None)
    weight_sum = sum(Fraction(g.weight) for g in weighted)
    shares = {g.name: Fraction(g.weight) / weight_sum for g in weighted}
    if total_tokens is not None:
        if budgets > total_tokens:
            raise MixtureError(f"the groups' token budgets ({budgets:,}) exceed total_tokens ({total_tokens:,})")
        if not weighted and budgets != total_tokens:
            raise MixtureError(f"total_tokens ({total_tokens:,}) is not the sum of the groups' budgets "
                               f"({budgets:,}), and no group has a weight to make up the rest")
        weighted_tokens = Fraction(total_tokens - budgets)
    elif weighted:
        empty = [g.name for g in weighted if pools.get(g.name, (0, 0, 0))[1] == 0]
        if empty:
            raise MixtureError(f"group {empty[0]} has a weight but no document with tokens matches it, so no "
                               "mixture has its share; give total_tokens or drop the group")
        weighted_tokens = min(Fraction(pools[g.name][1]) / shares[g.name] for g in weighted)
    else:
        weighted_tokens = Fraction(0)
    plans = []
    for g in groups:
        documents, available, max_unit = pools.get(g.name, (0, 0, 0))
        target = g.tokens if g.tokens is not None else math.floor(shares[g.name] * weighted_tokens)
        passes, remainder = divmod(target, available) if available else (0, 0)
        plans.append(GroupPlan(g.name, documents, available, target, passes, remainder, max_unit))
    return plans


def cut_bucket(bucket_tokens: Iterable[tuple[int, int]], remainder: int) -> Optional[tuple[int, int]]:
    """(bucket, tokens still to take inside it) where a group's remainder runs out, from its token sum per
    hash bucket; None when the remainder is 0 (no unit beyond the whole passes)."""
    if remainder <= 0:
        return None
    taken = 0
    for bucket, tokens in sorted(bucket_tokens):
        if taken + tokens > remainder:
            return bucket, remainder - taken
        taken += tokens
    raise MixtureError(f"remainder {remainder} not reached by the pool's {taken} tokens")  # remainder < pool


def cut_key(units: Iterable[tuple[Key, int]], residual: int) -> Key:
    """The first unit (in key order) of a bucket that is not taken: units are taken while their running sum
    stays within `residual`."""
    taken = 0
    for key, tokens in sorted(units):
        if taken + tokens > residual:
            return key
        taken += tokens
    raise MixtureError(f"residual {residual} not reached inside its bucket ({taken} tokens)")


@dataclass(frozen=True)
class Cut:
    """Where a group's remainder stops: units in earlier buckets are taken, in later ones not, and in the
    cut bucket those with a key below `key`."""

    bucket: int
    key: Key

    def takes(self, key: Key) -> bool:
        bucket = bucket_of(key)
        return bucket < self.bucket or (bucket == self.bucket and key < self.key)


def draw_count(keys: Sequence[Key], plan: GroupPlan, cut: Optional[Cut]) -> int:
    """Times a document is drawn: every copy once per whole pass, plus each copy the remainder takes."""
    count = plan.passes * len(keys)
    if cut is not None:
        count += sum(1 for key in keys if cut.takes(key))
    return count
