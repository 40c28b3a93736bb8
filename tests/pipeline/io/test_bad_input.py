"""Bad input never stops a run and never loses a document; bad config and schemas fail at start, clearly."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import REPO, assert_conservation, read_folder, run_pipeline, user_file_digests
from beam_curation.pipeline.io.input_record import decode_input

ARTICLE = ("<html><head><title>A page</title></head><body><article>"
           + "".join(f"<p>This is paragraph {i} of a real looking article about rivers, towns and the people who "
                     f"live there, written in plain English sentences.</p>" for i in range(8))
           + "</article></body></html>")


def _write_parquet(path: Path, rows: list[dict], schema: pa.Schema | None = None) -> Path:
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def _run(config: Path, out: Path, inputs: list[Path], *extra: str) -> int:
    return run_pipeline(config, out, "--input", *map(str, inputs), *extra)


@pytest.mark.slow
def test_bad_documents_are_errors_or_removals_never_lost(tmp_path: Path, minimal_config: Path):
    hanging = "<html><body>" + "".join(f"<p>Paragraph number {i} with some words in it.</p>"
                                       for i in range(40000)) + "</body></html>"
    rows = [
        {"id": "good", "html": ARTICLE.encode()},
        {"id": "malformed", "html": b"<html><body><div><p>unclosed <b>tags <table><tr><td>" + ARTICLE.encode()[:900]},
        {"id": "undecodable", "html": b"<html><body><p>" + bytes(range(128, 256)) * 40 + b"</p>" + ARTICLE.encode()},
        {"id": "latin1", "html": ARTICLE.replace("plain English", "caf\u00e9 na\u00efve").encode("latin-1")},
        {"id": "empty", "html": b""},
        {"id": "null", "html": None},
        {"id": "huge", "html": b"<html><body>" + b"<p>word </p>" * (21_000_000 // 12) + b"</body></html>"},
        {"id": "hangs", "html": hanging.encode()},
    ]
    shard = _write_parquet(tmp_path / "bad.parquet", rows, pa.schema([("id", pa.string()), ("html", pa.binary())]))
    out = tmp_path / "out"
    assert _run(minimal_config, out, [shard], "--set", "extract.timeout_seconds=1") == 0
    assert_conservation(out, len(rows))
    kept = {r["id"]: r for r in read_folder(out, "documents")}
    removed = {r["id"]: r for r in read_folder(out, "removed")}
    errors = {r["id"]: r for r in read_folder(out, "errors")}
    assert {"good", "malformed", "undecodable", "latin1"} <= set(kept)
    assert "café naïve" in kept["latin1"]["text"]
    assert removed["empty"]["removed_by"] == "extract_empty"
    assert removed["null"]["removed_by"] == "extract_empty"
    assert errors["huge"]["stage"] == "extract" and "max_input_bytes" in errors["huge"]["error"]
    assert errors["hangs"]["stage"] == "extract" and "SandboxTimeout" in errors["hangs"]["error"]
    # errors/ keeps the original record: the HTML bytes come back exactly.
    assert decode_input(errors["hangs"]["input"])["html"] == hanging.encode()


@pytest.mark.slow
def test_text_documents_empty_and_huge(tmp_path: Path, minimal_config: Path):
    rows = [{"id": "a", "text": "A short English sentence about the weather today."},
            {"id": "b", "text": ""}, {"id": "c", "text": None},
            {"id": "d", "text": "Large text with many words. " * 700_000}]  # about 20 MB
    shard = _write_parquet(tmp_path / "texts.parquet", rows)
    out = tmp_path / "out"
    assert _run(minimal_config, out, [shard]) == 0
    assert_conservation(out, 4)
    kept = {r["id"] for r in read_folder(out, "documents")}
    assert kept == {"a"}
    (huge,) = read_folder(out, "errors")  # over input.max_text_bytes (10 MB): refused by the reader
    assert huge["id"] == "d" and huge["stage"] == "read" and "input.max_text_bytes=10000000" in huge["error"]
    raised = tmp_path / "raised"
    assert _run(minimal_config, raised, [shard], "--set", "input.max_text_bytes=30000000") == 0
    assert_conservation(raised, 4)
    assert {r["id"] for r in read_folder(raised, "documents")} == {"a", "d"}


def test_parquet_without_text_or_html_fails_at_start(tmp_path: Path, minimal_config: Path, capsys):
    shard = _write_parquet(tmp_path / "no_text.parquet", [{"id": "x", "body": "hello"}])
    out = tmp_path / "out"
    assert _run(minimal_config, out, [shard]) == 2
    err = capsys.readouterr().err
    assert "no_text.parquet" in err and "'text' or 'html'" in err
    assert not (out / "documents").exists(), "nothing may start before the schema check"


@pytest.mark.slow
@pytest.mark.parametrize("splits", [1, 2])
def test_corrupt_parquet_shard_is_an_error_row(tmp_path: Path, minimal_config: Path, splits: int):
    good = _write_parquet(tmp_path / "good.parquet", [{"id": "g", "text": "An English sentence about the sea."}])
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1" + b"\x00garbage" * 100)
    out = tmp_path / "out"
    assert _run(minimal_config, out, [good, corrupt], "--set", f"input.splits={splits}") == 0
    errors = read_folder(out, "errors")
    assert len(errors) == 1 and errors[0]["stage"] == "read" and "corrupt" in errors[0]["id"]
    assert_conservation(out, 2)


@pytest.mark.slow
def test_a_corrupt_row_group_loses_only_that_group_whatever_the_splits(tmp_path: Path, minimal_config: Path):
    """20 rows in 4 row groups, the second one's page header overwritten: its 5 rows become one read error, the
    other 15 are read. Splits read by row group (2, 4) or by row (1, 5), with the same bytes out."""
    rows = [{"id": f"d{i:02d}", "text": f"Document {i} is an English sentence about rivers and the sea. " * 3}
            for i in range(20)]
    path = tmp_path / "groups.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=5, compression="zstd")
    header = pq.ParquetFile(path).metadata.row_group(1).column(1).dictionary_page_offset
    data = bytearray(path.read_bytes())
    data[header:header + 24] = b"\xff" * 24
    path.write_bytes(bytes(data))
    digests = {}
    for splits in (1, 2, 4, 5):
        out = tmp_path / f"out{splits}"
        assert _run(minimal_config, out, [path], "--set", f"input.splits={splits}") == 0
        assert_conservation(out, 16)
        (error,) = read_folder(out, "errors")
        assert error["stage"] == "read" and error["id"] == "groups/row5"
        read = {r["id"] for r in read_folder(out, "documents") + read_folder(out, "removed")}
        assert read == {f"d{i:02d}" for i in range(20) if not 5 <= i < 10}
        digests[splits] = user_file_digests(out)
    assert digests[1] == digests[2] == digests[4] == digests[5]


@pytest.mark.slow
@pytest.mark.parametrize("splits", [1, 3])
def test_truncated_warc_keeps_what_was_read(tmp_path: Path, minimal_config: Path, splits: int):
    source = REPO / "sample" / "wget_2024_dolma_sample-0000.warc.gz"
    data = source.read_bytes()
    truncated = tmp_path / "truncated.warc.gz"
    truncated.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    assert _run(minimal_config, out, [truncated], "--set", f"input.splits={splits}") == 0
    kept, removed, errors = (read_folder(out, f) for f in ("documents", "removed", "errors"))
    assert len(kept) + len(removed) >= 5, "records before the cut are read"
    assert len(errors) == 1 and errors[0]["stage"] == "read"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["input"] == len(kept) + len(removed) + len(errors)


@pytest.mark.slow
def test_dolma_jsonl_gz_and_zst_with_a_bad_line(tmp_path: Path, minimal_config: Path):
    import zstandard

    def docs_for(prefix: str) -> list[dict]:
        return [{"id": f"{prefix}{i}", "text": f"Document {i} is written in English and talks about gardens and trees.",
                 "source": "test", "added": "2024-01-01", "created": "2023-01-01",
                 "metadata": {"url": f"http://{prefix}/{i}"}} for i in range(3)]

    def blob(prefix: str) -> bytes:
        return ("\n".join([json.dumps(d) for d in docs_for(prefix)] + ["{not json"]) + "\n").encode()

    gz = tmp_path / "a.jsonl.gz"
    gz.write_bytes(gzip.compress(blob("a")))
    zst = tmp_path / "b.jsonl.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(blob("b")))
    out = tmp_path / "out"
    assert _run(minimal_config, out, [gz, zst]) == 0
    assert_conservation(out, 8)
    kept = read_folder(out, "documents")
    assert {r["url"] for r in kept} == {f"http://{p}/{i}" for p in "ab" for i in range(3)}
    assert kept[0]["metadata"]["url"].startswith("http://a/")  # a JSON object is a struct column
    errors = read_folder(out, "errors")
    assert len(errors) == 2 and all(decode_input(e["input"])["line"].startswith("{not json") for e in errors)
    # Dolma's fields are columns even where records lack them; other keys pass through too
    sparse = tmp_path / "c.jsonl"
    sparse.write_text(json.dumps({"id": "c0", "text": docs_for("c")[0]["text"], "version": "v1"}) + "\n")
    assert _run(minimal_config, tmp_path / "sparse", [sparse]) == 0
    schema = pq.read_schema(tmp_path / "sparse" / "documents" / "c.parquet")
    assert {"source", "added", "created", "metadata", "version"} <= set(schema.names)


@pytest.mark.slow
def test_parquet_passthrough_and_derived_ids(tmp_path: Path, minimal_config: Path):
    rows = [{"text": "An English sentence about the mountains and lakes.", "score": 1.5, "tags": ["a", "b"]},
            {"text": "Another English sentence, this one about cities and streets.", "score": 2.5, "tags": []}]
    shard = _write_parquet(tmp_path / "shard-7.parquet", rows)
    out = tmp_path / "out"
    assert _run(minimal_config, out, [shard]) == 0
    table = pq.read_table(out / "documents" / "shard-7.parquet")
    assert table.column("id").to_pylist() == ["shard-7/0", "shard-7/1"]
    assert table.schema.field("score").type == pa.float64()
    assert table.column("tags").to_pylist() == [["a", "b"], []]


def test_glob_matching_nothing_fails_at_start(tmp_path: Path, minimal_config: Path, capsys):
    assert run_pipeline(minimal_config, tmp_path / "out", "--input", str(tmp_path / "nothing-*.parquet")) == 2
    assert "no file matches" in capsys.readouterr().err


def test_unknown_config_key_fails_at_start(tmp_path: Path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("input: {paths: [x]}\nextract: {enabled: true, timeout: 3}\n")
    assert run_pipeline(config, tmp_path / "out") == 2
    assert "unknown config key: extract.timeout" in capsys.readouterr().err
