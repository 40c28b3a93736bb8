"""The embedded default run end to end: contract layout, conservation, determinism across reruns and runners."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import REPO, RUNNERS, assert_conservation, data_file_digests, read_folder, run_pipeline, user_file_digests

# Every test here runs a pipeline or a cluster: the full tier (`make test`), not `make test-fast`.
pytestmark = pytest.mark.slow

DEFAULT = REPO / "configs" / "default.yaml"
SAMPLE_DOCS = 55  # HTML responses in sample/*.warc.gz (see sample/README.md)


@pytest.fixture(scope="module")
def default_run(tmp_path_factory, monkeypatch_module) -> Path:
    out = tmp_path_factory.mktemp("default") / "out"
    assert run_pipeline(DEFAULT, out) == 0
    return out


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    mp.chdir(REPO)  # the shipped config reads sample/ relative to the working directory
    yield mp
    mp.undo()


def test_contract_layout(default_run: Path):
    shards = {p.name.replace(".warc.gz", "") for p in (REPO / "sample").glob("*.warc.gz")}
    assert {p.stem for p in (default_run / "_shards").glob("*.json")} == shards
    written = {}
    for folder in ("documents", "removed", "errors", "signals", "duplicates"):
        written[folder] = {p.stem for p in (default_run / folder).glob("*.parquet")}
        assert written[folder] <= shards, folder  # a shard with nothing for a folder has no file there
    assert written["documents"] | written["removed"] | written["errors"] == shards
    for name in ("stats.json", "manifest.json"):
        assert (default_run / name).is_file()
    assert not list(default_run.rglob("*.inprogress"))


def test_columns_follow_the_contract(default_run: Path):
    docs = pq.read_schema(next((default_run / "documents").glob("*.parquet")))
    assert docs.names[:5] == ["id", "text", "url", "language", "language_score"]
    assert "warc_date" in docs.names  # passthrough
    removed = pq.read_schema(next((default_run / "removed").glob("*.parquet")))
    assert removed.names[-1] == "removed_by"
    for path in (default_run / "errors").glob("*.parquet"):  # the sample has no error: no file
        assert pq.read_schema(path).names == ["id", "stage", "error", "input"]
    signals = pq.read_schema(next((default_run / "signals").glob("*.parquet")))
    assert signals.names[0] == "id"
    assert str(signals.field("rps_doc_word_count").type) == "double"
    assert str(signals.field("rps_lines_num_words").type) == \
        "list<element: struct<start: int64, end: int64, score: double>>"


def test_conservation_and_stats(default_run: Path):
    assert_conservation(default_run, SAMPLE_DOCS)
    stats = json.loads((default_run / "stats.json").read_text())
    assert stats["kept"] > 20, "the default run should keep most real pages"
    assert stats["removed_total"] > 0, "the default rules should remove something on real pages"
    assert {"read", "extract", "langid", "signals", "write"} <= set(stats["stages"])
    kept = read_folder(default_run, "documents")
    assert all(r["text"].strip() and r["language"] for r in kept)
    ids = {r["id"] for r in kept} | {r["id"] for r in read_folder(default_run, "removed")}
    assert all(i.startswith("<urn:uuid:") for i in ids), "WARC documents are keyed by WARC-Record-ID"


def test_manifest_records_config_inputs_outputs(default_run: Path):
    manifest = json.loads((default_run / "manifest.json").read_text())
    assert len(manifest["inputs"]) == 5
    assert manifest["config"]["mode"] == "filter"
    assert "apache-beam" in manifest["packages"]
    for rel in manifest["outputs"]:
        assert (default_run / rel).is_file()


def test_signals_rows_are_every_document_with_text(default_run: Path):
    """Annotation comes before any decision: documents the language rule removed have signals too."""
    signals = {r["id"] for r in read_folder(default_run, "signals")}
    removed = read_folder(default_run, "removed")
    empty = {r["id"] for r in removed if r["removed_by"] == "extract_empty"}
    assert empty.isdisjoint(signals)
    assert {r["id"] for r in removed if r["removed_by"] == "langid"} <= signals
    assert len(signals) == SAMPLE_DOCS - len(empty) - len(read_folder(default_run, "errors"))


def test_rerun_is_byte_identical_and_skips_complete_shards(default_run: Path, tmp_path: Path, monkeypatch_module):
    out = tmp_path / "out"
    assert run_pipeline(DEFAULT, out) == 0
    first = data_file_digests(out)
    assert first == data_file_digests(default_run)
    # Same config again: every shard is complete, nothing is rewritten.
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.parquet")}
    assert run_pipeline(DEFAULT, out) == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.parquet")} == mtimes
    # Lose one shard's marker (a crash before it finished): only that shard is redone, to the same bytes, with
    # dedup on (its documents are clustered against the other shards' stored dedup keys) and off.
    for name, args in (("dedup", ()), ("no_dedup", ("--set", "dedup.enabled=false"))):
        target = out if name == "dedup" else tmp_path / name
        if name != "dedup":
            assert run_pipeline(DEFAULT, target, *args) == 0
        mtimes = {p: p.stat().st_mtime_ns for p in target.rglob("*.parquet")}
        digests = data_file_digests(target)
        (target / "_shards" / "wget_2024_dolma_sample-0001.json").unlink()
        assert run_pipeline(DEFAULT, target, *args) == 0
        changed = [p for p in target.rglob("*.parquet") if p.stat().st_mtime_ns != mtimes[p]]
        assert changed and all(p.name.startswith("wget_2024_dolma_sample-0001.") for p in changed), name
        assert data_file_digests(target) == digests, name
    # Lose a task's annotations too: only that task is read and extracted again, to the same bytes.
    (out / "_shards" / "wget_2024_dolma_sample-0001.json").unlink()
    (out / "_annotations" / "wget_2024_dolma_sample-0001.json").unlink()
    assert run_pipeline(DEFAULT, out) == 0
    this_run = json.loads((out / "stats.json").read_text())["this_run"]
    assert this_run["tasks_annotated"] == 1 and this_run["tasks_reused"] == 4
    assert data_file_digests(out) == first


@pytest.mark.parametrize("runner", ["multi_processing", "portable"])
def test_runners_give_identical_bytes(default_run: Path, tmp_path: Path, runner: str, monkeypatch_module):
    out = tmp_path / runner
    assert run_pipeline(DEFAULT, out, *RUNNERS[runner]) == 0
    assert data_file_digests(out) == data_file_digests(default_run)


def test_spreading_a_shard_over_workers_gives_identical_bytes(default_run: Path, tmp_path: Path, monkeypatch_module):
    out = tmp_path / "spread"
    assert run_pipeline(DEFAULT, out, "--set", "input.splits=3", *RUNNERS["multi_processing"]) == 0
    assert user_file_digests(out) == user_file_digests(default_run)
    assert len(list((out / "_annotations").glob("*.parquet"))) == 15, "one annotation file per slice"
    assert_conservation(out, SAMPLE_DOCS)


def test_annotate_mode_removes_nothing_by_rule(tmp_path: Path, monkeypatch_module):
    out = tmp_path / "annotate"
    assert run_pipeline(DEFAULT, out, "--set", "mode=annotate") == 0
    assert_conservation(out, SAMPLE_DOCS)
    removed = read_folder(out, "removed")
    assert {r["removed_by"] for r in removed} <= {"extract_empty"}
    assert len(read_folder(out, "signals")) == len(read_folder(out, "documents"))


def test_refilter_decides_as_a_fresh_run_would(default_run: Path, tmp_path: Path, monkeypatch_module):
    from beam_curation.pipeline.cli import main

    strict = ['filters.rules=[{name: long_enough, keep: "rps_doc_word_count >= 300"}]']
    sets = [a for s in strict for a in ("--set", s)]
    refiltered = tmp_path / "refiltered"
    assert main(["refilter", "--from", str(default_run), "--config", str(DEFAULT), "--output", str(refiltered),
                 *sets]) == 0
    fresh = tmp_path / "fresh"
    assert run_pipeline(DEFAULT, fresh, *sets) == 0
    assert_conservation(refiltered, SAMPLE_DOCS)

    def decisions(out: Path) -> dict:
        rows = read_folder(out, "documents") + read_folder(out, "removed")
        return {r["id"]: r.get("removed_by") for r in rows}

    assert decisions(refiltered) == decisions(fresh)
    assert "long_enough" in set(decisions(fresh).values())


def test_report_is_self_contained_html_with_plots(default_run: Path):
    from beam_curation.pipeline.cli import main

    assert main(["report", str(default_run)]) == 0
    page = (default_run / "report.html").read_text()
    assert page.startswith("<!doctype html>") and page.count("<svg") >= 5
    assert "<script" not in page and "src=" not in page, "no external resources"
    assert all(h.startswith("#") for h in re.findall(r"href=['\"]([^'\"]*)", page)), "links only within the page"
    assert "Removal funnel" in page and "rps_doc_word_count" in page


def test_shards_written_in_parts_hold_the_same_rows(default_run: Path, tmp_path: Path, monkeypatch_module):
    """output.rows_per_file cuts each shard into parts written by separate workers: same rows, same decisions,
    the same bytes on every runner, reruns redo only an unfinished shard's parts, and refilter works part-wise."""
    from beam_curation.pipeline.cli import main

    parts = ["--set", "output.rows_per_file=4"]
    out = tmp_path / "parts"
    assert run_pipeline(DEFAULT, out, *parts) == 0
    assert_conservation(out, SAMPLE_DOCS)
    names = sorted(p.name for p in (out / "documents").glob("*.parquet"))
    assert len(names) > 5 and all(n.rsplit("-", 1)[1] in {f"{i:05d}.parquet" for i in range(20)} for n in names)
    for folder in ("documents", "removed", "errors", "signals", "duplicates"):
        assert (sorted(read_folder(out, folder), key=lambda r: r["id"])
                == sorted(read_folder(default_run, folder), key=lambda r: r["id"])), folder
    whole, split = (json.loads((o / "stats.json").read_text()) for o in (default_run, out))
    assert {k: whole[k] for k in ("input", "kept", "removed", "errors")} == \
           {k: split[k] for k in ("input", "kept", "removed", "errors")}
    # the same bytes on another runner
    again = tmp_path / "parts_mp"
    assert run_pipeline(DEFAULT, again, *parts, *RUNNERS["multi_processing"]) == 0
    assert data_file_digests(again) == data_file_digests(out)
    # an unfinished shard: only its parts are redone
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.parquet")}
    (out / "_shards" / "wget_2024_dolma_sample-0001.json").unlink()
    assert run_pipeline(DEFAULT, out, *parts) == 0
    changed = [p for p in out.rglob("*.parquet") if p.stat().st_mtime_ns != mtimes[p]]
    assert len(changed) > 6 and all(p.name.startswith("wget_2024_dolma_sample-0001-") for p in changed)
    assert data_file_digests(out) == data_file_digests(again)
    # refilter reads and writes the same parts
    refiltered = tmp_path / "refiltered"
    assert main(["refilter", "--from", str(out), "--config", str(DEFAULT), "--output", str(refiltered), *parts]) == 0
    assert_conservation(refiltered, SAMPLE_DOCS)
    assert sorted(p.name for p in (refiltered / "documents").glob("*.parquet")) == names
    # refilter decides from annotations, so it may write another layout: here whole shards, as a fresh run does
    whole = tmp_path / "r2"
    assert main(["refilter", "--from", str(out), "--config", str(DEFAULT), "--output", str(whole)]) == 0
    assert user_file_digests(whole) == user_file_digests(default_run)
    # Switching layout in place leaves only the new layout's files.
    relaid = tmp_path / "relaid"
    assert run_pipeline(DEFAULT, relaid) == 0
    assert run_pipeline(DEFAULT, relaid, *parts) == 0
    assert sorted(p.name for p in (relaid / "documents").glob("*.parquet")) == names
    assert_conservation(relaid, SAMPLE_DOCS)


def test_beam_counters_match_stats(tmp_path: Path, monkeypatch_module):
    """The `curation` Beam counters (live on Dataflow/Flink) add up to what stats.json reports."""
    from beam_curation.pipeline.config import load_config
    from beam_curation.pipeline.run import run

    summary = run(load_config(DEFAULT, output_path=str(tmp_path / "out")), RUNNERS["multi_processing"])
    c, s = summary.counters, summary.stats
    assert c["output_documents"] == s["input"] == SAMPLE_DOCS and c["output_kept"] == s["kept"]
    assert {k[len("output_removed_"):]: v for k, v in c.items() if k.startswith("output_removed_")} == s["removed"]
    assert c["read_documents"] == SAMPLE_DOCS and c["extract_documents"] == SAMPLE_DOCS
    # decisions are counted where they are applied: rules (the language rule first) and dedup
    rules = {k[len("filters_removed_"):]: v for k, v in c.items() if k.startswith("filters_removed_")}
    assert rules.get("langid", 0) == s["removed"].get("langid", 0) > 0
    assert rules and all(s["removed"][name] == n for name, n in rules.items())
    dedup = {k[len("dedup_removed_"):]: v for k, v in c.items() if k.startswith("dedup_removed_")}
    assert dedup == {k: v for k, v in s["removed"].items() if k.startswith("dedup_")}
    assert c["tasks_annotated"] == 5 and c.get("tasks_reused", 0) == 0
