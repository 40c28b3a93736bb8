"""Input formats: one reader per format behind one interface (`InputFormat`), registered here once by name.

Everything that depends on an input's format asks its reader: `input.format`'s allowed values (`AUTO` and
`names()`), which files a folder holds and what format each is (`detect`, `refused`), a shard's name
(`shard_stem`), the start-time schema check, the passthrough columns, reading a task's slice of a shard and
the raw record errors/ keeps. A new format is a module with an `InputFormat` subclass, added to `FORMATS`.
"""

from __future__ import annotations

import posixpath
from typing import Optional

from beam_curation.pipeline.io.formats.base import EmptyInput, InputFormat, Refused, SchemaError, open_path
from beam_curation.pipeline.io.formats.jsonl import Jsonl
from beam_curation.pipeline.io.formats.parquet import Parquet
from beam_curation.pipeline.io.formats.warc import Warc, Wet

__all__ = ["AUTO", "FORMATS", "EmptyInput", "InputFormat", "Refused", "SchemaError", "detect", "get", "match",
           "names", "open_path", "refused", "shard_stem"]

AUTO = "auto"  # `input.format: auto`: each file's format from its name
FORMATS: dict[str, InputFormat] = {f.name: f for f in (Parquet(), Jsonl(), Warc(), Wet())}
# Every suffix with its format, longest first: a name's longest matching suffix tells its format
# (`.warc.wet.gz` is WET, not WARC).
_SUFFIXES = sorted(((s, f) for f in FORMATS.values() for s in f.suffixes), key=lambda p: len(p[0]), reverse=True)
_REFUSED = list(dict.fromkeys(r for f in FORMATS.values() for r in f.refuses))


def names() -> tuple[str, ...]:
    """The registered formats' names, as `input.format` takes them (besides `auto`)."""
    return tuple(FORMATS)


def get(name: str) -> InputFormat:
    """The reader of format `name`."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown input format {name!r} (known: {', '.join(FORMATS)})") from None


def match(path: str) -> Optional[tuple[InputFormat, str]]:
    """The format a file's name tells and the suffix that tells it, or None."""
    lower = path.lower()
    for suffix, fmt in _SUFFIXES:
        if lower.endswith(suffix):
            return fmt, suffix
    return None


def detect(path: str) -> Optional[InputFormat]:
    """The format a file's name tells, or None."""
    found = match(path)
    return found[0] if found else None


def refused(path: str) -> Optional[Refused]:
    """Why a file that a format knows by name cannot be read (a WAT), or None."""
    lower = path.lower()
    return next((r for r in _REFUSED if lower.endswith(r.suffixes)), None)


def shard_stem(path: str) -> str:
    """The file name without its input suffix, as its format names shards (a WET file keeps `.wet`, so a
    crawl file's WARC and WET, `x.warc.gz` and `x.warc.wet.gz`, are the shards `x` and `x.wet`)."""
    base = posixpath.basename(path.replace("\\", "/"))
    found = match(base)
    return found[0].shard_stem(base, found[1]) if found else base
