"""`beam-curation mix`: groups, weights, token budgets and rehydration, drawn by a hash cut-off per group.

The arithmetic is checked on its own (fast), then the Beam job: on synthetic finished runs written here as
Parquet in the run layout (thousands of documents with a `token_count` signal), every document's `mix_count`
must equal a brute-force draw that sorts all of a group's units in one process, shares must be within 1% of
the weights and budgets within one document; outputs are byte-identical across reruns and runners. Real
runs of the shipped configs on the bundled sample are mixed by language and by source, and rehydrated by
their dedup cluster sizes.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import REPO, read_folder, run_pipeline

from beam_curation.filters.mixture import (FINEWEB2_REHYDRATION, Cut, GroupPlan, GroupTarget, MixtureError,
                                           bucket_of, cut_bucket, cut_key, draw_count, plan_groups,
                                           rehydration_factor, unit_hash, unit_key)

MULTI = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
WORDS = ("the of and to in is was for on that with as by at from this be are it an or which not have "
         "river mountain city council library garden station market bridge harbour valley forest").split()


def mix_main(*args: str) -> int:
    from beam_curation.pipeline.cli import main

    return main(["mix", *args])


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- the arithmetic ----------------------------------------------------------------------------------------

def test_fineweb2_rehydration_table():
    """FineWeb-2's README: no duplicates once, N=2 or 3 N times, 4 three times, 5..99 five, 100..999 eight,
    1000 and more once."""
    expected = {None: 1, 1: 1, 2: 2, 3: 3, 4: 3, 5: 5, 99: 5, 100: 8, 999: 8, 1000: 1, 50_000: 1}
    assert {size: rehydration_factor(size, FINEWEB2_REHYDRATION) for size in expected} == expected
    assert rehydration_factor(1, {2: 4}) == 1  # below every listed size: once
    assert rehydration_factor(2.0, {1: 1, 2: 4}) == 4


def test_unit_hash_is_fixed_and_spread():
    """The same number on every platform and run (blake2b, not Python's salted `hash`), uniform enough that
    the 65,536 buckets fill evenly."""
    assert unit_hash(0, "doc-1", 0) == int.from_bytes(hashlib.blake2b(b"0\x1fdoc-1\x1f0", digest_size=8).digest(),
                                                      "big")
    assert unit_hash(0, "doc-1", 0) != unit_hash(1, "doc-1", 0) != unit_hash(0, "doc-1", 1)
    top = [unit_hash(7, f"d{i}") >> 63 for i in range(4000)]
    assert 1800 < sum(top) < 2200


def test_plan_weights_budgets_and_total():
    pools = {"a": (10, 1000, 50), "b": (10, 300, 40), "c": (5, 200, 60)}
    # No total: the scarcest weighted group (b: 300 tokens for a share of 1/4) is taken whole, exactly.
    plans = {p.name: p for p in plan_groups([GroupTarget("a", weight=3), GroupTarget("b", weight=1)], pools, None)}
    assert (plans["b"].target, plans["b"].passes, plans["b"].remainder) == (300, 1, 0)
    assert (plans["a"].target, plans["a"].passes, plans["a"].remainder) == (900, 0, 900)
    # A total: weights share what the budgets leave; a budget above its pool repeats it (passes).
    plans = {p.name: p for p in plan_groups([GroupTarget("a", weight=0.5), GroupTarget("b", weight=0.5),
                                             GroupTarget("c", tokens=500)], pools, 1500)}
    assert (plans["a"].target, plans["b"].target, plans["c"].target) == (500, 500, 500)
    assert (plans["b"].passes, plans["b"].remainder) == (1, 200)
    assert (plans["c"].passes, plans["c"].remainder) == (2, 100)
    with pytest.raises(MixtureError, match="group d has a weight but no document"):
        plan_groups([GroupTarget("a", weight=1), GroupTarget("d", weight=1)], pools, None)


def test_cut_takes_units_in_key_order_until_the_remainder():
    rng = random.Random(3)
    units = [(unit_key(5, 0, f"d{i}"), rng.randint(1, 90)) for i in range(3000)]
    remainder = sum(t for _, t in units) // 3
    buckets = defaultdict(int)
    for key, tokens in units:
        buckets[bucket_of(key)] += tokens
    bucket, residual = cut_bucket(buckets.items(), remainder)
    cut = Cut(bucket, cut_key([(k, t) for k, t in units if bucket_of(k) == bucket], residual))
    taken = [(k, t) for k, t in units if cut.takes(k)]
    brute, running = [], 0
    for key, tokens in sorted(units):  # the one-process definition: a prefix in key order
        if running + tokens > remainder:
            break
        brute.append(key)
        running += tokens
    assert sorted(k for k, _ in taken) == brute
    assert remainder - 90 < sum(t for _, t in taken) <= remainder
    assert cut_bucket(buckets.items(), 0) is None
    plan = GroupPlan("g", 3000, 0, 0, passes=2, remainder=remainder, max_unit=90)
    assert draw_count([brute[0], units[0][0]], plan, cut) == 4 + 1 + cut.takes(units[0][0])


def test_chooser_groups_tokens_and_copies():
    """First matching group; a missing value is NaN (text: ""); tokens estimated from characters; a keeper
    is repeated by the table, a duplicate that is not its cluster's keeper counts once."""
    from beam_curation.pipeline.mix.read import CHARS, Chooser, Reading

    reading = Reading(groups=(("hq", "quality_score >= 0.5"), ("en", "language == 'en'"), ("rest", "True")),
                      string_columns=frozenset({"language", "source"}), tokens_column=None,
                      rehydration=((1, 1), (2, 4)), seed=3)
    chooser = Chooser(reading)
    doc = {"id": "a", "language": "en", "quality_score": 0.9, CHARS: 10, "dup_cluster_id": "a", "dup_cluster_size": 2}
    assert chooser.choose(doc, 0) == (0, 3, [unit_key(3, 0, "a", c) for c in range(4)])
    assert chooser.choose({**doc, "quality_score": None}, 0).group == 1  # NaN >= 0.5 is false
    assert chooser.choose({**doc, "quality_score": None, "language": None}, 0).group == 2
    assert len(chooser.choose({**doc, "dup_cluster_id": "b"}, 1).keys) == 1  # a duplicate of b: once
    assert len(chooser.choose({**doc, "dup_cluster_id": None, "dup_cluster_size": None}, 1).keys) == 1
    counted = Chooser(Reading((("all", "True"),), frozenset(), "token_count", None, 0))
    assert counted.choose({"id": "x", "token_count": 41}, 0).tokens == 41
    assert counted.choose({"id": "x", "token_count": None}, 0).tokens == 0 and counted.tokens_missing == 1


# --- config and command-line mistakes: one line, exit 2 -------------------------------------------------------

@pytest.fixture
def not_a_run(tmp_path: Path) -> Path:
    folder = tmp_path / "half"
    (folder / "documents").mkdir(parents=True)
    return folder


@pytest.mark.parametrize("text, needle", [
    ("groups: [{name: a, weight: 1}]\nseeed: 3\n", "unknown config key: seeed"),
    ("groups: [{name: a, wieght: 1}]\n", "unknown config key: groups[0].wieght"),
    ("groups: [{name: a}]\n", "give a weight or a token budget"),
    ("groups: [{name: a, weight: 1, where: \"__import__('os')\"}]\n", "only abs, isnan, len, max, min may be called"),
    ("groups: [{name: a, tokens: 10}]\ntotal_tokens: 5\n", "exceed"),
    ("groups: [{name: a, weight: 1}]\nupsample: always\n", "upsample: must be one of none, rehydrate"),
    ("groups: [{name: a, weight: 1}]\nrehydration: {2: 3}\n", "cluster size 1"),
    ("groups: []\n", "at least one group"),
])
def test_config_mistakes_are_one_line(tmp_path, not_a_run, capsys, text, needle):
    config = write_yaml(tmp_path / "mix.yaml", text)
    assert mix_main("--from", str(not_a_run), "--config", str(config), "--output", str(tmp_path / "o")) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and needle in err and "Traceback" not in err, err


def test_command_line_mistakes_are_one_line(tmp_path, not_a_run, capsys):
    config = write_yaml(tmp_path / "mix.yaml", "groups: [{name: a, weight: 1}]\n")
    cases = [
        (["--config", str(config), "--output", str(tmp_path / "o")], "the following arguments are required: --from"),
        (["--from", str(not_a_run), "--config", str(config), "--output", str(tmp_path / "o")],
         "not a finished run (no manifest.json"),
        (["--from", str(tmp_path / "nowhere"), "--config", str(config), "--output", str(tmp_path / "o")],
         "no such folder"),
        (["--from", str(not_a_run), "--config", str(tmp_path / "missing.yaml"), "--output", str(tmp_path / "o")],
         "mix config file not found"),
        (["--from", str(not_a_run), "--config", str(config), "--output", str(tmp_path / "o"), "--set", "seed"],
         "--set expects dotted.key=value"),
        (["--from", str(not_a_run), "--config", str(config), "--output", str(tmp_path / "o"), "--ouptut", "x"],
         "did you mean --output?"),
    ]
    for args, needle in cases:
        assert mix_main(*args) == 2, args
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and needle in err and "Traceback" not in err, (args, err)


# --- synthetic finished runs ----------------------------------------------------------------------------------

def write_run(folder: Path, shards: int, per_shard: int, seed: int, languages: dict[str, float],
              sources: list[str] | None = None, removed_every: int = 7) -> list[dict]:
    """A finished run written directly: documents/ + signals/ (with rows of removed documents between, as a
    filter run leaves them) + stats.json + manifest.json; the kept documents with their signals."""
    rng = random.Random(seed)
    kept = []
    for folder_name in ("documents", "signals"):
        (folder / folder_name).mkdir(parents=True, exist_ok=True)
    sizes = [1, 1, 1, 1, 2, 3, 4, 7, 150, 2000]
    for s in range(shards):
        docs, signals = [], []
        for i in range(per_shard):
            doc_id = f"<urn:{folder.name}:{s}:{i}>"
            words = [rng.choice(WORDS) for _ in range(rng.randint(20, 400))]
            language = rng.choices(list(languages), weights=list(languages.values()))[0]
            size = rng.choice(sizes)
            signal = {"id": doc_id, "language": language, "language_score": 0.9, "token_count": len(words),
                      "quality_score": rng.random(), "dup_cluster_id": doc_id if size > 1 else None,
                      "dup_cluster_size": size}
            signals.append(signal)
            if i % removed_every == 3:
                continue  # removed: in signals/, not in documents/
            doc = {"id": doc_id, "text": " ".join(words), "url": f"https://example.org/{s}/{i}",
                   "language": language, "language_score": 0.9}
            if sources is not None:
                doc["source"] = rng.choice(sources)
            docs.append(doc)
            kept.append({**signal, **doc})
        pq.write_table(pa.Table.from_pylist(docs), folder / "documents" / f"shard{s}.parquet")
        signals_schema = pa.schema([("id", pa.string()), ("language", pa.string()), ("language_score", pa.float64()),
                                    ("token_count", pa.int64()), ("quality_score", pa.float64()),
                                    ("dup_cluster_id", pa.string()), ("dup_cluster_size", pa.int64())])
        pq.write_table(pa.Table.from_pylist(signals, schema=signals_schema), folder / "signals" / f"shard{s}.parquet")
    (folder / "stats.json").write_text(json.dumps({"input": shards * per_shard, "kept": len(kept)}))
    (folder / "manifest.json").write_text(json.dumps({"config": {"input": {"source": None}}, "config_digest": "synthetic"}))
    return kept


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> dict:
    """Two runs: `web` (no source column: its folder's name is the source) and `library` (a `source` column)."""
    root = tmp_path_factory.mktemp("synthetic")
    web = write_run(root / "web", 3, 1400, 1, {"en": 0.55, "de": 0.3, "fr": 0.15})
    library = write_run(root / "library", 2, 700, 2, {"en": 0.8, "de": 0.2}, sources=["books", "papers"])
    return {"root": root, "runs": [root / "web", root / "library"], "docs": [web, library]}


def drawn(out: Path) -> dict[tuple[str, str], tuple[int, str]]:
    """(file stem prefix = run position, id) -> (mix_count, mix_group) of every row of documents/."""
    found = {}
    for path in sorted((out / "documents").glob("*.parquet")):
        for row in pq.read_table(path, columns=["id", "mix_count", "mix_group"]).to_pylist():
            assert row["mix_count"] > 0
            found[(path.stem.split("-")[0], row["id"])] = (row["mix_count"], row["mix_group"])
    return found


def brute_force(docs_by_run: list[list[dict]], groups: list[tuple[str, callable]], stats: dict, seed: int,
                factor=lambda doc: 1) -> dict[tuple[str, str], tuple[int, str]]:
    """Every group's units sorted in one process, whole passes then the prefix within the remainder: what the
    distributed job must reproduce document for document."""
    units = defaultdict(list)
    for run, docs in enumerate(docs_by_run):
        for doc in docs:
            name = next((name for name, where in groups if where(doc)), None)
            if name is not None:
                for copy in range(factor(doc)):
                    units[name].append((unit_key(seed, run, doc["id"], copy), doc["token_count"]))
    counts = defaultdict(int)
    names = {}
    for name, _ in groups:
        g = stats["groups"][name]
        pool = sorted(units[name])
        assert g["available_tokens"] == sum(t for _, t in pool)
        passes, remainder = divmod(g["target_tokens"], g["available_tokens"])
        taken = 0
        for key, tokens in pool:
            counts[(str(key[1]), key[2])] += passes
            names[(str(key[1]), key[2])] = name
        for key, tokens in pool:
            if taken + tokens > remainder:
                break
            taken += tokens
            counts[(str(key[1]), key[2])] += 1
    return {k: (n, names[k]) for k, n in counts.items() if n > 0}


@pytest.mark.slow
def test_weights_by_language_are_met_within_one_document(synthetic, tmp_path):
    config = write_yaml(tmp_path / "mix.yaml",
                        "groups:\n"
                        "  - {name: english, where: \"language == 'en'\", weight: 0.5}\n"
                        "  - {name: german, where: \"language == 'de' and quality_score > 0.2\", weight: 0.3}\n"
                        "  - {name: french, where: \"language == 'fr'\", weight: 0.2}\n"
                        "seed: 11\n")
    out = tmp_path / "mix"
    assert mix_main(*[a for run in synthetic["runs"] for a in ("--from", str(run))],
                    "--config", str(config), "--output", str(out)) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["tokens_counted_by"] == {"column": "token_count"}
    groups = stats["groups"]
    assert sum(g["tokens"] for g in groups.values()) == stats["tokens"] > 100_000
    for name, weight in (("english", 0.5), ("german", 0.3), ("french", 0.2)):
        g = groups[name]
        assert abs(g["token_share"] - weight) < 0.01 and g["weighted_share"] == g["token_share"], (name, g)
        assert 0 <= g["target_tokens"] - g["tokens"] < g["largest_document_tokens"], (name, g)
    assert groups["french"]["tokens"] == groups["french"]["available_tokens"]  # the scarcest, whole
    assert stats["unmatched"]["documents"] > 0  # German below the quality bar is in no group
    expected = brute_force(synthetic["docs"], [
        ("english", lambda d: d["language"] == "en"),
        ("german", lambda d: d["language"] == "de" and d["quality_score"] > 0.2),
        ("french", lambda d: d["language"] == "fr")], stats, 11)
    assert drawn(out) == expected
    # the rows are the runs' documents, unchanged, in input order, with mix_count and mix_group last
    table = pq.read_table(out / "documents" / "1-shard0.parquet")
    assert table.schema.names == ["id", "text", "url", "language", "language_score", "source", "mix_count",
                                  "mix_group"]
    assert table.schema.field("mix_count").type == pa.int64()
    source = {d["id"]: d for d in synthetic["docs"][1]}
    rows = table.to_pylist()
    assert all(r["text"] == source[r["id"]]["text"] for r in rows)
    order = [d["id"] for d in synthetic["docs"][1]]
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), key=order.index)
    assert (out / "README.md").read_text().count("| english |") == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "mixture" and set(manifest["outputs"]) >= {"stats.json", "documents/1-shard0.parquet"}


@pytest.mark.slow
def test_budgets_by_source_are_met_within_one_document_and_repeat_a_small_pool(synthetic, tmp_path):
    config = write_yaml(tmp_path / "mix.yaml",
                        "groups:\n"
                        "  - {name: books, where: \"source == 'books'\", tokens: 250000}\n"
                        "  - {name: papers, where: \"source == 'papers' and language == 'en'\", tokens: 40000}\n"
                        "  - {name: web_en, where: \"source == 'web' and language == 'en'\", weight: 2}\n"
                        "  - {name: web, where: \"source == 'web'\", weight: 1}\n"
                        "total_tokens: 700000\n"
                        "seed: 5\n")
    out = tmp_path / "mix"
    assert mix_main(*[a for run in synthetic["runs"] for a in ("--from", str(run))],
                    "--config", str(config), "--output", str(out)) == 0
    stats = json.loads((out / "stats.json").read_text())
    books, papers, web_en, web = (stats["groups"][n] for n in ("books", "papers", "web_en", "web"))
    assert books["available_tokens"] < 250_000 and books["whole_passes"] >= 1  # repeated to meet its budget
    assert 0 <= 700_000 - 250_000 - 40_000 - (web_en["target_tokens"] + web["target_tokens"]) <= 1  # (floors)
    assert abs(web_en["weighted_share"] - 2 / 3) < 0.01 and abs(web["weighted_share"] - 1 / 3) < 0.01
    for g in (books, papers, web_en, web):
        assert 0 <= g["target_tokens"] - g["tokens"] < g["largest_document_tokens"], g
    assert stats["tokens"] > 700_000 - 4 * 400
    expected = brute_force(synthetic["docs"], [
        ("books", lambda d: d.get("source") == "books"),
        ("papers", lambda d: d.get("source") == "papers" and d["language"] == "en"),
        ("web_en", lambda d: "source" not in d and d["language"] == "en"),
        ("web", lambda d: "source" not in d)], stats, 5)
    assert drawn(out) == expected
    assert min(n for (run, _), (n, g) in expected.items() if g == "books") == books["whole_passes"]


@pytest.mark.slow
def test_rehydration_repeats_keepers_by_the_fineweb2_table(synthetic, tmp_path):
    config = write_yaml(tmp_path / "mix.yaml", "groups: [{name: all, weight: 1}]\nupsample: rehydrate\n")
    out = tmp_path / "mix"
    assert mix_main("--from", str(synthetic["runs"][0]), "--config", str(config), "--output", str(out)) == 0
    stats = json.loads((out / "stats.json").read_text())
    table = {1: 1, 2: 2, 3: 3, 4: 3, 7: 5, 150: 8, 2000: 1}
    docs = synthetic["docs"][0]
    counts = {doc_id: n for (_, doc_id), (n, _) in drawn(out).items()}
    assert len(counts) == len(docs)
    assert all(counts[d["id"]] == table[d["dup_cluster_size"]] for d in docs)
    g = stats["groups"]["all"]
    assert g["tokens"] == g["available_tokens"] == sum(d["token_count"] * table[d["dup_cluster_size"]] for d in docs)
    assert stats["documents_by_rehydration_factor"] == {
        str(f): sum(1 for d in docs if table[d["dup_cluster_size"]] == f) for f in sorted(set(table.values()))}


@pytest.mark.slow
def test_a_weighted_group_nothing_matches_is_one_line(synthetic, tmp_path, capsys):
    """Without total_tokens a weighted group must have documents (its share of nothing is no mixture): found
    by the job's first pass, said in one line."""
    config = write_yaml(tmp_path / "mix.yaml", "groups:\n  - {name: en, where: \"language == 'en'\", weight: 1}\n"
                                               "  - {name: klingon, where: \"language == 'tlh'\", weight: 1}\n")
    assert mix_main("--from", str(synthetic["runs"][0]), "--config", str(config), "--output", str(tmp_path / "o")) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "group klingon has a weight but no document" in err, err
    assert not (tmp_path / "o" / "manifest.json").exists()


@pytest.mark.slow
def test_byte_identical_across_reruns_and_runners(synthetic, tmp_path):
    config = write_yaml(tmp_path / "mix.yaml",
                        "groups:\n"
                        "  - {name: en, where: \"language == 'en'\", weight: 2}\n"
                        "  - {name: rest, where: \"True\", tokens: 30000}\n"
                        "upsample: rehydrate\nrehydration: {1: 1, 3: 2, 100: 4}\ntotal_tokens: 200000\nseed: 9\n")
    froms = [a for run in synthetic["runs"] for a in ("--from", str(run))]

    def digests(out: Path) -> dict[str, str]:
        files = sorted((out / "documents").glob("*.parquet")) + [out / "stats.json", out / "README.md"]
        return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}

    first, other = tmp_path / "a", tmp_path / "b"
    assert mix_main(*froms, "--config", str(config), "--output", str(first)) == 0
    once = digests(first)
    assert len(once) > 4
    assert mix_main(*froms, "--config", str(config), "--output", str(first)) == 0  # rerun into the same folder
    assert digests(first) == once
    assert mix_main(*froms, "--config", str(config), "--output", str(other), *MULTI) == 0
    assert {k: v for k, v in digests(other).items() if k != "README.md"} == \
        {k: v for k, v in once.items() if k != "README.md"}  # (the card names its folder)
    # another seed draws other documents
    assert mix_main(*froms, "--config", str(config), "--output", str(other), "--set", "seed=10") == 0
    assert drawn(other) != drawn(first)


# --- real runs of the shipped configs -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_runs(tmp_path_factory) -> dict[str, Path]:
    """The sample annotated by the default config (dedup on) and by FineWeb's recipe: every document kept."""
    mp = pytest.MonkeyPatch()
    mp.chdir(REPO)
    root = tmp_path_factory.mktemp("real")
    runs = {"crawl": root / "crawl", "fineweb": root / "fineweb"}
    assert run_pipeline(REPO / "configs" / "default.yaml", runs["crawl"], "--set", "mode=annotate") == 0
    assert run_pipeline(REPO / "configs" / "fineweb.yaml", runs["fineweb"], "--set", "mode=annotate") == 0
    mp.undo()
    return runs


@pytest.mark.slow
def test_mix_of_real_runs_by_language_and_source(real_runs, tmp_path, capsys):
    config = write_yaml(tmp_path / "mix.yaml",
                        "groups:\n"
                        "  - {name: fineweb_en, where: \"source == 'fineweb' and language == 'en'\", tokens: 8000}\n"
                        "  - {name: crawl_en, where: \"source == 'crawl' and language == 'en'\", weight: 0.7}\n"
                        "  - {name: crawl_other, where: \"source == 'crawl' and rps_doc_word_count > 10\", "
                        "weight: 0.3}\n")
    out = tmp_path / "mix"
    assert mix_main("--from", str(real_runs["crawl"]), "--from", str(real_runs["fineweb"]),
                    "--config", str(config), "--output", str(out)) == 0
    assert "crawl_en:" in capsys.readouterr().out
    stats = json.loads((out / "stats.json").read_text())
    assert stats["tokens_counted_by"] == {"estimate": "characters / 4"}  # no tokens stage in these runs
    g = stats["groups"]
    assert 0 <= 8000 - g["fineweb_en"]["tokens"] < g["fineweb_en"]["largest_document_tokens"]
    assert g["crawl_other"]["tokens"] == g["crawl_other"]["available_tokens"]  # the scarce weighted group, whole
    rows = read_folder(out, "documents")
    by_group = defaultdict(set)
    for row in rows:
        by_group[row["mix_group"]].add(row["language"])
    assert by_group["fineweb_en"] == {"en"} and by_group["crawl_en"] == {"en"}
    assert "en" not in by_group["crawl_other"] and len(by_group["crawl_other"]) >= 2
    kept = {r["id"] for r in read_folder(real_runs["crawl"], "documents")}
    assert {r["id"] for r in rows if r["mix_group"].startswith("crawl")} <= kept
    assert stats["kept"] == len(rows) and stats["drawn"] == sum(r["mix_count"] for r in rows)
    # a mixture is not a run to mix from, and `report` on it writes its card
    assert mix_main("--from", str(out), "--config", str(config), "--output", str(tmp_path / "again")) == 2
    assert "a mixture, not a run" in capsys.readouterr().err
    (out / "README.md").unlink()
    from beam_curation.pipeline.cli import main

    assert main(["report", str(out)]) == 0 and "| crawl_en |" in (out / "README.md").read_text()


@pytest.mark.slow
def test_rehydration_of_a_real_run_follows_the_given_table(real_runs, tmp_path, monkeypatch):
    """The default config's dedup clusters: each keeper drawn by the table, a non-keeper (annotate mode keeps
    them) once; a run without dedup cannot be rehydrated."""
    config = write_yaml(tmp_path / "mix.yaml",
                        "groups: [{name: all, weight: 1}]\nupsample: rehydrate\nrehydration: {1: 1, 2: 4, 3: 6}\n")
    out = tmp_path / "mix"
    assert mix_main("--from", str(real_runs["crawl"]), "--config", str(config), "--output", str(out)) == 0
    signals = {r["id"]: r for r in read_folder(real_runs["crawl"], "signals")}
    rows = read_folder(out, "documents")
    assert len(rows) == len(read_folder(real_runs["crawl"], "documents"))
    table = {1: 1, 2: 4, 3: 6}
    repeated = 0
    for row in rows:
        s = signals[row["id"]]
        keeper = s["dup_cluster_id"] in (None, row["id"])
        expected = table[min(s["dup_cluster_size"], 3)] if keeper else 1
        assert row["mix_count"] == expected, (row["id"], s["dup_cluster_size"], keeper)
        repeated += expected > 1
    assert repeated >= 1  # the sample has a cluster (an exact duplicate)
    plain = tmp_path / "plain"
    monkeypatch.chdir(REPO)
    assert run_pipeline(REPO / "configs" / "default.yaml", plain, "--set", "dedup.enabled=false",
                        "--input", str(REPO / "sample" / "commoncrawl_org_single_record_jwarc.warc.gz")) == 0
    assert mix_main("--from", str(plain), "--config", str(config), "--output", str(tmp_path / "m2")) == 2
