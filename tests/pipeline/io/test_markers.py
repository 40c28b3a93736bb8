"""Markers prove their files (beam_curation.pipeline.io.checksum): a task or shard marker records the size and sha256
of each file it commits, and a rerun that finds a file missing or different discards the marker with a warning,
does that task or shard again and ends byte-identical to an uninterrupted run. Each case damages a copy of one
finished run folder as a crash or a race could leave it; then stale release files: a run that changes a folder
rewrites the report and data card `report` wrote, and stats.json tells this run's seconds from the folder's."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from beam_curation.pipeline.io.checksum import FileSum, HashingWriter, mismatch
from conftest import REPO, assert_conservation, user_file_digests

DEFAULT = REPO / "configs" / "default.yaml"
SAMPLE_DOCS = 55
TASK = "wget_2024_dolma_sample-0000"


def test_hashing_writer_records_what_reaches_the_file(tmp_path: Path):
    """The sum taken while pyarrow streams a Parquet file equals the file's; a changed byte or length is told."""
    path = tmp_path / "t.parquet"
    with open(path, "wb") as raw:
        out = HashingWriter(raw)
        with pq.ParquetWriter(out, pa.schema([("x", pa.int64())])) as writer:
            for start in range(0, 3000, 1000):
                writer.write_table(pa.table({"x": list(range(start, start + 1000))}))
        out.close()
    recorded = out.sum()
    import hashlib

    assert recorded == FileSum(path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest())
    assert mismatch(str(path), recorded) is None
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    assert "sha256 differs" in mismatch(str(path), recorded)
    path.write_bytes(bytes(blob[:100]))
    assert mismatch(str(path), recorded) == f"100 bytes, recorded {recorded.bytes}"
    assert mismatch(str(tmp_path / "gone.parquet"), recorded) == "missing"


def test_a_marker_without_sums_trusts_a_whole_parquet_file_only(tmp_path: Path):
    """Markers written before sums were recorded: the file must exist and its Parquet footer must read."""
    path = tmp_path / "old.parquet"
    buffer = io.BytesIO()
    pq.write_table(pa.table({"x": [1, 2, 3]}), buffer)
    path.write_bytes(buffer.getvalue())
    assert mismatch(str(path), None) is None
    path.write_bytes(buffer.getvalue()[:-10])
    assert mismatch(str(path), None) == "not a whole Parquet file"


def _run(output: Path, *args: str) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "-m", "beam_curation", "run", "--config", str(DEFAULT), "--output",
                           str(output), "--log-level", "WARNING", *args], cwd=REPO, capture_output=True, text=True)
    return proc.returncode, proc.stderr


def _stats(output: Path) -> dict:
    return json.loads((output / "stats.json").read_text())


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("markers") / "reference"
    code, err = _run(out)
    assert code == 0, err
    return out


def _stopped_in_phase_1(out: Path) -> None:
    """What a run stopped while annotating leaves: task markers and annotation files, nothing of phase 2."""
    for path in out.rglob("*"):
        if path.is_file() and not path.relative_to(out).parts[0] in ("_annotations", "_plan"):
            path.unlink()


def _damage_annotation_marker_alone(out: Path) -> None:
    _stopped_in_phase_1(out)
    (out / "_annotations" / f"{TASK}.parquet").unlink()  # the state two racing runs left in the issue


def _truncate_annotation_file(out: Path) -> None:
    _stopped_in_phase_1(out)
    path = out / "_annotations" / f"{TASK}.parquet"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _rewrite_annotation_file_same_size(out: Path) -> None:
    _stopped_in_phase_1(out)
    path = out / "_annotations" / f"{TASK}.parquet"
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 3] ^= 0x01
    path.write_bytes(bytes(blob))


def _delete_data_file(out: Path) -> None:
    (out / "documents" / f"{TASK}.parquet").unlink()


def _truncate_data_file(out: Path) -> None:
    path = out / "signals" / f"{TASK}.parquet"
    path.write_bytes(path.read_bytes()[:-1])


@pytest.mark.slow
@pytest.mark.parametrize("damage, warning, annotated", [
    (_damage_annotation_marker_alone, "is missing; the task is annotated again", 1),
    (_truncate_annotation_file, "bytes, recorded", 1),
    (_rewrite_annotation_file_same_size, "sha256 differs", 1),
    (_delete_data_file, "is missing; the shard is written again", 0),
    (_truncate_data_file, "bytes, recorded", 0),
], ids=["marker-without-file", "truncated-annotations", "changed-annotations", "deleted-data-file",
        "truncated-data-file"])
def test_a_damaged_folder_is_redone_where_damaged(reference: Path, tmp_path: Path, damage, warning, annotated):
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    damage(out)
    code, err = _run(out)
    assert code == 0, err
    lines = [line for line in err.splitlines() if "discarding the marker" in line]
    assert len(lines) == 1 and TASK in lines[0] and warning in lines[0], err
    this_run = _stats(out)["this_run"]
    assert this_run["tasks_annotated"] == annotated
    assert_conservation(out, SAMPLE_DOCS)
    assert user_file_digests(out) == user_file_digests(reference)


@pytest.mark.slow
def test_markers_written_before_sums_are_still_reused(reference: Path, tmp_path: Path):
    """Backward compatibility: a folder whose markers record no sums is resumed from, not annotated anew; a file
    such a marker lists that is gone is still noticed."""
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    for marker in [*(out / "_annotations").glob("*.json"), *(out / "_shards").glob("*.json")]:
        data = json.loads(marker.read_text())
        data.pop("file_sum", None)
        data.pop("sums", None)
        marker.write_text(json.dumps(data))
    (out / "documents" / f"{TASK}.parquet").unlink()
    code, err = _run(out)
    assert code == 0, err
    assert _stats(out)["this_run"]["tasks_annotated"] == 0
    assert any("discarding the marker of shard" in line and "missing" in line for line in err.splitlines()), err
    assert user_file_digests(out) == user_file_digests(reference)


@pytest.mark.slow
def test_a_run_that_changes_the_folder_rewrites_its_report_and_card(reference: Path, tmp_path: Path):
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    from beam_curation.pipeline.cli import main

    assert main(["report", str(out)]) == 0
    first = _stats(out)
    card = (out / "README.md").read_text()
    assert f"{first['kept']} of {SAMPLE_DOCS} input documents kept" in card

    # A stricter rule: fewer kept documents, the stored annotations reused.
    code, err = _run(out, "--set", 'filters.rules=[{name: long, keep: "rps_doc_word_count >= 400"}]')
    assert code == 0, err
    second = _stats(out)
    assert second["kept"] < first["kept"]
    assert second["this_run"]["tasks_reused"] == 5 and second["this_run"]["seconds"] > 0
    assert second["wall_seconds"] == pytest.approx(first["wall_seconds"] + second["this_run"]["seconds"], abs=0.01)
    card = (out / "README.md").read_text()
    assert f"{second['kept']} of {SAMPLE_DOCS} input documents kept" in card
    kept_row = re.search(r'data-figure="?kept"?>.*?<td class=n>([\d,]+)</td>', (out / "report.html").read_text())
    assert int(kept_row.group(1).replace(",", "")) == second["kept"]

    # The same run again writes nothing: the folder's figures and its release files stay as they are.
    written = {name: (out / name).stat().st_mtime_ns for name in ("README.md", "report.html")}
    code, err = _run(out, "--set", 'filters.rules=[{name: long, keep: "rps_doc_word_count >= 400"}]')
    assert code == 0, err
    third = _stats(out)
    assert third["wall_seconds"] == second["wall_seconds"] and third["this_run"]["tasks_annotated"] == 0
    assert third["this_run"]["seconds"] < second["wall_seconds"]
    assert {name: (out / name).stat().st_mtime_ns for name in written} == written


def test_incomplete_tasks_are_found_from_one_listing(tmp_path: Path):
    from beam_curation.pipeline.io.annotations import incomplete_tasks

    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "a.parquet").write_bytes(b"x")
    (tmp_path / "b.json").write_text("{}")  # a marker alone, as racing runs left it
    (tmp_path / "c.parquet").write_bytes(b"x")  # a file whose marker was never written
    found = dict(incomplete_tasks(str(tmp_path), ["a", "b", "c"]))
    assert sorted(found) == ["b", "c"]
    assert found["b"] == f"no annotation file {tmp_path}/b.parquet" and found["c"] == f"no marker {tmp_path}/c.json"
    assert [t for t, _ in incomplete_tasks(str(tmp_path / "none"), ["a"])] == ["a"]
    (tmp_path / "d.json").write_text("{}")
    assert [t for t, _ in incomplete_tasks(str(tmp_path), ["a", "b", "c", "d", "e"], half_only=True)] == ["b", "c", "d"]


@pytest.mark.slow
def test_refilter_from_a_folder_with_a_lost_annotation_file_says_how_to_mend_it(reference: Path, tmp_path: Path):
    source = tmp_path / "source"
    shutil.copytree(reference, source)
    (source / "_annotations" / f"{TASK}.parquet").unlink()
    refilter = [sys.executable, "-m", "beam_curation", "refilter", "--from", str(source), "--config", str(DEFAULT),
                "--output", str(tmp_path / "decided")]
    done = subprocess.run(refilter, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert f"{TASK}.parquet" in line and "rerun `beam-curation run`" in line
    assert not (tmp_path / "decided").exists()
    code, err = _run(source)  # its own config: every shard is complete, the lost annotations are redone
    assert code == 0 and _stats(source)["this_run"]["tasks_annotated"] == 1, err
    assert "annotating them again" in err
    assert user_file_digests(source) == user_file_digests(reference)
    done = subprocess.run(refilter, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert user_file_digests(tmp_path / "decided") == user_file_digests(reference)
