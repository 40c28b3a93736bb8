"""Packed bucket blocks give exactly the edges of linking every bucket member to the bucket's minimum."""

from __future__ import annotations

import random

import pytest

from beam_curation.filters.dedup.packed import PARTITIONS, link_members, pack, partition_of


def _reference(members):
    buckets = {}
    for key, node in members:
        buckets.setdefault(key, []).append(node)
    return sorted((min(ns), n) for ns in buckets.values() for n in ns if n != min(ns))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_packed_links_equal_per_bucket_links(seed):
    rng = random.Random(seed)
    keys = [rng.randbytes(12) for _ in range(300)] + [b"t" + rng.randbytes(16) for _ in range(50)]
    keys.append(b"\x00" * 12)  # a key that pads like a shorter one must stay its own bucket
    keys.append(b"\x00" * 11)
    members = [(rng.choice(keys), rng.randrange(1 << 62)) for _ in range(3000)]
    members += [(keys[0], n) for n in range(500)]  # a hot bucket
    members += [(keys[1], 7), (keys[1], 7)]  # a node twice in a bucket links nothing to itself
    assert sorted(link_members(members)) == _reference(members)


def test_blocks_are_few_and_partitioned():
    members = [(bytes([i % 256, i // 256]) * 6, i) for i in range(5000)]
    blocks = pack(members)
    assert len(blocks) <= PARTITIONS
    assert all(0 <= part < PARTITIONS for part, _ in blocks)
    assert partition_of(b"\x00" * 10 + b"\x01\x02") == 0x0102 % PARTITIONS


def test_keys_too_long_or_nodes_too_large_are_refused():
    with pytest.raises(ValueError):
        pack([(b"x" * 25, 1)])
    with pytest.raises(OverflowError):
        pack([(b"x" * 12, 1 << 64)])


def test_one_width_keys_take_the_fast_path_with_the_same_edges():
    rng = random.Random(5)
    keys = [rng.randbytes(12) for _ in range(200)]
    members = [(rng.choice(keys), rng.randrange(1 << 40)) for _ in range(4000)]
    assert sorted(link_members(members)) == _reference(members)
    # and the same partitions as key by key
    assert {part for part, _ in pack(members)} == {partition_of(k) for k, _ in members}
