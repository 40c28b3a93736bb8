"""CCNet's size signals, as RedPajama-V2 carries them over: characters and lines.

* ``ccnet_length``: ``len(text)`` in characters (Unicode code points).
* ``ccnet_nlines``: the number of lines as the ``rps_lines_*`` signals see them (matches of
  ``[^\\n]*\\n|[^\\n]+$``). CCNet counts ``len(text.split("\\n"))`` on text it joined with
  ``"\\n"``; the two agree on every text that does not end with ``"\\n"``. A trailing newline does
  not start another (empty) line here, so ``ccnet_nlines`` always equals the number of spans of
  each ``rps_lines_*`` signal; the empty text has 0 lines.
"""

from __future__ import annotations

from beam_curation.filters.heuristics.rpv2.document import DocumentView
from beam_curation.filters.heuristics.rpv2.registry import signal

__all__: list[str] = []


@signal("ccnet_length", kind="doc")
def ccnet_length(doc: DocumentView) -> float:
    return float(len(doc.text))


@signal("ccnet_nlines", kind="doc")
def ccnet_nlines(doc: DocumentView) -> float:
    return float(doc.num_lines)
