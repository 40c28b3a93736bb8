"""Dolma JSONL: one JSON object a line (plain, gzip or zstd), its `text` the document; every other key passes
through as parsed (objects and arrays too: they become typed columns, beam_curation.pipeline.io.passthrough).

What errors/ keeps of a line that is not a record is the line itself: as text when it is UTF-8, else its bytes
(`{"$base64": ...}` in errors/), so written back it is the same bytes and the same read error. A compressed
file that cannot be decompressed is one read error (or its good records and one error for the rest), never a
read error for each line of garbage a broken stream yields; a file in which no line is a JSON object (a gzip
of something else) is one read error too.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import IO, Any, Iterator, Optional

from beam_curation.pipeline.io.document import Doc, ShardSpec
from beam_curation.pipeline.io.formats.base import (BrokenStream, Decompressed, EmptyInput, InputFormat, open_path,
                                                    utf8_size)

DOLMA_FIELDS = ("source", "added", "created", "metadata")  # always output columns, null where a record lacks them
# With a text cap, a line is read whole only up to this: JSON writes a character of text in at most 6 bytes per
# UTF-8 byte (`\u0001` for 0x01), and the other fields get a megabyte. Longer lines are read through in chunks,
# never held, and reported as too large.
ESCAPE_RATIO = 6
FIELDS_SLACK = 1 << 20
CHUNK = 1 << 20


class NotJsonl(ValueError):
    """A file of several lines none of which is a JSON object: not a JSONL file (one read error, not one a line)."""


def open_lines(path: str) -> IO[bytes]:
    """The file's bytes, decompressed by its name (`.gz`, `.zst`); read it by lines (`Decompressed`)."""
    raw = open_path(path)
    lower = path.lower()
    if lower.endswith((".gz", ".zst")):
        return io.BufferedReader(Decompressed(raw, "gzip" if lower.endswith(".gz") else "zstd"), CHUNK)
    return raw


def lines(stream: IO[bytes], limit: Optional[int]) -> Iterator[bytes | int]:
    """The non-blank lines (each with its newline). A line longer than `limit` bytes is read through in chunks
    without being kept, and given as its size (an int). A line is yielded without a reference kept here, so
    the reader can let go of it while the document it holds is worked on."""
    held: list[bytes] = []
    while line := stream.readline(limit + 1) if limit is not None else stream.readline():
        if limit is None or len(line) <= limit or line.endswith(b"\n"):
            if line.strip():
                held.append(line)
                line = b""
                yield held.pop()
            continue
        size = len(line)
        while not line.endswith(b"\n") and (line := stream.readline(CHUNK)):
            size += len(line)
        yield size


def line_record(line: bytes) -> dict[str, Any]:
    """What errors/ keeps of a line that is not a record: the line as text when it is UTF-8, else its bytes."""
    try:
        return {"line": line.decode("utf-8")}
    except UnicodeDecodeError:
        return {"line": line}


@dataclass(frozen=True)
class _Survey:
    """A second read of a file, made once, when a line fails: does the stream decompress to its end, does any
    line hold a JSON object, how many lines are there."""

    broken: Optional[BrokenStream]
    has_object: bool
    lines: int


class Jsonl(InputFormat):
    name = "jsonl"
    suffixes = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".json.gz", ".json.zst", ".json")
    label = "JSONL"
    reads = "Dolma records, one a line"
    varying_columns = True
    always_columns = DOLMA_FIELDS

    def documents(self, spec: ShardSpec, max_text_bytes: int | None = None) -> Iterator[Doc]:
        """One document a non-blank line; a line that is not a JSON object (with a string `text`) is a read
        error holding the line, a record whose text is over `max_text_bytes` a read error holding where it is.
        The first line that fails in a compressed file (in a plain one: a first line that fails) makes the
        file be read once more (`_survey`): if the stream does not decompress to its end, that line and the
        rest are one read error; if no line at all is a JSON object (and there is more than one), the file is.
        A file with no line at all is one read error (from the first slice)."""
        limit = None if max_text_bytes is None else ESCAPE_RATIO * max_text_bytes + FIELDS_SLACK
        compressed = spec.path.lower().endswith((".gz", ".zst"))
        row = 0
        yielded = surveyed = False
        try:
            stream = open_lines(spec.path)
        except Exception as exc:
            yield self.failure(spec, 0, "file", exc)
            return
        try:
            for line in lines(stream, limit):
                yielded = True
                if isinstance(line, int):
                    yield self.too_large(spec, row, f"line{row}", line, max_text_bytes, what="line")
                    row += 1
                    continue
                doc = self._parse(spec, row, line, max_text_bytes)
                if doc.error is not None and not surveyed and (compressed or row == 0):
                    surveyed = True
                    survey = self._survey(spec.path, compressed, limit, row == 0)
                    if survey.broken is not None:
                        yield self.not_decompressible(spec, row, "line", survey.broken)
                        return
                    if row == 0 and not survey.has_object and survey.lines > 1:
                        yield self.failure(spec, 0, "file", NotJsonl(
                            f"{spec.path}: none of its {survey.lines} lines is a JSON object, not a JSONL file "
                            f"(the first: {doc.error})"))
                        return
                line = None  # not kept while the document is worked on: a large text is not held twice
                yield doc
                row += 1
        except BrokenStream as exc:  # a truncated or corrupt compressed stream: the rest is one read error
            yielded = True
            yield self.not_decompressible(spec, row, "line", exc)
        except Exception as exc:  # the storage failed mid-file
            yielded = True
            yield self.failure(spec, row, f"line{row}", exc)
        finally:
            stream.close()
        if not yielded and spec.slice == 0:
            yield self.failure(spec, 0, "file",
                               EmptyInput(f"{spec.path}: no record (the file is empty or holds only blank lines)"))

    def _parse(self, spec: ShardSpec, row: int, line: bytes, max_text_bytes: int | None) -> Doc:
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("a JSONL line must hold an object")
            text = record.get("text")
            if text is not None and not isinstance(text, str):
                raise ValueError("'text' must be a string")
            if _may_hold_surrogate(line) and not _encodable(record):
                raise ValueError("a string holds a lone surrogate (a \\ud800-\\udfff escape not in a pair): not text")
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            return self.failure(spec, row, f"line{row}", exc, line_record(line))
        doc = _dolma_doc(spec, row, record)
        # the text is never longer in UTF-8 than the line it was read from: measured only when the line is
        if max_text_bytes is not None and len(line) > max_text_bytes:
            size = utf8_size(doc.text)
            if size > max_text_bytes:
                return self.too_large(spec, row, f"line{row}", size, max_text_bytes, doc_id=doc.id, url=doc.url)
        return doc

    @staticmethod
    def _survey(path: str, compressed: bool, limit: Optional[int], objects: bool) -> _Survey:
        """Read the file again to its end: whether it decompresses, whether (when `objects`) any line is a JSON
        object, how many lines it has. Nothing is kept but the answers."""
        has_object, count = not objects, 0
        try:
            with open_lines(path) as stream:
                for line in lines(stream, limit):
                    count += 1
                    if not has_object and (isinstance(line, int) or _is_object(line)):
                        has_object = True
                    if has_object and not compressed and count > 1:
                        break
        except BrokenStream as exc:
            return _Survey(exc, has_object, count)
        return _Survey(None, has_object, count)


def _may_hold_surrogate(line: bytes) -> bool:
    """Whether a line may hold a lone surrogate: a \\ud800-\\udfff escape, or its bytes (json reads them with
    surrogatepass). Byte searches, so that only such lines have their strings checked."""
    return b"\xed" in line or (b"\\u" in line and (b"\\ud" in line or b"\\uD" in line))


def _encodable(value: Any) -> bool:
    """Every string in a parsed record is UTF-8 text (json reads a lone surrogate escape, which is not, and
    which no Parquet file can hold)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_encodable(k) and _encodable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_encodable(v) for v in value)
    return True


def _is_object(line: bytes) -> bool:
    if not line.lstrip().startswith(b"{"):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return False


def _dolma_doc(spec: ShardSpec, row: int, record: dict[str, Any]) -> Doc:
    metadata = record.get("metadata")
    url = record.get("url")
    if url is None and isinstance(metadata, dict):
        url = metadata.get("url")
    passthrough = {key: record[key] for key in sorted(record) if key not in ("id", "text", "url")}
    raw_id = record.get("id")
    return Doc(shard=spec.name, row=row, id=str(raw_id) if raw_id is not None else f"{spec.name}/{row}",
               url=str(url) if url is not None else None, text=record.get("text") or "", passthrough=passthrough)
