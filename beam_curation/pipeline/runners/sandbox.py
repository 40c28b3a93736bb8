"""Run a per-document function in a child process with a CPU-time limit per document.

A pathological page can keep lxml busy for minutes, and a Python thread cannot be interrupted, so extraction
runs in a long-lived child process fed through a pipe. When a document exceeds its limit the child is killed,
that document alone fails, and a fresh child redoes the rest of its batch; a crash of native code (lxml,
libxml2) is contained the same way.

Documents travel in batches: one message carries a batch to the child, which answers each document as soon as
it is done, so the child never waits for the parent between documents, and the parent can prepare the next
batch, and work on the previous one's answers, while the child works on this one (`imap`).

The limit counts the CPU seconds (user + system) the child spends on one document, not wall time: on a loaded
machine a starved child takes longer by the clock but not by the CPU, so whether a page times out does not
depend on the load, and the same input gives the same output. The child reports its CPU total with every
answer, so each document is measured from the moment the previous one ended (the first of a batch, from the
previous answer or the child's "ready"); the parent reads the running total from /proc/<pid>/stat while it
waits. CPU time never runs faster than the clock (one busy thread), so the parent sleeps for the CPU time left
and looks again. A child that hangs without using CPU (blocked, deadlocked) is caught by a wall-clock backstop,
`backstop_for(limit)`: ten times the limit, at least a minute, counted from when the parent starts waiting for
the document (the batch sent, or the previous answer read). Without /proc (not Linux) the wall clock is all
there is, and the limit falls back to it.

The child is a plain interpreter (`python -c`), not a multiprocessing child: a spawned multiprocessing child
re-imports the parent's main module, which in a Beam worker is Beam's worker main (all of Beam, pandas, the
cloud clients: seconds per start). It imports only what unpickling the function needs.

The child ends quietly with its parent: a parent killed outright (SIGKILL, a crash) closes its end of the
socket, and a watcher thread notices the child was re-parented even while it is busy with a page. Neither
prints anything: the parent's own end says what happened.
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any, Callable, Iterable, Iterator, Optional

log = logging.getLogger(__name__)

Call = tuple[tuple, dict]  # (args, kwargs) of one document's call
BATCH = 16  # documents per message: round trips amortised, a hang redoes at most this many

_BOOT = ("import os, sys\n"
         "from multiprocessing.connection import Connection\n"
         "conn = Connection({fd})\n"
         "try:\n"
         "    sys.path[:] = conn.recv()\n"
         "except (EOFError, OSError):\n"
         "    os._exit(0)\n"
         "from beam_curation.pipeline.runners.sandbox import serve\n"
         "serve(conn, {parent})\n")


class SandboxTimeout(TimeoutError):
    """The call did not finish within the limit; the child process was killed."""


BACKSTOP_FACTOR = 10.0  # the wall-clock backstop, as a multiple of the CPU limit...
BACKSTOP_MINIMUM = 60.0  # ...and never below this many seconds


def backstop_for(limit: float) -> float:
    """Wall seconds after which a document is given up even if its child used no CPU: generous enough that a
    child starved by any plausible load finishes first, short enough that no page hangs a run."""
    return max(BACKSTOP_FACTOR * limit, BACKSTOP_MINIMUM)


def _cpu_now() -> float:
    """This process's CPU seconds (user + system), on the clock /proc/<pid>/stat shows the parent."""
    times = os.times()
    return times.user + times.system


class SandboxCrash(RuntimeError):
    """The child process died while handling the call."""


class SandboxStartError(SandboxCrash):
    """No child could start (the environment, not a document): the task fails, as a missing library would."""


class RemoteError(RuntimeError):
    """An exception raised by `fn` in the child, carried back by name and message."""

    def __init__(self, name: str, message: str):
        super().__init__(f"{name}: {message}")
        self.name = name


PARENT_POLL_SECONDS = 0.5
_HAVE_PROC = os.path.exists("/proc/self/stat")  # Linux: a child's CPU time can be read while it works
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if _HAVE_PROC else 100  # /proc/<pid>/stat's unit of CPU time


def _exit_with_parent(parent: int) -> None:
    """End this process, silently, once `parent` is no longer its parent (it died; the child was re-parented).
    Polled, not PR_SET_PDEATHSIG: that fires when the parent *thread* that started the child ends, and Beam
    runs a bundle on a pool thread that may end while the worker lives on."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def serve(conn: Connection, parent: Optional[int] = None) -> None:
    """The child's loop: receive the function, then batches of calls; answer each call as it finishes. A
    connection that breaks (the parent died or closed it) ends the child without a word."""
    _exit_with_parent(parent or os.getppid())
    try:
        fn, warmup = pickle.loads(conn.recv_bytes())
        if warmup is not None:
            warmup()
        conn.send(("ready", _cpu_now()))
        while True:
            batch = conn.recv()
            for args, kwargs in batch:
                try:
                    answer = (True, fn(*args, **kwargs))
                except BaseException as exc:  # reported to the parent, which decides
                    answer = (False, (type(exc).__name__, str(exc)))
                conn.send((*answer, _cpu_now()))  # where the next document's CPU clock starts
    except (EOFError, OSError):  # the parent is gone (ConnectionResetError, BrokenPipeError) or closed the pipe
        os._exit(0)


class Sandbox:
    """A child process that calls `fn`; `map` / `imap` return each call's result, or the exception that ended it
    (SandboxTimeout past `timeout` CPU seconds or `backstop` wall seconds, SandboxCrash, RemoteError), in
    order."""

    def __init__(self, fn: Callable[..., Any], timeout: float, warmup: Callable[[], Any] | None = None,
                 start_timeout: float = 120.0, backstop: Optional[float] = None):
        self._payload = pickle.dumps((fn, warmup))  # warmup: heavy imports, before the first document's clock
        self._timeout = timeout
        self._backstop = backstop_for(timeout) if backstop is None else backstop
        self._cpu_mark = 0.0  # the child's CPU seconds when its last answer (or "ready") was sent
        self._start_timeout = start_timeout
        self._proc: Optional[subprocess.Popen] = None
        self._conn: Optional[Connection] = None
        self._ready = False
        self._sent_at = 0.0  # when the batch being answered was sent: its first document's clock starts then
        self.starts = 0  # child processes started (the first, and one per timeout or crash)
        self.waited = 0.0  # seconds spent waiting for answers

    def start(self) -> None:
        """Start the child if none is running, without waiting for its imports (they overlap the caller's
        set-up; the first batch waits for them)."""
        if self._proc is not None and self._proc.poll() is None:
            return
        self.close()
        ours, theirs = socket.socketpair()
        try:
            self._proc = subprocess.Popen([sys.executable, "-c", _BOOT.format(fd=theirs.fileno(), parent=os.getpid())],
                                          pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        self._conn.send(list(sys.path))
        self._conn.send_bytes(self._payload)
        self._ready = False
        self.starts += 1

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) of the running child so far; 0 without one (Linux)."""
        return self._child_cpu() or 0.0

    def _child_cpu(self) -> Optional[float]:
        """The running child's CPU seconds from /proc/<pid>/stat; None when they cannot be read (no child, it
        is gone, or no /proc)."""
        if self._proc is None:
            return None
        try:
            with open(f"/proc/{self._proc.pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS

    def _wait_answer(self, clock: float) -> tuple | SandboxTimeout:
        """The next answer, or a SandboxTimeout once the document has used `timeout` CPU seconds since the
        child's last answer, or `backstop` wall seconds have passed since `clock`. Without /proc the wall clock
        since `clock` stands in for the CPU time."""
        if self._conn.poll(0):  # already there (the usual case when the parent is behind): no /proc read
            return self._conn.recv()
        deadline = clock + self._backstop
        while True:
            now = time.monotonic()
            if _HAVE_PROC:  # unreadable only once the child is gone: the poll below then says how it ended
                used = (self._child_cpu() or self._cpu_mark) - self._cpu_mark
            else:
                used = now - clock
            left = min(self._timeout - used, deadline - now)
            if left <= 0:
                if used >= self._timeout:  # the text errors/ has always carried for a page past the limit
                    return SandboxTimeout(f"no result after {self._timeout:g} s")
                return SandboxTimeout(f"no result after {self._backstop:g} s of wall-clock time (the backstop for "
                                      f"a child that does not use CPU), {used:.2f} of {self._timeout:g} CPU s used")
            if self._conn.poll(max(left, 0.01)):  # CPU time cannot outrun the clock: wake when it could be up
                return self._conn.recv()

    def _wait_ready(self) -> None:
        if self._ready:
            return
        try:
            message = self._conn.recv() if self._conn.poll(self._start_timeout) else None
            ok = isinstance(message, tuple) and message[0] == "ready"
            if ok:
                self._cpu_mark = message[1]
            why = f"did not start within {self._start_timeout:g} s"
        except (EOFError, OSError):
            ok, why = False, "exited before it was ready"
        if not ok:
            try:
                code = self._proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                code = None
            self.close()
            raise SandboxStartError(f"extraction process {why} (exit code {code})")
        self._ready = True

    def _send(self, calls: list[Call]) -> None:
        for attempt in (0, 1):  # a child that died between batches is replaced once
            self.start()
            self._wait_ready()
            try:
                self._conn.send(calls)
                self._sent_at = time.monotonic()
                return
            except (BrokenPipeError, ConnectionError, OSError):
                self.close()
                if attempt:
                    raise SandboxCrash("extraction process died before the call") from None

    def _drain(self, calls: list[Call]) -> list[Any]:
        """The answers to a batch already sent; a document past its limit or a crash ends the child, and the
        rest of the batch is sent to a fresh one."""
        out: list[Any] = []
        started = time.monotonic()
        clock = self._sent_at  # not `started`: the parent may have been busy since it sent the batch
        while len(out) < len(calls):
            try:
                answer = self._wait_answer(clock)
                if isinstance(answer, SandboxTimeout):
                    out.append(answer)
                    answer = None
            except (EOFError, OSError):
                code = self._proc.poll() if self._proc else None
                out.append(SandboxCrash(f"extraction process died (exit code {code})"))
                answer = None
            if answer is not None:
                ok, payload, self._cpu_mark = answer
                out.append(payload if ok else RemoteError(*payload))
            elif len(out) < len(calls):  # the rest of the batch, to a fresh child
                self.close()
                try:
                    self._send(calls[len(out):])
                except SandboxStartError:
                    raise
                except SandboxCrash as exc:
                    out += [exc] * (len(calls) - len(out))
            else:
                self.close()
            clock = time.monotonic()
        self.waited += clock - started
        return out

    def _submit(self, calls: list[Call]) -> Optional[list[Any]]:
        """Send a batch; when no child can take it, every call's outcome is that failure."""
        try:
            self._send(calls)
        except SandboxStartError:
            raise
        except SandboxCrash as exc:
            return [exc] * len(calls)
        return None

    def map(self, calls: list[Call]) -> list[Any]:
        """Each call's result or exception, in order."""
        if not calls:
            return []
        return self._submit(calls) or self._drain(calls)

    def imap(self, batches: Iterable[list[Call]]) -> Iterator[list[Any]]:
        """`map` over batches, pipelined both ways: the next batch is prepared (the iterable advanced) while the
        child works on the current one, and each batch's answers are handed back only once the following batch
        is sent, so the caller's work on them overlaps the child's on the next. A batch is sent only once the
        previous one is answered, so neither side ever blocks on a full pipe while the other does."""
        pending: Optional[list[Call]] = None
        for batch in batches:
            answered = self._drain(pending) if pending is not None else None
            failed = self._submit(batch) if batch else []
            pending = batch if failed is None else None
            if answered is not None:
                yield answered
            if failed is not None:
                yield failed
        if pending is not None:
            yield self._drain(pending)

    def call(self, *args: Any, **kwargs: Any) -> Any:
        """One call: its result, or its exception raised."""
        (result,) = self.map([(args, kwargs)])
        if isinstance(result, BaseException):
            raise result
        return result

    def close(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:  # pragma: no cover - a killed process that does not exit
                log.warning("extraction process %d did not exit after kill", self._proc.pid)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None
        self._ready = False
