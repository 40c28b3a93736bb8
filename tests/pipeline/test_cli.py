"""The command line as a user meets it: a mistake is one line and exit code 2 (a misspelt option never runs with a
default in its place), Ctrl-C is one line and 130 and the same command resumes, and a local run on a terminal
shows one live progress line. Every case runs `beam-curation` in a subprocess from the repository root."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO, data_file_digests, run_pipeline

DEFAULT = REPO / "configs" / "default.yaml"
SAMPLE = REPO / "sample"
SMALL_SHARD = str(SAMPLE / "wget_2024_dolma_sample-0001.warc.gz")  # 15 pages
PROGRESS = re.compile(r"tasks \d+/\d+ \| shards \d+/\d+ \| [\d,]+ docs \| [\d.]+ docs/s \| \d\d:\d\d elapsed \| "
                      r"(~\d\d:\d\d|\?) left")
INTERRUPTED = re.compile(r"interrupted: (\d+) of (\d+) annotation tasks and (\d+) of (\d+) shards finished; "
                         r"rerun the same command to resume")


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO))


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "beam_curation", *args], cwd=REPO, env=_env(), capture_output=True,
                          text=True, timeout=timeout)


def clis(*calls: list[str], timeout: float = 600) -> list[subprocess.CompletedProcess]:
    """Several independent invocations at once (each pays Beam's import)."""
    procs = [subprocess.Popen([sys.executable, "-m", "beam_curation", *args], cwd=REPO, env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for args in calls]
    results = []
    for args, proc in zip(calls, procs):
        out, err = proc.communicate(timeout=timeout)
        results.append(subprocess.CompletedProcess(args, proc.returncode, out, err))
    return results


def one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit code 2, nothing on stdout, exactly one line on stderr holding every needle, no traceback."""
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert proc.stdout == ""
    return lines[0]


@pytest.fixture(scope="module")
def annotated(tmp_path_factory) -> Path:
    """A finished annotate-mode run of the bundled sample's smallest shard (extraction, language ID, RPv2 signals)."""
    config = tmp_path_factory.mktemp("config") / "small.yaml"
    config.write_text("mode: annotate\nextract: {enabled: true, timeout_seconds: 20}\nlangid: {enabled: true}\n"
                      "signals: {enabled: true}\ndedup: {enabled: false}\nfilters: {enabled: true, rules: []}\n")
    out = tmp_path_factory.mktemp("annotated")
    mp = pytest.MonkeyPatch()
    mp.chdir(REPO)
    try:
        assert run_pipeline(config, out, "--input", "sample/commoncrawl_org_single_record_jwarc.warc.gz") == 0
    finally:
        mp.undo()
    assert (out / "manifest.json").is_file()
    return out


# --- arguments -----------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_misspelt_option_is_refused_with_the_closest_spelling(tmp_path: Path):
    target = tmp_path / "would_be_written"
    proc = cli("run", "--config", str(DEFAULT), "--ouput", str(tmp_path / "out2"), "--set",
               f"output.path={target}")
    one_line_error(proc, "--ouput", "did you mean --output?")
    assert not target.exists() and not (tmp_path / "out2").exists(), "nothing ran"


@pytest.mark.slow
def test_beam_options_pass_in_both_spellings_and_bad_values_are_refused(tmp_path: Path):
    # Accepted: the run gets past the arguments to the input check, which fails on purpose (no work starts).
    beam = ["--runner", "FnApiRunner", "--direct_num_workers=1", "--direct_running_mode", "in_memory",
            "--project", "p", "--temp_location=/tmp", "--dask_client_address=tcp://127.0.0.1:8786",
            "--save_main_session"]
    nothing = str(tmp_path / "nothing-*.parquet")
    run = ["run", "--config", str(DEFAULT)]
    accepted, bad_choice, bad_int, stray, report = clis(
        [*run, "--input", nothing, *beam], [*run, "--direct_running_mode=multi_proc"],
        [*run, "--direct_num_workers", "two"], [*run, "--output", str(tmp_path), "stray"],
        ["report", str(tmp_path), "--runner", "FnApiRunner"])
    one_line_error(accepted, "no file matches", nothing)
    one_line_error(bad_choice, "--direct_running_mode", "multi_processing")
    one_line_error(bad_int, "--direct_num_workers", "invalid int value")
    one_line_error(stray, "'stray'")
    one_line_error(report, "--runner", "report takes only OUT")


def test_runner_options_in_the_config_must_be_beam_options(tmp_path: Path, capsys):
    from beam_curation.pipeline.cli import main

    code = main(["run", "--config", str(DEFAULT), "--output", str(tmp_path / "out"), "--input", SMALL_SHARD,
                 "--set", "runner.options.direct_num_worker=2"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "runner.options.direct_num_worker" in err and "direct_num_workers" in err
    assert not (tmp_path / "out").exists()


def test_check_beam_args_knows_every_registered_options_class():
    from apache_beam.options.pipeline_options import PipelineOptions

    from beam_curation.pipeline.runners.options import BeamArgumentError, beam_parser, check_beam_args, option_strings

    names = set(option_strings(beam_parser()))
    assert {"--runner", "--direct_num_workers", "--direct_running_mode", "--project", "--temp_location",
            "--dask_client_address", "--flink_master", "--environment_type"} <= names
    # Beam's own parser (direct subclasses only) knows no option this one lacks.
    own = PipelineOptions(["--runner=FnApiRunner"]).get_all_options()
    assert set(own) <= {a.dest for a in beam_parser()._actions}
    check_beam_args(["--runner=DirectRunner", "--experiments", "a", "--experiments=b", "--save_main_session"])
    with pytest.raises(BeamArgumentError, match=r"--temp_locaton.*did you mean --temp_location\?"):
        check_beam_args(["--temp_locaton=/tmp"])
    with pytest.raises(BeamArgumentError, match="ignored explicit argument"):
        check_beam_args(["--save_main_session=yes"])


def test_help_describes_every_option_with_examples():
    from beam_curation.pipeline.cli import _parser

    parser = _parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == {"run", "refilter", "report", "thresholds", "mix", "tokenize"}
    for name, command in sub.choices.items():
        assert "examples:" in command.epilog and f"beam-curation {name} " in command.epilog, name
        for action in command._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no description"
    assert all(a.help for a in sub._choices_actions)


@pytest.mark.slow
def test_help_prints_descriptions_and_examples():
    proc = cli("run", "--help")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    for text in ("--config YAML", "the recipe", "--input GLOB", "--set KEY=VALUE", "--log-level LEVEL", "examples:",
                 "--direct_running_mode=multi_processing", "Beam pipeline options", "rerun"):
        assert text in proc.stdout, text
    top = cli("--help")
    assert top.returncode == 0 and "refilter" in top.stdout and "Exit codes" in top.stdout


# --- one-line errors -----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_an_output_path_that_is_a_file_is_one_line(tmp_path: Path):
    file = tmp_path / "a-file"
    file.write_text("not a folder")
    itself, below = clis(["run", "--config", str(DEFAULT), "--output", str(file)],
                         ["run", "--config", str(DEFAULT), "--output", str(file / "sub")])
    one_line_error(itself, "output.path", str(file), "is a file")
    one_line_error(below, str(file), "is a file")
    assert file.read_text() == "not a folder"


@pytest.mark.slow
def test_report_and_thresholds_on_what_is_not_a_finished_run(tmp_path: Path):
    (tmp_path / "unfinished" / "_annotations").mkdir(parents=True)
    thresholds = ["--output", str(tmp_path / "r.yaml"), "--signals", "rps_doc_word_count:higher"]
    missing, unfinished, th_missing, th_unfinished = clis(
        ["report", str(tmp_path / "missing")], ["report", str(tmp_path / "unfinished")],
        ["thresholds", "--from", str(tmp_path / "missing"), *thresholds],
        ["thresholds", "--from", str(tmp_path / "unfinished"), *thresholds])
    one_line_error(missing, "no such folder", "missing")
    one_line_error(unfinished, "not a finished run", "manifest.json")
    one_line_error(th_missing, "--from", "no such folder")
    one_line_error(th_unfinished, "--from", "no signals/*.parquet")


@pytest.mark.slow
def test_refilter_on_a_signal_the_source_did_not_compute_names_the_stage(annotated: Path, tmp_path: Path):
    rule = 'filters.rules=[{name: punct, keep: "fineweb_line_punct_ratio >= 0.1"}]'
    base = ["refilter", "--from", str(annotated), "--config", str(DEFAULT), "--output", str(tmp_path / "r"),
            "--set", "mode=filter", "--set", rule]
    plain, with_group, missing = clis(
        base, [*base, "--set", "signals.groups=[rpv2, fineweb]"],
        ["refilter", "--from", str(tmp_path / "missing"), "--config", str(DEFAULT), "--output", str(tmp_path / "r")])
    line = one_line_error(plain, "fineweb_line_punct_ratio", str(annotated), "signals.groups: fineweb")
    assert "not computed" in line
    # Adding the group to the refilter config does not compute it either: the same answer, not a digest puzzle.
    one_line_error(with_group, "fineweb_line_punct_ratio", "signals.groups: fineweb")
    one_line_error(missing, "--from", "no such folder")
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_config_and_input_mistakes_stay_one_line(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("extract: {timeout: 3}\n")
    missing, unknown_key, no_input, no_recipe, bad_set = clis(
        ["run", "--config", str(tmp_path / "none.yaml")], ["run", "--config", str(bad)],
        ["run", "--config", str(DEFAULT), "--input", str(tmp_path / "no-such-*.warc.gz")], ["run", "--config", "fineweeb"],
        ["run", "--config", str(DEFAULT), "--set", "mode"])
    one_line_error(missing, "config file not found")
    one_line_error(unknown_key, "unknown config key: extract.timeout")
    one_line_error(no_input, "no file matches")
    one_line_error(no_recipe, "config file not found: fineweeb (shipped recipes:", "fineweb")
    one_line_error(bad_set, "mode")


# --- Ctrl-C and progress ---------------------------------------------------------------------------------------

def _start(output: Path, *args: str, stderr=subprocess.PIPE) -> subprocess.Popen:
    """A run in its own session, so that a SIGINT to its process group is what a terminal's Ctrl-C sends."""
    return subprocess.Popen([sys.executable, "-m", "beam_curation", "run", "--config", str(DEFAULT), "--output",
                             str(output), *args], cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=stderr,
                            text=True, start_new_session=True)


def _interrupt_after_first_task(proc: subprocess.Popen, output: Path) -> tuple[str, int]:
    markers = output / "_annotations"
    deadline = time.monotonic() + 600
    while not list(markers.glob("*.json")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before its first task finished"
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    finished = len(list(markers.glob("*.json")))
    return err, finished


def _session_alive(sid: int) -> list[str]:
    out = subprocess.run(["ps", "-o", "pid=,stat=,args=", "-s", str(sid)], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.split()[1][0] != "Z"]


@pytest.mark.slow
def test_ctrl_c_is_one_line_and_the_same_command_resumes(tmp_path: Path):
    reference = tmp_path / "reference"
    uninterrupted = _start(reference)
    out, err = uninterrupted.communicate(timeout=900)
    assert uninterrupted.returncode == 0, err
    assert err == "", "without a terminal: no progress line, no library logs"
    assert "documents in: 55" in out

    output = tmp_path / "out"
    proc = _start(output)
    err, finished = _interrupt_after_first_task(proc, output)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    match = INTERRUPTED.fullmatch(err.strip())
    assert match, err
    assert (int(match[1]), int(match[2]), int(match[3]), int(match[4])) == (finished, 5, 0, 5)
    assert 0 < finished < 5
    assert not (output / "manifest.json").exists()
    assert not _session_alive(proc.pid), "every child process was stopped"

    again = _start(output)
    out, err = again.communicate(timeout=900)
    assert again.returncode == 0, err
    stats = json.loads((output / "stats.json").read_text())
    assert stats["this_run"]["tasks_reused"] == finished
    assert data_file_digests(output) == data_file_digests(reference)


@pytest.mark.slow
def test_ctrl_c_on_the_multi_processing_runner_is_one_line(tmp_path: Path):
    """Beam's SDK worker processes get the terminal's SIGINT too: none of them may print."""
    output = tmp_path / "out"
    proc = _start(output, "--input", SMALL_SHARD, "--input", str(SAMPLE / "CC-MAIN-2020-34_sample_resiliparse.warc.gz"),
                  "--direct_running_mode=multi_processing", "--direct_num_workers=2")
    err, finished = _interrupt_after_first_task(proc, output)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    match = INTERRUPTED.fullmatch(err.strip())
    assert match and int(match[1]) == finished and int(match[2]) == 2, err
    time.sleep(1)
    assert not _session_alive(proc.pid), "the SDK workers were stopped"


def _read_all(fd: int, chunks: list[bytes]) -> None:
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: the other side closed
            return
        if not data:
            return
        chunks.append(data)


@pytest.mark.slow
def test_a_local_run_on_a_terminal_shows_one_live_line(tmp_path: Path):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 10, 120, 0, 0))
    proc = _start(tmp_path / "out", "--input", SMALL_SHARD, stderr=slave)
    os.close(slave)
    chunks: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(master, chunks))
    reader.start()
    out, _ = proc.communicate(timeout=900)
    reader.join(timeout=30)
    os.close(master)
    screen = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, screen
    assert "Traceback" not in screen
    states = [s.strip() for s in re.split(r"[\r\n]", screen) if s.strip()]
    lines = [s for s in states if PROGRESS.search(s)]
    assert lines, screen
    assert all(PROGRESS.search(s) for s in states if "\x1b" not in s), "nothing but the live line on stderr"
    assert "\r" in screen, "redrawn in place"
    last = PROGRESS.search(lines[-1])[0]
    assert last.startswith("tasks 1/1 | shards 1/1 | 15 docs"), last
    assert "documents in: 15" in out


def test_progress_counts_a_finished_runs_markers(annotated: Path):
    """The counter reads what the run committed: a finished run's tasks are all reused, its shards complete."""
    from beam_curation.pipeline.io.annotations import ANNOTATIONS
    from beam_curation.pipeline.io.document import ShardSpec
    from beam_curation.pipeline.progress import MarkerCounter, interrupted_line, progress_line

    manifest = json.loads((annotated / "manifest.json").read_text())
    shards = [ShardSpec(path=s["path"], name=s["shard"], format=s["format"], index=i)
              for i, s in enumerate(manifest["inputs"])]
    counter = MarkerCounter(str(annotated), str(annotated / ANNOTATIONS), shards, manifest["annotation_digest"],
                            shards, [], manifest["config_digest"], compute=True)
    counts = counter.poll()
    assert (counts.tasks, counts.tasks_done, counts.tasks_todo) == (1, 1, 0)
    assert counts.shards == 1 and counts.shards_done == 0, "a shard marker from before the run is not this run's"
    other = MarkerCounter(str(annotated), str(annotated / ANNOTATIONS), shards, "another digest", shards, [],
                          manifest["config_digest"], compute=True).poll()
    assert other.tasks_done == 0, "a marker of another config is not a finished task"
    assert interrupted_line(counts) == ("interrupted: 1 of 1 annotation tasks and 0 of 1 shards finished; "
                                        "rerun the same command to resume")
    assert PROGRESS.fullmatch(progress_line(counts, 12.0, None))


def test_loading_the_command_line_starts_no_thread():
    """Ctrl-C is blocked in every thread before any library starts one (`_interrupts`): importing the command
    line module must neither import Beam nor start a thread, or a thread not told would swallow the signal."""
    code = ("import sys, threading, beam_curation.__main__\n"
            "print(threading.active_count(), 'apache_beam' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=_env(), capture_output=True, text=True)
    assert proc.stdout.split() == ["1", "False"], proc.stderr
