"""Compare configs/fineweb2.yaml with DataTrove's filters set up as FineWeb-2 sets them, on real texts.

DataTrove is never a dependency of this project: install it in its own virtualenv with FineWeb-2's word
tokenisers and pass its interpreter with ``--datatrove-python``:

    python3 -m venv /tmp/dt-venv
    /tmp/dt-venv/bin/pip install 'datatrove[processing]==0.10.1' 'spacy[ja]>=3.8' jieba pyvi pythainlp \\
        'kiwipiepy<0.22' indic-nlp-library pyyaml
    .venv/bin/python scripts/compare_fineweb2.py --datatrove-python /tmp/dt-venv/bin/python \\
        --fineweb2-configs fineweb-2/configs --data DATA_DIR

The texts: language-ID dev sentences joined into documents of 4 to 60 lines (and edited copies that
trip each rule), and the extracted dev and Common Crawl pages lid.176 assigns to a covered language. In
the DataTrove interpreter this same file (``--worker``) runs GopherRepetitionFilter, FineWebQualityFilter
and GopherQualityFilter with the arguments of FineWeb-2's pipeline script and each language's
``configs/{lang}_{script}.yml``; here the project computes ``beam_curation.filters.heuristics.fineweb2.fineweb2_signals`` and
applies the rules of configs/fineweb2.yaml (all but the GlotLID language-score floor, which sits before
these filters). It prints keep/drop agreement per language and writes the expectation files the tests
read (text sha1 and DataTrove's decision; word-list sha1 for one real sentence group per language).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DECISIONS = REPO / "tests" / "data" / "fineweb2_datatrove_expectations.jsonl"
WORDS = REPO / "tests" / "data" / "fineweb2_datatrove_words.jsonl"
GROUP_SIZES = (4, 10, 20, 40, 60)
WORD_SAMPLE_LINES = 30  # sentences per language whose words are recorded


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def langid_sentences(data: Path) -> dict[str, list[str]]:
    by_lang: dict[str, list[str]] = defaultdict(list)
    path = data / "langid_dev" / "lingua_sentences_dev.tsv"
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        lang, _, sentence = line.partition("\t")
        by_lang["no" if lang == "nb" else lang].append(sentence)  # lid.176 says `no` for Bokmål
    return by_lang


def sentence_documents(sentences: list[str], seed: str) -> list[str]:
    """Consecutive sentences joined by newlines in groups of GROUP_SIZES, and edited copies of some."""
    rng = random.Random(seed)
    docs, i, k = [], 0, 0
    while i < len(sentences):
        size = GROUP_SIZES[k % len(GROUP_SIZES)]
        lines = sentences[i : i + size]
        i, k = i + size, k + 1
        docs.append("\n".join(lines))
        if len(lines) < 10:
            continue
        edit = k % 5
        if edit == 0:  # repeated lines
            docs.append("\n".join(lines + lines[: len(lines) // rng.choice((2, 3, 4))]))
        elif edit == 1:  # terminal punctuation dropped from most lines
            docs.append("\n".join(line.rstrip(".!?。？！") if rng.random() < 0.9 else line for line in lines))
        elif edit == 2:  # one word per line for a stretch (newline-to-word ratio)
            words = " ".join(lines).split()
            cut = rng.randrange(len(words) // 3, len(words))
            docs.append("\n".join(words[:cut]) + "\n" + " ".join(words[cut:]))
        elif edit == 3:  # a repeated phrase (duplicated n-grams, top n-gram share)
            words = " ".join(lines).split()
            start = rng.randrange(max(1, len(words) - 8))
            phrase = " ".join(words[start : start + rng.randrange(3, 8)])
            docs.append("\n".join(lines) + ("\n" + phrase) * rng.randrange(2, 8))
        else:  # bullets, ellipses and hashes
            mark = rng.choice(("\u2022 ", "- ", "# "))
            tail = rng.choice(("...", "\u2026", ""))
            docs.append("\n".join(mark + line + tail for line in lines))
    return docs


def page_documents(data: Path) -> list[tuple[str, str]]:
    """(lid.176 language, text) of every extracted dev page and Common Crawl / wget WARC page."""
    import fasttext
    import trafilatura
    from warcio.archiveiterator import ArchiveIterator

    sys.path.insert(0, str(REPO))
    from beam_curation.filters.models.langid import default_model_path, prepare

    model = fasttext.load_model(str(default_model_path()))
    texts = []
    for gold in ("trafilatura_gold.jsonl", "scrapinghub_gold.jsonl"):
        for line in (data / "extraction_dev" / gold).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            with gzip.open(data / "extraction_dev" / row["html_file"], "rb") as f:
                texts.append(trafilatura.extract(f.read(), url=row["url"]) or "")
    for warc in sorted((data / "warc").glob("*.warc.gz")):
        if ".wet." in warc.name or ".wat." in warc.name:
            continue
        with warc.open("rb") as f:
            for record in ArchiveIterator(f):
                if record.rec_type == "response":
                    url = record.rec_headers.get_header("WARC-Target-URI")
                    texts.append(trafilatura.extract(record.content_stream().read(), url=url) or "")
    out = []
    for text in texts:
        if text.strip():
            label = model.predict([prepare(text)], k=1)[0][0][0]
            out.append((label.removeprefix("__label__"), text))
    return out


def load_corpus(data: Path, languages: set[str], pages: bool = True) -> list[tuple[str, str]]:
    """(language, text) pairs in the covered languages."""
    docs = []
    for lang, sentences in sorted(langid_sentences(data).items()):
        if lang in languages:
            docs.extend((lang, text) for text in sentence_documents(sentences, lang))
    if pages:
        docs.extend((lang, text) for lang, text in page_documents(data) if lang in languages)
    return docs


def word_samples(data: Path, languages: set[str]) -> list[tuple[str, str]]:
    """(language, text): the first WORD_SAMPLE_LINES dev sentences of each covered language."""
    by_lang = langid_sentences(data)
    return [(lang, "\n".join(by_lang[lang][:WORD_SAMPLE_LINES])) for lang in sorted(languages) if lang in by_lang]


# ----------------------------------------------------------------------------------------------------
# Worker mode: runs inside DataTrove's virtualenv, imports nothing from this project.


def _datatrove_worker(inp: str, out: str, configs: str) -> None:
    import yaml
    from datatrove.data import Document
    from datatrove.pipeline.filters import FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter
    from datatrove.utils.text import split_into_words

    request = json.loads(Path(inp).read_text(encoding="utf-8"))
    chains = {}
    for subset in sorted({d["subset"] for d in request["documents"]}):
        cfg = yaml.safe_load((Path(configs) / f"{subset}.yml").read_text(encoding="utf-8"))
        chains[subset] = [  # the arguments of FineWeb-2's fineweb-2-pipeline.py, step 5
            GopherRepetitionFilter(language=subset, dup_para_frac=0, dup_line_char_frac=0, dup_para_char_frac=0,
                                   dup_line_frac=cfg["dup_line_frac"], top_n_grams=cfg["top_n_grams"],
                                   dup_n_grams=cfg["dup_n_grams"]),
            FineWebQualityFilter(language=subset, short_line_thr=999, char_duplicates_ratio=0.1,
                                 line_punct_thr=cfg["line_punct_thr"], new_line_ratio=cfg["new_line_ratio"]),
            GopherQualityFilter(language=subset, max_avg_word_length=cfg["max_avg_word_length"],
                                min_avg_word_length=cfg["min_avg_word_length"], stop_words=cfg["stopwords"],
                                max_non_alpha_words_ratio=cfg["max_non_alpha_words_ratio"], min_stop_words=2),
        ]
    results = []
    start = time.perf_counter()
    for i, d in enumerate(request["documents"]):
        doc = Document(text=d["text"], id=str(i))
        keep, reason = True, None
        try:
            for f in chains[d["subset"]]:
                verdict = f.filter(doc)
                if verdict is not True:
                    keep, reason = False, verdict[1] if isinstance(verdict, tuple) else None
                    break
        except Exception as exc:  # noqa: BLE001 - recorded: a document DataTrove cannot judge
            keep, reason = None, f"error: {type(exc).__name__}: {exc}"
        results.append({"keep": keep, "reason": reason})
    seconds = time.perf_counter() - start
    words = [split_into_words(w["text"], w["subset"]) for w in request["words"]]
    Path(out).write_text(json.dumps({"seconds": seconds, "results": results, "words": words}), encoding="utf-8")


def run_datatrove(python: str, configs: Path, documents: list[dict], words: list[dict]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "in.json", Path(tmp) / "out.json"
        inp.write_text(json.dumps({"documents": documents, "words": words}), encoding="utf-8")
        subprocess.run([python, __file__, "--worker", str(inp), str(out), str(configs)], check=True)
        return json.loads(out.read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------------------------------


def fineweb2_rules(config: Path):
    """The rules of a FineWeb-2 config (the GlotLID language-score floor left out), compiled."""
    import yaml

    sys.path.insert(0, str(REPO))
    from beam_curation.filters.rules import compile_rule

    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    return [compile_rule(r["name"], r["keep"], r.get("params"), languages=r.get("languages", ()))
            for r in raw["filters"]["rules"] if r["name"] != "fineweb2_language_score"]


def our_decision(rules, text: str, language: str) -> tuple[bool, str | None]:
    from beam_curation.filters.heuristics.fineweb2 import fineweb2_signals
    from beam_curation.filters.rules import first_failed

    failed = first_failed(rules, fineweb2_signals(text, language), language)
    return failed is None, failed


# DataTrove's removal reasons by rule name (the same except for the stage prefixes).
REASONS = {
    "gopher_rep_dup_line_frac": "dup_line_frac", "fineweb_empty": "empty",
    "fineweb_line_punct_ratio": "line_punct_ratio", "fineweb_char_dup_ratio": "char_dup_ratio",
    "fineweb_list_ratio": "list_ratio",
    **{f"gopher_rep_top_{n}_gram": f"top_{n}_gram" for n in (2, 3, 4)},
    **{f"gopher_rep_duplicated_{n}_n_grams": f"duplicated_{n}_n_grams" for n in range(5, 11)},
}


def pipeline_decisions(corpus: list[tuple[str, str]], config: Path) -> list[tuple[str, bool, str | None]]:
    """(language, kept, removed_by) of each text after `beam-curation run` with ``config`` (its GlotLID
    floor left out), extraction and dedup off: language ID, the signal stage and the rules as a user runs them."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import yaml

    from beam_curation.pipeline.cli import main as cli

    with tempfile.TemporaryDirectory() as tmp:
        shard = Path(tmp) / "texts.parquet"
        pq.write_table(pa.table({"id": [f"d{i:06d}" for i in range(len(corpus))], "text": [t for _, t in corpus]}),
                       shard)
        raw = yaml.safe_load(config.read_text(encoding="utf-8"))
        raw["filters"]["rules"] = [r for r in raw["filters"]["rules"] if r["name"] != "fineweb2_language_score"]
        config_path = Path(tmp) / "config.yaml"
        config_path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        out = Path(tmp) / "out"
        code = cli(["--log-level", "WARNING", "run", "--config", str(config_path), "--input", str(shard),
                    "--output", str(out), "--set", "extract.enabled=false", "--set", "dedup.enabled=false"])
        if code:
            raise SystemExit(f"the pipeline failed (exit {code})")
        decided = {}
        for folder, kept in (("documents", True), ("removed", False)):
            for path in (out / folder).glob("*.parquet"):  # a folder with nothing has no file
                for row in pq.read_table(path).to_pylist():
                    decided[row["id"]] = (row["language"], kept, row.get("removed_by"))
    return [decided[f"d{i:06d}"] for i in range(len(corpus))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--datatrove-python", help="python of a virtualenv with datatrove 0.10.1 and its tokenisers")
    parser.add_argument("--fineweb2-configs", type=Path, help="folder of FineWeb-2's {lang}_{script}.yml")
    parser.add_argument("--data", type=Path, required=True, help="data folder with langid_dev/, extraction_dev/, warc/")
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "fineweb2.yaml")
    parser.add_argument("--no-pages", action="store_true", help="sentence documents only (no extraction)")
    parser.add_argument("--no-write", action="store_true", help="do not rewrite the expectation files")
    parser.add_argument("--through-pipeline", action="store_true",
                        help="decide with `beam-curation run` (its language ID included) instead of the filters "
                             "alone; DataTrove judges each document in the language the pipeline gave it")
    args = parser.parse_args()
    if args.worker:
        _datatrove_worker(*args.worker)
        return
    if not args.datatrove_python or not args.fineweb2_configs:
        parser.error("--datatrove-python and --fineweb2-configs are required")
    sys.path.insert(0, str(REPO))
    from scripts.generate_fineweb2_config import DEFAULT_LANGUAGES

    subsets = {code: subset for subset, code in DEFAULT_LANGUAGES.items()}
    rules = fineweb2_rules(args.config)
    import yaml

    languages = set(yaml.safe_load(args.config.read_text(encoding="utf-8"))["langid"]["keep"])
    corpus = load_corpus(args.data, languages, pages=not args.no_pages)
    samples = word_samples(args.data, languages)
    print(f"{len(corpus)} documents in {len({lang for lang, _ in corpus})} languages", file=sys.stderr)

    if args.through_pipeline:
        compare_through_pipeline(args, corpus, subsets, languages)
        return
    result = run_datatrove(args.datatrove_python, args.fineweb2_configs,
                           [{"subset": subsets[lang], "text": text} for lang, text in corpus],
                           [{"subset": subsets[lang], "text": text} for lang, text in samples])
    start = time.perf_counter()
    ours = [our_decision(rules, text, lang) for lang, text in corpus]
    our_seconds = time.perf_counter() - start

    per_lang: dict[str, Counter] = defaultdict(Counter)
    mismatches = []
    for (lang, text), (keep, rule), theirs in zip(corpus, ours, result["results"]):
        c = per_lang[lang]
        c["docs"] += 1
        c["dt_kept"] += bool(theirs["keep"])
        if theirs["keep"] is None:
            c["dt_error"] += 1
            continue
        c["keep_agree"] += keep == theirs["keep"]
        c["reason_agree"] += (keep and theirs["keep"]) or REASONS.get(rule, rule) == theirs["reason"]
        if keep != theirs["keep"]:
            mismatches.append((lang, rule, theirs["reason"], text[:120]))
    total = Counter()
    for lang in sorted(per_lang):
        c = per_lang[lang]
        total.update(c)
        print(f"{lang} [{subsets[lang]}]: {c['docs']} docs, DataTrove keeps {c['dt_kept']}, keep/drop agree "
              f"{c['keep_agree']}/{c['docs'] - c['dt_error']}, reason agree {c['reason_agree']}"
              + (f", DataTrove errors {c['dt_error']}" if c["dt_error"] else ""))
    judged = total["docs"] - total["dt_error"]
    print(f"ALL: {total['docs']} docs in {len(per_lang)} languages; keep/drop agreement "
          f"{total['keep_agree'] / judged:.4f} ({total['keep_agree']}/{judged}); reason agreement "
          f"{total['reason_agree'] / judged:.4f}; DataTrove kept {total['dt_kept']}; DataTrove {result['seconds']:.1f} s, "
          f"ours {our_seconds:.1f} s")
    for m in mismatches[:20]:
        print("MISMATCH", m)

    from beam_curation.filters.text.word_tokenizers import word_tokenizer

    same_words = sum(word_tokenizer(lang).words(text) == w for (lang, text), w in zip(samples, result["words"]))
    print(f"words identical on {same_words}/{len(samples)} languages' sentence samples")
    if not args.no_write:
        with DECISIONS.open("w", encoding="utf-8") as f:
            for (lang, text), theirs in zip(corpus, result["results"]):
                f.write(json.dumps({"sha1": sha1(text), "language": lang, "keep": theirs["keep"],
                                    "reason": theirs["reason"]}) + "\n")
        with WORDS.open("w", encoding="utf-8") as f:
            for (lang, text), words in zip(samples, result["words"]):
                f.write(json.dumps({"language": lang, "subset": subsets[lang], "lines": WORD_SAMPLE_LINES,
                                    "words": len(words), "sha1": sha1("\n".join(words))}) + "\n")


def compare_through_pipeline(args, corpus, subsets, languages) -> None:
    start = time.perf_counter()
    decided = pipeline_decisions(corpus, args.config)
    seconds = time.perf_counter() - start
    judged = [(i, lang) for i, (lang, _, removed_by) in enumerate(decided) if lang in languages]
    result = run_datatrove(args.datatrove_python, args.fineweb2_configs,
                           [{"subset": subsets[lang], "text": corpus[i][1]} for i, lang in judged], [])
    per_lang: dict[str, Counter] = defaultdict(Counter)
    mismatches = []
    for (i, lang), theirs in zip(judged, result["results"]):
        _, keep, removed_by = decided[i]
        c = per_lang[lang]
        c["docs"] += 1
        c["same_label"] += lang == corpus[i][0]
        if theirs["keep"] is None:
            c["dt_error"] += 1
            continue
        c["dt_kept"] += theirs["keep"]
        c["keep_agree"] += keep == theirs["keep"]
        c["reason_agree"] += (keep and theirs["keep"]) or REASONS.get(removed_by, removed_by) == theirs["reason"]
        if keep != theirs["keep"]:
            mismatches.append((lang, removed_by, theirs["reason"], corpus[i][1][:120]))
    total = Counter()
    for lang in sorted(per_lang):
        c = per_lang[lang]
        total.update(c)
        print(f"{lang} [{subsets[lang]}]: {c['docs']} docs ({c['same_label']} with the corpus label), DataTrove keeps "
              f"{c['dt_kept']}, keep/drop agree {c['keep_agree']}/{c['docs'] - c['dt_error']}, reason agree "
              f"{c['reason_agree']}" + (f", DataTrove errors {c['dt_error']}" if c["dt_error"] else ""))
    judged_n = total["docs"] - total["dt_error"]
    print(f"THROUGH THE PIPELINE: {len(corpus)} texts, {total['docs']} in {len(per_lang)} covered languages by lid.176 "
          f"({len(corpus) - total['docs']} removed as other languages, not compared); keep/drop agreement "
          f"{total['keep_agree'] / judged_n:.4f} ({total['keep_agree']}/{judged_n}); reason agreement "
          f"{total['reason_agree'] / judged_n:.4f}; pipeline {seconds:.1f} s, DataTrove {result['seconds']:.1f} s")
    for m in mismatches[:20]:
        print("MISMATCH", m)


if __name__ == "__main__":
    main()
