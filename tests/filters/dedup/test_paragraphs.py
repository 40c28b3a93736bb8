"""Paragraph dedup on strings: splitting, normalising, hashing, choosing the first occurrence, cutting."""

from __future__ import annotations

import pytest

from beam_curation.filters.dedup.paragraphs import (REASON_PARAGRAPHS, ParagraphDedupConfig, cut, line_spans,
                                                    normalize_paragraph, paragraph_hash, paragraphs, remove_spans,
                                                    repeats, span_records, too_short)
from beam_curation.pipeline.config import parse_config
from beam_curation.settings import ConfigError


def test_normalisation_folds_case_digits_punctuation_and_spacing():
    assert normalize_paragraph("  Copyright © 2024, Example Corp. — All rights reserved!  ") == \
        "copyright © 0000 example corp all rights reserved"
    assert normalize_paragraph("«Hello»,\tWORLD。 ２０２３") == "hello world 0000"  # Unicode punctuation and digits
    assert normalize_paragraph("a\x00b\u200bc") == "abc"  # non-printing characters dropped
    assert normalize_paragraph("...!!!") == ""
    assert normalize_paragraph("Home | About") == "home | about"  # symbols are not punctuation


def test_paragraphs_are_lines_with_offsets_into_the_text():
    text = "Header line\n\nBody 1, here.\r\nbody 2 HERE\n"
    found = paragraphs(text)
    assert [text[p.start:p.end] for p in found] == ["Header line", "Body 1, here.\r", "body 2 HERE"]
    assert found[1].hash == found[2].hash == paragraph_hash("body 0 here")
    assert len(found[0].hash) == 8
    assert list(line_spans("a\nbc\n")) == [(0, 1), (2, 4), (5, 5)]
    assert list(line_spans("")) == [(0, 0)]


def test_min_chars_counts_normalised_characters():
    text = "OK!\nabc de\n12345"
    # normalised: "ok" (2), "abc de" (6), "00000" (5)
    assert [text[p.start:p.end] for p in paragraphs(text, min_chars=2)] == ["OK!", "abc de", "12345"]
    assert [text[p.start:p.end] for p in paragraphs(text, min_chars=5)] == ["abc de", "12345"]
    assert [text[p.start:p.end] for p in paragraphs(text, min_chars=6)] == ["abc de"]


def test_repeats_keep_the_smallest_occurrence_and_every_other_is_a_repeat():
    occurrences = [(0, 2.0, "b", 7, 0, 5), (0, 1.0, "z", 9, 10, 15), (0, 1.0, "z", 9, 0, 5), (1, 0.0, "a", 1, 0, 5)]
    # rank first (1.0 < 2.0), then id, node and place in the document; a removed document (1) sorts last
    assert sorted(repeats(occurrences)) == sorted([occurrences[0], occurrences[1], occurrences[3]])
    assert list(repeats(occurrences[:1])) == []
    assert sorted(repeats([*occurrences[:2], None, *occurrences[2:]])) == sorted(occurrences)  # an earlier run's
    assert list(repeats([None])) == []


def test_cut_drops_whole_lines_with_their_breaks():
    text = "keep one\ncut me\nkeep two\ncut last"
    assert cut(text, [(9, 15)]) == "keep one\nkeep two\ncut last"
    assert cut(text, [(9, 15), (25, 33)]) == "keep one\nkeep two"
    assert cut(text, [(0, 8)]) == "cut me\nkeep two\ncut last"
    assert cut("a\nb\n", [(2, 3)]) == "a\n"  # the text's final line break stays
    assert cut(text, []) == text
    assert cut("only", [(0, 4)]) == ""


def test_removal_reports_a_document_left_too_short():
    config = ParagraphDedupConfig(enabled=True, mode="remove", min_doc_chars=10)
    assert remove_spans("banner\nshort", [(0, 6)], config) == ("short", REASON_PARAGRAPHS)
    assert remove_spans("banner\nlong enough text", [(0, 6)], config) == ("long enough text", None)
    assert too_short(" \n ", 0) and not too_short("x", 1)
    assert span_records([(5, 9), (0, 3)]) == [{"start": 0, "end": 3, "score": 1.0}, {"start": 5, "end": 9, "score": 1.0}]


@pytest.mark.parametrize("section, message", [
    ({"mode": "drop"}, "dedup.paragraphs.mode"),
    ({"min_chars": 0}, "dedup.paragraphs.min_chars"),
    ({"min_doc_chars": -1}, "dedup.paragraphs.min_doc_chars"),
    ({"min_char": 3}, "min_char"),
])
def test_a_bad_setting_is_one_config_error(section, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({"dedup": {"paragraphs": section}})


def test_paragraphs_default_off_and_out_of_the_digests():
    config = parse_config({})
    assert config.dedup.paragraphs.enabled is False
    on = parse_config({"dedup": {"paragraphs": {"enabled": True, "min_chars": 20, "mode": "remove"}}})
    assert on.annotation_digest() == config.annotation_digest()  # decided from the stored text: annotations reused
