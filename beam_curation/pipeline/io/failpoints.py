"""Failpoints: where the fault-injection suite kills a run, as a machine failure would, to check that a rerun
resumes from what was committed and ends byte-identical to a run that was never stopped.

Each point is right after something is committed. `BEAM_CURATION_KILL_AT=<point>` (or `<point>:<n>`, the n-th
pass in a process) makes a process of the run that reaches it SIGKILL the run's whole process group (the
driver, Beam's workers, the extraction child). Unset, as in every real run, `reached` reads one variable."""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "BEAM_CURATION_KILL_AT"
POINTS = (
    "annotation_file",  # phase 1: a task's annotation file is in place, its marker not yet
    "task_marker",  # phase 1: a task's marker is written
    "data_file",  # phase 2: one of a part's data files is in place
    "shard_marker",  # phase 2: a shard's marker is written
    "stats",  # the end: stats.json is written, manifest.json not yet
    "manifest",  # the end: manifest.json is written, the command has not exited
)
_passes: Counter = Counter()  # passes through each point in this process (only counted when the variable is set)


def reached(point: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    name, _, nth = spec.partition(":")
    if name != point:
        return
    _passes[point] += 1
    if _passes[point] == int(nth or 1):
        os.killpg(os.getpgid(0), signal.SIGKILL)
