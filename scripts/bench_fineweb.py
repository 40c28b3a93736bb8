"""Throughput of the FineWeb chain here vs DataTrove's four filters, on the same real documents.

Ours: ``beam_curation.filters.heuristics.fineweb_chain.fineweb_decision`` (computes every signal, tokenizing each text once),
with a fresh tokenizer (cold chunk cache) and then a second pass (warm cache, as in a long run).
DataTrove: GopherRepetitionFilter -> GopherQualityFilter -> C4QualityFilter(filter_no_terminal_punct=False)
-> FineWebQualityFilter, stopping at the first removal as DataTrove does, run in its own virtualenv.
Both time only the filtering, not text extraction.

    .venv/bin/python scripts/bench_fineweb.py --data DIR [--datatrove-python VENV/bin/python]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import compare_datatrove  # noqa: E402
import datatrove_env  # noqa: E402

from beam_curation.filters.heuristics.fineweb_chain import fineweb_decision  # noqa: E402
from beam_curation.filters.text.word_tokens import EnglishWordTokenizer  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datatrove-python", help="python of a virtualenv with DataTrove (default: created)")
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N documents")
    parser.add_argument("--skip-datatrove", action="store_true")
    args = parser.parse_args(argv)

    texts = [t for _, t in compare_datatrove.load_corpus(args.data)]
    if args.limit:
        texts = texts[: args.limit]
    n, chars = len(texts), sum(map(len, texts))
    print(f"{n} documents, {chars / 1e6:.2f} M characters")

    tokenizer = EnglishWordTokenizer()
    fineweb_decision(texts[0], tokenizer=tokenizer)  # load spaCy
    tokenizer = EnglishWordTokenizer()
    timings = {}
    for label in ("cold cache", "warm cache"):
        start = time.perf_counter()
        for text in texts:
            fineweb_decision(text, tokenizer=tokenizer)
        timings[label] = time.perf_counter() - start
        print(f"ours ({label}): {timings[label]:.2f}s = {n / timings[label]:.1f} docs/s")
    if args.skip_datatrove:
        return 0
    _, theirs = compare_datatrove.run_datatrove(datatrove_env.datatrove_python(args.datatrove_python), texts)
    print(f"DataTrove: {theirs:.2f}s = {n / theirs:.1f} docs/s")
    for label, seconds in timings.items():
        print(f"speed-up ({label}): {theirs / seconds:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
