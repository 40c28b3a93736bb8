"""What paragraph dedup adds to a run: CPU seconds of the process and bytes grouped per document, off and on.

    python scripts/bench_paragraphs.py [--docs 5000] [--chars 2000] [--boilerplate 0.5]

Documents are bench_two_phase's (lines of real sentences the repo ships, 5% exact and 5% near copies), each
with probability `--boilerplate` given one of 20 site banners as first line and one of 20 footers as last: the
repeated lines a crawl's pages share. Both runs are in-process (FnApiRunner, one worker), one after the other in
one invocation, with `runner.measure_shuffle` on; CPU seconds are this process's (time.process_time), so
another job on the machine does not count.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

CONFIG = """
input: {{paths: ["{input}"], splits: 1}}
mode: annotate
extract: {{enabled: false}}
langid: {{enabled: true}}
signals: {{enabled: false}}
dedup: {{enabled: true, paragraphs: {{enabled: {paragraphs}}}}}
filters: {{enabled: false}}
runner: {{measure_shuffle: true}}
"""


def with_boilerplate(texts: list[str], share: float, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    banners = [f"Site {i}: we use cookies to improve your experience. Accept all / Settings" for i in range(20)]
    footers = [f"Copyright 2024 Site {i}. All rights reserved. Privacy | Terms | Contact" for i in range(20)]
    out = []
    for text in texts:
        if rng.random() < share:
            site = rng.randrange(20)
            text = f"{banners[site]}\n{text}\n{footers[site]}"
        out.append(text)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=5000)
    parser.add_argument("--chars", type=int, default=2000)
    parser.add_argument("--boilerplate", type=float, default=0.5)
    args = parser.parse_args()

    from bench_two_phase import make_documents, write_shard

    from beam_curation.pipeline.config import load_config
    from beam_curation.pipeline.graph.metrics import shuffle_totals
    from beam_curation.pipeline.run import run

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shard = work / "docs.parquet"
        write_shard(shard, with_boilerplate(make_documents(args.docs, args.chars), args.boilerplate))
        rows = []
        for paragraphs in ("false", "true"):
            config = work / f"p{paragraphs}.yaml"
            config.write_text(CONFIG.format(input=shard, paragraphs=paragraphs))
            out = work / f"out_{paragraphs}"
            cpu, wall = time.process_time(), time.perf_counter()
            summary = run(load_config(config, output_path=str(out)))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            c = summary.counters
            docs = summary.stats["input"]
            row = {"paragraphs": paragraphs == "true", "documents": docs, "cpu_seconds": round(cpu, 2),
                   "wall_seconds": round(wall, 2),
                   "bytes_grouped_per_doc": round(shuffle_totals(c)["bytes"] / docs, 1),
                   "paragraph_bytes_per_doc": round(c.get("shuffled_bytes_paragraphs", 0) / docs, 1)}
            if paragraphs == "true":
                import pyarrow.parquet as pq

                spans = [s for f in sorted((out / "signals").glob("*.parquet"))
                         for s in pq.read_table(f, columns=["dup_paragraph_spans"]).column(0).to_pylist()]
                row["documents_with_repeats"] = sum(bool(s) for s in spans)
                row["repeated_lines"] = sum(len(s or ()) for s in spans)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\nparagraph dedup: {rows[1]['cpu_seconds'] - rows[0]['cpu_seconds']:+.2f} CPU s for {rows[0]['documents']} "
          f"documents, {rows[1]['paragraph_bytes_per_doc']} more bytes grouped per document")


if __name__ == "__main__":
    main()
