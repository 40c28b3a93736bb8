"""WARC and WET: one reader, the records say what is HTML (a `response`, to be extracted) and what is text
(a `text/plain` `conversion`, Common Crawl's WET, taken as it is). The two formats differ only in name: an
explicit `input.format` of either follows each file's name (one family), and a WET shard keeps `.wet` in its
name so a crawl file's WARC and WET are two shards. WAT files (metadata only) are refused."""

from __future__ import annotations

import codecs
import io
from collections import Counter
from typing import IO, TYPE_CHECKING, Any, Iterator

from beam_curation.filters.text.html_decode import charset_from_content_type
from beam_curation.pipeline.io.document import Doc, ShardSpec
from beam_curation.pipeline.io.formats.base import (GZIP_MAGIC, BrokenStream, Decompressed, EmptyInput, InputFormat,
                                                    Refused, open_path)

if TYPE_CHECKING:
    import pyarrow as pa

PASSTHROUGH = ("warc_date",)
HTML_TYPES = ("text/html", "application/xhtml+xml")
# Common Crawl's derived files: WET holds the text of each page (conversion records), WAT only metadata.
WET_SUFFIXES = (".warc.wet.gz", ".warc.wet", ".wet.gz", ".wet")
WAT_SUFFIXES = (".warc.wat.gz", ".warc.wat", ".wat.gz", ".wat")
WAT = Refused(WAT_SUFFIXES, "WAT, metadata only",
              "a WAT file holds metadata about pages, not their content; use the WARC (.warc.gz) or WET "
              "(.warc.wet.gz) files")


class Warc(InputFormat):
    name = "warc"
    suffixes = (".warc", ".warc.gz", ".arc.gz")
    label = "WARC"
    reads = "HTML response records, extracted"
    family = "warc"
    refuses = (WAT,)

    def passthrough_fields(self, path: str) -> list[pa.Field]:
        import pyarrow as pa

        return [pa.field(name, pa.string()) for name in PASSTHROUGH]

    def documents(self, spec: ShardSpec, max_text_bytes: int | None = None) -> Iterator[Doc]:
        """The page records in file order: HTML `response` records (to be extracted) and `text/plain`
        `conversion` records (taken as they are: no extraction; one whose content is over `max_text_bytes` is
        a read error, its content never read). A file with neither becomes one read error that counts what it
        held, so a WAT or a request-only WARC is not silence. A record that cannot be read ends the file with
        one read error for the rest; when the file is gzip that does not decompress, the error says so."""
        from warcio.archiveiterator import ArchiveIterator

        row = 0
        seen: Counter[str] = Counter()
        try:
            stream = open_path(spec.path)
        except Exception as exc:
            yield self.failure(spec, 0, "file", exc)
            return
        try:
            source, gzipped = warc_bytes(stream)
            records = ArchiveIterator(source, no_record_parse=False, arc2warc=True)
            for record in records:
                kind = _page_kind(record)
                seen[kind or _skipped_kind(record)] += 1
                if kind is None:
                    continue
                headers = record.rec_headers
                record_id, url = headers.get_header("WARC-Record-ID"), headers.get_header("WARC-Target-URI")
                if kind == "text" and max_text_bytes is not None and (record.length or 0) > max_text_bytes:
                    yield self.too_large(spec, row, f"record{row}", record.length, max_text_bytes,
                                         doc_id=record_id or f"{spec.name}/{row}", url=url)
                    row += 1
                    continue  # the iterator reads through the unread content to the next record
                try:
                    body = record.content_stream().read()
                    missing = getattr(record.raw_stream, "limit", 0)
                    if missing:
                        raise EOFError(f"record truncated: {missing} of {record.length} bytes missing")
                except Exception as exc:  # a truncated record body
                    yield self._unreadable(spec, row, exc, {"path": spec.path, "record": row,
                                                            "warc_record_id": record_id}, gzipped)
                    return
                doc = Doc(shard=spec.name, row=row, id=record_id or f"{spec.name}/{row}", url=url,
                          passthrough={"warc_date": headers.get_header("WARC-Date")})
                if kind == "html":
                    content_type = record.http_headers.get_header("Content-Type") or ""
                    doc.html, doc.charset = body, charset_from_content_type(content_type)
                else:
                    doc.text, lossless = _plain_text(body, headers.get_header("Content-Type"))
                    if not lossless:
                        doc.raw_text = body
                yield doc
                row += 1
        except Exception as exc:  # truncated gzip member or a garbled record header
            yield self._unreadable(spec, row, exc, {"path": spec.path, "record": row}, gzipped)
            return
        finally:
            stream.close()
        if not row and spec.slice == 0:
            yield self.failure(spec, 0, "file", EmptyInput(_no_pages(spec.path, seen)))

    def raw_record(self, doc: Doc) -> dict[str, Any]:
        """As read: a conversion record whose content was not text in its charset keeps the content's bytes."""
        record = super().raw_record(doc)
        if doc.raw_input is None and doc.raw_text is not None and "text" in record:
            record["text"] = doc.raw_text
        return record

    def _unreadable(self, spec: ShardSpec, row: int, exc: BaseException, record: dict[str, Any],
                    gzipped: bool) -> Doc:
        """The read error for the rest of a file, from page record `row` on; one saying so when it is gzip that
        does not decompress."""
        if isinstance(exc, BrokenStream):
            return self.not_decompressible(spec, row, "record", exc, record)
        if not row and not gzipped and spec.path.lower().endswith(".gz"):  # named gzip, neither gzip nor WARC
            return self.not_decompressible(spec, row, "record", BrokenStream(f"not gzip; read as is: {exc}"), record)
        return self.failure(spec, row, f"record{row}", exc, record)


def warc_bytes(stream: IO[bytes]) -> tuple[IO[bytes], bool]:
    """The WARC records' bytes, and whether the file is gzip: gzip (known by its first bytes, whatever the
    name) decompressed here rather than by warcio, which writes decompression errors to stderr and takes a
    truncated member for the end of the file; anything else as it is (warcio reads plain WARC and ARC)."""
    if not hasattr(stream, "peek"):
        stream = io.BufferedReader(stream)
    if stream.peek(2)[:2] != GZIP_MAGIC:
        return stream, False
    return Decompressed(stream, "gzip"), True


class Wet(Warc):
    name = "wet"
    suffixes = WET_SUFFIXES
    label = "WET"
    reads = "conversion records, as text"

    def shard_stem(self, base: str, suffix: str) -> str:
        stem = super().shard_stem(base, suffix)
        return f"{stem}.wet" if stem != base else stem


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


def _plain_text(body: bytes, content_type: str | None) -> tuple[str, bool]:
    """A conversion record's text: its declared charset, else UTF-8 (Common Crawl writes WET as UTF-8); a
    stray invalid byte becomes U+FFFD rather than costing the page. And whether the decoding was lossless."""
    label = charset_from_content_type(content_type) or "utf-8"
    try:
        codecs.lookup(label)
    except LookupError:
        label = "utf-8"
    try:
        return body.decode(label), True
    except UnicodeDecodeError:
        return body.decode(label, errors="replace"), False


def _no_pages(path: str, seen: Counter[str]) -> str:
    held = ", ".join(f"{n} {kind}" for kind, n in sorted(seen.items()))
    held = f"its records: {held}" if held else "no WARC record at all (the file is empty)"
    hint = ""
    if seen.get("metadata") and not seen.get("request"):
        hint = "; this looks like a WAT file, which holds metadata, not page content: use the WARC or WET files"
    return f"{path}: no page record (HTML response or text/plain conversion); {held}{hint}"
