"""The annotation stages chained chunk by chunk (`run_stages`): every document reaches every stage exactly once,
with extraction off (documents with text go straight on) and on (batches come back from the child while it
extracts the next); the later stages are set up in the background while the first pages are extracted
(`set_up_stages`), and a set-up that fails fails the task."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from apache_beam.utils.shared import Shared

from beam_curation.pipeline.config import load_config
from beam_curation.pipeline.plan import resolve
from beam_curation.pipeline.stages.base import Stage, run_stages, set_up_stages, tear_down_stages
from beam_curation.pipeline.io.document import Doc

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
    return resolve(config).annotation.build(Shared())


def _docs(n: int, extract: bool) -> list[Doc]:
    return [Doc(shard="s", row=i, id=f"d{i:02d}", text=None if extract else TEXT * 3,
                html=PAGE.format(TEXT * 3).encode() if extract else None) for i in range(n)]


@pytest.mark.parametrize("extract", [False, True])
def test_every_document_reaches_every_stage_once(tmp_path: Path, extract: bool):
    n = 40  # more than two of the child's batches
    docs = _docs(n, extract)
    docs.append(Doc(shard="s", row=n, id="empty", text=None if extract else "  ",
                    html=b"<html></html>" if extract else None))
    stages = _stages(tmp_path, extract)
    seen = _Seen()
    set_up_stages(stages)
    try:
        run_stages([*stages, seen], docs)
    finally:
        tear_down_stages(stages)
    reached = [i for call in seen.calls for i in call]
    assert sorted(reached) == sorted(d.id for d in docs), "a document was lost or seen twice"
    if extract:
        sizes = [len(call) for call in seen.calls]
        assert len(sizes) > 2, "extracted documents should come on in batches, not all at the end"
        assert sizes[0] < max(sizes), f"the first batch should be small, so the child starts early: {sizes}"
        assert sizes[-1] < max(sizes), f"the last batch should be small, so the child waits little: {sizes}"
    assert all(d.text and "library budget" in d.text for d in docs[:n])
    assert docs[-1].removed_by == "extract_empty"


class _SlowSetUp(Stage):
    """A later stage whose set-up waits for `until()` (at most 60 s) and then loads its "model"."""

    STAGE = "slow"

    def __init__(self, until=lambda: True, fails: bool = False):
        self.until, self.fails, self.model, self.ran = until, fails, None, []
        self._set_up = None

    def setup(self):
        deadline = time.monotonic() + 60
        while not self.until() and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.fails:
            raise OSError("model file missing")
        self.model = threading.current_thread().name

    def run(self, docs):
        self.ready()
        assert self.model is not None, "a stage ran before its set-up finished"
        self.ran += [d.id for d in docs]


def test_later_stages_are_set_up_while_the_first_pages_are_extracted(tmp_path: Path):
    docs = _docs(12, extract=True)
    # The set-up finishes only once the child has extracted a page: it cannot, if it ran before extraction.
    slow = _SlowSetUp(until=lambda: docs[0].text is not None)
    stages = [*_stages(tmp_path, extract=True), slow]
    started = time.monotonic()
    set_up_stages(stages)
    try:
        run_stages(stages, docs)
    finally:
        tear_down_stages(stages)
    assert time.monotonic() - started < 50, "the later stage's set-up waited for extraction that never came"
    assert slow.model.startswith("stage-setup"), "the later stage was not set up in the background"
    assert sorted(slow.ran) == sorted(d.id for d in docs)


def test_a_failed_set_up_fails_the_task_not_its_documents(tmp_path: Path):
    docs = _docs(6, extract=True)
    slow = _SlowSetUp(fails=True)
    stages = [*_stages(tmp_path, extract=True), slow]
    set_up_stages(stages)
    try:
        with pytest.raises(OSError, match="model file missing"):
            run_stages(stages, docs)
    finally:
        tear_down_stages(stages)
    assert not slow.ran and all(d.error is None for d in docs)
