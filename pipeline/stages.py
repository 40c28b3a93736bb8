"""DoFns that apply one `filters` concern each to the documents flowing through the graph.

Two base classes own the plumbing, so each stage holds only its idea: `DocStage` (one document at a time)
and `BatchStage` (a list of documents, for models that predict in batches). They skip documents already
removed or failed, turn an exception into a per-document error at that stage instead of a failed bundle,
and add the stage's seconds to each document, so stats.json can say where time went. Heavy resources are
created in `setup`; models go through `Shared`, so a worker process loads each model once.
"""

from __future__ import annotations

import logging
import math
import time
from functools import partial
from typing import Any, Callable, Iterable, Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils.shared import Shared

from filters.extract import InputTooLarge, extract_options, extract_text, warm_up
from filters.rules import compile_rule, first_failed
from pipeline.config import ClassifiersConfig, Config, ExtractConfig, LangIdConfig, PerplexityConfig
from pipeline.document import Doc, ShardSpec
from pipeline.models import local_model_path
from pipeline.readers import read_shard
from pipeline.schema import quality_signals

log = logging.getLogger(__name__)


class _Loaded:
    """A weak-referenceable box, as `Shared.acquire` requires, for models that are not."""

    def __init__(self, value: Any):
        self.value = value


def _acquire(shared: Shared, loader: Callable[..., Any], path: str | None, *args: Any) -> Any:
    """`loader(local copy of path, *args)`, once per worker process for the same arguments."""
    def load() -> _Loaded:
        return _Loaded(loader(local_model_path(path) if path else None, *args))

    return shared.acquire(load, tag=f"{getattr(loader, '__qualname__', loader)}:{path}:{args}").value


COUNTERS = "curation"  # Beam metrics namespace: live in Dataflow's and Flink's UIs, and in RunSummary.counters


def count(name: str, n: int = 1) -> None:
    """Add to the Beam counter `curation:<name>` (works inside any DoFn or Map)."""
    Metrics.counter(COUNTERS, name).inc(n)


def count_outcome(stage: str, doc: Doc) -> None:
    """Count a document a stage processed, and its removal or failure if that stage caused it."""
    count(f"{stage}_documents")
    if doc.error is not None and doc.error_stage == stage:
        count(f"{stage}_errors")
    elif doc.removed_by is not None and doc.error is None:
        count(f"{stage}_removed_{doc.removed_by}")


class DocStage(beam.DoFn):
    """One document at a time; subclasses set STAGE and implement `apply` (and `applies` to narrow it)."""

    STAGE = ""

    def applies(self, doc: Doc) -> bool:
        return doc.active

    def apply(self, doc: Doc) -> None:
        raise NotImplementedError

    def process(self, doc: Doc) -> Iterator[Doc]:
        if self.applies(doc):
            started = time.perf_counter()
            try:
                self.apply(doc)
            except Exception as exc:
                doc.fail(self.STAGE, exc)
            doc.add_seconds(self.STAGE, time.perf_counter() - started)
            count_outcome(self.STAGE, doc)
        yield doc


class BatchStage(beam.DoFn):
    """A batch of documents (after BatchElements); a failure fails the batch's active documents."""

    STAGE = ""

    def apply_batch(self, docs: list[Doc]) -> None:
        raise NotImplementedError

    def process(self, batch: list[Doc]) -> Iterator[Doc]:
        todo = [d for d in batch if d.active]
        if todo:
            started = time.perf_counter()
            try:
                self.apply_batch(todo)
            except Exception as exc:
                for doc in todo:
                    doc.fail(self.STAGE, exc)
            share = (time.perf_counter() - started) / len(todo)
            for doc in todo:
                doc.add_seconds(self.STAGE, share)
                count_outcome(self.STAGE, doc)
        yield from batch


class ReadShard(beam.DoFn):
    def process(self, spec: ShardSpec) -> Iterator[Doc]:
        docs = read_shard(spec)
        while True:
            started = time.perf_counter()  # time the reader only, not the fused stages run on each yield
            doc = next(docs, None)
            if doc is None:
                return
            doc.add_seconds("read", time.perf_counter() - started)
            count_outcome("read", doc)
            yield doc


def drop_if_empty(doc: Doc) -> Doc:
    """A document with no text (empty input, or nothing extracted) is removed as `extract_empty`, in any mode."""
    if doc.active and not (doc.text or "").strip():
        doc.removed_by = "extract_empty"
        count("extract_removed_extract_empty")
    return doc


class Extract(DocStage):
    """HTML -> main text in a sandboxed child process with a per-document time limit."""

    STAGE = "extract"

    def __init__(self, config: ExtractConfig):
        self._config = config
        self._sandbox = None

    def setup(self) -> None:
        from pipeline.sandbox import Sandbox

        # Everything the child unpickles lives in filters/: it never imports Beam.
        self._sandbox = Sandbox(partial(extract_text, options=extract_options(self._config)),
                                self._config.timeout_seconds, warmup=warm_up)
        self._sandbox.start()  # the child's imports are paid here, not by the first document

    def applies(self, doc: Doc) -> bool:
        return doc.active and doc.html is not None

    def apply(self, doc: Doc) -> None:
        if len(doc.html) > self._config.max_input_bytes:
            raise InputTooLarge(f"HTML of {len(doc.html)} bytes exceeds "
                                f"extract.max_input_bytes={self._config.max_input_bytes}")
        doc.text = self._sandbox.call(doc.html, doc.url, declared_charset=doc.charset) or ""
        doc.html = None  # the text is what travels on; only failures keep the HTML to replay

    def teardown(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()


def require_text(doc: Doc) -> Doc:
    """With extraction disabled, HTML-only documents cannot go on: say so per document."""
    if doc.active and doc.html is not None:
        if doc.text is None:
            doc.fail("extract", "extract.enabled is false but the document has only HTML")
        else:
            doc.html = None
    return doc


class IdentifyLanguage(BatchStage):
    """Batched fastText language ID; in filter mode, removes documents outside `keep` or under `min_score`."""

    STAGE = "langid"

    def __init__(self, config: LangIdConfig, filter_mode: bool, shared: Shared):
        self._config = config
        self._filter = filter_mode and (bool(config.keep) or config.min_score > 0)
        self._shared = shared
        self._model = None

    def setup(self) -> None:
        from filters.langid import LanguageIdentifier

        self._model = _acquire(self._shared, LanguageIdentifier, self._config.model)

    def apply_batch(self, docs: list[Doc]) -> None:
        keep = set(self._config.keep)
        for doc, (lang, score) in zip(docs, self._model.predict([d.text or "" for d in docs])):
            doc.language, doc.language_score = lang, score
            if self._filter and ((keep and lang not in keep) or score < self._config.min_score):
                doc.removed_by = "langid"


class ComputeSignals(DocStage):
    """Every configured quality signal from one pass over the text, plus URL blocklist and DSIR importance.

    With the c4 group in filter mode, the document's text becomes C4's line-filtered text and the removed
    lines are recorded (`c4_removed_lines`, spans over the text before removal).
    """

    STAGE = "signals"

    def __init__(self, config: Config, shared: Shared):
        self._config = config
        self._shared = shared
        self._computer = None
        self._blocklist = None
        self._importance = {}

    def setup(self) -> None:
        from filters.dsir import DsirModel
        from filters.url_blocklist import DomainBlocklist

        signals = self._config.signals
        self._computer = quality_signals(self._config)
        if signals.ut1_blocklist:
            self._blocklist = _acquire(self._shared, DomainBlocklist.load, signals.ut1_blocklist,
                                       tuple(signals.ut1_categories))
        self._importance = {target: _acquire(self._shared, DsirModel.load, path)
                            for target, path in signals.importance.items()}

    def apply(self, doc: Doc) -> None:
        doc.reached_signals = True
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


def mark_reached_signals(doc: Doc) -> Doc:
    """With the signal stage off, documents that got this far still count as reaching the signal stages."""
    if doc.active:
        doc.reached_signals = True
    return doc


class ScorePerplexity(DocStage):
    """CCNet-style KenLM perplexity and head/middle/tail bucket, with the model of the document's language."""

    STAGE = "perplexity"

    def __init__(self, config: PerplexityConfig, shared: Shared):
        self._config = config
        self._shared = shared
        self._models = {}

    def setup(self) -> None:
        from filters.perplexity import PerplexityModel

        self._models = {lang: _acquire(self._shared, PerplexityModel, path)
                        for lang, path in self._config.models.items()}

    def applies(self, doc: Doc) -> bool:
        return doc.active and (doc.language or "") in self._models

    def apply(self, doc: Doc) -> None:
        from filters.perplexity import bucket

        model = self._models[doc.language]
        ppl = model.perplexity(doc.text or "")
        cutoffs = self._config.buckets.get(doc.language) or model.cutoffs
        doc.signals["ccnet_perplexity"] = ppl
        doc.signals["ccnet_bucket"] = bucket(ppl, cutoffs) if cutoffs else None


class Classify(BatchStage):
    """fastText classifiers on batches: P(positive label) per document (and per paragraph when configured)."""

    STAGE = "classifiers"

    def __init__(self, config: ClassifiersConfig, shared: Shared):
        self._specs = list(config.models)
        self._shared = shared
        self._models = []

    def setup(self) -> None:
        from filters.classifier import FastTextClassifier

        self._models = [(spec, _acquire(self._shared, FastTextClassifier, spec.model, spec.positive_label,
                                        spec.normalization, spec.level, spec.max_chars))
                        for spec in self._specs]

    def apply_batch(self, docs: list[Doc]) -> None:
        texts = [d.text or "" for d in docs]
        for spec, model in self._models:
            if spec.level == "paragraph":
                for doc, scored in zip(docs, model.score_spans_batch(texts)):
                    doc.signals[spec.output] = scored.score
                    doc.signals[f"{spec.output}_spans"] = scored.spans
            else:
                for doc, score in zip(docs, model.score_batch(texts)):
                    doc.signals[spec.output] = score


class ApplyRules(DocStage):
    """Filter mode: the first configured rule a document fails becomes its `removed_by`."""

    STAGE = "filters"

    def __init__(self, config: Config, available: Iterable[str]):
        self._specs = list(config.filters.rules) if config.filters.enabled else []
        self._available = sorted(available)
        self._rules = []

    def setup(self) -> None:
        self._rules = [compile_rule(s.name, s.keep, s.params, self._available, s.languages) for s in self._specs]

    def applies(self, doc: Doc) -> bool:
        return doc.active and bool(self._rules)

    def apply(self, doc: Doc) -> None:
        # A missing value (no model for the language, host on no list) is NaN to a rule: test with isnan().
        values = {k: (math.nan if v is None else v) for k, v in doc.signals.items()}
        values["language"] = doc.language or ""
        values["language_score"] = doc.language_score if doc.language_score is not None else 0.0
        doc.removed_by = first_failed(self._rules, values, doc.language)


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
    user_id, shard, row = _split_dedup_id(record.id)
    cluster = _split_dedup_id(record.cluster_id)[0]
    return shard, (row, record._replace(id=user_id, cluster_id=cluster))


def _split_dedup_id(dedup_id: str) -> tuple[str, str, int]:
    """(user id, shard, row) from the id `dedup_input` gave a document."""
    user_id, shard, row = dedup_id.rsplit(_SEP, 2)
    return user_id, shard, int(row)


def dedup_node_shard_row(node: bytes) -> tuple[str, int]:
    """(shard, row) of the document a dedup node stands for."""
    from pipeline.dedup import node_id

    _, shard, row = _split_dedup_id(node_id(node))
    return shard, row


class ReadDedupKeys(beam.DoFn):
    """A stored dedup-keys file of a finished shard -> its DedupKeys, which join the clustering as its
    documents would."""

    def __init__(self, output: str):
        self._output = output

    def process(self, path: str) -> Iterator[Any]:
        import posixpath

        import pyarrow.parquet as pq

        from filters.dedup_types import DedupKeys
        from pipeline.readers import open_path

        with open_path(posixpath.join(self._output, path)) as handle:
            table = pq.read_table(handle)
        for row in table.to_pylist():
            yield DedupKeys(row["node"], tuple(row["exact"]), tuple(tuple(b) for b in row["bands"]), row["signature"],
                            row.get("shingled", True))


def signature_row(keys: Any, columns: list[str]) -> tuple[str, tuple[int, str, dict[str, list[bytes]]]]:
    """RedPajama-V2-style minhash/ row from a document's dedup keys: (shard, (row, id, {column: band keys}))."""
    from pipeline.dedup import node_id

    user_id, shard, row = _split_dedup_id(node_id(keys.node))
    return shard, (row, user_id, {column: list(bands) for column, bands in zip(columns, keys.bands)})
