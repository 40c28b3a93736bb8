"""Train a binary or multi-label supervised fastText classifier and write it with a model card.

Inputs are CSV, JSONL (Dolma-style or any objects) or Parquet, optionally .gz. Each example
gets its label from one of:
  --positive PATH / --negative PATH   every row of the file is positive / negative
  --input PATH + --label-column COL   the row's COL value mapped by --positive-values /
                                      --negative-values (rows with other values are skipped)
  --input PATH + --label-columns A,B  multi-label: the row has label A when its column A is
                                      >= --threshold (a fraction of annotators, a 0/1 flag),
                                      any number of labels per row; a row with none gets
                                      --none-label (default `none`; empty: the row is skipped).
                                      Trained with loss=ova unless --loss says otherwise: one
                                      independent sigmoid per label, so P(label) is a score
                                      per dimension (the pipeline writes one column each).
Several files may be given for each (the quality model mixes prose, web pages and human
labels). Texts are normalised with the same named normalisation the scorer uses
(`beam_curation.filters.models.classifier_text`), recorded in the card.

A deterministic held-out split (sha1 of seed + raw text, so duplicates land on one side) is
kept out of training and scored: ROC-AUC, precision/recall/F1 at 0.5 for the positive label.
With --thread 1 and a fixed --seed, training is deterministic: same data and arguments give
the same model bytes.

Example (the default toxicity model):
  python scripts/train_fasttext.py --output models/fasttext/toxicity.bin \\
    --input models/training_data/toxicity/davidson_train.csv.gz --text-column tweet \\
    --label-column class --positive-values 0,1 --negative-values 2 \\
    --positive-label toxic --negative-label clean --normalization fasttext_basic

Example (multi-label, ETHOS's Ethos_Dataset_Multi_Label.csv: GPL-3.0, download it yourself and
never redistribute it or the model with this project):
  python scripts/train_fasttext.py --output models/external/ethos_multilabel.bin \\
    --input Ethos_Dataset_Multi_Label.csv --delimiter ';' --text-column comment \\
    --label-columns violence,gender,race,national_origin,disability,religion,sexual_orientation \\
    --threshold 0.5 --normalization lower_punct_eol --license Ethos_Dataset_Multi_Label.csv=GPL-3.0
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import gzip
import hashlib
import io
import json
import logging
import os
import platform
import random
import sys
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from beam_curation.filters.models.classifier import FastTextClassifier  # noqa: E402
from beam_curation.filters.models.classifier_text import normalizer  # noqa: E402

csv.field_size_limit(sys.maxsize)
logger = logging.getLogger("train_fasttext")
_NAN_RETRIES = 3
_M_MMAP_THRESHOLD = -3  # glibc mallopt parameter
_MMAP_THRESHOLD_BYTES = 32 * 1024


@dataclass(frozen=True)
class Example:
    text: str
    positive: bool
    source: int  # index into the list of InputSpec
    labels: tuple[str, ...] = ()  # multi-label: the row's labels (without __label__)


@dataclass
class InputSpec:
    path: str
    text_column: str = "text"
    label: str | None = None  # "positive" / "negative" for whole-file inputs
    label_column: str | None = None
    positive_values: tuple[str, ...] = ()
    negative_values: tuple[str, ...] = ()
    repeat: int = 1  # training copies of each example (held-out rows are never repeated)
    license: str = "unknown"
    label_columns: tuple[str, ...] = ()  # multi-label: a label per column, set when value >= threshold
    threshold: float = 0.5
    none_label: str = "none"  # label of a row with no label ("": skip the row)
    delimiter: str = ","  # CSV field separator
    rows_positive: int = 0
    rows_negative: int = 0
    rows_skipped: int = 0
    sha256: str = ""


@dataclass
class FastTextParams:
    """fastText supervised hyper-parameters (names as fastText's Python API)."""

    lr: float = 0.1
    epoch: int = 20
    dim: int = 64
    wordNgrams: int = 2
    minCount: int = 1
    minn: int = 0
    maxn: int = 0
    bucket: int = 200_000
    loss: str = "softmax"
    thread: int = 1
    seed: int = 1


@dataclass
class TrainResult:
    model_path: str
    card_path: str
    card: dict = field(default_factory=dict)


# --- reading ---------------------------------------------------------------------------------
def _open_text(path: str) -> io.TextIOBase:
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, "r", encoding="utf-8", newline="")


def read_rows(path: str, delimiter: str = ",") -> Iterator[dict]:
    """Rows of a CSV / JSONL / Parquet file (format from the name, .gz allowed for text formats)."""
    name = path[:-3] if path.endswith(".gz") else path
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        yield from pq.read_table(path).to_pylist()
    elif name.endswith((".jsonl", ".json")):
        with _open_text(path) as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)
    elif name.endswith((".csv", ".tsv")):
        with _open_text(path) as fh:
            yield from csv.DictReader(fh, delimiter="\t" if name.endswith(".tsv") else delimiter)
    else:
        raise ValueError(f"cannot tell the format of {path} (want .csv, .tsv, .jsonl, .parquet)")


def _value_key(v: object) -> str:
    """Label values compare as strings; 1, 1.0 and '1' all match '1'."""
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _flag(value: object, threshold: float) -> bool:
    """A multi-label cell: a number >= threshold, or true/yes."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if value is not None else ""
    if text in ("true", "yes"):
        return True
    try:
        return float(text) >= threshold
    except ValueError:
        return False


def load_examples(specs: Sequence[InputSpec]) -> list[Example]:
    """Read every input and label its rows; fills the specs' row counts and sha256."""
    examples: list[Example] = []
    for i, spec in enumerate(specs):
        spec.sha256 = sha256_file(spec.path)
        for row in read_rows(spec.path, spec.delimiter):
            text = row.get(spec.text_column)
            if not isinstance(text, str) or not text.strip():
                spec.rows_skipped += 1
                continue
            if spec.label_columns:
                missing = [c for c in spec.label_columns if c not in row]
                if missing:
                    raise ValueError(f"{spec.path}: no column {missing} (columns: {sorted(row)})")
                labels = tuple(c for c in spec.label_columns if _flag(row[c], spec.threshold))
                if not labels:
                    if not spec.none_label:
                        spec.rows_skipped += 1
                        continue
                    labels = (spec.none_label,)
                spec.rows_positive += labels != (spec.none_label,)
                spec.rows_negative += labels == (spec.none_label,)
                examples.append(Example(text, labels != (spec.none_label,), i, labels))
                continue
            if spec.label in ("positive", "negative"):
                positive = spec.label == "positive"
            else:
                value = _value_key(row.get(spec.label_column))
                if value in spec.positive_values:
                    positive = True
                elif value in spec.negative_values:
                    positive = False
                else:
                    spec.rows_skipped += 1
                    continue
            if positive:
                spec.rows_positive += 1
            else:
                spec.rows_negative += 1
            examples.append(Example(text, positive, i))
    return examples


# --- split, train, evaluate ------------------------------------------------------------------
def is_holdout(text: str, fraction: float, seed: int) -> bool:
    """Deterministic held-out membership from the raw text (identical texts share a side)."""
    if fraction <= 0:
        return False
    h = int(hashlib.sha1(f"{seed}\x00{text}".encode("utf-8")).hexdigest(), 16)
    return (h % 1_000_000) < fraction * 1_000_000


def _fresh_pages_for_large_allocations() -> None:
    """Make large C++ allocations come from fresh (zero-filled) mmap pages.

    With thread=1, fastText 0.9.3-era builds (fasttext-numpy2-wheel 0.9.2 included) initialise
    only the first tenth of the input matrix: the uniform init is split into 10 blocks and one
    block is done per training thread; the rest of the matrix is never written. When malloc
    recycles heap memory for it, that part holds leftover bytes: training then stops with
    "Encountered NaN" or silently depends on what the process did before. glibc's dynamic mmap
    threshold is what lets large blocks be recycled; fixing it (mallopt) makes every large
    matrix a fresh anonymous mapping, which the kernel zero-fills, so the untouched rows start at
    exactly 0 and training is stable and reproducible. No-op off glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)
    except (OSError, AttributeError):
        logger.warning("cannot set malloc's mmap threshold; fastText training may be unstable")


def train_model(
    examples: Sequence[Example],
    output: str | os.PathLike[str],
    params: FastTextParams,
    normalization: str,
    positive_label: str,
    negative_label: str,
    repeats: Sequence[int] | None = None,
    quantize: bool = False,
    max_chars: int | None = None,
) -> FastTextParams:
    """Write a shuffled fastText training file, train, save to `output`.

    The order is a seeded shuffle of the examples in input order, so it is reproducible.
    `max_chars` truncates each raw text first, exactly as the scorer does with the same value
    (it also keeps fastText stable: very long lines make this build hit NaN more often).
    Returns the parameters actually used (the seed differs if a NaN retry happened).
    """

    norm = normalizer(normalization)
    lines: list[str] = []
    for ex in examples:
        text = norm(ex.text[:max_chars] if max_chars else ex.text)
        if not text:
            continue
        if ex.labels:
            tags = " ".join(f"__label__{label}" for label in ex.labels)
        else:
            tags = f"__label__{positive_label if ex.positive else negative_label}"
        copies = repeats[ex.source] if repeats else 1
        lines.extend([f"{tags} {text}\n"] * copies)
    random.Random(params.seed).shuffle(lines)
    if not lines:
        raise ValueError("no training examples")
    output = os.fspath(output)
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        train_file = os.path.join(tmp, "train.txt")
        with open(train_file, "w", encoding="utf-8") as fh:
            fh.writelines(lines)
        for attempt in range(_NAN_RETRIES + 1):
            try:
                _train_in_fresh_process(train_file, params, output, quantize)
                break
            except RuntimeError as err:
                # Safety net: should the uninitialised-matrix problem above still bite (e.g. off
                # glibc), another seed usually trains; the card records the seed used.
                if "NaN" not in str(err) or attempt == _NAN_RETRIES:
                    raise RuntimeError(
                        f"fastText training failed ({err}) with seed {params.seed}; "
                        "try a lower --lr or another --dim/--seed"
                    ) from err
                logger.warning("fastText hit NaN with seed %d; retrying with seed %d",
                               params.seed, params.seed + 1)
                params = replace(params, seed=params.seed + 1)
    return params


def _train_and_save(train_file: str, params: dict, output: str, quantize: bool) -> None:
    import fasttext

    _fresh_pages_for_large_allocations()
    model = fasttext.train_supervised(input=train_file, verbose=0, **params)
    if quantize:
        model.quantize(input=None, qnorm=True, retrain=False, cutoff=0)
    model.save_model(output)


def _train_in_fresh_process(train_file: str, params: FastTextParams, output: str, quantize: bool) -> None:
    """Train in a new process: its heap holds no leftover bytes for fastText's uninitialised rows.

    In a long-lived process (a test run, a notebook) recycled heap memory made two trainings with the same
    seed differ; a fresh process (plus the mmap threshold below) gives the same bytes every time.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        pool.submit(_train_and_save, train_file, asdict(params), output, quantize).result()


def roc_auc(labels: Sequence[bool], scores: Sequence[float]) -> float:
    """Area under the ROC curve (Mann-Whitney U; ties count one half)."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def binary_metrics(labels: Sequence[bool], scores: Sequence[float], threshold: float = 0.5) -> dict:
    y = np.asarray(labels, dtype=bool)
    pred = np.asarray(scores, dtype=np.float64) >= threshold
    tp = int((pred & y).sum())
    fp = int((pred & ~y).sum())
    fn = int((~pred & y).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "n": int(len(y)),
        "n_positive": int(y.sum()),
        "roc_auc": round(roc_auc(y, scores), 6),
        "threshold": threshold,
        "precision": round(precision, 6),
        "recall": round(recall, 6),
        "f1": round(f1, 6),
    }


def score_texts(
    model_path: str,
    texts: Sequence[str],
    positive_label: str,
    normalization: str,
    max_chars: int | None = None,
) -> list[float]:
    clf = FastTextClassifier(model_path, positive_label, normalization, max_chars=max_chars)
    return clf.score_batch(list(texts))


def _fasttext_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("fasttext-numpy2-wheel", "fasttext-wheel", "fasttext"):
        try:
            return f"{dist} {version(dist)}"
        except PackageNotFoundError:
            continue
    return "unknown"


def _display_path(path: str) -> str:
    """Repository-relative path when inside the repository (cards stay machine-independent)."""
    root = Path(__file__).resolve().parents[1]
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return path


def train_with_card(
    specs: Sequence[InputSpec],
    output: str,
    params: FastTextParams,
    normalization: str,
    positive_label: str,
    negative_label: str,
    holdout_fraction: float = 0.1,
    quantize: bool = False,
    name: str | None = None,
    description: str = "",
    max_chars: int | None = None,
    labels: Sequence[str] = (),
) -> TrainResult:
    """Load, split, train, evaluate on the held-out split, and write `<output stem>.card.json`.

    `labels` (multi-label inputs, `InputSpec.label_columns`): every label the model learns, the
    none-label included; the held-out split is then scored per label."""
    examples = load_examples(specs)
    train = [e for e in examples if not is_holdout(e.text, holdout_fraction, params.seed)]
    held = [e for e in examples if is_holdout(e.text, holdout_fraction, params.seed)]
    used = train_model(
        train, output, params, normalization, positive_label, negative_label,
        repeats=[s.repeat for s in specs], quantize=quantize, max_chars=max_chars,
    )
    metrics: dict = {}
    if held and labels:
        none = {s.none_label for s in specs if s.label_columns and s.none_label}
        metrics = multilabel_metrics(output, held, labels, normalization, max_chars, none)
    elif held:
        scores = score_texts(output, [e.text for e in held], positive_label, normalization, max_chars)
        metrics["holdout"] = binary_metrics([e.positive for e in held], scores)
        per_source = {}
        for i, spec in enumerate(specs):
            idx = [k for k, e in enumerate(held) if e.source == i]
            if idx:
                ys = [held[k].positive for k in idx]
                ss = [scores[k] for k in idx]
                per_source[_display_path(spec.path)] = {
                    "n": len(idx),
                    "mean_score": round(float(np.mean(ss)), 6),
                    **({"roc_auc": round(roc_auc(ys, ss), 6)} if 0 < sum(ys) < len(ys) else {}),
                }
        metrics["holdout_by_source"] = per_source
    card = {
        "name": name or Path(output).stem,
        "description": description,
        "model_file": Path(output).name,
        "model_sha256": sha256_file(output),
        "model_bytes": os.path.getsize(output),
        **(_multilabel_card(specs, labels, used) if labels else {
            "labels": {"positive": f"__label__{positive_label}", "negative": f"__label__{negative_label}"},
            "score": f"probability of __label__{positive_label} (fastText predict, k=-1)",
        }),
        "normalization": normalization,
        "max_chars": max_chars,
        "quantized": quantize,
        "hyperparameters": asdict(used),
        "split": {
            "rule": "sha1(f'{seed}\\x00{raw text}') % 1e6 < holdout_fraction * 1e6 -> held out",
            "holdout_fraction": holdout_fraction,
            "seed": params.seed,
            "train_examples": len(train),
            "holdout_examples": len(held),
        },
        "data": [
            {
                "path": _display_path(s.path),
                "sha256": s.sha256,
                "license": s.license,
                "label": s.label or ({"columns": list(s.label_columns), "threshold": s.threshold,
                                      "none_label": s.none_label} if s.label_columns else {
                    "column": s.label_column,
                    "positive_values": list(s.positive_values),
                    "negative_values": list(s.negative_values),
                }),
                "provenance": _display_path(str(Path(s.path).parent / "README.md"))
                if (Path(s.path).parent / "README.md").exists() else None,
                "text_column": s.text_column,
                "rows_positive": s.rows_positive,
                "rows_negative": s.rows_negative,
                "rows_skipped": s.rows_skipped,
                "train_repeat": s.repeat,
            }
            for s in specs
        ],
        "metrics": metrics,
        "software": {
            "fasttext": _fasttext_version(),
            "python": platform.python_version(),
            "note": "trained single-threaded; input-matrix rows past the first tenth start at 0 "
            "(fastText's block-wise init with thread=1, made deterministic by fresh pages)",
        },
    }
    card_path = str(Path(output).with_suffix(".card.json"))
    with open(card_path, "w", encoding="utf-8") as fh:
        json.dump(card, fh, indent=2, sort_keys=True)
        fh.write("\n")
    return TrainResult(output, card_path, card)


def multilabel_metrics(model_path: str, held: Sequence[Example], labels: Sequence[str], normalization: str,
                       max_chars: int | None = None, none_labels: Iterable[str] = ()) -> dict:
    """Per label, the held-out split scored as a binary task (the label vs every other row), and the
    macro average of ROC-AUC and F1 over the labels (not the none-label) that occur on both sides."""
    clf = FastTextClassifier(model_path, None, normalization, max_chars=max_chars)
    probs = np.asarray(clf.label_probabilities([e.text for e in held], list(labels)))
    per_label = {}
    for j, label in enumerate(labels):
        truth = [label in e.labels for e in held]
        if 0 < sum(truth) < len(truth):
            per_label[label] = binary_metrics(truth, probs[:, j].tolist())
        else:
            per_label[label] = {"n": len(truth), "n_positive": int(sum(truth))}
    none_labels = set(none_labels)
    scored = [m for label, m in per_label.items() if "roc_auc" in m and label not in none_labels]
    macro = {"labels_scored": len(scored)}
    if scored:
        macro["roc_auc"] = round(float(np.mean([m["roc_auc"] for m in scored])), 6)
        macro["f1"] = round(float(np.mean([m["f1"] for m in scored])), 6)
    return {"holdout_by_label": per_label, "holdout_macro": macro}


def _multilabel_card(specs: Sequence[InputSpec], labels: Sequence[str], used: FastTextParams) -> dict:
    none = {s.none_label for s in specs if s.label_columns and s.none_label}
    return {
        "multi_label": True,
        "labels": {"all": [f"__label__{label}" for label in labels],
                   "none": [f"__label__{label}" for label in sorted(none)]},
        "score": "probability of each label (fastText predict, k=-1); "
        + ("independent sigmoids (loss=ova)" if used.loss == "ova" else f"one {used.loss} distribution"),
    }


# --- presets: the shipped default models ----------------------------------------------------
REPO = Path(__file__).resolve().parents[1]
_TOX = "models/training_data/toxicity"
_QUA = "models/training_data/quality"


@dataclass(frozen=True)
class Preset:
    """Everything that defines a shipped default model besides its output path."""

    specs: tuple[tuple[str, dict], ...]  # (repo-relative path, InputSpec keyword arguments)
    params: FastTextParams
    normalization: str
    positive_label: str
    negative_label: str
    max_chars: int | None
    description: str

    def input_specs(self, root: Path = REPO) -> list[InputSpec]:
        return [InputSpec(str(root / rel), **kw) for rel, kw in self.specs]


PRESETS: dict[str, Preset] = {
    "toxicity": Preset(
        specs=((f"{_TOX}/davidson_train.csv.gz", dict(
            text_column="tweet", label_column="class", positive_values=("0", "1"),
            negative_values=("2",), license="MIT")),),
        params=FastTextParams(epoch=10, dim=32, bucket=100_000),
        normalization="lower_punct_eol",
        positive_label="toxic",
        negative_label="clean",
        max_chars=None,
        description="Toxic (hate speech or offensive) vs clean; Davidson et al. 2017 tweets.",
    ),
    "quality": Preset(
        specs=(
            (f"{_QUA}/wikitext_docs.jsonl.gz", dict(label="positive", license="CC-BY-SA-3.0")),
            (f"{_QUA}/gutenberg_docs.jsonl.gz", dict(label="positive", license="public-domain")),
            (f"{_QUA}/dclm_human_labels.jsonl.gz", dict(
                label_column="label", positive_values=("1",), negative_values=("0",),
                repeat=3, license="MIT")),
            (f"{_QUA}/web_visible_text.jsonl.gz", dict(
                label="negative", license="Apache-2.0/MIT test data (pages: their publishers)")),
        ),
        # 5-fold CV on the DCLM labels, 3 seeds: layout tokens + bigrams 0.704 (0.688 within length
        # quartiles) vs 0.694 (0.673) for lower_punct_eol unigrams; more epochs, dim 64 or trigrams: no gain
        params=FastTextParams(epoch=10, dim=32, wordNgrams=2, bucket=100_000),
        normalization="lower_punct_lines",
        positive_label="hq",
        negative_label="lq",
        max_chars=5000,
        description="High-quality prose (Wikipedia, books, DCLM human label 1) vs boilerplate-heavy "
        "whole-page web text and DCLM human label 0.",
    ),
}


def train_preset(name: str, output: str, holdout_fraction: float = 0.1, root: Path = REPO) -> TrainResult:
    p = PRESETS[name]
    return train_with_card(
        p.input_specs(root), output, replace(p.params), p.normalization, p.positive_label,
        p.negative_label, holdout_fraction=holdout_fraction, name=name,
        description=p.description, max_chars=p.max_chars,
    )


# --- command line ----------------------------------------------------------------------------
def _split_values(s: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in s.split(",") if v.strip()) if s else ()


def _path_map(items: Iterable[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"--{what} wants PATH=VALUE, got {item!r}")
        k, v = item.rsplit("=", 1)
        out[k] = v
    return out


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--output", required=True, help="model file (.bin, or .ftz with --quantize)")
    ap.add_argument("--preset", choices=sorted(PRESETS),
                    help="train a shipped default model from the bundled data (other options ignored "
                    "except --output and --holdout-fraction)")
    ap.add_argument("--positive", action="append", default=[], metavar="PATH", help="all rows positive")
    ap.add_argument("--negative", action="append", default=[], metavar="PATH", help="all rows negative")
    ap.add_argument("--input", action="append", default=[], metavar="PATH", help="rows labelled by --label-column")
    ap.add_argument("--text-column", default="text")
    ap.add_argument("--label-column")
    ap.add_argument("--label-columns", help="multi-label: comma list of columns, one label each")
    ap.add_argument("--threshold", type=float, default=0.5,
                    help="multi-label: a column value >= this gives the row that label")
    ap.add_argument("--none-label", default="none",
                    help="multi-label: label of rows with no label ('' skips them)")
    ap.add_argument("--delimiter", default=",", help="CSV field separator (ETHOS upstream: ';')")
    ap.add_argument("--positive-values", help="comma list of --label-column values meaning positive")
    ap.add_argument("--negative-values", help="comma list meaning negative (default: every other value)")
    ap.add_argument("--positive-label", default="positive", help="fastText label name (no __label__)")
    ap.add_argument("--negative-label", default="negative")
    ap.add_argument("--normalization", default="fasttext_basic")
    ap.add_argument("--holdout-fraction", type=float, default=0.1)
    ap.add_argument("--max-chars", type=int, default=None,
                    help="truncate texts to this many characters (scorers must use the same value)")
    ap.add_argument("--repeat", action="append", default=[], metavar="PATH=N",
                    help="train on N copies of that input's training rows (upweights a small source)")
    ap.add_argument("--license", action="append", default=[], metavar="PATH=LICENSE",
                    help="licence of an input, recorded in the card")
    ap.add_argument("--name")
    ap.add_argument("--description", default="")
    ap.add_argument("--quantize", action="store_true", help="fastText quantize (write .ftz)")
    for f in FastTextParams.__dataclass_fields__.values():
        # --loss defaults to softmax (binary) or ova (multi-label): resolved in main
        default = None if f.name == "loss" else f.default
        ap.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=default)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.preset:
        result = train_preset(args.preset, args.output, args.holdout_fraction)
        print(json.dumps({"model": result.model_path, "card": result.card_path,
                          "sha256": result.card["model_sha256"], "metrics": result.card["metrics"]},
                         indent=2))
        return 0
    repeats = {k: int(v) for k, v in _path_map(args.repeat, "repeat").items()}
    licenses = _path_map(args.license, "license")
    label_columns = _split_values(args.label_columns)
    if args.loss is None:
        args.loss = "ova" if label_columns else "softmax"
    if label_columns:
        return _main_multilabel(args, label_columns, repeats, licenses)
    specs: list[InputSpec] = []
    for path in args.positive:
        specs.append(InputSpec(path, args.text_column, label="positive"))
    for path in args.negative:
        specs.append(InputSpec(path, args.text_column, label="negative"))
    if args.input:
        if not args.label_column or not args.positive_values:
            raise SystemExit("--input needs --label-column and --positive-values")
    for path in args.input:
        specs.append(InputSpec(
            path, args.text_column, label_column=args.label_column,
            positive_values=_split_values(args.positive_values),
            negative_values=_split_values(args.negative_values),
        ))
    if not specs:
        raise SystemExit("no inputs: give --positive/--negative and/or --input")
    for spec in specs:
        spec.repeat = repeats.get(spec.path, 1)
        spec.license = licenses.get(spec.path, "unknown")
        spec.delimiter = args.delimiter
        if not os.path.isfile(spec.path):
            raise SystemExit(f"input not found: {spec.path}")
    if args.input and not _split_values(args.negative_values):
        # every value that is not positive is negative: read once to learn the values
        pos = set(_split_values(args.positive_values))
        values = {_value_key(r.get(args.label_column)) for p in args.input for r in read_rows(p, args.delimiter)}
        for spec in specs:
            if spec.label_column:
                spec.negative_values = tuple(sorted(values - pos))
    params = FastTextParams(**{k: getattr(args, k) for k in FastTextParams.__dataclass_fields__})
    result = train_with_card(
        specs, args.output, params, args.normalization, args.positive_label, args.negative_label,
        holdout_fraction=args.holdout_fraction, quantize=args.quantize, name=args.name,
        description=args.description, max_chars=args.max_chars,
    )
    print(json.dumps({"model": result.model_path, "card": result.card_path,
                      "sha256": result.card["model_sha256"], "metrics": result.card["metrics"]}, indent=2))
    return 0


def _main_multilabel(args: argparse.Namespace, label_columns: tuple[str, ...], repeats: dict[str, int],
                     licenses: dict[str, str]) -> int:
    if not args.input or args.positive or args.negative or args.label_column:
        raise SystemExit("--label-columns takes --input files only (no --positive/--negative/--label-column)")
    if args.none_label in label_columns:
        raise SystemExit(f"--none-label {args.none_label!r} is also one of --label-columns")
    specs = []
    for path in args.input:
        if not os.path.isfile(path):
            raise SystemExit(f"input not found: {path}")
        specs.append(InputSpec(path, args.text_column, label_columns=label_columns, threshold=args.threshold,
                               none_label=args.none_label, delimiter=args.delimiter,
                               repeat=repeats.get(path, 1), license=licenses.get(path, "unknown")))
    labels = [*label_columns, *([args.none_label] if args.none_label else [])]
    params = FastTextParams(**{k: getattr(args, k) for k in FastTextParams.__dataclass_fields__})
    result = train_with_card(
        specs, args.output, params, args.normalization, "", "", holdout_fraction=args.holdout_fraction,
        quantize=args.quantize, name=args.name, description=args.description, max_chars=args.max_chars,
        labels=labels,
    )
    print(json.dumps({"model": result.model_path, "card": result.card_path,
                      "sha256": result.card["model_sha256"], "metrics": result.card["metrics"]}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
