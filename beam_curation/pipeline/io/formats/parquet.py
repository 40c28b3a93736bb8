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

    def documents(self, spec: ShardSpec) -> Iterator[Doc]:
        from dataclasses import replace

        return self.read(replace(spec, slice=0, slices=1))

    def read(self, spec: ShardSpec) -> Iterator[Doc]:
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
                        yield from _docs(spec, batch, rows, extra)
                        row += n
                except Exception as exc:  # a corrupt page: the rest of this row group cannot be trusted
                    if by_group or row % spec.slices == spec.slice:
                        yield self.failure(spec, row, f"row{row}", exc)
        finally:
            handle.close()


def _docs(spec: ShardSpec, batch: pa.RecordBatch, rows: Iterable[int], extra: list[str]) -> Iterator[Doc]:
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
