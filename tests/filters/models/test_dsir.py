"""DSIR importance weights: hashing, RedPajama-V2's formulas, and held-out behaviour on real text."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from beam_curation.filters.models.dsir import (
    DEFAULT_BUCKETS,
    EPSILON,
    DsirModel,
    feature_bucket,
    fit_counts,
    hashed_features,
    length_log_ratio,
    raw_words,
)

from conftest import REPO, SHARED_DATA

DATA = SHARED_DATA / "quality_reference"
BUNDLED = REPO / "models" / "training_data"

sys.path.insert(0, str(REPO / "scripts"))
import train_dsir  # noqa: E402


def test_raw_words_are_wordpunct_tokens():
    assert raw_words("Don't panic -- it's 4.5% off!") == [
        "Don", "'", "t", "panic", "--", "it", "'", "s", "4", ".", "5", "%", "off", "!"]


@pytest.mark.slow
def test_buckets_are_stable_across_processes():
    # Pinned values: a shipped .npz is only valid while these do not change.
    assert (feature_bucket("the"), feature_bucket("of the"), feature_bucket("Wikipedia")) == (9790, 4401, 3086)
    code = "from beam_curation.filters.models.dsir import feature_bucket; print(feature_bucket('of the'))"
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                             env={"PYTHONHASHSEED": seed, "PATH": ""}, check=True)
        assert out.stdout.strip() == "4401"


def test_features_count_unigrams_and_bigrams():
    words = raw_words("a b a b")
    counts = hashed_features(words)
    assert counts.shape == (DEFAULT_BUCKETS,) and counts.sum() == 4 + 3
    assert counts[feature_bucket("a")] >= 2 and counts[feature_bucket("a b")] >= 2
    assert hashed_features([]).sum() == 0


def test_importance_matches_redpajama_definition():
    target, target_lambda, _ = fit_counts(["the cat sat on the mat", "the dog ate the bone"], 64)
    raw, raw_lambda, _ = fit_counts(["buy now cheap pills", "click here to buy", "the best deal"], 64)
    model = DsirModel.from_counts(target, raw, target_lambda, raw_lambda)
    text = "the cat ate the pills"
    features = hashed_features(raw_words(text), 64)
    expected = float(features @ (np.log(target / target.sum() + EPSILON) - np.log(raw / raw.sum() + EPSILON)))
    score, corrected = model.importance(text)
    assert score == pytest.approx(expected)
    # RedPajama-V2 evaluates the Poisson term at the length in characters.
    correction = (np.log(stats.poisson.pmf(len(text), target_lambda) + EPSILON)
                  - np.log(stats.poisson.pmf(len(text), raw_lambda) + EPSILON))
    assert corrected == pytest.approx(expected + correction)
    assert expected > 0  # more of its n-grams come from the target side
    words_model = DsirModel.from_counts(target, raw, target_lambda, raw_lambda, length_unit="words")
    assert words_model.importance(text)[1] == pytest.approx(expected + length_log_ratio(5, target_lambda, raw_lambda))
    assert all(math.isnan(v) for v in model.importance(""))


def test_length_term_far_from_both_lambdas_is_zero():
    assert length_log_ratio(100_000, 5.0, 9.0) == pytest.approx(0.0)
    assert length_log_ratio(5, 5.0, 500.0) > 10


@pytest.mark.slow
def test_save_and_load_round_trip(tmp_path):
    target = BUNDLED / "kenlm_en" / "wikitext2_raw_test.txt.gz"
    raw = BUNDLED / "quality" / "dclm_human_labels.jsonl.gz"
    if not (target.is_file() and raw.is_file()):
        pytest.skip("bundled DSIR training data missing")
    out = tmp_path / "wiki.npz"
    card = train_dsir.train("wikipedia", [target], "wikitext", [raw], "jsonl", out, buckets=2_000)
    model = DsirModel.load(out)
    assert model.buckets == 2_000 and card["target"]["documents"] >= 50 and card["raw"]["documents"] == 218
    assert model.target_lambda > model.raw_lambda  # whole articles are longer than web pages
    score, corrected = model.importance("The album was released in 1998 and reached number one on the chart.")
    assert math.isfinite(score) and math.isfinite(corrected)


# ---------------------------------------------------------------------- held-out real text


def _split(items: list, folds: int = 2) -> tuple[list, list]:
    return items[0::folds], items[1::folds]


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


@pytest.fixture(scope="module")
def web_docs() -> list[str]:
    path = DATA / "dclm_human_quality_majority_only.jsonl"
    if not path.is_file():
        pytest.skip(f"reference data missing: {path}")
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle if line.strip()]


def _per_word(model: DsirModel, texts: list[str]) -> np.ndarray:
    return np.array([model.importance(t)[0] / max(len(raw_words(t)), 1) for t in texts])


@pytest.mark.shared_data
@pytest.mark.slow
def test_wikipedia_model_prefers_held_out_wikipedia(web_docs):
    wiki = DATA / "wikitext2_raw_test.txt"
    if not wiki.is_file():
        pytest.skip(f"reference data missing: {wiki}")
    articles = list(train_dsir.wikitext_articles(wiki))
    train_articles, test_articles = _split(articles)
    train_web, test_web = _split(web_docs)
    target, target_lambda, _ = fit_counts(train_articles)
    raw, raw_lambda, _ = fit_counts(train_web)
    model = DsirModel.from_counts(target, raw, target_lambda, raw_lambda)
    # Held-out Wikipedia paragraphs of web-page length vs held-out web pages.
    paragraphs = [p for a in test_articles for p in a.split("\n") if len(raw_words(p)) >= 50]
    auc = _auc(_per_word(model, paragraphs), _per_word(model, test_web))
    assert auc >= 0.85, auc  # measured: 0.94


@pytest.mark.shared_data
@pytest.mark.slow
def test_books_model_prefers_a_held_out_book(web_docs):
    books = sorted((DATA / "gutenberg_tokenized").glob("*.txt"))
    if len(books) < 3:
        pytest.skip("Gutenberg reference books missing")
    held_out = [b for b in books if "chesterton-brown" in b.name]
    train_books = [b for b in books if b not in held_out]
    train_web, test_web = _split(web_docs)
    target, target_lambda, _ = fit_counts(train_dsir.documents(train_books, "gutenberg"))
    raw, raw_lambda, _ = fit_counts(train_web)
    model = DsirModel.from_counts(target, raw, target_lambda, raw_lambda)
    sentences = next(train_dsir.documents(held_out, "gutenberg")).split("\n")
    chunks = [" ".join(sentences[i:i + 10]) for i in range(0, len(sentences) - 10, 10)]
    auc = _auc(_per_word(model, chunks), _per_word(model, test_web))
    assert auc >= 0.85, auc  # measured: 0.997


def test_shipped_models_load_if_built():
    for name in ("wikipedia", "books"):
        path = REPO / "models" / "dsir" / f"{name}.npz"
        if not path.is_file():
            pytest.skip(f"{path} not built: run `make setup` (scripts/train_dsir.py default)")
        model = DsirModel.load(path)
        assert model.buckets == DEFAULT_BUCKETS and model.card["name"] == name
        assert np.isfinite(model.log_ratio_weights).all()
