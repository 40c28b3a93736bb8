"""The fault-injection suite: a run SIGKILLed right after each of its commit points (beam_curation.pipeline.io.
failpoints), in both phases and at the end, on the in-process and the multi_processing runner. Each time the
same command run again exits 0 with no traceback, conserves every document, and leaves a folder byte-identical
to a run that was never stopped. (Races, damaged files, full disks, read-only folders, corrupt models, hostile
strings and oversize records have their own tests: docs/reliability.md lists them.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from beam_curation.pipeline.io.failpoints import ENV, POINTS
from conftest import REPO, RUNNERS, assert_conservation, data_file_digests

pytestmark = pytest.mark.slow

CONFIG = REPO / "configs" / "default.yaml"  # both phases, dedup on: every commit point is reached
SAMPLE = REPO / "sample"
INPUTS = [str(SAMPLE / "CC-MAIN-2024-22_whirlwind.warc.gz"), str(SAMPLE / "wget_2024_dolma_sample-0000.warc.gz"),
          str(SAMPLE / "wget_2024_dolma_sample-0001.warc.gz")]


def _run(output: Path, runner: str, kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if kill_at:
        env[ENV] = kill_at
    args = [sys.executable, "-m", "beam_curation", "run", "--config", str(CONFIG), "--output", str(output),
            "--input", *INPUTS, *RUNNERS[runner]]
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
                          start_new_session=True)  # a group of its own: the failpoint kills the whole run


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    out = tmp_path_factory.mktemp("reference") / "out"
    done = _run(out, "in_memory")
    assert done.returncode == 0, done.stderr
    return out, data_file_digests(out)


CASES = [(point, "in_memory") for point in POINTS] + \
    [(point, "multi_processing") for point in ("annotation_file", "data_file", "shard_marker")]


@pytest.mark.parametrize("point, runner", CASES, ids=[f"{p}-{r}" for p, r in CASES])
def test_killed_at_a_commit_point_the_same_command_finishes_the_folder(reference, tmp_path: Path, point: str,
                                                                        runner: str):
    ref_out, ref_digests = reference
    out = tmp_path / "out"
    killed = _run(out, runner, kill_at=point)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr[-2000:])
    again = _run(out, runner)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Traceback" not in again.stderr
    # What a rerun may say: the dead run's lease taken over, markers whose files it never finished.
    assert all("lease" in line or "marker" in line or "redo" in line.lower() or "annotat" in line
               for line in again.stderr.splitlines()), again.stderr
    assert_conservation(out, json.loads((ref_out / "stats.json").read_text())["input"])
    assert data_file_digests(out) == ref_digests
    assert not (out / "_lease.json").exists()
