"""The job graph as Dataflow would stage it (DataflowRunner --dry_run, offline): the shipped configs translate,
the CLI ends cleanly without metrics, and the graph does not grow with the number of input shards."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REPO

# Every test here runs a pipeline or a cluster: the full tier (`make test`), not `make test-fast`.
pytestmark = pytest.mark.slow

pytest.importorskip("apache_beam.runners.dataflow.internal.apiclient", reason="apache-beam[gcp] not installed")

DATAFLOW = ["--runner=DataflowRunner", "--dry_run=True", "--project=curation-test", "--region=us-central1",
            "--temp_location=gs://curation-test/tmp", "--sdk_location=container", "--experiments=use_runner_v2",
            "--sdk_container_image=us-central1-docker.pkg.dev/curation-test/curation/worker:0.1"]


def _translate(config: Path, output: Path, *args: str):
    from beam_curation.pipeline.config import load_config
    from beam_curation.pipeline.run import run

    return run(load_config(config, list(args), output_path=str(output)), DATAFLOW)


@pytest.mark.parametrize("name", ["default.yaml", "fineweb.yaml"])
def test_shipped_configs_translate_for_dataflow(name: str, tmp_path: Path, in_repo, capsys):
    from beam_curation.pipeline.cli import main

    assert main(["run", "--config", str(REPO / "configs" / name), "--output", str(tmp_path / "out"), *DATAFLOW]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("dry run: 5 shard(s) planned") and "bytes staged" in printed
    assert not list((tmp_path / "out" / "documents").glob("*")), "a dry run writes no data"


def test_staged_graph_does_not_grow_with_the_shard_count(tmp_path: Path, in_repo):
    sizes = {}
    for n in (10, 10_000):
        folder = tmp_path / f"crawl{n}"
        folder.mkdir()
        for i in range(n):
            (folder / f"CC-MAIN-20241201{i // 1000:06d}-{i:05d}.warc.gz").touch()
        summary = _translate(REPO / "configs" / "fineweb.yaml", tmp_path / f"out{n}", f"input.paths=[{folder}/*.warc.gz]")
        assert summary.dry_run and summary.shards == n
        sizes[n] = summary.staged_graph_bytes
        assert (tmp_path / f"out{n}" / "_plan" / "tasks.jsonl").read_text().count("\n") == n
    assert abs(sizes[10_000] - sizes[10]) <= 0.01 * sizes[10], sizes
