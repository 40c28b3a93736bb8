"""Per-language curation: models only score their languages, thresholds from a run's own signals per language
(`beam-curation thresholds`), and dedup that never clusters documents of two languages."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from conftest import REPO, read_folder, run_pipeline

DEFAULT = REPO / "configs" / "default.yaml"


@pytest.fixture(scope="module")
def annotated(tmp_path_factory, request):
    """configs/default.yaml on the bundled sample in annotate mode (39 English pages, 16 in five other
    languages): every signal, KenLM for English, the English classifiers."""
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.chdir(REPO)
    request.addfinalizer(monkeypatch.undo)
    out = tmp_path_factory.mktemp("annotated") / "out"
    assert run_pipeline(DEFAULT, out, "--set", "mode=annotate") == 0
    return out


def _signals(out: Path) -> list[dict]:
    return read_folder(out, "signals")


# ---------------------------------------------------------------------------------------------------------
# Models know their languages


@pytest.mark.slow
def test_models_leave_other_languages_unscored_and_say_how_many(annotated):
    rows = _signals(annotated)
    others = [r for r in rows if r["language"] != "en"]
    assert len(others) >= 10 and len(rows) - len(others) >= 30
    for r in rows:
        english = r["language"] == "en"
        for column in ("quality_score", "toxicity_score", "ccnet_perplexity"):
            assert (r[column] is not None) == english, (r["id"], r["language"], column)
    stats = json.loads((annotated / "stats.json").read_text())
    assert stats["not_scored"] == {"ccnet_perplexity": len(others), "quality_score": len(others),
                                   "toxicity_score": len(others)}


def test_classifier_languages_decide_which_documents_are_scored(monkeypatch):
    """The same model scores a German page without `languages` and leaves it null with `languages: [en]`;
    the list is part of the annotation digest (changing it annotates again)."""
    from apache_beam.utils.shared import Shared

    from beam_curation.pipeline.config import parse_config
    from beam_curation.pipeline.io.document import Doc
    from beam_curation.pipeline.stages import StageContext
    from beam_curation.pipeline.stages.classifiers import Classify

    monkeypatch.chdir(REPO)
    german = ("Die Stadtbibliothek hat am Dienstag ihre neuen Öffnungszeiten vorgestellt. Künftig ist sie auch "
              "am Samstag bis zum Abend geöffnet, und die Kinderabteilung bekommt mehr Platz.")
    english = "The city library presented its new opening hours on Tuesday, and the children's section grows."
    scores = {}
    for languages in ([], ["en"]):
        config = parse_config({"classifiers": {"enabled": True, "models": [
            {"name": "quality", "model": "models/fasttext/quality.bin", "output": "quality_score",
             "positive_label": "hq", "normalization": "lower_punct_lines", "max_chars": 5000,
             "languages": languages}]}})
        stage = Classify(config.classifiers, StageContext(), Shared())
        stage.setup()
        docs = [Doc("s", 0, "de", text=german, language="de"), Doc("s", 1, "en", text=english, language="en")]
        stage.run(docs)
        scores[tuple(languages)] = ([d.signals.get("quality_score") for d in docs], config.annotation_digest())
    (all_de, all_en), digest_all = scores[()]
    (en_de, en_en), digest_en = scores[("en",)]
    assert isinstance(all_de, float) and en_de is None
    assert all_en == en_en and isinstance(en_en, float)
    assert digest_all != digest_en


# ---------------------------------------------------------------------------------------------------------
# thresholds


def _per_language(rows: list[dict], column: str) -> dict[str, list[float]]:
    values = defaultdict(list)
    for r in rows:
        v = r.get(column)
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            values[r["language"] or ""].append(float(v))
    return values


SPECS = {"rps_doc_word_count": ("higher", 10.0), "ccnet_perplexity": ("lower", 90.0),
         "language_score": ("higher", 5.0), "rps_doc_frac_no_alph_words": ("lower", 75.0)}


def _thresholds(out: Path, rules: Path, *extra: str) -> dict[str, dict]:
    from beam_curation.pipeline.cli import main

    signals = [f"{name}:{d}:{p:g}" for name, (d, p) in SPECS.items()]
    assert main(["thresholds", "--from", str(out), "--output", str(rules), "--signals", *signals,
                 "--min-documents", "1", *extra]) == 0
    loaded = yaml.safe_load(rules.read_text(encoding="utf-8"))
    return {r["name"]: r for r in loaded["filters"]["rules"]}


@pytest.mark.slow
def test_exact_thresholds_are_numpy_percentiles_per_language(annotated, tmp_path):
    rules = _thresholds(annotated, tmp_path / "rules.yaml", "--exact")
    rows = _signals(annotated)
    assert set(rules) == {f"threshold_{name}" for name in SPECS}
    for name, (direction, percentile) in SPECS.items():
        rule = rules[f"threshold_{name}"]
        assert rule["keep"] == f"{name} {'>=' if direction == 'higher' else '<='} threshold"
        expected = {lang: float(np.percentile(v, percentile)) for lang, v in _per_language(rows, name).items()}
        assert rule["params"]["threshold"] == expected
    assert set(rules["threshold_ccnet_perplexity"]["params"]["threshold"]) == {"en"}  # the only KenLM model
    assert len(rules["threshold_rps_doc_word_count"]["params"]["threshold"]) >= 5


def _rank_error(values: list[float], returned: float, percentile: float) -> float:
    """How far (in ranks) `returned` lies from numpy's position of `percentile` in `values`."""
    s = np.sort(values)
    first, last = np.searchsorted(s, returned, "left"), np.searchsorted(s, returned, "right") - 1
    assert first <= last, "the approximate value is one of the values"
    target = percentile / 100 * (len(s) - 1)
    return max(0.0, first - target, target - last)


@pytest.mark.slow
def test_approximate_thresholds_are_within_the_stated_rank_error(tmp_path):
    """Enough values per language that Beam's quantile sketch collapses its buffers (at epsilon 0.01 it
    holds ~20,000 values before it does), on a skewed distribution with ties and missing values."""
    rng = np.random.default_rng(7)
    out = tmp_path / "run"
    (out / "signals").mkdir(parents=True)
    sizes = {"de": 30_000, "ja": 24_000, "sw": 40}
    data = defaultdict(list)
    for lang, n in sizes.items():
        data["language"] += [lang] * n
        data["rps_doc_word_count"] += list(np.round(rng.lognormal(5, 1.2, n)))  # many ties
        data["ccnet_perplexity"] += [None if i % 7 == 0 else float(v) for i, v in enumerate(rng.pareto(1.5, n))]
        data["language_score"] += list(rng.beta(8, 2, n))
        data["rps_doc_frac_no_alph_words"] += [math.nan if i % 11 == 0 else float(v)
                                               for i, v in enumerate(rng.random(n))]
    table = pa.table({"id": [f"d{i}" for i in range(len(data["language"]))], **data})
    half = len(table) // 2
    pq.write_table(table.slice(0, half), out / "signals" / "a.parquet")
    pq.write_table(table.slice(half), out / "signals" / "b.parquet")
    epsilon = 0.01
    rules = _thresholds(out, tmp_path / "rules.yaml", "--epsilon", str(epsilon), "--work", str(tmp_path / "work"))
    assert not (out / "_thresholds").exists() and list((tmp_path / "work").glob("part*.jsonl"))
    rows = table.to_pylist()
    for name, (_, percentile) in SPECS.items():
        found = rules[f"threshold_{name}"]["params"]["threshold"]
        values = _per_language(rows, name)
        assert set(found) == set(sizes)
        for lang, v in values.items():
            assert _rank_error(v, found[lang], percentile) <= epsilon * len(v) + 1, (name, lang)


@pytest.mark.slow
def test_thresholds_rules_file_drives_a_run(annotated, tmp_path, monkeypatch):
    """refilter with `filters.include=[rules]` removes exactly the documents that fail their language's
    thresholds (after default.yaml's own rules), and the rules land in the manifest."""
    from beam_curation.pipeline.cli import main

    monkeypatch.chdir(REPO)
    rules_path = tmp_path / "rules.yaml"
    rules = _thresholds(annotated, rules_path, "--exact")
    out = tmp_path / "refiltered"
    assert main(["refilter", "--from", str(annotated), "--config", str(DEFAULT), "--output", str(out),
                 "--set", "mode=filter", "--set", f"filters.include=[{rules_path}]"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert [r["name"] for r in manifest["config"]["filters"]["rules"]][-len(rules):] == list(rules)
    signals = {r["id"]: r for r in _signals(annotated)}
    removed = {r["id"]: r["removed_by"] for r in read_folder(out, "removed")}
    kept = [r["id"] for r in read_folder(out, "documents")]

    def fails(doc: dict, rule: dict) -> bool:
        name, op, _ = rule["keep"].split()
        t = rule["params"]["threshold"].get(doc["language"])
        if t is None:
            return False  # a language without a value is not judged
        v = doc[name] if doc[name] is not None else math.nan
        return not (v >= t if op == ">=" else v <= t)

    by_threshold = [i for i, reason in removed.items() if reason.startswith("threshold_")]
    assert len(by_threshold) >= 3
    for doc_id in by_threshold:
        assert fails(signals[doc_id], rules[removed[doc_id]])
        earlier = list(rules)[: list(rules).index(removed[doc_id])]
        assert not any(fails(signals[doc_id], rules[r]) for r in earlier)
    for doc_id in kept:
        assert not any(fails(signals[doc_id], rule) for rule in rules.values())


@pytest.mark.slow
def test_thresholds_refuses_an_unknown_signal(annotated, tmp_path, capsys):
    from beam_curation.pipeline.cli import main

    assert main(["thresholds", "--from", str(annotated), "--output", str(tmp_path / "r.yaml"),
                 "--signals", "rps_doc_no_such_signal:higher"]) == 2
    assert "rps_doc_no_such_signal" in capsys.readouterr().err


def test_culturax_spec_names_columns_a_culturax_run_writes(monkeypatch):
    """configs/thresholds/culturax.yaml asks only for numeric signal columns configs/culturax.yaml produces."""
    from beam_curation.pipeline.config import load_config
    from beam_curation.pipeline.plan import signal_fields
    from beam_curation.pipeline.report.thresholds import load_specs

    monkeypatch.chdir(REPO)
    specs = load_specs([], "configs/thresholds/culturax.yaml", 10, 90)
    config = load_config(REPO / "configs" / "culturax.yaml")
    numeric = {f.name for f in signal_fields(config) if pa.types.is_floating(f.type) or pa.types.is_integer(f.type)}
    assert {s.signal for s in specs} <= numeric and len(specs) == 8
    assert {s.percentile for s in specs if s.direction == "higher"} == {10.0}
    assert config.dedup.per_language


# ---------------------------------------------------------------------------------------------------------
# dedup per language

ENGLISH = ("The city council approved the new budget for the public library on Tuesday evening. The money "
           "pays for longer opening hours, more books for children and a renovated reading room.")
GERMAN = ("Der Stadtrat hat am Dienstagabend den neuen Haushalt für die Stadtbibliothek beschlossen. Das Geld "
          "bezahlt längere Öffnungszeiten, mehr Kinderbücher und einen renovierten Lesesaal.")
OTHER = ("Heavy snow closed the mountain pass for the third time this winter, and the road service asked "
         "drivers to wait in the valley until the ploughs had cleared both lanes.")


@pytest.mark.slow
def test_dedup_per_language_never_clusters_two_languages(tmp_path):
    """The English and German versions of a page share a URL: URL dedup keeps one of them, unless dedup is
    per language. An exact copy within one language is removed either way. The second run decides from the
    first's annotations (per_language changes no annotation)."""
    shard = tmp_path / "pages.parquet"
    pq.write_table(pa.table({
        "id": ["a-en", "b-de", "c-en", "d-en-copy"],
        "url": ["https://example.org/library", "https://example.org/library", "https://example.org/snow",
                "https://example.org/snow-again"],
        "text": [ENGLISH, GERMAN, OTHER, OTHER],
    }), shard)
    config = tmp_path / "dedup.yaml"
    config.write_text("extract: {enabled: false}\nsignals: {enabled: false}\nfilters: {rules: []}\n"
                      "dedup: {enabled: true, exact: true, url: true, minhash: false}\n")
    out = tmp_path / "out"

    def removed(*args: str) -> dict[str, str]:
        assert run_pipeline(config, out, "--input", str(shard), *args) == 0
        return {r["id"]: r["removed_by"] for r in read_folder(out, "removed")}

    assert removed() == {"b-de": "dedup_exact", "d-en-copy": "dedup_exact"}
    assert {r["id"]: r["language"] for r in read_folder(out, "signals")} == {
        "a-en": "en", "b-de": "de", "c-en": "en", "d-en-copy": "en"}
    assert removed("--set", "dedup.per_language=true") == {"d-en-copy": "dedup_exact"}
    stats = json.loads((out / "stats.json").read_text())
    assert stats["this_run"]["tasks_reused"] == 1 and stats["this_run"]["tasks_annotated"] == 0
    clusters = {r["id"]: r["cluster_size"] for r in read_folder(out, "duplicates")}
    assert clusters == {"a-en": 1, "b-de": 1, "c-en": 2, "d-en-copy": 2}


def test_per_language_keys_keep_width_and_separate_languages():
    """At the key level: the same signature and text hash give different keys in two languages, equal keys in
    one, of the same widths; without per_language the language is ignored."""
    from beam_curation.filters.dedup.keys import DedupKeyer
    from beam_curation.filters.dedup.types import DedupConfig

    config = DedupConfig(per_language=True, url=True)
    keyer = DedupKeyer(config)
    (text_hash, signature, shingled), = keyer.annotate([ENGLISH])
    args = (text_hash, "https://example.org/library", signature, shingled)
    en1, en2, de = (keyer.doc(i, str(i), 10, None, *args, language=lang) for i, lang in enumerate(("en", "en", "de")))
    assert en1.exact == en2.exact and en1.bands == en2.bands
    assert not set(en1.exact) & set(de.exact) and not set(en1.bands[0]) & set(de.bands[0])
    assert [len(k) for k in en1.exact] == [len(k) for k in de.exact] == [17, 17]
    assert [k[:1] for k in de.exact] == [b"t", b"u"] and {len(k) for k in de.bands[0]} == {12}
    plain = DedupKeyer(DedupConfig(url=True))
    assert plain.doc(0, "0", 10, None, *args, language="en") == plain.doc(0, "0", 10, None, *args, language="de")
