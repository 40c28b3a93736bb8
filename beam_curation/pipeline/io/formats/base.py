"""The interface every input format implements (`InputFormat`), and what readers share.

A reader yields `Doc`s in file order and never loads a shard whole. What cannot be read (a corrupt footer,
a truncated gzip member, a line that is not JSON) becomes a `Doc` failed at stage `read`, carrying what could
be recovered as its raw record, so it lands in errors/ and the input count stays whole. A file that holds no
document at all (0 bytes, a gzip of nothing, a WARC without page records) is one such failure too, never
silently nothing. Files are opened through Beam's FileSystems, so the same code reads local paths, gs://,
s3:// and hdfs://. Module imports stay light (pyarrow, warcio and zstandard are imported when a file is read):
the registry is read by the config at load.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, ClassVar, Iterator, Optional

from beam_curation.pipeline.io.document import Doc, ShardSpec

if TYPE_CHECKING:
    import pyarrow as pa


class SchemaError(ValueError):
    """An input shard lacks what the pipeline needs; reported before any work starts."""


class EmptyInput(ValueError):
    """An input file that holds no document: reported as a read error naming it."""


class NotDecompressible(ValueError):
    """A compressed input (or its rest, from a record on) that cannot be decompressed: a bad header, a truncated
    or corrupt stream, garbage after its end. One read error for what could not be read, never one per line
    of what a broken stream yields."""


class TextTooLarge(ValueError):
    """A record whose text is larger than `input.max_text_bytes`: refused by the reader before the text is held
    or copied (errors/ keeps where the record is, not its text)."""


class BrokenStream(Exception):
    """Raised by `Decompressed` where its file stops decompressing. Neither a ValueError nor an EOFError, which
    parsers (json, warcio) take for a bad record or the end of the file; readers turn it into one read error,
    `NotDecompressible`, for the rest of the file."""


GZIP_MAGIC = b"\x1f\x8b"
BLOCK = 1 << 16  # compressed bytes fed to a decompressor at a time


class Decompressed(io.RawIOBase):
    """The bytes of a gzip (every member) or zstd (every frame) file, decompressed block by block, raising
    `BrokenStream` where the file stops decompressing: a bad header or checksum, a corrupt block, garbage
    after the last member, or a file that ends inside one (which Python's gzip and zstandard's reader
    report as the end of the file, or not at all). What decompressed before a fault is read before the fault
    is raised, one `readinto` at a time: read through a `BufferedReader`, only `readline` keeps that promise
    (`read(n)` may drop what it gathered when the fault comes), so warcio gets this object itself."""

    def __init__(self, raw: IO[bytes], kind: str):
        self._raw, self._kind = raw, kind
        if kind == "zstd":
            import zstandard

            self._errors: tuple[type[BaseException], ...] = (zstandard.ZstdError,)
            context = zstandard.ZstdDecompressor()
            self._decoder = context.decompressobj
        else:
            self._errors = (zlib.error,)
            self._decoder = lambda: zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._member: Any = None  # the member (frame) being decompressed, None between members
        self._pending, self._offset = b"", 0  # decompressed, and how much of it was read
        self._fault: Optional[BrokenStream] = None
        self._started = False  # a member was started (zero padding after members is allowed, not before)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._offset >= len(self._pending):
            if not self._refill():
                return 0
        size = min(len(buffer), len(self._pending) - self._offset)
        buffer[:size] = memoryview(self._pending)[self._offset:self._offset + size]
        self._offset += size
        return size

    def _refill(self) -> bool:
        """The next block decompressed into `_pending`; False at the end of the file."""
        if self._fault is not None:
            raise self._fault
        block = self._raw.read(BLOCK)
        if not block:
            if self._member is not None:
                raise BrokenStream(f"the file ends inside a {self._kind} member: truncated")
            return False  # the end (of an empty file too: the reader says it holds no record)
        out = []
        try:
            while block:
                if self._member is None:
                    if self._started and not block.strip(b"\0"):  # zero padding after the last member
                        break
                    self._member, self._started = self._decoder(), True
                out.append(self._member.decompress(block))
                block = b""
                if self._member.eof:  # the next member, or garbage, starts in this block
                    block, self._member = self._member.unused_data, None
        except self._errors as exc:
            self._fault = BrokenStream(f"{type(exc).__name__}: {exc}")
        self._pending, self._offset = b"".join(out), 0
        return True

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


def utf8_size(text: str) -> int:
    """The size of `text` in UTF-8 bytes (what `input.max_text_bytes` counts), without encoding it when it is
    ASCII; a lone surrogate (from a JSON escape) counts as 3 bytes."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", errors="surrogatepass"))


@dataclass(frozen=True)
class Refused:
    """Files a format recognises by name but cannot read (Common Crawl's WAT): skipped in a folder, refused
    when named."""

    suffixes: tuple[str, ...]
    label: str  # why a folder listing skips them, in a few words
    why: str  # why a run naming them is refused, and what to use instead


def open_path(path: str) -> IO[bytes]:
    """A file as bytes, through Beam's FileSystems (local, gs://, s3://, hdfs://)."""
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.open(path, compression_type="uncompressed")


class InputFormat:
    """One input format: how its files are named, checked, sliced and read, and what a read record keeps.

    Subclasses set the class attributes and implement `documents`; the other methods have the defaults most
    formats want. One instance per format is registered by name in `beam_curation.pipeline.io.formats`.
    """

    name: ClassVar[str]  # what `input.format` and a shard's `ShardSpec.format` say
    # Lower-case file name endings that tell the format (`input.format: auto`, folders); the longest match wins.
    suffixes: ClassVar[tuple[str, ...]]
    label: ClassVar[str]  # as messages name it: "Parquet", "WET"
    reads: ClassVar[str] = "as documents"  # what a file of it is read as, for messages
    # Formats of one family are files one reader takes: an explicit `input.format` of the family follows each
    # file's name within it (WARC and WET); by default a format is its own family.
    family: ClassVar[str | None] = None
    refuses: ClassVar[tuple[Refused, ...]] = ()
    # Records carry their own keys (JSONL): the passthrough columns are unified from the values read, in no
    # fixed order, and stored as one JSON object a row (beam_curation.pipeline.io.annotations).
    varying_columns: ClassVar[bool] = False
    # Passthrough columns every shard of the format has, null where a record lacks them (Dolma's fields).
    always_columns: ClassVar[tuple[str, ...]] = ()

    def __repr__(self) -> str:
        return f"<input format {self.name}>"

    @property
    def family_name(self) -> str:
        return self.family or self.name

    # --- names ---------------------------------------------------------------------------------------------

    def shard_stem(self, base: str, suffix: str) -> str:
        """The shard name of a file called `base` that ends in `suffix` (one of `suffixes`, any case)."""
        return base[: -len(suffix)] or base

    # --- columns and schema -----------------------------------------------------------------------------------

    def check_schema(self, path: str) -> None:
        """Start-time check of one file: raises SchemaError if it lacks what the pipeline needs; any other
        exception means the file cannot be read (left to the worker, which reports it in errors/)."""

    def passthrough_fields(self, path: str) -> list[pa.Field]:
        """The typed passthrough columns every record of the file carries ([] when the records say: see
        `varying_columns`); [] for a file that cannot be read (its task holds only its read error)."""
        return []

    # --- reading --------------------------------------------------------------------------------------------

    def documents(self, spec: ShardSpec, max_text_bytes: int | None = None) -> Iterator[Doc]:
        """Every document of the file, failures included, in file order, numbered by `row`. A record whose text
        is larger than `max_text_bytes` (None: no cap) is a read error (`too_large`), found before its text is
        held whole where the format allows."""
        raise NotImplementedError

    def read(self, spec: ShardSpec, max_text_bytes: int | None = None) -> Iterator[Doc]:
        """The task's documents in file order: with slices, only this slice's rows (failures included, once).
        By default the file is read whole and the rows r with r % slices == slice kept."""
        for doc in self.documents(spec, max_text_bytes):
            if doc.row % spec.slices == spec.slice:
                yield doc

    def raw_record(self, doc: Doc) -> dict[str, Any]:
        """The input record as read, what errors/ stores (`input`) to replay it: what the reader recovered of
        a record it could not read, else id, url, the HTML or the text, and the passthrough fields."""
        if doc.raw_input is not None:
            return doc.raw_input
        record: dict[str, Any] = {"id": doc.id}
        if doc.url is not None:
            record["url"] = doc.url
        if doc.html is not None:
            record["html"] = doc.html
        elif doc.text is not None:
            record["text"] = doc.text
        record.update(doc.passthrough)
        return record

    @staticmethod
    def failure(spec: ShardSpec, row: int, where: str, exc: BaseException, record: dict | None = None) -> Doc:
        """A document failed at `read`: `where` names it (`file`, `line3`, `record7`), `record` is what could
        be recovered (default: the path and the position)."""
        doc = Doc(shard=spec.name, row=row, id=f"{spec.name}/{where}")
        doc.raw_input = record or {"path": spec.path, "position": where}
        doc.fail("read", exc)
        return doc

    @classmethod
    def too_large(cls, spec: ShardSpec, row: int, where: str, size: int, limit: int, *, doc_id: str | None = None,
                  url: str | None = None, what: str = "text") -> Doc:
        """A record over `input.max_text_bytes`, failed at `read`. errors/ keeps where it is (path, position, its
        id and URL when read, its size), not the text: holding that is what the cap prevents."""
        record: dict[str, Any] = {"path": spec.path, "position": where, "bytes": size}
        if doc_id is not None:
            record["id"] = doc_id
        if url is not None:
            record["url"] = url
        doc = cls.failure(spec, row, where, TextTooLarge(f"{what} of {size} bytes exceeds input.max_text_bytes={limit}"),
                          record)
        doc.id = doc_id if doc_id is not None else doc.id
        doc.url = url
        return doc

    @classmethod
    def not_decompressible(cls, spec: ShardSpec, row: int, unit: str, exc: BrokenStream,
                           record: dict | None = None) -> Doc:
        """The rest of a compressed file, from its `unit` (`line`, `record`) `row` on (the whole file when 0),
        as one read error."""
        where = f"{unit}{row}" if row else "file"
        rest = f"from {unit} {row} on" if row else "the file"
        return cls.failure(spec, row, where, NotDecompressible(f"{spec.path}: {rest} cannot be decompressed ({exc})"),
                           record)
