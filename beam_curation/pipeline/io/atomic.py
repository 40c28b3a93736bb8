"""Write a file so that its final name only ever holds a complete file, on any Beam filesystem."""

from __future__ import annotations

from typing import IO, Callable

from beam_curation.pipeline.io.faults import PARTIAL_SUFFIX, StorageFault, fault_errno


def atomic_write(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """Call `write` on a temporary file beside `path`, then move it into place (replacing any old file). A write
    that fails removes its temporary file; a full disk or a read-only folder raises StorageFault naming `path`."""
    from apache_beam.io.filesystems import FileSystems

    temp = f"{path}{PARTIAL_SUFFIX}"
    try:
        with FileSystems.create(temp, mime_type="application/octet-stream",
                                compression_type="uncompressed") as handle:
            write(handle)
        if FileSystems.exists(path):
            FileSystems.delete([path])
        FileSystems.rename([temp], [path])
    except Exception as exc:
        try:
            if FileSystems.exists(temp):
                FileSystems.delete([temp])
        except Exception:  # noqa: BLE001 - best effort: a later run removes what is left (io.faults)
            pass
        code = fault_errno(exc)
        if code is not None:
            raise StorageFault(code, path) from exc
        raise
