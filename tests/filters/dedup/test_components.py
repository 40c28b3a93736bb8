"""The block form of the large-star / small-star rounds against their per-node definition and union-find."""

from __future__ import annotations

import random

import numpy as np
import pytest

from beam_curation.filters.dedup import components


def _per_node_large_star(edges):
    """Kiveris et al.'s large-star, one node at a time: every larger neighbour to the min of the closed
    neighbourhood."""
    nbrs = {}
    for a, b in edges:
        nbrs.setdefault(a, set()).add(b)
        nbrs.setdefault(b, set()).add(a)
    out = set()
    for u, vs in nbrs.items():
        m = min(vs | {u})
        out |= {(m, v) for v in vs if v > u}
    return out


def _per_node_small_star(edges):
    """Small-star, one node at a time: the node and its smaller neighbours to the smallest of them."""
    smaller = {}
    for a, b in edges:
        lo, hi = min(a, b), max(a, b)
        smaller.setdefault(hi, set()).add(lo)
    out = set()
    for u, ws in smaller.items():
        m = min(ws | {u})
        out |= {(m, w) for w in ws if w != m} | ({(m, u)} if u != m else set())
    return out


def _through_blocks(edges, step, route_in):
    """``edges`` routed as blocks, each partition stepped, outputs gathered: what a Beam step does."""
    a = np.array([e[0] for e in edges], dtype=np.int64)
    b = np.array([e[1] for e in edges], dtype=np.int64)
    by_part = {}
    for part, block in route_in(a, b):
        by_part.setdefault(part, []).append(block)
    out = set()
    for blocks in by_part.values():
        x, y = step(*components.rows_of(blocks))
        out |= set(zip(x.tolist(), y.tolist()))
    return out


def _random_edges(seed, n=300, m=500):
    rng = random.Random(seed)
    nodes = rng.sample(range(1 << 62), n)
    return [tuple(rng.sample(nodes, 2)) for _ in range(m)]


@pytest.mark.parametrize("seed", range(5))
def test_star_steps_equal_their_per_node_definition(seed):
    edges = _random_edges(seed)
    edges += edges[:40]  # duplicates change nothing
    large = _through_blocks(edges, components.large_star, components.route_both)
    assert large == _per_node_large_star(edges)
    small = _through_blocks(sorted(large), components.small_star, lambda a, b: components.route(b, a))
    assert small == _per_node_small_star(large)


def _union_find(edges):
    parent = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in list(parent)}


def _labels(edges, rounds):
    e = set(edges)
    for _ in range(rounds):
        e = _through_blocks(sorted(e), components.large_star, components.route_both)
        e = _through_blocks(sorted(e), components.small_star, lambda a, b: components.route(b, a))
    a = np.array([x for x, _ in e], dtype=np.int64)
    b = np.array([y for _, y in e], dtype=np.int64)
    by_part = {}
    for part, block in components.label_rows(a, b):
        by_part.setdefault(part, []).append(block)
    labels, bad = {}, 0
    for blocks in by_part.values():
        nodes, lab, n_bad = components.star_labels(*components.rows_of(blocks))
        labels.update(zip(nodes.tolist(), lab.tolist()))
        bad += n_bad
    return labels, bad


@pytest.mark.parametrize("seed", range(3))
def test_rounds_reach_the_components_of_union_find(seed):
    edges = _random_edges(seed, n=400, m=350)
    rng = random.Random(seed)
    path = rng.sample(range(1 << 40), 64)  # a long path in random order: several rounds
    edges += list(zip(path, path[1:]))
    labels, bad = _labels(edges, rounds=8)
    assert bad == 0
    assert labels == _union_find(edges)


def test_unconverged_rounds_are_counted_bad():
    path = random.Random(1).sample(range(1000), 64)
    _, bad = _labels(list(zip(path, path[1:])), rounds=1)
    assert bad > 0


def test_a_big_star_is_one_pass_not_all_pairs():
    hub, leaves = 0, list(range(1, 10_001))
    large = _through_blocks([(hub, v) for v in leaves], components.large_star, components.route_both)
    assert large == {(hub, v) for v in leaves}


def test_negative_nodes_are_refused():
    with pytest.raises(ValueError, match="non-negative"):
        components.edges_array([(1, -2)])
