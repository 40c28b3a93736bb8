"""Beam's portable path with an external worker pool, as a cluster's workers see the job.

The pool (`apache_beam.runners.worker.worker_pool_main`) runs in its own working directory with our packages
installed apart from the repository (a copy on its PYTHONPATH), so anything that exists only on the driver
(models named relative to the repository, inputs and output under the driver's working directory) is missing
there. The driver runs the default config (dedup on) from a directory where those relative paths exist, once on
FnApiRunner in process and once on PortableRunner (embedded job server) with `--environment_type=EXTERNAL`:
every data file must be byte-identical.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, data_file_digests

CONFIG = REPO / "configs" / "default.yaml"
# A page past extract.timeout_seconds goes to errors/, so a slower run would differ: no limit reached here.
NO_TIMEOUT = ("--set", "extract.timeout_seconds=300")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _wait_listening(proc: subprocess.Popen, port: int, log: Path, deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(f"the worker pool exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("localhost", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"the worker pool did not listen on {port} within {deadline:.0f} s")


@pytest.fixture(scope="module")
def worker_pool(tmp_path_factory):
    """A worker pool as a separately installed worker would run it: our packages copied to their own site
    folder, `python` on PATH being this interpreter, working directory a fresh folder."""
    root = tmp_path_factory.mktemp("worker-pool")
    site, workdir = root / "site", root / "cwd"
    workdir.mkdir()
    shutil.copytree(REPO / "beam_curation", site / "beam_curation",
                    ignore=lambda folder, names: [n for n in names  # the links to configs/, sample/, models/
                                                  if n == "__pycache__" or Path(folder, n).is_symlink()])
    env = {**os.environ, "PYTHONPATH": str(site),
           # The pool starts each SDK worker as `python -c ...`: the interpreter that has Beam installed.
           "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])}
    port = _free_port()
    log = root / "pool.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
                                 f"--service_port={port}"], cwd=workdir, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_listening(proc, port, log)
        yield port, log, workdir
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the pool and the SDK workers it started (its own session)
        proc.wait(timeout=30)


@pytest.fixture()
def driver_dir(tmp_path) -> Path:
    """The driver's working directory: the config's relative paths (models/, sample/) resolve here only."""
    here = tmp_path / "driver"
    here.mkdir()
    for name in ("models", "sample"):
        (here / name).symlink_to(REPO / name, target_is_directory=True)
    return here


def _start(driver: Path, output: str, *beam_args: str) -> subprocess.Popen:
    """`beam-curation run` from the driver's directory, the output named relative to it."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "beam_curation", "run", "--config", str(CONFIG), "--output", output,
                             *NO_TIMEOUT, *beam_args], cwd=driver, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _finish(run: subprocess.Popen, timeout: float = 300) -> None:
    try:
        out, _ = run.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        run.kill()
        out, _ = run.communicate()
        pytest.fail(f"the run did not finish within {timeout:.0f} s: {out[-3000:]}")
    assert run.returncode == 0, out[-3000:]


@pytest.mark.slow
def test_default_config_on_an_external_worker_pool_matches_fnapi_byte_for_byte(worker_pool, driver_dir):
    port, log, workdir = worker_pool
    # The two runs are independent: run side by side to halve the wall time.
    fnapi = _start(driver_dir, "fnapi", "--runner=FnApiRunner")
    portable = _start(driver_dir, "portable", "--runner=PortableRunner", "--job_endpoint=embed",
                      "--environment_type=EXTERNAL", f"--environment_config=localhost:{port}")
    _finish(portable)
    _finish(fnapi)
    assert "Starting worker with command" in log.read_text(), "the job did not run on the pool"
    assert not any(workdir.iterdir()), "a worker wrote into its own working directory"
    expected = data_file_digests(driver_dir / "fnapi")
    assert expected and data_file_digests(driver_dir / "portable") == expected
    stats = {name: json.loads((driver_dir / name / "stats.json").read_text()) for name in ("fnapi", "portable")}
    assert stats["portable"]["input"] == stats["fnapi"]["input"] > 0
    assert stats["portable"]["kept"] == stats["fnapi"]["kept"] > 0
    assert stats["portable"]["removed"].get("dedup_exact", 0) == stats["fnapi"]["removed"].get("dedup_exact", 0) > 0


def test_relative_paths_are_absolute_for_the_workers(driver_dir, monkeypatch):
    """What the workers are handed names the driver's files: config paths are made absolute at load."""
    from beam_curation.pipeline.config import load_config

    monkeypatch.chdir(driver_dir)
    config = load_config(CONFIG, ["decontamination.sets=[{name: mmlu, path: evals/mmlu.jsonl}]",
                                  "signals.ut1_blocklist=lists/ut1", "langid.model=gs://bucket/lid.bin"],
                         output_path="out")
    assert config.input.paths == [str(driver_dir / "sample" / "*.warc.gz")]
    assert config.output.path == str(driver_dir / "out")
    assert config.perplexity.models == {"en": str(driver_dir / "models" / "kenlm" / "en.bin")}
    assert config.signals.importance["wikipedia"] == str(driver_dir / "models" / "dsir" / "wikipedia.npz")
    assert [m.model for m in config.classifiers.models] == [str(driver_dir / "models" / "fasttext" / f"{n}.bin")
                                                            for n in ("quality", "toxicity")]
    assert config.decontamination.sets[0].path == str(driver_dir / "evals" / "mmlu.jsonl")
    assert config.signals.ut1_blocklist == str(driver_dir / "lists" / "ut1")
    assert config.langid.model == "gs://bucket/lid.bin", "a remote path is left as it is"


def test_folders_the_workers_open_are_absolute_on_the_command_line(tmp_path, monkeypatch):
    from beam_curation.pipeline.cli import _parser

    monkeypatch.chdir(tmp_path)
    refilter = _parser().parse_args(["refilter", "--from", "run", "--config", "c.yaml", "--output", "o"])
    assert refilter.source == str(tmp_path / "run")
    found = _parser().parse_args(["thresholds", "--from", "run", "--output", "r.yaml", "--work", "w"])
    assert (found.source, found.work) == (str(tmp_path / "run"), str(tmp_path / "w"))
    assert _parser().parse_args(["thresholds", "--from", "gs://b/run", "--output", "r.yaml"]).source == "gs://b/run"
