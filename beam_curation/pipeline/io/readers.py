"""Streaming readers for Parquet, Dolma JSONL and WARC / WET shards.

Each reader yields `Doc`s in file order and never loads a shard whole. What cannot be read (a corrupt footer,
a truncated gzip member, a line that is not JSON) becomes a `Doc` failed at stage `read`, carrying what could
be recovered, so it lands in errors/ and the input count stays whole. A file that holds no document at all
(0 bytes, a gzip of nothing, a WARC without page records) is one such failure too, never silently nothing.
Files are opened through Beam's FileSystems, so the same code reads local paths, gs://, s3:// and hdfs://.
"""

from __future__ import annotations

import codecs
import gzip
import io
import itertools
import json
import logging
from collections import Counter
from typing import IO, Any, Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from beam_curation.filters.text.html_decode import charset_from_content_type
from beam_curation.pipeline.io.document import Doc, ShardSpec

log = logging.getLogger(__name__)

PARQUET_RESERVED = ("id", "url", "text", "html")
DOLMA_FIELDS = ("source", "added", "created", "metadata")
WARC_PASSTHROUGH = ("warc_date",)
HTML_TYPES = ("text/html", "application/xhtml+xml")
BATCH_ROWS = 256
# Common Crawl's derived files: WET holds the text of each page (conversion records), WAT only metadata.
WET_SUFFIXES = (".warc.wet.gz", ".warc.wet", ".wet.gz", ".wet")
WAT_SUFFIXES = (".warc.wat.gz", ".warc.wat", ".wat.gz", ".wat")
WARC_FAMILY = ("warc", "wet")  # one reader: the records say what is HTML (response) and what is text (conversion)
NAMED_FORMATS = {
    "parquet": (".parquet",),
    "wet": WET_SUFFIXES,
    "warc": (".warc", ".warc.gz", ".arc.gz"),
    "jsonl": (".jsonl", ".jsonl.gz", ".jsonl.zst", ".json.gz", ".json.zst", ".json"),
}


class SchemaError(ValueError):
    """An input shard lacks what the pipeline needs; reported before any work starts."""


class EmptyInput(ValueError):
    """An input file that holds no document: reported as a read error naming it."""


def is_wat(path: str) -> bool:
    return path.lower().endswith(WAT_SUFFIXES)


def format_by_name(path: str) -> str | None:
    """The input format a file's name tells (WET before WARC: `.warc.wet.gz`), or None."""
    lower = path.lower()
    for fmt, suffixes in NAMED_FORMATS.items():
        if lower.endswith(suffixes):
            return fmt
    return None


def open_path(path: str) -> IO[bytes]:
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.open(path, compression_type="uncompressed")


def read_shard(spec: ShardSpec) -> Iterator[Doc]:
    """The shard's documents in file order; with slices, only this slice's rows (failures included, once).
    Parquet slices itself (by row group where it can); the other formats are read whole and filtered by row."""
    if spec.format == "parquet":  # slices itself, by row group where it can
        yield from read_parquet(spec)
        return
    reader = read_jsonl if spec.format == "jsonl" else read_warc
    read = 0
    for doc in reader(spec):
        read += 1
        if doc.row % spec.slices == spec.slice:
            yield doc
    if not read and spec.slice == 0:  # the WARC reader says why itself; this is JSONL with no record
        yield _read_failure(spec, 0, "file", EmptyInput(f"{spec.path}: no record (the file is empty or holds only blank lines)"))


def _read_failure(spec: ShardSpec, row: int, where: str, exc: BaseException, record: dict | None = None) -> Doc:
    doc = Doc(shard=spec.name, row=row, id=f"{spec.name}/{where}")
    doc.raw_input = record or {"path": spec.path, "position": where}
    doc.fail("read", exc)
    return doc


# ---------------------------------------------------------------------------------------------------------
# Parquet

def parquet_schema(path: str) -> pa.Schema:
    with open_path(path) as handle:
        return pq.ParquetFile(handle).schema_arrow


def check_parquet_schema(path: str, schema: pa.Schema) -> None:
    names = set(schema.names)
    if "text" not in names and "html" not in names:
        raise SchemaError(f"{path}: no 'text' or 'html' column (columns: {', '.join(schema.names) or 'none'})")
    for column in ("text", "html", "id", "url"):
        if column in names:
            tp = schema.field(column).type
            ok = pa.types.is_string(tp) or pa.types.is_large_string(tp)
            if column == "html":
                ok = ok or pa.types.is_binary(tp) or pa.types.is_large_binary(tp)
            if column == "id" and not ok:
                ok = pa.types.is_integer(tp)
            if not ok:
                raise SchemaError(f"{path}: column '{column}' has type {tp}, expected string"
                                  + (" or binary" if column == "html" else ""))


def passthrough_fields(schema: pa.Schema) -> list[pa.Field]:
    return [f for f in schema if f.name not in PARQUET_RESERVED]


def read_parquet(spec: ShardSpec) -> Iterator[Doc]:
    """Rows in file order, read row group by row group.

    With slices, a file with at least as many row groups as slices is split by row group (slice k decodes only
    groups k, k + slices, ...); otherwise every slice decodes the file and keeps the rows r with
    r % slices == k, converting only those to Python objects. A row group that cannot be decoded becomes one
    read error at its first unread row and reading goes on with the next group, so one bad page loses one
    group, and the same rows whatever the number of slices.
    """
    handle = None
    try:
        handle = open_path(spec.path)
        parquet = pq.ParquetFile(handle)
        names = parquet.schema_arrow.names
        sizes = [parquet.metadata.row_group(g).num_rows for g in range(parquet.num_row_groups)]
    except Exception as exc:  # corrupt footer or unreadable file: one error for the shard (from its first slice)
        if handle is not None:
            handle.close()
        if spec.slice == 0:
            yield _read_failure(spec, 0, "file", exc)
        elif isinstance(exc, OSError):
            # The other slices stay silent about a corrupt file (slice 0 reports it), but an I/O error here may
            # be this slice's alone (a storage hiccup): fail the bundle so the runner retries it, never drop rows.
            raise
        return
    if "text" not in names and "html" not in names:  # not every file's footer is checked at start
        handle.close()
        if spec.slice == 0:
            yield _read_failure(spec, 0, "file", SchemaError(f"{spec.path}: no 'text' or 'html' column"))
        return
    if not sum(sizes):
        handle.close()
        if spec.slice == 0:
            yield _read_failure(spec, 0, "file", EmptyInput(f"{spec.path}: a Parquet file with no rows"))
        return
    extra = [n for n in names if n not in PARQUET_RESERVED]
    by_group = spec.slices > 1 and len(sizes) >= spec.slices
    starts = [0, *itertools.accumulate(sizes)][:-1]
    try:
        for group, start in enumerate(starts):
            if by_group and group % spec.slices != spec.slice:
                continue
            row = start
            try:
                for batch in parquet.iter_batches(batch_size=BATCH_ROWS, row_groups=[group]):
                    n = batch.num_rows
                    if spec.slices > 1 and not by_group:
                        keep = [i for i in range(n) if (row + i) % spec.slices == spec.slice]
                        rows = [row + i for i in keep]
                        batch = batch.take(keep)
                    else:
                        rows = range(row, row + n)
                    yield from _parquet_docs(spec, batch, rows, extra)
                    row += n
            except Exception as exc:  # a corrupt page: the rest of this row group cannot be trusted
                if by_group or row % spec.slices == spec.slice:
                    yield _read_failure(spec, row, f"row{row}", exc)
    finally:
        handle.close()


def _parquet_docs(spec: ShardSpec, batch: pa.RecordBatch, rows: Iterable[int], extra: list[str]) -> Iterator[Doc]:
    columns = {name: batch.column(name).to_pylist() for name in batch.schema.names}
    for i, row in enumerate(rows):
        raw_id = columns["id"][i] if "id" in columns else None
        doc = Doc(shard=spec.name, row=row, id=str(raw_id) if raw_id is not None else f"{spec.name}/{row}",
                  url=columns["url"][i] if "url" in columns else None,
                  passthrough={n: columns[n][i] for n in extra})
        if "html" in columns and columns["html"][i] is not None:
            doc.html = columns["html"][i]
            if "text" in columns:
                doc.text = columns["text"][i]
        else:
            doc.text = columns["text"][i] if "text" in columns else None
            if doc.text is None:
                doc.text = ""
        yield doc


# ---------------------------------------------------------------------------------------------------------
# Dolma JSONL

def _open_text_lines(spec: ShardSpec) -> IO[bytes]:
    raw = open_path(spec.path)
    lower = spec.path.lower()
    if lower.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw)
    if lower.endswith(".zst"):
        import zstandard

        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, closefd=True))
    return raw


def read_jsonl(spec: ShardSpec) -> Iterator[Doc]:
    row = 0
    try:
        stream = _open_text_lines(spec)
    except Exception as exc:
        yield _read_failure(spec, 0, "file", exc)
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
                yield _read_failure(spec, row, f"line{row}", exc,
                                    {"line": line.decode("utf-8", errors="replace")})
                row += 1
                continue
            yield _dolma_doc(spec, row, record)
            row += 1
    except Exception as exc:  # truncated or corrupt compressed stream
        yield _read_failure(spec, row, f"line{row}", exc)
    finally:
        stream.close()


def _dolma_doc(spec: ShardSpec, row: int, record: dict[str, Any]) -> Doc:
    metadata = record.get("metadata")
    url = record.get("url")
    if url is None and isinstance(metadata, dict):
        url = metadata.get("url")
    # Values as parsed (objects and arrays too): they become typed columns (beam_curation.pipeline.io.passthrough).
    passthrough = {key: record[key] for key in sorted(record) if key not in ("id", "text", "url")}
    raw_id = record.get("id")
    return Doc(shard=spec.name, row=row, id=str(raw_id) if raw_id is not None else f"{spec.name}/{row}",
               url=str(url) if url is not None else None, text=record.get("text") or "", passthrough=passthrough)


# ---------------------------------------------------------------------------------------------------------
# WARC and WET

def read_warc(spec: ShardSpec) -> Iterator[Doc]:
    """The page records of a WARC or WET file in file order: HTML `response` records (to be extracted) and
    `text/plain` `conversion` records (Common Crawl's WET text, taken as it is: no extraction). A file with
    neither becomes one read error that counts what it held, so a WAT or a request-only WARC is not silence."""
    from warcio.archiveiterator import ArchiveIterator

    row = 0
    seen: Counter[str] = Counter()
    try:
        stream = open_path(spec.path)
    except Exception as exc:
        yield _read_failure(spec, 0, "file", exc)
        return
    try:
        records = ArchiveIterator(stream, no_record_parse=False, arc2warc=True)
        for record in records:
            kind = _page_kind(record)
            seen[kind or _skipped_kind(record)] += 1
            if kind is None:
                continue
            headers = record.rec_headers
            try:
                body = record.content_stream().read()
                missing = getattr(record.raw_stream, "limit", 0)
                if missing:
                    raise EOFError(f"record truncated: {missing} of {record.length} bytes missing")
            except Exception as exc:  # a truncated record body
                yield _read_failure(spec, row, f"record{row}", exc,
                                    {"path": spec.path, "record": row,
                                     "warc_record_id": headers.get_header("WARC-Record-ID")})
                row += 1
                return
            doc = Doc(shard=spec.name, row=row, id=headers.get_header("WARC-Record-ID") or f"{spec.name}/{row}",
                      url=headers.get_header("WARC-Target-URI"),
                      passthrough={"warc_date": headers.get_header("WARC-Date")})
            if kind == "html":
                content_type = record.http_headers.get_header("Content-Type") or ""
                doc.html, doc.charset = body, charset_from_content_type(content_type)
            else:
                doc.text = _plain_text(body, headers.get_header("Content-Type"))
            yield doc
            row += 1
    except Exception as exc:  # truncated gzip member or a garbled record header
        yield _read_failure(spec, row, f"record{row}", exc, {"path": spec.path, "record": row})
        return
    finally:
        stream.close()
    if not row and spec.slice == 0:
        yield _read_failure(spec, 0, "file", EmptyInput(_no_pages(spec.path, seen)))


def _page_kind(record: Any) -> str | None:
    """What a record gives: `html` (an HTML response), `text` (a plain-text conversion) or None."""
    if record.rec_type == "response" and record.http_headers is not None:
        content_type = record.http_headers.get_header("Content-Type") or ""
        return "html" if content_type.lower().split(";")[0].strip() in HTML_TYPES else None
    if record.rec_type == "conversion":
        content_type = (record.rec_headers.get_header("Content-Type") or "text/plain").lower()
        return "text" if content_type.split(";")[0].strip() == "text/plain" else None
    return None


def _skipped_kind(record: Any) -> str:
    if record.rec_type == "response":
        return "non-HTML response"
    if record.rec_type == "conversion":
        return "non-text conversion"
    return record.rec_type


def _plain_text(body: bytes, content_type: str | None) -> str:
    """A conversion record's text: its declared charset, else UTF-8 (Common Crawl writes WET as UTF-8); a
    stray invalid byte becomes U+FFFD rather than costing the page."""
    label = charset_from_content_type(content_type) or "utf-8"
    try:
        codecs.lookup(label)
    except LookupError:
        label = "utf-8"
    return body.decode(label, errors="replace")


def _no_pages(path: str, seen: Counter[str]) -> str:
    held = ", ".join(f"{n} {kind}" for kind, n in sorted(seen.items()))
    held = f"its records: {held}" if held else "no WARC record at all (the file is empty)"
    hint = ""
    if seen.get("metadata") and not seen.get("request"):
        hint = "; this looks like a WAT file, which holds metadata, not page content: use the WARC or WET files"
    return f"{path}: no page record (HTML response or text/plain conversion); {held}{hint}"
