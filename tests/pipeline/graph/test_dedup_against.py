"""Dedup against an earlier run (`dedup.against`): real near-duplicate documents split over two runs; the second
removes exactly the documents an earlier kept document matches (datasketch's LSH on the stored signatures says
which), dedups the rest as a run of only them would, and leaves every file of the first folder as it was."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasketch import MinHash, MinHashLSH

from beam_curation.filters.dedup.types import DedupConfig
from beam_curation.pipeline.cli import main as cli_main
from beam_curation.pipeline.io.against import check_against
from beam_curation.settings import ConfigError
from conftest import RUNNERS, read_folder, run_pipeline, shared_data, user_file_digests

CONFIG = """
mode: filter
extract: {{enabled: false}}
langid: {{enabled: true}}
signals: {{enabled: false}}
dedup: {{enabled: true, url: true, threshold: 0.7, {extra}}}
filters: {{enabled: false}}
"""


def _edit(text: str, rng: random.Random, share: float) -> str:
    words = text.split(" ")
    for _ in range(max(1, int(len(words) * share))):
        words[rng.randrange(len(words))] = rng.choice(["alpha", "beta", "gamma", "delta"])
    return " ".join(words)


def _write(folder: Path, name: str, docs: list[tuple[str, str, str | None]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": [d[0] for d in docs], "text": [d[1] for d in docs],
                             "url": pa.array([d[2] for d in docs], pa.string())}), folder / f"{name}.parquet")
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Real DCLM documents: run 1 has its own near copies; run 2 has exact and near copies of run 1's documents
    (ids that sort first, so a union run would keep them), a page at one of run 1's URLs, copies of a near copy
    (a chain reaching run 1 only through another new document), and new documents with copies among them."""
    rows = [json.loads(line) for line in
            shared_data("quality_reference", "dclm_human_quality_majority_only.jsonl").read_text().splitlines()]
    texts = [r["text"] for r in rows if len(r["text"].split()) >= 120]
    rng = random.Random(11)
    half = len(texts) // 2
    first, second = [], []
    for i, text in enumerate(texts[:half]):
        first.append((f"x{i:03d}", text, f"https://site{i}.example.org/page"))
        if i % 4 == 0:
            first.append((f"xnear{i:03d}", _edit(text, rng, 0.01), None))
        if i % 3 == 0:
            second.append((f"b{i:03d}", text, None))  # an exact copy
        elif i % 3 == 1:
            near = _edit(text, rng, 0.01)
            second.append((f"bnear{i:03d}", near, None))
            if i % 2:
                second.append((f"bchain{i:03d}", _edit(near, rng, 0.05), None))
    second.append(("burl", texts[-1] + " a different page", "http://SITE5.example.org/page/"))
    for i, text in enumerate(texts[half:-1]):
        second.append((f"n{i:03d}", text, None))
        if i % 3 == 0:
            second.append((f"nnear{i:03d}", _edit(text, rng, 0.01), None))
        if i % 5 == 0:
            second.append((f"ncopy{i:03d}", text, None))
    rng.shuffle(first)
    rng.shuffle(second)
    root = tmp_path_factory.mktemp("against")
    return _write(root / "in1", "one", first), _write(root / "in2", "two", second), second


def _config(tmp: Path, name: str, extra: str = "") -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(CONFIG.format(extra=extra))
    return path


def _file_sums(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _rows(folder: Path) -> list[dict]:
    return [r for f in sorted((folder / "_annotations").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]


def _lsh(rows: list[dict]) -> MinHashLSH:
    # The config's banding: dedup.false_negative_weight's default 0.9 is datasketch's weights=(0.1, 0.9).
    lsh = MinHashLSH(threshold=0.7, num_perm=128, weights=(1 - DedupConfig().false_negative_weight,
                                                         DedupConfig().false_negative_weight))
    for r in rows:
        if r["_shingled"]:
            lsh.insert(r["id"], _minhash(r))
    return lsh


def _minhash(row: dict) -> MinHash:
    import numpy as np

    return MinHash(num_perm=128, hashvalues=np.frombuffer(row["_minhash"], dtype=np.uint32).astype(np.uint64),
                   scheme="affine32")


def _url_key(url):
    from beam_curation.filters.dedup.exact import url_hash

    return None if url is None else url_hash(url)


@pytest.mark.slow
@pytest.mark.shared_data
def test_second_run_against_the_first(corpus, tmp_path: Path):
    in1, in2, second = corpus
    out1 = tmp_path / "one"
    assert run_pipeline(_config(tmp_path, "one"), out1, "--input", str(in1 / "*.parquet")) == 0
    before = _file_sums(out1)
    extra = f"against: [{out1}]"
    outs = {}
    for runner in ("in_memory", "multi_processing"):
        outs[runner] = tmp_path / f"two_{runner}"
        assert run_pipeline(_config(tmp_path, "two", extra), outs[runner], "--input", str(in2 / "*.parquet"),
                            *RUNNERS[runner]) == 0
    assert _file_sums(out1) == before, "the earlier run's folder was written"
    assert user_file_digests(outs["in_memory"]) == user_file_digests(outs["multi_processing"])
    out2 = outs["in_memory"]

    # What datasketch says: a new document has an earlier kept one with the same text hash or URL, or in one of
    # its LSH buckets (the same signatures, datasketch's banding for 0.7 at 128 permutations).
    kept1 = {r["id"] for r in read_folder(out1, "duplicates") if r["keep"]}
    assert kept1 == {r["id"] for r in read_folder(out1, "documents")}
    index = [r for r in _rows(out1) if r["id"] in kept1]
    lsh, hashes = _lsh(index), {r["_text_hash"] for r in index}
    urls = {_url_key(r["url"]) for r in index} - {None}
    new = _rows(out2)
    expected = {r["id"] for r in new if r["_text_hash"] in hashes or _url_key(r["url"]) in urls
                or (r["_shingled"] and lsh.query(_minhash(r)))}
    dups = {r["id"]: r for r in read_folder(out2, "duplicates")}
    against = {i for i, r in dups.items() if r["keeper_run"] is not None}
    assert against == expected
    assert {"burl"} <= against and any(i.startswith("b0") for i in against)  # by URL; exact copies sort first
    assert any(i.startswith("bchain") for i in {r["id"] for r in new} - against), "the corpus has a chain"
    texts1 = {r["id"]: r["text"] for r in _rows(out1)}
    for i in against:
        assert dups[i]["keeper_run"] == str(out1) and not dups[i]["keep"] and dups[i]["cluster_id"] in kept1
        assert dups[i]["reason"] in ("dedup_exact", "dedup_minhash")
        if dups[i]["reason"] == "dedup_minhash":
            assert next(r for r in new if r["id"] == i)["text"] != texts1[dups[i]["cluster_id"]]
    removed = {r["id"]: r["removed_by"] for r in read_folder(out2, "removed")}
    assert {i: removed[i] for i in against} == {i: dups[i]["reason"] for i in against}

    # The rest, deduplicated alone, gives the same clusters and decisions.
    rest = [d for d in second if d[0] not in against]
    alone = tmp_path / "alone"
    assert run_pipeline(_config(tmp_path, "alone"), alone, "--input",
                        str(_write(tmp_path / "in3", "two", rest) / "*.parquet")) == 0
    mine = {i: (r["cluster_id"], r["cluster_size"], r["keep"]) for i, r in dups.items() if i not in against}
    theirs = {r["id"]: (r["cluster_id"], r["cluster_size"], r["keep"]) for r in read_folder(alone, "duplicates")}
    assert mine == theirs and any(size > 1 for _, size, _ in mine.values())
    assert read_folder(alone, "documents") == read_folder(out2, "documents")

    # per language (every document here is English: the index's keys must be made per language as the new ones
    # are, or nothing would match) and with extra thresholds (the primary one decides), the same decisions
    languages = tmp_path / "languages"
    assert run_pipeline(_config(tmp_path, "languages", extra + ", per_language: true, thresholds: [0.8, 0.9]"),
                        languages, "--input", str(in2 / "*.parquet")) == 0
    assert read_folder(languages, "duplicates") == read_folder(out2, "duplicates")

    # refilter --from the second run decides against the first again, the same way
    refiltered = tmp_path / "refiltered"
    assert cli_main(["refilter", "--from", str(out2), "--config", str(_config(tmp_path, "two", extra)),
                     "--output", str(refiltered)]) == 0
    assert read_folder(refiltered, "duplicates") == read_folder(out2, "duplicates")
    assert _file_sums(out1) == before


def _finished(folder: Path, **dedup) -> Path:
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"config": {"dedup": {"enabled": True, **dedup}},
                                                      "inputs": []}))
    return folder


def test_against_refuses_what_it_cannot_use(tmp_path: Path):
    out = str(tmp_path / "out")
    with pytest.raises(ConfigError, match=r"dedup.against\[0\]: .*gone is not a finished run"):
        check_against(DedupConfig(against=(str(tmp_path / "gone"),)), out)
    other = _finished(tmp_path / "other", num_perm=256)
    with pytest.raises(ConfigError, match=r"dedup.against\[1\]: .*other stored its dedup keys with dedup.num_perm=256"):
        check_against(DedupConfig(against=(str(_finished(tmp_path / "same", num_perm=128)), str(other))), out)
    with pytest.raises(ConfigError, match="dedup off"):
        check_against(DedupConfig(against=(str(_finished(tmp_path / "off", enabled=False)),)), out)
    with pytest.raises(ConfigError, match="this run's output folder"):
        check_against(DedupConfig(against=(out,)), out)
    check_against(DedupConfig(against=(str(tmp_path / "same"),)), out)  # an empty finished run is an empty index
