"""Every shipped recipe on the bundled sample writes the same data files and stats as recorded before the
package and stage-registry rework (tests/data/shipped_outputs.json, recorded with 4854353's
`python -m pipeline run`): the rework changed the code's shape, not a byte of what users read."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import REPO, run_pipeline

pytestmark = pytest.mark.slow

RECORDED = json.loads((REPO / "tests" / "data" / "shipped_outputs.json").read_text())
USER_FOLDERS = ("documents", "removed", "errors", "signals", "duplicates")


def table_digest(path: Path) -> str:
    """sha256 of the table's Arrow IPC stream: the schema and every value, whatever Parquet writer wrote it."""
    table = pq.read_table(path)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def fingerprint(out: Path) -> tuple[dict, dict]:
    files = {str(p.relative_to(out)): {"bytes": hashlib.sha256(p.read_bytes()).hexdigest(), "table": table_digest(p)}
             for folder in USER_FOLDERS for p in sorted((out / folder).glob("*.parquet"))}
    stats = json.loads((out / "stats.json").read_text())
    for timing in ("wall_seconds", "this_run", "stages"):  # seconds differ from run to run
        stats.pop(timing)
    return files, stats


@pytest.mark.parametrize("name", sorted(RECORDED["configs"]))
def test_shipped_recipe_output_is_unchanged(name: str, tmp_path: Path, in_repo):
    assert run_pipeline(REPO / "configs" / f"{name}.yaml", tmp_path / "out") == 0
    files, stats = fingerprint(tmp_path / "out")
    recorded = RECORDED["configs"][name]
    assert stats == recorded["stats"]
    assert sorted(files) == sorted(recorded["files"])
    # The file bytes hold the Parquet writer's version: compared when it is the recorded one, else the tables.
    kind = "bytes" if pa.__version__ == RECORDED["pyarrow"] else "table"
    assert {f: d[kind] for f, d in files.items()} == {f: d[kind] for f, d in recorded["files"].items()}
