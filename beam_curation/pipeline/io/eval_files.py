"""Reading evaluation sets (decontamination): the files of a set, cut into pieces that workers read apart.

A set is a ``.jsonl`` / ``.json`` / ``.ndjson`` file (one object a line; ``.gz`` / ``.zst``), a ``.parquet``
or a ``.csv`` file (header row; ``.gz`` / ``.zst``), or a folder written by Hugging Face ``datasets``'
``save_to_disk`` (a ``Dataset``: ``state.json`` + Arrow stream files; a ``DatasetDict``: ``dataset_dict.json``
and one folder per split). :func:`eval_units` cuts a set into :class:`EvalUnit` pieces (uncompressed JSONL by
byte range, Parquet by row groups, other files whole), :func:`read_unit` reads one, each item with an id
unique within the set; :func:`read_eval_texts` streams a whole set's texts. What is done with the texts
(n-grams, indexes, matching) is beam_curation.filters.release.decontamination's.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path
from typing import Iterator, NamedTuple, Optional, Sequence

ITEM_FILE_SHIFT = 40  # an item's id: its file's place in the set << 40 | its position in that file
JSONL_CHUNK_BYTES = 64 << 20  # an uncompressed JSONL file is read in byte ranges of this size


class EvalUnit(NamedTuple):
    """A piece of an evaluation set that one reader takes: a whole file, a byte range ``[start, end)`` of an
    uncompressed JSONL file, or Parquet row groups ``[start, end)``. ``index`` is the file's place in the set."""

    file: str
    index: int
    start: int = 0
    end: Optional[int] = None  # None: to the end of the file


class _EvalFile:
    """One kind of evaluation file: how it is cut into units and how a unit's rows are read."""

    def units(self, file: Path, index: int, chunk_bytes: int) -> list[EvalUnit]:
        return [EvalUnit(str(file), index)]

    def rows(self, unit: EvalUnit, columns: list[str]) -> Iterator[tuple[int, dict]]:
        """``(position, row)``: the line's byte offset (uncompressed JSONL) or the row number in the file."""
        raise NotImplementedError


class _JsonLines(_EvalFile):
    """Uncompressed JSONL: cut in byte ranges, a line belonging to the range its first byte is in."""

    def units(self, file: Path, index: int, chunk_bytes: int) -> list[EvalUnit]:
        size = file.stat().st_size
        return [EvalUnit(str(file), index, start, min(start + chunk_bytes, size))
                for start in range(0, max(size, 1), chunk_bytes)]

    def rows(self, unit: EvalUnit, columns: list[str]) -> Iterator[tuple[int, dict]]:
        with Path(unit.file).open("rb") as f:
            if unit.start > 0:
                f.seek(unit.start - 1)
                f.readline()  # the end of the line that holds byte start-1: the previous range's
            offset = f.tell()
            while unit.end is None or offset < unit.end:
                line = f.readline()
                if not line:
                    return
                if line.strip():
                    yield offset, json.loads(line)
                offset += len(line)


class _CompressedJsonLines(_EvalFile):
    def rows(self, unit: EvalUnit, columns: list[str]) -> Iterator[tuple[int, dict]]:
        with _open_text(Path(unit.file)) as f:
            for number, line in enumerate(f):
                if line.strip():
                    yield number, json.loads(line)


class _Csv(_EvalFile):
    def rows(self, unit: EvalUnit, columns: list[str]) -> Iterator[tuple[int, dict]]:
        path = Path(unit.file)
        with _open_text(path) as f:
            reader = csv.DictReader(f)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise KeyError(f"{path}: no column {missing} (columns: {reader.fieldnames})")
            yield from enumerate(reader)


class _Parquet(_EvalFile):
    """Cut by row groups, as many as make about ``chunk_bytes``."""

    def units(self, file: Path, index: int, chunk_bytes: int) -> list[EvalUnit]:
        import pyarrow.parquet as pq

        units = []
        meta = pq.ParquetFile(file).metadata
        start = size = 0
        for g in range(meta.num_row_groups):
            size += meta.row_group(g).total_byte_size
            if size >= chunk_bytes:
                units.append(EvalUnit(str(file), index, start, g + 1))
                start, size = g + 1, 0
        if start < meta.num_row_groups or not units:
            units.append(EvalUnit(str(file), index, start, meta.num_row_groups))
        return units

    def rows(self, unit: EvalUnit, columns: list[str]) -> Iterator[tuple[int, dict]]:
        import pyarrow.parquet as pq

        path = Path(unit.file)
        pf = pq.ParquetFile(path)
        missing = [c for c in columns if c not in pf.schema_arrow.names]
        if missing:
            raise KeyError(f"{path}: no column {missing} (columns: {pf.schema_arrow.names})")
        end = pf.metadata.num_row_groups if unit.end is None else unit.end
        groups = list(range(unit.start, end))
        number = sum(pf.metadata.row_group(g).num_rows for g in range(unit.start))
        if groups:
            for batch in pf.iter_batches(columns=columns, batch_size=4096, row_groups=groups):
                for row in batch.to_pylist():
                    yield number, row
                    number += 1


class _ArrowStream(_EvalFile):
    """An Arrow stream file of a ``datasets`` save_to_disk folder."""

    def rows(self, unit: EvalUnit, columns: list[str]) -> Iterator[tuple[int, dict]]:
        import pyarrow as pa

        path = Path(unit.file)
        with pa.memory_map(str(path)) as source:
            reader = pa.ipc.open_stream(source)
            missing = [c for c in columns if c not in reader.schema.names]
            if missing:
                raise KeyError(f"{path.parent}: no column {missing} (columns: {reader.schema.names})")
            number = 0
            for batch in reader:
                for row in batch.select(columns).to_pylist():
                    yield number, row
                    number += 1


def _kind(path: Path) -> _EvalFile:
    name = path.name.lower()
    stem = name.removesuffix(".gz").removesuffix(".zst")
    if stem.endswith((".jsonl", ".json", ".ndjson")):
        return _JsonLines() if stem == name else _CompressedJsonLines()
    if stem.endswith(".csv"):
        return _Csv()
    if name.endswith(".parquet"):
        return _Parquet()
    if name.endswith(".arrow"):
        return _ArrowStream()
    raise ValueError(f"{path}: not a .jsonl, .parquet, .csv file or a datasets save_to_disk folder")


def eval_files(path: str | Path, split: str | None = None) -> list[Path]:
    """The files of an evaluation set in row order: the file itself, or a ``datasets`` folder's Arrow files
    (a ``DatasetDict``: every split in order, or only ``split``)."""
    path = Path(path)
    if not path.is_dir():
        _kind(path)
        return [path]
    if (path / "dataset_dict.json").exists():
        splits = json.loads((path / "dataset_dict.json").read_text())["splits"]
        if split is not None:
            if split not in splits:
                raise KeyError(f"{path}: no split {split!r} (splits: {splits})")
            splits = [split]
        return [f for s in splits for f in eval_files(path / s)]
    state_path = path / "state.json"
    if not state_path.exists():
        raise ValueError(f"{path}: a folder, but neither state.json nor dataset_dict.json (datasets save_to_disk)")
    return [path / entry["filename"] for entry in json.loads(state_path.read_text())["_data_files"]]


def eval_units(path: str | Path, split: str | None = None, chunk_bytes: int = JSONL_CHUNK_BYTES) -> list[EvalUnit]:
    """The set cut for readers that work apart: uncompressed JSONL in byte ranges of ``chunk_bytes``, Parquet
    by row groups (as many as make about ``chunk_bytes``), every other file whole."""
    return [unit for index, file in enumerate(eval_files(path, split))
            for unit in _kind(file).units(file, index, chunk_bytes)]


def read_unit(unit: EvalUnit, text_column: str | Sequence[str] = "text") -> Iterator[tuple[int, str]]:
    """``(item id, text)`` of every item of ``unit`` with text, in order. Several columns are joined with a
    newline; a list value (answer choices) with spaces. Rows whose columns are all empty are skipped."""
    columns = [text_column] if isinstance(text_column, str) else list(text_column)
    base = unit.index << ITEM_FILE_SHIFT
    for position, row in _kind(Path(unit.file)).rows(unit, columns):
        text = "\n".join(_as_text(row.get(c)) for c in columns).strip()
        if text:
            yield base | position, text


def read_eval_texts(path: str | Path, text_column: str | Sequence[str] = "text", split: str | None = None,
                    limit: int | None = None) -> Iterator[str]:
    """Item texts of an evaluation set (any of the kinds above; a ``DatasetDict``'s splits all in order unless
    ``split`` names one), in row order, as :func:`read_unit` makes them."""
    count = 0
    for index, file in enumerate(eval_files(path, split)):
        for _, text in read_unit(EvalUnit(str(file), index), text_column):
            yield text
            count += 1
            if limit is not None and count >= limit:
                return


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return " ".join(_as_text(v) for v in value)
    return str(value)


def _open_text(path: Path) -> io.TextIOBase:
    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    if name.endswith(".zst"):
        import zstandard

        return io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(path.open("rb")), encoding="utf-8",
                                newline="")
    return path.open("r", encoding="utf-8", newline="")
