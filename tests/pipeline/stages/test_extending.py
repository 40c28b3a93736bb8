"""The README's Extending example, done to a copy of the package: the stage module as the page gives it,
its one line in the registry, and a run on the sample with a rule on the new column."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import REPO

pytestmark = pytest.mark.slow

PAGE = (REPO / "README.md").read_text(encoding="utf-8")


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE, re.S)


@pytest.fixture(scope="module")
def extended(tmp_path_factory) -> Path:
    """A copy of the package with the page's stage module and its registration line."""
    site = tmp_path_factory.mktemp("site")
    package = site / "beam_curation"
    shutil.copytree(REPO / "beam_curation", package,
                    ignore=lambda folder, names: [n for n in names  # the links to configs/, sample/, models/
                                                  if n == "__pycache__" or Path(folder, n).is_symlink()])
    module, line = next(b for b in _blocks() if "class Uppercase(Stage)" in b), \
        next(b for b in _blocks() if b.strip().startswith('"beam_curation.pipeline.stages.uppercase"'))
    assert len(module.splitlines()) <= 35, "the example stays short"
    (package / "pipeline" / "stages" / "uppercase.py").write_text(module)
    registry = package / "pipeline" / "stages" / "__init__.py"
    text = registry.read_text()
    anchor = '    "beam_curation.pipeline.stages.dedup_keys",\n'
    registry.write_text(text.replace(anchor, line + anchor))  # the one line, where the page says
    return site


def _run(site: Path, tmp_path: Path, *sets: str) -> subprocess.CompletedProcess:
    config = tmp_path / "upper.yaml"
    config.write_text(f"input: {{paths: ['{REPO}/sample/*.warc.gz']}}\n"
                      "langid: {enabled: true}\nsignals: {enabled: true}\ndedup: {enabled: false}\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-m", "beam_curation", "run", "--config", str(config),
                           "--output", str(tmp_path / "out"), *(a for s in sets for a in ("--set", s))],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def test_the_new_stage_writes_its_column_and_rules_use_it(extended: Path, tmp_path: Path):
    proc = _run(extended, tmp_path, "uppercase.enabled=true",
                "filters.rules=[{name: shouting, keep: 'uppercase_fraction < 0.05'}]")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "out"
    signals = {r["id"]: r for f in sorted((out / "signals").glob("*.parquet")) for r in pq.read_table(f).to_pylist()}
    kept = [r for f in sorted((out / "documents").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    removed = [r for f in sorted((out / "removed").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    for doc in kept + [r for r in removed if r["id"] in signals]:
        letters = [c for c in doc["text"] or "" if c.isalpha()]
        if len(letters) >= 20 and doc.get("removed_by") not in ("c4_empty",):
            assert math.isclose(signals[doc["id"]]["uppercase_fraction"],
                                sum(c.isupper() for c in letters) / len(letters))
    shouting = [r for r in removed if r["removed_by"] == "shouting"]
    assert shouting and kept, "the rule removes some sample pages and keeps others"
    assert all(signals[r["id"]]["uppercase_fraction"] >= 0.05 for r in shouting)
    assert all(signals[r["id"]]["uppercase_fraction"] < 0.05 for r in kept)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["uppercase"] == {"enabled": True, "min_letters": 20}


def test_a_rule_on_the_column_is_refused_while_the_stage_is_off(extended: Path, tmp_path: Path):
    proc = _run(extended, tmp_path, "filters.rules=[{name: shouting, keep: 'uppercase_fraction < 0.05'}]")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "uppercase_fraction" in proc.stderr and "uppercase.enabled" in proc.stderr
