"""Extraction and language ID lose nothing by going through the pipeline (real pages, real sentences)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import shared_data
from scripts.eval_extraction import load_pages, pipeline_outputs, snippet_scores
from scripts.eval_langid import accuracy, load_sentences, pipeline_predictions, raw_predictions

# Every test here runs a pipeline or a cluster: the full tier (`make test`), not `make test-fast`.
pytestmark = pytest.mark.slow

# trafilatura.extract(html, url=url) with defaults on these 345 pages (extraction_dev/README.md), measured again
# by scripts/eval_extraction.py: F1 0.9163.
TRAFILATURA_ALONE_F1 = 0.916


@pytest.mark.shared_data
def test_extraction_through_pipeline_scores_at_least_trafilatura_alone(tmp_path: Path):
    pages = load_pages(shared_data("extraction_dev"))
    outputs = pipeline_outputs(pages, tmp_path, ["--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    assert len(outputs) == len(pages) == 345
    scores = snippet_scores(pages, outputs)
    assert scores["f1"] >= TRAFILATURA_ALONE_F1, scores


@pytest.mark.shared_data
def test_language_id_through_pipeline_matches_the_raw_model(tmp_path: Path):
    rows = load_sentences(shared_data("langid_dev", "lingua_sentences_dev.tsv"))
    assert len(rows) == 19852
    gold = [g for g, _ in rows]
    ours = pipeline_predictions(rows, tmp_path, [])
    raw = raw_predictions(rows)
    assert ours == raw, "the pipeline must predict exactly what the model predicts"
    assert accuracy(gold, ours) >= 0.891
