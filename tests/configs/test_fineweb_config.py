"""configs/fineweb.yaml run through the pipeline keeps and drops what DataTrove's FineWeb filters do."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import REPO, read_folder, run_pipeline, shared_data

# Every test here runs a pipeline or a cluster: the full tier (`make test`), not `make test-fast`.
pytestmark = pytest.mark.slow

EXPECTATIONS = REPO / "tests" / "data" / "fineweb_datatrove_expectations.jsonl"


def _corpus(data: Path) -> list[tuple[str, str]]:
    spec = importlib.util.spec_from_file_location("compare_datatrove", REPO / "scripts" / "compare_datatrove.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.load_corpus(data)


@pytest.mark.shared_data
def test_fineweb_config_agrees_with_datatrove(tmp_path: Path):
    corpus = _corpus(shared_data())
    expected = {}
    for line in EXPECTATIONS.read_text().splitlines():
        row = json.loads(line)
        expected[row["sha1"]] = row
    texts = [t for _, t in corpus if hashlib.sha1(t.encode()).hexdigest() in expected]
    assert len(texts) >= 1000
    shard = tmp_path / "texts.parquet"
    pq.write_table(pa.table({"id": [f"t{i:05d}" for i in range(len(texts))], "text": texts}), shard)
    out = tmp_path / "out"
    # The rule chain alone, as DataTrove's filters were run on these texts (no extraction, language ID or dedup).
    assert run_pipeline(REPO / "configs" / "fineweb.yaml", out, "--input", str(shard),
                        "--set", "extract.enabled=false", "--set", "langid.enabled=false",
                        "--set", "dedup.enabled=false", "--direct_running_mode=multi_processing",
                        "--direct_num_workers=2") == 0
    kept = {r["id"]: r["text"] for r in read_folder(out, "documents")}
    removed = {r["id"]: r["removed_by"] for r in read_folder(out, "removed")}
    assert len(kept) + len(removed) == len(texts)
    agree = text_agree = 0
    for i, text in enumerate(texts):
        dt = expected[hashlib.sha1(text.encode()).hexdigest()]
        doc_id = f"t{i:05d}"
        if (doc_id in kept) == dt["keep"]:
            agree += 1
        if dt["keep"] and doc_id in kept and hashlib.sha1(kept[doc_id].encode()).hexdigest() == dt["text_after_sha1"]:
            text_agree += 1
    assert agree / len(texts) >= 0.99, f"keep/drop agreement {agree}/{len(texts)}"
    kept_by_datatrove = sum(1 for t in texts if expected[hashlib.sha1(t.encode()).hexdigest()]["keep"])
    assert text_agree >= 0.99 * kept_by_datatrove, "kept text must be C4's line-filtered text"
