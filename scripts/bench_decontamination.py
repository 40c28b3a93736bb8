"""Time filters.release.decontamination with a 10,000-item evaluation set and print documents per second per core.

Evaluation items (real text from --data): WikiText-2 test paragraphs, then Project Gutenberg sentences, of at
least 13 words, the first --items of them. Documents: the real documents of bench_signals.py cut to 5,000
characters, each scanned against the set (exact index and Bloom filter). Prints the index's distinct n-grams,
build seconds and memory, and documents/s/core (process CPU time, best of --repeat).

With --pipeline it also runs the pipeline itself (in-process runner, text input, language ID only) on
--copies copies of those documents with and without a `decontamination` section holding the set, and prints the
stage's documents/s (its own timing in stats.json), the index build and the wall-clock difference.

Usage: python scripts/bench_decontamination.py --data DIR [--items 10000] [--ngram 13] [--repeat 3]
           [--pipeline [--copies 4]]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench_signals import load_documents  # noqa: E402
from filters.release.decontamination import BloomNgramIndex, NgramIndex, decontamination_signals  # noqa: E402

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
    parser.add_argument("--pipeline", action="store_true", help="also time the pipeline's Decontaminate stage")
    parser.add_argument("--copies", type=int, default=4, help="with --pipeline: copies of the documents")
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
    if args.pipeline:
        bench_pipeline(items, docs * args.copies, args.ngram)


def bench_pipeline(items: list[str], docs: list[str], n: int) -> None:
    """Whole pipeline runs (fresh processes) with and without the set; the stage's own seconds per document."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import yaml

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pq.write_table(pa.table({"id": [f"d{i}" for i in range(len(docs))], "text": docs}), root / "docs.parquet")
        with (root / "eval.jsonl").open("w", encoding="utf-8") as f:
            f.writelines(json.dumps({"text": t}) + "\n" for t in items)
        base = {"input": {"paths": [str(root / "docs.parquet")]}, "signals": {"enabled": False},
                "dedup": {"enabled": False}}
        runs = {"without": base,
                "with": {**base, "decontamination": {"enabled": True, "ngram": n,
                                                     "sets": [{"name": "bench", "path": str(root / "eval.jsonl")}]}}}
        walls = {}
        for name, config in runs.items():
            (root / f"{name}.yaml").write_text(yaml.safe_dump(config))
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "pipeline", "--log-level", "WARNING", "run", "--config",
                            str(root / f"{name}.yaml"), "--output", str(root / name)], check=True, cwd=REPO,
                           stdout=subprocess.DEVNULL)
            walls[name] = time.perf_counter() - start
        stats = json.loads((root / "with" / "stats.json").read_text())
        stage = stats["stages"]["decontamination"]
        built = json.loads((root / "with" / "_decontamination" / "bench.json").read_text())
        flagged = stats["decontamination"]["bench"]["documents"]
        print(f"pipeline, {len(docs)} documents: Decontaminate stage {stage['documents'] / stage['seconds']:,.0f} "
              f"documents/s ({stage['seconds']:.2f} s), index built by the driver in {built['build_seconds']:.2f} s "
              f"({built['kind']}, {built['index_bytes'] / 2**20:.1f} MiB); wall {walls['with']:.1f} s with, "
              f"{walls['without']:.1f} s without; {flagged} documents flagged")


if __name__ == "__main__":
    main()
