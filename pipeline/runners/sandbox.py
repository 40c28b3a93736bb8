"""Run a per-document function in a child process with a wall-clock limit.

A pathological page can keep lxml busy for minutes, and a Python thread cannot be interrupted, so extraction
runs in a long-lived child process fed through a pipe. When a call exceeds its limit the child is killed and a
fresh one is started for the next document; a crash of native code (lxml, libxml2) is contained the same way.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import time
from typing import Any, Callable

log = logging.getLogger(__name__)


class SandboxTimeout(TimeoutError):
    """The call did not finish within the limit; the child process was killed."""


class SandboxCrash(RuntimeError):
    """The child process died while handling the call."""


def _serve(conn, fn: Callable[..., Any], warmup: Callable[[], Any] | None) -> None:
    if warmup is not None:
        warmup()
    conn.send("ready")
    while True:
        try:
            args, kwargs = conn.recv()
        except EOFError:
            return
        try:
            conn.send((True, fn(*args, **kwargs)))
        except BaseException as exc:  # reported to the parent, which decides
            conn.send((False, (type(exc).__name__, str(exc))))


class Sandbox:
    """A child process that calls `fn`; `call` returns its result or raises within `timeout` seconds."""

    def __init__(self, fn: Callable[..., Any], timeout: float, warmup: Callable[[], Any] | None = None,
                 start_timeout: float = 120.0):
        self._fn = fn
        self._warmup = warmup  # heavy imports, done before the first document's clock starts
        self._timeout = timeout
        self._start_timeout = start_timeout
        self._ctx = mp.get_context("spawn")  # never fork a process that runs Beam's threads
        self._proc = None
        self._conn = None

    def start(self) -> None:
        if self._proc is None or not self._proc.is_alive():
            self._start()

    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_serve, args=(child, self._fn, self._warmup), daemon=True)
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent
        if not parent.poll(self._start_timeout) or parent.recv() != "ready":
            self.close()
            raise SandboxCrash(f"extraction process did not start within {self._start_timeout:g} s")

    def call(self, *args: Any, **kwargs: Any) -> Any:
        self.start()
        started = time.monotonic()
        try:
            self._conn.send((args, kwargs))
        except (BrokenPipeError, OSError):
            self.close()
            raise SandboxCrash("extraction process died before the call") from None
        if not self._conn.poll(self._timeout):
            self.close()
            raise SandboxTimeout(f"no result after {self._timeout:g} s")
        try:
            ok, payload = self._conn.recv()
        except (EOFError, OSError):
            code = self._proc.exitcode if self._proc else None
            self.close()
            raise SandboxCrash(f"extraction process died (exit code {code})") from None
        log.debug("sandbox call took %.3f s", time.monotonic() - started)
        if ok:
            return payload
        name, message = payload
        raise RemoteError(name, message)

    def close(self) -> None:
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.kill()
            self._proc.join(timeout=5)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None


class RemoteError(RuntimeError):
    """An exception raised by `fn` in the child, carried back by name and message."""

    def __init__(self, name: str, message: str):
        super().__init__(f"{name}: {message}")
        self.name = name
