"""The passthrough columns of documents/ and removed/: one set, one type per column, for the whole run.

Every annotation task records the passthrough columns its input has (a Parquet file's own types, the WARC
fields, the types a JSONL task's values have: objects become structs, arrays lists), each shard's marker
keeps the union of its tasks', and the run's columns are the union over all its shards, made before any
output file is written (beam_curation.pipeline.graph.build). A shard without a column writes nulls in it, so every file of
a folder has the same schema and Hugging Face `datasets`, DuckDB and polars read the folder as one table.

Types that differ between inputs are widened, never refused (JSONL values are only seen once read):
integers of different widths to int64; integers and floats to float64; structs to the union of their fields;
lists to lists of the widened element type; anything else (a string in one input and a number or an object
in another, a struct of more than `MAX_STRUCT_FIELDS` fields) to a string holding the value as JSON text
(a string value stays as it is). A column no input ever gave a value stays a string column of nulls.
The union is commutative and associative, and its column order canonical (the first shard, then the position
in it, that has the column), so any runner and any worker count give the same schema.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Iterable, Optional

import pyarrow as pa

MAX_STRUCT_FIELDS = 256  # beyond this an object is a map in disguise: kept as JSON text, not as a struct
# Output columns of documents/ and removed/ that an input column of the same name must not shadow.
OUTPUT_COLUMNS = frozenset({"id", "text", "url", "language", "language_score", "removed_by"})
RENAMED_PREFIX = "input_"


def output_column(name: str) -> str:
    """The output name of input column `name`: itself, or `input_<name>` where it would shadow ours."""
    return f"{RENAMED_PREFIX}{name}" if name in OUTPUT_COLUMNS else name


def json_default(value: Any) -> Any:
    """JSON for what `json` cannot encode: bytes as {"$base64": ...}, anything else (dates, decimals) as text."""
    if isinstance(value, (bytes, bytearray)):
        return {"$base64": base64.b64encode(bytes(value)).decode("ascii")}
    return str(value)


def json_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=json_default)


def _struct(fields: Iterable[tuple[str, pa.DataType]]) -> pa.DataType:
    fields = sorted(fields, key=lambda f: f[0])
    if len(fields) > MAX_STRUCT_FIELDS:
        return pa.string()
    return pa.struct([pa.field(name, tp) for name, tp in fields])


def value_type(value: Any) -> pa.DataType:
    """The Arrow type of one JSON value (null for None: it takes the type of the column's other values)."""
    if value is None:
        return pa.null()
    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, int):
        return pa.int64() if -2 ** 63 <= value < 2 ** 63 else pa.string()
    if isinstance(value, float):
        return pa.float64()
    if isinstance(value, str):
        return pa.string()
    if isinstance(value, list):
        element = pa.null()
        for item in value:
            element = unify(element, value_type(item))
        return pa.list_(element)
    if isinstance(value, dict):
        return _struct((str(k), value_type(v)) for k, v in value.items())
    return pa.string()


def normalize(tp: pa.DataType) -> pa.DataType:
    """An input column's type as output columns carry it: nullable fields, no field metadata, dictionaries
    decoded, large strings, binaries and lists as their plain forms."""
    if pa.types.is_dictionary(tp):
        return normalize(tp.value_type)
    if pa.types.is_large_string(tp) or pa.types.is_string_view(tp):
        return pa.string()
    if pa.types.is_large_binary(tp) or pa.types.is_binary_view(tp):
        return pa.binary()
    if pa.types.is_struct(tp):
        return pa.struct([pa.field(f.name, normalize(f.type)) for f in tp])
    if pa.types.is_list(tp) or pa.types.is_large_list(tp) or pa.types.is_list_view(tp):
        return pa.list_(normalize(tp.value_type))
    return tp


def unify(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """The narrowest type both `a` and `b` values fit (the widening rules of the module docstring)."""
    if a == b:
        return a
    if pa.types.is_null(a):
        return b
    if pa.types.is_null(b):
        return a
    if pa.types.is_integer(a) and pa.types.is_integer(b):
        return pa.int64()
    numeric = (pa.types.is_integer, pa.types.is_floating)
    if any(t(a) for t in numeric) and any(t(b) for t in numeric):
        return pa.float64()
    if pa.types.is_struct(a) and pa.types.is_struct(b):
        merged = {f.name: f.type for f in a}
        for f in b:
            merged[f.name] = unify(merged[f.name], f.type) if f.name in merged else f.type
        return _struct(merged.items())
    if pa.types.is_list(a) and pa.types.is_list(b):
        return pa.list_(unify(a.value_type, b.value_type))
    return pa.string()


def finalize(tp: pa.DataType) -> pa.DataType:
    """A unified type as written: what is still null (never a value) or an empty struct becomes a string."""
    if pa.types.is_null(tp):
        return pa.string()
    if pa.types.is_struct(tp):
        return pa.struct([pa.field(f.name, finalize(f.type)) for f in tp]) if tp.num_fields else pa.string()
    if pa.types.is_list(tp):
        return pa.list_(finalize(tp.value_type))
    return tp


def conform(value: Any, tp: pa.DataType) -> Any:
    """`value` as a value of the (finalized) column type `tp`: JSON text where the column was widened to a
    string, floats where to float64, struct fields the value lacks as nulls."""
    if value is None:
        return None
    if pa.types.is_string(tp):
        return value if isinstance(value, str) else json_text(value)
    if pa.types.is_floating(tp) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if pa.types.is_struct(tp) and isinstance(value, dict):
        return {f.name: conform(value.get(f.name), f.type) for f in tp}
    if pa.types.is_list(tp) and isinstance(value, (list, tuple)):
        return [conform(item, tp.value_type) for item in value]
    return value


class ColumnUnion:
    """Passthrough columns met so far: name -> (rank, unified type), rank = (shard index, position)."""

    def __init__(self) -> None:
        self.columns: dict[str, tuple[tuple[int, int], pa.DataType]] = {}

    def add(self, index: int, fields: Iterable[pa.Field], ordered: bool = True) -> "ColumnUnion":
        """Columns of shard `index`; `ordered=False` (JSONL, whose records' keys have no order): by name."""
        for position, f in enumerate(fields):
            self._put(f.name, (index, position if ordered else 0), f.type)
        return self

    def add_values(self, values: dict[str, Any]) -> None:
        """One JSONL record's passthrough values."""
        for name, value in values.items():
            self._put(output_column(name), (0, 0), value_type(value))

    def merge(self, other: "ColumnUnion") -> "ColumnUnion":
        for name, (rank, tp) in other.columns.items():
            self._put(name, rank, tp)
        return self

    def _put(self, name: str, rank: tuple[int, int], tp: pa.DataType) -> None:
        old = self.columns.get(name)
        self.columns[name] = (rank, tp) if old is None else (min(old[0], rank), unify(old[1], tp))

    def fields(self) -> list[pa.Field]:
        """The columns in canonical order, with their types as unified so far (to union further)."""
        order = sorted(self.columns.items(), key=lambda item: (item[1][0], item[0]))
        return [pa.field(name, tp) for name, (_, tp) in order]

    def output_fields(self) -> list[pa.Field]:
        """The columns as the output files carry them."""
        return [pa.field(f.name, finalize(f.type)) for f in self.fields()]


def input_fields(fields: Iterable[pa.Field]) -> list[pa.Field]:
    """An input's passthrough columns (as its reader types them) under their output names and types."""
    return [pa.field(output_column(f.name), normalize(f.type)) for f in fields]


def encode_fields(fields: Iterable[pa.Field]) -> str:
    """Columns as text for a marker (the Arrow IPC schema, base64)."""
    return base64.b64encode(pa.schema(list(fields)).serialize().to_pybytes()).decode("ascii")


def decode_fields(blob: str) -> list[pa.Field]:
    return list(pa.ipc.read_schema(pa.py_buffer(base64.b64decode(blob))))


def fingerprint(fields: Iterable[pa.Field]) -> str:
    """Identifies a run's output passthrough columns: a shard written with another set must be rewritten."""
    return hashlib.sha256(base64.b64decode(encode_fields(fields))).hexdigest()[:16]


def run_columns(shards: Iterable[tuple[int, Optional[str]]]) -> ColumnUnion:
    """The union of shards' recorded columns ((shard index, encoded fields) each)."""
    union = ColumnUnion()
    for index, blob in shards:
        if blob:
            union.add(index, decode_fields(blob))
    return union
