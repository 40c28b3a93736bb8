"""report.html's plots: matplotlib figures (Agg canvas, no pyplot state) rendered to inline SVG strings.

Text stays text in the SVG (`svg.fonttype: none`), so counts and labels can be searched and read by a screen
reader, and with a fixed hash salt and no date the same run gives the same bytes. Every plot area has the
face colour PLOT_FACE, which nothing else on the page uses (the screenshot test finds plot areas by it).
"""

from __future__ import annotations

import io
import re
from typing import Optional, Sequence

import numpy as np

PLOT_FACE = "#f4f6fb"
KEPT, REMOVED, OTHER = "#4477aa", "#ee6677", "#bbbbbb"
# Paul Tol's "bright" scheme without blue (kept) and grey: one colour per removal reason.
REASON_COLOURS = ("#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#994455", "#997700", "#6699cc",
                  "#ee99aa", "#117733")
WIDE, HALF = 12.6, 6.2  # figure widths in inches: at 96 px an inch, the page's full and half width
RC = {"svg.fonttype": "none", "svg.hashsalt": "beam-curation-report", "font.size": 9, "axes.titlesize": 10,
      "axes.facecolor": PLOT_FACE, "axes.edgecolor": "#555555", "axes.spines.top": False,
      "axes.spines.right": False, "legend.fontsize": 8, "legend.framealpha": 0.9, "legend.facecolor": "white",
      "font.family": "sans-serif"}


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _svg(fig) -> str:
    """The figure as an inline <svg> element (no XML prolog, scaled by the page's CSS)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _render(draw, width: float, height: float) -> str:
    import matplotlib

    with matplotlib.rc_context(RC):
        fig = _figure(width, height)
        draw(fig)
        return _svg(fig)


def fmt(n: float) -> str:
    """1234567 -> 1,234,567; 0.000123 -> 0.000123; 12.5 -> 12.5."""
    if float(n).is_integer() and abs(n) < 1e15:
        return f"{int(n):,}"
    return f"{n:,.1f}" if abs(n) >= 100 else f"{n:.3g}"


def _counts_axis(axis) -> None:
    """Whole counts with thousands separators (no 1e6 offset)."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))
    axis.set_major_formatter(FuncFormatter(lambda v, _: fmt(v)))


def _legend_above(ax, columns: int = 6) -> None:
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=columns, frameon=False, borderaxespad=0.2)


def funnel(labels: Sequence[str], remaining: Sequence[int], removed: Sequence[int]) -> str:
    """Documents left after each step (blue) and what the step took out (red), top to bottom."""
    def draw(fig) -> None:
        ax = fig.add_subplot()
        y = np.arange(len(labels))
        ax.barh(y, remaining, color=KEPT, label="documents left")
        ax.barh(y, removed, left=remaining, color=REMOVED, label="removed by this step")
        top = max(max(r + d for r, d in zip(remaining, removed)), 1)
        for i, (r, d) in enumerate(zip(remaining, removed)):
            ax.text(r + d + top * 0.01, i, fmt(r) + (f"  (\u2212{fmt(d)})" if d else ""), va="center", fontsize=8)
        ax.set_yticks(y, labels)
        ax.invert_yaxis()
        ax.set_xlim(0, top * 1.15)
        _counts_axis(ax.xaxis)
        ax.set_xlabel("documents")
        _legend_above(ax)
    return _render(draw, WIDE, 0.26 * len(labels) + 1.0)


def languages(names: Sequence[str], kept: Sequence[int], removed: dict[str, Sequence[int]]) -> str:
    """Kept (blue) and removed documents by reason (stacked), one bar per language."""
    def draw(fig) -> None:
        ax = fig.add_subplot()
        y = np.arange(len(names))
        left = np.asarray(kept, dtype=float)
        ax.barh(y, left, color=KEPT, label="kept")
        for i, (reason, counts) in enumerate(removed.items()):
            counts = np.asarray(counts, dtype=float)
            ax.barh(y, counts, left=left, color=REASON_COLOURS[i % len(REASON_COLOURS)], label=f"removed: {reason}")
            left = left + counts
        top = max(float(left.max()) if len(left) else 0.0, 1.0)
        for i, total in enumerate(left):
            gone = total - kept[i]
            ax.text(total + top * 0.01, i, f"{fmt(kept[i])} kept" + (f", {fmt(gone)} removed" if gone else ""),
                    va="center", fontsize=8)
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.set_xlim(0, top * 1.25)
        _counts_axis(ax.xaxis)
        ax.set_xlabel("documents")
        _legend_above(ax)
    return _render(draw, WIDE, 0.26 * len(names) + 1.0)


def stage_seconds(stages: Sequence[str], seconds: Sequence[float], documents: Sequence[int]) -> str:
    """Seconds per stage (summed over workers), with documents and milliseconds per document."""
    def draw(fig) -> None:
        ax = fig.add_subplot()
        y = np.arange(len(stages))
        ax.barh(y, seconds, color=KEPT)
        top = max(max(seconds, default=0.0), 1e-9)
        for i, (s, n) in enumerate(zip(seconds, documents)):
            per = f", {1000 * s / n:.2f} ms/doc" if n else ""
            ax.text(s + top * 0.01, i, f"{s:.2f} s, {fmt(n)} docs{per}", va="center", fontsize=8)
        ax.set_yticks(y, stages)
        ax.invert_yaxis()
        ax.set_xlim(0, top * 1.35)
        ax.set_xlabel("seconds (summed over workers)")
    return _render(draw, WIDE, 0.24 * len(stages) + 0.8)


def cluster_sizes(sizes: dict[int, int]) -> str:
    """Clusters (of more than one document) by size."""
    from matplotlib.ticker import MaxNLocator

    def draw(fig) -> None:
        ax = fig.add_subplot()
        items = sorted(sizes.items())
        if items[-1][0] <= 40:  # one bar per size
            x = [k for k, _ in items]
            ax.bar(x, [n for _, n in items], color=KEPT, width=0.8)
            for k, n in items:
                ax.text(k, n, fmt(n), ha="center", va="bottom", fontsize=8)
            ax.set_xlim(1.4, max(x[-1], 10) + 0.6)
            ax.set_ylim(0, max(n for _, n in items) * 1.15)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            _counts_axis(ax.yaxis)
        else:  # many sizes: log-spaced bins
            values = np.repeat([s for s, _ in items], [n for _, n in items])
            edges = np.unique(np.geomspace(2, values.max() + 1, 30).astype(int))
            ax.hist(values, bins=edges, color=KEPT)
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_xlabel("cluster size (documents)")
        ax.set_ylabel("clusters")
    return _render(draw, HALF, 2.6)


def histogram(name: str, kept: np.ndarray, by_rule: np.ndarray, other: np.ndarray, rule_label: str,
              thresholds: Sequence[tuple[float, str]], log: bool, bins: int = 40) -> Optional[str]:
    """Stacked histogram of one signal (kept, removed by the rules on it, removed otherwise) with a dashed
    vertical line at each threshold a rule compares it with, labelled with the rule; None without values."""
    series = [np.asarray(s, dtype=float) for s in (kept, by_rule, other)]
    values = np.concatenate(series)
    if not len(values):
        return None
    marks = [v for v, _ in thresholds]
    lo, hi = float(values.min()), float(values.max())
    if log:
        positive = values[values > 0]
        lo = float(positive.min()) if len(positive) else 1.0
        lo = min([lo, *[m for m in marks if m > 0]])
        hi = max([hi, lo * 10, *marks])
        series = [np.clip(s, lo, None) for s in series]  # zeros count in the first bin (said in the caption)
        edges = np.geomspace(lo, hi, bins + 1)
    else:
        lo, hi = min([lo, *marks]), max([hi, *marks])
        if hi == lo:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, bins + 1)

    def draw(fig) -> None:
        ax = fig.add_subplot()
        labels = [f"kept ({fmt(len(series[0]))})", f"removed by {rule_label} ({fmt(len(series[1]))})",
                  f"removed otherwise ({fmt(len(series[2]))})"]
        shown = [(s, c, lab) for s, c, lab in zip(series, (KEPT, REMOVED, OTHER), labels) if len(s)]
        ax.hist([s for s, _, _ in shown], bins=edges, stacked=True, color=[c for _, c, _ in shown],
                label=[lab for _, _, lab in shown])
        for value, label in thresholds:
            ax.axvline(value, color="#222222", linestyle="--", linewidth=1.2)
            ax.annotate(label, xy=(value, 0.97), xycoords=ax.get_xaxis_transform(), xytext=(-2, 0),
                        textcoords="offset points", rotation=90, va="top", ha="right", fontsize=7, color="#222222",
                        bbox={"facecolor": "white", "alpha": 0.75, "edgecolor": "none", "pad": 1})
        if log:
            ax.set_xscale("log")
        _counts_axis(ax.yaxis)
        ax.set_xlabel(name + (" (log scale)" if log else ""))
        ax.set_ylabel("documents")
        _legend_above(ax, columns=2)
    return _render(draw, HALF, 2.6)


def svg_texts(svg: str) -> list[str]:
    """The text elements of a rendered plot (what a reader sees written on it)."""
    import html

    return [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]
