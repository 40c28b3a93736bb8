"""Every fault of the environment is one line: corrupt models, an unknown runner, a full disk, a read-only folder,
SIGTERM, an orphaned extraction child, settings of a section that is off.

Each test asserts the exit code, exactly one line on stderr (no traceback) and, where a run was stopped, that a
rerun once the fault is fixed completes byte-identical to an uninterrupted run. Full and read-only file systems
are real: a small tmpfs mounted for the test (remounted read-only, or larger to "free space"); a machine where
this process may not mount one skips those tests, saying why.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, user_file_digests

DEFAULT = REPO / "configs" / "default.yaml"
SAMPLE = REPO / "sample"
SMALL_SHARD = str(SAMPLE / "wget_2024_dolma_sample-0001.warc.gz")  # 15 pages, one shard
QUALITY = REPO / "models" / "fasttext" / "quality.bin"
KENLM = REPO / "models" / "kenlm" / "en.bin"
DSIR = REPO / "models" / "dsir" / "books.npz"


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO))


def _cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "beam_curation", *args], cwd=REPO, env=_env(),
                          capture_output=True, text=True, timeout=timeout)


def _one_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def _no_partial_files(folder: Path) -> None:
    left = [str(p) for p in folder.rglob("*.inprogress")]
    assert not left, f"partial files left behind: {left}"


# --- models loaded at start -----------------------------------------------------------------------------------

def _damaged(source: Path, how: str, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 3] if how == "truncated" else os.urandom(len(data) // 50 or 64))
    return target


QUALITY_ENTRY = ("[{{name: quality, model: {path}, output: quality_score, positive_label: hq, "
                 "normalization: lower_punct_lines, max_chars: 5000, languages: [en]}}]")


@pytest.mark.parametrize("key,source,how", [
    ("classifiers.models[0].model", QUALITY, "truncated"),
    ("classifiers.models[0].model", QUALITY, "random"),
    ("perplexity.models.en", KENLM, "truncated"),
    ("perplexity.models.en", KENLM, "random"),
    ("signals.importance.books", DSIR, "truncated"),
    ("langid.model", QUALITY, "truncated"),  # lid.176 is a fastText model too: same layout
])
def test_a_corrupt_model_fails_at_start_in_one_line(tmp_path: Path, capfd, key: str, source: Path, how: str):
    from beam_curation.pipeline.cli import main

    if not source.is_file():
        pytest.skip(f"{source} is not built (make setup)")
    bad = _damaged(source, how, tmp_path / f"bad{source.suffix}")
    override = (f"classifiers.models={QUALITY_ENTRY.format(path=bad)}" if key.startswith("classifiers")
                else f"{key}={bad}")
    with contextlib.chdir(REPO):
        code = main(["run", "--config", str(DEFAULT), "--output", str(tmp_path / "out"), "--set", override])
    err = capfd.readouterr().err
    assert code == 2, err
    line = _one_line(err)
    assert line.startswith(f"config error: {key}: cannot load the model {bad}"), line
    assert not (tmp_path / "out").exists(), "nothing is created before the checks pass"


def test_every_truncation_of_a_fasttext_model_is_caught_without_loading_it(tmp_path: Path):
    """fastText's own loader reads a truncated word list forever: the layout check must catch every cut."""
    from beam_curation.filters.models.fasttext_file import ModelFileError, check_fasttext_file
    from beam_curation.filters.models.langid import default_model_path

    lid = default_model_path()
    assert len(check_fasttext_file(lid)) == 176  # quantized (.ftz) layout
    data = lid.read_bytes()
    cut = tmp_path / "cut.ftz"
    for size in (0, 7, 64, 200, len(data) // 100, len(data) // 2, len(data) - 1):
        cut.write_bytes(data[:size])
        with pytest.raises(ModelFileError):
            check_fasttext_file(cut)
    cut.write_bytes(data + b"\0")
    with pytest.raises(ModelFileError, match="after the end"):
        check_fasttext_file(cut)
    if QUALITY.is_file():
        assert check_fasttext_file(QUALITY) == ["__label__hq", "__label__lq"]  # dense (.bin) layout


def test_loading_the_shipped_models_at_start_is_cheap():
    """The start-time load of every model of the default recipe (the same loaders as the stages) stays well
    under a second or two, so every run can afford it."""
    from beam_curation.pipeline.config import load_config
    from beam_curation.pipeline.run import check_stages

    with contextlib.chdir(REPO):
        config = load_config(DEFAULT)
        check_stages(config)  # imports, caches
        started = time.perf_counter()
        check_stages(config)
    assert time.perf_counter() - started < 1.5


# --- an unknown runner ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("runner,hint", [("NopeRunner", "no such runner"), ("FnApiRuner", "did you mean FnApiRunner"),
                                         ("nope.module.Runner", "No module named 'nope'")])
def test_an_unknown_runner_is_refused_before_anything_is_created(tmp_path: Path, capfd, runner: str, hint: str):
    from beam_curation.pipeline.cli import main

    with contextlib.chdir(REPO):
        code = main(["run", "--output", str(tmp_path / "out"), f"--runner={runner}"])
    err = capfd.readouterr().err
    assert code == 2, err
    line = _one_line(err)
    assert f"--runner {runner}" in line and hint in line, line
    assert not (tmp_path / "out").exists()


# --- settings of a section that is off ------------------------------------------------------------------------

def test_settings_of_a_section_that_is_off_get_one_warning(caplog):
    from beam_curation.pipeline.config import load_config

    with contextlib.chdir(REPO), caplog.at_level(logging.WARNING, logger="beam_curation"):
        load_config(DEFAULT, ["decontamination.sets=[{name: mmlu, path: evals/mmlu.jsonl}]"])
        load_config(DEFAULT, ["perplexity.enabled=false"])  # defaults and the recipe's own keys of it...
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings[0] == ("decontamination.sets is set but decontamination.enabled is false: it has no effect")
    # ...the recipe sets perplexity.models: the user gave it, so it is named too (one line)
    assert warnings[1:] == ["perplexity.models is set but perplexity.enabled is false: it has no effect"]


def test_the_shipped_recipes_do_not_warn(caplog):
    from beam_curation.pipeline.config import load_config, shipped_recipes

    with contextlib.chdir(REPO), caplog.at_level(logging.WARNING, logger="beam_curation"):
        for name in shipped_recipes():
            load_config(name)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


# --- children die silently with their parent ------------------------------------------------------------------

ORPHAN = """
import time
from beam_curation.pipeline.runners.sandbox import Sandbox
box = Sandbox(time.sleep, timeout=60)
box.start()
box._wait_ready()
print(box._proc.pid, flush=True)
box.call(60)
"""


def test_an_orphaned_extraction_child_exits_quietly():
    parent = subprocess.Popen([sys.executable, "-c", ORPHAN], cwd=REPO, env=_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())  # the child shares the parent's stderr pipe
    parent.kill()  # SIGKILL, while the child is busy with a "page"
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.1)
    assert not _alive(child), "the extraction child outlived its parent"
    assert parent.stderr.read() == ""  # the pipe closes once the child is gone too


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# --- atomic writes --------------------------------------------------------------------------------------------

def test_a_storage_fault_of_a_worker_is_recognised_from_beams_text():
    from beam_curation.pipeline.io.faults import describe

    beam_says = RuntimeError("OSError: [Errno 28] No space left on device [while running 'Annotate/ParDo(A)']")
    assert describe(beam_says, "/data/out", "rerun") == ("cannot write /data/out: no space left on the device; "
                                                        "free some space there or write elsewhere, then rerun")
    denied = PermissionError(13, "Permission denied", "/data/out/stats.json")  # root is never denied: by hand
    assert describe(denied, "/data/out", "rerun") == ("cannot write /data/out/stats.json: permission denied; make "
                                                     "it writable for this user or write elsewhere, then rerun")
    assert describe(RuntimeError("OSError: [Errno 2] No such file"), "/data/out", "rerun") is None
    assert describe(ValueError("x"), "/data/out", "rerun") is None


# --- a real small file system: full, read-only ----------------------------------------------------------------

@contextlib.contextmanager
def _tmpfs(folder: Path, size: str):
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'mount failed'}): "
                    "full and read-only file systems need CAP_SYS_ADMIN")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def _remount(folder: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(folder)], check=True, capture_output=True)


def test_atomic_write_on_a_full_or_read_only_disk_names_its_path(tmp_path: Path):
    from beam_curation.pipeline.io.atomic import atomic_write
    from beam_curation.pipeline.io.faults import StorageFault

    with _tmpfs(tmp_path / "disk", "64k") as disk:
        target = str(disk / "stats.json")
        with pytest.raises(StorageFault) as full:
            atomic_write(target, lambda handle: handle.write(b"x" * 200_000))
        assert full.value.filename == target and "no space" in str(full.value)
        assert list(disk.iterdir()) == [], "the partial file was removed"
        _remount(disk, "ro")
        with pytest.raises(StorageFault, match="read-only"):
            atomic_write(target, lambda handle: handle.write(b"{}"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted run of the default recipe on one shard."""
    out = tmp_path_factory.mktemp("reference") / "out"
    done = _cli("run", "--config", str(DEFAULT), "--input", SMALL_SHARD, "--output", str(out))
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_a_rerun_with_space_completes(tmp_path: Path, reference: Path):
    needed = sum(p.stat().st_size for p in reference.rglob("*") if p.is_file())
    with _tmpfs(tmp_path / "disk", f"{needed // 2 // 1024}k") as disk:  # full half way through the run
        out = disk / "out"
        failed = _cli("run", "--config", str(DEFAULT), "--input", SMALL_SHARD, "--output", str(out))
        assert failed.returncode == 1, failed.stderr
        line = _one_line(failed.stderr)
        assert line.startswith(f"error: cannot write {out}") and "no space left" in line, line
        assert "rerun the same command" in line
        _no_partial_files(out)
        assert not (out / "manifest.json").exists()
        _remount(disk, "size=4m")  # space freed
        again = _cli("run", "--config", str(DEFAULT), "--input", SMALL_SHARD, "--output", str(out))
        assert again.returncode == 0, again.stderr
        _no_partial_files(out)
        assert user_file_digests(out) == user_file_digests(reference)


@pytest.mark.slow
def test_a_read_only_folder_is_one_line_for_run_report_and_thresholds(tmp_path: Path, reference: Path):
    with _tmpfs(tmp_path / "disk", "4m") as disk:
        out = disk / "out"
        first = _cli("run", "--config", str(DEFAULT), "--input", SMALL_SHARD, "--output", str(out))
        assert first.returncode == 0, first.stderr
        _remount(disk, "ro")
        for args, path in [(("run", "--config", str(DEFAULT), "--input", SMALL_SHARD, "--output", str(out)),
                            out / "_lease.json"),  # the first thing a run writes: the folder's lease
                           (("report", str(out)), out / "report.html"),
                           (("thresholds", "--from", str(out), "--output", str(tmp_path / "rules.yaml"),
                             "--signals", "rps_doc_word_count:higher"), out / "_thresholds"),
                           (("thresholds", "--from", str(reference), "--output", str(out / "rules.yaml"),
                             "--signals", "rps_doc_word_count:higher", "--work", str(tmp_path / "work")),
                            out / "rules.yaml")]:
            done = _cli(*args)
            assert done.returncode == 1, (args, done.stderr)
            line = _one_line(done.stderr)
            assert line.startswith(f"error: cannot write {path}: read-only file system"), line
        _remount(disk, "rw")
        again = _cli("run", "--config", str(DEFAULT), "--input", SMALL_SHARD, "--output", str(out))
        assert again.returncode == 0, again.stderr
        assert user_file_digests(out) == user_file_digests(reference)


@pytest.mark.slow
def test_report_on_a_full_disk_is_one_line(tmp_path: Path, reference: Path):
    with _tmpfs(tmp_path / "disk", "4m") as disk:
        out = disk / "out"
        subprocess.run(["cp", "-a", str(reference), str(out)], check=True)
        used = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        _remount(disk, f"size={used // 1024 + 48}k")  # the run fits; its report (hundreds of KB) does not
        done = _cli("report", str(out))
        assert done.returncode == 1, done.stderr
        line = _one_line(done.stderr)
        assert line.startswith(f"error: cannot write {out}/") and "no space left" in line, line
        _no_partial_files(out)


# --- SIGTERM --------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_sigterm_is_one_line_and_the_same_command_resumes(tmp_path: Path):
    reference = tmp_path / "reference"
    done = _cli("run", "--config", str(DEFAULT), "--output", str(reference))
    assert done.returncode == 0, done.stderr

    output = tmp_path / "out"
    command = [sys.executable, "-m", "beam_curation", "run", "--config", str(DEFAULT), "--output", str(output)]
    proc = subprocess.Popen(command, cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    deadline = time.monotonic() + 600
    while not list((output / "_annotations").glob("*.json")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before its first task finished"
    os.kill(proc.pid, signal.SIGTERM)  # the driver only, as `kill PID` or a scheduler sends it
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    line = _one_line(err)
    assert line.startswith("terminated (SIGTERM): ") and "rerun the same command to resume" in line, line
    time.sleep(1)
    alive = subprocess.run(["ps", "-o", "pid=,stat=", "-s", str(proc.pid)], capture_output=True, text=True).stdout
    assert not [row for row in alive.splitlines() if row.split()[1][0] != "Z"], "every child process was stopped"
    assert not (output / "manifest.json").exists()

    again = _cli("run", "--config", str(DEFAULT), "--output", str(output))
    assert again.returncode == 0, again.stderr
    _no_partial_files(output)
    assert user_file_digests(output) == user_file_digests(reference)


def test_the_command_line_blocks_sigint_before_any_native_thread_starts():
    """numpy's and pyarrow's native threads, started at their import, would keep SIGINT unblocked, and the
    kernel would hand a Ctrl-C to one of them, where it is ignored: `main` must block it before they exist."""
    probe = ("import sys, beam_curation.__main__\n"
             "print(sorted(m for m in ('numpy', 'pyarrow', 'apache_beam') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
