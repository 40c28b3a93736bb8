"""What a corpus release needs, through the whole pipeline: personal data found and redacted, benchmark overlaps
found (and near misses not), multi-label toxicity columns, identical bytes on the three local runners, and a
dataset card whose every figure is the run's own.

The corpus is real text (ScrapingHub benchmark articles) with values planted in it; the evaluation sets are
WikiText-2 paragraphs; the multi-label model is trained here on Davidson et al.'s MIT-licensed tweets.
lm-evaluation-harness's own n-grams are the oracle for contamination, the planted values for personal data.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from conftest import assert_conservation, data_file_digests, read_folder, run_pipeline, shared_data

from scripts import build_pii_eval as planting
from scripts import train_fasttext

# Every test here runs a pipeline or a cluster: the full tier (`make test`), not `make test-fast`.
pytestmark = pytest.mark.slow

janitor = pytest.importorskip("lm_eval.decontamination.janitor")

RUNNERS = {
    "in_memory": ["--runner=FnApiRunner"],
    "multi_processing": ["--runner=FnApiRunner", "--direct_running_mode=multi_processing",
                         "--direct_num_workers=2"],
    "portable": ["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"],
}
N = 13
OVERLAP_DOCS = 12  # a 13-word window of an item at the start, middle or end
NEAR_MISS_DOCS = 6  # 12 words of an item: not contamination
PII_DOCS = 12


def lm_eval_ngrams(text: str) -> set[str]:
    return set(janitor.word_ngrams(janitor.Janitor(ngram_n=N).normalize_string(text), N))


def plant(words: list[str], fragment: str, where: str) -> str:
    at = {"start": 0, "middle": len(words) // 2, "end": len(words)}[where]
    return " ".join(words[:at] + [fragment] + words[at:])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("release")
    rng = random.Random(12)
    wikitext = shared_data("quality_reference", "wikitext2_raw_test.txt").read_text(encoding="utf-8")
    paragraphs = [p.strip() for p in wikitext.splitlines() if len(p.split()) >= 30 and not p.strip().startswith("=")]
    wiki, passages = paragraphs[:200], paragraphs[200:206]
    (root / "eval").mkdir()
    with (root / "eval" / "wiki.jsonl").open("w", encoding="utf-8") as f:
        for i, p in enumerate(wiki):
            f.write(json.dumps({"id": i, "question": p}) + "\n")
    pq.write_table(pa.table({"passage": passages, "answer": ["x"] * len(passages)}),
                   root / "eval" / "passages.parquet")
    eval_ngrams = {"wiki": [lm_eval_ngrams(t) for t in wiki], "passages": [lm_eval_ngrams(t) for t in passages]}
    every = set().union(*eval_ngrams["wiki"], *eval_ngrams["passages"])

    articles = [json.loads(line) for line in shared_data("extraction_dev", "scrapinghub_gold.jsonl").open()]
    clean = [a for a in articles if len(a["articleBody"].split()) > 150 and not lm_eval_ngrams(a["articleBody"]) & every]
    docs, planted = [], {}
    for i, article in enumerate(clean[:OVERLAP_DOCS + NEAR_MISS_DOCS + PII_DOCS + 6]):
        words = article["articleBody"].split()
        doc_id = f"doc{i:03d}"
        text = article["articleBody"]
        if i < OVERLAP_DOCS + NEAR_MISS_DOCS:
            name, items = ("passages", passages) if i % 4 == 3 else ("wiki", wiki)
            item = rng.randrange(len(items))
            item_words = janitor.Janitor().normalize_string(items[item]).split()  # words as n-grams count them
            size = N if i < OVERLAP_DOCS else N - 1
            start = rng.randrange(len(item_words) - size + 1)
            where = ("start", "middle", "end")[i % 3]
            text = plant(words, " ".join(item_words[start:start + size]), where)
            planted[doc_id] = {"set": name, "item": item, "where": where, "overlap": size == N}
        elif i < OVERLAP_DOCS + NEAR_MISS_DOCS + PII_DOCS:
            values = []
            for make, template in ((planting.plant_email, "Write to {v} today."),
                                   (planting.plant_ip, "The server at {v} answered."),
                                   (planting.plant_phone, "Call {v} now."),
                                   (planting.plant_card, "Card {v} was charged."),
                                   (planting.plant_iban, "IBAN: {v}.")):
                value, _ = make(rng)
                values.append((make.__name__.removeprefix("plant_"), value))
                at = rng.randrange(len(words) + 1)
                words = words[:at] + [template.format(v=value)] + words[at:]
            text = " ".join(words)
            planted[doc_id] = {"pii": values}
        docs.append({"id": doc_id, "text": text, "url": article["url"], "source": "scrapinghub"})
    (root / "corpus").mkdir()
    half = len(docs) // 2
    for k, part in enumerate((docs[:half], docs[half:])):
        pq.write_table(pa.Table.from_pylist(part), root / "corpus" / f"part{k}.parquet")

    # a tiny multi-label toxicity model from Davidson et al.'s tweets (MIT): hate / offensive vote fractions
    rows = list(csv.DictReader(shared_data("toxicity_train", "davidson_train.csv").open(newline="", encoding="utf-8")))
    random.Random(0).shuffle(rows)
    with (root / "davidson_multi.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["tweet", "hate", "offensive"])
        for r in rows[:3000]:
            c = int(r["count"])
            w.writerow([r["tweet"], int(r["hate_speech"]) / c, int(r["offensive_language"]) / c])
    model = root / "models" / "toxicity_multi.bin"
    assert train_fasttext.main(["--output", str(model), "--input", str(root / "davidson_multi.csv"),
                                "--text-column", "tweet", "--label-columns", "hate,offensive",
                                "--normalization", "lower_punct_eol", "--epoch", "10", "--dim", "16",
                                "--bucket", "50000", "--license", f"{root / 'davidson_multi.csv'}=MIT"]) == 0

    config = {
        "input": {"paths": [str(root / "corpus" / "*.parquet")], "source": "ScrapingHub article benchmark",
                  "license": "mit"},
        "mode": "filter",
        "langid": {"enabled": True},
        "signals": {"enabled": True, "names": ["rps_doc_word_count", "rps_lines_num_words"]},
        "pii": {"enabled": True, "mode": "redact", "kinds": ["email", "ip", "phone", "card", "iban"],
                "phone_regions": ["US", "GB", "DE"]},
        "decontamination": {"enabled": True, "sets": [
            {"name": "wiki", "path": str(root / "eval" / "wiki.jsonl"), "text_column": "question"},
            {"name": "passages", "path": str(root / "eval" / "passages.parquet"), "text_column": "passage"}]},
        "classifiers": {"enabled": True, "models": [
            {"name": "toxicity", "model": str(model), "output": "toxicity", "labels": ["hate", "offensive"],
             "normalization": "lower_punct_eol"}]},
        "dedup": {"enabled": True},
        "filters": {"rules": [{"name": "decontaminated", "keep": "decontam_wiki == 0 and decontam_passages == 0"}]},
    }
    path = root / "release.yaml"
    path.write_text(yaml.safe_dump(config))
    return {"root": root, "config": path, "docs": {d["id"]: d for d in docs}, "planted": planted,
            "eval_ngrams": eval_ngrams, "model": model}


@pytest.fixture(scope="module")
def release_run(corpus) -> Path:
    out = corpus["root"] / "out"
    assert run_pipeline(corpus["config"], out) == 0
    return out


def _rows(out: Path, folder: str) -> dict[str, dict]:
    return {r["id"]: r for r in read_folder(out, folder)}


@pytest.mark.shared_data
def test_conservation_and_contaminated_documents_removed_by_the_rule(corpus, release_run):
    assert_conservation(release_run, len(corpus["docs"]))
    removed = _rows(release_run, "removed")
    overlaps = {d for d, p in corpus["planted"].items() if p.get("overlap")}
    assert {d for d, r in removed.items() if r["removed_by"] == "decontaminated"} == overlaps


@pytest.mark.shared_data
def test_every_planted_overlap_found_no_near_miss_flagged(corpus, release_run):
    signals = _rows(release_run, "signals")
    texts = {**{d: r["text"] for d, r in _rows(release_run, "documents").items()},
             **{d: r["text"] for d, r in _rows(release_run, "removed").items()}}
    for doc_id, row in signals.items():
        ngrams = lm_eval_ngrams(texts[doc_id])  # the text decontamination read (after redaction)
        for name, item_sets in corpus["eval_ngrams"].items():
            expected = len(ngrams & set().union(*item_sets))
            items = sum(1 for s in item_sets if s & ngrams)
            assert row[f"decontam_{name}"] == expected and row[f"decontam_{name}_items"] == items, (doc_id, name)
        p = corpus["planted"].get(doc_id, {})
        if "set" in p:
            other = "wiki" if p["set"] == "passages" else "passages"
            assert (row[f"decontam_{p['set']}"] >= 1) == p["overlap"], (doc_id, p)
            assert row[f"decontam_{other}"] == 0
        else:
            assert row["decontam_wiki"] == row["decontam_passages"] == 0
    found = {p["where"] for d, p in corpus["planted"].items() if p.get("overlap")}
    assert found == {"start", "middle", "end"}


@pytest.mark.shared_data
def test_personal_data_counted_spanned_and_redacted(corpus, release_run):
    from beam_curation.filters.release.pii import redact, Span

    signals = _rows(release_run, "signals")
    out_text = {**{d: r["text"] for d, r in _rows(release_run, "documents").items()},
                **{d: r["text"] for d, r in _rows(release_run, "removed").items()}}
    planted_values = 0
    for doc_id, doc in corpus["docs"].items():
        row = signals[doc_id]
        spans = [Span(s["start"], s["end"], s["kind"]) for s in row["pii_spans"]]
        for kind in ("email", "ip", "phone", "card", "iban"):
            assert row[f"pii_{kind}"] == sum(s.kind == kind for s in spans)
        # spans refer to the text before redaction (here the input text), and redaction is exactly them
        assert redact(doc["text"], spans) == out_text[doc_id]
        for kind, value in corpus["planted"].get(doc_id, {}).get("pii", []):
            assert Span(doc["text"].index(value), doc["text"].index(value) + len(value), kind) in spans, value
            assert value not in out_text[doc_id]
            planted_values += 1
    assert planted_values == 5 * PII_DOCS
    for text in out_text.values():  # no planted value left anywhere users read
        for p in corpus["planted"].values():
            for _, value in p.get("pii", []):
                assert value not in text


@pytest.mark.shared_data
def test_multi_label_toxicity_columns(corpus, release_run):
    from beam_curation.filters.models.classifier import FastTextClassifier

    signals = _rows(release_run, "signals")
    schema = pq.read_schema(next((release_run / "signals").glob("*.parquet")))
    assert {"toxicity_hate", "toxicity_offensive"} <= set(schema.names) and "toxicity" not in schema.names
    kept = _rows(release_run, "documents")
    ids = sorted(kept)
    model = FastTextClassifier(corpus["model"], None, "lower_punct_eol")
    probs = model.label_probabilities([kept[i]["text"] for i in ids], ["hate", "offensive"])
    for doc_id, (hate, offensive) in zip(ids, probs):
        assert signals[doc_id]["toxicity_hate"] == pytest.approx(hate, abs=1e-12)
        assert signals[doc_id]["toxicity_offensive"] == pytest.approx(offensive, abs=1e-12)
    card = json.loads(corpus["model"].with_suffix(".card.json").read_text())
    assert card["multi_label"] and card["labels"]["all"] == ["__label__hate", "__label__offensive", "__label__none"]
    assert card["hyperparameters"]["loss"] == "ova"
    assert set(card["metrics"]["holdout_by_label"]) == {"hate", "offensive", "none"}


@pytest.mark.shared_data
@pytest.mark.parametrize("runner", ["multi_processing", "portable"])
def test_runners_give_identical_bytes(corpus, release_run, runner, tmp_path):
    out = tmp_path / runner
    assert run_pipeline(corpus["config"], out, *RUNNERS[runner]) == 0
    assert data_file_digests(out) == data_file_digests(release_run)


@pytest.mark.shared_data
def test_manifest_hashes_models_inputs_and_eval_sets(corpus, release_run):
    manifest = json.loads((release_run / "manifest.json").read_text())
    sha = lambda p: hashlib.sha256(Path(p).read_bytes()).hexdigest()  # noqa: E731
    for entry in manifest["inputs"]:
        assert entry["sha256"] == sha(entry["path"])
    models = {m["key"]: m for m in manifest["models"]}
    assert models["classifiers.models[0].model"]["sha256"] == sha(corpus["model"])
    assert models["classifiers.models[0].model"]["card"] == str(corpus["model"].with_suffix(".card.json"))
    assert models["langid.model"]["sha256"] == sha(models["langid.model"]["path"])
    sets = {e["name"]: e for e in manifest["eval_sets"]}
    assert sets["wiki"]["settings"]["sha256"] == sha(corpus["root"] / "eval" / "wiki.jsonl")
    assert sets["wiki"]["items"] == 200 and sets["passages"]["items"] == 6
    assert sets["wiki"]["kind"] == sets["passages"]["kind"] == "exact"


# --- the data card ----------------------------------------------------------------------------------------

def _unescape(cell: str) -> str:
    """A cell's text as rendered: the card backslash-escapes Markdown's punctuation in values (`dedup\\_exact`)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", cell)


def _tables(body: str) -> dict[str, list[dict[str, str]]]:
    """Markdown tables by the heading above them: rows as {column: cell}, cells unescaped."""
    tables, heading, lines = {}, "", body.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.startswith("| ") and i + 1 < len(lines) and lines[i + 1].startswith("|---"):
            header = [c.strip() for c in line.strip("|").split(" | ")]
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("| "):
                cells = [_unescape(c.strip()) for c in re.split(r"(?<!\\)\|", lines[i].strip().strip("|"))]
                rows.append(dict(zip(header, cells)))
                i += 1
            tables[heading] = rows
            continue
        i += 1
    return tables


def _n(cell: str) -> float:
    return float(cell.replace(",", "").rstrip("%"))


@pytest.mark.shared_data
def test_data_card_validates_and_every_figure_is_the_runs(corpus, release_run):
    from huggingface_hub import DatasetCard
    from beam_curation.pipeline.cli import main

    assert main(["report", str(release_run)]) == 0
    text = (release_run / "README.md").read_text(encoding="utf-8")
    card = DatasetCard(text)  # parses the YAML header into the Hub's DatasetCardData (offline)
    data = card.data.to_dict()
    stats = json.loads((release_run / "stats.json").read_text())
    manifest = json.loads((release_run / "manifest.json").read_text())
    assert data["license"] == "mit" and data["task_categories"] == ["text-generation"]
    assert data["size_categories"] == ["n<1K"] and data["source_datasets"] == ["extended|ScrapingHub article benchmark"]
    assert data["language"] == sorted(k for k in stats["languages"] if k != "und")
    assert [c["config_name"] for c in data["configs"]] == ["default", "removed", "signals", "duplicates"]
    import datasets

    loaded = datasets.load_dataset(str(release_run), split="train")  # the header's configs: documents/
    assert len(loaded) == stats["kept"]

    intro = card.text.split("## ")[0]
    assert f"{stats['kept']:,} of {stats['input']:,} input documents kept" in intro
    assert f"{stats['removed_total']:,} removed, {stats['errors_total']:,} failed" in intro
    tables = _tables(card.text)
    checked = set()

    def check(heading: str) -> list[dict[str, str]]:
        checked.add(heading)
        return tables[heading]

    assert [r["file"] for r in check("Input files")] == [i["path"] for i in manifest["inputs"]]
    assert [r["sha256"] for r in tables["Input files"]] == [i["sha256"] for i in manifest["inputs"]]
    assert {r["source"]: _n(r["documents"]) for r in check("Sources named in the input (`source` field), kept documents")} \
        == {"scrapinghub": stats["kept"]}
    langs = check("By language (kept documents)")
    assert {r["language"]: (_n(r["documents"]), _n(r["characters"])) for r in langs} == \
        {k: (v["documents"], v["chars"]) for k, v in stats["languages"].items()}
    for r in langs:
        assert _n(r["share"]) == round(100 * stats["languages"][r["language"]]["documents"] / stats["kept"], 1)
    kept_docs = read_folder(release_run, "documents")
    hosts = {}
    for d in kept_docs:
        host = re.sub(r"^www\.", "", d["url"].split("/")[2].lower())
        hosts[host] = hosts.get(host, 0) + 1
    domain_heading = next(h for h in tables if h.startswith("By domain"))
    assert f"of {len(hosts)} hosts" in domain_heading
    for r in check(domain_heading):
        assert _n(r["documents"]) == hosts[r["domain"]]
    assert {r["stage"]: (_n(r["documents"]), _n(r["seconds"])) for r in check("Processing")} == \
        {s: (v["documents"], round(v["seconds"], 3)) for s, v in stats["stages"].items()}
    removals = {r["rule or stage"]: r for r in check("What was removed, and why")}
    assert set(removals) == {"decontaminated"} | {k for k in stats["removed"] if k.startswith(("dedup", "extract", "c4"))}
    for name, r in removals.items():
        assert _n(r["removed"]) == stats["removed"].get(name, 0)
        assert _n(r["share of input"]) == round(100 * stats["removed"].get(name, 0) / stats["input"], 1)
    assert removals["decontaminated"]["keeps a document when"] == "`decontam_wiki == 0 and decontam_passages == 0`"
    dedup = {r["figure"]: _n(r["value"]) for r in check("Deduplication")}
    assert dedup == {"clusters of more than one document": stats["duplicates"]["clusters"],
                     "documents in those clusters": stats["duplicates"]["documents_in_clusters"],
                     "removed as exact duplicates": stats["removed"].get("dedup_exact", 0),
                     "removed as near duplicates": stats["removed"].get("dedup_minhash", 0)}
    pii = {r["kind"]: r for r in check("Personal data")}
    assert {k: [_n(v[c]) for c in ("values found", "documents", "values in kept documents", "kept documents")]
            for k, v in pii.items()} == \
        {k: [v["values"], v["documents"], v["kept_values"], v["kept_documents"]] for k, v in stats["pii"].items()}
    assert stats["pii"]["email"]["values"] >= PII_DOCS and stats["pii"]["iban"]["documents"] == PII_DOCS
    sets = {r["set"]: r for r in check("Benchmark contamination")}
    for name, v in stats["decontamination"].items():
        assert [_n(sets[name][c]) for c in ("documents matched", "n-grams matched", "kept documents matched")] == \
            [v["documents"], v["ngrams"], v["kept_documents"]]
    described = {e["name"]: e for e in manifest["eval_sets"]}
    assert {k: _n(r["items"]) for k, r in sets.items()} == {k: e["items"] for k, e in described.items()}
    assert stats["decontamination"]["wiki"]["kept_documents"] == 0 < stats["decontamination"]["wiki"]["documents"]
    models = {r["used for"]: r for r in check("Models")}
    assert {k: r["sha256"] for k, r in models.items()} == {m["key"]: m["sha256"] for m in manifest["models"]}
    model_card = json.loads(corpus["model"].with_suffix(".card.json").read_text())
    assert f"held-out ROC-AUC {model_card['metrics']['holdout_macro']['roc_auc']:.3f} (macro" in card.text
    assert set(tables) == checked, f"a table the test does not check: {set(tables) - checked}"


# --- start-time checks and the index choice ---------------------------------------------------------------

def _fails(config: dict, tmp_path: Path, capsys, *needles: str) -> None:
    from beam_curation.pipeline.cli import main

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["run", "--config", str(path), "--output", str(tmp_path / "never")]) == 2
    err = capsys.readouterr().err
    for needle in needles:
        assert needle in err, err
    assert not (tmp_path / "never" / "_annotations").exists() or not list((tmp_path / "never" / "_annotations").iterdir())


@pytest.mark.shared_data
def test_start_time_checks(corpus, tmp_path, capsys):
    base = yaml.safe_load(corpus["config"].read_text())
    base["filters"] = {"rules": []}
    sets = base["decontamination"]["sets"]

    def with_sets(*s, **decon):
        return {**base, "decontamination": {"enabled": True, "sets": list(s), **decon}}

    _fails(with_sets({"name": "gone", "path": str(tmp_path / "missing.jsonl")}), tmp_path, capsys,
           "decontamination.sets[0].path", "not found")
    _fails(with_sets(sets[0], {**sets[1], "name": "wiki"}), tmp_path, capsys, "names must be unique")
    _fails(with_sets({**sets[0], "name": "Wiki-Set"}), tmp_path, capsys, "decontamination.sets[0].name")
    _fails(with_sets({**sets[0], "text_column": "answer"}), tmp_path, capsys, "decontamination.sets[0]", "answer")
    _fails(with_sets(sets[0], max_index_mb=0.0001, index="bloom"), tmp_path, capsys, "max_index_mb", "Bloom")
    _fails(with_sets(sets[0], max_index_mb=0.0001, index="exact"), tmp_path, capsys, "max_index_mb", "exact index")
    _fails({**base, "pii": {"enabled": True, "kinds": ["email", "passport"]}}, tmp_path, capsys, "pii.kinds[1]")
    bad_labels = dict(base["classifiers"]["models"][0], labels=["hate", "sarcasm"])
    _fails({**base, "classifiers": {"enabled": True, "models": [bad_labels]}}, tmp_path, capsys,
           "classifiers.models[0].labels", "sarcasm")


@pytest.mark.shared_data
def test_index_kind_chosen_by_size_and_reused_while_unchanged(corpus, tmp_path):
    from beam_curation.filters.release.decontamination import load_index
    from beam_curation.pipeline.config import load_config
    from beam_curation.pipeline.io.eval_sets import built_index_path, prepare_indexes

    config = load_config(corpus["config"], output_path=str(tmp_path / "o"))
    first = prepare_indexes(config.decontamination, config.output.path)
    assert [e["kind"] for e in first] == ["exact", "exact"]
    assert prepare_indexes(config.decontamination, config.output.path) == first  # unchanged: reused, not rebuilt
    exact_mb = first[0]["index_bytes"] / (1 << 20)
    small = load_config(corpus["config"], [f"decontamination.max_index_mb={exact_mb / 2}"],
                        output_path=str(tmp_path / "o"))
    chosen = prepare_indexes(small.decontamination, small.output.path)
    assert chosen[0]["kind"] == "bloom" and chosen[1]["kind"] == "exact"
    bloom = load_index(built_index_path(str(tmp_path / "o"), "wiki"))
    assert bloom.nbytes() < first[0]["index_bytes"] and bloom.num_items == 200
    # the annotation digest follows the set's content, so an updated benchmark is matched anew
    digest = config.annotation_digest()
    wiki = corpus["root"] / "eval" / "wiki.jsonl"
    saved = wiki.read_bytes()
    try:
        wiki.write_bytes(saved + b'{"id": 999, "question": "one more item"}\n')
        assert load_config(corpus["config"]).annotation_digest() != digest
    finally:
        wiki.write_bytes(saved)
    assert load_config(corpus["config"]).annotation_digest() == digest


def test_pii_stage_annotate_mode_keeps_the_text():
    from apache_beam.utils.shared import Shared

    from beam_curation.pipeline.config import parse_config
    from beam_curation.pipeline.io.document import Doc
    from beam_curation.pipeline.stages import StageContext
    from beam_curation.pipeline.stages.pii import FindPii

    text = "Mail john.smith@gmail.com or call +1 415-555-2671; the router is 192.168.0.1, v1.2.3.4 is a version."
    for mode, expected in (("annotate", text), ("redact", "Mail <EMAIL> or call <PHONE>; the router is 192.168.0.1, "
                                                          "v1.2.3.4 is a version.")):
        stage = FindPii(parse_config({"pii": {"enabled": True, "mode": mode}}).pii, StageContext(), Shared())
        stage.setup()
        doc = Doc("shard", 0, "d", text=text)
        stage.run([doc])
        assert doc.text == expected
        assert {k: v for k, v in doc.signals.items() if k != "pii_spans"} == \
            {"pii_email": 1.0, "pii_ip": 0.0, "pii_phone": 1.0}
        assert [text[s["start"]:s["end"]] for s in doc.signals["pii_spans"]] == ["john.smith@gmail.com",
                                                                                 "+1 415-555-2671"]
