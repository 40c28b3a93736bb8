"""Time beam_curation.filters.release.pii on real documents cut to 5,000 characters and print documents per second per core.

Documents: the DCLM human-labelled Common Crawl texts, the cc_net sample and the ScrapingHub article bodies
(as bench_signals.py), and with --eval the labelled set of scripts/build_pii_eval.py (denser in personal
data). Times are process CPU time, best of --repeat runs; configurations: the default kinds (e-mail, IP,
phone with the US region) and every kind.

Usage: python scripts/bench_pii.py --data DIR [--eval /tmp/pii_eval.jsonl] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench_signals import load_documents  # noqa: E402
from beam_curation.filters.release.pii import DEFAULT_KINDS, PII_KINDS, PiiDetector  # noqa: E402

SLICE = 5000


def docs_per_second(detector: PiiDetector, docs: list[str], repeat: int) -> tuple[float, int]:
    best = float("inf")
    found = 0
    for _ in range(repeat):
        start = time.process_time()
        found = sum(len(detector.find(d)) for d in docs)
        best = min(best, time.process_time() - start)
    return len(docs) / best, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--eval", type=Path, help="labelled set from scripts/build_pii_eval.py")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sets = {"real documents": [d[:SLICE] for d in load_documents(args.data) if len(d) >= SLICE]}
    if args.eval:
        with args.eval.open(encoding="utf-8") as f:
            sets["labelled set"] = [t[:SLICE] for t in (json.loads(line)["text"] for line in f) if len(t) >= SLICE]
    for name, docs in sets.items():
        for label, kinds in (("default kinds", DEFAULT_KINDS), ("all kinds", PII_KINDS)):
            rate, found = docs_per_second(PiiDetector(kinds), docs, args.repeat)
            print(f"{name} ({len(docs)} x 5 KB), {label}: {rate:,.0f} documents/s/core ({found} spans)")


if __name__ == "__main__":
    main()
