"""`beam-curation tokenize`: Megatron's and Dolma's files read back to exactly `Tokenizer.encode(text).ids` + [eod]
for every document, in the seeded order, byte-identical across runners.

The tokenizers are trained here with the `tokenizers` library on the bundled WikiText-2 text. Megatron's files are
read by `read_megatron` below, written from the format Megatron-LM's `indexed_dataset.py` documents; that reader is
checked on files Megatron-LM's own `IndexedDatasetBuilder` wrote (tests/data/megatron_written/, see its README):
megatron-core needs torch, which does not install within the test budget. Dolma's files are read with numpy and
its metadata with csv + gzip.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import REPO, read_folder, run_pipeline

WIKITEXT = REPO / "models" / "training_data" / "kenlm_en" / "wikitext2_raw_test.txt.gz"
MEGATRON_WRITTEN = REPO / "tests" / "data" / "megatron_written"
EOD = "<|endoftext|>"


# --- readers written from the published formats -------------------------------------------------------------

def read_megatron(prefix: Path) -> tuple[np.dtype, list[np.ndarray]]:
    """(dtype, documents) of an indexed dataset: .idx = magic, version 1, dtype code, sequence count, document
    count, int32 lengths, int64 byte pointers, int64 document indices; .bin = the ids."""
    idx = Path(f"{prefix}.idx").read_bytes()
    assert idx[:9] == b"MMIDIDX\x00\x00"
    assert struct.unpack_from("<Q", idx, 9) == (1,)
    code = idx[17]
    sequences, documents = struct.unpack_from("<QQ", idx, 18)
    offset = 34
    lengths = np.frombuffer(idx, "<i4", sequences, offset)
    offset += lengths.nbytes
    pointers = np.frombuffer(idx, "<i8", sequences, offset)
    offset += pointers.nbytes
    indices = np.frombuffer(idx, "<i8", documents, offset)
    assert offset + indices.nbytes == len(idx)
    dtype = np.dtype({1: "u1", 2: "i1", 3: "<i2", 4: "<i4", 5: "<i8", 8: "<u2"}[code])
    assert list(indices) == list(range(sequences + 1))  # one sequence per document
    data = Path(f"{prefix}.bin").read_bytes()
    assert sum(lengths) * dtype.itemsize == len(data)
    assert list(pointers) == list(np.concatenate([[0], np.cumsum(lengths[:-1]) * dtype.itemsize]))[:len(pointers)]
    return dtype, [np.frombuffer(data, dtype, n, p) for n, p in zip(lengths, pointers)]


def read_dolma(prefix: Path, dtype: str) -> list[tuple[np.ndarray, str, str, int]]:
    """(ids, id, src, row) per document of a memmap and its metadata rows (start, end, id, src, loc)."""
    tokens = np.memmap(f"{prefix}.npy", dtype=dtype, mode="r")
    with gzip.open(f"{prefix}.csv.gz", "rt", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows and int(rows[0][0]) == 0 and int(rows[-1][1]) == len(tokens)
    return [(np.asarray(tokens[int(start):int(end)]), doc_id, src, int(loc)) for start, end, doc_id, src, loc in rows]


# --- tokenizers trained on bundled text ---------------------------------------------------------------------

def _train(vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    lines = gzip.open(WIKITEXT, "rt", encoding="utf-8").read().splitlines()
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOD], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(lines, trainer)
    return tokenizer


@pytest.fixture(scope="module")
def small_tokenizer(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    _train(2000).save(str(path))
    return path


@pytest.fixture(scope="module")
def large_tokenizer(tmp_path_factory) -> Path:
    """More than 65,535 ids, the text's common words and the end-of-document token among the ids above it."""
    from tokenizers import AddedToken, Tokenizer

    tokenizer = _train(2000)
    tokenizer.add_tokens([f"<unused_{i}>" for i in range(66_000)])
    tokenizer.add_tokens([" the", " of", " and", " in"])
    tokenizer.add_special_tokens([AddedToken("<|end_of_text|>", special=True)])
    path = tmp_path_factory.mktemp("tok_large") / "tokenizer.json"
    tokenizer.save(str(path))
    assert Tokenizer.from_file(str(path)).token_to_id("<|end_of_text|>") > 65_535
    return path


# --- fast: formats and per-document rules ---------------------------------------------------------------------

FIXTURE_DOCS = [[5, 17, 300, 0], [None, 1, 0], [42, 0], [7, 8, 9, 10, 11, 0]]


@pytest.mark.parametrize("name,vocab,big", [("uint16", 50_000, 49_999), ("int32", 70_000, 69_999)])
def test_the_reader_reads_megatrons_files_and_the_writer_writes_their_bytes(tmp_path: Path, name, vocab, big):
    from beam_curation.pipeline.io.megatron import megatron_dtype, write_indexed_dataset

    docs = [[big if t is None else t for t in doc] for doc in FIXTURE_DOCS]
    dtype, read = read_megatron(MEGATRON_WRITTEN / name)
    assert dtype == np.dtype(name) and [list(map(int, d)) for d in read] == docs
    assert megatron_dtype(vocab) == np.dtype(name)
    written = write_indexed_dataset(str(tmp_path / name), [np.asarray(d, megatron_dtype(vocab)) for d in docs],
                                    megatron_dtype(vocab))
    for path in written:
        suffix = Path(path).suffix
        assert Path(path).read_bytes() == (MEGATRON_WRITTEN / f"{name}{suffix}").read_bytes()


def test_dtypes_follow_megatron_and_dolma():
    from beam_curation.pipeline.io.dolma_tokens import dolma_dtype
    from beam_curation.pipeline.io.megatron import megatron_dtype

    # Megatron's DType.optimal_dtype: uint16 below 65,500, else int32; Dolma: the smallest unsigned type
    assert megatron_dtype(65_499) == np.uint16 and megatron_dtype(65_500) == np.int32
    assert dolma_dtype(65_536) == np.uint16 and dolma_dtype(65_537) == np.uint32


def test_dolma_metadata_is_gzip_csv_without_a_timestamp():
    from beam_curation.pipeline.io.dolma_tokens import metadata_bytes

    rows = [(0, 3, "a,b", "documents/x.parquet", 0), (3, 9, 'say "hi"', "documents/x.parquet", 1)]
    blob = metadata_bytes(rows)
    assert blob == metadata_bytes(rows)
    assert blob[4:8] == b"\x00\x00\x00\x00"  # gzip MTIME
    read = list(csv.reader(io.StringIO(gzip.decompress(blob).decode())))
    assert read == [[str(v) for v in row] for row in rows]


def test_end_of_document_token_and_seeded_key(small_tokenizer: Path):
    from tokenizers import Tokenizer, models

    from beam_curation.filters.tokenized import find_eod_token, id_cardinality, shuffle_key, with_eod

    tokenizer = Tokenizer.from_file(str(small_tokenizer))
    assert find_eod_token(tokenizer) == EOD and id_cardinality(tokenizer) == 2000
    assert find_eod_token(Tokenizer(models.WordLevel({"a": 0, "b": 1}, unk_token="a"))) is None
    assert with_eod([4, 5], 9) == [4, 5, 9] and with_eod([], 9) == []
    # the same in another process with another hash seed: nothing process-local
    here = [shuffle_key(seed, doc, copy) for seed in (0, 1) for doc in ("a", "<urn:uuid:1>") for copy in (0, 1)]
    code = ("from beam_curation.filters.tokenized import shuffle_key; print([shuffle_key(s, d, c) for s in (0, 1) "
            "for d in ('a', '<urn:uuid:1>') for c in (0, 1)])")
    other = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "123", "PATH": ""}).stdout
    assert json.loads(other) == here and len(set(here)) == len(here) and all(0 <= k < 2**63 for k in here)


def _fake_run(folder: Path, texts: list[str], counts: list[int] | None = None) -> Path:
    """A finished-run-shaped folder written by the test: documents/*.parquet and a manifest.json."""
    (folder / "documents").mkdir(parents=True)
    columns = {"id": [f"doc-{i}" for i in range(len(texts))], "text": texts}
    if counts is not None:
        columns["mix_count"] = counts
    pq.write_table(pa.table(columns), folder / "documents" / "part.parquet")
    (folder / "manifest.json").write_text("{}")
    return folder


def test_mistakes_are_one_line_before_any_work(tmp_path: Path, small_tokenizer: Path, capsys):
    from beam_curation.pipeline.cli import main

    from tokenizers import Tokenizer, models

    run = _fake_run(tmp_path / "run", ["some text"])
    no_eod = tmp_path / "no_eod.json"
    Tokenizer(models.WordLevel({"a": 0, "b": 1}, unk_token="a")).save(str(no_eod))
    not_json = tmp_path / "bad.json"
    not_json.write_text("{not json")
    cases = [
        (["--from", str(run), "--tokenizer", str(no_eod), "--format", "megatron", "--output", str(tmp_path / "o")],
         "no end-of-document token"),
        (["--from", str(run), "--tokenizer", str(small_tokenizer), "--format", "dolma", "--output", str(tmp_path / "o"),
          "--eod-token", "<nope>"], "--eod-token <nope>: not a token"),
        (["--from", str(tmp_path / "absent"), "--tokenizer", str(small_tokenizer), "--format", "megatron",
          "--output", str(tmp_path / "o")], "no such folder"),
        (["--from", str(run), "--tokenizer", str(not_json), "--format", "megatron", "--output", str(tmp_path / "o")],
         "not a Hugging Face tokenizer.json"),
        (["--from", str(run), "--tokenizer", str(small_tokenizer), "--format", "megatron", "--output", str(run)],
         "another folder than --from"),
        (["--from", str(run), "--tokenizer", str(small_tokenizer), "--format", "parquet", "--output", str(tmp_path)],
         "invalid choice"),
    ]
    for args, expected in cases:
        code = main(["tokenize", *args])
        err = capsys.readouterr().err
        assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, (args, err)
    assert not (tmp_path / "o").exists()


# --- slow: a real run, then tokenize --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "out"
    assert run_pipeline(REPO / "configs" / "fineweb.yaml", out) == 0
    assert len(read_folder(out, "documents")) >= 10
    return out


def _tokenize(source: Path, tokenizer: Path, fmt: str, output: Path, *extra: str) -> dict:
    from beam_curation.pipeline.cli import main

    assert main(["tokenize", "--from", str(source), "--tokenizer", str(tokenizer), "--format", fmt,
                 "--output", str(output), *extra]) == 0
    return json.loads((output / "stats.json").read_text())


def _expected(source: Path, tokenizer: Path, seed: int, eod: str = EOD) -> list[tuple[str, int, list[int], str, int]]:
    """(id, copy, ids, src, row) of every document copy, in the seeded order, from the tokenizer's own encode."""
    from tokenizers import Tokenizer

    from beam_curation.filters.tokenized import shuffle_key

    tok = Tokenizer.from_file(str(tokenizer))
    eod_id = tok.token_to_id(eod)
    copies = []
    for path in sorted((source / "documents").glob("*.parquet")):
        for row, doc in enumerate(pq.read_table(path).to_pylist()):
            ids = tok.encode(doc["text"]).ids + [eod_id]
            for copy in range(doc.get("mix_count", 1)):
                copies.append((doc["id"], copy, ids, f"documents/{path.name}", row))
    return sorted(copies, key=lambda c: (shuffle_key(seed, c[0], c[1]), c[0], c[1]))


def _parts(output: Path, suffix: str) -> list[Path]:
    found = sorted(output.glob(f"part-*{suffix}"))
    assert [p.name for p in found] == [f"part-{i:05d}{suffix}" for i in range(len(found))]
    return [p.with_suffix("") if suffix != ".csv.gz" else p.parent / p.name[: -len(suffix)] for p in found]


def _check_sizes(per_file: list[list[int]], tokens_per_file: int) -> None:
    """A file holds the documents whose first token falls in its tokens_per_file range of the order."""
    start, ranges = 0, []
    for lengths in per_file:
        ranges.append({(start + sum(lengths[:i])) // tokens_per_file for i in range(len(lengths))})
        start += sum(lengths)
    assert all(len(r) == 1 for r in ranges) and sorted(min(r) for r in ranges) == [min(r) for r in ranges]
    assert len({min(r) for r in ranges}) == len(ranges)


@pytest.mark.slow
def test_megatron_files_read_back_to_the_tokenizers_ids_in_seeded_order(finished_run: Path, small_tokenizer: Path,
                                                                         tmp_path: Path):
    out = tmp_path / "megatron"
    stats = _tokenize(finished_run, small_tokenizer, "megatron", out, "--tokens-per-file", "5000", "--seed", "7")
    expected = _expected(finished_run, small_tokenizer, seed=7)
    read, per_file = [], []
    for prefix in _parts(out, ".idx"):
        dtype, docs = read_megatron(prefix)
        assert dtype == np.uint16
        read += [list(map(int, d)) for d in docs]
        per_file.append([len(d) for d in docs])
    assert read == [ids for _, _, ids, _, _ in expected]
    assert len(per_file) > 2
    _check_sizes(per_file, 5000)
    assert stats["documents"] == len(expected) and stats["files"] == len(per_file)
    assert stats["tokens"] == sum(len(ids) for _, _, ids, _, _ in expected)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"] == "tokenize" and manifest["eod_id"] == read[0][-1] and manifest["dtype"] == "uint16"
    assert sorted(manifest["outputs"]) == sorted(p.name for p in out.iterdir() if p.is_file() and p.name != "manifest.json")
    assert not (out / "_tokenize").exists()

    # another seed, another order of the same documents; rerun into the same folder leaves no file of the first
    _tokenize(finished_run, small_tokenizer, "megatron", out, "--tokens-per-file", "1000000", "--seed", "8")
    assert [p.name for p in sorted(out.glob("part-*"))] == ["part-00000.bin", "part-00000.idx"]
    again = [list(map(int, d)) for d in read_megatron(out / "part-00000")[1]]
    assert again == [ids for _, _, ids, _, _ in _expected(finished_run, small_tokenizer, seed=8)] != read


@pytest.mark.slow
def test_dolma_files_read_back_with_numpy_and_their_metadata(finished_run: Path, small_tokenizer: Path,
                                                            tmp_path: Path):
    out = tmp_path / "dolma"
    stats = _tokenize(finished_run, small_tokenizer, "dolma", out, "--tokens-per-file", "5000")
    expected = _expected(finished_run, small_tokenizer, seed=0)
    read, per_file = [], []
    for prefix in _parts(out, ".npy"):
        docs = read_dolma(prefix, "uint16")
        read += docs
        per_file.append([len(ids) for ids, _, _, _ in docs])
    assert [list(map(int, ids)) for ids, _, _, _ in read] == [ids for _, _, ids, _, _ in expected]
    assert [(doc_id, src, row) for _, doc_id, src, row in read] == [(i, s, r) for i, _, _, s, r in expected]
    # src and row name the document: reading that row gives back its text
    doc_id, src, row = read[0][1:]
    assert pq.read_table(finished_run / src).slice(row, 1).to_pylist()[0]["id"] == doc_id
    _check_sizes(per_file, 5000)
    assert stats["files"] == len(per_file) > 1


@pytest.mark.slow
def test_a_vocabulary_over_65535_is_stored_as_int32_and_uint32(finished_run: Path, large_tokenizer: Path,
                                                               tmp_path: Path):
    expected = [ids for _, _, ids, _, _ in _expected(finished_run, large_tokenizer, 0, eod="<|end_of_text|>")]
    assert max(max(ids) for ids in expected) > 65_535
    # the tokenizer holds <|endoftext|> too (id 0, found first by default): --eod-token names the one to use
    _tokenize(finished_run, large_tokenizer, "megatron", tmp_path / "m", "--eod-token", "<|end_of_text|>")
    dtype, docs = read_megatron(tmp_path / "m" / "part-00000")
    assert dtype == np.int32 and [list(map(int, d)) for d in docs] == expected
    _tokenize(finished_run, large_tokenizer, "dolma", tmp_path / "d", "--eod-token", "<|end_of_text|>")
    assert [list(map(int, ids)) for ids, *_ in read_dolma(tmp_path / "d" / "part-00000", "uint32")] == expected
    assert json.loads((tmp_path / "d" / "manifest.json").read_text())["dtype"] == "uint32"


@pytest.mark.slow
def test_a_mixtures_documents_repeat_as_often_as_drawn(finished_run: Path, small_tokenizer: Path, tmp_path: Path):
    texts = [row["text"] for row in read_folder(finished_run, "documents")][:8]
    counts = [0, 1, 2, 3, 1, 0, 2, 1]
    mix = _fake_run(tmp_path / "mix", texts, counts)
    stats = _tokenize(mix, small_tokenizer, "megatron", tmp_path / "out", "--tokens-per-file", "3000")
    expected = _expected(mix, small_tokenizer, seed=0)
    assert len(expected) == sum(counts)
    read = [list(map(int, d)) for prefix in _parts(tmp_path / "out", ".idx") for d in read_megatron(prefix)[1]]
    assert read == [ids for _, _, ids, _, _ in expected]
    assert stats["documents"] == sum(counts) and stats["distinct_documents"] == sum(1 for c in counts if c)
    # a file smaller than every document: one document per file, the numbers consecutive (none left unused)
    _tokenize(mix, small_tokenizer, "megatron", tmp_path / "out", "--tokens-per-file", "1")
    per_file = [read_megatron(prefix)[1] for prefix in _parts(tmp_path / "out", ".idx")]
    assert [len(docs) for docs in per_file] == [1] * sum(counts)
    assert [list(map(int, docs[0])) for docs in per_file] == read


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("part-*"))}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["megatron", "dolma"])
def test_in_process_and_multi_processing_runners_write_the_same_bytes(finished_run: Path, small_tokenizer: Path,
                                                                      tmp_path: Path, fmt: str):
    _tokenize(finished_run, small_tokenizer, fmt, tmp_path / "a", "--tokens-per-file", "4000")
    _tokenize(finished_run, small_tokenizer, fmt, tmp_path / "b", "--tokens-per-file", "4000",
              "--direct_running_mode=multi_processing", "--direct_num_workers=2")
    assert len(_digests(tmp_path / "a")) > 4 and _digests(tmp_path / "a") == _digests(tmp_path / "b")
