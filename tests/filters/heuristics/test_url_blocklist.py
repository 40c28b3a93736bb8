"""UT1 domain blocklists: RedPajama-V2's combination ids, host matching, and the rule through the pipeline."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from conftest import REPO, read_folder, run_pipeline
from beam_curation.filters.heuristics.url_blocklist import DomainBlocklist, combination_id, url_host

SAMPLE_LIST = REPO / "tests" / "data" / "ut1_sample"


def _enumerated_index(categories: list[str]) -> dict[tuple[str, ...], int]:
    """RedPajama-V2's definition, enumerated: combinations by size, lexicographic, from 0."""
    ordered = sorted(categories)
    combos = itertools.chain.from_iterable(itertools.combinations(ordered, r) for r in range(1, len(ordered) + 1))
    return {combo: i for i, combo in enumerate(combos)}


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7])
def test_combination_ids_equal_the_enumeration(n: int):
    categories = ["adult", "phishing", "dating", "gambling", "ddos", "agressif", "chat"][:n]
    for combo, expected in _enumerated_index(categories).items():
        assert combination_id(combo, categories) == expected


def test_host_and_parent_domains_are_matched():
    blocklist = DomainBlocklist.load(SAMPLE_LIST)
    assert blocklist.categories == ["adult", "gambling", "phishing"]
    assert blocklist.categories_of("https://www.semanticscholar.org/paper/1") == {"adult", "gambling"}
    assert blocklist.category_id("http://semanticscholar.org") == combination_id({"adult", "gambling"},
                                                                                 blocklist.categories)
    assert blocklist.category_id("https://homes.cs.washington.edu/~x/") == 2  # phishing alone
    assert blocklist.category_id("https://washington.edu/") is None
    assert blocklist.category_id(None) is None and blocklist.category_id("not a url") is None
    assert url_host("HTTPS://Example.COM:8080/x") == "example.com"


def test_category_subset_changes_ids():
    blocklist = DomainBlocklist.load(SAMPLE_LIST, ["phishing", "gambling"])
    assert blocklist.category_id("https://semanticscholar.org") == 0  # gambling alone among [gambling, phishing]
    with pytest.raises(FileNotFoundError):
        DomainBlocklist.load(SAMPLE_LIST, ["violence"])


@pytest.mark.slow
def test_blocklist_rule_through_the_pipeline(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(REPO)
    out = tmp_path / "out"
    rule = 'filters.rules=[{name: url_blocklist, keep: "isnan(rps_doc_ut1_blacklist)"}]'
    assert run_pipeline(REPO / "configs" / "default.yaml", out, "--set", f"signals.ut1_blocklist={SAMPLE_LIST}",
                        "--set", rule, "--set", "dedup.enabled=false") == 0
    removed = [r for r in read_folder(out, "removed") if r["removed_by"] == "url_blocklist"]
    assert removed and all(url_host(r["url"]).endswith(("semanticscholar.org", "cs.washington.edu")) for r in removed)
    signals = {r["id"]: r["rps_doc_ut1_blacklist"] for r in read_folder(out, "signals")}
    kept = read_folder(out, "documents")
    assert all(signals[r["id"]] is None for r in kept)
