"""The extraction sandbox: batches of calls, a per-call CPU-time limit that kills only the call past it (the
rest of its batch is redone by a fresh child) and not a child that is merely starved of CPU, a wall-clock
backstop for a child that waits for ever, crashes contained, and a child that does not import the parent's
world (a Beam worker's)."""

from __future__ import annotations

import os
import signal
import threading
import time
from functools import partial

import pytest

from beam_curation.pipeline.runners.sandbox import RemoteError, Sandbox, SandboxCrash, SandboxTimeout, backstop_for


def _calls(*args):
    return [((a,), {}) for a in args]


SPIN = "while True: pass"  # a page that keeps the extractor busy for ever


def _burn(seconds: float) -> str:
    """Code for `exec` that uses about `seconds` of CPU."""
    return f"import time\nt = time.process_time()\nwhile time.process_time() - t < {seconds}: pass"


@pytest.fixture
def spinner():
    box = Sandbox(exec, timeout=1.0)
    yield box
    box.close()


def test_a_call_past_its_limit_fails_alone_and_the_rest_of_its_batch_is_redone(spinner):
    started = time.monotonic()
    out = spinner.map(_calls("x = 1", SPIN, "x = 2", "x = 3"))
    elapsed = time.monotonic() - started
    assert out[0] is None and out[2] is None and out[3] is None
    assert isinstance(out[1], SandboxTimeout) and str(out[1]) == "no result after 1 s", "the CPU limit, not the backstop"
    assert spinner.starts == 2, "the child was killed once and replaced"
    assert 1.0 <= elapsed < 30, "killed once it had used its 1 CPU s (no sooner: CPU time cannot outrun the clock)"


def test_the_limit_is_per_call_not_per_batch(spinner):
    out = spinner.map(_calls(*[_burn(0.3)] * 6))  # 1.8 CPU s in all, each call well within 1 s
    assert out == [None] * 6 and spinner.starts == 1


def test_a_call_that_waits_without_cpu_is_ended_by_the_wall_clock_backstop_only():
    box = Sandbox(time.sleep, timeout=0.2, backstop=3.0)
    try:
        started = time.monotonic()
        out = box.map(_calls(1.0, 60, 0.01))
        elapsed = time.monotonic() - started
        assert out[0] is None, "1 s asleep is 1 s of wall time but no CPU: within a 0.2 CPU s limit"
        assert isinstance(out[1], SandboxTimeout) and "3 s of wall-clock time (the backstop" in str(out[1])
        assert out[2] is None and box.starts == 2
        assert 4.0 <= elapsed < 30
    finally:
        box.close()


def test_the_default_backstop_is_ten_times_the_limit_and_at_least_a_minute():
    assert backstop_for(1.0) == 60.0 and backstop_for(30.0) == 300.0


def test_a_child_starved_of_cpu_longer_than_the_limit_still_finishes():
    """The child is stopped (as a loaded machine would starve it) for four times its limit while it has a page:
    by the clock it is late, by its CPU it is not, and the page is extracted, not failed."""
    box = Sandbox(exec, timeout=0.5, backstop=30.0)
    try:
        box.start()
        box._wait_ready()
        pid = box._proc.pid
        os.kill(pid, signal.SIGSTOP)
        resume = threading.Timer(2.0, os.kill, (pid, signal.SIGCONT))
        resume.start()
        try:
            started = time.monotonic()
            out = box.map(_calls(_burn(0.1), "x = 1"))
            elapsed = time.monotonic() - started
        finally:
            resume.join()
        assert out == [None, None] and box.starts == 1, out
        assert elapsed >= 2.0, "the answer waited for the child to be resumed"
    finally:
        box.close()


def test_imap_keeps_batch_order_and_errors_travel_by_name():
    box = Sandbox(int, timeout=5.0)
    try:
        batches = [_calls("1", "2"), [], _calls("x", "4")]
        out = list(box.imap(iter(batches)))
        assert out[0] == [1, 2] and out[1] == []
        assert isinstance(out[2][0], RemoteError) and out[2][0].name == "ValueError" and out[2][1] == 4
    finally:
        box.close()


def test_imap_hands_back_a_batch_only_once_the_next_is_with_the_child():
    """The caller's work on one batch's answers (the later stages) overlaps the child's on the next batch."""
    box = Sandbox(partial(eval), timeout=5.0)
    started_at = "__import__('time').monotonic()"  # CLOCK_MONOTONIC: one clock for both processes
    try:
        started, handled = [], []
        for answers in box.imap(iter([_calls(started_at)] * 4)):
            started.append(answers[0])
            time.sleep(0.5)  # the caller's work on these answers
            handled.append(time.monotonic())
        assert all(started[i + 1] < handled[i] for i in range(3)), (started, handled)
    finally:
        box.close()


def test_a_crash_of_the_child_fails_that_call_only():
    box = Sandbox(os._exit, timeout=5.0)
    try:
        out = box.map(_calls(3, 4))
        assert all(isinstance(o, SandboxCrash) for o in out) and box.starts == 2
    finally:
        box.close()
    mixed = Sandbox(partial(eval), timeout=5.0)
    try:
        out = mixed.map(_calls("1 + 1", "__import__('os')._exit(1)", "2 + 2"))
        assert out[0] == 2 and isinstance(out[1], SandboxCrash) and out[2] == 4
    finally:
        mixed.close()


@pytest.mark.slow
def test_the_child_does_not_import_beam_even_when_the_parent_has():
    import apache_beam  # noqa: F401 - the parent is a Beam worker

    box = Sandbox(eval, timeout=30.0)
    try:
        assert box.call("'apache_beam' in __import__('sys').modules") is False
    finally:
        box.close()


def test_a_child_that_cannot_start_fails_the_task_not_the_documents():
    """A child that dies before it is ready is the environment's fault (a missing library): it raises."""
    from beam_curation.pipeline.runners.sandbox import SandboxStartError

    box = Sandbox(int, timeout=5.0, warmup=partial(os._exit, 3))
    try:
        with pytest.raises(SandboxStartError, match="exit code 3"):
            box.map(_calls("1"))
    finally:
        box.close()
