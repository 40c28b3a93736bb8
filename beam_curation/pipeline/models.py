"""Model files for workers: local paths as they are, remote ones (gs://, s3://, hdfs://) copied once to local disk.

fastText and KenLM read only from local files, so a worker copies a remote model to a temporary directory
the first time it needs it and reuses that copy for the life of the process.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path


def is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def model_exists(path: str) -> bool:
    if is_remote(path):
        from apache_beam.io.filesystems import FileSystems

        return FileSystems.exists(path)
    return Path(path.removeprefix("file://")).is_file()


def local_model_path(path: str) -> str:
    """A local file holding the model at `path` (a copy for remote paths, made once per process)."""
    if not is_remote(path):
        return path.removeprefix("file://")
    from apache_beam.io.filesystems import FileSystems

    digest = hashlib.sha1(path.encode()).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / "curation-models" / f"{digest}-{os.path.basename(path)}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(target.suffix + f".{os.getpid()}.part")
        with FileSystems.open(path, compression_type="uncompressed") as src, open(partial, "wb") as dst:
            shutil.copyfileobj(src, dst, length=8 << 20)
        os.replace(partial, target)
    return str(target)
