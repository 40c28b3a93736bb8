"""What the pipeline spends around trafilatura: the sandbox round trip, and everything else in a whole run.

    python scripts/bench.py overhead --pages DIR [--runs 3] [--workers 1 2] [--repo PATH]

1. Sandbox: the extraction dev pages (DIR: a folder of *.html.gz, e.g. extraction_dev) extracted in this process
   (decode + trafilatura.extract, favouring precision as FineWeb does) and through the sandbox as the Extract
   stage uses it (decoded here, sent to the child in batches of `sandbox.BATCH`, the next batch decoded while the
   child works), and one page per round trip as before batching. Median of `--runs` alternating runs; the
   overhead is sandbox / in-process - 1, in wall seconds and in CPU seconds (this process and the child: the
   CPU figure holds on a machine other jobs share, where waking a process adds wall time that is not work).
2. Whole runs: `configs/fineweb.yaml` without dedup on the same pages in 4 Parquet shards, at each worker count
   (beyond 1: the in-process runner's worker threads, or `--mode multi_processing`), with the language gate on (the default) and off
   (`langid.prefilter: false`), each a fresh process. Trafilatura's own seconds come from stats.json (the Extract
   stage times trafilatura.extract in the child); the share of wall time that is not trafilatura is
   1 - trafilatura seconds / (workers x wall seconds), and in CPU seconds of the whole process tree,
   1 - trafilatura seconds / CPU seconds. A run on 4 one-page shards gives the fixed cost.
   `--repo` runs another checkout's pipeline the same way (e.g. the main branch, for before/after).
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
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench_peer import fineweb_command  # noqa: E402


def load_pages(folder: Path) -> list[tuple[str, bytes]]:
    return [(f.name.split(".")[0], gzip.open(f, "rb").read()) for f in sorted(folder.rglob("*.html.gz"))]


def sandbox_overhead(pages: list[tuple[str, bytes]], runs: int) -> dict:
    from beam_curation.filters.text.extract import ExtractOptions, extract_timed, warm_up
    from beam_curation.filters.text.html_decode import decode_html
    from beam_curation.pipeline.runners.sandbox import BATCH, Sandbox  # not beam_curation.pipeline.graph: this process stays free of Beam

    options = ExtractOptions(favor="precision")
    warm_up()
    box = Sandbox(partial(extract_timed, options=options), timeout=600, warmup=warm_up)
    box.start()
    box.map([(("<html><body><p>warm</p></body></html>",), {})])

    def in_process() -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        for _, html in pages:
            extract_timed(html, None, options)
        return time.perf_counter() - started, time.process_time() - cpu

    def batched() -> tuple[float, float]:
        def batches():
            for i in range(0, len(pages), BATCH):
                yield [((decode_html(html), None), {}) for _, html in pages[i:i + BATCH]]

        started, cpu, child = time.perf_counter(), time.process_time(), box.cpu_seconds()
        for _ in box.imap(batches()):
            pass
        return time.perf_counter() - started, time.process_time() - cpu + box.cpu_seconds() - child

    def per_page() -> tuple[float, float]:
        started, cpu, child = time.perf_counter(), time.process_time(), box.cpu_seconds()
        for _, html in pages:
            box.call(html, None)
        return time.perf_counter() - started, time.process_time() - cpu + box.cpu_seconds() - child

    variants = {"in_process": in_process, "sandbox_batched": batched, "sandbox_per_page": per_page}
    timings: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
    for _ in range(runs):  # alternating, so that a busy moment of the machine falls on every variant
        for name, fn in variants.items():
            timings[name].append(fn())
    box.close()
    wall = {k: statistics.median(w for w, _ in v) for k, v in timings.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in timings.items()}
    return {"pages": len(pages), "runs": runs, "batch": BATCH,
            **{f"{k}_wall_s": round(v, 3) for k, v in wall.items()},
            **{f"{k}_cpu_s": round(v, 3) for k, v in cpu.items()},
            **{f"overhead_{k.removeprefix('sandbox_')}_wall": round(wall[k] / wall["in_process"] - 1, 4)
               for k in wall if k != "in_process"},
            **{f"overhead_{k.removeprefix('sandbox_')}_cpu": round(cpu[k] / cpu["in_process"] - 1, 4)
               for k in cpu if k != "in_process"}}


def write_shards(pages: list[tuple[str, bytes]], folder: Path, shards: int = 4, per_shard: int | None = None) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        chunk = pages[s::shards][:per_shard]
        pq.write_table(pa.table({"id": [i for i, _ in chunk], "html": pa.array([h for _, h in chunk], pa.binary())}),
                       folder / f"pages-{s}.parquet")
    return str(folder / "*.parquet")


def whole_run(repo: Path, inputs: str, output: Path, workers: int, gate: bool, mode: str = "in-process") -> dict:
    """One run of configs/fineweb.yaml without dedup in a fresh process: wall seconds and stats.json."""
    args = fineweb_command(inputs, output, workers, mode,
                           ["dedup.enabled=false", *([] if gate else ["langid.prefilter=false"])])
    env = dict(os.environ, PYTHONPATH=str(repo))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the whole tree: driver, workers, sandboxes
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    stats = json.loads((output / "stats.json").read_text())
    return {"wall": wall, "cpu": cpu, "stats": stats}


def run_table(repo: Path, pages: list[tuple[str, bytes]], work: Path, runs: int, workers: list[int],
              gates: tuple[bool, ...] = (True, False), mode: str = "in-process") -> list[dict]:
    inputs = write_shards(pages, work / "pages")
    tiny = write_shards(pages, work / "tiny", per_shard=1)
    rows = []
    for n in workers:
        for gate in gates:
            results, fixed = [], []
            for i in range(runs):
                results.append(whole_run(repo, inputs, work / f"out-{n}-{gate}-{i}", n, gate, mode))
                fixed.append(whole_run(repo, tiny, work / f"tiny-{n}-{gate}-{i}", n, gate, mode)["wall"])
            wall = statistics.median(r["wall"] for r in results)
            cpu = statistics.median(r["cpu"] for r in results)
            stages = results[0]["stats"]["stages"]
            traf = statistics.median(r["stats"]["stages"].get("trafilatura", {}).get("seconds", float("nan"))
                                     for r in results)
            extracted = stages.get("trafilatura", stages.get("extract", {})).get("documents")
            rows.append({"workers": n, "mode": mode if n > 1 else "in-process", "gate": gate, "documents": results[0]["stats"]["input"],
                         "kept": results[0]["stats"]["kept"], "extracted": extracted,
                         "skipped_by_gate": results[0]["stats"]["removed"].get("langid_prefilter", 0),
                         "wall_s": round(wall, 2), "docs_per_s": round(results[0]["stats"]["input"] / wall, 1),
                         "trafilatura_s": round(traf, 2),
                         "not_trafilatura_share": round(1 - traf / (n * wall), 3),
                         "cpu_s": round(cpu, 2), "not_trafilatura_cpu_share": round(1 - traf / cpu, 3),
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
    parser.add_argument("--gate", choices=["both", "on", "off"], default="both",
                        help="whole runs with the language gate on (the default config), off, or both ('on' for a "
                             "checkout that predates the gate)")
    parser.add_argument("--mode", choices=["in-process", "multi_processing"], default="in-process",
                        help="beyond 1 worker: the in-process runner's worker threads, or worker processes")
    parser.add_argument("--skip-sandbox", action="store_true")
    parser.add_argument("--skip-runs", action="store_true")
    args = parser.parse_args(argv)
    pages = load_pages(args.pages)
    if not args.skip_sandbox:
        print(json.dumps({"sandbox": sandbox_overhead(pages, args.runs)}), flush=True)
    if not args.skip_runs:
        with tempfile.TemporaryDirectory() as tmp:
            gates = {"both": (True, False), "on": (True,), "off": (False,)}[args.gate]
            rows = run_table(args.repo.resolve(), pages, Path(tmp), args.runs, args.workers, gates, args.mode)
        ids = {tuple(r["kept_ids"]) for r in rows}
        print(json.dumps({"same_kept_ids_everywhere": len(ids) == 1}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
