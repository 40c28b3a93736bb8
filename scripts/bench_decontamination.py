"""Time filters.decontamination with a 10,000-item evaluation set and print documents per second per core.

Evaluation items (real text from --data): WikiText-2 test paragraphs, then Project Gutenberg sentences, of at
least 13 words, the first --items of them. Documents: the real documents of bench_signals.py cut to 5,000
characters, each scanned against the set (exact index and Bloom filter). Prints the index's distinct n-grams,
build seconds and memory, and documents/s/core (process CPU time, best of --repeat).

Usage: python scripts/bench_decontamination.py --data DIR [--items 10000] [--ngram 13] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench_signals import load_documents  # noqa: E402
from filters.decontamination import BloomNgramIndex, NgramIndex, decontamination_signals  # noqa: E402

SLICE = 5000


def evaluation_items(data: Path, count: int, n: int) -> list[str]:
    ref = data / "quality_reference"
    lines = (ref / "wikitext2_raw_test.txt").read_text(encoding="utf-8").splitlines()
    for book in sorted((ref / "gutenberg_tokenized").glob("*.txt")):
        lines += book.read_text(encoding="utf-8").splitlines()
    items = [line.strip() for line in lines if len(line.split()) >= n and not line.strip().startswith("=")]
    return items[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--ngram", type=int, default=13)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    items = evaluation_items(args.data, args.items, args.ngram)
    docs = [d[:SLICE] for d in load_documents(args.data) if len(d) >= SLICE]
    # a realistic few contaminated documents: every tenth carries an evaluation item
    docs = [d if i % 10 else d[: SLICE // 2] + " " + items[i] + " " + d[SLICE // 2:] for i, d in enumerate(docs)]
    print(f"{len(items)} evaluation items, {len(docs)} documents of ~5 KB, {args.ngram}-grams")
    for name, cls in (("exact", NgramIndex), ("bloom", BloomNgramIndex)):
        start = time.perf_counter()
        index = cls.build(items, args.ngram)
        build = time.perf_counter() - start
        best = float("inf")
        for _ in range(args.repeat):
            t = time.process_time()
            flagged = sum(1 for d in docs if decontamination_signals(d, {"bench": index})["decontam_bench"] > 0)
            best = min(best, time.process_time() - t)
        size = index.num_ngrams if name == "bloom" else len(index)
        print(f"{name}: {size:,} distinct n-grams, built in {build:.2f} s, {index.nbytes() / 2**20:.1f} MiB; "
              f"{len(docs) / best:,.0f} documents/s/core; {flagged} documents flagged")


if __name__ == "__main__":
    main()
