"""Pairwise precision and recall of Deduplicate at 0.7 on the proxy set of real near-duplicates
(scripts/eval_dedup.py), against datasketch's MinHashLSH with the same shingles, permutations and banding."""

from __future__ import annotations

import pytest

from beam_curation.filters.dedup.types import DedupConfig
from conftest import shared_data
from scripts import eval_dedup

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]


@pytest.fixture(scope="module")
def proxy():
    data = shared_data()
    return eval_dedup.proxy_set(data, 5)


def _check_not_below_datasketch(result):
    scores = result["scores"]
    for truth in ("jaccard", "source", "margin"):
        ours = scores["ours (clusters)"][truth]["recall"]
        # Same signatures and bands: our clusters are the connected components of datasketch's candidate pairs.
        assert ours >= scores["datasketch (query pairs)"][truth]["recall"], truth
        assert ours == scores["datasketch (components)"][truth]["recall"], truth


def test_recall_tuned_banding_reaches_target(proxy):
    result = eval_dedup.evaluate(DedupConfig(threshold=0.7, false_negative_weight=0.9), proxy)
    assert result["documents"] > 1000 and result["true_pairs"]["jaccard"] > 500
    ours = result["scores"]["ours (clusters)"]
    assert ours["margin"]["recall"] >= 0.98, ours
    assert ours["margin"]["precision"] >= 0.99, ours
    assert ours["jaccard"]["recall"] >= 0.98, ours
    assert ours["source"]["precision"] >= 0.99, ours  # unrelated pages are not merged
    _check_not_below_datasketch(result)


def test_default_banding_not_below_datasketch(proxy):
    result = eval_dedup.evaluate(DedupConfig(threshold=0.7), proxy)
    ours = result["scores"]["ours (clusters)"]
    assert ours["source"]["precision"] >= 0.99, ours
    assert ours["margin"]["precision"] >= 0.99, ours
    _check_not_below_datasketch(result)
