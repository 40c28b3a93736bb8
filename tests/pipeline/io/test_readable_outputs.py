"""Every data folder reads as one dataset with Hugging Face `datasets`, DuckDB and polars as they are: no 0-row
file, one schema per folder across shards (with mixed Parquet + WARC + JSONL inputs too), JSON objects as
struct columns, and reruns that keep it so when the inputs change."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import REPO, assert_conservation, read_folder, run_pipeline, shared_data, user_file_digests

DEFAULT = REPO / "configs" / "default.yaml"
FOLDERS = ("documents", "removed", "errors", "signals", "duplicates")
SAMPLE_DOCS = 55  # HTML responses in sample/*.warc.gz
# The mixed run: the default rules on extraction, language ID and the RedPajama-V2 signals (the model stages
# add nothing to what this tests), dedup off so that adding an input leaves the other shards complete.
LIGHT = ["--set", "perplexity.enabled=false", "--set", "classifiers.enabled=false", "--set", "pii.enabled=false",
         "--set", "dedup.enabled=false"]
CCNET_DOCS, DCLM_DOCS, PAGES = 20, 8, 6



@pytest.fixture(scope="module")
def sample_run(tmp_path_factory, in_repo) -> Path:
    out = tmp_path_factory.mktemp("sample") / "out"
    assert run_pipeline(DEFAULT, out) == 0
    return out


@pytest.fixture(scope="module")
def mixed_inputs(tmp_path_factory) -> dict[str, list[Path]]:
    """Real documents in three formats. Parquet: trafilatura-eval pages (`html`, `url`, a `metadata` struct of
    their provenance and the gold snippets as a list); JSONL: cc_net documents in Dolma's format (a `metadata`
    object of other fields) and DCLM documents (no id, `label` and `unanimous`), the latter cut short in its
    last line like an interrupted download; WARC: Common Crawl and wget captures."""
    folder = tmp_path_factory.mktemp("mixed")
    gold = shared_data("extraction_dev", "trafilatura_gold.jsonl")
    entries = [json.loads(line) for line in gold.read_text(encoding="utf-8").splitlines()[:PAGES]]
    pq.write_table(pa.Table.from_pylist([
        {"id": e["id"], "url": e["url"], "html": gzip.open(gold.parent / e["html_file"], "rb").read(),
         "metadata": {"original_file": e["original_file"], "source_dir": e["source_dir"]}, "gold_with": e["with"]}
        for e in entries]), folder / "trafilatura_pages.parquet")
    shutil.copy(shared_data("quality_reference", "ccnet_en_head_sample_dolma.jsonl"), folder / "ccnet.jsonl")
    dclm = shared_data("quality_reference", "dclm_human_quality_majority_only.jsonl").read_text(encoding="utf-8")
    lines = dclm.splitlines()[:DCLM_DOCS + 1]
    (folder / "dclm.jsonl").write_text("\n".join(lines[:-1] + [lines[-1][:200]]) + "\n", encoding="utf-8")
    return {"parquet": [folder / "trafilatura_pages.parquet"], "jsonl": [folder / "ccnet.jsonl", folder / "dclm.jsonl"],
            "warc": [REPO / "sample" / "CC-MAIN-2024-22_whirlwind.warc.gz",
                     shared_data("warc", "wget_2024_dolma_sample-0000.warc.gz")]}


def _run(out: Path, inputs: list[Path], *args: str) -> None:
    assert run_pipeline(DEFAULT, out, "--input", *map(str, inputs), *LIGHT, *args) == 0


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory, mixed_inputs, in_repo) -> Path:
    out = tmp_path_factory.mktemp("mixed_out") / "out"
    _run(out, [p for paths in mixed_inputs.values() for p in paths])
    return out


@pytest.fixture(params=["sample", pytest.param("mixed", marks=pytest.mark.shared_data)])
def run(request) -> Path:
    return request.getfixturevalue(f"{request.param}_run")


def _files(out: Path, folder: str) -> list[Path]:
    return sorted((out / folder).glob("*.parquet"))


def _load_three(files_glob: str, cache: Path) -> tuple[int, int, int]:
    """Row counts of a folder read by `datasets`, DuckDB and polars, each with no option beyond the glob."""
    import datasets
    import duckdb
    import polars as pl

    datasets.disable_progress_bars()
    hf = datasets.load_dataset("parquet", data_files=files_glob, split="train", cache_dir=str(cache))
    (db,) = duckdb.sql(f"SELECT count(*) FROM read_parquet('{files_glob}')").fetchall()[0]
    pl_rows = pl.scan_parquet(files_glob).collect().height
    return len(hf), db, pl_rows


@pytest.mark.slow
def test_no_empty_file_and_one_schema_per_folder(run: Path):
    for folder in FOLDERS:
        files = _files(run, folder)
        assert all(pq.ParquetFile(f).metadata.num_rows > 0 for f in files), folder
        schemas = {str(pq.read_schema(f)) for f in files}
        assert len(schemas) <= 1, f"{folder}: {len(schemas)} schemas"
    stats = json.loads((run / "stats.json").read_text())
    assert stats["errors_total"] > 0 or not _files(run, "errors")
    # a shard with nothing for a folder has no file there, and is still complete
    shards = {p.stem for p in (run / "_shards").glob("*.json")}
    assert any(not (run / "documents" / f"{s}.parquet").exists() for s in shards)
    manifest = json.loads((run / "manifest.json").read_text())
    assert sorted(str(p.relative_to(run)) for folder in FOLDERS for p in _files(run, folder)) == \
        [f for f in manifest["outputs"] if f != "stats.json"]


@pytest.mark.slow
def test_every_folder_loads_in_datasets_duckdb_and_polars(run: Path, tmp_path: Path):
    stats = json.loads((run / "stats.json").read_text())
    expected = {"documents": stats["kept"], "removed": stats["removed_total"], "errors": stats["errors_total"]}
    for folder in FOLDERS:
        if not _files(run, folder):
            assert expected.get(folder, 0) == 0, folder
            continue
        counts = _load_three(str(run / folder / "*.parquet"), tmp_path / "hf")
        rows = len(read_folder(run, folder))
        assert counts == (rows, rows, rows), folder
        if folder in expected:
            assert rows == expected[folder], folder


@pytest.mark.slow
def test_documents_join_signals_by_id(run: Path, tmp_path: Path):
    import datasets
    import duckdb
    import polars as pl

    docs, signals = (str(run / f / "*.parquet") for f in ("documents", "signals"))
    n_docs = len(read_folder(run, "documents"))
    (joined,) = duckdb.sql(f"SELECT count(*) FROM read_parquet('{docs}') d JOIN read_parquet('{signals}') s "
                           "ON d.id = s.id").fetchall()[0]
    assert joined == n_docs > 0, "every kept document has its signals row"
    assert pl.scan_parquet(docs).join(pl.scan_parquet(signals), on="id").collect().height == n_docs
    datasets.disable_progress_bars()
    hf_docs = datasets.load_dataset("parquet", data_files=docs, split="train", cache_dir=str(tmp_path / "hf"))
    hf_signals = datasets.load_dataset("parquet", data_files=signals, split="train", cache_dir=str(tmp_path / "hf"))
    assert len(set(hf_docs["id"]) & set(hf_signals["id"])) == n_docs


@pytest.mark.shared_data
@pytest.mark.slow
def test_mixed_inputs_share_typed_columns(mixed_run: Path, mixed_inputs):
    import duckdb
    import polars as pl

    docs = read_folder(mixed_run, "documents") + read_folder(mixed_run, "removed")
    errors = read_folder(mixed_run, "errors")
    assert len(errors) == 1 and errors[0]["stage"] == "read" and "dclm" in errors[0]["id"]
    assert [p.name for p in _files(mixed_run, "errors")] == ["dclm.parquet"]
    assert pq.read_schema(_files(mixed_run, "errors")[0]).names == ["id", "stage", "error", "input"]
    schema = pq.read_schema(_files(mixed_run, "documents")[0])
    assert schema.names[:5] == ["id", "text", "url", "language", "language_score"]
    # Parquet columns first (the first input shard's), then the others by shard; JSONL's by name
    types = {f.name: f.type for f in schema}
    metadata = types["metadata"]
    assert pa.types.is_struct(metadata), "a JSON object is a struct column, not JSON text"
    fields = {f.name: f.type for f in metadata}
    assert fields["perplexity"] == pa.float64() and fields["line_ids"] == pa.list_(pa.int64())
    assert fields["original_file"] == pa.string() and fields["bucket"] == pa.string()
    assert types["label"] == pa.int64() and types["unanimous"] == pa.bool_()
    assert types["gold_with"] == pa.list_(pa.string()) and types["warc_date"] == pa.string()
    assert {"source", "added", "created"} <= set(types)
    by_id = {r["id"]: r for r in docs}
    ccnet = [json.loads(line) for line in mixed_inputs["jsonl"][0].read_text(encoding="utf-8").splitlines()]
    for record in ccnet:
        row = by_id[record["id"]]
        assert row["metadata"]["perplexity"] == record["metadata"]["perplexity"]
        assert row["metadata"]["line_ids"] == record["metadata"]["line_ids"]
        assert row["metadata"]["original_file"] is None and row["warc_date"] is None and row["label"] is None
        assert row["added"] == record["added"] and row["source"] == "common-crawl"
    warc = [r for r in docs if r["id"].startswith("<urn:uuid:")]
    assert warc and all(r["warc_date"] and r["metadata"] is None for r in warc)
    pages = [r for r in docs if r["metadata"] and r["metadata"]["original_file"]]
    assert len(pages) == PAGES and all(r["gold_with"] for r in pages)
    assert sum(r["label"] is not None for r in docs) == DCLM_DOCS
    # nested fields are queryable as such
    glob = str(mixed_run / "documents" / "*.parquet")
    (mean,) = duckdb.sql(f"SELECT avg(metadata.perplexity) FROM read_parquet('{glob}')").fetchall()[0]
    kept = [r for r in read_folder(mixed_run, "documents") if r["metadata"] and r["metadata"]["perplexity"]]
    assert mean == pytest.approx(sum(r["metadata"]["perplexity"] for r in kept) / len(kept))
    assert pl.scan_parquet(glob).select(pl.col("metadata").struct.field("bucket")).collect().height == len(
        read_folder(mixed_run, "documents"))
    assert_conservation(mixed_run, len(docs) + len(errors))


@pytest.mark.shared_data
@pytest.mark.slow
def test_changed_inputs_rewrite_complete_shards_with_the_new_columns(mixed_run: Path, mixed_inputs,
                                                                     tmp_path: Path, in_repo):
    """Adding an input with new columns rewrites the complete shards with them (from their stored annotations);
    taking it away again restores the first run's bytes."""
    out = tmp_path / "out"
    shutil.copytree(mixed_run / "_annotations", out / "_annotations")  # annotated once, in the fixture
    first = mixed_inputs["parquet"] + mixed_inputs["warc"]
    _run(out, first)
    before = user_file_digests(out)
    assert "label" not in pq.read_schema(_files(out, "documents")[0]).names
    _run(out, first + mixed_inputs["jsonl"])
    schemas = {str(pq.read_schema(f)) for f in _files(out, "documents")}
    assert len(schemas) == 1 and "label" in pq.read_schema(out / "documents" / "trafilatura_pages.parquet").names
    this_run = json.loads((out / "stats.json").read_text())["this_run"]
    assert this_run["tasks_annotated"] == 0
    assert_conservation(out, json.loads((mixed_run / "stats.json").read_text())["input"])
    _run(out, first)
    assert user_file_digests(out) == before


@pytest.mark.shared_data
@pytest.mark.slow
def test_rerun_deletes_what_an_earlier_run_of_a_shard_wrote(mixed_run: Path, mixed_inputs, tmp_path: Path, in_repo):
    """A shard that now has nothing for a folder leaves no file of an earlier run there, whether that run's
    marker is there (a config change) or lost (a crash)."""
    inputs = [p for paths in mixed_inputs.values() for p in paths]
    for lose_markers in (False, True):
        out = tmp_path / f"lost{lose_markers}"
        shutil.copytree(mixed_run, out)
        removed_before = {p.name for p in _files(out, "removed")}
        if lose_markers:
            for marker in (out / "_shards").glob("*.json"):
                marker.unlink()
        _run(out, inputs, "--set", "mode=annotate")  # removes only what has no text
        removed = read_folder(out, "removed")
        assert {r["removed_by"] for r in removed} <= {"extract_empty"}
        left = {p.name for p in _files(out, "removed")}
        assert left < removed_before, "a shard whose removals are all gone keeps no removed/ file"
        assert_conservation(out, json.loads((mixed_run / "stats.json").read_text())["input"])


@pytest.mark.shared_data
def test_json_values_are_typed_as_pyarrow_types_them():
    """The column types of real Dolma records' values are those pyarrow infers for the same values (fields by
    name), and every value converts to its column's type."""
    from beam_curation.pipeline.io.passthrough import ColumnUnion, conform

    records = [json.loads(line) for line in
               shared_data("quality_reference", "ccnet_en_head_sample_dolma.jsonl").read_text().splitlines()]
    union = ColumnUnion()
    for record in records:
        union.add_values({k: v for k, v in record.items() if k not in ("id", "text")})
    for f in union.output_fields():
        reference = pa.array([r.get(f.name) for r in records]).type
        if pa.types.is_struct(reference):
            assert sorted((c.name, c.type) for c in reference) == sorted((c.name, c.type) for c in f.type)
        else:
            assert f.type == reference, f.name
        pa.array([conform(r.get(f.name), f.type) for r in records], type=f.type)


def test_conflicting_types_are_widened_not_refused():
    from beam_curation.pipeline.io.passthrough import ColumnUnion, conform, output_column

    union = ColumnUnion()
    union.add(0, [pa.field("label", pa.float32()), pa.field("meta", pa.struct([("a", pa.int32())])),
                  pa.field("tags", pa.list_(pa.int8())), pa.field("note", pa.string())])
    jsonl = ColumnUnion()  # a second shard, of JSONL records
    for values in ({"label": 1, "meta": {"b": "x"}, "tags": [2.5], "note": {"k": [1]}}, {"label": None, "extra": None}):
        jsonl.add_values(values)
    union.add(1, jsonl.fields())
    fields = {f.name: f.type for f in union.output_fields()}
    assert fields == {"label": pa.float64(), "meta": pa.struct([("a", pa.int32()), ("b", pa.string())]),
                      "tags": pa.list_(pa.float64()), "note": pa.string(), "extra": pa.string()}
    assert list(fields)[:4] == ["label", "meta", "tags", "note"], "the first shard's order, then by name"
    assert conform({"k": [1]}, fields["note"]) == '{"k": [1]}' and conform("text", fields["note"]) == "text"
    assert conform({"b": "x"}, fields["meta"]) == {"a": None, "b": "x"} and conform(3, pa.float64()) == 3.0
    assert output_column("language") == "input_language" and output_column("source") == "source"
    # order-independent: the same union whichever order shards are added and merged in
    a, b = ColumnUnion().add(1, [pa.field("x", pa.int32())]), ColumnUnion().add(0, [pa.field("x", pa.float64())])
    assert ColumnUnion().merge(a).merge(b).fields() == ColumnUnion().merge(b).merge(a).fields() == \
        [pa.field("x", pa.float64())]
