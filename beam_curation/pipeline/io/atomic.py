"""Write a file so that its final name only ever holds a complete file, on any Beam filesystem."""

from __future__ import annotations

from typing import IO, Callable


def atomic_write(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """Call `write` on a temporary file beside `path`, then move it into place (replacing any old file)."""
    from apache_beam.io.filesystems import FileSystems

    temp = f"{path}.inprogress"
    with FileSystems.create(temp, mime_type="application/octet-stream", compression_type="uncompressed") as handle:
        write(handle)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([temp], [path])
