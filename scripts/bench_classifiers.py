"""Scoring throughput of the fastText classifiers: documents per second on one core.

Documents are real text from the bundled training data, cut or joined to --doc-chars
(default 5,000 characters, i.e. ~5 KB of mostly ASCII text), scored in batches with
`FastTextClassifier.score_batch` at document and paragraph level. Model loading is timed
separately. fastText's predict is single-threaded, so one process = one core.

  python scripts/bench_classifiers.py                      # the built defaults
  python scripts/bench_classifiers.py --card path/to/x.card.json --docs 2000
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from beam_curation.filters.models.classifier import FastTextClassifier  # noqa: E402


def make_docs(n: int, doc_chars: int) -> list[str]:
    """`n` documents of exactly `doc_chars` characters from the bundled quality data."""
    texts: list[str] = []
    for name in ("web_visible_text", "wikitext_docs", "gutenberg_docs", "dclm_human_labels"):
        with gzip.open(REPO / "models/training_data/quality" / f"{name}.jsonl.gz", "rt", encoding="utf-8") as fh:
            texts.extend(json.loads(line)["text"] for line in fh)
    stream = "\n".join(texts)
    docs = []
    pos = 0
    while len(docs) < n:
        if pos + doc_chars > len(stream):
            pos = 0
        docs.append(stream[pos : pos + doc_chars])
        pos += doc_chars
    return docs


def bench(card: Path, docs: list[str], level: str, batch: int, max_chars: int | None) -> dict:
    t0 = time.perf_counter()
    clf = FastTextClassifier.from_card(card, level=level)
    if max_chars is not None:
        clf.max_chars = max_chars
    load_s = time.perf_counter() - t0
    clf.score_batch(docs[:batch])  # warm-up
    t0 = time.perf_counter()
    for i in range(0, len(docs), batch):
        clf.score_batch(docs[i : i + batch])
    elapsed = time.perf_counter() - t0
    return {
        "model": card.name,
        "level": level,
        "max_chars": clf.max_chars,
        "docs": len(docs),
        "load_s": round(load_s, 3),
        "docs_per_s_per_core": round(len(docs) / elapsed, 1),
        "mb_per_s": round(sum(len(d.encode()) for d in docs) / elapsed / 1e6, 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--card", action="append", type=Path, default=[],
                    help="model card(s); default: models/fasttext/{toxicity,quality}.card.json")
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--doc-chars", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args(argv)
    cards = args.card or [REPO / "models/fasttext" / f"{n}.card.json" for n in ("toxicity", "quality")]
    docs = make_docs(args.docs, args.doc_chars)
    for card in cards:
        if not card.exists():
            print(f"skip {card}: not built", file=sys.stderr)
            continue
        for level in ("document", "paragraph"):
            print(json.dumps(bench(card, docs, level, args.batch, None)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
