"""`extract.backend`: Resiliparse as an optional fast extractor beside trafilatura (the default)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from conftest import REPO, assert_conservation, read_folder, run_pipeline, shared_data
from beam_curation.filters.text.extract import ExtractOptions, extract_text
from beam_curation.pipeline.config import ConfigError, parse_config

pytest.importorskip("resiliparse", reason="the resiliparse extra is not installed (pip install '.[resiliparse]')")

RESILIPARSE = ExtractOptions(backend="resiliparse")


def _gold_pages(limit: int) -> list[dict]:
    folder = shared_data("extraction_dev")
    pages = []
    for line in (folder / "trafilatura_gold.jsonl").read_text(encoding="utf-8").splitlines()[:limit]:
        row = json.loads(line)
        with gzip.open(folder / row["html_file"], "rb") as fh:
            row["html"] = fh.read()
        pages.append(row)
    return pages


@pytest.mark.shared_data
def test_resiliparse_finds_the_gold_main_text_on_real_pages():
    """On 20 real pages most `with` snippets are in Resiliparse's text (0.94 over all 345 dev pages), and the
    text is not trafilatura's: the backend switch reaches the extractor."""
    pages = _gold_pages(20)
    texts = [extract_text(page["html"], page["url"], RESILIPARSE) or "" for page in pages]
    found = sum(snippet in text for page, text in zip(pages, texts) for snippet in page["with"])
    assert found / sum(len(page["with"]) for page in pages) >= 0.85
    assert all(text != (extract_text(page["html"], page["url"]) or "") for page, text in zip(pages[:3], texts))


@pytest.mark.shared_data
def test_resiliparse_honours_the_shared_options():
    """include_tables, include_links and include_comments mean the same for both backends where Resiliparse has
    the element: a page's table text goes with include_tables off."""
    for page in _gold_pages(345):
        if b"<table" not in page["html"]:
            continue
        with_tables = extract_text(page["html"], page["url"], RESILIPARSE) or ""
        without = extract_text(page["html"], page["url"], ExtractOptions(backend="resiliparse",
                                                                         include_tables=False)) or ""
        if len(without) < len(with_tables):
            return
    pytest.fail("no dev page lost text with include_tables off")


def test_backend_is_validated_and_part_of_the_annotation_digest():
    with pytest.raises(ConfigError, match="extract.backend: must be one of trafilatura, resiliparse"):
        parse_config({"extract": {"backend": "boilerpipe"}})
    default = parse_config({})
    assert default.extract.backend == "trafilatura"
    explicit = parse_config({"extract": {"backend": "trafilatura"}})
    resiliparse = parse_config({"extract": {"backend": "resiliparse"}})
    assert explicit.annotation_digest() == default.annotation_digest()
    assert resiliparse.annotation_digest() != default.annotation_digest()
    assert resiliparse.digest() != default.digest()


@pytest.mark.slow
def test_resiliparse_backend_end_to_end_on_the_bundled_sample(tmp_path: Path, minimal_config: Path):
    """The key works end to end: every kept document's text is Resiliparse's extraction of its record."""
    from warcio.archiveiterator import ArchiveIterator

    from beam_curation.filters.text.html_decode import charset_from_content_type

    sample = sorted(str(p) for p in (REPO / "sample").glob("*.warc.gz"))
    out = tmp_path / "out"
    assert run_pipeline(minimal_config, out, "--input", *sample, "--set", "extract.backend=resiliparse") == 0
    kept = {row["id"]: row["text"] for row in read_folder(out, "documents")}
    stats = json.loads((out / "stats.json").read_text())
    assert_conservation(out, stats["input"])
    assert len(kept) >= 20
    manifest = json.loads((out / "manifest.json").read_text())
    assert json.dumps(manifest).count('"resiliparse"') >= 1
    checked = 0
    for path in sample:
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh, arc2warc=True):
                record_id = record.rec_headers.get_header("WARC-Record-ID")
                if record.rec_type != "response" or record_id not in kept:
                    continue
                content_type = record.http_headers.get_header("Content-Type") or ""
                html = record.content_stream().read()
                expected = extract_text(html, record.rec_headers.get_header("WARC-Target-URI"), RESILIPARSE,
                                        declared_charset=charset_from_content_type(content_type))
                assert kept[record_id] == expected
                checked += 1
    assert checked == len(kept)
