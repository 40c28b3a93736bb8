"""`report OUT`: a self-contained HTML page (inline SVG, no scripts, no network) describing a finished run, and
the run's dataset card (pipeline.report.card).

What a data engineer checks first: how many documents went in and out and why, which languages, where the
time went, and how the main signals are distributed among kept and removed documents.
"""

from __future__ import annotations

import html
import json
import math
import posixpath
from collections import Counter
from typing import Iterable

import pyarrow.parquet as pq

from pipeline.io.atomic import atomic_write
from pipeline.io.readers import open_path

HISTOGRAM_SIGNALS = ("language_score", "rps_doc_word_count", "rps_doc_mean_word_length", "rps_doc_stop_word_fraction",
                     "rps_doc_frac_chars_top_2gram", "rps_doc_frac_chars_dupe_10grams", "ccnet_perplexity",
                     "quality_score", "toxicity_score")
LOG_SCALE = {"rps_doc_word_count", "ccnet_perplexity"}
WIDTH, BAR_HEIGHT = 640, 18


def _bars(title: str, counts: dict[str, float], unit: str = "") -> str:
    if not counts:
        return f"<h3>{html.escape(title)}</h3><p>none</p>"
    items = sorted(counts.items(), key=lambda kv: -kv[1])[:30]
    top = max(v for _, v in items) or 1
    label_w = 200
    rows = []
    for i, (label, value) in enumerate(items):
        w = (WIDTH - label_w - 80) * value / top
        y = i * (BAR_HEIGHT + 4)
        shown = f"{value:.2f}{unit}" if isinstance(value, float) else f"{value}{unit}"
        rows.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{html.escape(str(label))}</text>'
                    f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{BAR_HEIGHT}" fill="#4477aa"/>'
                    f'<text x="{label_w + w + 4:.1f}" y="{y + 13}">{shown}</text>')
    height = len(items) * (BAR_HEIGHT + 4)
    return (f"<h3>{html.escape(title)}</h3><svg width='{WIDTH}' height='{height}' font-size='12' "
            f"font-family='sans-serif'>{''.join(rows)}</svg>")


def _histogram(name: str, kept: list[float], removed: list[float], bins: int = 30) -> str:
    values = [v for v in kept + removed if v is not None and not math.isnan(v)]
    if not values:
        return ""
    log = name in LOG_SCALE
    tr = (lambda v: math.log10(1 + v)) if log else (lambda v: v)
    lo, hi = min(map(tr, values)), max(map(tr, values))
    span = (hi - lo) or 1.0

    def counts(series: Iterable[float]) -> list[int]:
        c = [0] * bins
        for v in series:
            if v is not None and not math.isnan(v):
                c[min(bins - 1, int((tr(v) - lo) / span * bins))] += 1
        return c

    k, r = counts(kept), counts(removed)
    top = max(a + b for a, b in zip(k, r)) or 1
    h, bw = 140, (WIDTH - 60) / bins
    parts = []
    for i in range(bins):
        x = 40 + i * bw
        hk, hr = h * k[i] / top, h * r[i] / top
        parts.append(f'<rect x="{x:.1f}" y="{h - hk:.1f}" width="{bw - 1:.1f}" height="{hk:.1f}" fill="#4477aa"/>'
                     f'<rect x="{x:.1f}" y="{h - hk - hr:.1f}" width="{bw - 1:.1f}" height="{hr:.1f}" '
                     f'fill="#ee6677"/>')
    fmt = (lambda v: f"{10 ** v - 1:.3g}") if log else (lambda v: f"{v:.3g}")
    axis = (f'<text x="40" y="{h + 14}">{fmt(lo)}</text>'
            f'<text x="{WIDTH - 20}" y="{h + 14}" text-anchor="end">{fmt(hi)}</text>')
    scale = " (log scale)" if log else ""
    return (f"<h3>{html.escape(name)}{scale}</h3><svg width='{WIDTH}' height='{h + 20}' font-size='11' "
            f"font-family='sans-serif'>{''.join(parts)}{axis}</svg>")


def _read_json(path: str) -> dict:
    with open_path(path) as handle:
        return json.loads(handle.read())


def _column_values(output: str, folder: str, columns: list[str]) -> dict[str, list]:
    from apache_beam.io.filesystems import FileSystems

    found = FileSystems.match([posixpath.join(output, folder, "*.parquet")])[0].metadata_list
    values: dict[str, list] = {c: [] for c in columns}
    for meta in sorted(found, key=lambda m: m.path):
        with open_path(meta.path) as handle:
            table = pq.read_table(handle)
        for c in columns:
            if c in table.column_names:
                values[c] += table.column(c).to_pylist()
    return values


def write_report(output: str) -> str:
    """Write OUT/report.html and return its path."""
    stats = _read_json(posixpath.join(output, "stats.json"))
    manifest = _read_json(posixpath.join(output, "manifest.json"))
    kept_ids = set(_column_values(output, "documents", ["id"])["id"])
    languages = Counter(_column_values(output, "documents", ["language"])["language"])
    signals = _column_values(output, "signals", ["id", *HISTOGRAM_SIGNALS])
    stage_seconds = {s: v["seconds"] for s, v in stats["stages"].items()}

    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Curation run report</title>",
        "<style>body{font-family:sans-serif;max-width:900px;margin:2em auto;color:#222}"
        "td,th{padding:2px 10px;text-align:left}.k{color:#4477aa}.r{color:#ee6677}</style></head><body>",
        f"<h1>Curation run report</h1><p>{html.escape(output)} &middot; config {manifest['config_digest']} "
        f"&middot; mode {html.escape(str(manifest['config'].get('mode')))}</p>",
        "<table>",
        *(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in [
            ("shards", stats["shards"]), ("documents in", stats["input"]), ("kept", stats["kept"]),
            ("removed", stats["removed_total"]), ("errors", stats["errors_total"]),
            ("wall seconds", stats["wall_seconds"])]),
        "</table>",
        _bars("Removed, by rule or stage", stats["removed"]),
        _bars("Errors, by stage", stats["errors"]),
        _bars("Kept documents by language", dict(languages.most_common(30))),
        _bars("Seconds by stage (summed over workers)", stage_seconds, " s"),
        "<h2>Signals</h2><p><span class='k'>&#9632; kept</span> &nbsp; <span class='r'>&#9632; removed</span> "
        "(documents that reached the signal stages)</p>",
    ]
    ids = signals.pop("id")
    for name, series in signals.items():
        if not series:
            continue
        kept = [v for i, v in zip(ids, series) if i in kept_ids]
        removed = [v for i, v in zip(ids, series) if i not in kept_ids]
        parts.append(_histogram(name, kept, removed))
    parts.append("</body></html>")
    path = posixpath.join(output, "report.html")
    page = "\n".join(parts).encode()
    atomic_write(path, lambda handle: handle.write(page))
    return path


def write_report_and_card(output: str) -> list[str]:
    """`report OUT`: OUT/report.html and OUT/README.md (the dataset card, pipeline.report.card)."""
    from pipeline.report.card import write_card

    html_path = write_report(output)
    stats = _read_json(posixpath.join(output, "stats.json"))
    manifest = _read_json(posixpath.join(output, "manifest.json"))
    return [html_path, write_card(output, stats, manifest)]
