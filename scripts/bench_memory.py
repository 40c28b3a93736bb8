"""Peak memory of a run on one large text document: what `input.max_text_bytes` is sized from.

    python scripts/bench_memory.py [--mb 5 10 20 50] [--format jsonl|parquet|html] [--config configs/default.yaml]
                                   [--set key=value ...] [--repo PATH]

For each size, a file holding one document of that many megabytes of real English prose (WikiText-2's test
split, bundled for the KenLM model, repeated) plus one short document is run through `beam-curation run`
in a fresh process with `input.max_text_bytes` raised above it (so the document is annotated, not refused;
`--default-cap` leaves the setting alone); `--format html` writes the prose as one HTML page of that size (its
paragraphs in `<p>` elements, a Parquet `html` column) with `extract.max_input_bytes` raised as well, so the
page goes through the extraction child,
and the run's process tree (the driver, Beam's workers, the extraction sandbox) is sampled with psutil every
20 ms: the peak of the tree's summed RSS, and of its largest single process, are printed as JSON lines with
the wall seconds and where the document went. `--repo` runs another checkout's pipeline (e.g. the main
branch, which has no `input.max_text_bytes`: give `--default-cap` with it) for a before/after.

`--per-stage` instead runs the config's stages in this process on one text document of each size and prints,
per stage, tracemalloc's peak above the document while the stage runs (what the stage's working set is as a
multiple of the text; native allocations of fastText and KenLM are not seen).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
PROSE = REPO / "models" / "training_data" / "kenlm_en" / "wikitext2_raw_test.txt.gz"


def prose(size: int) -> str:
    """`size` bytes (UTF-8) of real English paragraphs, repeated as needed."""
    with gzip.open(PROSE, "rt", encoding="utf-8") as handle:
        paragraphs = [line.strip() for line in itertools.islice(handle, 4000)
                      if len(line.split()) >= 20 and not line.startswith(" =")]
    parts, total = [], 0
    for paragraph in itertools.cycle(paragraphs):
        if total >= size:
            break
        parts.append(paragraph)
        total += len(paragraph.encode()) + 2
    return "\n\n".join(parts).encode()[:size].decode("utf-8", errors="ignore")


def html_page(size: int) -> bytes:
    """About `size` bytes of HTML: the prose's paragraphs, each in a `<p>` element."""
    body = "".join(f"<p>{paragraph}</p>\n" for paragraph in prose(size).split("\n\n"))
    return f"<html><head><title>big</title></head><body><article>\n{body}</article></body></html>".encode()


def write_input(folder: Path, size: int, fmt: str) -> Path:
    if fmt == "html":
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = folder / "big.parquet"
        pq.write_table(pa.table({"id": ["big", "small"], "html": pa.array([html_page(size), html_page(4000)],
                                                                           pa.binary())}), path)
        return path
    records = [{"id": "big", "text": prose(size)},
               {"id": "small", "text": prose(4000)}]
    if fmt == "jsonl":
        path = folder / "big.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        return path
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = folder / "big.parquet"
    pq.write_table(pa.Table.from_pylist(records), path)
    return path


def tree_rss(proc: psutil.Process) -> tuple[int, int]:
    """(summed RSS of the process and its descendants, RSS of the largest of them)."""
    sizes = []
    for p in [proc, *proc.children(recursive=True)]:
        try:
            sizes.append(p.memory_info().rss)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return sum(sizes), max(sizes, default=0)


def measure(repo: Path, config: str, path: Path, out: Path, sets: list[str]) -> dict:
    command = [sys.executable, "-m", "beam_curation", "run", "--config", config, "--input", str(path),
               "--output", str(out)]
    for item in sets:
        command += ["--set", item]
    started = time.perf_counter()
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: a chatty run cannot block on it
        proc = subprocess.Popen(command, cwd=repo, stdout=subprocess.DEVNULL, stderr=errors)
        watched = psutil.Process(proc.pid)
        peak_tree = peak_one = 0
        while proc.poll() is None:
            try:
                tree, one = tree_rss(watched)
            except psutil.NoSuchProcess:
                break
            peak_tree, peak_one = max(peak_tree, tree), max(peak_one, one)
            time.sleep(0.02)
        proc.wait()
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    result = {"rc": proc.returncode, "wall_seconds": round(time.perf_counter() - started, 1),
              "peak_tree_mb": round(peak_tree / 2**20), "peak_process_mb": round(peak_one / 2**20)}
    if proc.returncode:
        result["stderr"] = stderr.strip().splitlines()[-1:] if stderr.strip() else []
    else:
        result["outcome"] = where_big_went(out)
    return result


def where_big_went(out: Path) -> str:
    import pyarrow.parquet as pq

    for folder in ("documents", "removed", "errors"):
        for f in sorted((out / folder).glob("*.parquet")):
            table = pq.read_table(f)
            ids = table.column("id").to_pylist()
            if "big" in ids:
                row = table.slice(ids.index("big"), 1).to_pylist()[0]
                why = row.get("removed_by") or (row.get("error") or "")[:80]
                return f"{folder}{': ' + why if why else ''}"
    return "nowhere"


def per_stage(config: str, size: int, sets: list[str]) -> None:
    """Each stage of `config` on one document of `size` bytes of prose: tracemalloc's peak while it runs."""
    import tracemalloc

    from apache_beam.utils.shared import Shared

    from beam_curation.pipeline.config import load_config
    from beam_curation.pipeline.io.document import Doc
    from beam_curation.pipeline.plan import resolve
    from beam_curation.pipeline.stages.base import set_up_stages, tear_down_stages

    stages = resolve(load_config(config, sets)).annotation.build(Shared())
    set_up_stages(stages)
    try:
        for stage in stages:
            stage.ready()
        doc = Doc(shard="big", row=0, id="big", text=prose(size))
        for stage in stages:
            tracemalloc.start()
            started = time.process_time()
            stage.run([doc])
            kept, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(json.dumps({"mb": size / 1e6, "stage": stage.STAGE, "peak_mb": round(peak / 1e6, 1),
                              "peak_x_text": round(peak / size, 1), "kept_mb": round(kept / 1e6, 1),
                              "cpu_seconds": round(time.process_time() - started, 1), "error": doc.error}),
                  flush=True)
    finally:
        tear_down_stages(stages)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, nargs="+", default=[5, 10, 20, 50])
    parser.add_argument("--format", choices=["jsonl", "parquet", "html"], default="jsonl")
    parser.add_argument("--config", default="configs/default.yaml")
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--repo", type=Path, default=REPO)
    parser.add_argument("--default-cap", action="store_true",
                        help="leave input.max_text_bytes at its default: to see the cap at work, or to run a "
                             "checkout without the setting")
    parser.add_argument("--per-stage", action="store_true",
                        help="each stage's working set in this process (tracemalloc), instead of whole runs")
    args = parser.parse_args(argv)
    if args.per_stage:
        for mb in args.mb:
            per_stage(args.config, int(mb * 1_000_000), args.sets)
        return
    repo = args.repo.resolve()
    with tempfile.TemporaryDirectory(prefix="bench_memory_") as tmp:
        for mb in args.mb:
            size = int(mb * 1_000_000)
            folder = Path(tmp) / f"{mb:g}mb"
            folder.mkdir()
            path = write_input(folder, size, args.format)
            sets = list(args.sets)
            if not args.default_cap:
                sets.append(f"input.max_text_bytes={size + 1_000_000}")
                if args.format == "html":
                    sets.append(f"extract.max_input_bytes={size + 1_000_000}")
            result = measure(repo, args.config, path, folder / "out", sets)
            print(json.dumps({"mb": mb, "format": args.format, "repo": str(repo), **result}), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
