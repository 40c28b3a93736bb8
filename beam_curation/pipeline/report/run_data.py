"""What report.html shows, read from a finished run's folders with pyarrow.dataset in bounded memory.

Every count comes from stats.json (the funnel, kept per language, seconds per stage) or from one streamed pass
over a folder's small columns (removed per language and reason, dedup cluster sizes): a folder is read file by
file, batch by batch, and only counters, a bounded sample and a few chosen rows are kept. Signal histograms
are drawn from a uniform random sample of at most `sample_rows` signals/ rows (all of them on a small run),
with a fixed seed so a report is the same each time it is written. Texts are read only for the few documents
shown (examples, cluster keepers), by row from the file that holds them.

Folders are read tolerant of how writers change: files may have 0 rows or be absent, and a column one file
lacks is null there (the schema is unified over the files' footers, integer and float widths promoted).
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from beam_curation.pipeline.io.json_files import read_json
from beam_curation.filters.dedup.types import REASON_EXACT, REASON_MINHASH
from beam_curation.filters.rules import Comparison, Rule, comparisons, compile_rule
from beam_curation.pipeline.config import Config, parse_config
from beam_curation.pipeline.io.document import STAGE_REMOVALS
from beam_curation.pipeline.io.figures import UNKNOWN_LANGUAGE

SAMPLE_ROWS = 100_000  # signals/ rows the histograms are drawn from, at most
EXAMPLES_PER_REASON = 3
EXAMPLE_CHARS = 300
TOP_CLUSTERS = 8
MEMBERS_SHOWN = 5
SEED = 0
DEDUP_REASONS = (REASON_EXACT, REASON_MINHASH)
# Signals drawn even when no rule reads them: the ones a data engineer looks at first.
DEFAULT_SIGNALS = ("language_score", "rps_doc_word_count", "rps_doc_mean_word_length", "rps_doc_stop_word_fraction",
                   "rps_doc_frac_chars_top_2gram", "rps_doc_frac_chars_dupe_10grams", "ccnet_perplexity",
                   "quality_score", "toxicity_score")


@dataclass(frozen=True)
class FunnelStep:
    name: str  # "input", "errors", a stage removal, a rule, "dedup", "kept"
    label: str
    removed: int  # documents this step took out
    remaining: int  # documents left after it


@dataclass(frozen=True)
class Example:
    id: str
    url: Optional[str]
    language: Optional[str]
    text: str  # the first EXAMPLE_CHARS characters
    chars: int  # the whole text's length
    duplicate_of: Optional[str] = None  # dedup removals: the keeper of the document's cluster
    values: dict[str, Any] = field(default_factory=dict)  # rule removals: the signals the rule reads


@dataclass(frozen=True)
class Cluster:
    keeper: str
    size: int
    members: list[str]  # up to MEMBERS_SHOWN removed (or, annotate mode, flagged) members


@dataclass
class SignalSample:
    total: int  # signals/ rows in the run
    columns: dict[str, np.ndarray]  # signal -> float values of the sampled rows (NaN: no value)
    languages: np.ndarray  # of the sampled rows
    ids: np.ndarray  # of the sampled rows
    removed_by: Optional[np.ndarray] = None  # of the sampled rows: the reason, or None when kept (from removed/)

    @property
    def size(self) -> int:
        return len(self.languages)


@dataclass
class DedupSummary:
    clusters: int = 0  # of more than one document
    documents: int = 0  # in those clusters
    sizes: Counter = field(default_factory=Counter)  # cluster size -> clusters of that size
    largest: list[Cluster] = field(default_factory=list)


@dataclass
class RunData:
    output: str
    stats: dict[str, Any]
    manifest: dict[str, Any]
    config: Config
    rules: list[Rule]
    funnel: list[FunnelStep]
    kept_by_language: dict[str, int]
    removed_by_language: dict[str, Counter]  # language -> reason -> documents
    stage_seconds: list[tuple[str, int, float]]  # (stage, documents, seconds summed over workers), run order
    signals: Optional[SignalSample]
    dedup: Optional[DedupSummary]
    examples: dict[str, list[Example]]  # removal reason -> examples, in funnel order
    snippets: dict[str, Example]  # the largest clusters' keepers, by id

    def thresholds(self, column: str) -> list[tuple[Rule, Comparison]]:
        """The rules' comparisons of `column` with a number, in rule order."""
        return [(rule, c) for rule in self.rules for c in comparisons(rule) if c.column == column]


# --- reading folders -------------------------------------------------------------------------------------------

def _filesystem(output: str) -> tuple[Any, str]:
    from pyarrow import fs

    if "://" in output and not output.startswith("file://"):
        return fs.FileSystem.from_uri(output)
    return fs.LocalFileSystem(), os.path.abspath(output.removeprefix("file://"))


def open_folder(output: str, folder: str) -> Optional[ds.Dataset]:
    """The folder's Parquet files as one dataset (schema unified over the files), or None without any."""
    from pyarrow import fs

    filesystem, root = _filesystem(output)
    base = posixpath.join(root, folder)
    if filesystem.get_file_info(base).type != fs.FileType.Directory:
        return None
    files = sorted(i.path for i in filesystem.get_file_info(fs.FileSelector(base))
                   if i.type == fs.FileType.File and i.path.endswith(".parquet"))
    if not files:
        return None
    found = ds.dataset(files, filesystem=filesystem, format="parquet")
    schema = pa.unify_schemas([f.physical_schema for f in found.get_fragments()], promote_options="permissive")
    return ds.dataset(files, filesystem=filesystem, format="parquet", schema=schema)


def _present(dataset: ds.Dataset, columns: list[str]) -> list[str]:
    names = set(dataset.schema.names)
    return [c for c in columns if c in names]


def _fragments(dataset: ds.Dataset) -> Iterator[ds.Fragment]:
    return iter(sorted(dataset.get_fragments(), key=lambda f: f.path))


def _batches(dataset: ds.Dataset, columns: list[str]) -> Iterator[tuple[ds.Fragment, pa.RecordBatch]]:
    """Batches of `columns` in file order (deterministic), with the fragment each comes from."""
    for fragment in _fragments(dataset):
        for batch in fragment.to_batches(columns=columns, schema=dataset.schema, use_threads=False):
            if batch.num_rows:
                yield fragment, batch


def _take(dataset: ds.Dataset, fragment: ds.Fragment, rows: list[int], columns: list[str]) -> list[dict[str, Any]]:
    """Some rows of one file, with their text cut to EXAMPLE_CHARS (the whole length kept as `chars`)."""
    table = ds.Scanner.from_fragment(fragment, schema=dataset.schema, columns=columns).take(pa.array(rows, pa.int64()))
    out = []
    for row in table.to_pylist():
        text = row.get("text") or ""
        row["chars"] = len(text)
        row["text"] = text[:EXAMPLE_CHARS]
        out.append(row)
    return out


def _where(mask: pa.ChunkedArray) -> list[int]:
    """Rows where a boolean column is true (numpy: pyarrow 25's indices_nonzero crashes on an empty column)."""
    return np.flatnonzero(mask.fill_null(False).to_numpy(zero_copy_only=False)).tolist() if len(mask) else []


def _rows_by_id(dataset: ds.Dataset, ids: set[str], columns: list[str]) -> Iterator[dict[str, Any]]:
    """The rows of a few `ids`, looked up file by file on the id column alone, then read by row."""
    wanted = set(ids)
    for fragment in _fragments(dataset):
        if not wanted:
            return
        value_set = pa.array(sorted(wanted), pa.string())
        hits, offset = [], 0
        for batch in fragment.to_batches(columns=["id"], schema=dataset.schema, use_threads=False):
            hits += [offset + i for i in _where(pc.is_in(batch.column("id"), value_set=value_set))]
            offset += batch.num_rows
        for row in _take(dataset, fragment, hits, columns) if hits else ():
            wanted.discard(row["id"])
            yield row


def _texts(output: str, ids: set[str], folders: tuple[str, ...] = ("documents", "removed")) -> dict[str, Example]:
    """The documents `ids` (a few) with the start of their text."""
    found: dict[str, Example] = {}
    for folder in folders:
        dataset = open_folder(output, folder) if len(found) < len(ids) else None
        if dataset is None or "id" not in dataset.schema.names:
            continue
        for row in _rows_by_id(dataset, ids - set(found), _present(dataset, ["id", "url", "language", "text"])):
            found[row["id"]] = Example(row["id"], row.get("url"), row.get("language"), row["text"], row["chars"])
    return found


def rule_values(signals: Optional[ds.Dataset], examples: dict[str, list[Example]], rules: list[Rule]
                ) -> dict[str, list[Example]]:
    """The examples removed by a rule, with the values of the signals that rule reads (from signals/)."""
    columns = {r.name: [c for c in sorted(r.columns) if signals is not None and c in signals.schema.names]
               for r in rules}
    wanted = {e.id: e for reason, found in examples.items() if columns.get(reason) for e in found}
    if not wanted:
        return examples
    needed = sorted({c for reason in examples for c in columns.get(reason, [])})
    values = {row["id"]: row for row in _rows_by_id(signals, set(wanted), ["id", *needed])}
    return {reason: [dataclasses.replace(e, values={c: values.get(e.id, {}).get(c) for c in columns.get(reason, [])})
                     for e in found] for reason, found in examples.items()}


# --- what the report shows ----------------------------------------------------------------------------------

def compiled_rules(config: Config) -> list[Rule]:
    from beam_curation.pipeline.plan import rule_specs

    return [compile_rule(s.name, s.keep, s.params, None, s.languages) for s in rule_specs(config)]


def funnel(stats: dict[str, Any], rules: list[Rule]) -> list[FunnelStep]:
    """documents in -> failed -> stage removals -> each rule in order -> dedup -> kept, from stats.json."""
    removed = dict(stats["removed"])
    remaining = stats["input"]
    steps = [FunnelStep("input", "documents in", 0, remaining)]

    def step(name: str, label: str, n: int) -> None:
        nonlocal remaining
        remaining -= n
        steps.append(FunnelStep(name, label, n, remaining))

    step("errors", "failed (errors/)", stats["errors_total"])
    for reason in sorted(STAGE_REMOVALS):
        if reason in removed:
            step(reason, f"{reason} (no text left)", removed.pop(reason))
    for rule in rules:
        step(rule.name, f"rule {rule.name}", removed.pop(rule.name, 0))
    dedup = sum(removed.pop(r, 0) for r in DEDUP_REASONS)
    for reason in sorted(removed):  # a reason this config does not name (none in a consistent run)
        step(reason, reason, removed[reason])
    if dedup or any(r in stats["removed"] for r in DEDUP_REASONS) or "duplicates" in stats:
        step("dedup", "dedup (exact and near duplicates)", dedup)
    steps.append(FunnelStep("kept", "kept", 0, remaining))
    return steps


def stage_seconds(stats: dict[str, Any]) -> list[tuple[str, int, float]]:
    from beam_curation.pipeline.report.card import _stage_order

    return [(s, v["documents"], float(v["seconds"]))
            for s, v in sorted(stats.get("stages", {}).items(), key=lambda kv: _stage_order(kv[0]))]


def _signal_columns(dataset: ds.Dataset, rules: list[Rule]) -> list[str]:
    """Numeric signals to draw: those the rules compare with a number (rule order), then the default ones."""
    numeric = {f.name for f in dataset.schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)}
    wanted = [c.column for rule in rules for c in comparisons(rule)] + list(DEFAULT_SIGNALS)
    return [c for c in dict.fromkeys(wanted) if c in numeric]


def sample_signals(dataset: ds.Dataset, rules: list[Rule], sample_rows: int) -> Optional[SignalSample]:
    """A uniform sample of at most about `sample_rows` rows (each kept with probability sample_rows / total)."""
    signals = _signal_columns(dataset, rules)
    if not signals or "id" not in dataset.schema.names:
        return None
    total = dataset.count_rows()
    if not total:
        return None
    share = min(1.0, sample_rows / total)
    rng = np.random.default_rng(SEED)
    columns = ["id", *_present(dataset, ["language"]), *signals]
    parts = []
    for _, batch in _batches(dataset, columns):
        if share < 1.0:
            batch = batch.filter(pa.array(rng.random(batch.num_rows) < share))
        parts.append(batch)
    table = pa.Table.from_batches(parts, schema=parts[0].schema) if parts else None
    if table is None or not table.num_rows:
        return None
    values = {c: table.column(c).cast(pa.float64()).to_numpy(zero_copy_only=False) for c in signals}
    languages = (np.array(table.column("language").fill_null(UNKNOWN_LANGUAGE).to_pylist(), dtype=object)
                 if "language" in table.column_names else np.full(table.num_rows, UNKNOWN_LANGUAGE, dtype=object))
    ids = np.array(table.column("id").to_pylist(), dtype=object)
    return SignalSample(total, values, languages, ids)


def scan_removed(output: str, sample: Optional[SignalSample], order: list[str]
                 ) -> tuple[dict[str, Counter], dict[str, list[Example]]]:
    """One pass over removed/: documents per language and reason, the sampled rows' reasons, and the first
    EXAMPLES_PER_REASON documents of each reason (in file order) with the start of their text."""
    by_language: dict[str, Counter] = {}
    examples: dict[str, list[Example]] = {}
    sampled: dict[str, str] = {}
    picked: Counter = Counter()  # examples chosen in the current file, not read yet
    sample_ids = pa.array(sorted(set(sample.ids)), pa.string()) if sample is not None else None
    dataset = open_folder(output, "removed")
    if dataset is not None and {"id", "removed_by"} <= set(dataset.schema.names):
        has_language = "language" in dataset.schema.names
        small = ["id", "removed_by", *(["language"] if has_language else [])]
        text_columns = _present(dataset, ["id", "url", "language", "text", "removed_by"])
        for fragment in _fragments(dataset):
            rows: list[int] = []  # of this file, to read the text of
            offset = 0
            for batch in fragment.to_batches(columns=small, schema=dataset.schema, use_threads=False):
                table = pa.Table.from_batches([batch])
                offset += batch.num_rows
                if not batch.num_rows:
                    continue
                languages = table.column("language").fill_null(UNKNOWN_LANGUAGE) if has_language else \
                    pa.array([UNKNOWN_LANGUAGE] * table.num_rows)
                reasons = table.column("removed_by").fill_null("")
                counted = pa.table({"language": languages, "removed_by": reasons}) \
                    .group_by(["language", "removed_by"]).aggregate([([], "count_all")])
                for lang, reason, n in zip(*(counted.column(c).to_pylist()
                                             for c in ("language", "removed_by", "count_all"))):
                    by_language.setdefault(lang, Counter())[reason] += n
                    need = EXAMPLES_PER_REASON - len(examples.setdefault(reason, [])) - picked[reason]
                    if need > 0:
                        start = offset - batch.num_rows
                        chosen = _where(pc.equal(reasons, reason))[:need]
                        rows += [start + i for i in chosen]
                        picked[reason] += len(chosen)
                if sample_ids is not None:
                    hits = table.filter(pc.is_in(table.column("id"), value_set=sample_ids))
                    sampled.update(zip(hits.column("id").to_pylist(), hits.column("removed_by").to_pylist()))
            for row in _take(dataset, fragment, sorted(rows), text_columns) if rows else ():
                examples[row["removed_by"] or ""].append(
                    Example(row["id"], row.get("url"), row.get("language"), row["text"], row["chars"]))
            picked.clear()
    if sample is not None:
        sample.removed_by = np.array([sampled.get(i) for i in sample.ids], dtype=object)
    rank = {name: i for i, name in enumerate(order)}
    ordered = {k: v for k, v in sorted(examples.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])) if v}
    return by_language, ordered


def scan_duplicates(output: str, example_ids: set[str]) -> tuple[Optional[DedupSummary], dict[str, str]]:
    """duplicates/ (id, cluster_id = the keeper's id, cluster_size, keep): the cluster-size distribution and the
    largest clusters, and the keeper of each example removed as a duplicate. Two passes over its small columns."""
    dataset = open_folder(output, "duplicates")
    if dataset is None or not {"id", "cluster_id", "cluster_size", "keep"} <= set(dataset.schema.names):
        return None, {}
    summary = DedupSummary()
    top: list[tuple[int, str]] = []  # (size, keeper) of the TOP_CLUSTERS largest so far
    keepers: dict[str, str] = {}
    wanted = pa.array(sorted(example_ids), pa.string())
    for _, batch in _batches(dataset, ["id", "cluster_id", "cluster_size", "keep"]):
        table = pa.Table.from_batches([batch])
        multi = pc.greater(table.column("cluster_size"), 1)
        summary.documents += pc.sum(multi.cast(pa.int64())).as_py() or 0
        heads = table.filter(pc.and_(multi, pc.fill_null(table.column("keep"), False)))
        for size, n in zip(*(pc.value_counts(heads.column("cluster_size")).flatten())):
            summary.sizes[size.as_py()] += n.as_py()
        if heads.num_rows:
            order = pc.select_k_unstable(heads, TOP_CLUSTERS, [("cluster_size", "descending"),
                                                                ("cluster_id", "ascending")])
            top += zip(heads.column("cluster_size").take(order).to_pylist(),
                       heads.column("cluster_id").take(order).to_pylist())
            top = sorted(top, key=lambda t: (-t[0], t[1]))[:TOP_CLUSTERS]
        if len(wanted):
            picked = table.filter(pc.is_in(table.column("id"), value_set=wanted))
            keepers.update(zip(picked.column("id").to_pylist(), picked.column("cluster_id").to_pylist()))
    summary.clusters = sum(summary.sizes.values())
    members: dict[str, list[str]] = {k: [] for _, k in top}
    if members:
        ids = pa.array(sorted(members), pa.string())
        for _, batch in _batches(dataset, ["id", "cluster_id", "keep"]):
            table = pa.Table.from_batches([batch])
            picked = table.filter(pc.and_(pc.is_in(table.column("cluster_id"), value_set=ids),
                                          pc.invert(pc.fill_null(table.column("keep"), False))))
            for doc, keeper in zip(picked.column("id").to_pylist(), picked.column("cluster_id").to_pylist()):
                if len(members[keeper]) < MEMBERS_SHOWN:
                    members[keeper].append(doc)
    summary.largest = [Cluster(k, size, sorted(members[k])) for size, k in top]
    return summary, keepers


def read_run(output: str, sample_rows: int = SAMPLE_ROWS) -> RunData:
    """Everything report.html shows about the finished run in `output`."""
    stats = read_json(posixpath.join(output, "stats.json"))
    manifest = read_json(posixpath.join(output, "manifest.json"))
    config = parse_config(manifest["config"])
    rules = compiled_rules(config)
    steps = funnel(stats, rules)
    order = [s.name for s in steps if s.name != "dedup"] + list(DEDUP_REASONS)
    signals = open_folder(output, "signals")
    sample = sample_signals(signals, rules, sample_rows) if signals is not None else None
    by_language, examples = scan_removed(output, sample, order)
    dup_examples = {e.id for r in DEDUP_REASONS for e in examples.get(r, [])}
    dedup, keepers = scan_duplicates(output, dup_examples) if config.dedup.enabled else (None, {})
    for reason in DEDUP_REASONS:
        if reason in examples:
            examples[reason] = [dataclasses.replace(e, duplicate_of=keepers.get(e.id)) for e in examples[reason]]
    examples = rule_values(signals, examples, rules)
    keepers_shown = {c.keeper for c in dedup.largest} if dedup else set()
    kept = {lang: v["documents"] for lang, v in stats.get("languages", {}).items()}
    return RunData(output=output, stats=stats, manifest=manifest, config=config, rules=rules, funnel=steps,
                   kept_by_language=kept, removed_by_language=by_language, stage_seconds=stage_seconds(stats),
                   signals=sample, dedup=dedup, examples=examples, snippets=_texts(output, keepers_shown))
