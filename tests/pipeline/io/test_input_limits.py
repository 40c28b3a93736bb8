"""Nothing lost, nothing inflated: errors/ keeps what could not be read as its original bytes, a broken
compressed file is one read error (or its good records and one for the rest), and a record whose text is over
`input.max_text_bytes` is a read error found by the reader, in every format."""

from __future__ import annotations

import gzip
import io
import json
import random
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from warcio.warcwriter import WARCWriter

from beam_curation.pipeline.config import MAX_TEXT_BYTES, ConfigError, parse_config
from beam_curation.pipeline.io import formats
from beam_curation.pipeline.io.document import Doc, ShardSpec
from beam_curation.pipeline.io.input_record import decode_input, encode_input
from conftest import REPO, assert_conservation, read_folder, run_pipeline, user_file_digests

WARC_SAMPLE = REPO / "sample" / "wget_2024_dolma_sample-0000.warc.gz"  # 22 page records, one gzip member each
PROSE = ("Rivers carry water from the hills to the sea, and towns grow along their banks where the land is "
         "flat and the soil is rich. ")


def _spec(path: Path, **kw) -> ShardSpec:
    return ShardSpec(path=str(path), name=formats.shard_stem(str(path)), format=formats.detect(str(path)).name, **kw)


def _read(path: Path, max_text_bytes: int | None = None, **kw) -> list[Doc]:
    return list(formats.detect(str(path)).read(_spec(path, **kw), max_text_bytes))


def _errors(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if d.error is not None]


def _record(i: int, size: int = 300) -> dict:
    return {"id": f"d{i}", "text": f"Document {i}. " + (PROSE * (size // len(PROSE) + 1))[:size], "source": "test"}


def _jsonl(records: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def _garbage(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def _replayed(fmt: formats.InputFormat, doc: Doc) -> dict:
    """The record errors/ keeps for `doc`, through its JSON form, as a user reads it back."""
    return decode_input(encode_input(fmt.raw_record(doc)))


# --- errors/ keeps the original bytes ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["latin.jsonl", "latin.jsonl.gz", "latin.jsonl.zst"])
def test_a_jsonl_line_that_is_not_utf8_is_kept_as_its_bytes(tmp_path: Path, name: str):
    lines = [json.dumps(_record(i)).encode() + b"\n" for i in range(4)]
    lines[2] = b'{"id": "caf\xe9", "text": "Caf\xe9 au lait, a line written in Latin-1."}\n'
    blob = b"".join(lines)
    compress = {".gz": gzip.compress, ".zst": zstandard.ZstdCompressor().compress}.get(Path(name).suffix, bytes)
    (tmp_path / name).write_bytes(compress(blob))
    docs = _read(tmp_path / name)
    assert [d.id for d in docs if d.error is None] == ["d0", "d1", "d3"]
    (bad,) = _errors(docs)
    assert bad.error_stage == "read" and bad.error.startswith("UnicodeDecodeError")
    fmt = formats.detect(name)
    kept = _replayed(fmt, bad)["line"]
    assert kept == lines[2] and "\ufffd" not in encode_input(fmt.raw_record(bad))
    assert json.loads(encode_input(fmt.raw_record(bad)))["line"].keys() == {"$base64"}
    # written back as a file, the same bytes are the same read error
    (tmp_path / "again.jsonl").write_bytes(kept)
    (again,) = _read(tmp_path / "again.jsonl")
    assert again.error == bad.error and _replayed(fmt, again) == {"line": kept}
    # a line that is UTF-8 stays readable text in errors/
    (tmp_path / "broken.jsonl").write_bytes(lines[0] + b'{"id": "x", "text": \n')
    (text_line,) = _errors(_read(tmp_path / "broken.jsonl"))
    assert fmt.raw_record(text_line) == {"line": '{"id": "x", "text": \n'}


def test_a_lone_surrogate_escape_is_a_read_error_not_a_crash(tmp_path: Path):
    path = tmp_path / "surrogate.jsonl"
    path.write_bytes(b'{"id": "s", "text": "half a pair \\ud800 here"}\n'
                     b'{"id": "p", "text": "a whole pair \\ud83d\\ude00 here"}\n')
    bad, good = _read(path)
    assert bad.error_stage == "read" and "lone surrogate" in bad.error
    assert formats.get("jsonl").raw_record(bad)["line"].encode() == path.read_bytes().splitlines(True)[0]
    assert good.error is None and good.text == "a whole pair \U0001F600 here"


def test_a_parquet_string_that_is_not_utf8_fails_its_row_only(tmp_path: Path):
    texts = pa.array([_record(0)["text"].encode(), b"Caf\xe9 in Latin-1", _record(2)["text"].encode()],
                     pa.binary()).view(pa.string())  # Parquet does not check UTF-8: such files exist
    path = tmp_path / "latin.parquet"
    pq.write_table(pa.table({"id": ["d0", "d1", "d2"], "text": texts, "score": [1.0, 2.0, 3.0]}), path)
    docs = _read(path)
    assert [(d.id, d.error is None) for d in docs] == [("d0", True), ("d1", False), ("d2", True)]
    bad = docs[1]
    assert bad.error.startswith("NotUtf8") and "'text'" in bad.error
    assert _replayed(formats.get("parquet"), bad) == {"id": "d1", "text": b"Caf\xe9 in Latin-1", "score": 2.0}


def test_a_wet_record_decoded_with_replacements_keeps_its_bytes(tmp_path: Path):
    body = b"Caf\xe9 au lait: a conversion record that is not UTF-8."
    path = tmp_path / "latin.warc.wet.gz"
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        writer.write_record(writer.create_warc_record("https://example.org/", "conversion", payload=io.BytesIO(body),
                                                      warc_content_type="text/plain",
                                                      warc_headers_dict={"WARC-Record-ID": "<urn:uuid:1>"}))
    (doc,) = _read(path)
    assert doc.error is None and doc.text == body.decode("utf-8", errors="replace")
    assert _replayed(formats.get("wet"), doc)["text"] == body


# --- a broken compressed file is one read error -----------------------------------------------------------------

def _broken_variants(blob: bytes, compress) -> dict[str, tuple[bytes, int]]:
    """name -> (file bytes, how many leading records of `blob` must still be read)."""
    whole = compress(blob)
    return {
        "bad_header": (whole[:3] + b"\x99" + whole[4:], 0) if whole[:2] == b"\x1f\x8b" else (b"\x00" * 4 + whole[4:], 0),
        "not_compressed": (_garbage(20000), 0),
        "truncated": (whole[: len(whole) * 2 // 3], -1),  # some records, then the cut
        "garbage_after": (whole + _garbage(3000, 1), blob.count(b"\n")),  # every record, then garbage
    }


@pytest.mark.parametrize("suffix", [".jsonl.gz", ".jsonl.zst"])
def test_a_broken_compressed_jsonl_is_one_read_error(tmp_path: Path, suffix: str):
    records = [_record(i, 2000) for i in range(60)]
    blob = _jsonl(records)
    compress = gzip.compress if suffix.endswith(".gz") else zstandard.ZstdCompressor(level=1).compress
    for name, (data, leading) in _broken_variants(blob, compress).items():
        path = tmp_path / f"{name}{suffix}"
        path.write_bytes(data)
        docs = _read(path)
        good = [d for d in docs if d.error is None]
        (error,) = _errors(docs)
        assert error is docs[-1] and error.error_stage == "read", name
        assert error.error.startswith("NotDecompressible") and "cannot be decompressed" in error.error, name
        if leading >= 0:
            assert len(good) == leading, name
        assert [d.id for d in good] == [r["id"] for r in records[: len(good)]], name
        assert error.row == len(good) and error.id == (f"{path.name.split('.')[0]}/line{len(good)}" if good
                                                        else f"{path.name.split('.')[0]}/file")
        for slices in (2, 3):  # every slice decides alike: the rows once, the one error once
            parts = [d for k in range(slices) for d in _read(path, slice=k, slices=slices)]
            assert sorted((d.row, d.id, d.error) for d in parts) == [(d.row, d.id, d.error) for d in docs], name
    # a stream that decompresses to garbage (a gzip of something else) is one read error, not one a line
    path = tmp_path / f"gzip_of_garbage{suffix}"
    path.write_bytes(compress(_garbage(20000)))
    (error,) = _read(path)
    assert error.error.startswith("NotJsonl") and "not a JSONL file" in error.error and error.id.endswith("/file")


def test_valid_streams_of_several_members_read_whole(tmp_path: Path):
    """What the decompression checks must not refuse: gzip members and zstd frames one after the other (as
    `cat` or pigz make them), zero padding after the last gzip member, an empty stream."""
    parts = [_jsonl([_record(i) for i in range(k, k + 3)]) for k in (0, 3, 6)]
    zstd = zstandard.ZstdCompressor()
    files = {"members.jsonl.gz": b"".join(map(gzip.compress, parts)) + b"\0" * 512,
             "frames.jsonl.zst": b"".join(map(zstd.compress, parts))}
    for name, blob in files.items():
        (tmp_path / name).write_bytes(blob)
        assert [(d.id, d.error) for d in _read(tmp_path / name, CAP)] == [(f"d{i}", None) for i in range(9)], name
    (tmp_path / "nothing.jsonl.gz").write_bytes(gzip.compress(b""))
    (empty,) = _read(tmp_path / "nothing.jsonl.gz")
    assert empty.error.startswith("EmptyInput")


def test_a_jsonl_with_a_bad_first_line_keeps_its_good_lines(tmp_path: Path):
    """The file-level verdict is only for a file in which no line is a record."""
    path = tmp_path / "first_bad.jsonl.gz"
    path.write_bytes(gzip.compress(b"\x00\xff binary junk\n" + _jsonl([_record(i) for i in range(3)])))
    docs = _read(path)
    assert [d.error is None for d in docs] == [False, True, True, True]
    assert formats.get("jsonl").raw_record(docs[0]) == {"line": b"\x00\xff binary junk\n"}


def test_a_broken_warc_gz_says_it_cannot_be_decompressed(tmp_path: Path, capsys):
    data = WARC_SAMPLE.read_bytes()
    intact = _read(WARC_SAMPLE)
    assert len(intact) == 22 and not _errors(intact)
    cut = len(data) // 2
    cases = {
        "truncated": data[:cut],
        "garbage_after": data + _garbage(3000),
        "corrupt_member": data[:cut] + bytes(b ^ 0xFF for b in data[cut:cut + 64]) + data[cut + 64:],
        "bad_header": data[:3] + b"\x99" + data[4:],
        "not_gzip": _garbage(20000),
    }
    for name, blob in cases.items():
        path = tmp_path / f"{name}.warc.gz"
        path.write_bytes(blob)
        docs = _read(path)
        good = [d for d in docs if d.error is None]
        (error,) = _errors(docs)
        assert error is docs[-1] and "cannot be decompressed" in error.error, name
        assert [d.id for d in good] == [d.id for d in intact[: len(good)]], name
        assert formats.get("warc").raw_record(error)["path"] == str(path)
    assert len([d for d in _read(tmp_path / "garbage_after.warc.gz") if d.error is None]) == 22
    assert capsys.readouterr().err == "", "warcio's own messages about a bad stream stay out of the terminal"


def test_a_parquet_file_cut_short_is_one_read_error(tmp_path: Path):
    """Parquet has no stream to break midway: a file whose footer is cut off or overwritten is one error for the
    file (from the first slice), whatever the number of slices."""
    path = tmp_path / "whole.parquet"
    pq.write_table(pa.Table.from_pylist([_record(i) for i in range(20)]), path, row_group_size=5)
    data = path.read_bytes()
    for name, blob in {"cut": data[:-100], "footer": data[:-12] + _garbage(8) + b"PAR1", "empty_tail": data[:4]}.items():
        broken = tmp_path / f"{name}.parquet"
        broken.write_bytes(blob)
        for slices in (1, 2, 4):
            docs = [d for k in range(slices) for d in _read(broken, slice=k, slices=slices)]
            assert [(d.id, d.error_stage) for d in docs] == [(f"{name}/file", "read")], (name, slices)
            assert formats.get("parquet").raw_record(docs[0]) == {"path": str(broken), "position": "file"}


# --- the text cap -----------------------------------------------------------------------------------------------

CAP = 5000


def test_the_text_cap_in_parquet(tmp_path: Path):
    rows = [_record(i, 1000) for i in range(10)]
    rows[3] = _record(3, CAP + 1)
    rows[8] = {**_record(8, CAP), "text": "é" * (CAP // 2 + 1)}  # CAP + 2 bytes in UTF-8, fewer characters
    path = tmp_path / "texts.parquet"
    pq.write_table(pa.Table.from_pylist([{**r, "url": f"https://x.org/{r['id']}"} for r in rows]), path,
                   row_group_size=4)
    docs = _read(path, CAP)
    assert [d.id for d in docs] == [r["id"] for r in rows]
    over = _errors(docs)
    assert [d.id for d in over] == ["d3", "d8"] and all(d.text is None for d in over)
    assert over[0].error == f"TextTooLarge: text of {CAP + 1 + len('Document 3. ')} bytes exceeds input.max_text_bytes={CAP}"
    assert formats.get("parquet").raw_record(over[1]) == {"path": str(path), "position": "row8", "bytes": CAP + 2,
                                                          "id": "d8", "url": "https://x.org/d8"}
    assert [d.text for d in docs if d.error is None] == [r["text"] for i, r in enumerate(rows) if i not in (3, 8)]
    assert not _errors(_read(path)), "no cap: nothing refused"
    for slices in (2, 3, 5):  # by row group and by row: the same rows refused, once
        parts = [d for k in range(slices) for d in _read(path, CAP, slice=k, slices=slices)]
        assert sorted((d.row, d.id, d.error) for d in parts) == [(d.row, d.id, d.error) for d in docs]


def test_the_text_cap_in_jsonl(tmp_path: Path):
    records = [_record(i, 1000) for i in range(5)]
    records[1] = _record(1, CAP + 10)
    records[3] = {"id": "d3", "text": "\u00e9" * 10, "metadata": {"padding": "x" * (7 * CAP + (1 << 20))}}
    path = tmp_path / "records.jsonl.gz"
    path.write_bytes(gzip.compress(_jsonl(records)))
    docs = _read(path, CAP)
    assert [d.error is None for d in docs] == [True, False, True, False, True]
    parsed, unparsed = docs[1], docs[3]
    assert parsed.id == "d1" and parsed.error.startswith("TextTooLarge: text of") and parsed.text is None
    assert formats.get("jsonl").raw_record(parsed) == {"path": str(path), "position": "line1",
                                                       "bytes": CAP + 10 + len("Document 1. "), "id": "d1"}
    # a line too long to hold a capped text and its fields is never read whole: its location is kept
    assert unparsed.id == "records/line3" and "line of" in unparsed.error and "input.max_text_bytes" in unparsed.error
    assert [d.id for d in docs if d.error is None] == ["d0", "d2", "d4"]
    assert [d.error is None for d in _read(path)] == [True] * 5
    # a text just at the cap is read (UTF-8 bytes are counted, not characters; JSON escapes are not)
    path.write_bytes(gzip.compress(_jsonl([{"id": "e", "text": "\u00e9" * (CAP // 2)}])))
    (doc,) = _read(path, CAP)
    assert doc.error is None and len(doc.text.encode()) == CAP


def test_the_text_cap_in_wet_is_checked_before_the_content_is_read(tmp_path: Path):
    path = tmp_path / "pages.warc.wet.gz"
    bodies = [PROSE.encode() * 10, PROSE.encode() * (CAP // len(PROSE) + 1), PROSE.encode()]
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for i, body in enumerate(bodies):
            writer.write_record(writer.create_warc_record(
                f"https://example.org/{i}", "conversion", payload=io.BytesIO(body), warc_content_type="text/plain",
                warc_headers_dict={"WARC-Record-ID": f"<urn:uuid:{i}>"}))
    docs = _read(path, CAP)
    assert [d.error is None for d in docs] == [True, False, True]
    assert docs[1].id == "<urn:uuid:1>" and docs[1].url == "https://example.org/1"
    assert docs[1].error == f"TextTooLarge: text of {len(bodies[1])} bytes exceeds input.max_text_bytes={CAP}"
    assert [d.text for d in docs if d.error is None] == [bodies[0].decode(), bodies[2].decode()]


def test_max_text_bytes_is_checked_and_shapes_the_digests_only_when_set():
    default = parse_config({})
    assert default.input.max_text_bytes == MAX_TEXT_BYTES
    assert "max_text_bytes" not in json.dumps(default._stable_dict()), "at its default, older digests hold"
    same = parse_config({"input": {"max_text_bytes": MAX_TEXT_BYTES}})
    assert (same.digest(), same.annotation_digest()) == (default.digest(), default.annotation_digest())
    other = parse_config({"input": {"max_text_bytes": 2 * MAX_TEXT_BYTES}})
    assert other.annotation_digest() != default.annotation_digest() and other.digest() != default.digest()
    for bad in (0, -1):
        with pytest.raises(ConfigError, match="input.max_text_bytes: must be > 0"):
            parse_config({"input": {"max_text_bytes": bad}})
    with pytest.raises(ConfigError, match="input.max_text_bytes: expected an integer"):
        parse_config({"input": {"max_text_bytes": "10MB"}})


# --- through a run -----------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_run_keeps_every_bad_record_replayable_and_counts_a_broken_file_once(tmp_path: Path, minimal_config: Path):
    """A JSONL.gz with a Latin-1 line and an oversize record, a truncated one, a gzip of garbage and a Parquet
    file with an oversize row: exit 0, conservation, each errors/ row replays, a rerun is byte-identical."""
    records = [_record(i, 600) for i in range(6)]
    records[4] = _record(4, 3 * CAP)
    lines = [json.dumps(r).encode() + b"\n" for r in records]
    latin = b'{"id": "latin", "text": "Caf\xe9 au lait, a record written in Latin-1."}\n'
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.jsonl.gz").write_bytes(gzip.compress(b"".join(lines[:2] + [latin] + lines[2:])))
    whole = gzip.compress(_jsonl([_record(i + 10, 2000) for i in range(40)]))
    (inputs / "b.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    (inputs / "c.jsonl.gz").write_bytes(gzip.compress(_garbage(20000)))
    pq.write_table(pa.Table.from_pylist([_record(50, 800), _record(51, 2 * CAP)]), inputs / "d.parquet")
    truncated_good = len([d for d in _read(inputs / "b.jsonl.gz") if d.error is None])
    assert 0 < truncated_good < 40
    expected = 7 + (truncated_good + 1) + 1 + 2
    out = tmp_path / "out"
    args = ["--input", str(inputs), "--set", f"input.max_text_bytes={CAP}"]
    assert run_pipeline(minimal_config, out, *args) == 0
    assert_conservation(out, expected)
    errors = {r["id"]: r for r in read_folder(out, "errors")}
    assert set(errors) == {"a/line2", "d4", "b/line%d" % truncated_good, "c/file", "d51"}
    assert all(e["stage"] == "read" for e in errors.values())
    # the Latin-1 line: its bytes, and as a file the same error
    replay = decode_input(errors["a/line2"]["input"])
    assert replay == {"line": latin}
    (tmp_path / "replay.jsonl").write_bytes(replay["line"])
    (again,) = _read(tmp_path / "replay.jsonl")
    assert again.error == errors["a/line2"]["error"]
    # the oversize records: a clear reason and where they are
    assert errors["d4"]["error"].startswith("TextTooLarge") and f"input.max_text_bytes={CAP}" in errors["d4"]["error"]
    assert decode_input(errors["d4"]["input"]) == {"path": str(inputs / "a.jsonl.gz"), "position": "line5",
                                                   "bytes": len(records[4]["text"]), "id": "d4"}
    assert decode_input(errors["d51"]["input"])["position"] == "row1"
    assert "cannot be decompressed" in errors["b/line%d" % truncated_good]["error"]
    assert "not a JSONL file" in errors["c/file"]["error"]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["input"] == expected
    first = user_file_digests(out)
    assert run_pipeline(minimal_config, out, *args) == 0, "a rerun on the finished folder"
    assert user_file_digests(out) == first
    fresh = tmp_path / "fresh"
    assert run_pipeline(minimal_config, fresh, *args) == 0
    assert user_file_digests(fresh) == first
    # without a cap this small, the oversize records are read and annotated
    assert run_pipeline(minimal_config, tmp_path / "uncapped", "--input", str(inputs)) == 0
    assert {r["id"] for r in read_folder(tmp_path / "uncapped", "errors")} == {"a/line2", "b/line%d" % truncated_good,
                                                                               "c/file"}
