"""Pairwise precision and recall of MinHash dedup at a threshold on a proxy set of real near-duplicates.

    python scripts/eval_dedup.py --data DATA_DIR                       # default config, threshold 0.7
    python scripts/eval_dedup.py --data DATA_DIR --threshold 0.7 --verify --json out.json

The held-out set of the issue (2,474 real near-duplicates) is not here, so the proxy is built from real text
in the shared data folder given with --data (deterministic, seed fixed):

* extraction: each ScrapingHub page of extraction_dev three times (gold article body, trafilatura's
  extraction, all visible text): the same page extracted differently;
* other pages, each its own source (hard negatives): the visible text of the 345 trafilatura-eval pages and of
  the wget crawl's pages (several pages of one site share navigation and footer);
* edits: real web and Wikipedia texts (quality_reference: the DCLM and cc_net documents, WikiText-2 articles),
  each with 1-4 edited copies aimed at true Jaccard levels 0.55-0.95: scattered word substitutions, rewritten
  or inserted or deleted spans, a navigation header and footer of real lines from another document, a cut tail.

Three truths: ``jaccard`` = every pair whose true Jaccard of the shingle sets (the config's shingles) reaches the
threshold; ``source`` = every pair made from the same page or text; ``margin`` = recall over the pairs at
least 0.05 above the threshold, precision counting as wrong only pairs 0.05 below it that are not of one source
(a MinHash decision is as sharp as its estimate: 0.04 standard deviation at 0.7 with 128 permutations). Predictions: our ``Deduplicate`` (pairs
within its clusters), and datasketch's MinHashLSH at the threshold with the same shingles and permutations
(pairs it returns to queries, and those pairs' connected components).
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import itertools
import json
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

MARGIN = 0.05
LEVELS = (0.55, 0.6, 0.65, 0.7, 0.72, 0.75, 0.78, 0.8, 0.85, 0.9, 0.95)


def _words(text: str) -> list[str]:
    return text.split()


def _edit_rate(level: float, ngram: int) -> float:
    """Per-word edit rate whose scattered substitutions leave a Jaccard of about ``level`` between n-gram sets."""
    q = 2 * level / (1 + level)  # shared fraction of one side's shingles
    return 1 - q ** (1 / ngram)


def _edited(text: str, level: float, kind: str, rng: np.random.Generator, filler: list[str],
            boiler: list[str], ngram: int) -> str:
    words = _words(text)
    n = len(words)
    e = _edit_rate(level, ngram)
    if kind == "substitute":  # scattered word substitutions
        out = list(words)
        for i in rng.choice(n, max(1, int(round(e * n))), replace=False):
            out[i] = filler[int(rng.integers(len(filler)))]
        return " ".join(out)
    if kind == "spans":  # spans rewritten, inserted or deleted (about the same shingle loss as the edit rate)
        out = list(words)
        budget = max(1, int(round(e * n * ngram / 8)))  # a span edit of ~8 words breaks ~8+n shingles
        for _ in range(budget):
            if not out:
                break
            at = int(rng.integers(len(out)))
            span = int(rng.integers(3, 13))
            op = rng.random()
            new = [filler[int(rng.integers(len(filler)))] for _ in range(span)]
            if op < 0.4:
                out[at:at + span] = new
            elif op < 0.7:
                out[at:at] = new
            else:
                del out[at:at + span]
        return " ".join(out)
    if kind == "boilerplate":  # a header and footer of real lines from another document
        q = 2 * level / (1 + level)
        extra = max(ngram, int(n * (1 / q - 1)))
        head = int(rng.integers(0, extra + 1))
        lines, got = [], 0
        for line in boiler[int(rng.integers(len(boiler))):] + boiler:
            lines.append(line)
            got += len(line.split())
            if got >= extra:
                break
        extra_words = " ".join(lines).split()[:extra]
        return " ".join(extra_words[:head] + words + extra_words[head:])
    if kind == "truncate":  # the tail cut (a page extracted only in part)
        keep = max(ngram + 1, int(round(n * level)))  # a prefix's shingles are a subset: Jaccard ~ its share
        return " ".join(words[:keep])
    raise ValueError(kind)


def _base_texts(data: Path) -> list[tuple[str, str]]:
    """(name, text) of real texts of 150-3000 words: DCLM and cc_net web documents, WikiText-2 articles."""
    qr = data / "quality_reference"
    out = []
    for f in ("dclm_human_quality_majority_only.jsonl", "ccnet_en_head_sample_dolma.jsonl"):
        for i, line in enumerate((qr / f).read_text(encoding="utf-8").splitlines()):
            out.append((f"{f.split('_')[0]}{i:03d}", json.loads(line)["text"]))
    article, title, k = [], None, 0
    for line in (qr / "wikitext2_raw_test.txt").read_text(encoding="utf-8").splitlines() + [" = End = "]:
        s = line.strip()
        if s.startswith("= ") and not s.startswith("= ="):
            if title is not None:
                out.append((f"wiki{k:03d}", "\n".join(article)))
                k += 1
            title, article = s, []
        elif s:
            article.append(s)
    return [(name, t) for name, t in out if 150 <= len(t.split()) <= 3000]


def _extraction_docs(data: Path) -> list[tuple[str, str, str]]:
    """(id, text, source) for every ScrapingHub page: gold body, trafilatura extraction, visible text."""
    import trafilatura

    from beam_curation.filters.text.html_decode import decode_html

    ext = data / "extraction_dev"
    docs = []
    for line in (ext / "scrapinghub_gold.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        html = decode_html(gzip.open(ext / r["html_file"], "rb").read())
        page = "page-" + r["id"][:16]
        docs.append((f"{page}/gold", r["articleBody"] or "", page))
        docs.append((f"{page}/trafilatura", trafilatura.extract(html, url=r["url"]) or "", page))
        docs.append((f"{page}/visible", trafilatura.html2txt(html) or "", page))
    return docs


def _other_pages(data: Path) -> list[tuple[str, str, str]]:
    """Hard negatives, each its own source: the visible text of the trafilatura-eval pages (345 sites, some
    sharing a site's navigation) and of the wget crawl's pages (several pages of one site each)."""
    import trafilatura
    from warcio.archiveiterator import ArchiveIterator

    from beam_curation.filters.text.html_decode import decode_html

    ext = data / "extraction_dev"
    docs = []
    for line in (ext / "trafilatura_gold.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        text = trafilatura.html2txt(decode_html(gzip.open(ext / r["html_file"], "rb").read())) or ""
        docs.append((f"other-{r['id']}", text, f"other-{r['id']}"))
    for f in sorted((data / "warc").glob("wget_*.warc.gz")):
        with f.open("rb") as handle:
            for k, rec in enumerate(ArchiveIterator(handle)):
                if rec.rec_type == "response":
                    text = trafilatura.html2txt(decode_html(rec.content_stream().read())) or ""
                    docs.append((f"warc-{f.name[:-8]}-{k}", text, f"warc-{f.name[:-8]}-{k}"))
    return docs


def proxy_set(data: Path, ngram: int = 5, seed: int = 26) -> list[tuple[str, str, str]]:
    """The proxy documents ``(id, text, source)`` (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    bases = _base_texts(data)
    filler = [w for _, t in bases for w in t.split()]
    boiler = [line.strip() for _, t in bases if t.count("\n") > 5 for line in t.splitlines()
              if 1 <= len(line.split()) <= 12]
    docs = []
    kinds = ("substitute", "spans", "boilerplate", "truncate")
    for name, text in bases:
        docs.append((f"{name}/orig", text, name))
        for c in range(int(rng.integers(1, 5))):
            level = float(rng.choice(LEVELS))
            kind = kinds[int(rng.integers(len(kinds)))]
            docs.append((f"{name}/{kind}{c}-{level:.2f}", _edited(text, level, kind, rng, filler, boiler, ngram), name))
    return docs + _extraction_docs(data) + _other_pages(data)


def shingle_sets(docs, config) -> list[frozenset]:
    from beam_curation.filters.dedup.minhash import ShingleConfig, shingle_strings

    sc = ShingleConfig(ngram=config.ngram, unit=config.ngram_unit, lowercase=config.lowercase,
                       punctuation=config.punctuation, unicode_form=config.unicode_form)
    return [frozenset(shingle_strings(text, sc)) for _, text, _ in docs]


def jaccard_pairs(sets: list[frozenset]) -> dict[tuple[int, int], float]:
    """True Jaccard of every pair of documents sharing at least one shingle."""
    index = defaultdict(list)
    for i, s in enumerate(sets):
        for sh in s:
            index[sh].append(i)
    inter = Counter()
    for members in index.values():
        if len(members) > 1:
            inter.update(itertools.combinations(members, 2))
    return {p: c / (len(sets[p[0]]) + len(sets[p[1]]) - c) for p, c in inter.items()}


def cluster_pairs(labels: dict[int, object]) -> set[tuple[int, int]]:
    groups = defaultdict(list)
    for i, label in labels.items():
        groups[label].append(i)
    return {p for m in groups.values() for p in itertools.combinations(sorted(m), 2)}


def components(n: int, pairs) -> dict[int, int]:
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {i: find(i) for i in range(n)}


def ours(docs, config) -> dict[int, str]:
    """Document index -> cluster id from ``Deduplicate`` on the in-process runner."""
    import apache_beam as beam
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    from beam_curation.filters.dedup.types import DedupInput
    from beam_curation.pipeline.graph.dedup import Deduplicate

    index = {doc_id: i for i, (doc_id, _, _) in enumerate(docs)}
    with tempfile.TemporaryDirectory(prefix="eval_dedup_") as tmp:
        with beam.Pipeline(runner=FnApiRunner()) as p:
            (p | beam.Create([DedupInput(i, t) for i, t, _ in docs]) | Deduplicate(config)
             | beam.Map(lambda r: json.dumps([r.id, r.cluster_id])) | beam.io.WriteToText(f"{tmp}/records"))
        rows = [json.loads(line) for f in sorted(Path(tmp).glob("records*")) for line in f.read_text().splitlines()]
    return {index[doc_id]: cluster for doc_id, cluster in rows}


def datasketch_pairs(docs, config) -> set[tuple[int, int]]:
    from datasketch import MinHash, MinHashLSH

    from beam_curation.filters.dedup.minhash import ShingleConfig, shingle_strings

    sc = ShingleConfig(ngram=config.ngram, unit=config.ngram_unit, lowercase=config.lowercase,
                       punctuation=config.punctuation, unicode_form=config.unicode_form)
    w = config.false_negative_weight
    lsh = MinHashLSH(threshold=config.threshold, num_perm=config.num_perm, weights=(1 - w, w))
    sketches = []
    for i, (_, text, _) in enumerate(docs):
        m = MinHash(num_perm=config.num_perm, seed=config.seed)
        m.update_batch([s.encode("utf8") for s in shingle_strings(text, sc)])
        sketches.append(m)
        lsh.insert(i, m)
    return {tuple(sorted((i, j))) for i, m in enumerate(sketches) for j in lsh.query(m) if j != i}


def score(pred: set, truth: set) -> dict:
    tp = len(pred & truth)
    return {"precision": tp / len(pred) if pred else 1.0, "recall": tp / len(truth) if truth else 1.0,
            "pairs": len(pred), "true_positives": tp}


def evaluate(config, docs=None, data: Path | None = None) -> dict:
    """Scores of ours and datasketch's against every truth on the proxy set."""
    docs = proxy_set(data, config.ngram) if docs is None else docs
    sets = shingle_sets(docs, config)
    jac = jaccard_pairs(sets)
    t = float(config.threshold)
    truth = {"jaccard": {p for p, j in jac.items() if j >= t}}
    by_source = defaultdict(list)
    for i, (_, _, src) in enumerate(docs):
        by_source[src].append(i)
    truth["source"] = {p for m in by_source.values() for p in itertools.combinations(m, 2)}
    # A signature-only decision cannot be sharper than its estimate (standard deviation sqrt(J(1-J)/num_perm):
    # 0.04 at 0.7 with 128 permutations): "margin" scores pairs at least `margin` from the threshold only.
    # Recall over pairs with true Jaccard >= t + margin; precision: a predicted pair is wrong when its true
    # Jaccard is below t - margin and it is not of one source (an edited copy of a text is a near-duplicate).
    clear = {p for p, j in jac.items() if j >= t + MARGIN}
    ds = datasketch_pairs(docs, config)
    preds = {
        "ours (clusters)": cluster_pairs(ours(docs, config)),
        "datasketch (query pairs)": ds,
        "datasketch (components)": cluster_pairs(components(len(docs), ds)),
    }
    levels = Counter(round(j, 1) for j in jac.values() if j >= 0.5)
    edges = (0.0, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9, 1.01)

    def found_by_band(pred):  # share of the pairs of each true-Jaccard band that are predicted
        out = {}
        for lo, hi in zip(edges, edges[1:]):
            band = [p for p, j in jac.items() if lo <= j < hi]
            out[f"[{lo:.2f},{min(hi, 1):.2f})"] = (sum(p in pred for p in band), len(band))
        return out

    def margin_score(pred):
        wrong = sum(1 for p in pred if jac.get(p, 0.0) < t - MARGIN and p not in truth["source"])
        return {"precision": 1 - wrong / len(pred) if pred else 1.0, "recall": len(pred & clear) / len(clear),
                "pairs": len(pred), "true_positives": len(pred & clear)}

    return {
        "documents": len(docs), "sources": len(by_source),
        "true_pairs": {k: len(v) for k, v in truth.items()},
        "pairs_by_jaccard": {f"{k:.1f}": v for k, v in sorted(levels.items())},
        "scores": {name: {**{k: score(p, v) for k, v in truth.items()}, "margin": margin_score(p)}
                   for name, p in preds.items()},
        "found_by_jaccard": {name: found_by_band(p) for name, p in preds.items()},
    }


def main() -> None:
    from beam_curation.filters.dedup.lsh import lsh_params
    from beam_curation.filters.dedup.types import DedupConfig

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threshold", type=float, default=0.7)
    ap.add_argument("--verify", action="store_true", help="dedup.verify_jaccard: true")
    ap.add_argument("--false-negative-weight", type=float, default=DedupConfig().false_negative_weight,
                    help="dedup.false_negative_weight (datasketch's weights=(1 - w, w)); default the config's "
                         "(0.9: 20 x 6 bands at 0.7; 0.5: datasketch's default, 14 x 9)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="another DedupConfig field (JSON value), e.g. --set ngram=3")
    ap.add_argument("--data", type=Path, required=True,
                    help="the shared data folder (extraction_dev/, warc/, quality_reference/ inside)")
    ap.add_argument("--json", help="write the figures here as JSON too")
    args = ap.parse_args()
    extra = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    try:
        config = DedupConfig(threshold=args.threshold, verify_jaccard=args.verify,
                             false_negative_weight=args.false_negative_weight, **extra)
    except (TypeError, ValueError) as e:
        print(f"eval_dedup: {e}", file=sys.stderr)
        sys.exit(2)
    result = evaluate(config, data=args.data)
    p = lsh_params([config.threshold], config.num_perm, config.false_negative_weight)[0]
    result["config"] = {k: v for k, v in dataclasses.asdict(config).items()
                        if k in ("threshold", "num_perm", "ngram", "verify_jaccard", "false_negative_weight") or k in extra}
    result["config"]["banding"] = f"{p.bands} x {p.rows}"
    print(f"{result['documents']} documents from {result['sources']} sources; true pairs: "
          f"{result['true_pairs']}; pairs by true Jaccard (>= 0.5): {result['pairs_by_jaccard']}")
    print(f"config: {result['config']}")
    print(f"{'':28s} {'truth':8s} {'precision':>9s} {'recall':>7s} {'pairs':>7s}")
    for name, by_truth in result["scores"].items():
        for truth, s in by_truth.items():
            print(f"{name:28s} {truth:8s} {s['precision']:9.4f} {s['recall']:7.4f} {s['pairs']:7d}")
    bands = next(iter(result["found_by_jaccard"].values()))
    print("\npairs found / pairs, by true Jaccard band")
    print(f"{'':28s} " + " ".join(f"{b:>13s}" for b in bands))
    for name, by_band in result["found_by_jaccard"].items():
        print(f"{name:28s} " + " ".join(f"{f'{a}/{n}':>13s}" for a, n in by_band.values()))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
