"""configs/fineweb2.yaml: a valid config, and what scripts/generate_fineweb2_config.py makes of FineWeb-2's files."""

from __future__ import annotations

import json
import sys

import yaml

from conftest import REPO

sys.path.insert(0, str(REPO))

from scripts.generate_fineweb2_config import main as generate  # noqa: E402

# Two files in FineWeb-2's configs/{lang}_{script}.yml layout (values made up, keys as FineWeb-2 has them).
_FILE = """\
dup_line_frac: {dup}
dup_n_grams: [[5, 0.19], [6, 0.172], [7, 0.154], [8, 0.142], [9, 0.131], [10, {dup10}]]
language_score: 0.799
line_punct_thr: 0.154
max_avg_word_length: 13
max_non_alpha_words_ratio: 0.814
min_avg_word_length: {minlen}
new_line_ratio: 0.23
stopwords: [{stop}]
top_n_grams: [[2, 0.093], [3, 0.117], [4, {top4}]]
"""


def test_shipped_config_loads_and_covers_20_languages():
    from beam_curation.pipeline.config import load_config

    config = load_config(REPO / "configs" / "fineweb2.yaml")
    assert len(config.langid.keep) >= 20 and "no" in config.langid.keep
    names = [r.name for r in config.filters.rules]
    assert names[0] == "fineweb2_language_score" and "gopher_enough_stop_words" in names
    assert config.signals.groups == ["fineweb2"] and config.dedup.per_language
    stop = json.loads((REPO / "beam_curation" / "filters" / "resources" / "stopwords_fineweb2.json").read_text(encoding="utf-8"))
    assert set(stop) == set(config.langid.keep)


def test_generator_writes_each_languages_values(tmp_path):
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "por_Latn.yml").write_text(_FILE.format(dup=0.325, dup10=0.12, minlen=3, top4=0.139, stop="de, a, 'no'"))
    (folder / "nob_Latn.yml").write_text(_FILE.format(dup=0.283, dup10=0.1, minlen=2, top4=0.15, stop="og, i"))
    out, stop = tmp_path / "fw2.yaml", tmp_path / "stop.json"
    generate(["--configs", str(folder), "--output", str(out), "--stop-words", str(stop),
              "--top", "0", "--language", "por_Latn=pt", "--language", "nob_Latn=no"])
    config = yaml.safe_load(out.read_text(encoding="utf-8"))
    rules = {r["name"]: r for r in config["filters"]["rules"]}
    assert config["langid"]["keep"] == ["pt", "no"]
    assert rules["gopher_rep_dup_line_frac"]["params"] == {"max_frac": {"pt": 0.325, "no": 0.283}}
    assert rules["gopher_rep_duplicated_10_n_grams"]["params"] == {"max_frac": {"pt": 0.12, "no": 0.1}}
    assert rules["gopher_rep_top_4_gram"]["params"] == {"max_frac": {"pt": 0.139, "no": 0.15}}
    assert rules["gopher_below_avg_threshold"]["params"] == {"min_length": {"pt": 3, "no": 2}}
    assert rules["gopher_below_alpha_threshold"]["keep"] == "gopher_alpha_words_frac >= min_frac"
    assert rules["fineweb_char_dup_ratio"]["keep"] == "fineweb_dup_line_char_frac <= 0.1"
    assert "fineweb_short_line_ratio" not in rules and "gopher_rep_dup_para_frac" not in rules
    assert json.loads(stop.read_text(encoding="utf-8")) == {"pt": ["de", "a", "no"], "no": ["og", "i"]}
