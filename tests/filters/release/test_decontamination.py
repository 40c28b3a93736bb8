"""beam_curation.filters.release.decontamination against lm-eval-harness's Janitor, on evaluation sets made from real text."""

from __future__ import annotations

import csv
import json
import math
import os
import random
import string
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from beam_curation.filters.release.decontamination import (BloomNgramIndex, NgramIndex, build_index, decontamination_signals,
                                     load_index, ngram_hashes, normalize, summarize_matches)
from beam_curation.pipeline.io.eval_files import read_eval_texts
from tests.conftest import REPO, shared_data

janitor = pytest.importorskip("lm_eval.decontamination.janitor")


def lm_eval_ngrams(text: str, n: int = 13) -> set[str]:
    """lm-eval-harness's own n-grams of a text (Janitor's normalisation, then word_ngrams)."""
    return set(janitor.word_ngrams(janitor.Janitor(ngram_n=n).normalize_string(text), n))


@pytest.fixture(scope="module")
def eval_items() -> list[str]:
    """Evaluation 'items': WikiText-2 test paragraphs of 20+ words (real prose), 300 of them."""
    path = shared_data("quality_reference", "wikitext2_raw_test.txt")
    paragraphs = [p.strip() for p in path.read_text(encoding="utf-8").splitlines()
                  if len(p.split()) >= 20 and not p.strip().startswith("=")]
    return paragraphs[:300]


@pytest.fixture(scope="module")
def documents() -> list[str]:
    path = shared_data("extraction_dev", "scrapinghub_gold.jsonl")
    return [json.loads(line)["articleBody"] for line in path.open(encoding="utf-8")]


def test_normalisation_is_lm_eval_harness():
    rng = random.Random(0)
    alphabet = string.printable + "ÄÖÜßéèçñ—–“”‘’…€£¥\u00a0\u2009日本語"
    j = janitor.Janitor()
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        assert normalize(text) == j.normalize_string(text)


def plant(doc: str, fragment: str, where: str) -> str:
    words = doc.split()
    at = {"start": 0, "middle": len(words) // 2, "end": len(words)}[where]
    return " ".join(words[:at] + [fragment] + words[at:])


def restyle(words: list[str], rng: random.Random) -> str:
    """The same words as a scraper might leave them: other case, punctuation, line breaks. (Only ASCII words
    change case: lm-eval-harness lower-cases ASCII letters only, so "CAFÉ" and "café" differ for it too.)"""
    out = []
    for w in words:
        w = w.upper() if rng.random() < 0.2 and w.isascii() else w
        w = w + rng.choice(["", "", ",", ".", ";", "!"])
        out.append(w)
    return rng.choice([" ", "\n", "  "]).join(out)


@pytest.mark.shared_data
def test_planted_overlaps_found_and_near_misses_not(eval_items, documents):
    index = NgramIndex.build(eval_items)
    bloom = BloomNgramIndex.build(eval_items, error_rate=1e-9)
    rng = random.Random(1)
    clean = [d for d in documents if len(d.split()) > 100 and index.match(d).ngrams == 0][:30]
    assert len(clean) >= 20
    checked = 0
    for i, doc in enumerate(clean):
        item_id = rng.randrange(len(eval_items))
        words = normalize(eval_items[item_id]).split()  # the item's words as lm-eval-harness sees them
        s = rng.randrange(len(words) - 13 + 1)
        for where in ("start", "middle", "end"):
            hit = plant(doc, restyle(words[s:s + 13], rng), where)
            m = index.match(hit)
            assert m.ngrams == 1 and m.items >= 1, (where, m)
            assert item_id in index.matched_items(hit)
            assert bloom.match(hit).ngrams == 1
            # one word short, and 13 words with one changed: not contamination
            near = plant(doc, restyle(words[s:s + 12], rng), where)
            assert index.match(near) == (0, 0.0), where
            assert bloom.match(near).ngrams == 0
            changed = words[s:s + 13]
            changed[6] = "zzyzx"
            assert index.match(plant(doc, " ".join(changed), where)).ngrams == 0
            checked += 1
    assert checked >= 30


@pytest.mark.shared_data
def test_counts_equal_lm_eval_harness_ngram_sets(eval_items, documents):
    """Distinct shared n-grams and distinct items, against sets of lm-eval-harness's own n-gram strings."""
    index = NgramIndex.build(eval_items)
    bloom = BloomNgramIndex.build(eval_items)
    item_ngrams = [lm_eval_ngrams(t) for t in eval_items]
    all_ngrams = set().union(*item_ngrams)
    rng = random.Random(2)
    for doc in documents[:25]:
        # contaminate with two pieces of two items and a whole third item
        a, b, c = rng.sample(range(len(eval_items)), 3)
        doc = plant(doc, " ".join(eval_items[a].split()[:20]), "start")
        doc = plant(doc, " ".join(eval_items[b].split()[-16:]), "middle")
        doc = plant(doc, eval_items[c], "end")
        ngrams = lm_eval_ngrams(doc)
        expected_ngrams = len(ngrams & all_ngrams)
        expected_items = sum(1 for s in item_ngrams if s & ngrams)
        assert index.match(doc) == (expected_ngrams, float(expected_items))
        assert {i for i, s in enumerate(item_ngrams) if s & ngrams} == index.matched_items(doc)
        assert bloom.match(doc).ngrams == expected_ngrams


def test_short_items_cannot_match_and_ngram_size_is_a_parameter():
    index = NgramIndex.build(["only five words here ok", "one two three four five six seven"], n=13)
    assert index.short_items == 2 and len(index) == 0
    assert index.match("only five words here ok one two three four five six seven") == (0, 0.0)
    small = NgramIndex.build(["only five words here ok"], n=5)
    assert small.match("He said: Only five words, here OK?") == (1, 1.0)


@pytest.mark.shared_data
def test_signals_and_join_building_blocks(eval_items):
    index = NgramIndex.build(eval_items)
    doc = "Intro text. " + eval_items[5] + " Outro."
    signals = decontamination_signals(doc, {"wiki": index, "wiki_bloom": BloomNgramIndex.build(eval_items)})
    m = index.match(doc)
    assert signals["decontam_wiki"] == m.ngrams > 0 and signals["decontam_wiki_items"] == m.items >= 1
    assert signals["decontam_wiki_bloom"] == m.ngrams and math.isnan(signals["decontam_wiki_bloom_items"])
    # the join: document hashes against the index's (hash, item) entries gives the same figures
    table: dict[int, list[int]] = {}
    for h, item in index.entries():
        table.setdefault(h, []).append(item)
    pairs = [(int(h), item) for h in set(ngram_hashes(doc).tolist()) for item in table.get(int(h), [])]
    assert summarize_matches(pairs) == m


def test_hashes_do_not_depend_on_the_process():
    code = ("from beam_curation.filters.release.decontamination import ngram_hashes; "
            "print(ngram_hashes('The quick brown fox jumps over the lazy dog again and again and again!', 5).tolist())")
    outs = {subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                           env=dict(os.environ, PYTHONHASHSEED=seed)).stdout for seed in ("1", "2")}
    assert len(outs) == 1
    assert json.loads(outs.pop()) == ngram_hashes(
        "the QUICK brown fox, jumps over the lazy dog again and again and again", 5).tolist()


@pytest.mark.shared_data
def test_save_and_load(tmp_path, eval_items):
    for kind in ("exact", "bloom"):
        index = build_index(eval_items[:50], kind=kind)
        index.save(tmp_path / f"{kind}.npz")
        loaded = load_index(tmp_path / f"{kind}.npz")
        doc = eval_items[3] + " " + eval_items[7]
        assert type(loaded) is type(index)
        a, b = loaded.match(doc), index.match(doc)
        assert a.ngrams == b.ngrams and (a.items == b.items or math.isnan(a.items) and math.isnan(b.items))


@pytest.mark.shared_data
def test_readers_all_formats_give_the_same_items(tmp_path, eval_items):
    rows = [{"id": i, "question": t, "choices": ["yes", "no"]} for i, t in enumerate(eval_items[:40])]
    rows.insert(3, {"id": 99, "question": "", "choices": []})  # empty row: skipped
    with (tmp_path / "set.jsonl").open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "set.parquet")
    with (tmp_path / "set.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, ["id", "question"])
        w.writeheader()
        w.writerows({"id": r["id"], "question": r["question"]} for r in rows)
    expected = eval_items[:40]
    for name in ("set.jsonl", "set.parquet", "set.csv"):
        assert list(read_eval_texts(tmp_path / name, "question")) == expected, name
    assert list(read_eval_texts(tmp_path / "set.jsonl", ["question", "choices"], limit=2)) == [
        f"{t}\nyes no" for t in expected[:2]]
    with pytest.raises(KeyError):
        list(read_eval_texts(tmp_path / "set.parquet", "text"))


@pytest.mark.shared_data
def test_reader_of_a_datasets_save_to_disk_folder(tmp_path, eval_items):
    datasets = pytest.importorskip("datasets")
    rows = {"question": eval_items[:30], "label": list(range(30))}
    ds = datasets.Dataset.from_dict(rows)
    ds.save_to_disk(str(tmp_path / "one"), max_shard_size="4KB")  # several Arrow files
    assert len(list((tmp_path / "one").glob("*.arrow"))) > 1
    assert list(read_eval_texts(tmp_path / "one", "question")) == eval_items[:30]
    # a selection is saved flattened: what datasets itself reads back is what we read
    picked = ds.shuffle(seed=0).select(range(10))
    picked.save_to_disk(str(tmp_path / "picked"))
    assert list(read_eval_texts(tmp_path / "picked", "question")) == datasets.load_from_disk(
        str(tmp_path / "picked"))["question"]
    dd = datasets.DatasetDict({"validation": ds.select(range(5)), "test": ds.select(range(5, 12))})
    dd.save_to_disk(str(tmp_path / "dict"))
    assert list(read_eval_texts(tmp_path / "dict", "question")) == eval_items[:12]
    assert list(read_eval_texts(tmp_path / "dict", "question", split="test")) == eval_items[5:12]
    index = NgramIndex.build(read_eval_texts(tmp_path / "dict", "question", split="test"))
    assert index.num_items == 7 and np.all(np.diff(index.keys.astype(np.float64)) >= 0)
