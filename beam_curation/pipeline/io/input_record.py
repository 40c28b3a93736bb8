"""A failed document's original input record as JSON (errors/`input`, an annotation row's `_input`), and back.

A module of its own because annotations encode the record as a task is annotated while writers copy it out
of the annotation rows: in either of those it would make the two import each other.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from beam_curation.pipeline.io.passthrough import json_default


def encode_input(record: dict[str, Any]) -> str:
    """JSON for errors/`input`; bytes values become {"$base64": ...} so the record replays exactly."""
    return json.dumps(record, sort_keys=True, ensure_ascii=False, default=json_default)


def decode_input(blob: str) -> dict[str, Any]:
    """Inverse of `encode_input`: the original record, with HTML bytes restored."""
    def hook(obj: dict[str, Any]) -> Any:
        if set(obj) == {"$base64"}:
            return base64.b64decode(obj["$base64"])
        return obj

    return json.loads(blob, object_hook=hook)
