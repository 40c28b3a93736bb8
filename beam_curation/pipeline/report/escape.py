"""Every input-derived string that reaches a release file goes through here, escaped for where it lands.

URLs, hosts, ids, file names, the declared source and licence, language codes, rule names and conditions,
model card fields: any of them can hold markup, line breaks or terminal escapes, and the data card (README.md:
a YAML header and a Markdown body) and report.html are opened in browsers, on the Hub and in terminals.

- Control characters are shown, never written: C0 (U+0000-U+001F) but tab and newline where a format keeps
  them, DEL, C1 (U+0080-U+009F), lone surrogates and the bidirectional formatting controls (U+061C, U+200E,
  U+200F, U+202A-U+202E, U+2066-U+2069, which can make text read in another order than it is) and the line
  and paragraph separators (U+2028, U+2029) become Python-style escapes: `\\n`, `\\r`, `\\t`, `\\x1b`,
  `\\u202e`. A backslash already in the input is left as it is, so `\\x1b` on the page can also be those four
  characters; the YAML header holds every value exactly.
- Markdown text: the characters that start inline markup (`\\ ` * _ { } [ ] < > # ! | ~ ^ $ &`) are
  backslash-escaped, so the rendered text is the input's (controls shown) and nothing becomes a link, an image,
  HTML, emphasis, a heading, math or a table cell boundary; newlines are shown, so no value starts a block.
- Markdown code: a code span fenced by more backticks than the value holds; `|` escaped inside tables.
- HTML: `& < > " '` as entities, controls and line breaks shown (tab and newline kept in a document's
  text, shown in <pre>).
- YAML: PyYAML's safe emitter (quotes and escapes as the value needs; never string formatting; a comment line
  shows its controls and line breaks, as Markdown text does). When a value
  holds a bidirectional control, a separator or NEL (U+0085), which that emitter would leave raw, the whole
  header is emitted ASCII-only (`\\u202E` escapes), which parses to the same strings.
- Plot labels (matplotlib): controls and line breaks shown, and every `$` escaped (`\\$`), so no label is
  parsed as mathtext (a parse that fails on `$\\frac{$` and stopped `report`); the axes' own log-scale tick
  labels still use mathtext.

Values already escaped for a format are marked by their type (`Markdown`, `Html`), so an escaping function
leaves them as they are and a table can escape every plain string cell itself.
"""

from __future__ import annotations

import html
import re
from typing import Any

import yaml

# Shown escaped in every format (tab and newline are added per format where they are not legitimate).
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_SEPARATORS = "\u2028\u2029"  # line and paragraph separators: breaks to some readers, invisible to others
_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff" + _BIDI + _SEPARATORS
# Left raw by PyYAML's emitter with allow_unicode (NEL even breaks its round trip): then the header is ASCII-only.
_YAML_ASCII_ONLY = _BIDI + _SEPARATORS + "\x85"
_SHOWN = re.compile(f"[{_CONTROLS}]")
_SHOWN_WITH_LINES = re.compile(f"[{_CONTROLS}\t\n]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# CommonMark's inline markup starters, plus `|` (GFM table cells), `~` (strikethrough), `$` (the Hub's math) and
# `&` (entities). `(`, `)`, `:` and `.` are left: without an unescaped `[` or `<` they start nothing.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#!|~^$&])")
_BACKTICKS = re.compile(r"`+")


class Markdown(str):
    """A string that is Markdown already (escaped input, or the card's own markup)."""


class Html(str):
    """A string that is HTML already (escaped input, or the report's own markup)."""


def _show(match: re.Match) -> str:
    char = match.group(0)
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible_controls(value: Any, keep_lines: bool = True) -> str:
    """`value` as text with its control characters shown as escapes (tab and newline kept when `keep_lines`)."""
    return (_SHOWN if keep_lines else _SHOWN_WITH_LINES).sub(_show, str(value))


def markdown_text(value: Any) -> Markdown:
    """Inline Markdown that renders as `value` (controls and line breaks shown); safe in table cells."""
    if isinstance(value, Markdown):
        return value
    return Markdown(_MARKDOWN_SPECIAL.sub(r"\\\1", visible_controls(value, keep_lines=False)))


def markdown_code(value: Any, in_table: bool = False) -> Markdown:
    """An inline code span showing `value` (controls and line breaks shown); `in_table`: inside a GFM table row,
    where `|` must be escaped even in code. Nothing for an empty value (two backticks would show as text)."""
    text = visible_controls(value, keep_lines=False)
    if not text:
        return Markdown("")
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or (text.startswith(" ") and text.endswith(" ")) else ""
    if in_table:
        text = text.replace("|", "\\|")
    return Markdown(f"{fence}{pad}{text}{pad}{fence}")


def html_text(value: Any, keep_lines: bool = False) -> Html:
    """Text for an HTML element or a quoted attribute value, controls and line breaks shown; `keep_lines`: tab
    and newline kept (a document's text in <pre>)."""
    if isinstance(value, Html):
        return value
    return Html(html.escape(visible_controls(value, keep_lines), quote=True))


def plot_text(value: Any) -> str:
    """A label for a matplotlib figure: controls and line breaks shown, `$` never starting mathtext."""
    return visible_controls(value, keep_lines=False).replace("$", "\\$")


def yaml_document(data: Any, width: int | None = None) -> str:
    """`data` as YAML by PyYAML's safe emitter, Unicode kept readable unless a value holds a character that
    emitter would leave raw (then ASCII-only); control characters come out as YAML escapes either way."""
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=width)
    if any(char in text for char in _YAML_ASCII_ONLY):
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=False, width=width)
    return text


def yaml_comment(value: Any) -> str:
    """A YAML comment line holding `value`: controls and every kind of line break shown, so nothing after the
    `#` can start a line of YAML."""
    return "# " + visible_controls(value, keep_lines=False) if value != "" else "#"
