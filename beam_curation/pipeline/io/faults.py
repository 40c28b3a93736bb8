"""The machine's faults on writing (a full disk, a read-only or forbidden folder): told in one line, cleaned up.

Such a fault is not a bug to report with a traceback nor a mistake in the command: it names the path and what
to do, and the command exits 1. Beam carries a worker's exception back to the driver as text
(`RuntimeError: OSError: [Errno 28] ... [while running ...]`) and its file systems drop the file name, so a fault
is recognised by its errno anywhere in the chain or the text, and the path is the one the caller knows: the file
(`StorageFault`, raised by our own writes) or else the folder being written.
"""

from __future__ import annotations

import errno
import logging
import posixpath
import re
from typing import Iterator, Optional

log = logging.getLogger(__name__)

# errno -> (what happened, what to do about it)
FAULTS = {
    errno.ENOSPC: ("no space left on the device", "free some space there or write elsewhere"),
    errno.EDQUOT: ("disk quota exceeded", "free some space there or write elsewhere"),
    errno.EACCES: ("permission denied", "make it writable for this user or write elsewhere"),
    errno.EPERM: ("operation not permitted", "make it writable for this user or write elsewhere"),
    errno.EROFS: ("read-only file system", "remount it writable or write elsewhere"),
}
_ERRNO_TEXT = re.compile(r"\[Errno (\d+)\]")
PARTIAL_SUFFIX = ".inprogress"  # a file being written (beam_curation.pipeline.io.atomic and the writers)


class StorageFault(OSError):
    """A write that failed for the machine's reason (`FAULTS`), with the path it was for."""

    def __init__(self, code: int, path: str):
        super().__init__(code, FAULTS.get(code, ("write failed", ""))[0], path)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [current.__cause__, current.__context__]
        todo += [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
        details = getattr(current, "exception_details", None)  # Beam's BeamIOError: {path: exception}
        if isinstance(details, dict):
            todo += [v for v in details.values() if isinstance(v, BaseException)]


def fault_errno(exc: BaseException) -> Optional[int]:
    """The errno of a storage fault behind `exc` (its chain, or a worker's exception carried as text), or None."""
    for current in _chain(exc):
        if isinstance(current, OSError) and current.errno in FAULTS:
            return current.errno
    for current in _chain(exc):
        for found in _ERRNO_TEXT.findall(str(current)):
            if int(found) in FAULTS:
                return int(found)
    return None


def fault_path(exc: BaseException) -> Optional[str]:
    """The file a storage fault was for, when our code or the OS said."""
    for current in _chain(exc):
        if isinstance(current, OSError) and current.errno in FAULTS and current.filename:
            return str(current.filename)
    return None


def describe(exc: BaseException, where: Optional[str], then: str) -> Optional[str]:
    """One line for a storage fault behind `exc` (None for anything else): the path (the file, or `where`, the
    folder or file being written), what happened, what to do, and `then` (how to go on)."""
    code = fault_errno(exc)
    if code is None:
        return None
    what, todo = FAULTS[code]
    path = fault_path(exc) or where
    place = f"cannot write {path}" if path else "cannot write the output"
    return f"{place}: {what}; {todo}, then {then}"


def is_fault_text(text: str) -> bool:
    """A log line about a storage fault (Beam logs a worker's exception before the driver sees it)."""
    return any(int(code) in FAULTS for code in _ERRNO_TEXT.findall(text))


def remove_partial_files(folder: str, subfolders: tuple[str, ...]) -> int:
    """Delete the `*.inprogress` files a failed or killed run left in `folder` and its `subfolders` (never read:
    a file only counts once moved to its final name; removed so they hold no space). Best effort."""
    from apache_beam.io.filesystems import FileSystems

    patterns = [posixpath.join(folder, f"*{PARTIAL_SUFFIX}")]
    patterns += [posixpath.join(folder, sub, f"*{PARTIAL_SUFFIX}") for sub in subfolders]
    try:
        found = [m.path for result in FileSystems.match(patterns) for m in result.metadata_list]
        if found:
            FileSystems.delete(found)
    except Exception as exc:  # noqa: BLE001 - a folder that cannot be listed or written: the run says so next
        log.debug("could not remove partial files under %s: %s", folder, exc)
        return 0
    if found:
        log.info("removed %d partial file(s) a stopped run left under %s", len(found), folder)
    return len(found)
