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

from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, ClassVar, Iterator

from beam_curation.pipeline.io.document import Doc, ShardSpec

if TYPE_CHECKING:
    import pyarrow as pa


class SchemaError(ValueError):
    """An input shard lacks what the pipeline needs; reported before any work starts."""


class EmptyInput(ValueError):
    """An input file that holds no document: reported as a read error naming it."""


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

    def documents(self, spec: ShardSpec) -> Iterator[Doc]:
        """Every document of the file, failures included, in file order, numbered by `row`."""
        raise NotImplementedError

    def read(self, spec: ShardSpec) -> Iterator[Doc]:
        """The task's documents in file order: with slices, only this slice's rows (failures included, once).
        By default the file is read whole and the rows r with r % slices == slice kept."""
        for doc in self.documents(spec):
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
