"""Every input format through the one interface (beam_curation.pipeline.io.formats): the registry finds it by a
file's name, it reads a small real file, its slices are the file's rows each once, and the raw record it gives
errors/ replays: written back as a file of the format, it reads as the same document."""

from __future__ import annotations

import gzip
import io
import itertools
import json
import typing
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from beam_curation.pipeline.config import ConfigError, InputConfig, parse_config
from beam_curation.pipeline.io import formats
from beam_curation.pipeline.io.document import Doc, ShardSpec
from beam_curation.pipeline.io.readers import read_shard
from tests.conftest import REPO

SAMPLE_WARC = REPO / "sample" / "CC-MAIN-2024-22_whirlwind.warc.gz"


def _paragraphs() -> list[str]:
    """Real prose: the paragraphs of WikiText-2's test split bundled for the KenLM model (no headings)."""
    with gzip.open(REPO / "models" / "training_data" / "kenlm_en" / "wikitext2_raw_test.txt.gz", "rt",
                   encoding="utf-8") as handle:
        lines = [line.strip() for line in itertools.islice(handle, 400)]
    return [line for line in lines if len(line.split()) >= 20 and not line.startswith("=")]


def _spec(path: Path, fmt: str, **kw) -> ShardSpec:
    return ShardSpec(path=str(path), name=formats.shard_stem(str(path)), format=fmt, **kw)


def _fields(doc: Doc) -> tuple:
    return doc.row, doc.id, doc.url, doc.text, doc.html, doc.passthrough, doc.error


# --- writing raw records back as input files (the replay) ---------------------------------------------------

def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def _write_parquet(path: Path, records: list[dict], row_group_size: int | None = None) -> Path:
    pq.write_table(pa.Table.from_pylist(records), path, row_group_size=row_group_size)
    return path


def _write_warc(path: Path, records: list[dict]) -> Path:
    """HTML records as `response`s, text records as `conversion`s (WET), with the id, URL and date they hold."""
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for r in records:
            headers = {"WARC-Record-ID": r["id"], "WARC-Date": r["warc_date"]}
            if "html" in r:
                http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
                record = writer.create_warc_record(r["url"], "response", payload=io.BytesIO(r["html"]),
                                                   http_headers=http, warc_headers_dict=headers)
            else:
                record = writer.create_warc_record(r["url"], "conversion", payload=io.BytesIO(r["text"].encode()),
                                                   warc_content_type="text/plain", warc_headers_dict=headers)
            writer.write_record(record)
    return path


def _replays(fmt: formats.InputFormat, docs: list[Doc], path: Path, write) -> None:
    """The raw records of `docs`, written back as a file of the format, read as the same documents."""
    records = [fmt.raw_record(d) for d in docs]
    again = list(fmt.documents(_spec(write(path, records), fmt.name)))
    assert [_fields(d)[1:] for d in again] == [_fields(d)[1:] for d in docs]


def _slices_cover(fmt: formats.InputFormat, spec: ShardSpec, slices: int) -> None:
    """The slices of a shard hold its rows each once, each slice in file order."""
    whole = [_fields(d) for d in fmt.documents(spec)]
    parts = [[_fields(d) for d in fmt.read(replace(spec, slice=k, slices=slices))] for k in range(slices)]
    assert all(p == sorted(p, key=lambda f: f[0]) for p in parts)
    assert sorted(f for p in parts for f in p) == sorted(whole)
    assert [_fields(d) for d in read_shard(spec)] == whole


# --- the registry -------------------------------------------------------------------------------------------

def test_registry_names_are_what_input_format_takes():
    assert formats.names() == ("parquet", "jsonl", "warc", "wet")
    assert typing.get_args(typing.get_type_hints(InputConfig)["format"]) == ("auto", *formats.names())
    for name in formats.names():
        assert parse_config({"input": {"format": name}}).input.format == name
    with pytest.raises(ConfigError, match="input.format: must be one of auto, parquet, jsonl, warc, wet"):
        parse_config({"input": {"format": "csv"}})
    with pytest.raises(ValueError, match="unknown input format"):
        formats.get("csv")


@pytest.mark.parametrize("name, fmt, stem", [
    ("a.parquet", "parquet", "a"), ("A.PARQUET", "parquet", "A"),
    ("b.jsonl", "jsonl", "b"), ("b.jsonl.gz", "jsonl", "b"), ("b.json.zst", "jsonl", "b"), ("b.json", "jsonl", "b"),
    ("c.warc.gz", "warc", "c"), ("c.warc", "warc", "c"), ("c.arc.gz", "warc", "c"),
    ("c.warc.wet.gz", "wet", "c.wet"), ("c.wet", "wet", "c.wet"), ("dir/x.wet.gz", "wet", "x.wet"),
    ("part-0001", None, "part-0001"), ("c.warc.wat.gz", None, "c.warc.wat.gz"), (".wet", "wet", ".wet"),
])
def test_detect_by_suffix_and_shard_names(name, fmt, stem):
    found = formats.detect(name)
    assert (found.name if found else None) == fmt
    assert formats.shard_stem(name) == stem


def test_wat_is_refused_by_name_and_warc_and_wet_are_one_family():
    refused = formats.refused("x/CC-MAIN-2024-22_whirlwind.warc.wat.gz")
    assert refused is not None and refused.label == "WAT, metadata only" and "WARC" in refused.why
    assert formats.refused("x.warc.gz") is None and formats.detect("x.warc.wat.gz") is None
    family = {n: formats.get(n).family_name for n in formats.names()}
    assert family["warc"] == family["wet"] and len({family["parquet"], family["jsonl"], family["warc"]}) == 3


# --- one test per reader --------------------------------------------------------------------------------------

def test_warc(tmp_path):
    fmt = formats.detect(str(SAMPLE_WARC))
    assert fmt is formats.get("warc")
    spec = _spec(SAMPLE_WARC, fmt.name)
    docs = list(fmt.documents(spec))
    assert docs and all(d.error is None and d.html and d.url and d.id.startswith("<urn:uuid:") for d in docs)
    assert all(set(d.passthrough) == {"warc_date"} for d in docs)
    assert fmt.passthrough_fields(spec.path) == [pa.field("warc_date", pa.string())]
    fmt.check_schema(spec.path)  # nothing to check: the records say what they hold
    _slices_cover(fmt, spec, 3)
    record = fmt.raw_record(docs[0])
    assert record == {"id": docs[0].id, "url": docs[0].url, "html": docs[0].html, **docs[0].passthrough}
    _replays(fmt, docs, tmp_path / "again.warc.gz", _write_warc)
    # a truncated file: its raw record says where the record was in which file
    (tmp_path / "cut.warc.gz").write_bytes(SAMPLE_WARC.read_bytes()[:6000])
    cut = list(fmt.documents(_spec(tmp_path / "cut.warc.gz", fmt.name)))
    assert cut[-1].error_stage == "read"
    assert fmt.raw_record(cut[-1])["path"] == str(tmp_path / "cut.warc.gz")
    assert fmt.raw_record(cut[-1])["record"] == cut[-1].row


def test_wet(tmp_path):
    texts = _paragraphs()[:5]
    records = [{"id": f"<urn:uuid:{i:08d}>", "url": f"https://example.org/{i}", "text": t,
                "warc_date": "2024-05-18T01:58:10Z"} for i, t in enumerate(texts)]
    path = _write_warc(tmp_path / "pages.warc.wet.gz", records)
    fmt = formats.detect(str(path))
    assert fmt is formats.get("wet") and formats.shard_stem(str(path)) == "pages.wet"
    spec = _spec(path, fmt.name)
    docs = list(fmt.documents(spec))
    assert [d.text for d in docs] == texts and all(d.html is None for d in docs)
    assert [fmt.raw_record(d) for d in docs] == records
    _slices_cover(fmt, spec, 2)
    _replays(fmt, docs, tmp_path / "again.wet.gz", _write_warc)
    # no page record at all: one read error that says what the file held
    (tmp_path / "none.wet").write_bytes(b"")
    (empty,) = fmt.read(_spec(tmp_path / "none.wet", fmt.name))
    assert empty.error.startswith("EmptyInput") and "no WARC record at all" in empty.error


def test_jsonl(tmp_path):
    texts = _paragraphs()[:6]
    lines = [json.dumps({"id": f"j{i}", "text": t, "source": "sample", "metadata": {"url": f"https://x.org/{i}"},
                         **({"extra": [i, "x"]} if i % 2 else {})}) for i, t in enumerate(texts)]
    lines.insert(3, '{"id": "broken", "text": ')  # not JSON: a read error holding the line
    path = tmp_path / "dolma.jsonl.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n\n").encode()))
    fmt = formats.detect(str(path))
    assert fmt is formats.get("jsonl")
    assert fmt.varying_columns and fmt.always_columns == ("source", "added", "created", "metadata")
    spec = _spec(path, fmt.name)
    docs = list(fmt.documents(spec))
    assert [d.row for d in docs] == list(range(7))
    good = [d for d in docs if d.error is None]
    assert [d.text for d in good] == texts and [d.url for d in good] == [f"https://x.org/{i}" for i in range(6)]
    assert fmt.passthrough_fields(spec.path) == []  # the records say their columns
    _slices_cover(fmt, spec, 3)
    _replays(fmt, good, tmp_path / "again.jsonl", _write_jsonl)
    (bad,) = [d for d in docs if d.error is not None]
    assert bad.error_stage == "read" and fmt.raw_record(bad) == {"line": lines[3] + "\n"}
    # the bad line's record, written back, is the same read error
    (tmp_path / "bad.jsonl").write_text(fmt.raw_record(bad)["line"])
    (again,) = fmt.documents(_spec(tmp_path / "bad.jsonl", fmt.name))
    assert again.error == bad.error and fmt.raw_record(again) == fmt.raw_record(bad)
    (tmp_path / "blank.jsonl").write_text("\n\n")
    (empty,) = fmt.read(_spec(tmp_path / "blank.jsonl", fmt.name))
    assert empty.error.startswith("EmptyInput")
    assert list(fmt.read(_spec(tmp_path / "blank.jsonl", fmt.name, slice=1, slices=2))) == []


def test_parquet(tmp_path):
    texts = _paragraphs()[:9]
    rows = [{"id": f"p{i}", "url": f"https://x.org/{i}", "text": t, "score": i / 2, "tags": ["a", str(i)]}
            for i, t in enumerate(texts)]
    path = _write_parquet(tmp_path / "texts.parquet", rows, row_group_size=2)
    fmt = formats.detect(str(path))
    assert fmt is formats.get("parquet")
    spec = _spec(path, fmt.name)
    docs = list(fmt.documents(spec))
    assert [d.text for d in docs] == texts and all(d.passthrough.keys() == {"score", "tags"} for d in docs)
    assert [f.name for f in fmt.passthrough_fields(spec.path)] == ["score", "tags"]
    fmt.check_schema(spec.path)
    for slices in (2, 3, 5, 7):  # by row group (at most 5 groups), and by row beyond
        _slices_cover(fmt, spec, slices)
    assert [fmt.raw_record(d) for d in docs] == rows
    _replays(fmt, docs, tmp_path / "again.parquet", _write_parquet)
    # HTML rows: the record keeps the HTML (the text beside it is the reader's to drop)
    pages = [{"id": "h0", "url": "https://x.org/h", "html": b"<html><p>" + texts[0].encode() + b"</p></html>"}]
    (page,) = fmt.documents(_spec(_write_parquet(tmp_path / "pages.parquet", pages), fmt.name))
    assert page.html == pages[0]["html"] and fmt.raw_record(page) == pages[0]
    # the start-time check, and the same file at read time
    _write_parquet(tmp_path / "no_text.parquet", [{"id": "x", "body": texts[0]}])
    with pytest.raises(formats.SchemaError, match="no 'text' or 'html' column"):
        fmt.check_schema(str(tmp_path / "no_text.parquet"))
    (missing,) = fmt.read(_spec(tmp_path / "no_text.parquet", fmt.name))
    assert missing.error.startswith("SchemaError")
    assert fmt.raw_record(missing)["path"] == str(tmp_path / "no_text.parquet")
    (tmp_path / "zero.parquet").write_bytes(b"")
    assert fmt.passthrough_fields(str(tmp_path / "zero.parquet")) == []
    (corrupt,) = fmt.read(_spec(tmp_path / "zero.parquet", fmt.name))
    assert corrupt.error_stage == "read" and fmt.raw_record(corrupt) == {"path": str(tmp_path / "zero.parquet"),
                                                                        "position": "file"}
