"""report.html: what it shows against stats.json and the run's own folders, reading that tolerates writer changes
and stays bounded, and a headless-Chromium screenshot compared loosely with a stored one.

The screenshot reference (tests/data/report_screenshot.png) is of the bundled sample's default run; after a
deliberate change to the page's layout, rewrite it with UPDATE_REPORT_SCREENSHOT=1.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import REPO, read_folder, run_pipeline

DEFAULT = REPO / "configs" / "default.yaml"
REFERENCE = REPO / "tests" / "data" / "report_screenshot.png"
WINDOW = (1280, 4000)
TOLERANCE_PX = 40  # how far a plot area may move from where the reference has it


# --- fast: the pieces --------------------------------------------------------------------------------------------

def test_card_names_the_extraction_backend_and_its_cpu_time_limit():
    from beam_curation.pipeline.config import parse_config
    from beam_curation.pipeline.report.card import _settings

    trafilatura = _settings(parse_config({"extract": {"favor": "precision", "timeout_seconds": 2}}))
    assert "- extract (HTML input): trafilatura, favor `precision`, tables True, CPU-time limit 2 s per page" \
        in trafilatura
    resiliparse = _settings(parse_config({"extract": {"backend": "resiliparse"}}))
    assert "- extract (HTML input): resiliparse, tables True, CPU-time limit 5 s per page" in resiliparse


def test_rule_comparisons_are_the_thresholds_drawn():
    from beam_curation.filters.rules import Comparison, comparisons, compile_rule

    rule = compile_rule("r", "3 <= a <= 10 and b > -2 and abs(c) < 3 and d >= p and 5 > e and language in keep "
                        "and f / a > 2", {"p": {"en": 0.1, "default": 0.2}, "keep": ["en"]})
    assert comparisons(rule) == [Comparison("a", ">=", 3), Comparison("a", "<=", 10), Comparison("b", ">", -2),
                                 Comparison("d", ">=", {"en": 0.1, "default": 0.2}), Comparison("e", "<", 5)]
    assert comparisons(compile_rule("s", "isnan(x) or x < limit", {"limit": 7.5})) == [Comparison("x", "<", 7.5)]


def test_funnel_follows_rule_order_and_ends_at_kept():
    from beam_curation.pipeline.report.run_data import funnel
    from beam_curation.filters.rules import compile_rule

    rules = [compile_rule("langid", "language_score >= 0.5"), compile_rule("short", "n >= 50"),
             compile_rule("never", "n >= 0")]
    stats = {"input": 100, "kept": 70, "errors_total": 3,
             "removed": {"short": 10, "langid": 5, "extract_empty": 2, "dedup_exact": 6, "dedup_minhash": 4}}
    steps = funnel(stats, rules)
    assert [s.name for s in steps] == ["input", "errors", "extract_empty", "langid", "short", "never", "dedup", "kept"]
    assert [s.removed for s in steps] == [0, 3, 2, 5, 10, 0, 10, 0]
    assert [s.remaining for s in steps] == [100, 97, 95, 90, 80, 80, 70, 70]


def _write(path: Path, table: pa.Table, row_group_size: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=row_group_size)


def test_folders_read_tolerantly(tmp_path: Path):
    """0-row files, a file without a column and int/float widths that differ between files are all read."""
    from beam_curation.pipeline.report.run_data import open_folder, scan_removed

    removed = tmp_path / "removed"
    _write(removed / "a.parquet", pa.table({"id": ["a0", "a1", "a2", "a3", "a4"], "text": ["w", "x" * 500, "y", None, "v"],
                                            "language": ["en", "en", None, "en", "de"],
                                            "removed_by": ["r1", "r1", "r1", "r2", "r1"]}),
           row_group_size=2)  # batches of 2 rows: rows are found across batches
    _write(removed / "b.parquet", pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string()),
                                            "language": pa.array([], pa.string()),
                                            "removed_by": pa.array([], pa.string())}))
    _write(removed / "c.parquet", pa.table({"id": ["c1"], "text": ["z"], "removed_by": ["r2"], "extra": [1]}))
    assert open_folder(str(tmp_path), "documents") is None
    by_language, examples = scan_removed(str(tmp_path), None, ["r2", "r1"])
    assert by_language == {"en": Counter({"r1": 2, "r2": 1}), "und": Counter({"r1": 1, "r2": 1}),
                           "de": Counter({"r1": 1})}
    assert list(examples) == ["r2", "r1"]  # in the order given (the funnel's)
    assert [e.id for e in examples["r1"]] == ["a0", "a1", "a2"] and [e.id for e in examples["r2"]] == ["a3", "c1"]
    assert [e.text[:1] for e in examples["r1"]] == ["w", "x", "y"] and examples["r2"][0].text == ""
    assert examples["r1"][1].chars == 500 and len(examples["r1"][1].text) == 300

    signals = tmp_path / "signals"
    _write(signals / "a.parquet", pa.table({"id": ["a1"], "rps_doc_word_count": pa.array([3], pa.int64())}))
    _write(signals / "b.parquet", pa.table({"id": ["b1", "b2"], "rps_doc_word_count": [4.5, None],
                                            "quality_score": [0.5, 0.25]}))
    dataset = open_folder(str(tmp_path), "signals")
    assert dataset.schema.field("rps_doc_word_count").type == pa.float64()
    from beam_curation.pipeline.report.run_data import sample_signals

    sample = sample_signals(dataset, [], 1000)
    assert sample.total == 3 and list(sample.ids) == ["a1", "b1", "b2"]
    np.testing.assert_array_equal(sample.columns["rps_doc_word_count"], [3.0, 4.5, np.nan])
    np.testing.assert_array_equal(sample.columns["quality_score"], [np.nan, 0.5, 0.25])


# --- on the bundled sample's default run -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "out"
    mp = pytest.MonkeyPatch()
    mp.chdir(REPO)  # the shipped config reads sample/ relative to the working directory
    try:
        assert run_pipeline(DEFAULT, out) == 0
        from beam_curation.pipeline.cli import main

        assert main(["report", str(out)]) == 0
    finally:
        mp.undo()
    return out


def _section(page: str, anchor: str) -> str:
    start = page.index(f"<h2 id={anchor}>")
    end = page.find("<h2 ", start + 1)
    return page[start:end if end > 0 else None]


def _rows(section: str, *keys: str) -> list[dict[str, str]]:
    pattern = r"<tr" + "".join(rf' data-{k}="([^"]*)"' for k in keys)
    return [dict(zip(keys, map(html.unescape, m))) for m in re.findall(pattern, section)]


@pytest.mark.slow
def test_figures_match_stats_json(sample_run: Path):
    from beam_curation.pipeline.config import parse_config
    from beam_curation.pipeline.plan import rule_specs
    from beam_curation.pipeline.report.plots import svg_texts

    page = (sample_run / "report.html").read_text()
    stats = json.loads((sample_run / "stats.json").read_text())
    manifest = json.loads((sample_run / "manifest.json").read_text())
    rules = [r.name for r in rule_specs(parse_config(manifest["config"]))]

    # the funnel: every rule in order with what stats.json says it removed, ending at the kept count
    funnel = _section(page, "funnel")
    steps = _rows(funnel, "step", "removed", "remaining")
    assert [s["step"] for s in steps] == ["input", "errors", *rules, "dedup", "kept"]
    for step in steps:
        expected = {"input": 0, "kept": 0, "errors": stats["errors_total"],
                    "dedup": stats["removed"].get("dedup_exact", 0) + stats["removed"].get("dedup_minhash", 0)}
        assert int(step["removed"]) == expected.get(step["step"], stats["removed"].get(step["step"], 0))
    assert int(steps[0]["remaining"]) == stats["input"] and int(steps[-1]["remaining"]) == stats["kept"]
    texts = svg_texts(funnel)
    for step in steps:  # the bar labels say the same
        n, gone = int(step["remaining"]), int(step["removed"])
        assert (f"{n:,}  (\u2212{gone:,})" if gone else f"{n:,}") in texts

    # per language: kept from stats.json, removed against removed/ itself
    languages = _rows(_section(page, "languages"), "language", "kept", "removed")
    removed_rows = read_folder(sample_run, "removed")
    by_language = Counter(r["language"] or "und" for r in removed_rows)
    assert {r["language"]: int(r["kept"]) for r in languages if int(r["kept"])} == \
        {lang: v["documents"] for lang, v in stats["languages"].items()}
    assert {r["language"]: int(r["removed"]) for r in languages if int(r["removed"])} == dict(by_language)
    assert sum(int(r["removed"]) for r in languages) == stats["removed_total"]

    # time per stage as stats.json records it
    stages = _rows(_section(page, "time"), "stage", "documents", "seconds")
    assert {s["stage"]: (int(s["documents"]), float(s["seconds"])) for s in stages} == \
        {k: (v["documents"], round(v["seconds"], 6)) for k, v in stats["stages"].items()}

    # signal histograms: thresholds drawn and labelled with the rule, counts in the legend
    signals = _section(page, "signals")
    texts = svg_texts(signals)
    for label in ("min_words \u2265 50", "langid \u2265 0.5", "mean_word_length \u2265 3", "mean_word_length \u2264 10"):
        assert label in texts
    assert any(t.startswith("stop_words \u2265 0.1 (de, en, es, fr") for t in texts)
    kept_with_signals = len(read_folder(sample_run, "documents"))
    assert f"kept ({kept_with_signals})" in texts
    assert f"removed by min_words ({stats['removed']['min_words']})" in texts

    # dedup: the largest cluster and its keeper, as duplicates/ has them
    dups = read_folder(sample_run, "duplicates")
    sizes = Counter(r["cluster_size"] for r in dups if r["keep"] and r["cluster_size"] > 1)
    shown = _rows(_section(page, "dedup"), "size")
    assert {int(s["size"]) for s in shown} == set(sizes)
    keepers = re.findall(r'data-keeper="([^"]*)" data-size=(\d+)', page)
    biggest = max((r for r in dups if r["keep"] and r["cluster_size"] > 1), key=lambda r: r["cluster_size"])
    assert (html.unescape(keepers[0][0]), int(keepers[0][1])) == (biggest["id"], biggest["cluster_size"])

    # examples: every removal reason, documents linked by their id, text escaped
    examples = _section(page, "examples")
    for reason, n in stats["removed"].items():
        assert f"<h3 id='reason-{reason}'>{reason} ({n} removed)</h3>" in examples
    for row in removed_rows[:3]:
        assert html.escape(row["id"]) in examples
    assert "<urn:" not in page, "document ids and texts are escaped"

    # self-contained: no scripts, no external resources, links only within the page
    assert "<script" not in page and "src=" not in page
    assert all(h.startswith("#") for h in re.findall(r"href=['\"]([^'\"]*)", page))


@pytest.mark.slow
def test_histograms_come_from_a_bounded_sample(sample_run: Path):
    from beam_curation.pipeline.report.page import render
    from beam_curation.pipeline.report.run_data import open_folder, read_run, sample_signals

    run = read_run(str(sample_run), sample_rows=10)
    assert run.signals.total == 55 and 0 < run.signals.size <= 25
    assert len(run.signals.removed_by) == run.signals.size
    assert f"a uniform random sample of {run.signals.size} of the 55 documents" in render(run)
    again = sample_signals(open_folder(str(sample_run), "signals"), run.rules, 10)
    assert list(again.ids) == list(run.signals.ids), "the same sample each time"


# --- the screenshot ------------------------------------------------------------------------------------------------

def _chromium() -> str:
    found = shutil.which("chromium")
    if found:
        return found
    done = subprocess.run([str(REPO / "scripts" / "install_debian.sh"), "chromium", "chromium", "the screenshot test"],
                          capture_output=True, text=True)
    found = shutil.which("chromium")
    if not found:
        pytest.skip("chromium is not installed and scripts/install_debian.sh could not install it: "
                    + (done.stderr.strip().splitlines() or ["no output"])[-1])
    return found


def screenshot(page: Path, png: Path, profile: Path) -> None:
    """Headless Chromium with nothing that reaches the network (the machine may have none)."""
    subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--hide-scrollbars", f"--user-data-dir={profile}", f"--screenshot={png}",
                    f"--window-size={WINDOW[0]},{WINDOW[1]}", page.as_uri()],
                   check=True, capture_output=True, timeout=180)


def plot_areas(image: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(top, left, bottom, right) of each plot area: the regions of the plots' face colour, which nothing else on
    the page uses (bars, grid and threshold lines cut it; a closing bridges lines, boxes that overlap merge)."""
    from scipy import ndimage

    from beam_curation.pipeline.report.plots import PLOT_FACE

    face = tuple(int(PLOT_FACE[i:i + 2], 16) for i in (1, 3, 5))
    mask = np.all(image[..., :3] == face, axis=-1)
    labels, _ = ndimage.label(ndimage.binary_closing(mask, structure=np.ones((5, 5))))
    boxes = [(s[0].start, s[1].start, s[0].stop, s[1].stop) for s in ndimage.find_objects(labels)
             if (s[0].stop - s[0].start) * (s[1].stop - s[1].start) >= 20_000]
    merged: list[list[int]] = []
    for box in sorted(boxes):
        for m in merged:
            if box[0] < m[2] and m[0] < box[2] and box[1] < m[3] and m[1] < box[3]:
                m[:] = [min(m[0], box[0]), min(m[1], box[1]), max(m[2], box[2]), max(m[3], box[3])]
                break
        else:
            merged.append(list(box))
    return sorted(tuple(m) for m in merged)


@pytest.mark.slow
def test_screenshot_matches_the_reference_loosely(sample_run: Path, tmp_path: Path):
    from PIL import Image

    from beam_curation.pipeline.report.plots import PLOT_FACE

    png = tmp_path / "report.png"
    screenshot(sample_run / "report.html", png, tmp_path / "profile")
    shot = np.asarray(Image.open(png).convert("RGB"))
    assert shot.shape[:2] == (WINDOW[1], WINDOW[0])
    areas = plot_areas(shot)
    plots_in_page = (sample_run / "report.html").read_text().count("<svg")
    assert len(areas) == plots_in_page, f"{len(areas)} plot areas in the screenshot, {plots_in_page} plots on the page"
    face = np.array([int(PLOT_FACE[i:i + 2], 16) for i in (1, 3, 5)])
    for top, left, bottom, right in areas:
        area = shot[top:bottom, left:right]
        drawn = np.any(area != face, axis=-1).mean()
        assert drawn > 0.02, f"plot area at {(top, left)} is blank ({drawn:.1%} drawn)"
    if os.environ.get("UPDATE_REPORT_SCREENSHOT"):
        # 256 colours keep the plots' face colour exact (checked below: the reference's areas are found)
        Image.open(png).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(REFERENCE, optimize=True)
    reference = np.asarray(Image.open(REFERENCE).convert("RGB"))
    assert reference.shape == shot.shape
    expected = plot_areas(reference)
    assert len(expected) == len(areas)
    for got, want in zip(areas, expected):
        assert max(abs(g - w) for g, w in zip(got, want)) <= TOLERANCE_PX, f"plot area {got}, reference {want}"
