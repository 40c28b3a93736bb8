"""Extraction quality through the pipeline vs the extraction library alone, on pages with gold snippets.

    python scripts/eval_extraction.py --data DATA_DIR/extraction_dev [--backend trafilatura resiliparse] [--runner-args ...]

Scores the trafilatura-eval pages as trafilatura's own evaluation does: a `with` snippet found in the output
is a true positive, a `without` snippet found is a false positive; precision, recall and F1 over all snippets.
`--backend` picks `extract.backend` for the pipeline run and the library scored alone (trafilatura.extract, or
Resiliparse's main-content extraction, each with its defaults); pages/s is that library alone, one process.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def load_pages(data: Path) -> list[dict]:
    pages = []
    for line in (data / "trafilatura_gold.jsonl").read_text().splitlines():
        record = json.loads(line)
        record["html"] = gzip.open(data / record["html_file"], "rb").read()
        pages.append(record)
    return pages


def snippet_scores(pages: list[dict], outputs: dict[str, str]) -> dict[str, float]:
    tp = fn = fp = tn = 0
    for page in pages:
        text = outputs.get(page["id"]) or ""
        for snippet in page["with"]:
            tp, fn = (tp + 1, fn) if snippet in text else (tp, fn + 1)
        for snippet in page["without"]:
            fp, tn = (fp + 1, tn) if snippet in text else (fp, tn + 1)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "accuracy": (tp + tn) / (tp + tn + fp + fn)}


def write_shard(pages: list[dict], path: Path) -> None:
    table = pa.table({"id": [p["id"] for p in pages], "url": [p["url"] for p in pages],
                      "html": pa.array([p["html"] for p in pages], pa.binary())})
    pq.write_table(table, path)


def pipeline_outputs(pages: list[dict], workdir: Path, runner_args: list[str], overrides: list[str] = ()) -> dict:
    """Run the pipeline (annotate mode, extraction only) over the pages; id -> extracted text."""
    from beam_curation.pipeline.cli import main

    shard = workdir / "pages.parquet"
    write_shard(pages, shard)
    config = workdir / "extract_only.yaml"
    config.write_text("mode: annotate\nextract: {enabled: true, timeout_seconds: 30}\nlangid: {enabled: false}\n"
                      "signals: {enabled: false}\ndedup: {enabled: false}\nfilters: {enabled: false}\n")
    out = workdir / "out"
    sets = [a for o in overrides for a in ("--set", o)]
    code = main(["run", "--config", str(config), "--input", str(shard), "--output", str(out), *sets, *runner_args])
    if code:
        raise SystemExit(f"pipeline failed with exit code {code}")
    texts = {}
    for folder in ("documents", "removed"):
        for path in (out / folder).glob("*.parquet"):  # a folder with nothing has no file
            for row in pq.read_table(path, columns=["id", "text"]).to_pylist():
                texts[row["id"]] = row["text"]
    return texts


def raw_outputs(pages: list[dict], backend: str = "trafilatura") -> tuple[dict[str, str], float]:
    """id -> text from the library alone with its defaults, and the seconds it took (imports excluded)."""
    if backend == "resiliparse":
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.encoding import bytes_to_str, detect_encoding

        def extract(page: dict) -> str:
            return extract_plain_text(bytes_to_str(page["html"], detect_encoding(page["html"])), main_content=True)
    else:
        import trafilatura

        def extract(page: dict) -> str:
            return trafilatura.extract(page["html"], url=page["url"]) or ""
    start = time.perf_counter()
    outputs = {p["id"]: extract(p) for p in pages}
    return outputs, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--backend", nargs="+", choices=("trafilatura", "resiliparse"), default=["trafilatura"],
                        help="extract.backend(s) of the pipeline run and the library scored alone, one after another")
    parser.add_argument("--skip-raw", action="store_true", help="do not score the library alone")
    args, runner_args = parser.parse_known_args(argv)
    pages = load_pages(args.data)
    for backend in args.backend:
        with tempfile.TemporaryDirectory() as tmp:
            outputs = pipeline_outputs(pages, Path(tmp), runner_args, [f"extract.backend={backend}"])
        print(json.dumps({"pages": len(pages), "backend": backend, "pipeline": snippet_scores(pages, outputs)},
                         indent=1))
        if not args.skip_raw:
            raw, seconds = raw_outputs(pages, backend)
            print(json.dumps({f"{backend} alone": snippet_scores(pages, raw), "seconds": round(seconds, 2),
                              "pages_per_s": round(len(pages) / seconds, 1)}, indent=1))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
