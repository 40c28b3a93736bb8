"""The annotation stages chained chunk by chunk (`run_stages`): every document reaches every stage exactly once,
with extraction off (documents with text go straight on) and on (batches come back from the child while it
extracts the next)."""

from __future__ import annotations

from pathlib import Path

import pytest
from apache_beam.utils.shared import Shared

from pipeline.config import load_config
from pipeline.graph.stages import Stage, enabled_stages, run_stages
from pipeline.io.document import Doc

PAGE = "<html><body><article><p>{}</p></article></body></html>"
TEXT = ("The committee met on Tuesday to discuss the new library budget, and after a long debate it agreed "
        "to extend the opening hours on weekends for students who need a quiet place to work. ")


class _Seen(Stage):
    """Records the documents it is run on (a later stage, as language ID or the signals are)."""

    STAGE = "seen"

    def __init__(self):
        self.calls: list[list[str]] = []

    def run(self, docs):
        self.calls.append([d.id for d in docs])


def _stages(tmp_path: Path, extract: bool) -> list[Stage]:
    path = tmp_path / "c.yaml"
    path.write_text(f"extract: {{enabled: {str(extract).lower()}, timeout_seconds: 30}}\n"
                    "langid: {enabled: false}\nsignals: {enabled: false}\ndedup: {enabled: false}\n")
    config = load_config(path)
    stages = [stage(config, Shared()) for stage in enabled_stages(config)]
    for stage in stages:
        stage.setup()
    return stages


@pytest.mark.parametrize("extract", [False, True])
def test_every_document_reaches_every_stage_once(tmp_path: Path, extract: bool):
    n = 40  # more than two of the child's batches
    docs = [Doc(shard="s", row=i, id=f"d{i:02d}", text=None if extract else TEXT * 3,
                html=PAGE.format(TEXT * 3).encode() if extract else None) for i in range(n)]
    docs.append(Doc(shard="s", row=n, id="empty", text=None if extract else "  ",
                    html=b"<html></html>" if extract else None))
    stages = _stages(tmp_path, extract)
    seen = _Seen()
    try:
        run_stages([*stages, seen], docs)
    finally:
        for stage in stages:
            stage.teardown()
    reached = [i for call in seen.calls for i in call]
    assert sorted(reached) == sorted(d.id for d in docs), "a document was lost or seen twice"
    if extract:
        assert len(seen.calls) > 2, "extracted documents should come on in batches, not all at the end"
    assert all(d.text and "library budget" in d.text for d in docs[:n])
    assert docs[-1].removed_by == "extract_empty"
