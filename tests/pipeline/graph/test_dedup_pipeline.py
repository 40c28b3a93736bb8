"""Dedup inside the full pipeline: planted near-duplicates of real documents are clustered the same way on
every runner, and filter mode removes all but the keeper."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from beam_curation.pipeline.cli import main as cli_main
from conftest import RUNNERS, data_file_digests, read_folder, run_pipeline, shared_data

# Every test here runs a pipeline or a cluster: the full tier (`make test`), not `make test-fast`.
pytestmark = pytest.mark.slow

CONFIG = """
mode: {mode}
input: {{splits: 2}}
extract: {{enabled: false}}
langid: {{enabled: true}}
signals: {{enabled: false}}
dedup: {{enabled: true, exact: true, minhash: true, ngram: 5, num_perm: 128, threshold: 0.7, keep: {keep}}}
filters: {{enabled: false}}
"""


def _edit(text: str, rng: random.Random, edits: int) -> str:
    words = text.split(" ")
    for _ in range(edits):
        words[rng.randrange(len(words))] = rng.choice(["alpha", "beta", "gamma", "delta"])
    return " ".join(words)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """Real DCLM documents (>= 300 words) in two shards, plus near copies (1% of words changed) and exact copies."""
    rows = [json.loads(line) for line in
            shared_data("quality_reference", "dclm_human_quality_majority_only.jsonl").read_text().splitlines()]
    texts = [r["text"] for r in rows if len(r["text"].split()) >= 300]
    rng = random.Random(7)
    docs, origin = [], {}
    for i, text in enumerate(texts):
        docs.append((f"doc{i:03d}", text))
        origin[f"doc{i:03d}"] = f"doc{i:03d}"
        if i % 3 == 0:
            docs.append((f"near{i:03d}", _edit(text, rng, max(1, len(text.split()) // 100))))
            origin[f"near{i:03d}"] = f"doc{i:03d}"
        if i % 5 == 0:
            docs.append((f"copy{i:03d}", text))
            origin[f"copy{i:03d}"] = f"doc{i:03d}"
    rng.shuffle(docs)
    folder = tmp_path_factory.mktemp("dedup_corpus")
    half = len(docs) // 2
    for name, part in (("a", docs[:half]), ("b", docs[half:])):
        pq.write_table(pa.table({"id": [d for d, _ in part], "text": [t for _, t in part]}), folder / f"{name}.parquet")
    return folder, origin


def _run(tmp: Path, folder: Path, name: str, *args: str, mode: str = "annotate", keep: str = "smallest_id") -> Path:
    config = tmp / f"{name}.yaml"
    config.write_text(CONFIG.format(mode=mode, keep=keep))
    out = tmp / name
    assert run_pipeline(config, out, "--input", str(folder / "*.parquet"), *args) == 0
    return out


@pytest.mark.shared_data
def test_planted_duplicates_cluster_identically_on_every_runner(corpus, tmp_path: Path):
    folder, origin = corpus
    outputs = {name: _run(tmp_path, folder, name, *args) for name, args in RUNNERS.items()}
    digests = {name: {k: v for k, v in data_file_digests(out).items() if k.startswith("duplicates/")}
               for name, out in outputs.items()}
    assert digests["in_memory"] == digests["multi_processing"] == digests["portable"]
    dups = read_folder(outputs["in_memory"], "duplicates")
    assert len(dups) == len(origin), "one row per document that reached dedup"
    cluster = {r["id"]: r["cluster_id"] for r in dups}
    # Every planted copy lands in its original's cluster; originals of different documents never merge.
    for doc_id, source in origin.items():
        assert cluster[doc_id] == cluster[source], doc_id
    originals = [d for d in origin if d.startswith("doc")]
    assert len({cluster[d] for d in originals}) == len(originals)
    # The keeper is the smallest id of its cluster, and exactly one document per cluster is kept.
    for r in dups:
        members = [i for i, c in cluster.items() if c == r["cluster_id"]]
        assert r["cluster_id"] == min(members) and r["cluster_size"] == len(members)
        assert r["keep"] == (r["id"] == r["cluster_id"])


@pytest.mark.shared_data
def test_filter_mode_removes_all_but_the_keeper(corpus, tmp_path: Path):
    folder, origin = corpus
    out = _run(tmp_path, folder, "filter", mode="filter", keep="longest_text")
    kept = {r["id"] for r in read_folder(out, "documents")}
    removed = {r["id"]: r["removed_by"] for r in read_folder(out, "removed")}
    assert len(kept) == len(set(origin.values())), "one survivor per original document"
    assert set(removed.values()) <= {"dedup_exact", "dedup_minhash"} and "dedup_minhash" in removed.values()
    # Same text, same length: the tie goes to the smaller id ("copy..." < "doc..."), so the original is the exact dup.
    for d in origin:
        if d.startswith("copy"):
            assert removed[origin[d]] == "dedup_exact", origin[d]


@pytest.mark.shared_data
def test_rerun_clusters_an_unfinished_shard_against_the_finished_ones(corpus, tmp_path: Path):
    """A crash after shard a finished: the rerun redoes only b, whose copies of a's documents are still found."""
    folder, origin = corpus
    out = _run(tmp_path, folder, "rerun", mode="filter")
    digests = data_file_digests(out)
    removed = {r["id"]: r["removed_by"] for r in read_folder(out, "removed")}
    b_ids = set(pq.read_table(folder / "b.parquet").column("id").to_pylist())
    cross = [d for d in b_ids if d in removed and origin[d] not in b_ids]
    assert cross, "the corpus plants copies in b of documents in a"
    for path in out.glob("*/b.parquet"):
        path.unlink()
    (out / "_shards" / "b.json").unlink()
    a_mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("a*.parquet")}
    assert run_pipeline(tmp_path / "rerun.yaml", out, "--input", str(folder / "*.parquet")) == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("a*.parquet")} == a_mtimes, "shard a was not rewritten"
    assert data_file_digests(out) == digests


@pytest.mark.shared_data
def test_a_new_input_file_redoes_every_shard(corpus, tmp_path: Path):
    """Shard a finished alone, then b joins: a's dedup decisions were made without b, so all is redone."""
    folder, _ = corpus
    out = _run(tmp_path, folder, "grown", mode="filter")  # a and b: the reference
    reference = data_file_digests(out)
    grown = tmp_path / "grown_later"
    config = tmp_path / "grown.yaml"
    assert run_pipeline(config, grown, "--input", str(folder / "a.parquet")) == 0
    assert run_pipeline(config, grown, "--input", str(folder / "*.parquet")) == 0
    assert data_file_digests(grown) == reference


@pytest.mark.shared_data
def test_redpajama_style_band_signatures(corpus, tmp_path: Path):
    folder, origin = corpus
    sets = ["--set", "dedup.write_signatures=true", "--set", "dedup.thresholds=[0.8, 0.9, 1.0]",
            "--set", "dedup.false_negative_weight=0.5"]  # RedPajama-V2's bandings
    out = _run(tmp_path, folder, "signatures", *sets)
    again = _run(tmp_path, folder, "signatures_mp", *sets, *RUNNERS["multi_processing"])
    files = sorted(p.name for p in (out / "minhash").glob("*.parquet"))
    assert files == ["a.parquet", "b.parquet"]
    for name in files:
        assert (out / "minhash" / name).read_bytes() == (again / "minhash" / name).read_bytes()
    rows = {r["id"]: r for r in read_folder(out, "minhash")}
    assert len(rows) == len(origin)
    bands = {c: len(v) for c, v in next(iter(rows.values())).items() if c != "id"}
    assert bands == {"signature_sim0.7": 14, "signature_sim0.8": 9, "signature_sim0.9": 5, "signature_sim1.0": 1}
    for doc_id, source in origin.items():
        if doc_id.startswith("copy"):
            assert rows[doc_id]["signature_sim1.0"] == rows[source]["signature_sim1.0"]
    # refilter carries the signatures (and clusters) of its source run over unchanged
    refiltered = tmp_path / "refiltered"
    config = tmp_path / "signatures.yaml"
    assert cli_main(["refilter", "--from", str(out), "--config", str(config), "--output", str(refiltered),
                     *sets]) == 0
    for folder in ("minhash", "duplicates"):
        for name in files:
            assert pq.read_table(refiltered / folder / name).equals(pq.read_table(out / folder / name)), folder
