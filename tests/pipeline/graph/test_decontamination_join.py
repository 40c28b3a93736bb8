"""The join path of decontamination (beam_curation.pipeline.graph.decontam) against the side-input path and lm-eval-harness.

Evaluation sets are WikiText-2 paragraphs (JSONL) and a few more (Parquet); documents are ScrapingHub articles
with 13-word windows of items planted at their start, middle and end, 12-word near misses, and documents
holding pieces of several items. A tiny `max_index_mb` forces the join; its columns must equal the side-input
path's (exact index) cell for cell, and so must every file users read, on every local runner and after a
refilter, which joins again from the stored n-gram hashes.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from conftest import read_folder, run_pipeline, shared_data, user_file_digests
from beam_curation.filters.release.decontamination import (JOIN_BUCKETS, NgramIndex, ngram_hashes, ngram_pairs, signal_names,
                                             split_by_bucket, summarize_arrays)
from beam_curation.pipeline.io.eval_files import EvalUnit, eval_units, read_eval_texts, read_unit

janitor = pytest.importorskip("lm_eval.decontamination.janitor")

N = 13
TINY = "decontamination.max_index_mb=0.000001"  # no index fits: every set is joined


def lm_eval_ngrams(text: str) -> set[str]:
    return set(janitor.word_ngrams(janitor.Janitor(ngram_n=N).normalize_string(text), N))


def plant(words: list[str], fragment: str, where: str) -> list[str]:
    at = {"start": 0, "middle": len(words) // 2, "end": len(words)}[where]
    return words[:at] + fragment.split() + words[at:]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("join")
    rng = random.Random(7)
    wikitext = shared_data("quality_reference", "wikitext2_raw_test.txt").read_text(encoding="utf-8")
    paragraphs = [p.strip() for p in wikitext.splitlines() if len(p.split()) >= 30 and not p.strip().startswith("=")]
    sets = {"wiki": paragraphs[:200], "passages": paragraphs[200:210]}
    (root / "eval").mkdir()
    with (root / "eval" / "wiki.jsonl").open("w", encoding="utf-8") as f:
        for i, p in enumerate(sets["wiki"]):
            f.write(json.dumps({"id": i, "question": p}) + "\n")
    pq.write_table(pa.table({"passage": sets["passages"]}), root / "eval" / "passages.parquet")
    every = set().union(*(lm_eval_ngrams(t) for items in sets.values() for t in items))

    gold = shared_data("extraction_dev", "scrapinghub_gold.jsonl")
    articles = [json.loads(line)["articleBody"] for line in gold.open(encoding="utf-8")]
    clean = [a for a in articles if len(a.split()) > 150 and not lm_eval_ngrams(a) & every]
    normalized = {name: [janitor.Janitor().normalize_string(t).split() for t in items] for name, items in sets.items()}
    docs, planted = [], {}
    for i, text in enumerate(clean[:40]):
        words = text.split()
        doc_id = f"doc{i:03d}"
        where = ("start", "middle", "end")[i % 3]
        name = "passages" if i % 4 == 3 else "wiki"
        item = rng.randrange(len(sets[name]))
        item_words = normalized[name][item]
        if i < 18:  # 13 words (an overlap) or 12 (a near miss) of one item
            size = N if i < 12 else N - 1
            start = rng.randrange(len(item_words) - size + 1)
            words = plant(words, " ".join(item_words[start:start + size]), where)
            planted[doc_id] = {"set": name, "overlap": size == N}
        elif i < 26:  # pieces of several items of both sets: several n-grams, several items
            for name in ("wiki", "wiki", "passages"):
                other = normalized[name][rng.randrange(len(sets[name]))]
                words = plant(words, " ".join(other[:20]), rng.choice(("start", "middle", "end")))
            planted[doc_id] = {"set": "both", "overlap": True}
        docs.append({"id": doc_id, "text": " ".join(words)})
    (root / "corpus").mkdir()
    for k, part in enumerate((docs[:20], docs[20:])):
        pq.write_table(pa.Table.from_pylist(part), root / "corpus" / f"part{k}.parquet")
    config = {
        "input": {"paths": [str(root / "corpus" / "*.parquet")]},
        "mode": "filter",
        "langid": {"enabled": False},
        "signals": {"enabled": False},
        "decontamination": {"enabled": True, "sets": [
            {"name": "wiki", "path": str(root / "eval" / "wiki.jsonl"), "text_column": "question"},
            {"name": "passages", "path": str(root / "eval" / "passages.parquet"), "text_column": "passage"}]},
        "dedup": {"enabled": True},
        "filters": {"rules": [{"name": "decontaminated", "keep": "decontam_wiki == 0 and decontam_passages == 0"}]},
    }
    path = root / "join.yaml"
    path.write_text(yaml.safe_dump(config))
    return {"root": root, "config": path, "sets": sets, "docs": {d["id"]: d["text"] for d in docs},
            "planted": planted}


@pytest.fixture(scope="module")
def side_run(corpus) -> Path:
    out = corpus["root"] / "side"
    assert run_pipeline(corpus["config"], out, "--set", "decontamination.index=exact") == 0
    return out


@pytest.fixture(scope="module")
def join_run(corpus) -> Path:
    out = corpus["root"] / "joined"
    assert run_pipeline(corpus["config"], out, "--set", TINY) == 0
    return out


def _signals(out: Path) -> dict[str, dict]:
    return {r["id"]: r for r in read_folder(out, "signals")}


# --- the pure pieces, without Beam ---------------------------------------------------------------------------

@pytest.mark.shared_data
def test_bucketed_join_equals_the_index(corpus):
    """Every bucket's pairs probed against that bucket's index give, per document, NgramIndex.match's figures."""
    items = corpus["sets"]["wiki"]
    index = NgramIndex.build(items)
    hashes = np.concatenate([np.unique(ngram_hashes(t)) for t in items])
    ids = np.concatenate([np.full(len(np.unique(ngram_hashes(t))), 1000 + i) for i, t in enumerate(items)])
    by_bucket = {b: NgramIndex.from_pairs(h, i) for b, h, i in split_by_bucket(hashes, ids)}
    assert 0 < len(by_bucket) <= JOIN_BUCKETS and sum(len(x) for x in by_bucket.values()) == len(index)
    for node, text in enumerate(corpus["docs"].values()):
        h = np.unique(ngram_hashes(text))
        pairs = [by_bucket[b].join(dh, dn)[1:] for b, dh, dn in split_by_bucket(h, np.full(len(h), node))
                 if b in by_bucket]
        found_h = np.concatenate([p[0] for p in pairs]) if pairs else np.empty(0, np.uint64)
        found_i = np.concatenate([p[1] for p in pairs]) if pairs else np.empty(0, np.int64)
        assert summarize_arrays(found_h, found_i) == index.match(text)


@pytest.mark.shared_data
def test_ngram_pairs_of_many_texts_equal_each_text_alone(corpus):
    texts = [*corpus["sets"]["wiki"][:50], "", "too short to hold one", " ".join(["word"] * 30),
             *corpus["sets"]["passages"], "ten words then the next text begins right here now"]
    for n in (13, 5, 1):
        hashes, positions = ngram_pairs(texts, n)
        for i, text in enumerate(texts):
            assert np.array_equal(hashes[positions == i], np.unique(ngram_hashes(text, n))), (n, i)
    assert [len(a) for a in ngram_pairs(["a b c"], 13)] == [0, 0]


@pytest.mark.shared_data
def test_units_cover_every_item_once(tmp_path, corpus):
    """Byte ranges of a JSONL file and row groups of a Parquet file: the same items in order, ids unique."""
    items = corpus["sets"]["wiki"]
    path = tmp_path / "set.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for i, t in enumerate(items):
            f.write(json.dumps({"question": t if i % 17 else ""}) + ("\r\n" if i % 5 == 0 else "\n"))
    expected = list(read_eval_texts(path, "question"))
    assert len(expected) == len(items) - len(range(0, len(items), 17))
    for chunk in (97, 1000, 4096, 1 << 30):
        units = eval_units(path, chunk_bytes=chunk)
        read = [pair for unit in units for pair in read_unit(unit, "question")]
        assert [t for _, t in read] == expected, chunk
        assert len({i for i, _ in read}) == len(read)
    pq.write_table(pa.table({"question": items}), tmp_path / "set.parquet", row_group_size=16)
    units = eval_units(tmp_path / "set.parquet", chunk_bytes=1)
    assert len(units) == -(-len(items) // 16)
    read = [pair for unit in units for pair in read_unit(unit, "question")]
    assert [t for _, t in read] == items and [i for i, _ in read] == list(range(len(items)))
    assert list(read_unit(EvalUnit(str(tmp_path / "set.parquet"), 3, 0, 1), "question"))[0] == (3 << 40, items[0])


@pytest.mark.shared_data
@pytest.mark.slow
def test_join_transform_on_a_test_pipeline(corpus, tmp_path):
    """JoinEvalSets alone: (node, figures) for exactly the documents the exact index matches."""
    from beam_curation.pipeline.config import parse_config
    from beam_curation.pipeline.graph.decide import node_of
    from beam_curation.pipeline.graph.decontam import JoinEvalSets

    config = parse_config(yaml.safe_load(corpus["config"].read_text()))
    indexes = {s.name: NgramIndex.build(read_eval_texts(s.path, s.text_column)) for s in config.decontamination.sets}
    batch = [(row, np.unique(ngram_hashes(text)).astype("<u8").tobytes())
             for row, text in enumerate(corpus["docs"].values())]
    expected = []
    for row, text in enumerate(corpus["docs"].values()):
        found = {}
        for name, index in indexes.items():
            m = index.match(text)
            if m.ngrams:
                found.update(zip(signal_names(name), (float(m.ngrams), m.items)))
        if found:
            expected.append((node_of(1, row), found))
    assert len(expected) >= 20
    with test_pipeline.TestPipeline() as p:
        out = (p | beam.Create([(1, batch[:15]), (1, batch[15:])])
               | JoinEvalSets(config.decontamination, ("wiki", "passages")))
        assert_that(out, equal_to(expected))


# --- the pipeline ------------------------------------------------------------------------------------------

@pytest.mark.shared_data
@pytest.mark.slow
def test_join_chosen_by_size_and_recorded(corpus, side_run, join_run):
    side = {e["name"]: e for e in json.loads((side_run / "manifest.json").read_text())["eval_sets"]}
    joined = {e["name"]: e for e in json.loads((join_run / "manifest.json").read_text())["eval_sets"]}
    assert {e["kind"] for e in side.values()} == {"exact"} and {e["kind"] for e in joined.values()} == {"join"}
    assert not list((join_run / "_decontamination").glob("*.npz"))
    for name in side:
        assert joined[name]["items"] == side[name]["items"] and joined[name]["ngrams"] >= side[name]["ngrams"]
    annotations = pq.read_table(next((join_run / "_annotations").glob("*.parquet")))
    assert "_decontam_ngrams" in annotations.column_names
    assert "_decontam_ngrams" not in pq.read_table(next((side_run / "_annotations").glob("*.parquet"))).column_names
    assert all(len(b) % 8 == 0 for b in annotations.column("_decontam_ngrams").to_pylist())


@pytest.mark.shared_data
@pytest.mark.slow
def test_join_columns_equal_side_input_and_lm_eval_harness(corpus, side_run, join_run):
    side, joined = _signals(side_run), _signals(join_run)
    assert side == joined and len(side) == len(corpus["docs"])
    every = {name: [lm_eval_ngrams(t) for t in items] for name, items in corpus["sets"].items()}
    for doc_id, text in corpus["docs"].items():
        ngrams = lm_eval_ngrams(text)
        for name, item_ngrams in every.items():
            column, items = signal_names(name)
            assert joined[doc_id][column] == len(ngrams & set().union(*item_ngrams)), (doc_id, name)
            assert joined[doc_id][items] == sum(1 for s in item_ngrams if s & ngrams), (doc_id, name)
        planted = corpus["planted"].get(doc_id)
        flagged = joined[doc_id]["decontam_wiki"] + joined[doc_id]["decontam_passages"] > 0
        assert flagged == bool(planted and planted["overlap"]), doc_id
    assert sum(r["decontam_wiki_items"] >= 2 for r in joined.values()) >= 4
    removed = {r["id"] for r in read_folder(join_run, "removed") if r["removed_by"] == "decontaminated"}
    assert removed == {d for d, p in corpus["planted"].items() if p["overlap"]}
    assert user_file_digests(join_run) == user_file_digests(side_run)
    stats = [json.loads((out / "stats.json").read_text())["decontamination"] for out in (side_run, join_run)]
    assert stats[0] == stats[1]


@pytest.mark.shared_data
@pytest.mark.slow
def test_join_on_multi_processing_and_after_refilter(corpus, side_run, join_run, tmp_path):
    out = tmp_path / "mp"
    assert run_pipeline(corpus["config"], out, "--set", TINY, "--runner=FnApiRunner",
                        "--direct_running_mode=multi_processing", "--direct_num_workers=2") == 0
    assert user_file_digests(out) == user_file_digests(side_run)
    # refilter joins again from the stored hashes; a looser rule removes only documents with 2+ items
    from beam_curation.pipeline.cli import main

    args = ["--config", str(corpus["config"]), "--set", TINY, "--set",
            'filters.rules=[{name: decontaminated, keep: "decontam_wiki_items + decontam_passages_items < 2"}]']
    assert main(["refilter", "--from", str(join_run), "--output", str(tmp_path / "re"), *args]) == 0
    signals = _signals(tmp_path / "re")
    decontam = [c for c in next(iter(signals.values())) if c.startswith("decontam_")]
    assert len(decontam) == 4
    side = _signals(side_run)
    assert {d: [r[c] for c in decontam] for d, r in signals.items()} == {d: [r[c] for c in decontam]
                                                                         for d, r in side.items()}
    removed = {r["id"] for r in read_folder(tmp_path / "re", "removed")}
    assert removed == {d for d, r in signals.items() if r["decontam_wiki_items"] + r["decontam_passages_items"] >= 2}
    assert removed


@pytest.mark.shared_data
@pytest.mark.slow
def test_join_on_dask(corpus, side_run, tmp_path):
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    import dask

    with dask.config.set({"distributed.worker.daemon": False}), \
            distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0",
                                     local_directory=str(tmp_path), silence_logs=logging.WARNING) as cluster:
        assert run_pipeline(corpus["config"], tmp_path / "dask", "--set", TINY, "--runner=DaskRunner",
                            f"--dask_client_address={cluster.scheduler_address}") == 0
    assert user_file_digests(tmp_path / "dask") == user_file_digests(side_run)


@pytest.mark.shared_data
@pytest.mark.slow
def test_join_with_paragraph_dedup(corpus, tmp_path):
    """Dedup's rules read joined columns, so decision rows are regrouped by node: paragraph dedup hashes their
    text before (nothing grouped carries it) and writes what the side-input index run writes. The documents
    here are one line each, none repeated: this checks the wiring of that path, not the spans."""
    paragraphs = ("--set", "dedup.paragraphs.enabled=true", "--set", "dedup.paragraphs.mode=remove")
    assert run_pipeline(corpus["config"], tmp_path / "side", *paragraphs, "--set", "decontamination.index=exact") == 0
    assert run_pipeline(corpus["config"], tmp_path / "join", *paragraphs, "--set", TINY) == 0
    assert user_file_digests(tmp_path / "join") == user_file_digests(tmp_path / "side")
    spans = {r["id"]: r["dup_paragraph_spans"] for r in read_folder(tmp_path / "join", "signals")}
    kept = {r["id"] for r in read_folder(tmp_path / "join", "documents")}
    assert kept and all(spans[d] == [] for d in kept)
