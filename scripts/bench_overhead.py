"""What the pipeline spends around trafilatura: the sandbox round trip, and everything else in a whole run.

    python scripts/bench.py overhead --pages DIR [--runs 3] [--workers 1 2] [--repo PATH]

1. Sandbox: the extraction dev pages (DIR: a folder of *.html.gz, e.g. extraction_dev) extracted in this process
   (decode + trafilatura.extract, favouring precision as FineWeb does) and through the sandbox as the Extract
   stage uses it (decoded here, sent to the child in batches of `Extract.BATCH`, the next batch decoded while the
   child works), and one page per round trip as before batching. Median of `--runs` alternating runs; the
   overhead is sandbox wall / in-process wall - 1.
2. Whole runs: `configs/fineweb.yaml` without dedup on the same pages in 4 Parquet shards, at each worker count
   (Beam's multi_processing mode beyond 1), with the language gate on (the default) and off
   (`langid.prefilter: false`), each a fresh process. Trafilatura's own seconds come from stats.json (the Extract
   stage times trafilatura.extract in the child); the share of wall time that is not trafilatura is
   1 - trafilatura seconds / (workers x wall seconds). A run on 4 one-page shards gives the fixed cost.
   `--repo` runs another checkout's pipeline the same way (e.g. the main branch, for before/after).
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
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def load_pages(folder: Path) -> list[tuple[str, bytes]]:
    return [(f.name.split(".")[0], gzip.open(f, "rb").read()) for f in sorted(folder.rglob("*.html.gz"))]


def sandbox_overhead(pages: list[tuple[str, bytes]], runs: int) -> dict:
    from filters.text.extract import ExtractOptions, extract_timed, warm_up
    from filters.text.html_decode import decode_html
    from pipeline.graph.stages import Extract
    from pipeline.runners.sandbox import Sandbox

    options = ExtractOptions(favor="precision")
    warm_up()
    box = Sandbox(partial(extract_timed, options=options), timeout=600, warmup=warm_up)
    box.start()
    box.map([(("<html><body><p>warm</p></body></html>",), {})])

    def in_process() -> tuple[float, float]:
        started, inside = time.perf_counter(), 0.0
        for _, html in pages:
            inside += extract_timed(html, None, options)[1]
        return time.perf_counter() - started, inside

    def batched() -> tuple[float, float]:
        def batches():
            for i in range(0, len(pages), Extract.BATCH):
                yield [((decode_html(html), None), {}) for _, html in pages[i:i + Extract.BATCH]]

        started = time.perf_counter()
        results = [r for out in box.imap(batches()) for r in out]
        return time.perf_counter() - started, sum(r[1] for r in results)

    def per_page() -> tuple[float, float]:
        started, inside = time.perf_counter(), 0.0
        for _, html in pages:
            inside += box.call(html, None)[1]
        return time.perf_counter() - started, inside

    timings: dict[str, list[tuple[float, float]]] = {"in_process": [], "sandbox_batched": [], "sandbox_per_page": []}
    for _ in range(runs):  # alternating, so that a busy moment of the machine falls on every variant
        timings["in_process"].append(in_process())
        timings["sandbox_batched"].append(batched())
        timings["sandbox_per_page"].append(per_page())
    box.close()
    median = {k: statistics.median(w for w, _ in v) for k, v in timings.items()}
    return {"pages": len(pages), "runs": runs,
            **{f"{k}_wall_s": round(v, 3) for k, v in median.items()},
            "trafilatura_s": round(statistics.median(t for _, t in timings["in_process"]), 3),
            "overhead_batched": round(median["sandbox_batched"] / median["in_process"] - 1, 4),
            "overhead_per_page": round(median["sandbox_per_page"] / median["in_process"] - 1, 4)}


def write_shards(pages: list[tuple[str, bytes]], folder: Path, shards: int = 4, per_shard: int | None = None) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        chunk = pages[s::shards][:per_shard]
        pq.write_table(pa.table({"id": [i for i, _ in chunk], "html": pa.array([h for _, h in chunk], pa.binary())}),
                       folder / f"pages-{s}.parquet")
    return str(folder / "*.parquet")


def whole_run(repo: Path, inputs: str, output: Path, workers: int, gate: bool) -> dict:
    """One run of configs/fineweb.yaml without dedup in a fresh process: wall seconds and stats.json."""
    args = [sys.executable, "-m", "pipeline", "run", "--config", "configs/fineweb.yaml", "--input", inputs,
            "--output", str(output), "--set", "dedup.enabled=false", "--log-level", "WARNING"]
    if not gate:
        args += ["--set", "langid.prefilter=false"]
    if workers > 1:
        args += ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
    env = dict(os.environ, PYTHONPATH=str(repo))
    started = time.perf_counter()
    done = subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    stats = json.loads((output / "stats.json").read_text())
    return {"wall": wall, "stats": stats}


def run_table(repo: Path, pages: list[tuple[str, bytes]], work: Path, runs: int, workers: list[int]) -> list[dict]:
    inputs = write_shards(pages, work / "pages")
    tiny = write_shards(pages, work / "tiny", per_shard=1)
    rows = []
    for n in workers:
        for gate in (True, False):
            results, fixed = [], []
            for i in range(runs):
                results.append(whole_run(repo, inputs, work / f"out-{n}-{gate}-{i}", n, gate))
                fixed.append(whole_run(repo, tiny, work / f"tiny-{n}-{gate}-{i}", n, gate)["wall"])
            wall = statistics.median(r["wall"] for r in results)
            stages = results[0]["stats"]["stages"]
            traf = statistics.median(r["stats"]["stages"].get("trafilatura", {}).get("seconds", float("nan"))
                                     for r in results)
            extracted = stages.get("trafilatura", stages.get("extract", {})).get("documents")
            rows.append({"workers": n, "gate": gate, "documents": results[0]["stats"]["input"],
                         "kept": results[0]["stats"]["kept"], "extracted": extracted,
                         "skipped_by_gate": results[0]["stats"]["removed"].get("langid_prefilter", 0),
                         "wall_s": round(wall, 2), "docs_per_s": round(results[0]["stats"]["input"] / wall, 1),
                         "trafilatura_s": round(traf, 2),
                         "not_trafilatura_share": round(1 - traf / (n * wall), 3),
                         "fixed_cost_s": round(statistics.median(fixed), 2),
                         "kept_ids": sorted_ids(work / f"out-{n}-{gate}-0")})
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "kept_ids"}), flush=True)
    return rows


def sorted_ids(output: Path) -> list[str]:
    import pyarrow.parquet as pq

    return sorted(i for f in sorted((output / "documents").glob("*.parquet"))
                  for i in pq.read_table(f, columns=["id"]).column("id").to_pylist())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=Path, required=True, help="folder of *.html.gz pages (e.g. extraction_dev)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout whose pipeline runs (default: this one)")
    parser.add_argument("--skip-sandbox", action="store_true")
    parser.add_argument("--skip-runs", action="store_true")
    args = parser.parse_args(argv)
    pages = load_pages(args.pages)
    if not args.skip_sandbox:
        print(json.dumps({"sandbox": sandbox_overhead(pages, args.runs)}), flush=True)
    if not args.skip_runs:
        with tempfile.TemporaryDirectory() as tmp:
            rows = run_table(args.repo.resolve(), pages, Path(tmp), args.runs, args.workers)
        ids = {tuple(r["kept_ids"]) for r in rows}
        print(json.dumps({"same_kept_ids_everywhere": len(ids) == 1}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
