"""DoFns that apply one `filters` concern each to the documents flowing through the graph.

Each DoFn is a thin adapter: heavy resources are created in `setup` (models through `Shared`, so a worker
process loads each model once), the per-document logic is a call into `filters`, and any exception becomes a
per-document error at that stage instead of a failed bundle. Documents already removed or failed pass
through untouched. Every stage adds its seconds to the document, so stats.json can say where time went.
"""

from __future__ import annotations

import logging
import math
import time
from functools import partial
from typing import Any, Iterable, Iterator

import apache_beam as beam
from apache_beam.utils.shared import Shared

from filters.extract import ExtractOptions, InputTooLarge, extract_text
from filters.rules import compile_rule, first_failed
from pipeline.config import (ClassifiersConfig, Config, ExtractConfig, LangIdConfig, PerplexityConfig,
                             SignalsConfig)
from pipeline.document import Doc, ShardSpec
from pipeline.models import local_model_path
from pipeline.schema import quality_signals
from pipeline.readers import read_shard

log = logging.getLogger(__name__)


class _Loaded:
    """A weak-referenceable box, as `Shared.acquire` requires, for models that are not."""

    def __init__(self, value: Any):
        self.value = value

    @classmethod
    def of(cls, loader: Any, *args: Any) -> "_Loaded":
        return cls(loader(*args))


def _load_boxed(loader: Any, path: str) -> _Loaded:
    """Load a model from a local copy of `path` (remote paths are copied once per process)."""
    return _Loaded(loader(local_model_path(path)))


class ReadShard(beam.DoFn):
    def process(self, spec: ShardSpec) -> Iterator[Doc]:
        started = time.perf_counter()
        for doc in read_shard(spec):
            now = time.perf_counter()
            doc.add_seconds("read", now - started)
            started = now
            yield doc


def _warm_trafilatura() -> None:
    import trafilatura  # noqa: F401  - the child pays for imports before the first document's clock starts


class Extract(beam.DoFn):
    """HTML -> main text in a sandboxed child process with a per-document time limit."""

    STAGE = "extract"

    def __init__(self, config: ExtractConfig):
        self._config = config
        self._options = ExtractOptions(favor=config.favor, include_tables=config.include_tables,
                                       include_comments=config.include_comments,
                                       include_links=config.include_links, deduplicate=config.deduplicate,
                                       fast=config.fast, max_input_bytes=config.max_input_bytes)
        self._sandbox = None

    def setup(self) -> None:
        from pipeline.sandbox import Sandbox

        self._sandbox = Sandbox(partial(extract_text, options=self._options), self._config.timeout_seconds,
                                warmup=_warm_trafilatura)
        self._sandbox.start()  # the child's imports are paid here, not by the first document
        log.info("extraction sandbox started")

    def process(self, doc: Doc) -> Iterator[Doc]:
        if doc.active and doc.html is not None:
            started = time.perf_counter()
            try:
                if len(doc.html) > self._options.max_input_bytes:
                    raise InputTooLarge(f"HTML of {len(doc.html)} bytes exceeds "
                                        f"extract.max_input_bytes={self._options.max_input_bytes}")
                text = self._sandbox.call(doc.html, doc.url, declared_charset=doc.charset)
            except Exception as exc:
                doc.fail(self.STAGE, exc)
            else:
                doc.text = text or ""
                doc.html = None  # the text is what travels on; only failures keep the HTML to replay
            doc.add_seconds(self.STAGE, time.perf_counter() - started)
        yield _drop_if_empty(doc)

    def teardown(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()


def _drop_if_empty(doc: Doc) -> Doc:
    """A document with no text (empty input, or nothing extracted) is removed as `extract_empty`, in any mode."""
    if doc.active and not (doc.text or "").strip():
        doc.removed_by = "extract_empty"
    return doc


class RequireText(beam.DoFn):
    """With extraction disabled, HTML-only documents cannot go on: say so per document."""

    def process(self, doc: Doc) -> Iterator[Doc]:
        if doc.active and doc.html is not None:
            if doc.text is None:
                doc.fail("extract", "extract.enabled is false but the document has only HTML")
            else:
                doc.html = None
        yield _drop_if_empty(doc)


class IdentifyLanguage(beam.DoFn):
    """Batched fastText language ID; in filter mode, removes documents outside `keep` or under `min_score`."""

    STAGE = "langid"

    def __init__(self, config: LangIdConfig, filter_mode: bool, shared: Shared):
        self._config = config
        self._filter = filter_mode and (bool(config.keep) or config.min_score > 0)
        self._shared = shared
        self._model = None

    def setup(self) -> None:
        from filters.langid import LanguageIdentifier

        path = self._config.model
        def load() -> _Loaded:
            return _Loaded(LanguageIdentifier(local_model_path(path) if path else None))

        self._model = self._shared.acquire(load, tag=f"langid:{path}").value

    def process(self, batch: list[Doc]) -> Iterator[Doc]:
        todo = [d for d in batch if d.active]
        started = time.perf_counter()
        try:
            predictions = self._model.predict([d.text or "" for d in todo])
        except Exception as exc:
            for doc in todo:
                doc.fail(self.STAGE, exc)
        else:
            keep = set(self._config.keep)
            for doc, (lang, score) in zip(todo, predictions):
                doc.language, doc.language_score = lang, score
                if self._filter and ((keep and lang not in keep) or score < self._config.min_score):
                    doc.removed_by = "langid"
        share = (time.perf_counter() - started) / max(1, len(todo))
        for doc in todo:
            doc.add_seconds(self.STAGE, share)
        yield from batch


class ComputeSignals(beam.DoFn):
    """Every configured quality signal from one pass over the text, plus DSIR importance.

    With the c4 group in filter mode, the document's text becomes C4's line-filtered text and the removed
    lines are recorded (`c4_removed_lines`, spans over the text before removal).
    """

    STAGE = "signals"

    def __init__(self, config: Config, shared: Shared):
        self._config = config
        self._shared = shared
        self._computer = None
        self._importance = {}

    def setup(self) -> None:
        from filters.dsir import DsirModel

        self._computer = quality_signals(self._config)
        self._blocklist = None
        if self._config.signals.ut1_blocklist:
            from filters.url_blocklist import DomainBlocklist

            load = partial(_Loaded.of, DomainBlocklist.load, self._config.signals.ut1_blocklist,
                           self._config.signals.ut1_categories)
            self._blocklist = self._shared.acquire(load, tag=f"ut1:{self._config.signals.ut1_blocklist}").value
        for target, path in self._config.signals.importance.items():
            load = partial(_load_boxed, DsirModel.load, path)
            self._importance[target] = self._shared.acquire(load, tag=f"dsir:{path}").value

    def process(self, doc: Doc) -> Iterator[Doc]:
        if doc.active:
            started = time.perf_counter()
            doc.reached_signals = True
            try:
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
            except Exception as exc:
                doc.fail(self.STAGE, exc)
            doc.add_seconds(self.STAGE, time.perf_counter() - started)
        yield doc


class ScorePerplexity(beam.DoFn):
    """CCNet-style KenLM perplexity and head/middle/tail bucket, with the model of the document's language."""

    STAGE = "perplexity"

    def __init__(self, config: PerplexityConfig, shared: Shared):
        self._config = config
        self._shared = shared
        self._models = {}

    def setup(self) -> None:
        from filters.perplexity import PerplexityModel

        for lang, path in self._config.models.items():
            load = partial(_load_boxed, PerplexityModel, path)
            self._models[lang] = self._shared.acquire(load, tag=f"kenlm:{path}").value

    def process(self, doc: Doc) -> Iterator[Doc]:
        model = self._models.get(doc.language or "")
        if doc.active and model is not None:
            from filters.perplexity import bucket

            started = time.perf_counter()
            try:
                ppl = model.perplexity(doc.text or "")
                cutoffs = self._config.buckets.get(doc.language) or model.cutoffs
                doc.signals["ccnet_perplexity"] = ppl
                doc.signals["ccnet_bucket"] = bucket(ppl, cutoffs) if cutoffs else None
            except Exception as exc:
                doc.fail(self.STAGE, exc)
            doc.add_seconds(self.STAGE, time.perf_counter() - started)
        yield doc


class Classify(beam.DoFn):
    """fastText classifiers on batches: P(positive label) per document (and per paragraph when configured)."""

    STAGE = "classifiers"

    def __init__(self, config: ClassifiersConfig, shared: Shared):
        self._specs = list(config.models)
        self._shared = shared
        self._models = []

    def setup(self) -> None:
        from filters.classifier import FastTextClassifier

        for spec in self._specs:
            load = partial(_load_boxed, partial(FastTextClassifier, positive_label=spec.positive_label,
                                                normalization=spec.normalization, level=spec.level,
                                                max_chars=spec.max_chars), spec.model)
            tag = f"fasttext:{spec.model}:{spec.positive_label}:{spec.normalization}:{spec.level}:{spec.max_chars}"
            self._models.append((spec, self._shared.acquire(load, tag=tag).value))

    def process(self, batch: list[Doc]) -> Iterator[Doc]:
        todo = [d for d in batch if d.active]
        started = time.perf_counter()
        texts = [d.text or "" for d in todo]
        try:
            for spec, model in self._models:
                if spec.level == "paragraph":
                    for doc, scored in zip(todo, model.score_spans_batch(texts)):
                        doc.signals[spec.output] = scored.score
                        doc.signals[f"{spec.output}_spans"] = scored.spans
                else:
                    for doc, score in zip(todo, model.score_batch(texts)):
                        doc.signals[spec.output] = score
        except Exception as exc:
            for doc in todo:
                doc.fail(self.STAGE, exc)
        share = (time.perf_counter() - started) / max(1, len(todo))
        for doc in todo:
            doc.add_seconds(self.STAGE, share)
        yield from batch


class ApplyRules(beam.DoFn):
    """Filter mode: the first configured rule a document fails becomes its `removed_by`."""

    STAGE = "filters"

    def __init__(self, config: Config, available: Iterable[str]):
        self._specs = list(config.filters.rules) if config.filters.enabled else []
        self._available = sorted(available)
        self._rules = None

    def setup(self) -> None:
        self._rules = [compile_rule(s.name, s.keep, s.params, self._available, s.languages) for s in self._specs]

    def process(self, doc: Doc) -> Iterator[Doc]:
        if doc.active and self._rules:
            started = time.perf_counter()
            # A missing value (no model for the language, host on no list) is NaN to a rule: test with isnan().
            values = {k: (math.nan if v is None else v) for k, v in doc.signals.items()}
            values["language"] = doc.language or ""
            values["language_score"] = doc.language_score if doc.language_score is not None else 0.0
            try:
                doc.removed_by = first_failed(self._rules, values, doc.language)
            except Exception as exc:
                doc.fail(self.STAGE, exc)
            doc.add_seconds(self.STAGE, time.perf_counter() - started)
        yield doc


def mark_reached_signals(doc: Doc) -> Doc:
    """With the signal stage off, documents that got this far still count as reaching the signal stages."""
    if doc.active:
        doc.reached_signals = True
    return doc


# -----------------------------------------------------------------------------------------------------------
# Dedup adapters. User ids may repeat across shards, so dedup sees `id<US>shard<US>row`: unique, and ordered
# by the user's id first, so "smallest id" still means the user's id.

_SEP = "\x1f"


def dedup_input(doc: Doc) -> Iterator[Any]:
    """Documents still in play go to dedup (in annotate mode that is every document with text)."""
    from filters.dedup_types import DedupInput

    if doc.active:
        yield DedupInput(id=f"{doc.id}{_SEP}{doc.shard}{_SEP}{doc.row:012d}", text=doc.text or "", url=doc.url,
                         quality_score=doc.signals.get("quality_score"))


def dup_by_shard(record: Any) -> tuple[str, tuple[int, Any]]:
    """(shard, (row, record with the user's ids restored)) for the shard writer."""
    _, shard, row = record.id.rsplit(_SEP, 2)
    user_id = record.id.rsplit(_SEP, 2)[0]
    cluster = record.cluster_id.rsplit(_SEP, 2)[0]
    return shard, (int(row), record._replace(id=user_id, cluster_id=cluster))
