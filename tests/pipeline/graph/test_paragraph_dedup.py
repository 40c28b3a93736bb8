"""Paragraph dedup on Beam and in the pipeline: planted repeats get exact spans at the repeats only, in keep
order, the same on every runner; the WARC samples' repeated paragraphs of one site are found."""

from __future__ import annotations

import json

from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.util import assert_that, equal_to

from beam_curation.filters.dedup.types import DedupDoc
from beam_curation.filters.dedup.paragraphs import line_spans as _line_spans, normalize_paragraph, paragraph_hash
from beam_curation.pipeline.graph.decide import node_of
from beam_curation.pipeline.graph.dedup import ClusterMember
from beam_curation.pipeline.graph.paragraphs import DedupParagraphs, EarlierParagraphs
from conftest import RUNNERS, read_folder, run_pipeline, shared_data, user_file_digests

BANNER = "We use cookies to improve your experience on this website."
FOOTER = "Copyright 2024 Example Corp. All rights reserved."
NAV = "Home | Products | About us | Contact"


def _spans(text: str, *lines: str) -> list[tuple[int, int]]:
    """[start, end) of the given occurrences, as (line, nth occurrence) or the line's first occurrence."""
    out = []
    for line in lines:
        line, nth = (line, 0) if isinstance(line, str) else line
        start = -1
        for _ in range(nth + 1):
            start = text.index(line, start + 1)
        out.append((start, start + len(line)))
    return sorted(out)


def _check(docs: dict[str, tuple[float, str]], expected: dict[str, list[tuple[int, int]]],
           losers: set[str] = frozenset(), earlier: list[str] = (), earlier_folders: list[str] = ()) -> None:
    """docs: id -> (keep rank, text), one shard, rows in dict order, through DedupParagraphs: the spans of each
    document with a repeat are `expected`. `losers` are removed by document dedup."""
    ids = list(docs)
    nodes = {doc_id: node_of(3, row) for row, doc_id in enumerate(ids)}
    ids_by_node = {node: doc_id for doc_id, node in nodes.items()}
    rows = [(3, [{"_row": row, "text": docs[doc_id][1], "_error": None} for row, doc_id in enumerate(ids)])]
    dedup_docs = [DedupDoc(nodes[i], i, docs[i][0], (), ()) for i in ids]
    members = [(nodes[i], ClusterMember("x", 2, i not in losers)) for i in ids]
    with beam.Pipeline("FnApiRunner") as p:
        docs_pc = p | "Docs" >> beam.Create(dedup_docs)
        members_pc = p | "Members" >> beam.Create(members)
        earlier_pc = (p | "Earlier" >> beam.Create([paragraph_hash(normalize_paragraph(e)) for e in earlier])
                      if earlier else None)
        if earlier_folders:
            earlier_pc = p | "EarlierRuns" >> EarlierParagraphs(list(earlier_folders), min_chars=1)
        spans = (p | "Rows" >> beam.Create(rows)
                 | DedupParagraphs(docs_pc, members_pc, min_chars=1, earlier=earlier_pc))
        assert_that(spans | beam.MapTuple(lambda node, s: (ids_by_node[node], s)), equal_to(list(expected.items())))


def test_first_occurrence_is_first_in_keep_order_and_repeats_are_spans():
    a = f"{BANNER}\nBody of a.\n{FOOTER}\n{BANNER}"
    b = f"{NAV}\n{BANNER}\nBody of b, the longest of them all by some margin."
    c = f"{NAV}\nBody of c.\n{FOOTER}"
    e = f"{BANNER}\n{FOOTER}\n{NAV}"
    # rank (the keep policy's, e.g. longest_text) comes before the id: b (rank -3) is first, then a, c, e
    docs = {"e": (0.0, e), "c": (0.0, c), "a": (0.0, a), "b": (-3.0, b)}
    _check(docs, {
        "a": [*_spans(a, BANNER, (BANNER, 1))],  # its banner comes after b's; its footer is the first
        "c": _spans(c, NAV, FOOTER),
        "e": _spans(e, BANNER, FOOTER, NAV),
    })


def test_documents_removed_by_document_dedup_come_after_every_kept_one():
    # "a" is removed by document dedup: the paragraph it shares with the kept "z" stays in z, a gets the span
    a = f"Body of a.\n{FOOTER}"
    z = f"Body of z.\n{FOOTER}"
    k = "Body of k, the keeper of a's cluster."
    _check({"k": (0.0, k), "a": (0.0, a), "z": (0.0, z)}, {"a": _spans(a, FOOTER)}, losers={"a"})


def test_paragraphs_of_earlier_runs_mark_every_occurrence():
    a = f"{BANNER}\nBody of a."
    b = f"{BANNER}\nBody of b.\n{FOOTER}"
    _check({"a": (0.0, a), "b": (0.0, b)}, {"a": _spans(a, BANNER), "b": _spans(b, BANNER, FOOTER)},
           earlier=[BANNER.upper(), FOOTER + "!"])


def test_paragraphs_kept_by_an_earlier_runs_documents_are_repeats(tmp_path: Path):
    """The seam for dedup.against: an earlier output folder's documents/ text as earlier occurrences."""
    (tmp_path / "earlier" / "documents").mkdir(parents=True)
    pq.write_table(pa.table({"id": ["old"], "text": [f"An old article.\n{FOOTER}"]}),
                   tmp_path / "earlier" / "documents" / "s0.parquet")
    a = f"{BANNER}\nBody of a.\n{FOOTER}"
    b = f"{BANNER}\nBody of b."
    _check({"a": (0.0, a), "b": (0.0, b)}, {"a": _spans(a, FOOTER), "b": _spans(b, BANNER)},
           earlier_folders=[str(tmp_path / "earlier")])


# ---------------------------------------------------------------------------------------------------------------
# The whole pipeline
# ---------------------------------------------------------------------------------------------------------------

CONFIG = """
mode: {mode}
input: {{splits: 2}}
extract: {{enabled: {extract}, timeout_seconds: 20}}
langid: {{enabled: true}}
signals: {{enabled: false}}
dedup: {{enabled: true, url: true, paragraphs: {{enabled: true, mode: {paragraphs}, min_doc_chars: 5}}}}
filters: {{enabled: false}}
"""

PLANTED = {  # id -> (url, text); two shards
    "a": ("https://x.org/a", f"{BANNER}\nArticle a: the gardens of the old town and their plants.\n{FOOTER}\n{BANNER}"),
    "b": ("https://x.org/b", f"{NAV}\n{BANNER}\nArticle b: boats, fishermen and the sea."),
    "c": ("https://x.org/c", f"{NAV}\nArticle c: the history of the bridge over the river.\n{FOOTER}"),
    "c2": ("https://x.org/c", "Article c2: another capture of c's address.\nA paragraph only c2 and z hold."),
    "e": ("https://x.org/e", f"{BANNER}\n{FOOTER}\n{NAV}"),
    "z": ("https://x.org/z", "A paragraph only c2 and z hold.\nArticle z: mountains."),
}
EXPECTED = {  # keep order: smallest id; c2 is removed by document dedup (same URL as c), so it comes last
    "a": [(BANNER, 1)], "b": [BANNER], "c": [NAV, FOOTER], "c2": ["A paragraph only c2 and z hold."],
    "e": [BANNER, FOOTER, NAV], "z": [],
}


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("planted_paragraphs")
    for name, ids in (("s0", ["e", "c", "z"]), ("s1", ["b", "a", "c2"])):
        pq.write_table(pa.table({"id": ids, "url": [PLANTED[i][0] for i in ids], "text": [PLANTED[i][1] for i in ids]}),
                       folder / f"{name}.parquet")
    return folder


def _run(tmp: Path, inputs: str, name: str, *args: str, mode: str = "annotate", paragraphs: str = "annotate",
         extract: bool = False) -> Path:
    config = tmp / f"{name}.yaml"
    config.write_text(CONFIG.format(mode=mode, paragraphs=paragraphs, extract=str(extract).lower()))
    out = tmp / name
    assert run_pipeline(config, out, "--input", inputs, *args) == 0
    return out


def _spans_by_id(out: Path) -> dict[str, list[tuple[int, int]]]:
    return {r["id"]: None if r["dup_paragraph_spans"] is None else [(s["start"], s["end"]) for s in r["dup_paragraph_spans"]]
            for r in read_folder(out, "signals")}


@pytest.mark.slow
def test_planted_repeats_are_spans_the_same_on_every_runner(planted: Path, tmp_path: Path):
    outputs = {name: _run(tmp_path, str(planted / "*.parquet"), name, *args) for name, args in RUNNERS.items()}
    digests = {name: user_file_digests(out) for name, out in outputs.items()}
    assert digests["in_memory"] == digests["multi_processing"] == digests["portable"]
    spans = _spans_by_id(outputs["in_memory"])
    assert spans == {i: _spans(PLANTED[i][1], *lines) for i, lines in EXPECTED.items()}
    assert len(read_folder(outputs["in_memory"], "documents")) == len(PLANTED)  # annotate: nothing removed


@pytest.mark.slow
def test_remove_mode_cuts_the_repeats_and_removes_what_is_left_empty(planted: Path, tmp_path: Path):
    out = _run(tmp_path, str(planted / "*.parquet"), "remove", mode="filter", paragraphs="remove")
    kept = {r["id"]: r["text"] for r in read_folder(out, "documents")}
    removed = {r["id"]: r["removed_by"] for r in read_folder(out, "removed")}
    assert removed == {"c2": "dedup_exact", "e": "dedup_paragraphs"}
    assert kept == {
        "a": f"{BANNER}\nArticle a: the gardens of the old town and their plants.\n{FOOTER}",
        "b": f"{NAV}\nArticle b: boats, fishermen and the sea.",
        "c": "Article c: the history of the bridge over the river.",
        "z": PLANTED["z"][1],  # its paragraph's earlier copy is in a removed duplicate: it stays here
    }
    # the spans index the text before the cut: they say what was cut
    assert _spans_by_id(out)["c"] == _spans(PLANTED["c"][1], NAV, FOOTER)
    # stats.json (and the card) count what signals/ holds
    spans = [found for found in _spans_by_id(out).values() if found]
    duplicates = json.loads((out / "stats.json").read_text())["duplicates"]
    assert duplicates["documents_with_repeated_paragraphs"] == len(spans) == 5
    assert duplicates["repeated_paragraphs"] == sum(map(len, spans))
    assert duplicates["repeated_paragraph_chars"] == sum(end - start for found in spans for start, end in found)
    from beam_curation.pipeline.cli import main

    assert main(["report", str(out)]) == 0
    card = (out / "README.md").read_text()
    assert "| documents holding repeated paragraphs | 5 |" in card
    assert f"| repeated paragraphs (characters) | {duplicates['repeated_paragraphs']} (" in card
    assert "| removed for too little text left without them | 1 |" in card


@pytest.mark.slow
def test_annotate_runs_cut_nothing_in_remove_mode(planted: Path, tmp_path: Path):
    out = _run(tmp_path, str(planted / "*.parquet"), "annotate_remove", mode="annotate", paragraphs="remove")
    assert {r["id"]: r["text"] for r in read_folder(out, "documents")} == {i: t for i, (_, t) in PLANTED.items()}
    assert _spans_by_id(out) == {i: _spans(PLANTED[i][1], *lines) for i, lines in EXPECTED.items()}


@pytest.mark.slow
def test_switching_paragraph_dedup_on_reuses_the_annotations(planted: Path, tmp_path: Path):
    """Every paragraph setting is decided from the stored text: refilter from a run without paragraph dedup
    writes what a fresh run with it writes."""
    from beam_curation.pipeline.cli import main

    fresh = _run(tmp_path, str(planted / "*.parquet"), "fresh", mode="filter", paragraphs="remove")
    without = tmp_path / "without.yaml"
    without.write_text(CONFIG.format(mode="filter", paragraphs="remove", extract="false")
                       .replace("enabled: true, mode: remove", "enabled: false, mode: remove"))
    assert run_pipeline(without, tmp_path / "without", "--input", str(planted / "*.parquet")) == 0
    assert "dup_paragraph_spans" not in read_folder(tmp_path / "without", "signals")[0]
    assert main(["refilter", "--from", str(tmp_path / "without"), "--config", str(tmp_path / "fresh.yaml"),
                 "--output", str(tmp_path / "refiltered")]) == 0
    assert user_file_digests(tmp_path / "refiltered") == user_file_digests(fresh)


@pytest.mark.slow
def test_spans_index_the_redacted_text_documents_get(tmp_path: Path):
    """With PII redaction the stored text is the redacted one: the spans index what documents/ holds."""
    banner = "Questions? Write to help@example.com or call the desk."
    texts = {"p": f"{banner}\nFirst page body about rivers.", "q": f"Second page body about hills.\n{banner}"}
    pq.write_table(pa.table({"id": list(texts), "text": list(texts.values())}), tmp_path / "in.parquet")
    config = tmp_path / "pii.yaml"
    config.write_text(CONFIG.format(mode="annotate", paragraphs="annotate", extract="false")
                      + "pii: {enabled: true, mode: redact, kinds: [email]}\n")
    assert run_pipeline(config, tmp_path / "out", "--input", str(tmp_path / "in.parquet")) == 0
    kept = {r["id"]: r["text"] for r in read_folder(tmp_path / "out", "documents")}
    assert "<EMAIL>" in kept["q"] and "help@example.com" not in kept["q"]
    ((start, end),) = _spans_by_id(tmp_path / "out")["q"]
    assert kept["q"][start:end] == banner.replace("help@example.com", "<EMAIL>")
    assert _spans_by_id(tmp_path / "out")["p"] == []


@pytest.mark.slow
def test_paragraphs_of_an_against_run_are_earlier_occurrences(tmp_path: Path):
    """`dedup.against`: the paragraphs an earlier run kept are repeats wherever this run holds them, in the
    documents matched against it (every line) and in the others."""
    first, second = tmp_path / "first_in", tmp_path / "second_in"
    first.mkdir(), second.mkdir()
    pq.write_table(pa.table({"id": ["a", "b"], "url": [PLANTED[i][0] for i in "ab"],
                             "text": [PLANTED[i][1] for i in "ab"]}), first / "s.parquet")
    texts = {"c": PLANTED["c"][1], "e": PLANTED["e"][1], "z": PLANTED["z"][1], "acopy": PLANTED["a"][1]}
    pq.write_table(pa.table({"id": list(texts), "url": [f"https://y.org/{i}" for i in texts],
                             "text": list(texts.values())}), second / "s.parquet")
    out1 = _run(tmp_path, str(first / "*.parquet"), "first", mode="filter")
    config = tmp_path / "second.yaml"
    config.write_text(CONFIG.format(mode="annotate", paragraphs="annotate", extract="false")
                      .replace("dedup: {enabled: true, url: true,", f"dedup: {{enabled: true, url: true, against: [{out1}],"))
    assert run_pipeline(config, tmp_path / "second", "--input", str(second / "*.parquet")) == 0
    a = PLANTED["a"][1]
    assert _spans_by_id(tmp_path / "second") == {
        "c": _spans(texts["c"], NAV, FOOTER), "e": _spans(texts["e"], BANNER, FOOTER, NAV), "z": [],
        "acopy": [(s, e) for s, e in _line_spans(a)]}  # an exact copy of a: every line is the earlier run's
    dups = {r["id"]: r for r in read_folder(tmp_path / "second", "duplicates")}
    assert dups["acopy"]["keep"] is False and dups["acopy"]["keeper_run"] is not None


def _site_spans(out: Path) -> dict[str, list[list[str]]]:
    """url -> for each capture (in id order), the text of its repeated paragraphs."""
    texts = {r["id"]: (r["url"], r["text"]) for r in read_folder(out, "documents")}
    found: dict[str, list[list[str]]] = {}
    for r in sorted(read_folder(out, "signals"), key=lambda r: r["id"]):
        if r["id"] in texts:
            url, text = texts[r["id"]]
            found.setdefault(url, []).append([text[s["start"]:s["end"]] for s in r["dup_paragraph_spans"] or []])
    return found


def _assert_site_repeats(found: dict[str, list[list[str]]]) -> None:
    # three captures of allenai.org's home page: document dedup keeps the first (smallest id), whose only
    # repeats are its own repeated "Learn more" links; every navigation line of the two others is a repeat
    home = found["https://allenai.org/"]
    assert home[0] == ["Learn more"] * 3
    for capture in home[1:]:
        assert {"Why AI2?", "Work With Us", "View open jobs", "Diversity, Equity, & Inclusion", "See how"} <= set(capture)
    # the navigation of kyleclo.com: "research" and "news" on the home page repeat the /research/ page's
    assert found["https://kyleclo.com/research/"] == [[]]
    assert {"research", "news"} <= set(found["https://kyleclo.com/"][0])
    # commoncrawl.org's robots.txt lines, quoted on its FAQ and CCBot pages
    assert "Disallow: /" in found["https://commoncrawl.org/ccbot"][0]


@pytest.mark.slow
def test_the_bundled_warc_samples_repeated_site_paragraphs_are_found(tmp_path: Path):
    root = Path(__file__).resolve().parents[3]
    out = _run(tmp_path, str(root / "sample" / "*.warc.gz"), "warc", extract=True)
    _assert_site_repeats(_site_spans(out))


@pytest.mark.slow
@pytest.mark.shared_data
def test_the_shared_warc_files_repeated_site_paragraphs_are_found_on_multi_processing(tmp_path: Path):
    out = _run(tmp_path, str(shared_data("warc") / "*.warc.gz"), "warc", *RUNNERS["multi_processing"], extract=True)
    _assert_site_repeats(_site_spans(out))
