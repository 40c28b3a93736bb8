"""Shared fixtures: where the real data lives, how to run the pipeline and read what it wrote."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
# The local runners every byte-for-byte test compares: Beam's in-process FnApiRunner, its multi_processing mode
# (what catches what breaks on Dataflow: pickling, workers in other processes) and the portable path.
RUNNERS = {
    "in_memory": ["--runner=FnApiRunner"],
    "multi_processing": ["--runner=FnApiRunner", "--direct_running_mode=multi_processing",
                         "--direct_num_workers=2"],
    "portable": ["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"],
}


_RUNNING: dict[str, pytest.Item] = {}  # the test being set up or run (`shared_data` checks its marker)


def pytest_runtest_setup(item: pytest.Item) -> None:
    _RUNNING["item"] = item
    if item.get_closest_marker("shared_data") and not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not available: {SHARED_DATA} is not beside this clone")


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data (the real data sets beside the clone), for a test marked `shared_data`:
    `make test-fast` leaves those out, and they skip where the folder is absent (a user's clone)."""
    item = _RUNNING.get("item")
    if item is not None and not item.get_closest_marker("shared_data"):
        raise RuntimeError(f"{item.nodeid} reads ../shared/data: mark it @pytest.mark.shared_data")
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real test data not available: {path} (../shared/data is not beside this clone)")
    return path


def run_pipeline(config: Path | str, output: Path, *args: str) -> int:
    from beam_curation.pipeline.cli import main

    return main(["run", "--config", str(config), "--output", str(output), *args])


def read_folder(output: Path, folder: str):
    files = sorted((output / folder).glob("*.parquet"))
    tables = [pq.read_table(f) for f in files]
    rows = [row for t in tables for row in t.to_pylist()]
    return rows


def data_file_digests(output: Path) -> dict[str, str]:
    """sha256 of every data file (parquet) under an output directory, by relative path (internal ones too)."""
    return {str(p.relative_to(output)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(output.rglob("*.parquet"))}


def user_file_digests(output: Path) -> dict[str, str]:
    """Digests of the data files users read, not those of the internal `_` folders (whose layout follows the
    task layout, e.g. input.splits)."""
    return {k: v for k, v in data_file_digests(output).items() if not k.startswith("_")}


def assert_conservation(output: Path, expected_input: int) -> None:
    """Every input document is in exactly one of documents/, removed/, errors/."""
    kept = read_folder(output, "documents")
    removed = read_folder(output, "removed")
    errors = read_folder(output, "errors")
    assert len(kept) + len(removed) + len(errors) == expected_input
    ids = [r["id"] for r in kept + removed + errors]
    assert len(ids) == len(set(ids)), "a document appears twice"
    import json

    stats = json.loads((output / "stats.json").read_text())
    assert stats["input"] == expected_input
    assert stats["kept"] == len(kept)
    assert stats["removed_total"] == len(removed)
    assert stats["errors_total"] == len(errors)


@pytest.fixture(scope="module")
def in_repo():
    """The repository as working directory, for the module: the shipped configs read sample/ and models/
    relative to it (and a run must not depend on the directory pytest was started from otherwise)."""
    mp = pytest.MonkeyPatch()
    mp.chdir(REPO)
    yield
    mp.undo()


@pytest.fixture
def minimal_config(tmp_path: Path) -> Path:
    """Extraction and language ID only, no rules: the skeleton's path with the fewest moving parts."""
    path = tmp_path / "minimal.yaml"
    path.write_text(
        "mode: filter\n"
        "extract: {enabled: true, timeout_seconds: 20}\n"
        "langid: {enabled: true}\n"
        "signals: {enabled: true}\n"
        "dedup: {enabled: false}\n"
        "filters: {enabled: true, rules: []}\n"
    )
    return path


os.environ.setdefault("PYTHONHASHSEED", "0")

# Property tests draw the same examples on every run (a suite that passes passes again: CI is not a lottery);
# HYPOTHESIS_PROFILE=explore draws new ones, to look for new failures by hand.
from hypothesis import settings  # noqa: E402

settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture(scope="session")
def multilingual_pages() -> dict[str, str]:
    """Real page texts in 16 languages (extraction_dev and Common Crawl WARC pages), extracted once."""
    from multilingual_text import extracted_pages

    return extracted_pages()
