"""One command at a time writes an output folder: the folder's lease, `OUT/_lease.json`.

A run takes the lease before it creates or deletes anything in the folder and gives it back when it ends, however
it ends (Ctrl-C included: the command line's interrupt path calls `release_own`). The lease says who holds it
(host, pid, the process's start time, the command, when it was taken and last renewed), so a second command on
the folder refuses at once with one line naming the holder. A lease whose holder is gone is taken over with one
log line: on the same host when the pid is not alive or is another process than the one recorded (its start time
differs: the pid was reused); from another host when it was not renewed for `output.lease_expiry_seconds` (the
holder renews it every third of that, from a thread).

How the lease is created:
- local folders: the lease is written whole to a file of its own, then linked to `_lease.json` (`os.link` fails
  when the name exists: an atomic exclusive create, and nobody ever reads a half-written lease). A stale lease is
  taken over by the one taker that creates its claim file (`_lease.json.takeover-<its token>`, O_CREAT|O_EXCL):
  that taker moves it aside (`os.rename`, atomic), checks it moved the stale one, and links its own lease; the
  claim stays until the new holder releases, so a late taker that found the same stale lease looks again and
  refuses.
- object stores (gs://, s3://, ...: Beam's filesystems have no exclusive create): best effort. The lease is
  written, the writer waits `SETTLE_SECONDS`, reads it back and holds it only if it reads its own token. Two
  commands that both found the folder free write within that time of each other, so the later write is the one
  both read back and exactly one of them goes on; were the writes further apart, the later writer would have
  found the first one's lease and refused.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import posixpath
import socket
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, replace
from typing import Iterator, Optional

log = logging.getLogger(__name__)

LEASE = "_lease.json"
DEFAULT_EXPIRY_SECONDS = 900
SETTLE_SECONDS = 2.0  # object stores: how long a writer waits before reading its lease back
SAME_PROCESS_SECONDS = 1.0  # start times this close are the same process (psutil's rounding)


class FolderHeld(Exception):
    """The folder is held by a live command: a user's matter (one line, exit 2)."""


@dataclass(frozen=True)
class Holder:
    """What the lease file records about the command holding it."""

    host: str
    pid: int
    process_started: float  # the holder process's start time (psutil), to tell a reused pid
    taken: float  # epoch seconds
    renewed: float  # epoch seconds: the holder renews the lease while it runs
    command: str
    token: str  # unique to this taking of the lease

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, indent=1).encode()

    @classmethod
    def parse(cls, blob: bytes) -> Optional["Holder"]:
        try:
            return cls(**json.loads(blob))
        except (ValueError, TypeError):
            return None

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.taken))
        return f"pid {self.pid} on {self.host} since {since} ({self.command})"

    def gone(self, expiry: float, now: float) -> Optional[str]:
        """Why the holder no longer holds the folder, or None while it may."""
        if not self.token:
            return "the lease file does not parse"
        if self.host == socket.gethostname():
            import psutil

            try:
                started = psutil.Process(self.pid).create_time()
            except psutil.NoSuchProcess:
                return "that process is gone"
            except psutil.Error:  # exists but cannot be inspected: alive as far as we can tell
                return None
            if abs(started - self.process_started) > SAME_PROCESS_SECONDS:
                return "that process is gone (its pid is another process now)"
            return None
        if now - self.renewed > expiry:
            return f"not renewed for {now - self.renewed:.0f} s (output.lease_expiry_seconds: {expiry:g})"
        return None


def command_line(argv: Optional[list[str]] = None) -> str:
    """The command as a user would type it again (`beam-curation run ...`), shortened for one line."""
    argv = list(sys.argv if argv is None else argv)
    program = argv[0] if argv else "python"
    if program.endswith(("__main__.py", "beam-curation")):
        program = "beam-curation"
    text = " ".join([os.path.basename(program), *argv[1:]])
    return text if len(text) <= 300 else text[:297] + "..."


def me(command: Optional[str] = None) -> Holder:
    import psutil

    now = time.time()
    return Holder(host=socket.gethostname(), pid=os.getpid(), process_started=psutil.Process().create_time(),
                  taken=now, renewed=now, command=command or command_line(), token=uuid.uuid4().hex)


def _is_local(folder: str) -> bool:
    return "://" not in folder or folder.startswith("file://")


def _local(folder: str) -> str:
    return folder.removeprefix("file://")


def lease_path(folder: str) -> str:
    return posixpath.join(folder, LEASE)


def read_holder(folder: str) -> Optional[Holder]:
    """The folder's lease as recorded, or None when there is none (or it cannot be parsed: a foreign file)."""
    path = lease_path(folder)
    if _is_local(folder):
        try:
            with open(_local(path), "rb") as handle:
                return Holder.parse(handle.read())
        except (FileNotFoundError, NotADirectoryError):
            return None
    from apache_beam.io.filesystems import FileSystems

    try:
        with FileSystems.open(path, compression_type="uncompressed") as handle:
            return Holder.parse(handle.read())
    except Exception:  # noqa: BLE001 - Beam raises its own error types for a missing object
        return None


def check_free(folder: str, what: str, expiry: float = DEFAULT_EXPIRY_SECONDS) -> None:
    """Refuse (FolderHeld) to read a folder a live command holds: what it reads may be half rewritten."""
    holder = read_holder(folder)
    if holder is not None and holder.gone(expiry, time.time()) is None:
        raise FolderHeld(f"{what} {folder} is being written by another command: {holder.describe()}; "
                         "wait for it to finish")


class Lease:
    """A taken lease: `release()` gives it back; renewed from a thread while held."""

    def __init__(self, folder: str, holder: Holder, expiry: float, claim: Optional[str] = None):
        self.folder = folder
        self.holder = holder
        self._expiry = expiry
        self._claim = claim  # the takeover claim this lease was taken with (removed on release)
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew_loop, name="lease", daemon=True)
        self._renewer.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self._expiry / 3):
            current = read_holder(self.folder)
            if current is None or current.token != self.holder.token:
                log.warning("%s: the lease was taken by %s while this command ran", self.folder,
                            current.describe() if current else "nobody")
                return
            self.holder = replace(self.holder, renewed=time.time())
            with contextlib.suppress(OSError):
                _overwrite(lease_path(self.folder), self.holder.to_json())

    def release(self) -> None:
        """Remove the lease if it is still ours (it is left alone when another command took it over)."""
        self._stop.set()
        self._renewer.join()  # a renewal under way would write the lease again after its removal
        release_own(self.folder, self.holder.token)
        if self._claim is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._claim)

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def release_own(folder: str, token: Optional[str] = None) -> bool:
    """Remove the folder's lease when this process holds it (`token`: that very taking of it). Safe to call from
    an interrupt path: it never raises."""
    try:
        current = read_holder(folder)
        if current is None or current.pid != os.getpid() or current.host != socket.gethostname():
            return False
        if token is not None and current.token != token:
            return False
        if _is_local(folder):
            os.unlink(_local(lease_path(folder)))
        else:
            from apache_beam.io.filesystems import FileSystems

            FileSystems.delete([lease_path(folder)])
        return True
    except Exception:  # noqa: BLE001 - the next command takes a lease left behind over (this pid is gone)
        return False


def acquire(folder: str, expiry: float = DEFAULT_EXPIRY_SECONDS, command: Optional[str] = None) -> Lease:
    """Take the folder's lease (creating the folder), or raise FolderHeld naming the live holder."""
    mine = me(command)
    take = _take_local if _is_local(folder) else _take_remote
    for _ in range(5):  # a lease released or taken over between our looks: look again
        holder = take(folder, mine, expiry)
        if holder is None:
            return Lease(folder, mine, expiry)
        why = holder.gone(expiry, time.time())
        if why is None:
            raise FolderHeld(f"output {folder} is held by another command: {holder.describe()}; wait for it to "
                             "finish, or use another --output")
        if _take_over(folder, holder, mine, expiry):
            log.warning("%s: taking over the lease of %s: %s", folder, holder.describe(), why)
            return Lease(folder, mine, expiry, _claim_path(folder, holder) if _is_local(folder) else None)
    raise FolderHeld(f"output {folder}: its lease {lease_path(folder)} keeps changing hands; retry")


def _take_local(folder: str, mine: Holder, expiry: float) -> Optional[Holder]:
    """Create the lease exclusively; None when taken, else the holder found (or a placeholder for a lease that
    cannot be parsed)."""
    root = _local(folder)
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, LEASE)
    temp = os.path.join(root, f"{LEASE}.{mine.token}")
    with open(temp, "wb") as handle:
        handle.write(mine.to_json())
        handle.flush()
        os.fsync(handle.fileno())
    try:
        for _ in range(5):
            try:
                os.link(temp, path)
                return None
            except FileExistsError:
                found = read_holder(folder)
                if found is not None:
                    return found
                if os.path.exists(path):
                    return _unreadable(path)
                # released between our link and our read: try again
        return _unreadable(path)
    finally:
        os.unlink(temp)


def _unreadable(path: str) -> Holder:
    """A lease file that does not parse (written by hand, or truncated by a full disk): held by nobody alive."""
    try:
        modified = os.stat(path).st_mtime
    except OSError:
        modified = 0.0
    return Holder(host="?", pid=0, process_started=0.0, taken=modified, renewed=0.0,
                  command="unreadable lease file", token="")


CLAIM_SECONDS = 60.0  # a takeover claim older than this was left by a taker that died taking over


def _claim_path(folder: str, stale: Holder) -> str:
    return os.path.join(_local(folder), f"{LEASE}.takeover-{stale.token or 'unreadable'}")


def _take_over(folder: str, stale: Holder, mine: Holder, expiry: float) -> bool:
    """Replace the stale lease by ours. Locally, of the takers that found the same stale lease only the one that
    creates its claim file (exclusively) goes on, so no taker ever moves a lease that is not the stale one; the
    claim stays until the new holder releases (a late taker then finds it and looks again)."""
    if not _is_local(folder):
        return _take_remote(folder, mine, expiry, replacing=stale) is None
    root = _local(folder)
    path = os.path.join(root, LEASE)
    claim = _claim_path(folder, stale)
    try:
        os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        with contextlib.suppress(FileNotFoundError):
            if time.time() - os.stat(claim).st_mtime > CLAIM_SECONDS:
                os.unlink(claim)
        time.sleep(0.05)  # another taker is at it: look again
        return False
    aside = os.path.join(root, f"{LEASE}.{mine.token}.stale")
    try:
        os.rename(path, aside)
    except FileNotFoundError:  # the stale lease was removed by hand meanwhile
        os.unlink(claim)
        return False
    with open(aside, "rb") as handle:
        moved = Holder.parse(handle.read())
    if (moved.token if moved else "") != stale.token:  # not the stale one (cannot happen under the claim)
        with contextlib.suppress(FileExistsError):
            os.link(aside, path)
        os.unlink(aside)
        os.unlink(claim)
        return False
    os.unlink(aside)
    if _take_local(folder, mine, expiry) is None:
        return True
    os.unlink(claim)
    return False


def _overwrite(path: str, blob: bytes) -> None:
    if _is_local(path):
        temp = f"{_local(path)}.{uuid.uuid4().hex}"
        with open(temp, "wb") as handle:
            handle.write(blob)
        os.replace(temp, _local(path))
        return
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.create(path, mime_type="application/json", compression_type="uncompressed") as handle:
        handle.write(blob)


def _take_remote(folder: str, mine: Holder, expiry: float, replacing: Optional[Holder] = None
                 ) -> Optional[Holder]:
    """Object stores: write, wait, read back (see the module's docstring)."""
    found = read_holder(folder)
    if found is not None and (replacing is None or found.token != replacing.token):
        return found
    _overwrite(lease_path(folder), mine.to_json())
    time.sleep(SETTLE_SECONDS)
    back = read_holder(folder)
    if back is not None and back.token == mine.token:
        return None
    return back if back is not None else _unreadable(lease_path(folder))


@contextlib.contextmanager
def held(folder: str, expiry: float = DEFAULT_EXPIRY_SECONDS) -> Iterator[Lease]:
    """The folder's lease for the duration of the block."""
    lease = acquire(folder, expiry)
    try:
        yield lease
    finally:
        lease.release()
