"""The text of OUT/README.md that `report OUT` writes: a Hugging Face dataset card for a finished run.

The YAML header is the Hub's dataset-card metadata (languages, licence, size category, task, source
datasets, and `configs` naming the data folders so `datasets.load_dataset(OUT)` finds them); the body follows
Data Cards and the Dataset Nutrition Label: where the data came from under which licence, what it holds by
language and domain, every stage and rule with its thresholds and what it removed, dedup, personal data and
benchmark contamination figures, the models used (sha256 and their own cards) and known limitations.

Every count comes from stats.json (or, for domains and declared sources, from documents/ itself) and every
setting from manifest.json, so the card says what the run did, not what a config meant to do. Every value
that comes from the input, the config or a model's card is escaped by beam_curation.pipeline.report.escape
(Markdown in the body, PyYAML's emitter for the header).
"""

from __future__ import annotations

import json
import posixpath
from collections import Counter
from typing import Any, Iterable, Iterator
from urllib.parse import urlsplit

from beam_curation.filters.dedup.types import keep_text
from beam_curation.pipeline.config import Config, parse_config
from beam_curation.pipeline.io.figures import UNKNOWN_LANGUAGE
from beam_curation.pipeline.report.escape import Markdown, markdown_code, markdown_text as md, yaml_document

# The Hub's size categories (huggingface_hub's dataset-card metadata), by number of rows.
SIZE_CATEGORIES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"),
                   (10_000_000_000, "1B<n<10B"), (100_000_000_000, "10B<n<100B"),
                   (1_000_000_000_000, "100B<n<1T")]
TOP_DOMAINS = 20
DATA_CONFIGS = (("default", "documents"), ("removed", "removed"), ("signals", "signals"),
                ("duplicates", "duplicates"))
STAGE_REMOVAL_REASONS = {"langid_prefilter": "its raw HTML is confidently in none of the kept languages (CLD2; "
                                             "not extracted)",
                         "extract_empty": "extraction left no text", "c4_empty": "C4's line filter left no text",
                         "dedup_exact": "exact duplicate (same normalised text) of a kept document",
                         "dedup_minhash": "near duplicate (MinHash LSH) of a kept document",
                         "dedup_paragraphs": "too little text left once its repeated paragraphs were cut"}


def size_category(rows: int) -> str:
    for bound, name in SIZE_CATEGORIES:
        if rows < bound:
            return name
    return "n>1T"


def _fmt(n: Any) -> Markdown:
    """A number as Markdown; anything else is input-derived text, escaped."""
    if isinstance(n, float):
        return Markdown(f"{n:,.3f}" if n == n else "n/a")
    return Markdown(f"{n:,}") if isinstance(n, int) and not isinstance(n, bool) else md(n)


def code(value: Any) -> Markdown:
    """A value as inline code in a table cell (where `|` is escaped even in code)."""
    return markdown_code(value, in_table=True)


def code_inline(value: Any) -> Markdown:
    """A value as inline code in prose (where an escaped `|` would show its backslash)."""
    return markdown_code(value)


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


def _table(header: list[str], rows: Iterable[list[Any]]) -> list[str]:
    """A GFM table; a cell that is not Markdown already (a number, input-derived text) is escaped here."""
    rows = [[_fmt(c) for c in row] for row in rows]
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out if rows else out + ["| " + " | ".join(["none"] + [""] * (len(header) - 1)) + " |"]


def _data_column(output: str, folder: str, column: str) -> Iterator[Any]:
    """One column's values of a data folder (absent: none), streamed a record batch at a time."""
    from apache_beam.io.filesystems import FileSystems
    import pyarrow.parquet as pq

    from beam_curation.pipeline.io.readers import open_path

    found = FileSystems.match([posixpath.join(output, folder, "*.parquet")])[0].metadata_list
    for meta in sorted(found, key=lambda m: m.path):
        with open_path(meta.path) as handle:
            parquet = pq.ParquetFile(handle)
            if column in parquet.schema_arrow.names:
                for batch in parquet.iter_batches(batch_size=65_536, columns=[column]):
                    yield from batch.column(0).to_pylist()


def _has_files(output: str, folder: str) -> bool:
    from apache_beam.io.filesystems import FileSystems

    return bool(FileSystems.match([posixpath.join(output, folder, "*.parquet")])[0].metadata_list)


def domain_counts(output: str) -> Counter:
    """Kept documents by host (lower-cased, without `www.`); documents without a URL are not counted."""
    hosts: Counter = Counter()
    for url in _data_column(output, "documents", "url"):
        host = url_host(url)
        if host:
            hosts[host.removeprefix("www.")] += 1
    return hosts


def url_host(url: Any) -> str:
    """The host of a URL, or "" when it has none or does not parse (e.g. `[` in the host: "Invalid IPv6")."""
    if not isinstance(url, str) or not url:
        return ""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def source_counts(output: str) -> Counter:
    """Kept documents by the input's own `source` field (Dolma's documents carry one), when present."""
    return Counter(v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)
                   for v in _data_column(output, "documents", "source") if v)


def _read_card(path: str | None) -> dict[str, Any] | None:
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def card_metadata(config: Config, stats: dict[str, Any], output: str) -> dict[str, Any]:
    """The YAML header: Hugging Face dataset-card metadata."""
    languages = sorted(lang for lang in stats.get("languages", {}) if lang != UNKNOWN_LANGUAGE)
    meta: dict[str, Any] = {
        "pretty_name": config.input.source or posixpath.basename(output.rstrip("/")) or "curated corpus",
        "language": languages,
        "multilinguality": "multilingual" if len(languages) > 1 else "monolingual",
        "license": config.input.license or "unknown",
        "size_categories": [size_category(stats["kept"])],
        "task_categories": ["text-generation"],
        "task_ids": ["language-modeling"],
        "source_datasets": [f"extended|{config.input.source}" if config.input.source else "original"],
        "annotations_creators": ["machine-generated"],
        "language_creators": ["found"],
        "configs": [{"config_name": name, "data_files": [{"split": "train", "path": f"{folder}/*.parquet"}]}
                    for name, folder in DATA_CONFIGS if _has_files(output, folder)],  # a glob matching none fails
        # the documents/ split's size, as `datasets` states it (tokens, when counted, are in the body)
        "dataset_info": {"splits": [{"name": "train", "num_examples": stats["kept"]}]},
    }
    return meta


def _token_lines(tokens: dict[str, Any] | None) -> list[str]:
    """`## Size in tokens`: the `tokens` stage's counts, kept and in all, per language and declared source."""
    if not tokens:
        return []
    lines = ["## Size in tokens", "",
             f"{_fmt(tokens.get('kept_tokens', 0))} tokens in the {_fmt(tokens.get('kept_documents', 0))} kept "
             f"documents ({_fmt(tokens['tokens'])} in all {_fmt(tokens['documents'])} documents with text), counted "
             "with the run's tokenizer (`tokens.tokenizer` in the manifest) as its `encode` gives them.", ""]
    for title, key in (("By language", "languages"), ("By source (`source` field)", "sources")):
        groups = tokens.get(key) or {}
        if groups:
            lines += [f"### {title}", ""]
            lines += _table(["", "kept documents", "kept tokens", "tokens in all"],
                            [[name, v.get("kept_documents", 0), v.get("kept_tokens", 0), v["tokens"]]
                             for name, v in sorted(groups.items(), key=lambda kv: (-kv[1].get("kept_tokens", 0),
                                                                                    kv[0]))])
            lines.append("")
    return lines


def _rules(config: Config) -> list[tuple[str, str, dict[str, Any], list[str]]]:
    from beam_curation.pipeline.plan import rule_specs

    return [(r.name, r.keep, r.params, r.languages) for r in rule_specs(config)]


def render_card(output: str, stats: dict[str, Any], manifest: dict[str, Any]) -> str:
    config = parse_config(manifest["config"])
    meta = card_metadata(config, stats, output)
    n_in, kept = stats["input"], stats["kept"]
    lines = ["---", yaml_document(meta).rstrip(), "---", "",
             f"# {md(meta['pretty_name'])}", "",
             "Curated with beam-curation (`beam-curation run`, config digest "
             f"{code_inline(manifest['config_digest'])}, "
             f"mode {code_inline(config.mode)}): {_fmt(kept)} of {_fmt(n_in)} input documents kept, "
             f"{_fmt(stats['removed_total'])} removed, {_fmt(stats['errors_total'])} failed. "
             "The documents are in `documents/` (the default config), removed ones with the reason in `removed/`, "
             "every document's signals in `signals/`.", ""]

    # --- sources ---
    lines += ["## Sources and licences", "",
              "Declared by the curator (`input.source`, `input.license`): source "
              f"**{md(config.input.source or 'not declared')}**, "
              f"licence **{md(config.input.license or 'not declared')}**. "
              "The licence of the text is that of its publishers; this card does not grant rights the sources did not.",
              ""]
    lines += ["### Input files", ""]
    lines += _table(["file", "format", "sha256"],
                    [[i["path"], i["format"], i.get("sha256") or "remote (not hashed)"]
                     for i in manifest["inputs"]])
    sources = source_counts(output)
    if sources:
        lines += ["", "### Sources named in the input (`source` field), kept documents", ""]
        lines += _table(["source", "documents"],
                        [[s, n] for s, n in sorted(sources.items(), key=lambda kv: (-kv[1], kv[0]))])
    lines.append("")

    # --- composition ---
    languages = stats.get("languages", {})
    lines += ["## Composition", "", "### By language (kept documents)", ""]
    lines += _table(["language", "documents", "share", "characters"],
                    [[lang, v["documents"], _share(v["documents"], kept), v["chars"]]
                     for lang, v in sorted(languages.items(), key=lambda kv: (-kv[1]["documents"], kv[0]))])
    hosts = domain_counts(output)
    lines += ["", f"### By domain (kept documents, top {TOP_DOMAINS} of {_fmt(len(hosts))} hosts)", ""]
    lines += _table(["domain", "documents", "share"],
                    [[h, n, _share(n, kept)] for h, n in sorted(hosts.items(), key=lambda kv: (-kv[1], kv[0]))
                     [:TOP_DOMAINS]])
    lines.append("")
    lines += _token_lines(stats.get("tokens"))

    # --- processing ---
    removed = stats["removed"]
    lines += ["## Processing", "", "Stages in the order they ran, with the documents each saw and the seconds "
              "it took (summed over workers; for documents whose stored annotations a rerun reused, the seconds "
              "of the run that annotated them):", ""]
    lines += _table(["stage", "documents", "seconds"],
                    [[s, v["documents"], round(v["seconds"], 3)] for s, v in
                     sorted(stats["stages"].items(), key=lambda kv: _stage_order(kv[0]))])
    lines += ["", _settings(config), "", "### What was removed, and why", "",
              "A document is removed by the first rule it fails, in this order, then by dedup; stages remove only "
              "documents left without text." if config.mode == "filter" else
              "Annotate mode: nothing removed by rule or dedup, only documents left without text.", ""]
    rows = []
    for name, keep, params, langs in _rules(config):
        rows.append([name, code(keep), code(json.dumps(params, sort_keys=True)) if params else "",
                     ", ".join(langs) or "all", removed.get(name, 0), _share(removed.get(name, 0), n_in)])
    for reason, what in STAGE_REMOVAL_REASONS.items():
        if reason in removed:
            rows.append([reason, what, "", "all", removed[reason], _share(removed[reason], n_in)])
    lines += _table(["rule or stage", "keeps a document when", "parameters", "languages", "removed",
                     "share of input"], rows)
    if stats["errors"]:
        lines += ["", "Documents that failed (kept in `errors/` with their input, replayable):", ""]
        lines += _table(["stage", "errors"], [[s, n] for s, n in stats["errors"].items()])
    lines.append("")

    # --- dedup ---
    lines += ["## Deduplication", ""]
    if config.dedup.enabled:
        d = config.dedup
        dup = stats.get("duplicates", {})
        minhash = (f", MinHash LSH at Jaccard {d.threshold} ({d.num_perm} permutations, {d.ngram}-"
                   f"{md(d.ngram_unit)} shingles)" if d.minhash else "")
        lines += [f"Exact text hash{', normalised URL' if d.url else ''}{minhash}; "
                  f"the keeper of each cluster: {code_inline(keep_text(d.keep))}.", ""]
        if d.against:
            lines += [f"Deduplicated against the documents kept by {len(d.against)} earlier run(s) "
                      f"({', '.join(code_inline(f) for f in d.against)}): a document duplicating one of them is removed, and duplicates/ "
                      "names it (`cluster_id`) and its folder (`keeper_run`).", ""]
        rows = [["clusters of more than one document", dup.get("clusters", 0)],
                ["documents in those clusters", dup.get("documents_in_clusters", 0)],
                ["removed as exact duplicates", removed.get("dedup_exact", 0)],
                ["removed as near duplicates", removed.get("dedup_minhash", 0)]]
        if d.against:
            rows.append(["removed as duplicates of an earlier run's documents", dup.get("earlier_runs", 0)])
        if d.paragraphs.enabled:
            rows += [["documents holding repeated paragraphs", dup.get("documents_with_repeated_paragraphs", 0)],
                     ["repeated paragraphs (characters)", f"{dup.get('repeated_paragraphs', 0)} "
                      f"({dup.get('repeated_paragraph_chars', 0)})"],
                     ["removed for too little text left without them", removed.get("dedup_paragraphs", 0)]]
        lines += _table(["figure", "value"], rows)
    else:
        lines.append("Not deduplicated (`dedup.enabled: false`).")
    lines.append("")

    # --- personal data ---
    lines += ["## Personal data", ""]
    if config.pii.enabled:
        pii = config.pii
        how = ("replaced in the text by `<EMAIL>`, `<IP>`, `<PHONE>`, `<CARD>`, `<IBAN>`" if pii.mode == "redact"
               else "recorded (counts and spans in `signals/`) and left in the text")
        lines += [f"Detected kinds: {md(', '.join(pii.kinds))} (phone numbers in international format, and national "
                  f"formats of {md(', '.join(pii.phone_regions))}); values were {how}. Names, postal addresses and "
                  "other personal data are not detected.", ""]
        lines += _table(["kind", "values found", "documents", "values in kept documents", "kept documents"],
                        [[k, v["values"], v["documents"], v["kept_values"], v["kept_documents"]]
                         for k, v in stats.get("pii", {}).items()])
    else:
        lines.append("Not scanned for personal data (`pii.enabled: false`).")
    lines.append("")

    # --- contamination ---
    lines += ["## Benchmark contamination", ""]
    if config.decontamination.enabled:
        decon = config.decontamination
        described = {e["name"]: e for e in manifest.get("eval_sets", [])}
        lines += [f"Word {decon.ngram}-grams shared with each evaluation set, after lm-evaluation-harness's "
                  "normalisation (ASCII lower-case, punctuation removed); a document matching any n-gram of an "
                  "item counts as contaminated by it. Paraphrases and translations are not detected.", ""]
        rows = []
        for spec in decon.sets:
            e = described.get(spec.name, {})
            v = stats.get("decontamination", {}).get(spec.name, {"documents": 0, "ngrams": 0, "kept_documents": 0})
            rows.append([spec.name, spec.path, (e.get("settings", {}).get("sha256") or "")[:16], e.get("items", ""),
                         e.get("kind", ""), v["documents"], v["ngrams"], v["kept_documents"]])
        lines += _table(["set", "file", "sha256 (first 16)", "items", "index", "documents matched",
                         "n-grams matched", "kept documents matched"], rows)
    else:
        lines.append("Not checked against evaluation sets (`decontamination.enabled: false`).")
    lines.append("")

    # --- models ---
    lines += ["## Models", ""]
    models = manifest.get("models", [])
    lines += _table(["used for", "file", "sha256", "card"],
                    [[m["key"], m["path"], m.get("sha256") or "remote (not hashed)", m.get("card") or "none"]
                     for m in models])
    for m in models:
        card = _read_card(m.get("card"))
        if not card:
            continue
        lines += ["", f"**{md(m['key'])}** ({md(card.get('name', m['path']))}): "
                      f"{md(card.get('description') or card.get('kind', ''))}"]
        for source in card.get("data", []) + card.get("sources", []):
            trained_on = source.get("path") or source.get("file") or source.get("format")
            lines.append(f"- trained on {code_inline(trained_on)}, "
                         f"licence {md(source.get('license') or source.get('licence') or 'unknown')}")
        metrics = card.get("metrics", {})
        if "roc_auc" in metrics.get("holdout", {}):
            lines.append(f"- held-out ROC-AUC {metrics['holdout']['roc_auc']:.3f}")
        elif "roc_auc" in metrics.get("holdout_macro", {}):
            lines.append(f"- held-out ROC-AUC {metrics['holdout_macro']['roc_auc']:.3f} (macro over labels)")
    lines.append("")

    lines += ["## Known limitations", "",
              "- Filtering is automatic: rules and classifiers keep some low-quality, toxic or off-topic text and "
              "remove some good text; the signals in `signals/` let a user re-decide (`beam-curation "
              "refilter`).",
              "- Language identification (fastText lid.176) is least reliable on short, mixed-language or "
              "code-heavy documents.",
              "- Classifier scores carry the biases of their training data (see each model's card above).",
              "- Personal data other than the detected kinds (names, addresses, identifiers) remains in the text.",
              "- Contamination is checked only against the listed evaluation sets and only for verbatim n-gram "
              "overlap.",
              "- Web text reflects its publishers: it can be wrong, biased or under copyright.", ""]
    lines += ["## Reproducing", "", f"Config digest {code_inline(manifest['config_digest'])}, annotation digest "
              f"{code_inline(manifest['annotation_digest'])}; the resolved config is in `manifest.json`. Packages: "
              + ", ".join(f"{md(k)} {md(v)}" for k, v in sorted(manifest.get("packages", {}).items())) + ".", ""]
    return "\n".join(lines)


def _stage_order(stage: str) -> int:
    """Position of a stage in the run: read, the annotation stages in pipeline order, then write."""
    from beam_curation.pipeline.stages import STAGES

    order = ["read", *(s.STAGE for s in STAGES), "write"]
    return order.index(stage) if stage in order else len(order)


def _settings(config: Config) -> str:
    """One line per enabled stage with its settings (names and paths from the config, escaped)."""
    def names(values: Iterable[Any]) -> str:
        return md(", ".join(str(v) for v in values))

    parts = ["Settings:"]
    if config.extract.enabled:
        extract = config.extract
        favor = f", favor {code_inline(extract.favor)}" if extract.backend == "trafilatura" else ""
        parts.append(f"- extract (HTML input): {extract.backend}{favor}, tables {extract.include_tables}, "
                     f"CPU-time limit {extract.timeout_seconds:g} s per page")
    if config.langid.enabled:
        parts.append(f"- langid: model {code_inline(config.langid.model or 'lid.176.ftz')}, keep "
                     f"{names(config.langid.keep) or 'every language'}, min score {config.langid.min_score:g}")
    if config.signals.enabled:
        parts.append(f"- signals: groups {names(config.signals.groups)}"
                     + (f" ({len(config.signals.names)} named signals)" if config.signals.names is not None else ""))
    if config.pii.enabled:
        parts.append(f"- pii: mode {code_inline(config.pii.mode)}, kinds {names(config.pii.kinds)}")
    if config.decontamination.enabled:
        parts.append(f"- decontamination: {config.decontamination.ngram}-grams, sets "
                     f"{names(s.name for s in config.decontamination.sets)}")
    if config.perplexity.enabled:
        parts.append(f"- perplexity: KenLM for {names(config.perplexity.models) or 'no language'}")
    if config.classifiers.enabled:
        for spec in config.classifiers.models:
            parts.append(f"- classifier {code_inline(spec.name)}: writes {names(spec.columns())}")
    if config.dedup.enabled:
        parts.append(f"- dedup: threshold {config.dedup.threshold}, keep {code_inline(keep_text(config.dedup.keep))}")
    return "\n".join(parts)
