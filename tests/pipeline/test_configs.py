"""Shipped configs validate; config errors name the key; --set overrides apply; rules are checked at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REPO
from beam_curation.pipeline.config import ConfigError, apply_override, load_config, parse_config
from beam_curation.pipeline.run import validate
from beam_curation.pipeline.plan import signal_fields

CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_configs_validate(path: Path, monkeypatch):
    monkeypatch.chdir(REPO)
    config = load_config(path)
    shards = validate(config)
    assert len(shards) == 5


def test_redpajama_v2_config_produces_every_signal_column(monkeypatch):
    from beam_curation.filters.heuristics.rpv2 import SIGNAL_KINDS

    monkeypatch.chdir(REPO)
    config = load_config(REPO / "configs" / "redpajama_v2.yaml")
    assert config.mode == "annotate"
    names = {f.name for f in signal_fields(config)}
    assert set(SIGNAL_KINDS) <= names
    assert {"language", "language_score", "ccnet_perplexity", "ccnet_bucket", "toxicity_score", "quality_score",
            "dup_cluster_id", "dup_cluster_size", "rps_doc_wikipedia_importance",
            "rps_doc_books_importance_length_correction"} <= names


def test_fineweb_config_follows_fineweb_order(monkeypatch):
    from beam_curation.filters.heuristics.fineweb_chain import rule_expressions

    monkeypatch.chdir(REPO)
    config = load_config(REPO / "configs" / "fineweb.yaml")
    assert [r.keep for r in config.filters.rules] == rule_expressions()
    assert config.langid.keep == ["en"] and config.langid.min_score == 0.65
    assert config.extract.favor == "precision" and config.extract.timeout_seconds == 1


@pytest.mark.parametrize("raw, message", [
    ({"extract": {"timeout": 3}}, "unknown config key: extract.timeout"),
    ({"extract": {"timeout_seconds": "soon"}}, "extract.timeout_seconds: expected a number"),
    ({"mode": "delete"}, "mode: must be one of filter, annotate"),
    ({"langid": {"keep": "en"}}, "langid.keep: expected a list"),
    ({"dedup": {"keep": "random"}}, "dedup.keep: must be one of"),
    ({"filters": {"rules": [{"name": "x"}]}}, "filters.rules[0]"),
    ({"bogus": 1}, "unknown config key: bogus"),
    ({"output": {"rows_per_file": -1}}, "output.rows_per_file: must be >= 0"),
])
def test_config_errors_name_the_key(raw, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config(raw)


def test_set_overrides_nested_keys_and_yaml_values():
    raw = {"dedup": {"threshold": 0.7}}
    apply_override(raw, "dedup.threshold=0.8")
    apply_override(raw, "dedup.enabled=false")
    apply_override(raw, "langid.keep=[en, de]")
    config = parse_config(raw)
    assert config.dedup.threshold == 0.8 and config.dedup.enabled is False
    assert config.langid.keep == ["en", "de"]
    with pytest.raises(ConfigError, match="dotted.key=value"):
        apply_override(raw, "no-equals-sign")


def test_rules_are_checked_before_work_starts(monkeypatch):
    monkeypatch.chdir(REPO)
    raw = {"input": {"paths": ["sample/*.warc.gz"]},
           "filters": {"rules": [{"name": "typo", "keep": "rps_doc_wrd_count > 3"}]}}
    with pytest.raises(ConfigError, match="unknown signal 'rps_doc_wrd_count'"):
        validate(parse_config(raw))
    raw["filters"]["rules"] = [{"name": "unsafe", "keep": "__import__('os').system('true')"}]
    with pytest.raises(ConfigError, match="only abs, isnan, len, max, min may be called|not allowed"):
        validate(parse_config(raw))


def test_missing_model_fails_at_start(monkeypatch):
    monkeypatch.chdir(REPO)
    raw = {"input": {"paths": ["sample/*.warc.gz"]},
           "perplexity": {"enabled": True, "models": {"en": "models/kenlm/nope.bin"}}}
    with pytest.raises(ConfigError, match=f"perplexity.models.en: model file not found: {REPO}/models/kenlm/nope.bin"):
        validate(parse_config(raw))


def test_classifier_config_must_match_its_model_card(monkeypatch):
    """Scoring a model with another normalisation than it was trained with fails at start, naming the key."""
    monkeypatch.chdir(REPO)
    spec = {"name": "quality", "model": "models/fasttext/quality.bin", "output": "quality_score",
            "positive_label": "hq", "normalization": "lower_punct_lines", "max_chars": 5000}
    raw = {"input": {"paths": ["sample/*.warc.gz"]}, "classifiers": {"enabled": True, "models": [spec]}}
    validate(parse_config(raw))
    raw["classifiers"]["models"] = [{**spec, "normalization": "fasttext_basic"}]
    with pytest.raises(ConfigError, match=r"classifiers.models\[0\].normalization: 'fasttext_basic' but the "
                                          r"model card .*quality.card.json says .*'lower_punct_lines'"):
        validate(parse_config(raw))
    raw["classifiers"]["models"] = [{**spec, "positive_label": "lq"}]
    with pytest.raises(ConfigError, match=r"classifiers.models\[0\].positive_label"):
        validate(parse_config(raw))


def test_readme_example_for_published_classifiers_parses():
    """The configuration reference's config for DCLM's and Dolma's published fastText models is a valid config."""
    import re

    import yaml

    from beam_curation.filters.models.classifier_text import NORMALIZATIONS

    readme = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "dclm_oh_eli5" in b)
    raw = yaml.safe_load(block)
    config = parse_config({"input": {"paths": ["sample/*.warc.gz"]}, **raw})
    specs = {s.name: s for s in config.classifiers.models}
    assert set(specs) == {"dclm_oh_eli5", "dolma_hatespeech", "dolma_nsfw"}
    assert all(s.normalization in NORMALIZATIONS for s in specs.values())
    assert (specs["dclm_oh_eli5"].normalization, specs["dolma_hatespeech"].normalization) == ("dclm", "dolma_jigsaw")


@pytest.mark.parametrize("groups", [["rpv2"], ["gopher_repetition", "gopher_quality", "c4", "fineweb"],
                                    ["rpv2", "gopher_quality", "c4"], ["fineweb"], ["fineweb2"],
                                    ["rpv2", "fineweb2"]])
def test_declared_signal_names_are_the_computed_ones(groups):
    """Columns are planned from each group's declared names; computing on real text gives exactly those."""
    from beam_curation.filters.heuristics.quality_signals import QualitySignals

    computer = QualitySignals(groups)
    text = "The committee met on Tuesday.\nIt discussed the budget for the library, and parks.\n" * 3
    assert [n for n, _ in computer.names()] == list(computer.compute(text, "en").signals)


def test_fineweb2_group_replaces_the_english_word_groups():
    """fineweb2 writes the gopher_* / fineweb_* columns per language: with the English groups it is refused."""
    from beam_curation.filters.heuristics.quality_signals import QualitySignals

    for other in ("gopher_quality", "gopher_repetition", "fineweb", "c4"):
        with pytest.raises(ValueError, match="fineweb2"):
            QualitySignals(["fineweb2", other])
