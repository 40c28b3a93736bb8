"""Time beam_curation.filters.heuristics.rpv2.SignalComputer on real documents and print milliseconds per 5 KB.

Documents: the DCLM human-labelled Common Crawl texts, the ScrapingHub article bodies and the
cc_net sample from the shared data folder (--data DIR). Two numbers are printed:

* throughput: total compute time over total characters, scaled to 5,000 characters;
* slices: every document of at least 5,000 characters cut to exactly 5,000: mean, median, p90.

Times are process CPU time, best of --repeat runs per document.

Usage: python scripts/bench_signals.py --data DIR [--repeat 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from beam_curation.filters.heuristics.rpv2 import SignalComputer  # noqa: E402

SLICE = 5000


def load_documents(data: Path) -> list[str]:
    sources = [
        (data / "quality_reference" / "dclm_human_quality_majority_only.jsonl", "text"),
        (data / "quality_reference" / "ccnet_en_head_sample_dolma.jsonl", "text"),
        (data / "extraction_dev" / "scrapinghub_gold.jsonl", "articleBody"),
    ]
    docs = []
    for path, field in sources:
        if not path.exists():
            print(f"skipping missing {path}", file=sys.stderr)
            continue
        with path.open(encoding="utf-8") as f:
            docs.extend(t for t in (json.loads(line).get(field) for line in f) if t)
    return docs


def time_docs(sc: SignalComputer, docs: list[str], repeat: int) -> list[float]:
    """Best-of-``repeat`` CPU seconds per document (CPU time: robust to a shared machine)."""
    best = [float("inf")] * len(docs)
    for _ in range(repeat):
        for i, text in enumerate(docs):
            start = time.process_time()
            sc.compute(text, "en")
            best[i] = min(best[i], time.process_time() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the slices")
    args = parser.parse_args()

    docs = load_documents(args.data)
    if not docs:
        sys.exit(f"no documents under {args.data}")
    sc = SignalComputer()
    sc.compute("Warm-up: build the character classes once.\n123", "en")

    seconds = time_docs(sc, docs, args.repeat)
    chars = sum(map(len, docs))
    print(f"{len(sc.names)} signals, {len(docs)} documents, {chars / 1e3:.0f} K chars")
    print(f"throughput: {sum(seconds) / chars * SLICE * 1e3:.3f} ms per 5 KB")

    slices = [d[:SLICE] for d in docs if len(d) >= SLICE]
    if slices:
        ms = sorted(s * 1e3 for s in time_docs(sc, slices, args.repeat))
        p90 = ms[int(0.9 * (len(ms) - 1))]
        print(
            f"5,000-char slices ({len(slices)}): mean {statistics.fmean(ms):.3f} ms, "
            f"median {statistics.median(ms):.3f} ms, p90 {p90:.3f} ms"
        )
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            time_docs(sc, slices, 1)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
