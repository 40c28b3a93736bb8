"""One command at a time holds an output folder (beam_curation.pipeline.io.lease): a second one refuses with one line
naming the holder (exit 2) before it creates or deletes anything; a holder that is gone is taken over; `report`,
`thresholds` and `refilter --from` refuse to read a folder a live run holds."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from beam_curation.pipeline.io import lease
from beam_curation.pipeline.io.lease import LEASE, FolderHeld, Holder, acquire, read_holder
from conftest import REPO, assert_conservation, user_file_digests

DEFAULT = REPO / "configs" / "default.yaml"
SAMPLE_DOCS = 55
HOLD = ("import sys, time\n"
        "from beam_curation.pipeline.io.lease import acquire\n"
        "acquire(sys.argv[1], command='holder for a test')\n"
        "print('held', flush=True)\n"
        "time.sleep(120)\n")


@pytest.fixture
def live_holder(tmp_path: Path):
    """Another live process holding `tmp_path/out`'s lease."""
    folder = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield folder, proc
    proc.kill()
    proc.wait()


def _cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "beam_curation", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_a_lease_names_its_holder_and_a_second_taker_is_refused(tmp_path: Path):
    folder = str(tmp_path / "out")
    with lease.held(folder) as mine:
        recorded = json.loads((tmp_path / "out" / LEASE).read_text())
        assert recorded["pid"] == os.getpid() and recorded["host"] == socket.gethostname()
        assert recorded["token"] == mine.holder.token and recorded["command"]
        with pytest.raises(FolderHeld, match=rf"pid {os.getpid()} on {socket.gethostname()} since "):
            acquire(folder)
    assert not (tmp_path / "out" / LEASE).exists(), "released at the end"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [], "no temporary file left beside it"
    acquire(folder).release()


def test_the_lease_of_a_dead_pid_is_taken_over_with_one_log_line(tmp_path: Path, caplog):
    folder = tmp_path / "out"
    # A real holder that dies without giving the lease back (as SIGKILL leaves it).
    code = "import os, sys\nfrom beam_curation.pipeline.io.lease import acquire\nacquire(sys.argv[1])\nos._exit(0)\n"
    subprocess.run([sys.executable, "-c", code, str(folder)], cwd=REPO, check=True)
    dead = read_holder(str(folder))
    assert dead is not None and dead.pid != os.getpid()
    with caplog.at_level(logging.WARNING, logger="beam_curation"):
        taken = acquire(str(folder))
    try:
        assert read_holder(str(folder)).token == taken.holder.token
        lines = [r.getMessage() for r in caplog.records if "taking over" in r.getMessage()]
        assert len(lines) == 1 and f"pid {dead.pid}" in lines[0] and "gone" in lines[0]
    finally:
        taken.release()


def test_a_reused_pid_is_not_the_holder(tmp_path: Path):
    """The pid is alive but is another process than the one recorded (its start time differs)."""
    folder = tmp_path / "out"
    folder.mkdir()
    me = lease.me("an earlier process")
    stale = Holder(**{**me.__dict__, "process_started": me.process_started - 3600, "token": "earlier"})
    (folder / LEASE).write_bytes(stale.to_json())
    with acquire(str(folder)) as taken:
        assert read_holder(str(folder)).token == taken.holder.token


def test_another_hosts_lease_holds_until_it_expires(tmp_path: Path):
    folder = tmp_path / "out"
    folder.mkdir()
    now = time.time()
    fresh = Holder(host="elsewhere", pid=1, process_started=0.0, taken=now - 5000, renewed=now - 10,
                   command="beam-curation run ...", token="theirs")
    (folder / LEASE).write_bytes(fresh.to_json())
    with pytest.raises(FolderHeld, match="pid 1 on elsewhere"):
        acquire(str(folder), expiry=60)
    (folder / LEASE).write_bytes(Holder(**{**fresh.__dict__, "renewed": now - 120}).to_json())
    with acquire(str(folder), expiry=60) as taken:
        assert read_holder(str(folder)).token == taken.holder.token


def test_the_interrupt_path_removes_only_this_processes_lease(tmp_path: Path, live_holder):
    """`release_own` (what Ctrl-C calls on its way out, holding no handle) removes the lease this process holds and
    leaves another process's alone."""
    mine = tmp_path / "mine"
    acquire(str(mine))
    assert lease.release_own(str(mine)) and not (mine / LEASE).exists()
    theirs, proc = live_holder
    assert not lease.release_own(str(theirs))
    assert read_holder(str(theirs)).pid == proc.pid


def test_an_unreadable_lease_file_is_taken_over(tmp_path: Path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / LEASE).write_text("{not json")
    with acquire(str(folder)) as taken:
        assert read_holder(str(folder)).token == taken.holder.token


def test_racing_takers_of_a_stale_lease_end_with_one_holder(tmp_path: Path):
    """Eight threads find the same dead holder's lease and take it over at once: exactly one holds it."""
    folder = tmp_path / "out"
    subprocess.run([sys.executable, "-c", "import os, sys\nfrom beam_curation.pipeline.io.lease import acquire\n"
                    "acquire(sys.argv[1])\nos._exit(0)\n", str(folder)], cwd=REPO, check=True)
    barrier = threading.Barrier(8)
    won, refused = [], []

    def take() -> None:
        barrier.wait()
        try:
            won.append(acquire(str(folder)))
        except FolderHeld:
            refused.append(True)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(refused) == 7
    assert read_holder(str(folder)).token == won[0].holder.token
    won[0].release()
    assert sorted(p.name for p in folder.iterdir()) == []


def test_object_store_leases_are_written_then_read_back(tmp_path: Path, monkeypatch):
    """The best effort for filesystems without exclusive create (`_take_remote`, run here on a local folder
    through Beam's FileSystems): of two takers that found the folder free at once, exactly one goes on."""
    monkeypatch.setattr(lease, "SETTLE_SECONDS", 0.3)
    folder = str(tmp_path)
    barrier = threading.Barrier(2)
    results = []

    def take() -> None:
        mine = lease.me()
        barrier.wait()
        results.append((mine.token, lease._take_remote(folder, mine, 60)))

    threads = [threading.Thread(target=take) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [token for token, found in results if found is None]
    losers = [found for _, found in results if found is not None]
    assert len(winners) == 1 and len(losers) == 1
    assert losers[0].token == winners[0] == read_holder(folder).token


def _refusing_commands(folder: Path, tmp_path: Path) -> dict[str, list[str]]:
    return {"run": ["run", "--config", str(DEFAULT), "--output", str(folder)],
            "refilter": ["refilter", "--from", str(folder), "--config", str(DEFAULT), "--output", str(tmp_path / "o2")],
            "report": ["report", str(folder)],
            "thresholds": ["thresholds", "--from", str(folder), "--output", str(tmp_path / "rules.yaml"),
                           "--signals", "rps_doc_word_count:higher"]}


@pytest.mark.parametrize("command", ["run", "refilter", "report", "thresholds"])
def test_commands_refuse_a_folder_a_live_run_holds(live_holder, tmp_path: Path, command: str, capsys, in_repo):
    """One line naming the holder, exit 2, nothing created or deleted (in process: the command line's `main`)."""
    from beam_curation.pipeline.cli import main

    folder, proc = live_holder
    (folder / "stats.json").write_text("{}")
    before = sorted(p.name for p in folder.iterdir())
    capsys.readouterr()
    assert main(_refusing_commands(folder, tmp_path)[command]) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"pid {proc.pid} on {socket.gethostname()} since " in line and "holder for a test" in line, line
    assert sorted(p.name for p in folder.iterdir()) == before
    assert not (tmp_path / "o2").exists() and not (tmp_path / "rules.yaml").exists()


@pytest.mark.slow
def test_the_command_line_refuses_a_held_folder_in_one_line(live_holder, tmp_path: Path):
    """The same through `python -m beam_curation`: stderr holds the one line and nothing else."""
    folder, proc = live_holder
    for args in _refusing_commands(folder, tmp_path).values():
        done = _cli(*args)
        _, err = done.communicate(timeout=120)
        assert done.returncode == 2, (args, err)
        assert f"pid {proc.pid} on {socket.gethostname()} since " in _one_line(err)


@pytest.mark.slow
def test_two_runs_on_one_folder_one_refuses_the_other_finishes(tmp_path: Path):
    """Started together (one on the multi_processing runner): one exits 2 with one line naming the other, which
    finishes; the folder equals an uninterrupted run's, and a rerun changes nothing."""
    reference = tmp_path / "reference"
    assert _cli("run", "--config", str(DEFAULT), "--output", str(reference)).wait() == 0
    out = tmp_path / "out"
    multi = ("--direct_running_mode=multi_processing", "--direct_num_workers=2")
    runs = [_cli("run", "--config", str(DEFAULT), "--output", str(out), *multi),
            _cli("run", "--config", str(DEFAULT), "--output", str(out))]
    results = [(p.pid, p.returncode, *p.communicate(timeout=600)) for p in runs]
    results = [(pid, p.returncode, o, e) for (pid, _, o, e), p in zip(results, runs)]
    assert sorted(rc for _, rc, _, _ in results) == [0, 2], results
    (winner, _, _, _), = [r for r in results if r[1] == 0]
    (_, _, _, refusal), = [r for r in results if r[1] == 2]
    assert f"pid {winner} on {socket.gethostname()}" in _one_line(refusal)
    assert not (out / LEASE).exists()
    assert_conservation(out, SAMPLE_DOCS)
    assert user_file_digests(out) == user_file_digests(reference)
    again = _cli("run", "--config", str(DEFAULT), "--output", str(out), *multi)
    assert again.wait(timeout=600) == 0
    assert user_file_digests(out) == user_file_digests(reference)


@pytest.mark.slow
def test_a_killed_runs_lease_is_taken_over_and_the_rerun_matches(tmp_path: Path):
    """SIGKILL leaves the lease (nothing can remove it); the next run sees the pid is gone, takes the folder
    over with one warning, and ends byte-identical to an uninterrupted run."""
    reference = tmp_path / "reference"
    assert _cli("run", "--config", str(DEFAULT), "--output", str(reference)).wait() == 0
    out = tmp_path / "out"
    proc = _cli("run", "--config", str(DEFAULT), "--output", str(out))
    deadline = time.monotonic() + 300
    while not list((out / "_annotations").glob("*.json")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left = read_holder(str(out))
    assert left is not None and left.pid == proc.pid
    rerun = _cli("run", "--config", str(DEFAULT), "--output", str(out), "--log-level", "WARNING")
    _, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    taking = [line for line in err.splitlines() if "taking over the lease" in line]
    assert len(taking) == 1 and f"pid {proc.pid}" in taking[0] and "that process is gone" in taking[0]
    assert not (out / LEASE).exists()
    assert user_file_digests(out) == user_file_digests(reference)


@pytest.mark.slow
def test_ctrl_c_gives_the_lease_back(tmp_path: Path):
    out = tmp_path / "out"
    proc = _cli("run", "--config", str(DEFAULT), "--output", str(out), start_new_session=True)
    deadline = time.monotonic() + 300
    while read_holder(str(out)) is None and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert read_holder(str(out)).pid == proc.pid
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert not (out / LEASE).exists()
