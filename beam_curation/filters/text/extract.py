"""Main-text extraction from HTML with trafilatura (or Resiliparse, `backend`), with the options users tune.

Pure: HTML in, text (or None when the page has no main text) out. The time limit that protects a worker from
a pathological page is applied around this function by `beam_curation.pipeline.runners.sandbox`, since a thread cannot be stopped
from inside Python.
"""

from __future__ import annotations

import time
from dataclasses import fields

from beam_curation.filters.text.extract_options import ExtractOptions
from beam_curation.filters.text.html_decode import decode_html


class InputTooLarge(ValueError):
    """The HTML exceeds the configured size cap; extraction is not attempted."""


def extract_options(options: ExtractOptions) -> ExtractOptions:
    """A plain ExtractOptions (a subclass instance, e.g. the pipeline's config, would drag its module along)."""
    return ExtractOptions(**{f.name: getattr(options, f.name) for f in fields(ExtractOptions)})


def warm_up(backend: str = "trafilatura") -> None:
    """Import the extractor ahead of the first document (run in the extraction child before its clock starts)."""
    if backend == "resiliparse":
        from beam_curation.filters.text import extract_resiliparse

        extract_resiliparse.warm_up()
        return
    from beam_curation.filters.text.compiled_xpath import compile_trafilatura

    compile_trafilatura()


def extract_text(html: bytes | str, url: str | None = None, options: ExtractOptions = ExtractOptions(),
                 declared_charset: str | None = None) -> str | None:
    """Return the main text of a page, or None when the extractor finds none."""
    return extract_timed(html, url, options, declared_charset)[0]


def extract_timed(html: bytes | str, url: str | None = None, options: ExtractOptions = ExtractOptions(),
                  declared_charset: str | None = None) -> tuple[str | None, float]:
    """`extract_text` and the CPU seconds spent in the extractor itself (what the pipeline's overhead is measured
    against; CPU, so that a machine shared with other jobs does not inflate it)."""
    size = len(html)
    if size > options.max_input_bytes:
        raise InputTooLarge(f"HTML of {size} bytes exceeds extract.max_input_bytes={options.max_input_bytes}")
    text = decode_html(html, declared_charset)
    if not text.strip():
        return None, 0.0
    started = time.process_time()
    extracted = _extract(text, url, options)
    return extracted, time.process_time() - started


def _extract(text: str, url: str | None, options: ExtractOptions) -> str | None:
    if options.backend == "resiliparse":
        from beam_curation.filters.text import extract_resiliparse

        return extract_resiliparse.extract(text, options)
    return _trafilatura(text, url, options)


def _trafilatura(text: str, url: str | None, options: ExtractOptions) -> str | None:
    import trafilatura  # imported here: heavy, and only extraction workers need it

    from beam_curation.filters.text.compiled_xpath import compile_trafilatura

    compile_trafilatura()  # once per process: the same elements as trafilatura's XPath, a fraction of the CPU
    return trafilatura.extract(
        text,
        url=url,
        favor_precision=options.favor == "precision",
        favor_recall=options.favor == "recall",
        include_tables=options.include_tables,
        include_comments=options.include_comments,
        include_links=options.include_links,
        deduplicate=options.deduplicate,
        fast=options.fast,
    )
