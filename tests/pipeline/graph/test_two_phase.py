"""Annotate each task once, decide globally: resume after a kill, reuse on decision-only changes, one rule path
for run and refilter, one run per output folder."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import REPO, assert_conservation, data_file_digests, read_folder, run_pipeline, shared_data

# Every test here runs a pipeline or a cluster: the full tier (`make test`), not `make test-fast`.
pytestmark = pytest.mark.slow

DEFAULT = REPO / "configs" / "default.yaml"
FINEWEB = REPO / "configs" / "fineweb.yaml"
UT1 = REPO / "tests" / "data" / "ut1_sample" / "blacklists"
SAMPLE_DOCS = 55


def user_files(output: Path) -> dict[str, str]:
    """Digests of the data files users read (not the internal `_` folders)."""
    return {k: v for k, v in data_file_digests(output).items() if not k.startswith("_")}


def stats(output: Path) -> dict:
    return json.loads((output / "stats.json").read_text())


@pytest.fixture(scope="module")
def page_shards(tmp_path_factory) -> tuple[Path, int]:
    """Real pages from extraction_dev in 8 Parquet shards (an `html` column)."""
    files = sorted(shared_data("extraction_dev", "trafilatura_html").rglob("*.html.gz"))[:200]
    folder = tmp_path_factory.mktemp("pages")
    for s in range(8):
        chunk = files[s::8]
        pq.write_table(pa.table({"id": [f.name for f in chunk],
                                 "html": pa.array([gzip.open(f, "rb").read() for f in chunk], pa.binary())}),
                       folder / f"pages-{s}.parquet", row_group_size=10)
    return folder, len(files)


def _cli(config: Path, output: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "beam_curation", "run", "--config", str(config), "--output",
                             str(output), "--log-level", "WARNING", *args], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.shared_data
def test_a_killed_run_resumes_from_its_finished_tasks(page_shards, tmp_path: Path):
    folder, total = page_shards
    inputs = ["--input", str(folder / "*.parquet")]
    reference = tmp_path / "reference"
    assert _cli(DEFAULT, reference, *inputs).wait() == 0
    assert_conservation(reference, total)

    out = tmp_path / "killed"
    proc = _cli(DEFAULT, out, *inputs)
    markers = out / "_annotations"
    deadline = time.monotonic() + 300
    while not list(markers.glob("*.json")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p.name: (p.stat().st_mtime_ns, p.read_text()) for p in markers.glob("*.json")}
    assert 0 < len(finished) < 8, "the kill must land while the run is in progress"
    assert not (out / "manifest.json").exists()
    done_docs = sum(json.loads(text)["documents"] for _, text in finished.values())

    assert _cli(DEFAULT, out, *inputs).wait() == 0
    this_run = stats(out)["this_run"]
    assert this_run["tasks_reused"] == len(finished) and this_run["tasks_annotated"] == 8 - len(finished)
    assert this_run["read_documents"] == this_run["extract_documents"] == total - done_docs
    assert {p.name: (p.stat().st_mtime_ns, p.read_text()) for p in markers.glob("*.json")
            if p.name in finished} == finished, "finished tasks are not annotated again"
    assert data_file_digests(out) == data_file_digests(reference)


def _reused(output: Path) -> None:
    this_run = stats(output)["this_run"]
    assert this_run["tasks_annotated"] == 0 and this_run["read_documents"] == 0
    assert this_run["extract_documents"] == 0 and this_run["tasks_reused"] > 0


def test_annotate_then_fineweb_filter_reuses_the_annotations(tmp_path: Path, in_repo):
    out = tmp_path / "out"
    assert run_pipeline(FINEWEB, out, "--set", "mode=annotate") == 0
    assert {r["removed_by"] for r in read_folder(out, "removed")} <= {"extract_empty", "c4_empty"}
    assert run_pipeline(FINEWEB, out) == 0
    _reused(out)
    fresh = tmp_path / "fresh"
    assert run_pipeline(FINEWEB, fresh) == 0
    # The users' files are a fresh run's: the language gate is decided from the stored guesses. The internal
    # annotation files differ: the fresh run did not annotate the pages its gate skipped.
    assert user_files(out) == user_files(fresh)
    assert stats(fresh)["removed"].get("langid_prefilter", 0) > 0
    assert_conservation(out, SAMPLE_DOCS)
    assert stats(out)["removed"].get("langid", 0) > 0, "FineWeb keeps English only"


def test_a_langid_keep_change_reuses_and_matches_a_fresh_run(tmp_path: Path, in_repo):
    out = tmp_path / "out"
    assert run_pipeline(DEFAULT, out) == 0
    keep = ("--set", "langid.keep=[en]")
    assert run_pipeline(DEFAULT, out, *keep) == 0
    _reused(out)
    fresh = tmp_path / "fresh"
    assert run_pipeline(DEFAULT, fresh, *keep) == 0
    assert user_files(out) == user_files(fresh)  # the annotations differ by the pages the fresh run's gate skipped
    removed = {r["id"]: r["removed_by"] for r in read_folder(out, "removed")}
    languages = {r["id"]: r["language"] for r in read_folder(out, "signals")}
    assert all(languages[i] != "en" for i, why in removed.items() if why == "langid")
    assert all(r["language"] == "en" for r in read_folder(out, "documents"))


def test_a_ut1_rule_is_decided_alike_by_run_and_refilter(tmp_path: Path, in_repo):
    """A rule on a signal that is null for most documents (host on no list): NaN on both paths."""
    sets = ["--set", f"signals.ut1_blocklist={UT1}", "--set", "dedup.enabled=false"]
    rule = ["--set", 'filters.rules=[{name: url_blocklist, keep: "isnan(rps_doc_ut1_blacklist)"}]']
    source = tmp_path / "source"
    assert run_pipeline(DEFAULT, source, *sets, "--set", "mode=annotate") == 0
    refiltered = tmp_path / "refiltered"
    from beam_curation.pipeline.cli import main

    assert main(["refilter", "--from", str(source), "--config", str(DEFAULT), "--output", str(refiltered),
                 *sets, *rule]) == 0
    fresh = tmp_path / "fresh"
    assert run_pipeline(DEFAULT, fresh, *sets, *rule) == 0
    assert user_files(refiltered) == user_files(fresh)
    assert stats(refiltered)["removed"].get("url_blocklist", 0) > 0
    assert run_pipeline(DEFAULT, source, *sets, *rule) == 0  # the same decision in place
    _reused(source)
    assert user_files(source) == user_files(fresh)


def test_refilter_into_another_folder_gives_a_fresh_runs_bytes(tmp_path: Path, in_repo):
    """Rules, langid, dedup threshold and keep policy, and the layout all change; the bytes are a fresh run's."""
    from beam_curation.pipeline.cli import main

    source = tmp_path / "source"
    assert run_pipeline(DEFAULT, source, "--set", "mode=annotate") == 0
    changed = ["--set", "langid.keep=[en, de]", "--set", "dedup.threshold=0.8", "--set", "dedup.keep=longest_text",
               "--set", "output.rows_per_file=7",
               "--set", 'filters.rules=[{name: long_enough, keep: "rps_doc_word_count >= 300"}]']
    refiltered = tmp_path / "refiltered"
    assert main(["refilter", "--from", str(source), "--config", str(DEFAULT), "--output", str(refiltered),
                 *changed]) == 0
    fresh = tmp_path / "fresh"
    assert run_pipeline(DEFAULT, fresh, *changed) == 0
    assert user_files(refiltered) == user_files(fresh)
    assert_conservation(refiltered, SAMPLE_DOCS)
    assert not list((refiltered / "_annotations").glob("*.parquet")), "refilter reads the source's annotations"
    # a config that would annotate differently cannot refilter: it says what to do instead
    assert main(["refilter", "--from", str(source), "--config", str(DEFAULT), "--output", str(tmp_path / "x"),
                 "--set", "extract.favor=precision"]) == 2


def test_an_output_folder_holds_one_run(tmp_path: Path, in_repo):
    out = tmp_path / "out"
    assert run_pipeline(DEFAULT, out) == 0
    one = str(REPO / "sample" / "wget_2024_dolma_sample-0000.warc.gz")
    assert run_pipeline(DEFAULT, out, "--input", one) == 0
    for folder in ("documents", "removed", "errors", "signals", "duplicates"):  # (no file: nothing for it)
        assert [p.name for p in (out / folder).glob("*.parquet")] in ([], ["wget_2024_dolma_sample-0000.parquet"])
    assert [p.name for p in (out / "documents").glob("*.parquet")] == ["wget_2024_dolma_sample-0000.parquet"]
    assert [p.name for p in (out / "_shards").glob("*.json")] == ["wget_2024_dolma_sample-0000.json"]
    fresh = tmp_path / "fresh"
    assert run_pipeline(DEFAULT, fresh, "--input", one) == 0
    assert user_files(out) == user_files(fresh)
    assert stats(out)["input"] == sum(1 for _ in read_folder(out, "documents")) + len(read_folder(out, "removed"))
