"""`report OUT`: a self-contained HTML page describing a finished run (matplotlib plots inline as SVG, no
scripts, no network), and the run's dataset card (beam_curation.pipeline.report.card).

What a data engineer checks first: how many documents went in and out and why (the removal funnel in rule
order), which languages were kept and removed, where the time went, how each signal is distributed among kept
and removed documents with the rules' thresholds drawn on it, what dedup clustered, and what removed documents
actually look like. The figures are read by beam_curation.pipeline.report.run_data; each plot has its numbers in a table.
Every string from the input, the config or stats.json is escaped by beam_curation.pipeline.report.escape (HTML
text and attributes; plot labels with their control characters shown).
"""

from __future__ import annotations

import hashlib
import posixpath
from typing import Any, Iterable

import numpy as np

from beam_curation.filters.dedup.types import keep_text
from beam_curation.pipeline.config import ConfigError
from beam_curation.pipeline.io.atomic import atomic_write
from beam_curation.pipeline.report import plots
from beam_curation.pipeline.report.escape import Html, html_text, plot_text
from beam_curation.pipeline.report.run_data import (DEDUP_REASONS, EXAMPLE_CHARS, SAMPLE_ROWS, Example, RunData,
                                                    read_run)

LOG_SCALE = {"rps_doc_word_count", "ccnet_perplexity"}
TOP_LANGUAGES = 24
KEEPER_CHARS = 160
MAX_LINES = 4  # per-language thresholds drawn per rule: the values covering the most sampled documents
STYLE = """
body{font-family:sans-serif;max-width:1240px;margin:1.5em auto;color:#222;line-height:1.35}
h1{margin-bottom:.2em} h2{margin-top:1.6em;border-bottom:1px solid #ccc} .note{color:#555;font-size:90%}
table{border-collapse:collapse;font-size:90%;margin:.4em 0} td,th{padding:2px 10px;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums} tr:nth-child(even) td{background:#fafafa}
svg{width:100%;height:auto;display:block} figure{margin:.4em 0}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:.6em 1.2em} .grid figure{margin:0} figure.half{width:50%}
figcaption{font-size:85%;color:#444} details{font-size:90%;margin:.2em 0 .8em}
.doc{border-left:4px solid #ee6677;padding:.2em .6em;margin:.5em 0;background:#fffafa}
.doc.keeper{border-color:#4477aa;background:#f8fbff} .doc pre{white-space:pre-wrap;margin:.3em 0;font-size:85%}
.id{font-family:monospace;font-size:90%} .snippet{font-size:85%;color:#444;white-space:pre-wrap}
"""


def anchor(doc_id: str) -> str:
    """A stable HTML id for a document id (ids hold characters an HTML id should not)."""
    return "doc-" + hashlib.sha1(doc_id.encode("utf-8")).hexdigest()[:16]


def _e(value: Any) -> Html:
    return html_text(value)


def _labels(values: Iterable[Any]) -> list[str]:
    return [plot_text(v) for v in values]


def _table(header: list[str], rows: Iterable[tuple[dict[str, Any], list[Any]]], numeric: set[int] = frozenset()
           ) -> str:
    """A table; each row is (data attributes, cells). Numeric columns are right-aligned; a cell that is neither a
    number nor Html already is escaped here."""
    head = "".join(f"<th{' class=n' if i in numeric else ''}>{_e(h)}</th>" for i, h in enumerate(header))
    body = []
    for attrs, cells in rows:
        data = "".join(f' data-{k}="{_e(v)}"' for k, v in attrs.items())
        tds = "".join(f"<td{' class=n' if i in numeric else ''}>"
                      f"{plots.fmt(c) if isinstance(c, (int, float)) and not isinstance(c, bool) else _e(c)}</td>"
                      for i, c in enumerate(cells))
        body.append(f"<tr{data}>{tds}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _details(summary: str, content: str) -> str:
    return f"<details><summary>{_e(summary)}</summary>{content}</details>"


# --- sections --------------------------------------------------------------------------------------------------

def _summary(run: RunData) -> str:
    s, m = run.stats, run.manifest
    # stats.json's wall_seconds is the last `run` command's own time; one that found every shard complete ran
    # nothing (no `this_run` in stats.json), so its seconds are not the time this folder's documents took.
    last = "wall seconds of the last run" + ("" if "this_run" in s else " (every shard was complete: it ran nothing)")
    rows = [("shards", s["shards"]), ("documents in", s["input"]), ("kept", s["kept"]),
            ("removed", s["removed_total"]), ("failed (errors/)", s["errors_total"]), (last, s["wall_seconds"])]
    if "tokens" in s:  # the `tokens` stage: its tokenizer's counts
        rows[3:3] = [("tokens kept", s["tokens"].get("kept_tokens", 0)), ("tokens in all", s["tokens"]["tokens"])]
    refiltered = m.get("refiltered_from")
    return (f"<h1>Curation run report</h1><p class=note>{_e(run.output)} &middot; config {_e(m['config_digest'])} "
            f"&middot; mode {_e(run.config.mode)}"
            + (f" &middot; refiltered from {_e(refiltered)}" if refiltered else "") + "</p>"
            + _table(["", ""], (({"figure": k}, [_e(k), v]) for k, v in rows), {1}))


def _funnel(run: RunData) -> str:
    steps = run.funnel
    svg = plots.funnel(_labels(s.label for s in steps), [s.remaining for s in steps], [s.removed for s in steps])
    rows = (({"step": s.name, "removed": s.removed, "remaining": s.remaining},
             [_e(s.label), s.removed if s.name not in ("input", "kept") else "", s.remaining]) for s in steps)
    how = ("A document is removed by the first rule it fails, in this order, then by dedup; stages remove only "
           "documents left without text." if run.config.mode == "filter" else
           "Annotate mode: nothing is removed by rule or dedup, only documents left without text.")
    return ("<h2 id=funnel>Removal funnel</h2>"
            f"<p class=note>{how} Counts from stats.json.</p><figure>{svg}</figure>"
            + _details("numbers", _table(["step", "removed", "documents left"], rows, {1, 2})))


def _reason_order(run: RunData) -> list[str]:
    named = [s.name for s in run.funnel if s.name not in ("input", "errors", "dedup", "kept")]
    present = {r for c in run.removed_by_language.values() for r in c}
    return [r for r in [*named, *DEDUP_REASONS] if r in present] + sorted(present - set(named) - set(DEDUP_REASONS))


def _languages(run: RunData) -> str:
    reasons = _reason_order(run)
    names = set(run.kept_by_language) | set(run.removed_by_language)
    total = {lang: run.kept_by_language.get(lang, 0) + sum(run.removed_by_language.get(lang, {}).values())
             for lang in names}
    ordered = sorted(names, key=lambda lang: (-total[lang], lang))
    if not ordered:
        return "<h2 id=languages>Languages</h2><p>No documents.</p>"
    shown, rest = ordered[:TOP_LANGUAGES], ordered[TOP_LANGUAGES:]
    rows_lang = shown + ([f"other ({len(rest)} languages)"] if rest else [])

    def kept(langs: list[str]) -> int:
        return sum(run.kept_by_language.get(lang, 0) for lang in langs)

    def removed(langs: list[str], reason: str) -> int:
        return sum(run.removed_by_language.get(lang, {}).get(reason, 0) for lang in langs)

    groups = [[lang] for lang in shown] + ([rest] if rest else [])
    svg = plots.languages(_labels(rows_lang), [kept(g) for g in groups],
                          {plot_text(r): [removed(g, r) for g in groups] for r in reasons})
    rows = (({"language": lang, "kept": run.kept_by_language.get(lang, 0),
              "removed": sum(run.removed_by_language.get(lang, {}).values())},
             [_e(lang), run.kept_by_language.get(lang, 0), *[removed([lang], r) for r in reasons]])
            for lang in ordered)
    return ("<h2 id=languages>Kept and removed by language</h2>"
            "<p class=note>Kept documents per language from stats.json; removed ones from removed/ (the language "
            "identified for the document; <code>und</code>: none). Failed documents have no language.</p>"
            f"<figure>{svg}</figure>"
            + _details("numbers", _table(["language", "kept", *reasons], rows, set(range(1, len(reasons) + 2)))))


def _stages(run: RunData) -> str:
    stages = run.stage_seconds
    if not stages:
        return ""
    svg = plots.stage_seconds(_labels(s for s, _, _ in stages), [t for _, _, t in stages], [n for _, n, _ in stages])
    rows = (({"stage": s, "documents": n, "seconds": round(t, 6)},
             [_e(s), n, f"{t:.3f}", f"{1000 * t / n:.2f}" if n else ""]) for s, n, t in stages)
    reused = run.stats.get("this_run", {}).get("tasks_reused", 0)
    note = (f" {_e(reused)} task(s) reused stored annotations: their stage seconds are those of the run that "
            "annotated them." if reused else "")
    return ("<h2 id=time>Time per stage</h2>"
            "<p class=note>Seconds each annotation stage spent on its documents, summed over workers (stats.json "
            "<code>stages</code>); <code>write</code> is phase 2's writing of the output parts. Dedup "
            "clustering runs as Beam groupings between the phases and is part of the wall time "
            f"(the last run's: {plots.fmt(run.stats['wall_seconds'])} s) only.{note}</p>"
            f"<figure>{svg}</figure>"
            + _details("numbers", _table(["stage", "documents", "seconds", "ms per document"], rows, {1, 2, 3})))


def _threshold_lines(run: RunData, column: str) -> tuple[list[tuple[float, str]], list[str], list[str]]:
    """(value, label) of each line to draw, the rules on `column`, and notes on lines left out."""
    sample = run.signals
    lines, rules, notes = [], [], []
    for rule, comparison in run.thresholds(column):
        rules.append(rule.name)
        op = {">=": "\u2265", "<=": "\u2264"}.get(comparison.operator, comparison.operator)
        if not isinstance(comparison.value, dict):
            lines.append((float(comparison.value), f"{rule.name} {op} {comparison.value:g}"))
            continue
        by_value: dict[float, list[str]] = {}
        for lang, value in comparison.value.items():
            by_value.setdefault(float(value), []).append(lang)
        documents = {v: int(np.isin(sample.languages, langs).sum()) for v, langs in by_value.items()}
        ranked = sorted(by_value, key=lambda v: (-documents[v], v))
        for value in ranked[:MAX_LINES]:
            langs = sorted(by_value[value])
            named = ", ".join(("other languages" if lang == "default" else lang) for lang in langs[:4])
            more = f" +{len(langs) - 4}" if len(langs) > 4 else ""
            lines.append((value, f"{rule.name} {op} {value:g} ({named}{more})"))
        if len(ranked) > MAX_LINES:
            notes.append(f"{rule.name}: {len(ranked) - MAX_LINES} more per-language values not drawn")
    return lines, list(dict.fromkeys(rules)), notes


def _languages_named(languages: Iterable[str], at_most: int = 8) -> str:
    langs = sorted(languages)
    more = f" and {len(langs) - at_most} more" if len(langs) > at_most else ""
    return ", ".join(langs[:at_most]) + more + f" ({len(langs)} languages)"


def _signals(run: RunData) -> str:
    sample = run.signals
    if sample is None:
        return "<h2 id=signals>Signals</h2><p>No signals/ in this run.</p>"
    sampled = sample.size < sample.total
    reasons = sample.removed_by if sample.removed_by is not None else np.full(sample.size, None, dtype=object)
    kept_mask = np.array([r is None for r in reasons], dtype=bool)
    figures = []
    for column, values in sample.columns.items():
        finite = np.isfinite(values)
        lines, rules, notes = _threshold_lines(run, column)
        by_rule_mask = np.isin(reasons.astype(str), rules) & ~kept_mask if rules else np.zeros(sample.size, bool)
        other_mask = ~kept_mask & ~by_rule_mask
        log = column in LOG_SCALE
        svg = plots.histogram(plot_text(column), values[finite & kept_mask], values[finite & by_rule_mask],
                              values[finite & other_mask], plot_text(" / ".join(rules) or "a rule on it"),
                              [(value, plot_text(label)) for value, label in lines], log)
        if svg is None:
            continue
        missing = int((~finite).sum())
        caption = [f"{plots.fmt(int(finite.sum()))} documents with a value"]
        if missing:
            caption.append(f"{plots.fmt(missing)} without one (not computed for their language, or NaN)")
        if log and np.any(values[finite] <= 0):
            caption.append("values \u2264 0 are counted in the first bin")
        if rules:
            caption.append("dashed: the thresholds of " + ", ".join(rules))
        caption += notes + [f"{rule.name} judges only {_languages_named(rule.languages)}"
                            for rule in run.rules if rule.name in rules and rule.languages]
        figures.append(f"<figure><figcaption><b>{_e(column)}</b></figcaption>{svg}"
                       f"<figcaption>{_e('; '.join(caption))}.</figcaption></figure>")
    how = (f"a uniform random sample of {plots.fmt(sample.size)} of the {plots.fmt(sample.total)} documents in "
           f"signals/ (at most about {plots.fmt(SAMPLE_ROWS)}, fixed seed)" if sampled else
           f"all {plots.fmt(sample.total)} documents in signals/")
    return ("<h2 id=signals>Signals</h2>"
            f"<p class=note>Documents that reached the signal stages, from {how}: "
            f"<span style='color:{plots.KEPT}'>&#9632;</span> kept, <span style='color:{plots.REMOVED}'>&#9632;"
            f"</span> removed by a rule on the signal, <span style='color:{plots.OTHER}'>&#9632;</span> removed "
            "for another reason (another rule or dedup). Signals drawn: those the rules compare with a number, "
            "then the usual ones the run computed.</p>"
            f"<div class=grid>{''.join(figures)}</div>")


def _doc(example: Example, keeper: bool = False, note: str = "") -> str:
    text = example.text + ("\u2026" if example.chars > len(example.text) else "")
    meta = [f"language {_e(example.language or 'und')}", f"{plots.fmt(example.chars)} characters"]
    if example.url:
        meta.append(f"url <span class=id>{_e(example.url)}</span>")
    for column, value in example.values.items():
        shown = "no value" if value is None or (isinstance(value, float) and value != value) else \
            (f"{value:.4g}" if isinstance(value, float) else value)
        meta.append(f"<b>{_e(column)}</b> {_e(shown)}")
    return (f"<div class='doc{' keeper' if keeper else ''}' id='{anchor(example.id)}'>"
            f"<a class=id href='#{anchor(example.id)}'>{_e(example.id)}</a> "
            f"<span class=note>{' &middot; '.join(meta)}{note}</span>"
            f"<pre>{html_text(text, keep_lines=True) if text else '<i>(no text)</i>'}</pre></div>")


def _dedup(run: RunData) -> str:
    head = "<h2 id=dedup>Deduplication</h2>"
    if not run.config.dedup.enabled:
        return head + "<p>Not deduplicated (<code>dedup.enabled: false</code>).</p>"
    d = run.dedup
    if d is None:
        return head + "<p>This run has no readable duplicates/ folder.</p>"
    removed = run.stats["removed"]
    figures = _table(["figure", "value"], (({"figure": k}, [_e(k), v]) for k, v in [
        ("clusters of more than one document", d.clusters), ("documents in those clusters", d.documents),
        ("removed as exact duplicates", removed.get(DEDUP_REASONS[0], 0)),
        ("removed as near duplicates", removed.get(DEDUP_REASONS[1], 0))]), {1})
    intro = ("<p class=note>From duplicates/: one row per document that reached dedup with its cluster "
             "(<code>cluster_id</code> is the id of the cluster's keeper, the document kept), the cluster's size and "
             "whether it is the keeper. A cluster is a connected set of exact-copy and near-duplicate pairs; "
             f"the keeper is chosen by <code>dedup.keep: {_e(keep_text(run.config.dedup.keep))}</code>.</p>")
    if not d.clusters:
        return head + intro + figures + "<p>No document had a duplicate.</p>"
    shown = {e.id for reason in DEDUP_REASONS for e in run.examples.get(reason, [])}
    svg = plots.cluster_sizes(dict(d.sizes))
    sizes = _table(["cluster size", "clusters"], (({"size": k}, [k, n]) for k, n in sorted(d.sizes.items())), {0, 1})
    rows = []
    for c in d.largest:
        keeper = run.snippets.get(c.keeper)
        start = html_text(keeper.text[:KEEPER_CHARS] + ("\u2026" if keeper.chars > KEEPER_CHARS else ""),
                          keep_lines=True) if keeper else \
            "<i>(text not found)</i>"
        members = ", ".join(f"<a class=id href='#{anchor(m)}'>{_e(m)}</a>" if m in shown else
                            f"<span class=id>{_e(m)}</span>" for m in c.members)
        more = c.size - 1 - len(c.members)
        rows.append(f"<tr id='{anchor(c.keeper)}' data-keeper=\"{_e(c.keeper)}\" data-size={c.size}>"
                    f"<td class=n>{plots.fmt(c.size)}</td><td><span class=id>{_e(c.keeper)}</span>"
                    f"<div class=snippet>{start}</div></td>"
                    f"<td>{members}{f' and {plots.fmt(more)} more' if more > 0 else ''}</td></tr>")
    return (head + intro + figures + f"<figure class=half>{svg}</figure>" + _details("numbers", sizes)
            + f"<h3>The {len(d.largest)} largest clusters</h3><table><tr><th class=n>size</th>"
            "<th>keeper (kept) and the start of its text</th>"
            f"<th>duplicates{' (removed)' if run.config.mode == 'filter' else ''}</th></tr>"
            + "".join(rows) + "</table>")


def _examples(run: RunData) -> str:
    if not run.examples:
        return "<h2 id=examples>Removed documents</h2><p>Nothing was removed.</p>"
    parts = ["<h2 id=examples>Removed documents, by reason</h2>",
             f"<p class=note>The first documents of each reason in removed/ (file order), with the first "
             f"{EXAMPLE_CHARS} characters of their text.</p>"]
    for reason, examples in run.examples.items():
        n = run.stats["removed"].get(reason, 0)
        parts.append(f"<h3 id='reason-{_e(reason)}'>{_e(reason)} ({plots.fmt(n)} removed)</h3>")
        for e in examples:
            note = ""
            if e.duplicate_of:
                target = (f"<a class=id href='#{anchor(e.duplicate_of)}'>{_e(e.duplicate_of)}</a>"
                          if e.duplicate_of in run.snippets else f"<span class=id>{_e(e.duplicate_of)}</span>")
                note = f" &middot; duplicate of {target}"
            parts.append(_doc(e, note=note))
    return "".join(parts)


def _errors(run: RunData) -> str:
    errors = run.stats["errors"]
    if not errors:
        return ""
    return ("<h2 id=errors>Failed documents</h2><p class=note>Kept in errors/ with their input, replayable.</p>"
            + _table(["stage", "errors"], (({"stage": s}, [_e(s), n]) for s, n in errors.items()), {1}))


def _tokens(run: RunData) -> str:
    """Tokens per language and per declared source, all and kept (the `tokens` stage's counts)."""
    tokens = run.stats.get("tokens")
    if not tokens:
        return ""
    parts = ["<h2 id=tokens>Tokens</h2>"]
    for title, key in (("By language", "languages"), ("By source", "sources")):
        groups = tokens.get(key) or {}
        if not groups:
            continue
        rows = sorted(groups.items(), key=lambda kv: (-kv[1].get("kept_tokens", 0), kv[0]))
        parts.append(f"<h3>{title}</h3>" + _table(
            ["", "kept documents", "kept tokens", "documents", "tokens"],
            (({key: name}, [_e(name), v.get("kept_documents", 0), v.get("kept_tokens", 0), v["documents"],
                            v["tokens"]]) for name, v in rows), {1, 2, 3, 4}))
    return "".join(parts)


def render(run: RunData) -> str:
    body = [_summary(run), _funnel(run), _languages(run), _tokens(run), _stages(run), _signals(run), _dedup(run),
            _examples(run), _errors(run)]
    return ("<!doctype html><html lang=en><head><meta charset='utf-8'><title>Curation run report</title>"
            f"<style>{STYLE}</style></head><body>" + "\n".join(b for b in body if b) + "</body></html>\n")


def write_report_and_card(output: str, sample_rows: int = SAMPLE_ROWS) -> list[str]:
    """`report OUT`: OUT/report.html and OUT/README.md (the dataset card, beam_curation.pipeline.report.card),
    both rendered from one reading of the folder's current stats.json and manifest.json before either is
    written, so the two never describe different runs (and a failure leaves both as they were)."""
    from beam_curation.pipeline.report.card import render_card

    _check_finished(output)
    run = read_run(output, sample_rows)
    page = render(run).encode("utf-8")
    card = render_card(output, run.stats, run.manifest).encode("utf-8")
    written = []
    for name, content in (("report.html", page), ("README.md", card)):
        path = posixpath.join(output, name)
        atomic_write(path, lambda handle, content=content: handle.write(content))
        written.append(path)
    return written


def _check_finished(output: str) -> None:
    from apache_beam.io.filesystems import FileSystems

    for name in ("stats.json", "manifest.json"):
        if not FileSystems.exists(posixpath.join(output, name)):
            raise ConfigError(f"report: {posixpath.join(output, name)} not found (not a finished run's folder?)")
