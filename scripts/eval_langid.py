"""Language ID through the pipeline vs the raw fastText model, on labelled sentences.

    python scripts/eval_langid.py --data DATA_DIR/langid_dev/lingua_sentences_dev.tsv

Only languages the model knows are scored (lid.176 has no label for lg, mi, sn, st, tn, ts, xh, zu); the
Norwegian Bokmål label `nb` is fastText's `no`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

UNSUPPORTED = {"lg", "mi", "sn", "st", "tn", "ts", "xh", "zu"}
GOLD_TO_MODEL = {"nb": "no"}


def load_sentences(path: Path) -> list[tuple[str, str]]:
    rows = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if i == 0 or not line.strip():
            continue
        lang, text = line.split("\t", 1)
        if lang not in UNSUPPORTED:
            rows.append((GOLD_TO_MODEL.get(lang, lang), text))
    return rows


def accuracy(gold: list[str], predicted: list[str]) -> float:
    return sum(g == p for g, p in zip(gold, predicted)) / len(gold)


def pipeline_predictions(rows: list[tuple[str, str]], workdir: Path, runner_args: list[str]) -> list[str]:
    from beam_curation.pipeline.cli import main

    shard = workdir / "sentences.parquet"
    pq.write_table(pa.table({"id": [f"s{i:06d}" for i in range(len(rows))], "text": [t for _, t in rows]}), shard)
    config = workdir / "langid_only.yaml"
    config.write_text("mode: annotate\nextract: {enabled: false}\n"
                      "langid: {enabled: true}\nsignals: {enabled: false}\ndedup: {enabled: false}\n"
                      "filters: {enabled: false}\n")
    out = workdir / "out"
    if main(["run", "--config", str(config), "--input", str(shard), "--output", str(out), *runner_args]):
        raise SystemExit("pipeline failed")
    by_id = {}
    for folder in ("documents", "removed"):
        for path in (out / folder).glob("*.parquet"):  # a folder with nothing has no file
            for row in pq.read_table(path, columns=["id", "language"]).to_pylist():
                by_id[row["id"]] = row["language"] or ""
    return [by_id.get(f"s{i:06d}", "") for i in range(len(rows))]


def raw_predictions(rows: list[tuple[str, str]]) -> list[str]:
    import fasttext

    from beam_curation.filters.models.langid import default_model_path

    model = fasttext.load_model(str(default_model_path()))
    labels, _ = model.predict([" ".join(t.split()) for _, t in rows], k=1)
    return [label[0].removeprefix("__label__") for label in labels]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    args, runner_args = parser.parse_known_args(argv)
    rows = load_sentences(args.data)
    gold = [g for g, _ in rows]
    with tempfile.TemporaryDirectory() as tmp:
        ours = accuracy(gold, pipeline_predictions(rows, Path(tmp), runner_args))
    print(json.dumps({"sentences": len(rows), "pipeline": ours, "raw_model": accuracy(gold, raw_predictions(rows))}))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
