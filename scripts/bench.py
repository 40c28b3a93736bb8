"""Whole-process benchmark of the pipeline, with a plain single-process loop as the peer.

    python scripts/bench.py [--dev-pages DIR] [--dev-copies N] [--runs 3] [--workers 2] [--signals]
    python scripts/bench.py signals|fineweb|dedup|classifiers|pii|decontamination|overhead [their options]   # per concern
    python scripts/bench.py peer --data DIR/extraction_dev [--scale] [their options]   # FineWeb's steps vs DataTrove
    python scripts/bench.py shuffle|memory|rerun|plan [their options]          # the two-phase graph's

Inputs: the bundled sample (sample/*.warc.gz) and, when given, real dev pages (a folder of *.html.gz as in
extraction_dev, written to one Parquet shard with an `html` column). Each configuration runs in a fresh
process; figures are the median of `--runs` runs: wall seconds, documents/s, peak RSS of the largest process
(the driver or a worker), and per-stage seconds from stats.json. The peer is what a one-node script does with
the same libraries: trafilatura.extract then fastText language ID in a Python loop, one process.
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PEER = r"""
import os, sys, time, json, gzip, glob
import pyarrow.parquet as pq
import trafilatura, fasttext
from beam_curation.filters.models.langid import default_model_path, prepare
from warcio.archiveiterator import ArchiveIterator
paths = sys.argv[1:]
pages = []
for p in paths:
    if p.endswith(".parquet"):
        t = pq.read_table(p).to_pylist()
        pages += [(r["html"], r.get("url")) for r in t]
    else:
        for rec in ArchiveIterator(open(p, "rb")):
            if rec.rec_type == "response" and "html" in (rec.http_headers.get_header("Content-Type") or ""):
                pages.append((rec.content_stream().read(), rec.rec_headers.get_header("WARC-Target-URI")))
model = fasttext.load_model(str(default_model_path()))
signals = None
if os.environ.get("BENCH_SIGNALS") == "1":
    from beam_curation.filters.heuristics.rpv2 import SignalComputer
    signals = SignalComputer()
out = []
for html, url in pages:
    text = trafilatura.extract(html, url=url) or ""
    if text.strip():
        lang = model.predict([prepare(text)], k=1)[0][0][0].removeprefix("__label__")
        out.append(signals.compute(text, lang) if signals else lang)
print(json.dumps({"documents": len(pages)}))
"""

CONFIG = """
input: {{paths: [{inputs}], splits: {splits}}}
mode: filter
extract: {{enabled: true, timeout_seconds: 30}}
langid: {{enabled: true, min_score: 0.5}}
signals: {{enabled: {signals}}}
dedup: {{enabled: false}}
filters: {{enabled: true, rules: []}}
"""


def timed(cmd: list[str], cwd: Path, extra_env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in MB of the largest process the command started, stdout."""
    wrapper = ("import resource, subprocess, sys, json, time; t=time.perf_counter(); "
               "p=subprocess.run(sys.argv[1:], capture_output=True, text=True); "
               "w=time.perf_counter()-t; r=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss; "
               "print(json.dumps({'wall': w, 'rss_kb': r, 'code': p.returncode, 'out': p.stdout, 'err': p.stderr[-3000:]}))")
    env = dict(os.environ, PYTHONPATH=str(REPO), **(extra_env or {}))
    result = json.loads(subprocess.run([sys.executable, "-c", wrapper, *cmd], cwd=cwd, env=env,
                                       capture_output=True, text=True, check=True).stdout)
    if result["code"] != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{result['err']}")
    return result["wall"], result["rss_kb"] // 1024, result["out"]


def pages_shard(folder: Path, target: Path, copies: int = 1) -> int:
    """One Parquet shard of the folder's pages, `copies` times over (distinct ids), so fixed costs amortise.

    Row groups of 100 pages (~10 MB of HTML), as HTML datasets are commonly written, so `input.splits` can
    divide the file by row group."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(folder.rglob("*.html.gz"))
    pages = [gzip.open(f, "rb").read() for f in files]
    pq.write_table(pa.table({"id": [f"{c}/{f.name}" for c in range(copies) for f in files],
                             "html": pa.array(pages * copies, pa.binary())}), target, row_group_size=100)
    return len(files) * copies


def bench_input(name: str, inputs: list[str], runs: int, runner_args: list[str], work: Path,
                signals: bool, splits: int = 1) -> dict:
    config = work / f"{name}.yaml"
    config.write_text(CONFIG.format(inputs=", ".join(json.dumps(i) for i in inputs),
                                    signals=str(signals).lower(), splits=splits))
    rows = []
    for i in range(runs):
        out = work / f"{name}-out-{i}"
        wall, rss, _ = timed([sys.executable, "-m", "beam_curation", "run", "--config", str(config), "--output", str(out),
                              "--log-level", "WARNING", *runner_args], REPO)
        stats = json.loads((out / "stats.json").read_text())
        rows.append({"wall": wall, "rss_mb": rss, "docs": stats["input"], "stages": stats["stages"]})
    peer = []
    for _ in range(runs):
        wall, rss, _ = timed([sys.executable, "-c", PEER, *inputs], REPO, {"BENCH_SIGNALS": "1" if signals else "0"})
        peer.append({"wall": wall, "rss_mb": rss})
    docs = rows[0]["docs"]
    median_wall = statistics.median(r["wall"] for r in rows)
    peer_wall = statistics.median(r["wall"] for r in peer)
    stages = {s: round(statistics.median(r["stages"][s]["seconds"] for r in rows), 3) for s in rows[0]["stages"]}
    return {"input": name, "documents": docs, "runs": runs, "runner": " ".join(runner_args) or "in-memory",
            "input.splits": splits,
            "wall_s": round(median_wall, 2), "docs_per_s": round(docs / median_wall, 1),
            "peak_rss_mb": statistics.median(r["rss_mb"] for r in rows), "stage_seconds": stages,
            "peer_wall_s": round(peer_wall, 2), "peer_docs_per_s": round(docs / peer_wall, 1),
            "peer_peak_rss_mb": statistics.median(r["rss_mb"] for r in peer),
            "speed_vs_peer": round(peer_wall / median_wall, 2)}


SUITES = {"signals": "bench_signals.py", "fineweb": "bench_fineweb.py", "dedup": "bench_dedup.py",
          "classifiers": "bench_classifiers.py", "pii": "bench_pii.py",
          "decontamination": "bench_decontamination.py", "overhead": "bench_overhead.py", "peer": "bench_peer.py"}
TWO_PHASE = ("shuffle", "memory", "rerun", "plan")  # scripts/bench_two_phase.py


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in TWO_PHASE:
        import runpy

        script = Path(__file__).resolve().parent / "bench_two_phase.py"
        sys.argv = [str(script), *sys.argv[1:]]
        runpy.run_path(str(script), run_name="__main__")
        return
    if len(sys.argv) > 1 and sys.argv[1] in SUITES:
        import runpy

        script = Path(__file__).resolve().parent / SUITES[sys.argv[1]]
        sys.argv = [str(script), *sys.argv[2:]]
        runpy.run_path(str(script), run_name="__main__")
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev-pages", type=Path, help="folder with *.html.gz pages (e.g. extraction_dev)")
    parser.add_argument("--dev-copies", type=int, default=1, help="repeat the dev pages N times in the shard")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--signals", action="store_true", help="also compute every RedPajama-V2 signal")
    args = parser.parse_args()
    runner = ["--direct_running_mode=multi_processing", f"--direct_num_workers={args.workers}"]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sample = sorted(str(p) for p in (REPO / "sample").glob("*.warc.gz"))
        results.append(bench_input("bundled-sample", sample, args.runs, runner, work, args.signals))
        print(json.dumps(results[-1], indent=1), flush=True)
        if args.dev_pages:
            shard = work / "dev_pages.parquet"
            pages_shard(args.dev_pages, shard, args.dev_copies)
            # One shard: read it as interleaved slices so every worker extracts (input.splits).
            results.append(bench_input("dev-pages", [str(shard)], args.runs, runner, work, args.signals,
                                       splits=2 * args.workers))
            print(json.dumps(results[-1], indent=1), flush=True)


if __name__ == "__main__":
    main()
