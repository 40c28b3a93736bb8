"""What every annotation stage is: a config section, the columns it writes, and `apply` on documents.

A stage module holds everything about one concern: its section (a frozen dataclass whose fields say whether
they shape annotations and which name files: `beam_curation.settings`), the signal columns it writes, its
start-time checks, and the code that annotates. The rest of the system loops over the registry
(`beam_curation.pipeline.stages.STAGES`): config loading, path resolution, the annotation digest, model checks,
the manifest and the output schema.

The base class owns the plumbing: it skips documents already removed or failed, turns an exception into a
per-document error at that stage instead of a failed task, times the stage per document (stats.json says
where time went) and counts what it did. Models are loaded once per worker process through `Shared`.
Stages annotate; they decide nothing but "this document has no text left" (`extract_empty`, `c4_empty`).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterable, Iterator, Optional

import pyarrow as pa
from apache_beam.utils.shared import Shared

from beam_curation.pipeline.graph.metrics import count_outcome
from beam_curation.pipeline.io.document import Doc
from beam_curation.pipeline.models import is_remote, local_model_path
from beam_curation.settings import ConfigError, annotation_view, path_settings

SPAN = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("score", pa.float64())])
SPANS = pa.list_(SPAN)  # RedPajama-V2's span type over `text`
# The driver loads a model to check it only up to this size (the shipped ones take well under a second
# together); a larger one has its layout checked where the stage can (fastText), and loads on the workers.
DRIVER_LOAD_MAX_BYTES = 256 << 20


@dataclass(frozen=True)
class StageContext:
    """What a stage needs of the run beyond its own section, resolved once on the driver."""

    gate: Optional[frozenset[str]] = None  # the kept languages the extraction gate skips pages by (None: off)
    guess_languages: bool = False  # guess each page's languages before extraction (stored for later runs)
    output: str = ""  # the run's output folder (decontamination's indexes live under it)


class _Loaded:
    """A weak-referenceable box, as `Shared.acquire` requires, for models that are not."""

    def __init__(self, value: Any):
        self.value = value


def acquire(shared: Shared, loader: Callable[..., Any], path: str | None, *args: Any) -> Any:
    """`loader(local copy of path, *args)`, once per worker process for the same arguments."""
    def load() -> _Loaded:
        return _Loaded(loader(local_model_path(path) if path else None, *args))

    return shared.acquire(load, tag=f"{getattr(loader, '__qualname__', loader)}:{path}:{args}").value


@contextlib.contextmanager
def _silent_stderr():
    """Native loaders (KenLM, fastText) print progress and complaints to file descriptor 2 themselves: a
    failed check is one line, ours."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def check_model(key: str, path: str, loader: Callable[..., Any], *args: Any,
                layout: Optional[Callable[[str], Any]] = None) -> Any:
    """Load the model at `path` once on the driver with the stage's own `loader` (`loader(path, *args)`), so a
    corrupt or truncated file fails the run at start in one line naming `key`, not every worker's task later.
    `layout(path)` checks the file's structure first (a truncated fastText model makes fastText's own loader
    read forever). Remote models are left to the workers (existence is checked); returns what `layout` did."""
    if is_remote(path):
        return None
    local = path.removeprefix("file://")
    found = None
    try:
        if layout is not None:
            found = layout(local)
        if os.path.getsize(local) <= DRIVER_LOAD_MAX_BYTES:
            with _silent_stderr():
                loader(local, *args)
    except Exception as exc:  # noqa: BLE001 - whatever the loader raises (bad_alloc too), the file is the cause
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        native = re.search(r"threw \w+ because .*?'\. (.+?)\)?$", text)  # KenLM: its C++ source, then the why
        text = native[1] if native else text
        raise ConfigError(f"{key}: cannot load the model {path}: {text[:300]} (a damaged or partial copy? "
                          "copy or build it again)") from None
    return found


class Stage:
    """One concern over a list of documents; a subclass sets the class attributes and implements `apply` (one
    document) or `apply_batch` (models that predict in batches)."""

    STAGE: ClassVar[str] = ""  # its name in stats.json, errors/ and timings
    SECTION: ClassVar[str] = ""  # its config section
    Settings: ClassVar[type] = type(None)  # the section's dataclass
    # A section added after digests were first written: left out of every digest while it is off.
    OPTIONAL: ClassVar[bool] = False
    HINT: ClassVar[Optional[str]] = None  # what a user sets to get its columns, in messages (`<section>.enabled`)

    # --- what the stage declares (class level: the driver asks before any worker starts) ---

    @classmethod
    def enabled(cls, section: Any) -> bool:
        return section.enabled

    @classmethod
    def columns(cls, section: Any) -> list[pa.Field]:
        """Signal columns this stage writes (signals/ and rules see them)."""
        return []

    @classmethod
    def validate(cls, section: Any) -> None:
        """Checks of the section's values together (each value's type is checked already), when a config is
        read; raise beam_curation.settings.ConfigError."""

    @classmethod
    def check(cls, section: Any, config: Any) -> None:
        """Start-time checks of what the stage will open (files, libraries), for an enabled stage."""

    @classmethod
    def model_paths(cls, section: Any) -> list[tuple[str, str]]:
        """(config key, path) of every model file the stage loads: checked at start, listed in the manifest."""
        return [(key, path) for key, path, kind in path_settings(section, cls.SECTION) if kind == "model"]

    @classmethod
    def digest(cls, section: Any) -> dict[str, Any]:
        """Its part of the annotation digest: every setting that shapes annotations (`annotation_view`)."""
        if cls.OPTIONAL and not section.enabled:
            return {}
        return {cls.SECTION: annotation_view(section)}

    @classmethod
    def hint(cls, column: str, section: Any) -> Optional[str]:
        """What to set for this stage to compute `column` (for messages), or None when it cannot."""
        try:
            names = {f.name for f in cls.columns(section)}
        except ValueError:
            return None
        return (cls.HINT or f"{cls.SECTION}.enabled") if column in names else None

    @classmethod
    def languages(cls, section: Any) -> dict[str, frozenset[str]]:
        """Output column -> the languages its model is for, for models limited to some (others stay unscored,
        and the writer counts them as `not_scored`)."""
        return {}

    # --- the work (one instance per worker, set up once) ---

    def __init__(self, section: Any, context: StageContext, shared: Shared):
        self.section = section
        self.context = context
        self.shared = shared
        self._set_up: Future | None = None  # a set-up running in the background (`set_up_stages`)

    def setup(self) -> None:
        pass

    def teardown(self) -> None:
        pass

    def applies(self, doc: Doc) -> bool:
        return doc.active

    def apply(self, doc: Doc) -> None:
        raise NotImplementedError

    def apply_batch(self, docs: list[Doc]) -> None:
        """Default: one document at a time, each failing on its own."""
        for doc in docs:
            started = time.perf_counter()
            try:
                self.apply(doc)
            except Exception as exc:
                doc.fail(self.STAGE, exc)
            doc.add_seconds(self.STAGE, time.perf_counter() - started)

    def ready(self) -> None:
        """Wait for a background set-up; a set-up that failed raises here (the task fails, as it did in set-up)."""
        if self._set_up is not None:
            self._set_up.result()

    def run(self, docs: list[Doc]) -> None:
        self.ready()
        todo = [d for d in docs if self.applies(d)]
        if not todo:
            return
        if type(self).apply_batch is Stage.apply_batch:
            self.apply_batch(todo)
        else:  # a batched model: one call, its time shared out; a failure fails the batch's documents
            started = time.perf_counter()
            try:
                self.apply_batch(todo)
            except Exception as exc:
                for doc in todo:
                    doc.fail(self.STAGE, exc)
            share = (time.perf_counter() - started) / len(todo)
            for doc in todo:
                doc.add_seconds(self.STAGE, share)
        for doc in todo:
            count_outcome(self.STAGE, doc)

    def stream(self, chunks: Iterable[list[Doc]]) -> Iterator[list[Doc]]:
        """The documents again, chunk by chunk, each once this stage has run on it (`run_stages` chains the
        stages this way). Extraction hands on smaller chunks as its child finishes them."""
        for docs in chunks:
            self.run(docs)
            yield docs


def in_batches(docs: list[Doc], size: int) -> Iterator[list[Doc]]:
    """`docs` in consecutive lists of at most `size`: a batched model's calls."""
    for start in range(0, len(docs), size):
        yield docs[start:start + size]


def set_up_stages(stages: list[Stage]) -> None:
    """Set the stages up: the first at once (extraction: that starts its child, which imports the extractor
    meanwhile), the later ones one after another on a background thread, so that loading spaCy and the
    fastText models (a second or more) runs while the first pages are read, guessed and extracted instead of
    before them. Each stage waits for its own set-up before it first runs (`ready`)."""
    if not stages:
        return
    stages[0].setup()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stage-setup")
    for stage in stages[1:]:
        stage._set_up = pool.submit(stage.setup)
    pool.shutdown(wait=False)  # its thread ends once the set-ups are done


def tear_down_stages(stages: list[Stage]) -> None:
    """Tear the stages down, each once its set-up has finished (a task may fail before the later stages ran)."""
    for stage in stages:
        if stage._set_up is not None:
            stage._set_up.cancel()
            try:
                stage._set_up.result()
            except BaseException:  # noqa: BLE001 - the failure was raised where the stage first ran, if it did
                pass
        stage.teardown()


def run_stages(stages: list[Stage], docs: list[Doc]) -> None:
    """Every stage on every document, in stage order per document. The stages are chained as generators, so
    the later stages work on one extracted chunk while the extraction child works on the next."""
    chunks: Iterable[list[Doc]] = [docs]
    for stage in stages:
        chunks = stage.stream(chunks)
    for _ in chunks:
        pass
