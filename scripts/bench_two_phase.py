"""Benchmarks of the two-phase graph: bytes shuffled per document, worker memory against shard size, the speed of
a decision-only rerun, and planning at Common Crawl scale.

    python scripts/bench.py shuffle [--docs 2000]            # bytes grouped per document, 2 KB vs 50 KB documents
    python scripts/bench.py memory [--small 10000 --large 100000] [--dedup]   # worker peak RSS, one shard of each size
    python scripts/bench.py rerun --dev-pages DIR [--copies 4 --runs 3]   # full FineWeb run vs rules-only rerun
    python scripts/bench.py plan [--files 90000]             # planning a Common Crawl dump's worth of paths

Whole-process figures (a fresh `beam-curation run` per measurement), medians over `--runs`. Documents are
made from text the repo ships (models/training_data: WikiText-2, Gutenberg), so no data folder is needed
except for `rerun`, which uses real HTML pages (extraction_dev).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

SHUFFLE_CONFIG = """
input: {{paths: ["{input}"], splits: 1}}
mode: filter
extract: {{enabled: false}}
langid: {{enabled: true, min_score: 0.3}}
signals: {{enabled: true, names: [rps_doc_word_count, rps_doc_mean_word_length]}}
dedup: {{enabled: true, num_perm: 128, threshold: 0.7}}
filters: {{enabled: true, rules: [{{name: min_words, keep: "rps_doc_word_count >= 50"}}]}}
runner: {{measure_shuffle: true}}
"""

MEMORY_CONFIG = """
input: {{paths: ["{input}"]}}
mode: filter
extract: {{enabled: false}}
langid: {{enabled: true}}
signals: {{enabled: true, names: [rps_doc_word_count, rps_doc_mean_word_length, rps_doc_frac_unique_words]}}
dedup: {{enabled: {dedup}}}
output: {{rows_per_file: 0}}
filters: {{enabled: true, rules: [{{name: min_words, keep: "rps_doc_word_count >= 50"}}]}}
"""

# The same shape of work in plain Beam: one element whose DoFn emits `records` small (key, value) pairs into a
# GroupByKey. On the local multi_processing runner the worker's peak grows with the records one bundle sends to
# a grouping, whatever the DoFn does; this measures that baseline.
RUNNER_BASELINE = r"""
import os, sys
import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
n = int(sys.argv[1])
def emit(_):
    for i in range(n):
        yield (os.urandom(12), i)
p = beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(["--direct_running_mode=multi_processing",
                                                                 "--direct_num_workers=1"]))
p | beam.Create([0]) | beam.FlatMap(emit) | beam.GroupByKey() | beam.Map(lambda kv: None)
p.run().wait_until_finish()
"""


def _shipped_sentences() -> list[str]:
    """Sentences of the text the repo ships for its models (WikiText-2 and Gutenberg)."""
    import re

    data = REPO / "models" / "training_data" / "kenlm_en"
    sentences = []
    for path in sorted(data.rglob("*.txt.gz")):
        text = " ".join(gzip.open(path, "rt", encoding="utf-8").read().split())
        sentences += [s for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) >= 5]
    return sentences


def make_documents(n: int, size: int, seed: int = 0, copies: float = 0.05) -> list[str]:
    """n documents of about `size` characters, each a random sample of real sentences in lines of a few
    sentences, plus `copies` of exact and as many of near copies (a few words changed) of earlier documents:
    the same duplicate structure at any size."""
    import random

    sentences = _shipped_sentences()
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        if docs and rng.random() < copies:
            docs.append(docs[rng.randrange(len(docs))])
            continue
        if docs and rng.random() < copies:
            words = docs[rng.randrange(len(docs))].split(" ")
            for _ in range(max(1, len(words) // 50)):
                words[rng.randrange(len(words))] = rng.choice(["alpha", "beta", "gamma"])
            docs.append(" ".join(words))
            continue
        lines, length = [], 0
        while length < size:
            line = " ".join(rng.choice(sentences) for _ in range(rng.randint(1, 4)))
            lines.append(line)
            length += len(line) + 1
        docs.append("\n".join(lines)[:size])
    return docs


def write_shard(path: Path, texts: list[str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    import uuid

    # WARC-Record-ID-style ids (47 characters), the longest common kind: ids travel once through dedup
    ids = [f"<urn:uuid:{uuid.UUID(int=i * 0x9E3779B97F4A7C15 % (1 << 128))}>" for i in range(len(texts))]
    pq.write_table(pa.table({"id": ids, "text": texts}), path, row_group_size=1000)


def run_cli(config: Path, output: Path, *args: str) -> tuple[float, dict]:
    """Wall seconds of one whole `beam-curation run`, and its stats.json."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "beam_curation", "run", "--config", str(config), "--output",
                           str(output), "--log-level", "WARNING", *args], cwd=REPO, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"run failed:\n{proc.stderr[-3000:]}")
    return wall, json.loads((output / "stats.json").read_text())


def bench_shuffle(args) -> None:
    """Bytes grouped per document, by grouping, for 2 KB and 50 KB documents (in-process runner)."""
    from beam_curation.pipeline.config import load_config
    from beam_curation.pipeline.graph.metrics import shuffle_totals
    from beam_curation.pipeline.run import run

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for size in (2_000, 50_000):
            shard = work / f"docs{size}.parquet"
            write_shard(shard, make_documents(args.docs, size))  # same seed: the same duplicate structure
            config = work / f"shuffle{size}.yaml"
            config.write_text(SHUFFLE_CONFIG.format(input=shard))
            summary = run(load_config(config, output_path=str(work / f"out{size}")))
            c = summary.counters
            docs = summary.stats["input"]
            totals = shuffle_totals(c)
            labels = sorted({k[len("shuffled_bytes_"):] for k in c if k.startswith("shuffled_bytes_")})
            rows.append({"document_chars": size, "documents": docs, "kept": summary.stats["kept"],
                         "bytes_per_doc": round(totals["bytes"] / docs, 1),
                         "records_per_doc": round(totals["records"] / docs, 2),
                         "by_grouping": {label: round(c[f"shuffled_bytes_{label}"] / docs, 1) for label in labels}})
            print(json.dumps(rows[-1]), flush=True)
    ratio = rows[1]["bytes_per_doc"] / rows[0]["bytes_per_doc"]
    print(f"\nbytes shuffled per document: {rows[0]['bytes_per_doc']} (2 KB) vs {rows[1]['bytes_per_doc']} (50 KB): "
          f"ratio {ratio:.3f}")


def _worker_peak(cmd: list[str], env: dict | None = None) -> tuple[float, float]:
    """(wall s, peak RSS in MB of the Beam worker processes) of one command."""
    from bench_dedup import _RssPoller

    started = time.perf_counter()
    with _RssPoller(interval=0.2) as rss:
        subprocess.run(cmd, cwd=REPO, env=env or dict(os.environ, PYTHONPATH=str(REPO)), check=True,
                       capture_output=True)
    workers = [kb for cmd_, kb in rss.peak.values() if "sdk_worker" in cmd_]
    return time.perf_counter() - started, (max(workers) / 1024 if workers else float("nan"))


def bench_memory(args) -> None:
    """Peak RSS of the worker process for one shard of `--small` and of `--large` documents (1 worker)."""
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for n in (args.small, args.large):
            shard = work / f"shard{n}.parquet"
            write_shard(shard, make_documents(n, args.chars, seed=n))
            config = work / f"memory{n}.yaml"
            config.write_text(MEMORY_CONFIG.format(input=shard, dedup=str(args.dedup).lower()))
            runs = [_worker_peak([sys.executable, "-m", "beam_curation", "run", "--config", str(config), "--output",
                                  str(work / f"out{n}-{i}"), "--log-level", "WARNING",
                                  "--direct_running_mode=multi_processing", "--direct_num_workers=1"])
                    for i in range(args.runs)]
            results[n] = {"documents": n, "dedup": args.dedup, "wall_s": round(statistics.median(r[0] for r in runs), 1),
                          "worker_peak_mb": round(statistics.median(r[1] for r in runs))}
            if args.dedup:  # what the local runner itself costs for as many grouped records as dedup sends
                records = round(n * args.records_per_doc)
                _, baseline = _worker_peak([sys.executable, "-c", RUNNER_BASELINE, str(records)])
                results[n]["plain_beam_worker_peak_mb_for_the_same_records"] = round(baseline)
            print(json.dumps(results[n]), flush=True)
    small, large = results[args.small], results[args.large]
    print(f"\nworker peak: {small['worker_peak_mb']} MB ({args.small} docs) vs {large['worker_peak_mb']} MB "
          f"({args.large} docs): x{large['worker_peak_mb'] / small['worker_peak_mb']:.2f}")


def bench_rerun(args) -> None:
    """configs/fineweb.yaml on the dev pages x copies: the full run, then a rerun that changes only rules."""
    from bench import pages_shard

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shard = work / "dev_pages.parquet"
        docs = pages_shard(args.dev_pages, shard, args.copies)
        fineweb = REPO / "configs" / "fineweb.yaml"
        full, rerun = [], []
        for i in range(args.runs):
            out = work / f"out{i}"
            wall, _ = run_cli(fineweb, out, "--input", str(shard))
            full.append(wall)
            wall, stats = run_cli(fineweb, out, "--input", str(shard),
                                  "--set", "filters.rules=[{name: long, keep: \"gopher_word_count >= 100\"}]")
            assert stats["this_run"]["tasks_annotated"] == 0, stats["this_run"]
            rerun.append(wall)
        f, r = statistics.median(full), statistics.median(rerun)
        print(json.dumps({"documents": docs, "runs": args.runs, "full_run_s": round(f, 2),
                          "rules_only_rerun_s": round(r, 2), "speedup": round(f / r, 1)}))


def bench_plan(args) -> None:
    """Planning `--files` Common Crawl-style WARC paths: matching, naming, the task file."""
    from beam_curation.pipeline.config import parse_config
    from beam_curation.pipeline.io.shards import plan_shards, read_tasks, write_plan

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "crawl"
        folder.mkdir()
        for i in range(args.files):
            (folder / f"CC-MAIN-20241201{i // 1000:06d}-{i:05d}.warc.gz").touch()
        config = parse_config({"input": {"paths": [str(folder / "*.warc.gz")]}, "output": {"path": str(Path(tmp) / "o")}})
        started = time.perf_counter()
        shards = plan_shards(config)
        planned = time.perf_counter() - started
        write_plan(config.output.path, read_tasks(shards, 1))
        total = time.perf_counter() - started
        print(json.dumps({"files": len(shards), "plan_s": round(planned, 2), "plan_and_task_file_s": round(total, 2)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("shuffle")
    p.add_argument("--docs", type=int, default=2000)
    p = sub.add_parser("memory")
    p.add_argument("--small", type=int, default=10_000)
    p.add_argument("--large", type=int, default=100_000)
    p.add_argument("--chars", type=int, default=2_000)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--dedup", action="store_true", help="with dedup on (and the plain-Beam baseline beside it)")
    p.add_argument("--records-per-doc", type=float, default=21.0, help="grouped records a document (bench shuffle)")
    p = sub.add_parser("rerun")
    p.add_argument("--dev-pages", type=Path, required=True, help="folder with *.html.gz pages (extraction_dev)")
    p.add_argument("--copies", type=int, default=4)
    p.add_argument("--runs", type=int, default=3)
    p = sub.add_parser("plan")
    p.add_argument("--files", type=int, default=90_000)
    args = parser.parse_args()
    {"shuffle": bench_shuffle, "memory": bench_memory, "rerun": bench_rerun, "plan": bench_plan}[args.what](args)


if __name__ == "__main__":
    main()
