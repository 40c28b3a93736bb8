"""Main-text extraction with Resiliparse (`extract.backend: resiliparse`), the fast alternative to trafilatura.

Resiliparse (Apache-2.0, an optional extra) parses with lexbor in C and applies its own main-content
heuristics: an order of magnitude faster than trafilatura, at a lower snippet F1 (README, "Benchmarks").
Pure: decoded HTML in, text (or None) out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from beam_curation.filters.text.extract_options import ExtractOptions


def warm_up() -> None:
    """Import the extension module ahead of the first document."""
    from resiliparse.extract.html2text import extract_plain_text  # noqa: F401


def extract(html: str, options: "ExtractOptions") -> str | None:
    """The main text of decoded HTML; the trafilatura-only options (favor, deduplicate, fast) have no
    counterpart here. Tables are skipped as elements when `include_tables` is off."""
    from resiliparse.extract.html2text import extract_plain_text

    text = extract_plain_text(
        html,
        preserve_formatting=True,
        main_content=True,
        list_bullets=True,
        alt_texts=False,
        links=options.include_links,
        comments=options.include_comments,
        skip_elements=None if options.include_tables else ["table"],
    )
    return text if text.strip() else None
