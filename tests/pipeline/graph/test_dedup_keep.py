"""Keep policies as rankings (`dedup.keep: {source: [...], by: ..., order: ...}`): a cluster of real documents
keeps the preferred source's copy (Zyda-2's order), then the best value of a stored signal, then the id."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from beam_curation.filters.dedup.types import DedupConfig, KeepRanking, keep_rank
from conftest import RUNNERS, read_folder, run_pipeline, shared_data, user_file_digests

CONFIG = """
mode: filter
extract: {{enabled: false}}
langid: {{enabled: true}}
signals: {{enabled: true, names: [rps_doc_word_count]}}
dedup: {{enabled: true, keep: {keep}}}
filters: {{enabled: false}}
"""


def test_a_ranking_orders_sources_then_values():
    ranking = KeepRanking(source=("fineweb-edu", "dclm"), by="x", order="max")
    ranks = {name: keep_rank(ranking, 0, None, source, value) for name, source, value in [
        ("edu", "fineweb-edu", 1.0), ("edu_better", "fineweb-edu", 2.0), ("dclm", "dclm", 9.0),
        ("other", "c4", 9.0), ("none", None, 9.0), ("edu_nan", "fineweb-edu", float("nan"))]}
    assert sorted(ranks, key=ranks.get)[:4] == ["edu_better", "edu", "edu_nan", "dclm"]
    assert ranks["other"] == ranks["none"]  # unlisted and missing sources share the last place
    assert DedupConfig(keep={"by": "x", "order": "min"}).keep == KeepRanking(by="x", order="min")
    with pytest.raises(ValueError, match="needs `source`"):
        KeepRanking()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Clusters of copies of real DCLM documents from three sources; the copy ids sort so that smallest_id would
    keep the c4 copy; the dclm copy is a little longer (a sentence appended)."""
    rows = [json.loads(line) for line in
            shared_data("quality_reference", "dclm_human_quality_majority_only.jsonl").read_text().splitlines()]
    texts = [r["text"] for r in rows if len(r["text"].split()) >= 300][:12]
    docs = []
    for i, text in enumerate(texts):
        docs.append((f"a{i:02d}", text, "c4"))
        docs.append((f"b{i:02d}", text + " This sentence was added to the copy.", "dclm"))
        if i % 2 == 0:  # odd clusters have no fineweb-edu copy
            docs.append((f"c{i:02d}", text, "fineweb-edu"))
    folder = tmp_path_factory.mktemp("keep")
    pq.write_table(pa.table({"id": [d[0] for d in docs], "text": [d[1] for d in docs],
                             "source": [d[2] for d in docs]}), folder / "mixed.parquet")
    return folder


def _keepers(tmp: Path, corpus: Path, name: str, keep: str, *args: str) -> tuple[dict[str, str], Path]:
    config = tmp / f"{name}.yaml"
    config.write_text(CONFIG.format(keep=keep))
    out = tmp / name
    assert run_pipeline(config, out, "--input", str(corpus / "*.parquet"), *args) == 0
    return {r["id"]: r["cluster_id"] for r in read_folder(out, "duplicates")}, out


@pytest.mark.slow
@pytest.mark.shared_data
def test_a_cluster_keeps_the_preferred_sources_copy(corpus, tmp_path: Path):
    clusters, _ = _keepers(tmp_path, corpus, "id", "smallest_id")
    assert all(keeper.startswith("a") for keeper in clusters.values())  # the baseline: c4's copies
    ranked = "{source: [fineweb-edu, dclm]}"
    clusters, out = _keepers(tmp_path, corpus, "source", ranked)
    for i in range(12):
        assert clusters[f"a{i:02d}"] == (f"c{i:02d}" if i % 2 == 0 else f"b{i:02d}")
    kept = {r["id"] for r in read_folder(out, "documents")}
    assert kept == {f"c{i:02d}" if i % 2 == 0 else f"b{i:02d}" for i in range(12)}
    _, mp = _keepers(tmp_path, corpus, "source_mp", ranked, *RUNNERS["multi_processing"])
    assert user_file_digests(out) == user_file_digests(mp)
    # by a stored signal: the most words (the dclm copy, one sentence longer), or the fewest
    clusters, _ = _keepers(tmp_path, corpus, "longest", "{by: rps_doc_word_count, order: max}")
    assert {clusters[f"a{i:02d}"] for i in range(12)} == {f"b{i:02d}" for i in range(12)}
    clusters, _ = _keepers(tmp_path, corpus, "shortest", "{by: rps_doc_word_count, order: min}")
    assert {clusters[f"a{i:02d}"] for i in range(12)} == {f"a{i:02d}" for i in range(12)}
