"""Dolma JSONL: one JSON object a line (plain, gzip or zstd), its `text` the document; every other key passes
through as parsed (objects and arrays too: they become typed columns, beam_curation.pipeline.io.passthrough)."""

from __future__ import annotations

import gzip
import io
import json
from typing import IO, Any, Iterator

from beam_curation.pipeline.io.document import Doc, ShardSpec
from beam_curation.pipeline.io.formats.base import EmptyInput, InputFormat, open_path

DOLMA_FIELDS = ("source", "added", "created", "metadata")  # always output columns, null where a record lacks them


def open_lines(path: str) -> IO[bytes]:
    """The file's bytes, decompressed by its name (`.gz`, `.zst`)."""
    raw = open_path(path)
    lower = path.lower()
    if lower.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw)
    if lower.endswith(".zst"):
        import zstandard

        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, closefd=True))
    return raw


class Jsonl(InputFormat):
    name = "jsonl"
    suffixes = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".json.gz", ".json.zst", ".json")
    label = "JSONL"
    reads = "Dolma records, one a line"
    varying_columns = True
    always_columns = DOLMA_FIELDS

    def documents(self, spec: ShardSpec) -> Iterator[Doc]:
        """One document a non-blank line; a line that is not a JSON object (with a string `text`) is a read
        error holding the line; a file with no line at all is one (from the first slice)."""
        row = 0
        yielded = False
        try:
            stream = open_lines(spec.path)
        except Exception as exc:
            yield self.failure(spec, 0, "file", exc)
            return
        try:
            for line in stream:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    if not isinstance(record, dict):
                        raise ValueError("a JSONL line must hold an object")
                    text = record.get("text")
                    if text is not None and not isinstance(text, str):
                        raise ValueError("'text' must be a string")
                except (ValueError, UnicodeDecodeError) as exc:
                    yielded = True
                    yield self.failure(spec, row, f"line{row}", exc, {"line": line.decode("utf-8", errors="replace")})
                    row += 1
                    continue
                yielded = True
                yield _dolma_doc(spec, row, record)
                row += 1
        except Exception as exc:  # truncated or corrupt compressed stream
            yielded = True
            yield self.failure(spec, row, f"line{row}", exc)
        finally:
            stream.close()
        if not yielded and spec.slice == 0:
            yield self.failure(spec, 0, "file",
                               EmptyInput(f"{spec.path}: no record (the file is empty or holds only blank lines)"))


def _dolma_doc(spec: ShardSpec, row: int, record: dict[str, Any]) -> Doc:
    metadata = record.get("metadata")
    url = record.get("url")
    if url is None and isinstance(metadata, dict):
        url = metadata.get("url")
    passthrough = {key: record[key] for key in sorted(record) if key not in ("id", "text", "url")}
    raw_id = record.get("id")
    return Doc(shard=spec.name, row=row, id=str(raw_id) if raw_id is not None else f"{spec.name}/{row}",
               url=str(url) if url is not None else None, text=record.get("text") or "", passthrough=passthrough)
