"""What a run has finished, counted from the markers it commits, and the live line that shows it on a terminal.

The two-phase graph commits one marker per annotation task (`_annotations/<task>.json`, beam_curation.pipeline.io.annotations)
and one per written shard (`_shards/<shard>.json`, beam_curation.pipeline.io.shards), each once its files are whole. A thread
in the driver that lists those two folders sees the run's progress on every runner whose workers write where
the driver reads (in-process FnApiRunner, its multi_processing mode, Dask) without any runner API, and the
same counts tell, on Ctrl-C, what a rerun will reuse. On Dataflow or Flink the runner's counters are the
progress; the line is also off when stderr is not a terminal.
"""

from __future__ import annotations

import contextlib
import logging
import posixpath
import sys
import threading
import time
from dataclasses import dataclass
from typing import Iterator, Optional

from beam_curation.pipeline.io.annotations import read_task_marker
from beam_curation.pipeline.io.document import ShardSpec
from beam_curation.pipeline.io.shards import SHARD_MARKERS, read_marker

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Counts:
    tasks: int  # annotation tasks of the run (0 when it decides from another run's annotations)
    tasks_done: int  # of them, committed (before or during this run)
    tasks_todo: int  # of them, not committed when the run started
    shards: int
    shards_done: int
    shards_todo: int
    documents: int  # documents this run annotated (or, deciding only, wrote)

    @property
    def annotated(self) -> int:
        """Tasks this run annotated."""
        return self.tasks_done - (self.tasks - self.tasks_todo)

    @property
    def written(self) -> int:
        """Shards this run wrote."""
        return self.shards_done - (self.shards - self.shards_todo)


class Estimate:
    """Time left, from the rate of the phase under way: annotation tasks first, then written shards (phase 2 is
    estimated from its own start, as its steps cost far less per unit than annotation)."""

    def __init__(self, started: float):
        self._started = started
        self._writing_since: Optional[float] = None

    def left(self, counts: Counts, now: float) -> Optional[float]:
        if counts.tasks_done < counts.tasks:
            done = counts.annotated
            return (now - self._started) / done * (counts.tasks - counts.tasks_done) if done else None
        if self._writing_since is None:
            self._writing_since = now
        done = counts.written
        if counts.shards_done >= counts.shards:
            return 0.0
        return (now - self._writing_since) / done * (counts.shards - counts.shards_done) if done else None


def _listing(folder: str) -> dict[str, float]:
    """{marker file name: last modified} of a folder's `*.json` files (none when the folder is absent)."""
    from apache_beam.io.filesystems import FileSystems

    try:
        found = FileSystems.match([posixpath.join(folder, "*.json")])[0].metadata_list
    except Exception:  # noqa: BLE001 - not created yet
        return {}
    return {posixpath.basename(m.path): m.last_updated_in_seconds for m in found}


class MarkerCounter:
    """Counts the committed markers of one run's plan; each marker is read once, when it appears or changes."""

    def __init__(self, output: str, annotations: str, tasks: list[ShardSpec], annotation_digest: str,
                 shards: list[ShardSpec], complete: list[ShardSpec], digest: str, compute: bool):
        self._output = output
        self._annotations = annotations
        self._annotation_digest = annotation_digest
        self._digest = digest
        self._compute = compute
        self._tasks = {t.task: t.path for t in tasks} if compute else {}
        self._shards = {s.name: s.path for s in shards}
        self._complete = {s.name for s in complete}
        self._task_docs: dict[str, int] = {}  # committed task -> its documents
        self._shard_docs: dict[str, int] = {}  # shard written by this run -> its documents
        self._seen: dict[str, float] = {}  # marker path -> modification time when last read
        self._lock = threading.Lock()
        self._shard_baseline = _listing(posixpath.join(output, SHARD_MARKERS))
        self._poll_tasks()
        self._reused = set(self._task_docs)

    def _changed(self, folder: str, listing: dict[str, float], name: str) -> bool:
        path = posixpath.join(folder, name)
        modified = listing.get(name)
        if modified is None or self._seen.get(path) == modified:
            return False
        self._seen[path] = modified
        return True

    def _poll_tasks(self) -> None:
        listing = _listing(self._annotations) if self._tasks else {}
        for task, path in self._tasks.items():
            if task in self._task_docs or not self._changed(self._annotations, listing, f"{task}.json"):
                continue
            marker = read_task_marker(self._annotations, task)
            if marker is not None and marker.digest == self._annotation_digest and marker.input == path:
                self._task_docs[task] = marker.documents

    def _poll_shards(self) -> None:
        folder = posixpath.join(self._output, SHARD_MARKERS)
        listing = _listing(folder)
        for name, path in self._shards.items():
            if name in self._complete or name in self._shard_docs:
                continue
            file = f"{name}.json"
            if listing.get(file) == self._shard_baseline.get(file) or not self._changed(folder, listing, file):
                continue  # not (re)written by this run
            marker = read_marker(self._output, name)
            if marker is not None and marker.config == self._digest and marker.input == path:
                self._shard_docs[name] = int(marker.stats.get("input", 0))

    def poll(self) -> Counts:
        with self._lock:
            self._poll_tasks()
            self._poll_shards()
            annotated = sum(n for t, n in self._task_docs.items() if t not in self._reused)
            return Counts(tasks=len(self._tasks), tasks_done=len(self._task_docs),
                          tasks_todo=len(self._tasks) - len(self._reused), shards=len(self._shards),
                          shards_done=len(self._complete) + len(self._shard_docs),
                          shards_todo=len(self._shards) - len(self._complete),
                          documents=annotated if self._compute else sum(self._shard_docs.values()))


def _clock(seconds: float) -> str:
    from tqdm import tqdm

    return tqdm.format_interval(max(0, int(seconds)))


def progress_line(counts: Counts, elapsed: float, left: Optional[float]) -> str:
    """`tasks 3/8 | shards 0/8 | 1,204 docs | 66.1 docs/s | 00:18 elapsed | ~00:24 left`"""
    parts = [f"tasks {counts.tasks_done}/{counts.tasks}"] if counts.tasks else []
    parts.append(f"shards {counts.shards_done}/{counts.shards}")
    parts.append(f"{counts.documents:,} docs")
    parts.append(f"{counts.documents / elapsed:.1f} docs/s" if elapsed > 0 else "- docs/s")
    parts.append(f"{_clock(elapsed)} elapsed")
    parts.append(f"~{_clock(left)} left" if left is not None else "? left")
    return " | ".join(parts)


def interrupted_line(counts: Optional[Counts]) -> str:
    """The one line Ctrl-C prints: what is kept, and how to go on."""
    if counts is None:
        return "interrupted before the pipeline started; rerun the same command to resume"
    done = [f"{counts.tasks_done} of {counts.tasks} annotation tasks"] if counts.tasks else []
    done.append(f"{counts.shards_done} of {counts.shards} shards")
    return f"interrupted: {' and '.join(done)} finished; rerun the same command to resume"


class RunProgress:
    """Shared by the CLI and `run`: `run` says what it is about to do (`tracking`), the CLI asks what finished."""

    def __init__(self, live: bool):
        self._live = live  # draw the line (the CLI sets it when stderr is a terminal)
        self._counter: Optional[MarkerCounter] = None
        self._remote: Optional[str] = None  # the runner, when its job runs elsewhere and outlives the driver
        self._bar = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @contextlib.contextmanager
    def tracking(self, counter: MarkerCounter, local: bool, runner: str = "") -> Iterator[None]:
        """While the pipeline runs: counts for `interrupted`, and the live line for a local runner."""
        self._counter = counter
        self._remote = None if local else runner
        if not (self._live and local):
            yield
            return
        from tqdm import tqdm
        from tqdm.contrib.logging import logging_redirect_tqdm

        started = time.monotonic()
        self._bar = tqdm(total=None, bar_format="{desc}", file=sys.stderr, dynamic_ncols=True, leave=True)
        self._stop.clear()
        self._estimate = Estimate(started)
        self._thread = threading.Thread(target=self._draw, args=(started,), name="progress", daemon=True)
        with logging_redirect_tqdm():  # our log lines above the live line, not through it
            self._thread.start()
            try:
                yield
            finally:
                self._stop.set()
                self._thread.join()
                self._refresh(started)
                bar, self._bar = self._bar, None
                if bar is not None:
                    bar.close()

    def _refresh(self, started: float) -> None:
        bar = self._bar
        if bar is None:  # cleared by an interrupt
            return
        try:
            counts = self._counter.poll()
        except Exception as exc:  # noqa: BLE001 - a listing that failed once is retried at the next poll
            log.debug("progress: %s", exc)
            return
        now = time.monotonic()
        line = progress_line(counts, now - started, self._estimate.left(counts, now))
        bar.set_description_str(line, refresh=True)

    def _draw(self, started: float) -> None:
        while True:
            self._refresh(started)
            if self._stop.wait(POLL_SECONDS):
                return

    def interrupted(self) -> str:
        """Clear the live line and say what finished (called once, on Ctrl-C, from another thread)."""
        bar, self._bar = self._bar, None
        self._stop.set()
        if bar is not None:
            bar.leave = False
            bar.close()
        try:
            line = interrupted_line(self._counter.poll() if self._counter is not None else None)
        except Exception:  # noqa: BLE001 - the folder could not be listed: say so rather than guess
            line = "interrupted; rerun the same command to resume (finished tasks and shards are kept)"
        if self._remote:
            line += f" once the job submitted to {self._remote} has ended (it runs on unless cancelled there)"
        return line
