"""Quality bands (`buckets`): a column of labels cut from an expression of signals, decided from stored signals
(a refilter re-cuts them without annotating), readable by rules."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from beam_curation.filters.bands import compile_bands
from beam_curation.filters.rules import RuleError
from conftest import REPO, read_folder, run_pipeline


def test_labels_follow_the_edges():
    bands = compile_bands("size", "rps_doc_word_count / 100", [1, 5], ["short", "medium", "long"])
    cut = [bands.band({"rps_doc_word_count": n}) for n in (0, 99, 100, 499, 500, 10_000)]
    assert cut == ["short", "short", "medium", "medium", "long", "long"]
    assert bands.band({"rps_doc_word_count": None}) is None  # missing: NaN, no band
    assert bands.band({}) is None


def test_an_ensemble_of_scores_with_per_language_edges():
    """Nemotron-CC's way: the best of several classifier scores, cut into levels; here per language."""
    bands = compile_bands("quality_band", "max(a, b)", {"en": [0.3, 0.7], "default": [0.5, 0.9]},
                          ["low", "mid", "high"])
    assert bands.band({"a": 0.2, "b": 0.8}, "en") == "high"
    assert bands.band({"a": 0.2, "b": 0.8}, "de") == "mid"
    assert bands.band({"a": float("nan"), "b": 0.8}, "en") is None  # max with NaN is NaN
    assert bands.band({"a": 1.0, "b": 1.0 / math.inf}, "fr") == "high"


@pytest.mark.parametrize("edges, labels, message", [
    ([0.5, 0.2], ["a", "b", "c"], "strictly ascending"),
    ([0.5], ["a", "b", "c"], "3 labels need 2 edges"),
    ([0.5], ["a", "a"], "distinct"),
    ([float("inf")], ["a", "b"], "finite"),
])
def test_bad_bands_are_refused_in_one_line(edges, labels, message):
    with pytest.raises(RuleError, match=message) as info:
        compile_bands("b", "x", edges, labels)
    assert "\n" not in str(info.value)


def test_a_band_on_an_unknown_signal_is_refused_at_start(tmp_path: Path, in_repo):
    code = run_pipeline(REPO / "configs" / "fineweb.yaml", tmp_path / "out",
                        "--set", "buckets=[{name: b, value: no_such_signal, edges: [1], labels: [lo, hi]}]")
    assert code == 2 and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_bands_through_a_run_a_rule_and_a_refilter(tmp_path: Path, in_repo):
    size = "{name: size, value: rps_doc_word_count, edges: [%s], labels: [short, medium, long]}"
    out = tmp_path / "out"
    assert run_pipeline(REPO / "configs" / "default.yaml", out, "--set", f"buckets=[{size % '150, 600'}]",
                        "--set", "filters.rules=[{name: not_short, keep: \"size != 'short'\"}]") == 0
    signals = {r["id"]: r for r in read_folder(out, "signals")}
    for row in signals.values():
        words = row["rps_doc_word_count"]
        want = None if words is None else "short" if words < 150 else "medium" if words < 600 else "long"
        assert row["size"] == want
    removed = [r for r in read_folder(out, "removed") if r["removed_by"] == "not_short"]
    assert removed and all(signals[r["id"]]["size"] == "short" for r in removed)
    assert all(signals[r["id"]]["size"] != "short" for r in read_folder(out, "documents"))

    # Other edges, decided again from the stored signals: nothing is annotated.
    assert run_pipeline(REPO / "configs" / "default.yaml", out, "--set", f"buckets=[{size % '50, 1000'}]",
                        "--set", "filters.rules=[{name: not_short, keep: \"size != 'short'\"}]") == 0
    assert json.loads((out / "stats.json").read_text())["this_run"]["tasks_annotated"] == 0
    recut = {r["id"]: r["size"] for r in read_folder(out, "signals")}
    assert recut != {i: r["size"] for i, r in signals.items()}
    assert all(v is None or v == ("short" if signals[i]["rps_doc_word_count"] < 50 else
                                  "medium" if signals[i]["rps_doc_word_count"] < 1000 else "long")
               for i, v in recut.items())
