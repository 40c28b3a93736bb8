"""Throughput of `beam-curation tokenize` against the `tokenizers` library's own `encode_batch`, same documents.

    python scripts/bench_tokenize.py [--from OUT] [--tokenizer tokenizer.json] [--copies 150] [--runs 3]
                                     [--format megatron] [--beam-arg=--direct_num_workers=2 ...]

The documents: a finished run's documents/ (default: `configs/default.yaml` run on the bundled sample, into a
temporary folder), each repeated `--copies` times under new ids (real web text, enough tokens that start-up is
not the figure), in 4 Parquet files. The tokenizer: `--tokenizer`, else a byte-level BPE of 8,192 ids trained
here on the bundled WikiText-2 text.

Each side runs in a fresh process, `--runs` times; figures are whole-process (start-up, reading the Parquet
files, and for `tokenize` the Beam job, its shuffles and writing the files): wall seconds, CPU seconds of the
process and its children, tokens/s, and tokens/s per core = tokens / CPU seconds; medians of the runs. Tokens
are the tokenizer's ids (end-of-document ids not counted). The peer is one process that reads the same files
and calls `Tokenizer.encode_batch` on all texts (which spreads over every core itself).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WIKITEXT = REPO / "models" / "training_data" / "kenlm_en" / "wikitext2_raw_test.txt.gz"

PEER = r"""
import glob, sys
import pyarrow.parquet as pq
from tokenizers import Tokenizer
tokenizer = Tokenizer.from_file(sys.argv[1])
texts = [t for path in sorted(glob.glob(sys.argv[2] + "/documents/*.parquet"))
         for t in pq.read_table(path, columns=["text"]).column("text").to_pylist()]
print(sum(len(e.ids) for e in tokenizer.encode_batch(texts)))
"""


def train_tokenizer(path: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    lines = gzip.open(WIKITEXT, "rt", encoding="utf-8").read().splitlines()
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(lines, trainers.BpeTrainer(
        vocab_size=8192, special_tokens=["<|endoftext|>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer.save(str(path))


def documents_folder(source: Path, copies: int, target: Path) -> int:
    """`source`'s documents repeated `copies` times under new ids, in 4 files; returns the document count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [r for p in sorted((source / "documents").glob("*.parquet"))
            for r in pq.read_table(p, columns=["id", "text"]).to_pylist()]
    (target / "documents").mkdir(parents=True)
    everything = [{"id": f"{r['id']}#{c}", "text": r["text"]} for c in range(copies) for r in rows]
    step = -(-len(everything) // 4)
    for i in range(4):
        part = everything[i * step:(i + 1) * step]
        pq.write_table(pa.Table.from_pylist(part), target / "documents" / f"part-{i:05d}.parquet")
    (target / "manifest.json").write_text("{}")
    return len(everything)


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """(wall s, CPU s of the process and its children, stdout) of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd[:4])} ... failed:\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", type=Path, help="a finished run (default: run the default config)")
    parser.add_argument("--tokenizer", type=Path, help="tokenizer.json (default: a BPE trained on WikiText-2)")
    parser.add_argument("--copies", type=int, default=150)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--format", default="megatron", choices=("megatron", "dolma"))
    parser.add_argument("--beam-arg", action="append", default=[], help="a Beam option for tokenize (repeatable)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_tokenize_") as tmp:
        tmp = Path(tmp)
        source = args.source
        if source is None:
            source = tmp / "run"
            timed([sys.executable, "-m", "beam_curation", "run", "--output", str(source)])
        tokenizer = args.tokenizer
        if tokenizer is None:
            tokenizer = tmp / "tokenizer.json"
            train_tokenizer(tokenizer)
        docs = documents_folder(source, args.copies, tmp / "docs")

        results: dict[str, list[tuple[float, float, int]]] = {"encode_batch": [], "tokenize": []}
        for _ in range(args.runs):
            wall, cpu, out = timed([sys.executable, "-c", PEER, str(tokenizer), str(tmp / "docs")])
            results["encode_batch"].append((wall, cpu, int(out.strip())))
            wall, cpu, _ = timed([sys.executable, "-m", "beam_curation", "tokenize", "--from", str(tmp / "docs"),
                                  "--tokenizer", str(tokenizer), "--format", args.format,
                                  "--output", str(tmp / "tokens"), *args.beam_arg])
            stats = json.loads((tmp / "tokens" / "stats.json").read_text())
            results["tokenize"].append((wall, cpu, stats["tokens"] - stats["documents"]))

    origin = args.source or "the default run on the bundled sample"
    print(f"{docs:,} documents ({args.copies} copies of {origin}'s), tokenizer {tokenizer.name if args.tokenizer else 'BPE 8,192 (WikiText-2)'}, "
          f"{os.cpu_count()} cores, median of {args.runs} fresh processes\n")
    print("| side | tokens | wall s | CPU s | tokens/s | tokens/s per core |")
    print("|---|---|---|---|---|---|")
    for side, runs in results.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        tokens = runs[0][2]
        label = "`tokenizers` encode_batch (one process)" if side == "encode_batch" else \
            f"`beam-curation tokenize --format {args.format}` {' '.join(args.beam_arg)}".rstrip()
        print(f"| {label} | {tokens:,} | {wall:.2f} | {cpu:.2f} | {tokens / wall:,.0f} | {tokens / cpu:,.0f} |")


if __name__ == "__main__":
    main()
