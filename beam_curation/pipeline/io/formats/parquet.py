"""Parquet: one document a row, from a `text` or an `html` column; every other column passes through typed."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Iterable, Iterator

from beam_curation.pipeline.io.document import Doc, ShardSpec
from beam_curation.pipeline.io.formats.base import EmptyInput, InputFormat, SchemaError, open_path

if TYPE_CHECKING:
    import pyarrow as pa

RESERVED = ("id", "url", "text", "html")  # read into the document; the other columns pass through
BATCH_ROWS = 256


def file_schema(path: str) -> pa.Schema:
    import pyarrow.parquet as pq

    with open_path(path) as handle:
        return pq.ParquetFile(handle).schema_arrow


def check_columns(path: str, schema: pa.Schema) -> None:
    """A `text` or an `html` column, and the reserved columns of a type the reader takes."""
    import pyarrow as pa

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


class Parquet(InputFormat):
    name = "parquet"
    suffixes = (".parquet",)
    label = "Parquet"
    reads = "rows of a text or html column"

    def check_schema(self, path: str) -> None:
        check_columns(path, file_schema(path))

    def passthrough_fields(self, path: str) -> list[pa.Field]:
        try:
            schema = file_schema(path)
        except Exception:  # unreadable footer: the task holds only its read error
            return []
        return [f for f in schema if f.name not in RESERVED]

    def documents(self, spec: ShardSpec, max_text_bytes: int | None = None) -> Iterator[Doc]:
        from dataclasses import replace

        return self.read(replace(spec, slice=0, slices=1), max_text_bytes)

    def read(self, spec: ShardSpec, max_text_bytes: int | None = None) -> Iterator[Doc]:
        """Rows in file order, read row group by row group.

        With slices, a file with at least as many row groups as slices is split by row group (slice k decodes
        only groups k, k + slices, ...); otherwise every slice decodes the file and keeps the rows r with
        r % slices == k, converting only those to Python objects. A row group that cannot be decoded becomes
        one read error at its first unread row and reading goes on with the next group, so one bad page loses
        one group, and the same rows whatever the number of slices.
        """
        import pyarrow.parquet as pq

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
                yield self.failure(spec, 0, "file", exc)
            elif isinstance(exc, OSError):
                # The other slices stay silent about a corrupt file (slice 0 reports it), but an I/O error here
                # may be this slice's alone (a storage hiccup): fail the bundle so the runner retries it, never
                # drop rows.
                raise
            return
        if "text" not in names and "html" not in names:  # not every file's footer is checked at start
            handle.close()
            if spec.slice == 0:
                yield self.failure(spec, 0, "file", SchemaError(f"{spec.path}: no 'text' or 'html' column"))
            return
        if not sum(sizes):
            handle.close()
            if spec.slice == 0:
                yield self.failure(spec, 0, "file", EmptyInput(f"{spec.path}: a Parquet file with no rows"))
            return
        extra = [n for n in names if n not in RESERVED]
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
                        docs = list(_docs(spec, batch, rows, extra, max_text_bytes))
                        batch = None  # the Arrow copy of the texts is not kept while the documents are worked on
                        yield from docs
                        row += n
                except Exception as exc:  # a corrupt page: the rest of this row group cannot be trusted
                    if by_group or row % spec.slices == spec.slice:
                        yield self.failure(spec, row, f"row{row}", exc)
        finally:
            handle.close()


class NotUtf8(ValueError):
    """A string value that is not UTF-8 (Parquet does not check): the row is a read error keeping its bytes."""


UNREADABLE = object()  # a nested value that cannot be converted (a list of strings not UTF-8): the row's location


def _docs(spec: ShardSpec, batch: pa.RecordBatch, rows: Iterable[int], extra: list[str],
          max_text_bytes: int | None = None) -> Iterator[Doc]:
    """The batch's rows as documents. A row whose text is over `max_text_bytes` is a read error found from the
    column's byte lengths (its text is never made a Python string); a row with a string that is not UTF-8 is
    one too, keeping the original bytes, and the batch's other rows are read."""
    import pyarrow as pa
    import pyarrow.compute as pc

    oversize: dict[int, int] = {}
    if max_text_bytes is not None and "text" in batch.schema.names:
        sizes = pc.binary_length(batch.column("text"))
        over = pc.greater(sizes, max_text_bytes).fill_null(False)
        if pc.any(over).as_py():
            oversize = {i: sizes[i].as_py() for i in pc.indices_nonzero(over).to_pylist()}
            text = batch.column("text")
            batch = batch.set_column(batch.schema.get_field_index("text"), "text",
                                     pc.if_else(over, pa.scalar(None, text.type), text))
    columns, bad = {}, {}
    for name in batch.schema.names:
        columns[name], bad[name] = _values(batch.column(name))
    for i, row in enumerate(rows):
        raw_id = columns["id"][i] if "id" in columns else None
        doc_id = f"{spec.name}/{row}" if raw_id is None or i in bad.get("id", ()) else str(raw_id)
        url = columns["url"][i] if "url" in columns and i not in bad["url"] else None
        if i in oversize:
            yield Parquet.too_large(spec, row, f"row{row}", oversize[i], max_text_bytes, doc_id=doc_id, url=url)
            continue
        undecodable = [name for name in batch.schema.names if i in bad[name]]
        if undecodable:
            yield _undecodable(spec, row, i, columns, undecodable, extra, doc_id)
            continue
        doc = Doc(shard=spec.name, row=row, id=doc_id, url=url, passthrough={n: columns[n][i] for n in extra})
        if "html" in columns and columns["html"][i] is not None:
            doc.html = columns["html"][i]
            if "text" in columns:
                doc.text = columns["text"][i]
        else:
            doc.text = columns["text"][i] if "text" in columns else None
            if doc.text is None:
                doc.text = ""
        yield doc


def _values(column: pa.Array) -> tuple[list, set[int]]:
    """A column's values as Python objects, and the rows whose value could not be converted: a string that is
    not UTF-8 is given as its bytes, a nested value holding one as `UNREADABLE`."""
    import pyarrow as pa

    try:
        return column.to_pylist(), set()
    except UnicodeDecodeError:
        pass
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        raw = column.view(pa.large_binary() if pa.types.is_large_string(column.type) else pa.binary()).to_pylist()
        values, bad = [], set()
        for i, value in enumerate(raw):
            try:
                values.append(value.decode("utf-8") if value is not None else None)
            except UnicodeDecodeError:
                values.append(value)
                bad.add(i)
        return values, bad
    values, bad = [], set()
    for i in range(len(column)):
        try:
            values.append(column[i].as_py())
        except UnicodeDecodeError:
            values.append(UNREADABLE)
            bad.add(i)
    return values, bad


def _undecodable(spec: ShardSpec, row: int, i: int, columns: dict[str, list], names: list[str],
                 extra: list[str], doc_id: str) -> Doc:
    """A row with a string that is not UTF-8: a read error whose record is the row as `raw_record` gives it,
    the undecodable strings as their bytes (or the row's location, for a nested value)."""
    values = {name: column[i] for name, column in columns.items()}
    if any(v is UNREADABLE for v in values.values()):
        record = {"path": spec.path, "position": f"row{row}"}
    else:
        record = {k: values[k] for k in ("id", "url") if values.get(k) is not None}
        if values.get("html") is not None:
            record["html"] = values["html"]
        elif values.get("text") is not None:
            record["text"] = values["text"]
        record.update({n: values[n] for n in extra})
    doc = Parquet.failure(spec, row, f"row{row}",
                          NotUtf8(f"column {', '.join(repr(n) for n in names)} of row {row} is not valid UTF-8"), record)
    doc.id = doc_id
    return doc
