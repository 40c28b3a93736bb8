"""Reading input shards: each shard by its format's reader (beam_curation.pipeline.io.formats)."""

from __future__ import annotations

from typing import Iterator

from beam_curation.pipeline.io import formats
from beam_curation.pipeline.io.document import Doc, ShardSpec
from beam_curation.pipeline.io.formats.base import open_path

__all__ = ["open_path", "read_shard"]


def read_shard(spec: ShardSpec, max_text_bytes: int | None = None) -> Iterator[Doc]:
    """The task's documents in file order; with slices, only this slice's rows (failures included, once). A
    record whose text is over `max_text_bytes` (`input.max_text_bytes`; None: no cap) is a read error."""
    return formats.get(spec.format).read(spec, max_text_bytes)
