"""The peer benchmark's own arithmetic: the copies it writes, the CPU it counts, the limit it divides by."""

from __future__ import annotations

import os
import sys

import pyarrow.parquet as pq
import pytest

from conftest import shared_data
from scripts import bench_peer


def test_copies_differ_in_id_only_and_fill_the_shards_in_id_order(tmp_path):
    pages = [{"id": f"p{i}", "url": f"https://example.org/{i}", "html": f"<p>page {i}</p>".encode()}
             for i in range(5)]
    assert bench_peer.write_shards(pages, 3, tmp_path / "in", shards=4) == 15
    files = sorted((tmp_path / "in").glob("*.parquet"))
    assert len(files) == 4
    rows = [row for f in files for row in pq.read_table(f).to_pylist()]
    ids = [r["id"] for r in rows]
    assert ids == sorted(ids) and len(set(ids)) == 15
    by_page = {}
    for row in rows:
        by_page.setdefault(row["id"].split(".")[0], set()).add((row["url"], row["html"]))
    assert all(len(copies) == 1 for copies in by_page.values())  # same url and bytes for every copy


def test_cpu_of_the_tree_counts_descendants(tmp_path):
    """A command whose grandchild spends the CPU: the parent's own CPU alone would be near zero."""
    burn = ("import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass\n")
    child = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {burn!r}], check=True)"
    cmd = [sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}], check=True)"]
    figures = bench_peer.measure(cmd, tmp_path / "log", dict(os.environ))
    assert figures["cpu"] >= 0.5
    assert figures["wall"] > 0 and figures["rss_mb"] > 0


def test_a_failing_command_is_reported(tmp_path):
    with pytest.raises(SystemExit, match="exit code 3"):
        bench_peer.measure([sys.executable, "-c", "import sys; sys.exit(3)"], tmp_path / "log", dict(os.environ))


@pytest.mark.shared_data
@pytest.mark.slow
def test_the_limit_is_trafilatura_on_the_pages_the_gate_lets_through():
    pages = bench_peer.load_pages(shared_data("extraction_dev"))[:40]
    limit = bench_peer.extraction_limit(pages, repeat=2)
    assert limit["pages"] == 80
    assert 0 < limit["pages_through_gate"] < 80 and limit["pages_through_gate"] % 2 == 0
    assert limit["cpu_s"] > 0
