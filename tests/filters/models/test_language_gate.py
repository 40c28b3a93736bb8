"""The language gate before extraction (beam_curation.filters.models.langid_prefilter, `langid_prefilter`): a page whose raw
HTML CLD2 confidently places outside the kept languages is not extracted. It must never change what is kept:
each input here runs the full path (`langid.prefilter: false`) and the gated path, and the kept ids must be
the same, with FineWeb's chain and with the keep-list alone (the strictest: every page lid.176 calls a kept
language is kept). Skipped pages are visible (`removed_by`, counts) and not annotated, and a later run that
keeps more languages annotates them then; refilter refuses what it cannot decide."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import REPO, assert_conservation, read_folder, run_pipeline, shared_data
from beam_curation.filters.models.langid_prefilter import gate_languages, guess_languages, outside, related
from beam_curation.filters.text.html_decode import decode_html

FINEWEB = REPO / "configs" / "fineweb.yaml"
BASE = ("--set", "dedup.enabled=false", "--set", "extract.timeout_seconds=120")  # no load-dependent timeouts
FULL = ("--set", "langid.prefilter=false")


def keep_only(*languages: str) -> tuple[str, ...]:
    """The keep-list as the only decision: every page lid.176 calls one of them is kept."""
    return ("--set", "filters.enabled=false", "--set", "langid.min_score=0",
            "--set", f"langid.keep=[{', '.join(languages)}]")


def kept(output: Path) -> set[str]:
    return {r["id"] for r in read_folder(output, "documents")}


def stats(output: Path) -> dict:
    return json.loads((output / "stats.json").read_text())


def refilter(source: Path, output: Path, *args: str) -> int:
    from beam_curation.pipeline.cli import main

    return main(["refilter", "--from", str(source), "--config", str(FINEWEB), "--output", str(output), *args])


# --- the guess, on strings ------------------------------------------------------------------------------------

def _page(name: str) -> str:
    folder = shared_data("extraction_dev", "trafilatura_html")
    return decode_html(gzip.open(folder / name, "rb").read())


def test_keep_lists_the_gate_can_and_cannot_serve():
    assert gate_languages([]) is None, "keeping every language: nothing to skip"
    assert gate_languages(["en"]) == frozenset({"en"})
    assert gate_languages(["en", "io"]) is None, "Ido: CLD2 calls it by no predictable neighbour"
    assert gate_languages(["xx_Latn"]) is None, "not a lid.176 code: CLD2 cannot see it"
    assert gate_languages(["an"]) == frozenset({"an"}), "Aragonese: CLD2 calls it Spanish, a relative"
    assert "es" in related("an") and "en" not in related("de")


@pytest.mark.shared_data
def test_a_short_english_line_on_a_chinese_page_keeps_the_page():
    """trafilatura extracts only this page's English copyright line, which lid.176 calls English: best-effort
    CLD2 reports that weak English too, so the page is not skipped for an English keep-list."""
    from beam_curation.pipeline.io.document import ShardSpec
    from beam_curation.pipeline.io.readers import read_shard

    path = shared_data("warc", "CC-MAIN-2020-34_sample_resiliparse.warc.gz")
    (doc,) = [d for d in read_shard(ShardSpec(path=str(path), name="s", format="warc"))
              if d.id == "<urn:uuid:8b2d385d-71ab-4711-b957-0f4a7d1737e1>"]
    guess = guess_languages(decode_html(doc.html, doc.charset))
    assert guess is not None and "zh" in guess and "en" in guess
    assert not outside(guess, gate_languages(["en"]))
    assert outside(guess, gate_languages(["fr"]))


@pytest.mark.shared_data
def test_the_gate_is_monotone_in_the_keep_list():
    folder = shared_data("extraction_dev", "trafilatura_html")
    guesses = [guess_languages(_page(f.name)) for f in sorted(folder.glob("*.html.gz"))[:40]]
    assert any(g is not None and "de" in g for g in guesses)
    for small, large in ((["en"], ["en", "de"]), (["fr"], ["fr", "es", "de"])):
        for g in guesses:
            if outside(g, gate_languages(large)):
                assert outside(g, gate_languages(small))
    assert not outside(None, gate_languages(["en"])), "no guess: never skipped"


def test_decoding_hands_over_the_utf8_bytes_only_when_they_are_the_page():
    from beam_curation.filters.text.html_decode import decode_html_utf8

    page = "<html><body>Caf\u00e9 cr\u00e8me</body></html>"
    data = page.encode("utf-8")
    assert decode_html_utf8(data) == (page, data)
    assert decode_html_utf8(data, "utf8") == (page, data)
    assert decode_html_utf8(data, "windows-1252")[1] is None, "read as cp1252: its UTF-8 is other bytes"
    assert decode_html_utf8(b"\xef\xbb\xbf" + data) == (page, None), "a byte-order mark is not the page"
    assert decode_html_utf8(page.encode("cp1252"))[1] is None
    assert decode_html_utf8(page) == (page, None)


@pytest.mark.shared_data
def test_the_guess_from_the_handed_over_bytes_is_the_guess_from_the_text():
    from beam_curation.filters.text.html_decode import decode_html_utf8

    folder = shared_data("extraction_dev")
    handed = 0
    for path in sorted(folder.rglob("*.html.gz"))[::3]:
        text, utf8 = decode_html_utf8(gzip.open(path, "rb").read())
        if utf8 is not None:
            handed += 1
            assert utf8 == text.encode("utf-8", "replace")
        assert guess_languages(text, utf8) == guess_languages(text)
    assert handed > 50


# --- through the pipeline -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dev_shards(tmp_path_factory) -> tuple[Path, int]:
    """Every extraction dev page (412) in 4 Parquet shards with an `html` column."""
    files = sorted(shared_data("extraction_dev").rglob("*.html.gz"))
    folder = tmp_path_factory.mktemp("dev")
    for s in range(4):
        chunk = files[s::4]
        pq.write_table(pa.table({"id": [f.name for f in chunk],
                                 "html": pa.array([gzip.open(f, "rb").read() for f in chunk], pa.binary())}),
                       folder / f"dev-{s}.parquet")
    return folder, len(files)


@pytest.fixture(scope="module")
def warc_samples(tmp_path_factory) -> tuple[Path, int]:
    folder = tmp_path_factory.mktemp("warc")
    for path in sorted(shared_data("warc").glob("*.warc.gz")):
        shutil.copy(path, folder / path.name)
    return folder, 0


def _both_ways(inputs: list[str], tmp_path: Path) -> tuple[Path, Path]:
    full, gated = tmp_path / "full", tmp_path / "gated"
    assert run_pipeline(FINEWEB, full, *inputs, *BASE, *FULL) == 0
    assert run_pipeline(FINEWEB, gated, *inputs, *BASE) == 0
    assert kept(gated) == kept(full), "the gate changed FineWeb's kept set"
    return full, gated


def _check_skipped_pages(gated: Path, total: int | None) -> int:
    s = stats(gated)
    skipped = s["removed"].get("langid_prefilter", 0)
    assert s["this_run"]["langid_prefilter_removed"] == skipped
    if total is not None:
        assert_conservation(gated, total)
        assert s["this_run"]["extract_documents"] == total - skipped
    rows = [r for r in read_folder(gated, "removed") if r["removed_by"] == "langid_prefilter"]
    assert len(rows) == skipped and all(r["text"] == "" and r["language"] is None for r in rows)
    signal_ids = {r["id"] for r in read_folder(gated, "signals")}
    assert not signal_ids & {r["id"] for r in rows}, "a skipped page reached no signal stage"
    stored = [r for f in sorted((gated / "_annotations").glob("*.parquet")) for r in pq.read_table(f).to_pylist()
              if r["_removed_by"] == "langid_prefilter"]
    assert len(stored) == skipped and all(r["text"] == "" and r["gopher_word_count"] is None and r["_langid_guess"]
                                          for r in stored), "a skipped page is not annotated"
    return skipped


@pytest.mark.shared_data
@pytest.mark.slow
def test_dev_pages_keep_the_same_documents_with_and_without_the_gate(dev_shards, tmp_path: Path, in_repo):
    folder, total = dev_shards
    inputs = ["--input", str(folder / "*.parquet")]
    full, gated = _both_ways(inputs, tmp_path)
    skipped = _check_skipped_pages(gated, total)
    assert skipped >= 60, f"the gate skipped only {skipped} of {total} pages"

    # The keep-list alone, decided from the full path's annotations and from the gated ones (in place: the
    # English keep-list is the one the pages were skipped by, so nothing is annotated again).
    for languages in (("en",), ("de",), ("en", "de")):
        reference = tmp_path / f"full-{'-'.join(languages)}"
        assert refilter(full, reference, *BASE, *FULL, *keep_only(*languages)) == 0
        assert run_pipeline(FINEWEB, gated, *inputs, *BASE, *keep_only(*languages)) == 0
        assert kept(gated) == kept(reference), f"the gate changed the kept set of keep={list(languages)}"
        this_run = stats(gated)["this_run"]
        if languages == ("en",):
            assert this_run["tasks_reused"] == 4 and this_run["extract_documents"] == 0
        elif languages == ("de",):  # German pages skipped for English: annotated now, only they
            again = this_run["prefilter_reannotated_documents"]
            assert this_run["tasks_annotated"] == 4 and 0 < again <= skipped
            assert this_run["extract_documents"] + this_run["langid_prefilter_removed"] == again
        else:  # English and German: both keep-lists' annotations are there
            assert this_run["tasks_reused"] == 4 and this_run["extract_documents"] == 0
        assert_conservation(gated, total)

    # refilter decides from annotations alone: a keep-list the skipped pages were not annotated for is refused
    assert refilter(gated, tmp_path / "fr", *BASE, *keep_only("fr")) == 2
    assert refilter(gated, tmp_path / "all", *BASE, "--set", "mode=annotate") == 2
    assert refilter(gated, tmp_path / "en", *BASE, *keep_only("en")) == 0
    assert kept(tmp_path / "en") == kept(tmp_path / "full-en")


@pytest.mark.shared_data
@pytest.mark.slow
def test_warc_samples_keep_the_same_documents_with_and_without_the_gate(warc_samples, tmp_path: Path, in_repo):
    folder, _ = warc_samples
    inputs = ["--input", str(folder / "*.warc.gz")]
    full, gated = _both_ways(inputs, tmp_path)
    _check_skipped_pages(gated, None)
    for languages in (("en",), ("zh",), ("ru", "de")):
        reference = tmp_path / f"full-{'-'.join(languages)}"
        assert refilter(full, reference, *BASE, *FULL, *keep_only(*languages)) == 0
        gated_only = tmp_path / f"gated-{'-'.join(languages)}"
        assert run_pipeline(FINEWEB, gated_only, *inputs, *BASE, *keep_only(*languages)) == 0
        assert kept(gated_only) == kept(reference), f"the gate changed the kept set of keep={list(languages)}"
    assert stats(tmp_path / "gated-en")["removed"].get("langid_prefilter", 0) > 0


def test_prefilter_is_a_validated_boolean(tmp_path: Path):
    from beam_curation.pipeline.config import ConfigError, load_config

    path = tmp_path / "c.yaml"
    path.write_text("langid: {prefilter: maybe}\n")
    with pytest.raises(ConfigError, match="langid.prefilter"):
        load_config(path)
    path.write_text("langid: {prefilter: false, keep: [en]}\n")
    from beam_curation.pipeline.plan import prefilter_gate

    assert prefilter_gate(load_config(path)) is None
    path.write_text("langid: {keep: [en]}\n")
    assert prefilter_gate(load_config(path)) == frozenset({"en"})
    path.write_text("mode: annotate\nlangid: {keep: [en]}\n")
    assert prefilter_gate(load_config(path)) is None, "annotate mode keeps every page with text"
