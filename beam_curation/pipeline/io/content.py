"""Content digests of the files a run reads (evaluation sets, models, inputs): what the manifest and the
annotation digest record, so a file changed in place is noticed."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path


def content_digest(path: str) -> str:
    """sha256 of a local file, or of a folder's files (relative names and contents, sorted); hashed once per
    (path, size, mtime) in a process. A remote path is its own digest."""
    local = Path(path.removeprefix("file://"))
    if "://" in path.removeprefix("file://") or not local.exists():
        return path
    files = sorted(p for p in local.rglob("*") if p.is_file()) if local.is_dir() else [local]
    stamps = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return _digest(str(local), local.is_dir(), stamps)


@lru_cache(maxsize=256)
def _digest(root: str, folder: bool, stamps: tuple[tuple[str, int, int], ...]) -> str:
    h = hashlib.sha256()
    for name, _, _ in stamps:
        if folder:
            h.update(str(Path(name).relative_to(root)).encode() + b"\0")
        with open(name, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()
