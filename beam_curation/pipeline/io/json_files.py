"""Small JSON files of an output folder (stats, manifest, markers, plans), read through Beam's FileSystems."""

from __future__ import annotations

import json
from typing import Any, Optional

from beam_curation.pipeline.io.formats.base import open_path


def read_json(path: str) -> Any:
    """The file's JSON value; a missing or malformed file raises."""
    with open_path(path) as handle:
        return json.loads(handle.read())


def read_json_object(path: str) -> Optional[dict[str, Any]]:
    """The file's JSON object, or None when it is missing, unreadable, malformed or not an object (a folder
    another run left half-written, or not a run at all)."""
    from apache_beam.io.filesystems import FileSystems

    try:
        if not FileSystems.exists(path):
            return None
        data = read_json(path)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
