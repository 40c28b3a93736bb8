"""Time beam_curation.filters.release.decontamination with a 10,000-item evaluation set and print documents per second per core.

Evaluation items (real text from --data): WikiText-2 test paragraphs, then Project Gutenberg sentences, of at
least 13 words, the first --items of them. Documents: the real documents of bench_signals.py cut to 5,000
characters, each scanned against the set (exact index and Bloom filter). Prints the index's distinct n-grams,
build seconds and memory, and documents/s/core (process CPU time, best of --repeat).

With --join it also times the join path's own work per core (beam_curation.pipeline.graph.decontam, without Beam): a
document's hashes cut into join buckets, the set's items hashed and cut, each bucket's set pairs indexed and
probed with the documents' pairs; figures are checked equal to the exact index's. --large-items N adds a set
of N items generated from the same real text (each item three sentences drawn at random from WikiText-2 and
Gutenberg, so no set of this size needs shipping) to the kernel figures and, with --pipeline, to the runs.

With --pipeline it also runs the pipeline itself (in-process runner, text input, no other stage) on --copies
copies of those documents without decontamination, with the set as a side input (exact index) and, with
--join, through the join (`index: join`), and prints the wall clock of each, the Decontaminate stage's
documents/s (its own timing in stats.json), the annotation bytes and, for the join, the bytes its groupings
shuffled (a separate run with `runner.measure_shuffle`).

Usage: python scripts/bench_decontamination.py --data DIR [--items 10000] [--ngram 13] [--repeat 3]
           [--join [--large-items 1000000]] [--pipeline [--copies 4]]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench_signals import load_documents  # noqa: E402
from beam_curation.filters.release.decontamination import (BloomNgramIndex, NgramIndex, decontamination_signals,  # noqa: E402
                                             ngram_hashes, ngram_pairs, split_by_bucket, summarize_arrays)

SLICE = 5000


def _real_lines(data: Path) -> list[str]:
    ref = data / "quality_reference"
    lines = (ref / "wikitext2_raw_test.txt").read_text(encoding="utf-8").splitlines()
    for book in sorted((ref / "gutenberg_tokenized").glob("*.txt")):
        lines += book.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("=")]


def evaluation_items(data: Path, count: int, n: int) -> list[str]:
    return [line for line in _real_lines(data) if len(line.split()) >= n][:count]


def generated_items(data: Path, count: int) -> list[str]:
    """``count`` items of three real sentences each, drawn at random (seeded) from WikiText-2 and Gutenberg."""
    sentences = [s.strip() for line in _real_lines(data) for s in line.split(" . ") if len(s.split()) >= 5]
    rng = random.Random(0)
    return [" . ".join(rng.choices(sentences, k=3)) + " ." for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--ngram", type=int, default=13)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--join", action="store_true", help="also time the join path")
    parser.add_argument("--large-items", type=int, default=0, help="with --join: a generated set this large too")
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
    sets = {"10k": items}
    if args.join:
        if args.large_items:
            sets["large"] = generated_items(args.data, args.large_items)
        for name, set_items in sets.items():
            bench_join_kernel(name, set_items, docs * args.copies, args.ngram, args.repeat)
    if args.pipeline:
        bench_pipeline(sets if args.join else {"10k": items}, docs * args.copies, args.ngram, args.join)


def bench_join_kernel(name: str, items: list[str], docs: list[str], n: int, repeat: int) -> None:
    """CPU seconds of the join's own steps, per core, and a check of its figures against the exact index."""
    t = time.process_time()
    pairs_h, pairs_i = [], []
    for start in range(0, len(items), 4096):  # ReadEvalUnit: the items' distinct n-grams, 4,096 items at once
        h, position = ngram_pairs(items[start:start + 4096], n)
        pairs_h.append(h)
        pairs_i.append(position + start)
    eval_buckets = {b: (h, i) for b, h, i in split_by_bucket(np.concatenate(pairs_h), np.concatenate(pairs_i))}
    eval_seconds = time.process_time() - t
    pairs = sum(len(h) for h in pairs_h)
    t = time.process_time()  # ProbeBucket's first pass: each bucket's set pairs indexed
    indexes = {b: NgramIndex.from_pairs(*eval_buckets[b]) for b in eval_buckets}
    index_seconds = time.process_time() - t
    best_doc = best_probe = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        doc_buckets: dict[int, list] = {}
        for node, text in enumerate(docs):  # Decontaminate + DocBuckets: hashes kept, cut into buckets
            h = np.unique(ngram_hashes(text, n))
            for b, bh, bn in split_by_bucket(h, np.full(len(h), node, dtype=np.int64)):
                doc_buckets.setdefault(b, []).append((bh, bn))
        best_doc = min(best_doc, time.process_time() - t)
        t = time.process_time()
        found: dict[int, list] = {}
        for b, chunks in doc_buckets.items():  # ProbeBucket's second pass: the documents' pairs probed
            if b not in indexes:
                continue
            nodes, hashes, ids = indexes[b].join(np.concatenate([c[0] for c in chunks]),
                                            np.concatenate([c[1] for c in chunks]))
            for node, h, i in zip(nodes.tolist(), hashes.tolist(), ids.tolist()):
                found.setdefault(node, []).append((h, i))
        best_probe = min(best_probe, time.process_time() - t)
    flagged = 0
    if len(items) <= 200_000:  # the exact index of the large set is what the join avoids building
        index = NgramIndex.build(items, n)
        for node, text in enumerate(docs):
            got = found.get(node, [])
            m = summarize_arrays(np.array([h for h, _ in got], dtype=np.uint64), np.array([i for _, i in got]))
            assert m == index.match(text), node
    flagged = len(found)
    print(f"join kernel, {name} set ({len(items):,} items, {pairs:,} (n-gram, item) pairs): set side "
          f"{len(items) / eval_seconds:,.0f} items/s/core hashed and cut, buckets indexed at "
          f"{pairs / index_seconds / 1e6:,.1f} M pairs/s/core; {len(docs)} documents: hashes cut "
          f"{len(docs) / best_doc:,.0f} documents/s/core, probed {len(docs) / best_probe:,.0f} documents/s/core, "
          f"both {len(docs) / (best_doc + best_probe):,.0f}; {flagged} documents flagged")


def bench_pipeline(sets: dict[str, list[str]], docs: list[str], n: int, join: bool) -> None:
    """Whole pipeline runs (fresh processes): without decontamination, with the 10k set as a side input and,
    with --join, every set joined; wall clock, the stage's own seconds, annotation bytes, shuffled bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import yaml

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pq.write_table(pa.table({"id": [f"d{i}" for i in range(len(docs))], "text": docs}), root / "docs.parquet")
        for name, items in sets.items():
            with (root / f"{name}.jsonl").open("w", encoding="utf-8") as f:
                f.writelines(json.dumps({"text": t}) + "\n" for t in items)
        base = {"input": {"paths": [str(root / "docs.parquet")]}, "signals": {"enabled": False},
                "langid": {"enabled": False}, "dedup": {"enabled": False}}

        def with_set(name: str, index: str) -> dict:
            return {**base, "decontamination": {"enabled": True, "ngram": n, "index": index,
                                                "sets": [{"name": "bench", "path": str(root / f"{name}.jsonl")}]}}

        runs = {"without": base, "side 10k": with_set("10k", "exact")}
        if join:
            runs.update({f"join {name}": with_set(name, "join") for name in sets})
        walls = {}
        for name, config in runs.items():
            folder = name.replace(" ", "_")
            (root / f"{folder}.yaml").write_text(yaml.safe_dump(config))
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "beam_curation", "--log-level", "WARNING", "run", "--config",
                            str(root / f"{folder}.yaml"), "--output", str(root / folder)], check=True, cwd=REPO,
                           stdout=subprocess.DEVNULL)
            walls[name] = time.perf_counter() - start
            stats = json.loads((root / folder / "stats.json").read_text())
            annotations = sum(f.stat().st_size for f in (root / folder / "_annotations").glob("*.parquet"))
            line = f"pipeline {name}, {len(docs)} documents: wall {walls[name]:.1f} s"
            if name != "without":
                stage = stats["stages"]["decontamination"]
                built = json.loads((root / folder / "_decontamination" / "bench.json").read_text())
                line += (f" ({walls[name] - walls['without']:+.1f} s against without); Decontaminate stage "
                         f"{stage['documents'] / stage['seconds']:,.0f} documents/s; driver prepared the set in "
                         f"{built['build_seconds']:.2f} s ({built['kind']}); "
                         f"{stats['decontamination']['bench']['documents']} documents flagged")
            line += f"; annotations {annotations / 2**20:.2f} MiB"
            if name.startswith("join"):
                stored = sum(len(b) for f in (root / folder / "_annotations").glob("*.parquet")
                             for b in pq.read_table(f, columns=["_decontam_ngrams"]).column(0).to_pylist())
                text = sum(len(d.encode()) for d in docs)
                line += (f"; n-gram hashes stored: {stored / len(docs):,.0f} bytes a document before compression "
                         f"({stored / text:.2f} x its text's UTF-8 bytes)")
            print(line)
        if join:
            for name in sets:
                print(f"shuffled by the join of the {name} set: {shuffled(with_set(name, 'join'), root / 'measured')}")


def shuffled(config: dict, out: Path) -> str:
    """Bytes the join's groupings took (runner.measure_shuffle), from an in-process run."""
    from beam_curation.pipeline.config import parse_config
    from beam_curation.pipeline.run import run

    config = {**config, "output": {"path": str(out)}, "runner": {"measure_shuffle": True}}
    counters = run(parse_config(config)).counters
    labels = ("decontam_buckets", "decontam_matches")
    return ", ".join(f"{label} {counters.get(f'shuffled_records_{label}', 0):,} records "
                     f"{counters.get(f'shuffled_bytes_{label}', 0) / 2**20:.2f} MiB" for label in labels)


if __name__ == "__main__":
    main()
