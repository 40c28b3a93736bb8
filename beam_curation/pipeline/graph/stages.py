"""The annotation stages: each applies one `filters` concern to a batch of documents inside an annotation task.

A stage declares the signal columns it writes (`columns`, next to its code; beam_curation.pipeline.io.schema concatenates them
in stage order) and implements `apply` (one document) or `apply_batch` (models that predict in batches). The
base class owns the plumbing: it skips documents already removed or failed, turns an exception into a
per-document error at that stage instead of a failed task, times the stage per document (stats.json says
where time went) and counts what it did. Models are loaded once per worker process through `Shared`.

Stages annotate; they decide nothing but "this document has no text left" (`extract_empty`, `c4_empty`). The
language keep-list, rules and dedup are decided later from the stored annotations (beam_curation.pipeline.graph.decide).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any, Callable, Iterable, Iterator

import pyarrow as pa
from apache_beam.utils.shared import Shared

from beam_curation.pipeline.config import Config
from beam_curation.pipeline.io.document import LANGID_PREFILTER, Doc
from beam_curation.pipeline.graph.metrics import count, count_outcome
from beam_curation.pipeline.models import local_model_path
from beam_curation.pipeline.runners.sandbox import BATCH as SANDBOX_BATCH

log = logging.getLogger(__name__)

SPAN = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("score", pa.float64())])
SPANS = pa.list_(SPAN)
REMOVED_LINES = pa.list_(pa.struct([("start", pa.int64()), ("end", pa.int64()), ("reason", pa.string())]))
PII_SPANS = pa.list_(pa.struct([("start", pa.int64()), ("end", pa.int64()), ("kind", pa.string())]))


class _Loaded:
    """A weak-referenceable box, as `Shared.acquire` requires, for models that are not."""

    def __init__(self, value: Any):
        self.value = value


def _acquire(shared: Shared, loader: Callable[..., Any], path: str | None, *args: Any) -> Any:
    """`loader(local copy of path, *args)`, once per worker process for the same arguments."""
    def load() -> _Loaded:
        return _Loaded(loader(local_model_path(path) if path else None, *args))

    return shared.acquire(load, tag=f"{getattr(loader, '__qualname__', loader)}:{path}:{args}").value


class Stage:
    """One concern over a list of documents; subclasses set STAGE and implement `apply` or `apply_batch`."""

    STAGE = ""

    def __init__(self, config: Config, shared: Shared):
        self.config = config
        self.shared = shared
        self._set_up: Future | None = None  # a set-up running in the background (`set_up_stages`)

    @staticmethod
    def enabled(config: Config) -> bool:
        return True

    @staticmethod
    def columns(config: Config) -> list[pa.Field]:
        """Signal columns this stage writes (signals/ and rules see them)."""
        return []

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


def set_up_stages(stages: list[Stage]) -> None:
    """Set the stages up: extraction at once (that starts its child, which imports the extractor meanwhile),
    the later stages one after another on a background thread, so that loading spaCy and the fastText models
    (a second or more) runs while the first pages are read, guessed and extracted instead of before them. Each
    stage waits for its own set-up before it first runs (`ready`)."""
    later = stages
    if stages and isinstance(stages[0], Extract):
        stages[0].setup()
        later = stages[1:]
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stage-setup")
    for stage in later:
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


class Extract(Stage):
    """HTML -> main text in a sandboxed child process with a per-document time limit, after the language gate.

    The gate (beam_curation.filters.models.langid_prefilter): the page is decoded here and CLD2 guesses its languages from
    the HTML (stored for every page, so a later run with another keep-list decides the gate alike); a page
    confidently outside the kept languages is removed as `langid_prefilter` without being extracted. The
    others go to the child in batches of `BATCH`, the decoded text travelling instead of the bytes; while the
    child extracts one batch, this process decodes and guesses the next and the later stages work on the
    previous one (`stream`). With extraction off, an HTML-only document cannot go on (an error); a document
    with text is taken as it is."""

    STAGE = "extract"
    GUESS = "langid_prefilter"  # the guess's own time, and the documents it removed
    TRAFILATURA = "trafilatura"  # CPU time inside trafilatura.extract (in the child): what overhead is measured against
    BATCH = SANDBOX_BATCH  # documents per message to the child
    FIRST_BATCH, LAST_BATCH = 4, 2  # the sizes a chunk's batches start at and shrink to (`_batch_size`)

    def __init__(self, config: Config, shared: Shared):
        super().__init__(config, shared)
        self._sandbox = None
        self._guess = self._gate = None

    def setup(self) -> None:
        if not self.config.extract.enabled:
            return
        from beam_curation.filters.text.extract import extract_options, extract_timed, warm_up  # trafilatura: only in the child
        from beam_curation.pipeline.graph.decide import prefilter_gate
        from beam_curation.pipeline.runners.sandbox import Sandbox

        options = self.config.extract
        self._guess = guesses_languages(self.config)
        self._gate = prefilter_gate(self.config)
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
        next batch), then the chunk's documents that were not extracted (gated, failed, or with text already)."""
        if not self.config.extract.enabled:  # documents with text go on as they are (`run`)
            yield from super().stream(chunks)
            return
        for docs in chunks:
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
        if self.config.extract.enabled:
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

        limit = self.config.extract.max_input_bytes
        if len(doc.html) > limit:
            doc.fail(self.STAGE, InputTooLarge(f"HTML of {len(doc.html)} bytes exceeds extract.max_input_bytes={limit}"))
            return None
        if not self._guess:
            return doc.html
        from beam_curation.filters.models.langid_prefilter import guess_languages, outside
        from beam_curation.filters.text.html_decode import decode_html

        started = time.perf_counter()
        try:
            page = decode_html(doc.html, doc.charset)
            doc.language_guess = guess_languages(page)
        except Exception as exc:  # noqa: BLE001 - a page that cannot be decoded fails alone
            doc.fail(self.STAGE, exc)
            return None
        finally:
            doc.add_seconds(self.GUESS, time.perf_counter() - started)
        if outside(doc.language_guess, self._gate):
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


def guesses_languages(config: Config) -> bool:
    """Pages are guessed (and the guess stored) whenever there is a language stage and extraction: with any
    keep-list, so that a rerun or refilter that keeps only some languages decides the gate as a fresh run."""
    return config.extract.enabled and config.langid.enabled and config.langid.prefilter


class IdentifyLanguage(Stage):
    """Batched fastText language ID. Keeping only some languages is a rule (beam_curation.pipeline.graph.decide)."""

    STAGE = "langid"

    @staticmethod
    def enabled(config: Config) -> bool:
        return config.langid.enabled

    @staticmethod
    def columns(config: Config) -> list[pa.Field]:
        return [pa.field("language", pa.string()), pa.field("language_score", pa.float64())]

    def setup(self) -> None:
        from beam_curation.filters.models.langid import LanguageIdentifier

        self._model = _acquire(self.shared, LanguageIdentifier, self.config.langid.model)

    def apply_batch(self, docs: list[Doc]) -> None:
        batch = self.config.langid.batch_size
        for start in range(0, len(docs), batch):
            chunk = docs[start:start + batch]
            for doc, (lang, score) in zip(chunk, self._model.predict([d.text or "" for d in chunk])):
                doc.language, doc.language_score = lang, score


class ComputeSignals(Stage):
    """Every configured quality signal from one pass over the text, plus URL blocklist and DSIR importance.

    With the c4 group, the document's text becomes C4's line-filtered text (`signals.c4.remove_lines`) and the
    removed lines are recorded (`c4_removed_lines`, spans over the text before removal)."""

    STAGE = "signals"

    @staticmethod
    def enabled(config: Config) -> bool:
        return config.signals.enabled

    @staticmethod
    def columns(config: Config) -> list[pa.Field]:
        from beam_curation.filters.heuristics.quality_signals import signal_names

        signals = config.signals
        names = tuple(signals.names) if signals.names is not None else None
        fields = [pa.field(name, SPANS if kind == "lines" else pa.float64())
                  for name, kind in signal_names(tuple(signals.groups), names, signals.c4)]
        if signals.ut1_blocklist:
            fields.append(pa.field("rps_doc_ut1_blacklist", pa.float64()))
        if "c4" in signals.groups:
            fields.append(pa.field("c4_removed_lines", REMOVED_LINES))
        for target in signals.importance:
            fields += [pa.field(f"rps_doc_{target}_importance", pa.float64()),
                       pa.field(f"rps_doc_{target}_importance_length_correction", pa.float64())]
        return fields

    def setup(self) -> None:
        from beam_curation.filters.models.dsir import DsirModel
        from beam_curation.filters.heuristics.url_blocklist import DomainBlocklist
        from beam_curation.pipeline.io.schema import quality_signals

        signals = self.config.signals
        self._computer = quality_signals(self.config)
        self._computer.warm_up()  # spaCy's second, while the extraction child (set up before) starts
        self._blocklist = None
        if signals.ut1_blocklist:
            self._blocklist = _acquire(self.shared, DomainBlocklist.load, signals.ut1_blocklist,
                                       tuple(signals.ut1_categories))
        self._importance = {target: _acquire(self.shared, DsirModel.load, path)
                            for target, path in signals.importance.items()}

    def apply(self, doc: Doc) -> None:
        result = self._computer.compute(doc.text or "", doc.language or "")
        doc.signals.update(result.signals)
        if "c4" in self._computer.groups:
            doc.signals["c4_removed_lines"] = result.removed_lines
        if self._blocklist is not None:
            category = self._blocklist.category_id(doc.url)
            doc.signals["rps_doc_ut1_blacklist"] = float(category) if category is not None else None
        doc.text = result.text
        if not doc.text.strip():
            doc.removed_by = "c4_empty"  # C4's line filter removed every line
        for target, model in self._importance.items():
            score, corrected = model.importance(doc.text)
            doc.signals[f"rps_doc_{target}_importance"] = score
            doc.signals[f"rps_doc_{target}_importance_length_correction"] = corrected


class FindPii(Stage):
    """Personal data (beam_curation.filters.release.pii) in the text as the signal stages left it (C4's lines removed): counts per
    kind and spans over that text; in `redact` mode the values are replaced by placeholders, so perplexity,
    classifiers, dedup and documents/ see the redacted text. Span columns written before this stage
    (`rps_lines_*`, `c4_removed_lines`) refer to the text before redaction, as `pii_spans` does."""

    STAGE = "pii"

    @staticmethod
    def enabled(config: Config) -> bool:
        return config.pii.enabled

    @staticmethod
    def columns(config: Config) -> list[pa.Field]:
        from beam_curation.filters.release.pii import PII_KINDS, signal_name

        kinds = [k for k in PII_KINDS if k in config.pii.kinds]
        return [*(pa.field(signal_name(k), pa.float64()) for k in kinds), pa.field("pii_spans", PII_SPANS)]

    def setup(self) -> None:
        from beam_curation.filters.release.pii import PiiDetector

        pii = self.config.pii
        self._detector = PiiDetector(pii.kinds, phone_regions=pii.phone_regions)
        self._redact = pii.mode == "redact"

    def apply(self, doc: Doc) -> None:
        from beam_curation.filters.release.pii import redact

        text = doc.text or ""
        spans = self._detector.find(text)
        doc.signals.update(self._detector.counts(spans))
        doc.signals["pii_spans"] = [{"start": s.start, "end": s.end, "kind": s.kind} for s in spans]
        if self._redact and spans:
            doc.text = redact(text, spans)
            count("pii_redacted_values", len(spans))


class Decontaminate(Stage):
    """Word n-grams shared with each evaluation set (beam_curation.filters.release.decontamination): `decontam_<name>` (distinct
    n-grams) and `decontam_<name>_items` (distinct items; NaN with a Bloom index). The driver chose each set's
    path before the run (beam_curation.pipeline.io.eval_sets): a side-input index is loaded once per worker process and
    matched here; for a joined set the document's distinct n-gram hashes are kept (`Doc.ngrams`, stored in
    the annotations) and its columns hold 0 until the global join adds what it finds (beam_curation.pipeline.graph.decontam)."""

    STAGE = "decontamination"

    @staticmethod
    def enabled(config: Config) -> bool:
        return config.decontamination.enabled

    @staticmethod
    def columns(config: Config) -> list[pa.Field]:
        from beam_curation.filters.release.decontamination import signal_names

        return [pa.field(column, pa.float64()) for spec in config.decontamination.sets
                for column in signal_names(spec.name)]

    def setup(self) -> None:
        from beam_curation.filters.release.decontamination import load_index
        from beam_curation.pipeline.io.eval_sets import INDEXES, read_description

        output = self.config.output.path
        self._indexes, self._joined = {}, []
        for spec in self.config.decontamination.sets:
            described = read_description(output, spec.name)
            if described is None:
                raise RuntimeError(f"no decontamination index for {spec.name!r} under {output}/{INDEXES}")
            if described["kind"] == "join":
                self._joined.append(spec.name)
            else:
                path = f"{output.rstrip('/')}/{INDEXES}/{described['file']}"
                self._indexes[spec.name] = _acquire(self.shared, load_index, path)

    def apply(self, doc: Doc) -> None:
        import numpy as np

        from beam_curation.filters.release.decontamination import decontamination_signals, ngram_hashes, signal_names

        text = doc.text or ""
        n = self.config.decontamination.ngram
        hashes = ngram_hashes(text, n)
        doc.signals.update(decontamination_signals(text, self._indexes, {n: hashes}))
        if self._joined:
            doc.ngrams = np.unique(hashes).astype("<u8").tobytes()
            for name in self._joined:
                doc.signals.update(dict.fromkeys(signal_names(name), 0.0))


class ScorePerplexity(Stage):
    """CCNet-style KenLM perplexity and head/middle/tail bucket, with the model of the document's language."""

    STAGE = "perplexity"

    @staticmethod
    def enabled(config: Config) -> bool:
        return config.perplexity.enabled

    @staticmethod
    def columns(config: Config) -> list[pa.Field]:
        return [pa.field("ccnet_perplexity", pa.float64()), pa.field("ccnet_bucket", pa.int64())]

    def setup(self) -> None:
        from beam_curation.filters.models.perplexity import PerplexityModel

        self._models = {lang: _acquire(self.shared, PerplexityModel, path)
                        for lang, path in self.config.perplexity.models.items()}

    def applies(self, doc: Doc) -> bool:
        return doc.active and (doc.language or "") in self._models

    def apply(self, doc: Doc) -> None:
        from beam_curation.filters.models.perplexity import bucket

        model = self._models[doc.language]
        ppl = model.perplexity(doc.text or "")
        cutoffs = self.config.perplexity.buckets.get(doc.language) or model.cutoffs
        doc.signals["ccnet_perplexity"] = ppl
        doc.signals["ccnet_bucket"] = bucket(ppl, cutoffs) if cutoffs else None


class Classify(Stage):
    """fastText classifiers on batches: P(positive label) per document (and per paragraph when configured)."""

    STAGE = "classifiers"

    @staticmethod
    def enabled(config: Config) -> bool:
        return config.classifiers.enabled and bool(config.classifiers.models)

    @staticmethod
    def columns(config: Config) -> list[pa.Field]:
        fields = []
        for spec in config.classifiers.models:
            fields += [pa.field(column, pa.float64()) for column in spec.columns()]
            if spec.level == "paragraph":
                fields.append(pa.field(f"{spec.output}_spans", SPANS))
        return fields

    def setup(self) -> None:
        from beam_curation.filters.models.classifier import FastTextClassifier

        self._models = [(spec, _acquire(self.shared, FastTextClassifier, spec.model,
                                        None if spec.labels else spec.positive_label,
                                        spec.normalization, spec.level, spec.max_chars))
                        for spec in self.config.classifiers.models]

    def apply_batch(self, docs: list[Doc]) -> None:
        batch = self.config.classifiers.batch_size
        for start in range(0, len(docs), batch):
            every = docs[start:start + batch]
            for spec, model in self._models:
                # A model scores only the languages it is for; the others keep a null score.
                chunk = [d for d in every if d.language in spec.languages] if spec.languages else every
                texts = [d.text or "" for d in chunk]
                if not chunk:
                    continue
                if spec.labels:  # multi-label: one column per label
                    columns = spec.columns()
                    for doc, probs in zip(chunk, model.label_probabilities(texts, spec.labels)):
                        doc.signals.update(zip(columns, probs))
                elif spec.level == "paragraph":
                    for doc, scored in zip(chunk, model.score_spans_batch(texts)):
                        doc.signals[spec.output] = scored.score
                        doc.signals[f"{spec.output}_spans"] = scored.spans
                else:
                    for doc, score in zip(chunk, model.score_batch(texts)):
                        doc.signals[spec.output] = score


class DedupAnnotations(Stage):
    """What dedup needs from the text, computed once: the MinHash signature and the exact-text hash. Buckets,
    thresholds and keepers are decided from them later (beam_curation.pipeline.graph.decide), without the text."""

    STAGE = "dedup_keys"

    @staticmethod
    def enabled(config: Config) -> bool:
        return config.dedup.enabled

    def setup(self) -> None:
        from beam_curation.filters.dedup.keys import DedupKeyer

        self._keyer = DedupKeyer(self.config.dedup)

    def apply_batch(self, docs: list[Doc]) -> None:
        for doc, keys in zip(docs, self._keyer.annotate(d.text or "" for d in docs)):
            doc.dedup = keys


def model_languages(config: Config) -> dict[str, frozenset[str]]:
    """Output column -> the languages its model is for, for every enabled model limited to some languages
    (KenLM: one model per language; classifiers with `languages`). Documents in other languages are left
    unscored, and the writer counts them (stats.json `not_scored`)."""
    out: dict[str, frozenset[str]] = {}
    if ScorePerplexity.enabled(config):
        out["ccnet_perplexity"] = frozenset(config.perplexity.models)
    if Classify.enabled(config):
        out.update({spec.output: frozenset(spec.languages) for spec in config.classifiers.models if spec.languages})
    return out


# In the order they run; a new stage is a class above plus its place here.
STAGES: tuple[type[Stage], ...] = (Extract, IdentifyLanguage, ComputeSignals, FindPii, Decontaminate,
                                   ScorePerplexity, Classify, DedupAnnotations)


def enabled_stages(config: Config) -> list[type[Stage]]:
    return [stage for stage in STAGES if stage.enabled(config)]
