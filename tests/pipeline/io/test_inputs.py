"""Inputs as users have them: Common Crawl WET (text, no extraction) beside WARC, WAT refused at start, a folder
as the input, and files that hold no document reported as read errors rather than read as nothing."""

from __future__ import annotations

import gzip
import io
import json
import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.warcwriter import WARCWriter

from conftest import assert_conservation, read_folder, run_pipeline, shared_data
from beam_curation.pipeline.config import load_config
from beam_curation.pipeline.io.document import ShardSpec
from beam_curation.pipeline.io.input_record import decode_input
from beam_curation.pipeline.io.readers import read_shard
from beam_curation.pipeline.io.shards import plan_shards

WET = ("warc", "CC-MAIN-2024-22_whirlwind.warc.wet.gz")
WAT = ("warc", "CC-MAIN-2024-22_whirlwind.warc.wat.gz")
WARC = ("warc", "CC-MAIN-2024-22_whirlwind.warc.gz")
CONFIG = ("mode: filter\n"
          "extract: {enabled: true, timeout_seconds: 20}\n"
          "langid: {enabled: true}\n"
          "signals: {enabled: false}\n"
          "dedup: {enabled: false}\n"
          "filters: {enabled: true, rules: []}\n")


def _records(path: Path) -> list[tuple[str, dict[str, str], bytes]]:
    """(type, WARC headers, block) of every record, read with warcio on its own (the independent count)."""
    with path.open("rb") as handle:
        return [(r.rec_type, dict(r.rec_headers.headers), r.content_stream().read()) for r in ArchiveIterator(handle)]


def _conversions(path: Path) -> list[tuple[dict[str, str], bytes]]:
    return [(headers, block) for kind, headers, block in _records(path) if kind == "conversion"]


def _html_responses(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for r in ArchiveIterator(handle) if r.rec_type == "response"
                   and (r.http_headers.get_header("Content-Type") or "").startswith("text/html"))


def _write_wet(path: Path, pages: list[dict]) -> Path:
    """A WET file as Common Crawl writes them (a warcinfo, then one gzipped text/plain conversion per page), of
    real article texts (the Scrapinghub benchmark's gold bodies), written with warcio."""
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "test_inputs"}))
        for page in pages:
            record = writer.create_warc_record(
                page["url"], "conversion", payload=io.BytesIO(page["articleBody"].encode()),
                warc_content_type="text/plain", warc_headers_dict={"WARC-Date": "2024-05-18T01:58:10Z"})
            writer.write_record(record)
    return path


def _without_responses(source: Path, target: Path) -> Path:
    """A real Common Crawl WARC with its response records cut out (warcinfo, request, metadata are left): the
    gzip members are copied byte for byte."""
    data = source.read_bytes()
    kept = []
    with source.open("rb") as handle:
        records = ArchiveIterator(handle)
        for record in records:
            kind = record.rec_type
            records.read_to_end(record)
            if kind != "response":
                offset = records.get_record_offset()
                kept.append(data[offset:offset + records.get_record_length()])
    target.write_bytes(b"".join(kept))
    return target


def _config(folder: Path) -> Path:
    path = folder / "inputs.yaml"
    path.write_text(CONFIG)
    return path


# ---------------------------------------------------------------------------------------------------------
# One run over a folder of every kind of input, shared by the tests below.

@pytest.fixture(scope="module")
def folder_run(tmp_path_factory: pytest.TempPathFactory):
    import shutil

    root = tmp_path_factory.mktemp("inputs")
    data = root / "crawl"
    (data / "wet").mkdir(parents=True)
    (data / "warc" / "deeper").mkdir(parents=True)
    (data / "wat").mkdir()
    (data / "_SUCCESS").write_text("")  # a Spark marker: internal, skipped
    (data / ".cache").mkdir()
    (data / ".cache" / "stale.jsonl").write_text('{"id": "hidden", "text": "never read"}\n')
    (data / "README.md").write_text("not an input\n")
    shutil.copy(shared_data(*WET), data / "wet" / WET[1])
    shutil.copy(shared_data(*WAT), data / "wat" / WAT[1])
    shutil.copy(shared_data(*WARC), data / "warc" / "deeper" / WARC[1])
    gold = shared_data("extraction_dev", "scrapinghub_gold.jsonl")
    pages = [json.loads(line) for line in gold.read_text().splitlines()[:6]]
    _write_wet(data / "wet" / "articles.wet.gz", pages)
    pq.write_table(pa.Table.from_pylist([{"id": "p0", "text": pages[0]["articleBody"]}]), data / "texts.parquet")
    (data / "dolma.jsonl").write_text(json.dumps({"id": "j0", "text": pages[1]["articleBody"]}) + "\n")
    empty = {
        "zero.parquet": b"",  # 0 bytes: not a Parquet file
        "zero.jsonl": b"",
        "blank.jsonl": b"\n\n",
        "nothing.jsonl.gz": gzip.compress(b""),  # a valid gzip of nothing
        "zero.warc.gz": b"",
    }
    for name, blob in empty.items():
        (data / name).write_bytes(blob)
    pq.write_table(pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())}),
                   data / "norows.parquet")
    _without_responses(shared_data(*WARC), data / "warc" / "requests-only.warc.gz")
    empties = sorted([*empty, "norows.parquet", "warc/requests-only.warc.gz"])
    out = root / "out"
    logger = logging.getLogger("beam_curation.pipeline.io.shards")
    handler = _Remember()
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        code = run_pipeline(_config(root), out, "--input", str(data))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    return {"code": code, "data": data, "out": out, "empties": empties, "logs": handler.messages, "pages": pages}


class _Remember(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.mark.shared_data
@pytest.mark.slow
def test_wet_conversion_records_are_documents_with_their_ids_and_urls(folder_run):
    assert folder_run["code"] == 0
    data, out = folder_run["data"], folder_run["out"]
    docs = {r["id"]: r for r in read_folder(out, "documents") + read_folder(out, "removed")}
    for wet in (data / "wet" / WET[1], data / "wet" / "articles.wet.gz"):
        conversions = _conversions(wet)
        assert conversions, wet
        ids = [headers["WARC-Record-ID"] for headers, _ in conversions]
        assert len(set(ids) & set(docs)) == len(conversions), f"{wet.name}: one document per conversion record"
        for headers, block in conversions:
            doc = docs[headers["WARC-Record-ID"]]
            assert doc["url"] == headers["WARC-Target-URI"]
            assert doc["warc_date"] == headers["WARC-Date"]
            if "removed_by" not in doc:
                assert doc["text"] == block.decode("utf-8"), "WET text is taken as it is, not re-extracted"
    sample = docs[_conversions(data / "wet" / WET[1])[0][0]["WARC-Record-ID"]]
    assert sample["url"] == "https://an.wikipedia.org/wiki/Escopete"
    stats = json.loads((out / "stats.json").read_text())
    # only the WARC's HTML responses are extracted; WET, Parquet and JSONL text is not
    assert stats["stages"]["extract"]["documents"] == _html_responses(data / "warc" / "deeper" / WARC[1])


@pytest.mark.shared_data
@pytest.mark.slow
def test_a_folder_reads_every_supported_file_and_names_what_it_skips(folder_run):
    data, out = folder_run["data"], folder_run["out"]
    manifest = json.loads((out / "manifest.json").read_text())
    read = [Path(i["path"]).relative_to(data).as_posix() for i in manifest["inputs"]]
    expected = sorted(["texts.parquet", "dolma.jsonl", f"wet/{WET[1]}", "wet/articles.wet.gz",
                       f"warc/deeper/{WARC[1]}", *folder_run["empties"]])
    assert read == expected, "every supported file, at any depth, in path order"
    formats = {Path(i["path"]).name: i["format"] for i in manifest["inputs"]}
    assert formats[WET[1]] == formats["articles.wet.gz"] == "wet" and formats[WARC[1]] == "warc"
    (line,) = [m for m in folder_run["logs"] if "skipped" in m]
    for name in ("README.md", "_SUCCESS", ".cache/stale.jsonl", f"wat/{WAT[1]}"):
        assert name in line
    expected_docs = (len(_conversions(data / "wet" / WET[1])) + len(_conversions(data / "wet" / "articles.wet.gz"))
                     + _html_responses(data / "warc" / "deeper" / WARC[1]) + 2)
    assert_conservation(out, expected_docs + len(folder_run["empties"]))


@pytest.mark.shared_data
@pytest.mark.slow
def test_files_with_no_document_are_read_errors_naming_them(folder_run):
    data, out = folder_run["data"], folder_run["out"]
    errors = read_folder(out, "errors")
    by_path = {Path(decode_input(e["input"])["path"]).relative_to(data).as_posix(): e for e in errors}
    assert sorted(by_path) == folder_run["empties"] and len(errors) == len(folder_run["empties"])
    assert all(e["stage"] == "read" for e in errors)
    assert "0 bytes" in by_path["zero.parquet"]["error"]
    for name in ("zero.jsonl", "blank.jsonl", "nothing.jsonl.gz", "norows.parquet", "zero.warc.gz"):
        assert by_path[name]["error"].startswith("EmptyInput") and name in by_path[name]["error"]
    requests = by_path["warc/requests-only.warc.gz"]["error"]
    assert "no page record" in requests and "request" in requests and "metadata" in requests
    assert any("empty (0 bytes)" in m and "zero.jsonl" in m for m in folder_run["logs"]), "warned at start too"


# ---------------------------------------------------------------------------------------------------------
# Reading and planning, without a run

@pytest.mark.shared_data
def test_wet_sample_read_directly():
    path = shared_data(*WET)
    docs = list(read_shard(ShardSpec(str(path), "wet", "wet")))
    conversions = _conversions(path)
    assert len(docs) == len(conversions) == 1
    (doc,), ((headers, block),) = docs, conversions
    assert (doc.id, doc.url) == (headers["WARC-Record-ID"], headers["WARC-Target-URI"])
    assert doc.html is None and doc.text == block.decode("utf-8") and doc.error is None


@pytest.mark.shared_data
def test_explicit_warc_format_reads_a_wet_file_as_wet(tmp_path: Path, caplog):
    config = load_config(_config(tmp_path), ["input.format=warc"],
                         input_paths=[str(shared_data(*WET)), str(shared_data(*WARC))])
    with caplog.at_level(logging.INFO, logger="beam_curation.pipeline.io.shards"):
        shards = plan_shards(config)
    assert [(s.name, s.format) for s in shards] == [("CC-MAIN-2024-22_whirlwind", "warc"),
                                                    ("CC-MAIN-2024-22_whirlwind.wet", "wet")]
    (line,) = [r.getMessage() for r in caplog.records if "read as WET" in r.getMessage()]
    assert WET[1] in line
    docs = list(read_shard(shards[1]))
    assert [d.id for d in docs] == [h["WARC-Record-ID"] for h, _ in _conversions(shared_data(*WET))]
    assert all(d.error is None and d.text for d in docs)


@pytest.mark.parametrize("slices", [1, 3])
def test_an_empty_file_is_one_read_error_whatever_the_slices(tmp_path: Path, slices: int):
    files = {"a.jsonl": b"", "b.jsonl.gz": gzip.compress(b""), "c.warc.gz": b"", "d.parquet": b""}
    for name, blob in files.items():
        (tmp_path / name).write_bytes(blob)
    fmt = {"a.jsonl": "jsonl", "b.jsonl.gz": "jsonl", "c.warc.gz": "warc", "d.parquet": "parquet"}
    for name in files:
        docs = [d for k in range(slices)
                for d in read_shard(ShardSpec(str(tmp_path / name), name.split(".")[0], fmt[name], slice=k,
                                              slices=slices))]
        assert len(docs) == 1 and docs[0].error_stage == "read", name
        assert docs[0].raw_input["path"] == str(tmp_path / name)


@pytest.mark.shared_data
def test_a_wat_renamed_as_warc_is_a_read_error_saying_so(tmp_path: Path):
    disguised = tmp_path / "segment.warc.gz"
    disguised.write_bytes(shared_data(*WAT).read_bytes())
    (doc,) = read_shard(ShardSpec(str(disguised), "segment", "warc"))
    assert doc.error_stage == "read" and "WAT" in doc.error and "1 metadata" in doc.error


# ---------------------------------------------------------------------------------------------------------
# Refused at start: one line, exit 2, nothing written

def _refused(capsys, tmp_path: Path, *args: str) -> str:
    out = tmp_path / "out"
    assert run_pipeline(_config(tmp_path), out, *args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert not out.exists() or not any(out.iterdir()), "nothing may be written before the checks pass"
    return err


@pytest.mark.shared_data
def test_wat_is_refused_at_start(tmp_path: Path, capsys):
    err = _refused(capsys, tmp_path, "--input", str(shared_data(*WAT)))
    assert WAT[1] in err and "metadata" in err and "WARC" in err and "WET" in err
    # also when a glob picks it up among good files
    err = _refused(capsys, tmp_path, "--input", str(shared_data("warc")) + "/CC-MAIN-2024-22_whirlwind.*")
    assert WAT[1] in err and "metadata" in err


@pytest.mark.shared_data
def test_a_folder_with_nothing_to_read_is_refused(tmp_path: Path, capsys):
    folder = tmp_path / "only_wat"
    folder.mkdir()
    (folder / WAT[1]).write_bytes(shared_data(*WAT).read_bytes())
    (folder / "notes.txt").write_text("hello")
    err = _refused(capsys, tmp_path, "--input", str(folder))
    assert "no supported input file" in err and WAT[1] in err and "notes.txt" in err
    (tmp_path / "nothing").mkdir()
    assert "the folder is empty" in _refused(capsys, tmp_path, "--input", str(tmp_path / "nothing"))


@pytest.mark.shared_data
def test_an_explicit_format_contradicting_a_file_name_is_refused(tmp_path: Path, capsys):
    err = _refused(capsys, tmp_path, "--input", str(shared_data(*WET)), "--set", "input.format=jsonl")
    assert "input.format" in err and WET[1] in err and "wet" in err
