"""fastText toxicity and quality classifiers: normalisation, scoring API, training, accuracy.

Models are trained here in a temporary directory from the data bundled under
models/training_data/ (seconds each), so the tests check the real training recipe, not a
fixture. ETHOS (GPL-3.0, never bundled) is read from ../shared/data when present.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from beam_curation.filters.models.classifier import FastTextClassifier, paragraph_spans
from beam_curation.filters.models.classifier_text import EOL_TOKEN, NORMALIZATIONS, normalize

from conftest import REPO, SHARED_DATA

SHARED = SHARED_DATA


from scripts import train_fasttext as T  # noqa: E402  (importable by name: training runs in a spawned process)


# --- normalisation -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(NORMALIZATIONS))
def test_every_normalization_removes_newlines(name):
    text = "First line.\nSecond  line\r\n\n  THIRD\tline \u2028 end\n"
    out = normalize(text, name)
    assert "\n" not in out


def test_named_normalizations_match_their_references():
    text = "  Hello World.\nNext LINE!\n\n"
    assert normalize(text, "fasttext_basic") == "hello world. next line!"
    # DCLM: " ".join(text.strip().splitlines()) -> blank line becomes a double space
    assert normalize(text, "dclm") == "Hello World. Next LINE!"
    assert normalize("a\n\nb", "dclm") == "a  b"
    # Dolma jigsaw: replace("\n", " ").strip()
    assert normalize(text, "dolma_jigsaw") == "Hello World. Next LINE!"
    assert normalize("a\n\nb", "dolma_jigsaw") == "a  b"
    assert normalize(text, "lower_punct_eol") == f"hello world . {EOL_TOKEN} next line ! {EOL_TOKEN}"
    with pytest.raises(ValueError, match="unknown classifier normalization"):
        normalize("x", "nope")


def test_line_layout_tokens():
    text = "Home | About\n\n  The cat sat on the mat in 2019.  \n\u201cQuoted,\u201d he said\u2026\nOne two three four five six seven eight nine ten"
    assert normalize(text, "lower_punct_lines") == (
        "home | about __eol_bare__ __line_w1__ "
        "the cat sat on the mat in 0000 . __eol_punct__ __line_w2__ "
        "\u201c quoted , \u201d he said \u2026 __eol_punct__ __line_w1__ "
        "one two three four five six seven eight nine ten __eol_bare__ __line_w2__"
    )
    assert normalize("", "lower_punct_lines") == normalize(" \n\t\n", "lower_punct_lines") == ""
    assert normalize(" ".join(["w"] * 50) + ".", "lower_punct_lines").endswith("__eol_punct__ __line_w4__")


def test_paragraph_spans_are_dolma_lines():
    text = "one\n\n  \ntwo words\nlast"
    spans = paragraph_spans(text)
    assert [text[a:b] for a, b in spans] == ["one\n", "two words\n", "last"]


# --- a real toxicity model trained in a temp dir -----------------------------------------------
@pytest.fixture(scope="module")
def toxicity(tmp_path_factory):
    out = tmp_path_factory.mktemp("tox") / "toxicity.bin"
    return T.train_preset("toxicity", str(out))


@pytest.mark.slow
def test_toxicity_heldout_davidson_auc(toxicity):
    card = toxicity.card
    hold = card["metrics"]["holdout"]
    # the held-out rows are a hash split of the bundled file, never seen in training
    assert card["split"]["holdout_examples"] == hold["n"] > 1000
    assert hold["roc_auc"] >= 0.96, hold
    assert hold["precision"] > 0.9 and hold["recall"] > 0.9
    # re-score the held-out split through the public scorer: same AUC
    clf = FastTextClassifier.from_card(toxicity.card_path)
    spec = T.PRESETS["toxicity"].input_specs()
    held = [e for e in T.load_examples(spec) if T.is_holdout(e.text, 0.1, card["split"]["seed"])]
    auc = T.roc_auc([e.positive for e in held], clf.score_batch([e.text for e in held]))
    assert abs(auc - hold["roc_auc"]) < 1e-6


@pytest.mark.shared_data
@pytest.mark.slow
def test_toxicity_ethos_auc_reported(toxicity):
    path = SHARED / "toxicity_train" / "ethos_binary_train.csv"
    if not path.exists():
        pytest.skip(f"ETHOS (GPL-3.0, not bundled) not found at {path}")
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    clf = FastTextClassifier.from_card(toxicity.card_path)
    auc = T.roc_auc([float(r["isHate"]) >= 0.5 for r in rows], clf.score_batch([r["comment"] for r in rows]))
    print(f"ETHOS binary ROC-AUC (out of domain): {auc:.3f}")
    # Davidson's "offensive" is not ETHOS's "hate": the transfer is weak but above chance.
    assert auc > 0.55


@pytest.mark.slow
def test_card_records_provenance(toxicity):
    card = toxicity.card
    assert card["model_sha256"] == T.sha256_file(toxicity.model_path)
    assert card["normalization"] == "lower_punct_eol"
    assert card["labels"]["positive"] == "__label__toxic"
    assert card["hyperparameters"]["thread"] == 1
    (src,) = card["data"]
    assert src["license"] == "MIT" and src["path"].endswith("davidson_train.csv.gz")
    assert src["rows_positive"] + src["rows_negative"] == 16487
    assert len(src["sha256"]) == 64


@pytest.mark.slow
def test_training_is_deterministic(toxicity, tmp_path):
    again = T.train_preset("toxicity", str(tmp_path / "again.bin"))
    assert Path(again.model_path).read_bytes() == Path(toxicity.model_path).read_bytes()


def test_scoring_api(toxicity):
    clf = FastTextClassifier.from_card(toxicity.card_path)
    texts = [
        "Thank you for the lovely dinner, see you next week.",
        "shut up you stupid bitch",
        "",
        "The committee will meet on Tuesday to discuss the budget.",
    ]
    scores = clf.score_batch(texts)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores[1] > 0.9 and scores[1] > scores[0] and scores[1] > scores[3]
    assert scores[2] == 0.0  # nothing to score
    # batching does not change a document's score, and order is kept
    assert clf.score_batch(texts[::-1]) == scores[::-1]
    assert [clf.score_batch([t])[0] for t in texts] == scores
    with pytest.raises(ValueError, match="positive label"):
        FastTextClassifier(toxicity.model_path, "nonexistent")
    with pytest.raises(FileNotFoundError):
        FastTextClassifier(toxicity.model_path + ".missing", "toxic")


def test_paragraph_level_spans_and_aggregation(toxicity):
    doc = (
        "The weather in the valley was mild this spring, and the orchards bloomed early.\n"
        "\n"
        "shut up you stupid bitch\n"
        "Farmers expect a good harvest if the rain holds off until the summer."
    )
    para = FastTextClassifier.from_card(toxicity.card_path, level="paragraph")
    (scored,) = para.score_spans_batch([doc])
    assert [(a, b) for a, b, _ in scored.spans] == paragraph_spans(doc)
    scores = [s for _, _, s in scored.spans]
    assert scores[1] > 0.9 and max(scores[0], scores[2]) < scores[1]
    weights = [b - a for a, b, _ in scored.spans]
    assert scored.score == pytest.approx(np.average(scores, weights=weights))
    worst = FastTextClassifier.from_card(toxicity.card_path, level="paragraph", aggregation="max")
    assert worst.score_batch([doc]) == [max(scores)]
    assert para.score_spans_batch(["", "\n\n"])[0].spans == []
    doc_level = FastTextClassifier.from_card(toxicity.card_path)
    (whole,) = doc_level.score_spans_batch([doc])
    assert whole.spans == [(0, len(doc), whole.score)]


def test_cli_reads_parquet_jsonl_and_csv_with_label_mapping(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    with gzip.open(REPO / "models/training_data/toxicity/davidson_train.csv.gz", "rt",
                   encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))[:3000]
    toxic = [r["tweet"] for r in rows if r["class"] != "2"]
    clean = [r["tweet"] for r in rows if r["class"] == "2"]
    pq.write_table(pa.table({"body": toxic}), tmp_path / "toxic.parquet")
    with open(tmp_path / "clean.jsonl", "w", encoding="utf-8") as fh:
        for t in clean:
            fh.write(json.dumps({"body": t}) + "\n")
    out = tmp_path / "m.bin"
    rc = T.main([
        "--output", str(out), "--positive", str(tmp_path / "toxic.parquet"),
        "--negative", str(tmp_path / "clean.jsonl"), "--text-column", "body",
        "--positive-label", "toxic", "--negative-label", "clean", "--epoch", "5",
        "--dim", "16", "--bucket", "10000", "--license", f"{tmp_path / 'toxic.parquet'}=MIT",
    ])
    assert rc == 0
    card = json.loads(out.with_suffix(".card.json").read_text())
    assert [d["rows_positive"] for d in card["data"]] == [len(toxic), 0]
    assert [d["rows_negative"] for d in card["data"]] == [0, len(clean)]
    assert card["data"][0]["license"] == "MIT"
    assert card["metrics"]["holdout"]["roc_auc"] > 0.85


# --- quality: cross-validated against DCLM human labels ----------------------------------------
def _within_quartile_auc(labels, scores, lengths) -> float:
    """Pooled pairwise AUC over (positive, negative) pairs of docs in the same length quartile."""
    y, s, n = np.asarray(labels, bool), np.asarray(scores, float), np.asarray(lengths, float)
    q = np.searchsorted(np.quantile(n, [0.25, 0.5, 0.75]), n, side="right")
    wins = pairs = 0.0
    for k in range(4):
        pos, neg = s[(q == k) & y], s[(q == k) & ~y]
        d = pos[:, None] - neg[None, :]
        wins += (d > 0).sum() + 0.5 * (d == 0).sum()
        pairs += d.size
    return wins / pairs


@pytest.mark.slow
def test_quality_cross_validated_on_dclm_human_labels(tmp_path):
    preset = T.PRESETS["quality"]
    specs = preset.input_specs()
    examples = T.load_examples(specs)
    dclm = next(i for i, s in enumerate(specs) if "dclm" in s.path)
    folds = 5
    fold = lambda text: int(hashlib.sha1(text.encode("utf-8")).hexdigest(), 16) % folds  # noqa: E731
    repeats = [s.repeat for s in specs]  # the shipped recipe upweights the DCLM docs
    labels, scores, lengths = [], [], []
    for f in range(folds):
        train = [e for e in examples if e.source != dclm or fold(e.text) != f]
        test = [e for e in examples if e.source == dclm and fold(e.text) == f]
        model = tmp_path / f"q{f}.bin"
        T.train_model(train, model, preset.params, preset.normalization, preset.positive_label,
                      preset.negative_label, repeats=repeats, max_chars=preset.max_chars)
        clf = FastTextClassifier(model, preset.positive_label, preset.normalization,
                                 max_chars=preset.max_chars)
        scores += clf.score_batch([e.text for e in test])
        labels += [e.positive for e in test]
        lengths += [len(e.text) for e in test]
    assert len(labels) == 218
    auc = T.roc_auc(labels, scores)
    within = _within_quartile_auc(labels, scores, lengths)
    length_only = T.roc_auc(labels, lengths)
    print(f"quality {folds}-fold CV on DCLM majority labels: ROC-AUC {auc:.3f}, "
          f"within-length-quartile {within:.3f} (length alone {length_only:.3f})")
    # These 218 docs carry majority (non-unanimous) labels: length alone gives 0.61 (0.49 within
    # quartiles) and the best single hand-made feature (stop-word fraction) 0.72. Measured with
    # the shipped recipe: 0.704 / 0.688 (signals in a cross-validated logistic regression: 0.72 / 0.69).
    assert auc > length_only and auc >= 0.67
    assert within >= 0.65


@pytest.mark.slow
def test_prose_scores_above_boilerplate(tmp_path):
    """The quality model separates held-out prose from held-out whole-page web text."""
    preset = T.PRESETS["quality"]
    specs = preset.input_specs()
    examples = T.load_examples(specs)
    params = replace(preset.params, epoch=5)
    train = [e for e in examples if not T.is_holdout(e.text, 0.2, 7)]
    held = [e for e in examples if T.is_holdout(e.text, 0.2, 7)]
    T.train_model(train, tmp_path / "q.bin", params, preset.normalization, "hq", "lq",
                  max_chars=preset.max_chars)
    clf = FastTextClassifier(tmp_path / "q.bin", "hq", preset.normalization, max_chars=preset.max_chars)
    web = next(i for i, s in enumerate(specs) if "web_visible" in s.path)
    prose = [i for i, s in enumerate(specs) if s.label == "positive"]
    sel = [e for e in held if e.source == web or e.source in prose]
    auc = T.roc_auc([e.source in prose for e in sel], clf.score_batch([e.text for e in sel]))
    assert auc >= 0.95


# --- the built default models (after `make setup`) ---------------------------------------------
@pytest.mark.parametrize("name,positive", [("toxicity", "__label__toxic"), ("quality", "__label__hq")])
def test_built_default_models(name, positive):
    card_path = REPO / "models" / "fasttext" / f"{name}.card.json"
    if not card_path.exists():
        pytest.skip(f"default model not built yet ({card_path}); run the set-up recipe")
    card = json.loads(card_path.read_text())
    model = card_path.parent / card["model_file"]
    assert T.sha256_file(model) == card["model_sha256"]
    assert card["labels"]["positive"] == positive
    assert card["metrics"]["holdout"]["roc_auc"] >= (0.96 if name == "toxicity" else 0.9)
    clf = FastTextClassifier.from_card(card_path)
    assert len(clf.score_batch(["A short test sentence.", ""])) == 2
