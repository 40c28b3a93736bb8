"""HTML -> main text in a sandboxed child process with a per-document time limit, after the language gate."""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from functools import partial
from typing import Iterable, Iterator

from beam_curation.filters.text.extract import ExtractOptions
from beam_curation.pipeline.graph.metrics import count, count_outcome
from beam_curation.pipeline.io.document import LANGID_PREFILTER, Doc
from beam_curation.pipeline.runners.sandbox import BATCH as SANDBOX_BATCH
from beam_curation.pipeline.stages.base import Stage
from beam_curation.settings import ConfigError


@dataclass(frozen=True)
class ExtractConfig(ExtractOptions):
    """The extractor and its options (beam_curation.filters.text.extract.ExtractOptions) plus the guard against
    a page that hangs it."""

    enabled: bool = True
    timeout_seconds: float = 5.0


class Extract(Stage):
    """The gate (beam_curation.filters.models.langid_prefilter): the page is decoded here and CLD2 guesses its
    languages from the HTML (stored for every page, so a later run with another keep-list decides the gate
    alike); a page confidently outside the kept languages is removed as `langid_prefilter` without being
    extracted. The others go to the child in batches of `BATCH`, the decoded text travelling instead of the
    bytes; while the child extracts one batch, this process decodes and guesses the next and the later stages
    work on the previous one (`stream`). With extraction off, an HTML-only document cannot go on (an error); a
    document with text is taken as it is."""

    STAGE = SECTION = "extract"
    Settings = ExtractConfig
    GUESS = "langid_prefilter"  # the guess's own time, and the documents it removed
    TRAFILATURA = "trafilatura"  # CPU time inside trafilatura.extract (in the child): what overhead is measured against
    BATCH = SANDBOX_BATCH  # documents per message to the child
    FIRST_BATCH, LAST_BATCH = 4, 2  # the sizes a chunk's batches start at and shrink to (`_batch_size`)

    @classmethod
    def enabled(cls, section: ExtractConfig) -> bool:
        return True  # with extraction off it still takes documents that have text, and refuses HTML-only ones

    @classmethod
    def validate(cls, section: ExtractConfig) -> None:
        if section.timeout_seconds <= 0:
            raise ConfigError("extract.timeout_seconds: must be > 0")
        if section.max_input_bytes <= 0:
            raise ConfigError("extract.max_input_bytes: must be > 0")
        if section.enabled and section.backend == "resiliparse" and importlib.util.find_spec("resiliparse") is None:
            raise ConfigError("extract.backend: resiliparse is not installed (pip install 'beam-curation[resiliparse]')")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sandbox = None

    def setup(self) -> None:
        if not self.section.enabled:
            return
        # trafilatura: only in the child
        from beam_curation.filters.text.extract import extract_options, extract_timed, warm_up
        from beam_curation.pipeline.runners.sandbox import Sandbox

        options = self.section
        # Everything the child unpickles lives in filters/: it never imports Beam.
        self._sandbox = Sandbox(partial(extract_timed, options=extract_options(options)), options.timeout_seconds,
                                warmup=partial(warm_up, options.backend))
        self._sandbox.start()  # its imports overlap the other stages' set-up; the first batch waits for them

    def applies(self, doc: Doc) -> bool:
        return doc.active and doc.html is not None

    def apply(self, doc: Doc) -> None:  # extraction off
        if doc.text is None:
            raise ValueError("extract.enabled is false but the document has only HTML")
        doc.html = None

    def stream(self, chunks: Iterable[list[Doc]]) -> Iterator[list[Doc]]:
        """Each chunk's documents as batches come back from the child (the child is then already extracting the
        next batch), then the chunk's documents that were not extracted (gated, failed, or with text already).
        With extraction off, each chunk once `apply` has run on it."""
        for docs in chunks:
            if not self.section.enabled:
                self.run(docs)
                yield docs
                continue
            todo = [d for d in docs if self.applies(d)]
            sent: set[int] = set()
            for batch in self._extract(todo):
                sent.update(map(id, batch))
                self._finish(batch, batch)
                yield batch
            rest = [d for d in docs if id(d) not in sent]
            self._finish(rest, [d for d in todo if id(d) not in sent])
            if rest:
                yield rest

    def run(self, docs: list[Doc]) -> None:
        if self.section.enabled:
            for _ in self.stream([docs]):
                pass
        else:  # `apply` on each document, which must have text already
            super().run(docs)
            self._finish(docs, [])

    def _finish(self, docs: list[Doc], attempted: list[Doc]) -> None:
        """Counts for the documents this stage took on; `extract_empty` for any without text."""
        for doc in attempted:
            if doc.removed_by == LANGID_PREFILTER:
                count(f"{self.GUESS}_removed")
            else:
                count_outcome(self.STAGE, doc)
        for doc in docs:  # empty input, or nothing extracted: removed in any mode
            if doc.active and not (doc.text or "").strip():
                doc.removed_by = "extract_empty"
                count("extract_removed_extract_empty")

    def _prepare(self, doc: Doc) -> bytes | str | None:
        """What the child extracts from (None: nothing to extract): the size cap, then the decoded page and
        its guess, and the gate."""
        from beam_curation.filters.text.extract import InputTooLarge

        limit = self.section.max_input_bytes
        if len(doc.html) > limit:
            doc.fail(self.STAGE, InputTooLarge(f"HTML of {len(doc.html)} bytes exceeds extract.max_input_bytes={limit}"))
            return None
        if not self.context.guess_languages:
            return doc.html
        from beam_curation.filters.models.langid_prefilter import guess_languages, outside
        from beam_curation.filters.text.html_decode import decode_html_utf8

        started = time.perf_counter()
        try:
            page, utf8 = decode_html_utf8(doc.html, doc.charset)
            doc.language_guess = guess_languages(page, utf8)
        except Exception as exc:  # noqa: BLE001 - a page that cannot be decoded fails alone
            doc.fail(self.STAGE, exc)
            return None
        finally:
            doc.add_seconds(self.GUESS, time.perf_counter() - started)
        if outside(doc.language_guess, self.context.gate):
            doc.removed_by = LANGID_PREFILTER
            doc.html = None
            return None
        return page

    def _extract(self, docs: list[Doc]) -> Iterator[list[Doc]]:
        """The documents sent to the child, batch by batch, each with its text (or its failure)."""
        sent: list[list[tuple[Doc, bytes | str]]] = []

        def batches() -> Iterator[list]:
            batch: list[tuple[Doc, bytes | str]] = []
            made = 0
            for i, doc in enumerate(docs):
                page = self._prepare(doc)
                if page is not None:
                    batch.append((doc, page))
                if len(batch) >= self._batch_size(made, len(docs) - i - 1) or (batch and i == len(docs) - 1):
                    made += 1
                    sent.append(batch)
                    yield [((page, d.url), {"declared_charset": d.charset}) for d, page in batch]
                    batch = []

        waited = self._sandbox.waited
        for results in self._sandbox.imap(batches()):
            batch = sent.pop(0)
            share = (self._sandbox.waited - waited) / len(batch)
            waited = self._sandbox.waited
            for (doc, _), result in zip(batch, results):
                doc.add_seconds(self.STAGE, share)
                if isinstance(result, BaseException):
                    doc.fail(self.STAGE, result)
                    continue
                text, seconds = result
                doc.add_seconds(self.TRAFILATURA, seconds)
                doc.text = text or ""
                doc.html = None  # the text is what travels on; only failures keep the HTML to replay
            yield [doc for doc, _ in batch]

    def _batch_size(self, made: int, left: int) -> int:
        """Documents in the next batch, with `made` batches of the chunk made and `left` of its documents not yet
        looked at: a small first batch, so the child starts as soon as a few pages are guessed, then `BATCH`,
        shrinking over the chunk's last pages, so that the later stages' work on the last batch, during which
        the child has nothing to do until the next chunk, is short."""
        if not made:
            return min(self.FIRST_BATCH, self.BATCH)
        return max(self.LAST_BATCH, min(self.BATCH, left // 4))

    def teardown(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()


STAGE = Extract
