"""Hostile strings from the input and the config never become markup in the release files.

URLs, hosts, ids, input file names, the `source` field, `input.source`, `input.license` and a rule name are
planted with HTML (`<img onerror>`, `<script>`), Markdown (`](javascript:...)`, backticks, `|`, `# heading`),
YAML specials (`: `, `---`, `{`), mathtext (`$\\frac{$`) and control characters (NUL, BEL, ESC, CSI, RLO). The
escaping functions are checked against a real Markdown renderer (markdown-it-py, raw HTML enabled as on the
Hub), Python's HTML parser and PyYAML; then a pipeline runs on files the test writes (named with the same
characters) and `report` writes README.md and report.html, which are parsed: no element or attribute from the
input, no extra heading, the header parses into huggingface_hub's DatasetCardData with the exact strings, every
planted value is shown as its text, and neither file holds a raw control character.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import given, settings, strategies as st

from conftest import assert_conservation, read_folder, run_pipeline

from beam_curation.pipeline.report.escape import (Html, Markdown, html_text, markdown_code, markdown_text,
                                                  plot_text, visible_controls, yaml_comment, yaml_document)

markdown_it = pytest.importorskip("markdown_it")

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    "[link](javascript:alert(3))",
    "![img](javascript:alert(4))",
    "<https://evil.example/>",
    "`code` `` and ```",
    "a | b | c",
    "line\n# heading",
    "line\r\n---\nkey: value",
    "\n- list\n1. item\n> quote",
    "{a: b}: c, [d]",
    "--- ",
    "&lt;b&gt; &amp; &#60;",
    "*em* _em_ **strong** ~~strike~~",
    "$\\frac{$ math $x^2$",
    "back\\slash\\",
    "nul\x00bel\x07esc\x1b[31mcsi\x9bdel\x7f",
    "\u202eevil\u2066 sep\u2028para\u2029 nel\x85",
    "tab\there",
    "    indented code",
    "<!-- comment -->",
    "\ud800 lone surrogate",
]
# What may never be written raw to a release file (tab and newline are legitimate where a format keeps them).
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
                         "\u2028\u2029]")


def render_markdown(text: str) -> str:
    """CommonMark with GFM tables and strikethrough, raw HTML passed through (as the Hub renders cards)."""
    return markdown_it.MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(text)


class Elements(HTMLParser):
    """Every element (with its attributes) and the text inside each, as a browser's parser reads them."""

    VOID = {"meta", "br", "hr", "img", "input", "link", "area", "base", "col", "embed", "source", "track", "wbr"}

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []  # in document order
        self.elements: list[tuple[str, str]] = []  # (tag, text inside), in closing order
        self.comments: list[str] = []
        self._open: list[tuple[str, list[str]]] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self._open.append((tag, []))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        while self._open:
            name, parts = self._open.pop()
            self.elements.append((name, "".join(parts)))
            if self._open:
                self._open[-1][1].extend(parts)
            if name == tag:
                break

    def handle_data(self, data):
        if self._open:
            self._open[-1][1].append(data)

    def handle_comment(self, data):
        self.comments.append(data)

    @property
    def texts(self) -> list[str]:
        return [text for _, text in self.elements]

    def names(self) -> set[str]:
        return {t for t, _ in self.tags}

    def attributes(self) -> set[str]:
        return {a for _, attrs in self.tags for a in attrs}


def shown(value: str) -> str:
    """How a value reads once rendered: its control characters and line breaks as escapes."""
    return visible_controls(value, keep_lines=False)


# --- the escaping functions against real parsers ---------------------------------------------------------------

@pytest.mark.parametrize("value", HOSTILE)
def test_markdown_text_renders_as_the_value(value: str):
    paragraph = Elements(render_markdown(f"before {markdown_text(value)} after"))
    assert paragraph.names() == {"p"}, paragraph.tags
    assert paragraph.texts == [f"before {shown(value)} after"]
    row = f"| {markdown_text(value)} | {markdown_code(value, in_table=True)} |"
    table = Elements(render_markdown(f"| a | b |\n|---|---|\n{row}\n"))
    assert table.names() == {"table", "thead", "tbody", "tr", "th", "td", "code"}, table.tags
    cells = [text for tag, text in table.elements if tag in ("td", "code")]
    assert len(cells) == 3, cells  # no cell boundary from the value
    assert cells[0].strip() == shown(value).strip() and cells[1] == cells[2]
    assert cells[1] in (shown(value), shown(value).strip())
    assert not table.attributes()


@pytest.mark.parametrize("value", HOSTILE)
def test_markdown_heading_and_code_span_hold_the_value(value: str):
    page = Elements(render_markdown(f"# {markdown_text(value)}\n\nsee {markdown_code(value)} here\n"))
    assert [t for t, _ in page.tags] == ["h1", "p", "code"]
    assert page.texts[0] == shown(value).strip()  # a heading's own text is trimmed
    code = page.texts[1]
    assert code == shown(value) or code == shown(value).strip()  # a code span drops one padding space a side


@pytest.mark.parametrize("value", HOSTILE)
def test_html_text_is_text_in_elements_and_attributes(value: str):
    page = Elements(f"<p title=\"{html_text(value)}\" data-x='{html_text(value)}'>{html_text(value)}"
                    f"<pre>{html_text(value, keep_lines=True)}</pre></p>")
    assert page.tags == [("p", {"title": shown(value), "data-x": shown(value)}), ("pre", {})]
    assert page.elements == [("pre", visible_controls(value)), ("p", shown(value) + visible_controls(value))]
    assert not RAW_CONTROL.search(html_text(value)) and not RAW_CONTROL.search(html_text(value, keep_lines=True))


def test_yaml_header_holds_the_exact_values():
    data = {"pretty_name": "".join(HOSTILE), "items": HOSTILE, "nested": {v: v for v in HOSTILE[:6]}}
    text = yaml_document(data)
    assert yaml.safe_load(text) == data
    assert not RAW_CONTROL.search(text)
    assert not any(line == "---" or line.startswith("--- ") for line in text.splitlines())


@pytest.mark.parametrize("value", HOSTILE + ["x\nfilters: {rules: [{name: a, keep: 'false'}]}",
                                   "x\x85keep: 1", "x\u2028keep: 1", "x\rkeep: 1"])
def test_yaml_comment_stays_a_comment(value: str):
    """The thresholds rules file's comment lines name a path and languages: nothing in them becomes YAML."""
    text = yaml_comment(value) + "\n" + yaml_document({"filters": {"rules": []}})
    assert yaml.safe_load(text) == {"filters": {"rules": []}}
    assert len(yaml_comment(value).splitlines()) == 1 and not RAW_CONTROL.search(yaml_comment(value))


def test_escaped_values_are_not_escaped_twice_and_labels_hold_no_math():
    once = markdown_text("<a|b>")
    assert isinstance(once, Markdown) and markdown_text(once) is once
    html_once = html_text("<a&b>")
    assert isinstance(html_once, Html) and html_text(html_once) is html_once
    assert plot_text("$\\frac{$\x1b") == "\\$\\frac{\\$\\x1b"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(list("<>[]()`|#!*_~$&\\:{}-\n\r\t \x00\x1b")),
               max_size=40))
def test_any_string_escapes_for_every_format(value: str):
    row = f"| {markdown_text(value)} | {markdown_code(value, in_table=True)} |"
    rendered = Elements(render_markdown(f"| a | b |\n|---|---|\n{row}\n"))
    assert rendered.names() <= {"table", "thead", "tbody", "tr", "th", "td", "code"}
    cells = [t.strip() for tag, t in rendered.elements if tag == "td"]  # cells and code spans are trimmed
    assert cells == [shown(value).strip()] * 2
    assert Elements(f"<p>{html_text(value)}</p>").texts == [shown(value)]
    assert yaml.safe_load(yaml_document({"v": value})) == {"v": value}
    for text in (markdown_text(value), html_text(value), yaml_document({"v": value})):
        assert not RAW_CONTROL.search(text)


# --- through a pipeline and `report` ------------------------------------------------------------------------------

SOURCE = "Src <img src=x onerror=alert(6)> | `x`\n# Injected heading\n---\n{a: b}: \x1b[2J $\\frac{$"
LICENSE = "mit\n# Licence heading\n<script>alert(7)</script> \x1b[2J \x00 \u202e [l](javascript:alert(1))"
RULE = "r<b>x</b>|y`$\\frac{$"
WORDS = ("river stone garden window yellow market bridge summer letter silver forest morning candle harbour winter "
         "music").split()
DOCUMENTS = [  # (id, url, source field); ids and hosts unique, so each shows once
    ("id-<img src=x onerror=alert(1)>", "http://<img src=x onerror=alert(3)>.example/", "src <b>bold</b> | `x`"),
    ("id-](javascript:alert(2))", "http://x](javascript:alert(4)).example/a", "[l](javascript:alert(8))"),
    ("id-`tick`|pipe|", "http://a`b|c.example/", "plain"),
    ("id-\n# heading", "http://nl\n# heading.example/", "line\n# source heading"),
    ("id-\x00nul\x1besc\x9bcsi", "http://ctl\x00\x1b\x9b.example/", "ctl\x00\x1b"),
    ("id-\x1b[31m-not-a-host", "http://ctl\x1b[31m.example/", None),  # `[` in the host: no host, not counted
    ("id-: ---{", "http://yaml: ---{.example/", "{a: b}: ---"),
    ("id-$\\frac{$", "http://$\\frac{$.example/", "$x$"),
    ("id-\u202eevil", "http://\u202egnp.exe.example/", None),
]
SHORT = {0, 3}  # of DOCUMENTS: removed by RULE (too few words)
JSONL_NAME = "hostile <img src=x onerror=alert(5)> `|` \x1b[31m: ---{\n# h.jsonl"
PARQUET_NAME = "table <svg onload=alert(1)> | $x$.parquet"
PARQUET_DOCUMENTS = [("pq-<iframe src=javascript:alert(1)>", "https://pq|<b>.example/x"),
                     ("pq-\x07bell", "https://ok.example/")]


def _text(i: int, sentences: int) -> str:
    return " ".join(f"The {WORDS[(i + k) % 16]} near the {WORDS[(i * 5 + 3 * k + 1) % 16]} was quiet on day {i}."
                    for k in range(sentences))


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("hostile")
    data = root / "in"
    data.mkdir()
    with (data / JSONL_NAME).open("w", encoding="utf-8") as f:
        for i, (doc_id, url, source) in enumerate(DOCUMENTS):
            record = {"id": doc_id, "url": url, "text": _text(i, 2 if i in SHORT else 6)}
            if source is not None:
                record["source"] = source
            f.write(json.dumps(record) + "\n")
        # an exact copy of document 2: a dedup cluster whose ids the report shows
        f.write(json.dumps({"id": "z-dup-<script>alert(9)</script>", "url": "http://dup.example/",
                            "text": _text(2, 6)}) + "\n")
    pq.write_table(pa.table({"id": [d for d, _ in PARQUET_DOCUMENTS], "url": [u for _, u in PARQUET_DOCUMENTS],
                             "text": [_text(20 + i, 6) for i in range(len(PARQUET_DOCUMENTS))]}),
                   data / PARQUET_NAME)
    config = root / "hostile.yaml"
    config.write_text(yaml.safe_dump({
        "mode": "filter",
        "input": {"paths": [str(data)], "source": SOURCE, "license": LICENSE},
        "langid": {"enabled": True}, "signals": {"enabled": True}, "dedup": {"enabled": True},
        "filters": {"enabled": True, "rules": [{"name": RULE, "keep": "rps_doc_word_count > 20"}]}}))
    out = root / "out"
    assert run_pipeline(config, out) == 0
    from beam_curation.pipeline.cli import main

    assert main(["report", str(out)]) == 0
    return {"out": out, "data": data, "card": (out / "README.md").read_text(encoding="utf-8"),
            "page": (out / "report.html").read_text(encoding="utf-8")}


@pytest.mark.slow
def test_the_run_kept_and_removed_the_hostile_documents(hostile_run):
    out = hostile_run["out"]
    assert_conservation(out, len(DOCUMENTS) + 1 + len(PARQUET_DOCUMENTS))
    removed = {r["id"]: r["removed_by"] for r in read_folder(out, "removed")}
    assert {DOCUMENTS[i][0] for i in SHORT} <= {k for k, v in removed.items() if v == RULE}
    assert removed["z-dup-<script>alert(9)</script>"] == "dedup_exact"


@pytest.mark.slow
def test_card_header_holds_the_exact_strings(hostile_run):
    from huggingface_hub import DatasetCard, DatasetCardData

    card = DatasetCard(hostile_run["card"])
    assert isinstance(card.data, DatasetCardData)
    assert card.data.pretty_name == SOURCE
    assert card.data.license == LICENSE
    assert card.data.source_datasets == [f"extended|{SOURCE}"]
    assert card.data.language == ["en"]
    header = hostile_run["card"].split("\n---\n", 1)[0]
    assert yaml.safe_load(header.removeprefix("---\n"))["pretty_name"] == SOURCE


def _host(url: str) -> str:
    """A URL's host as the card counts it (without `www.`), or "" when it has none that parses."""
    try:
        return (urlsplit(url).hostname or "").removeprefix("www.")
    except ValueError:
        return ""


@pytest.mark.slow
def test_card_body_renders_no_markup_from_the_input(hostile_run):
    body = hostile_run["card"].split("\n---\n", 1)[1]
    page = Elements(render_markdown(body))
    assert page.names() <= {"h1", "h2", "h3", "p", "strong", "code", "ul", "li", "table", "thead", "tbody", "tr",
                            "th", "td"}, page.names()
    assert not page.attributes()
    assert not page.comments
    hosts = {_host(r["url"]) for r in read_folder(hostile_run["out"], "documents")} - {""}
    assert [text for tag, text in page.elements if tag in ("h1", "h2", "h3")] == [
        shown(SOURCE), "Sources and licences", "Input files", "Sources named in the input (source field), kept "
        "documents", "Composition", "By language (kept documents)",
        f"By domain (kept documents, top 20 of {len(hosts)} hosts)", "Processing", "What was removed, and why",
        "Deduplication", "Personal data", "Benchmark contamination", "Models", "Known limitations", "Reproducing"]
    strong = [text for tag, text in page.elements if tag == "strong"]
    assert strong[:2] == [shown(SOURCE), shown(LICENSE)]  # the declared source and licence
    cells = [text for tag, text in page.elements if tag == "td"]
    for name in (JSONL_NAME, PARQUET_NAME):
        assert shown(str(hostile_run["data"] / name)) in cells, name
    assert len(hosts) >= 6
    for host in hosts:
        assert shown(host) in cells, host
    kept_sources = {r.get("source") for r in read_folder(hostile_run["out"], "documents")} - {None}
    assert len(kept_sources) >= 4
    for source in kept_sources:
        assert shown(source) in cells, source
    assert shown(RULE) in cells
    assert not RAW_CONTROL.search(hostile_run["card"])


@pytest.mark.slow
def test_report_html_holds_no_markup_from_the_input(hostile_run):
    text = hostile_run["page"]
    page = Elements(text)
    own = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "table", "tr", "th", "td",
           "figure", "figcaption", "details", "summary", "div", "span", "a", "pre", "code", "b", "i",
           # matplotlib's SVG
           "svg", "metadata", "rdf:rdf", "cc:work", "dc:format", "dc:type", "defs", "g", "path", "text", "tspan",
           "clippath", "use", "rect"}
    assert page.names() <= own, page.names() - own
    assert not {a for a in page.attributes() if a.startswith("on")}
    assert all(attrs["href"].startswith("#doc-") for tag, attrs in page.tags if tag == "a" and "href" in attrs)
    texts = "\n".join(page.texts)
    removed_ids = [DOCUMENTS[i][0] for i in SHORT] + ["z-dup-<script>alert(9)</script>"]
    for doc_id in removed_ids:  # shown in the examples, as text
        assert shown(doc_id) in page.texts, doc_id
    assert shown(DOCUMENTS[0][1]) in page.texts  # a removed example's url
    assert shown(RULE) in texts  # the rule in the funnel plot (matplotlib draws `\\$` as `$`) and the examples' heading
    svg_texts = [text for tag, text in page.elements if tag == "text"]
    assert f"rule {shown(RULE)}" in svg_texts and f"removed: {shown(RULE)}" in svg_texts
    assert not RAW_CONTROL.search(text)


@pytest.mark.slow
def test_report_rewrites_both_files_from_the_current_stats(hostile_run, tmp_path: Path):
    """`report` renders both files from one reading of stats.json and manifest.json: after stats.json changes,
    both say the new figures."""
    import shutil

    from beam_curation.pipeline.cli import main

    out = tmp_path / "out"
    shutil.copytree(hostile_run["out"], out)
    stats = json.loads((out / "stats.json").read_text())
    assert f"{stats['kept']} of {stats['input']} input documents kept" in hostile_run["card"]
    stats["wall_seconds"] = 1234.5
    stats.pop("this_run", None)  # as a rerun that found every shard complete writes it
    stats["input"] += 1000  # a figure both files show
    (out / "stats.json").write_text(json.dumps(stats))
    assert main(["report", str(out)]) == 0
    page = Elements((out / "report.html").read_text(encoding="utf-8"))
    rows = {attrs.get("data-figure") for tag, attrs in page.tags if tag == "tr"}
    assert "wall seconds of the last run (every shard was complete: it ran nothing)" in rows
    assert "1,234.5" in page.texts and f"{stats['input']:,}" in page.texts
    card = (out / "README.md").read_text(encoding="utf-8")
    assert f"{stats['kept']} of {stats['input']:,} input documents kept" in card
