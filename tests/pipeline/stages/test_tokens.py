"""Token counts (`tokens` stage): equal to the `tokenizers` library's own encoding on every document, totals in
stats.json for all and kept documents per language, and kept totals decided again from stored counts."""

from __future__ import annotations

import gzip
import json
import itertools
from pathlib import Path

import pytest
from apache_beam.utils.shared import Shared

from conftest import REPO, read_folder, run_pipeline

WIKITEXT = REPO / "models" / "training_data" / "kenlm_en" / "wikitext2_raw_test.txt.gz"


def train_tokenizer(path: Path, vocab_size: int = 2000) -> Path:
    """A byte-level BPE tokenizer trained on the bundled WikiText-2 text, saved as a tokenizer.json."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers, decoders

    with gzip.open(WIKITEXT, "rt", encoding="utf-8") as handle:
        lines = [line for line in itertools.islice(handle, 3000) if line.strip()]
    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(lines, trainer)
    tokenizer.save(str(path))
    return path


@pytest.fixture(scope="module")
def tokenizer_json(tmp_path_factory) -> Path:
    return train_tokenizer(tmp_path_factory.mktemp("tok") / "tokenizer.json")


def test_the_stage_counts_what_the_tokenizer_encodes(tokenizer_json: Path):
    from tokenizers import Tokenizer

    from beam_curation.pipeline.config import parse_config
    from beam_curation.pipeline.io.document import Doc
    from beam_curation.pipeline.stages import StageContext
    from beam_curation.pipeline.stages.tokens import CountTokens

    config = parse_config({"tokens": {"enabled": True, "tokenizer": str(tokenizer_json), "batch_size": 3}})
    stage = CountTokens(config.tokens, StageContext(), Shared())
    stage.setup()
    texts = ["Hello world.", "", "Ünïcödé and 東京 text, emoji 🙂 too.", "The tower is 324 metres tall.\n" * 20,
             "a", "  spaces  "]
    docs = [Doc("s", i, f"d{i}", text=t) for i, t in enumerate(texts)]
    stage.run(docs)
    reference = Tokenizer.from_file(str(tokenizer_json))
    assert [d.signals["token_count"] for d in docs] == \
        [len(reference.encode(t).ids) for t in texts]
    assert all(d.error is None for d in docs)


def test_what_the_tokenizers_template_adds_is_counted(tokenizer_json: Path, tmp_path: Path):
    """A tokenizer whose template puts a BOS before each text: the count is `encode`'s, BOS included (what
    `tokenize` writes for the document before its end-of-document id)."""
    from tokenizers import Tokenizer
    from tokenizers.processors import TemplateProcessing

    from beam_curation.pipeline.stages.tokens import count_tokens

    with_bos = Tokenizer.from_file(str(tokenizer_json))
    bos = with_bos.token_to_id("<|endoftext|>")
    with_bos.post_processor = TemplateProcessing(single="<|endoftext|> $A", special_tokens=[("<|endoftext|>", bos)])
    plain = Tokenizer.from_file(str(tokenizer_json))
    texts = ["Hello world.", "The tower is 324 metres tall."]
    assert count_tokens(with_bos, texts) == [len(with_bos.encode(t).ids) for t in texts] == \
        [len(plain.encode(t).ids) + 1 for t in texts]


def test_a_file_that_is_not_a_tokenizer_is_refused_at_start(tmp_path: Path, in_repo):
    bad = tmp_path / "tokenizer.json"
    bad.write_text('{"not": "a tokenizer"}')
    code = run_pipeline(REPO / "configs" / "fineweb.yaml", tmp_path / "out", "--set", "tokens.enabled=true",
                        "--set", f"tokens.tokenizer={bad}")
    assert code == 2
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_token_counts_and_totals_through_a_run_and_a_refilter(tokenizer_json: Path, tmp_path: Path, in_repo):
    from tokenizers import Tokenizer

    out = tmp_path / "out"
    assert run_pipeline(REPO / "configs" / "fineweb.yaml", out, "--set", "tokens.enabled=true",
                        "--set", f"tokens.tokenizer={tokenizer_json}") == 0
    reference = Tokenizer.from_file(str(tokenizer_json))
    counts = {r["id"]: r["token_count"] for r in read_folder(out, "signals")}
    kept = read_folder(out, "documents")
    removed = [r for r in read_folder(out, "removed") if r["id"] in counts]
    assert kept and removed
    for doc in kept + removed:  # the text documents/ and removed/ hold is the text the stage counted
        if doc.get("removed_by") == "c4_empty":  # C4's line filter left no text: nothing to count
            assert counts[doc["id"]] is None and doc["text"] == ""
            continue
        assert counts[doc["id"]] == len(reference.encode(doc["text"]).ids)
    stats = json.loads((out / "stats.json").read_text())
    tokens = stats["tokens"]
    counted = {i: n for i, n in counts.items() if n is not None}
    assert tokens["tokens"] == sum(counted.values()) and tokens["documents"] == len(counted)
    assert tokens["kept_tokens"] == sum(counts[d["id"]] for d in kept)
    assert tokens["kept_documents"] == len(kept) == stats["kept"]
    by_language = {}
    for doc in kept:
        by_language[doc["language"]] = by_language.get(doc["language"], 0) + counts[doc["id"]]
    assert {k: v["kept_tokens"] for k, v in tokens["languages"].items() if "kept_tokens" in v} == by_language

    # The report and the data card show them.
    from huggingface_hub import DatasetCard

    from beam_curation.pipeline.report.page import write_report_and_card

    write_report_and_card(str(out))
    card = DatasetCard.load(out / "README.md")
    assert card.data.dataset_info == {"splits": [{"name": "train", "num_examples": stats["kept"]}]}
    assert "## Size in tokens" in card.text and f"{tokens['kept_tokens']:,} tokens in the" in card.text
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "<h2 id=tokens>" in report and "tokens kept" in report

    # Decide again with a stricter rule: the kept totals come from the stored counts, nothing is annotated.
    assert run_pipeline(REPO / "configs" / "fineweb.yaml", out, "--set", "tokens.enabled=true",
                        "--set", f"tokens.tokenizer={tokenizer_json}",
                        "--set", "langid.min_score=0.9") == 0
    restats = json.loads((out / "stats.json").read_text())
    assert restats["this_run"]["tasks_annotated"] == 0
    rekept = read_folder(out, "documents")
    assert len(rekept) < len(kept)
    assert restats["tokens"]["kept_tokens"] == sum(counts[d["id"]] for d in rekept)
    assert restats["tokens"]["tokens"] == tokens["tokens"]
