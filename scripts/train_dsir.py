#!/usr/bin/env python
"""Train DSIR importance-weight models (hashed bag of {1,2}-grams, target vs raw web).

Subcommands
-----------
``train``    target documents + raw web documents -> one ``.npz`` for ``beam_curation.filters.models.dsir.DsirModel``.
``default``  build the shipped English models from bundled data (idempotent, ``--force`` rebuilds):
             ``models/dsir/wikipedia.npz``: WikiText-2 articles (target) vs the DCLM web sample (raw);
             ``models/dsir/books.npz``:     the 11 Gutenberg books (target) vs the same raw sample.
             RedPajama-V2's third target, OpenWebText, has no bundled counterpart and is not built.

Document formats: ``jsonl`` (one JSON object per line with a ``text`` field, .gz ok), ``wikitext``
(WikiText raw; one document per `` = Title = `` article, tokenisation quirks undone), ``gutenberg``
(one document per file, title line dropped, spaced punctuation undone), ``plain`` (one per file).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from beam_curation.filters.models.dsir import DEFAULT_BUCKETS, HASH_ID, fit_counts, log_probabilities  # noqa: E402
from train_kenlm import (  # noqa: E402
    _display,
    clean_gutenberg,
    clean_wikitext,
    open_text,
    read_jsonl_texts,
    sha256_of,
)

DATA = REPO / "models" / "training_data"
DEFAULT_RAW = DATA / "quality" / "dclm_human_labels.jsonl.gz"  # the 218 DCLM web documents, labels ignored
DEFAULT_OUT_DIR = REPO / "models" / "dsir"
FORMAT_VERSION = 1


def wikitext_articles(path: Path) -> Iterator[str]:
    """Split WikiText raw at top-level headings (' = Title = ') into cleaned articles."""
    article: list[str] = []
    for line in open_text(path):
        stripped = line.strip()
        if stripped.startswith("= ") and stripped.endswith(" =") and not stripped.startswith("= ="):
            if article:
                yield "\n".join(clean_wikitext(iter(article)))
            article = []
        article.append(line)
    if article:
        yield "\n".join(clean_wikitext(iter(article)))


def documents(paths: list[Path], fmt: str) -> Iterator[str]:
    for path in paths:
        if fmt == "jsonl":
            yield from read_jsonl_texts(path)
        elif fmt == "wikitext":
            yield from wikitext_articles(path)
        elif fmt == "gutenberg":
            yield "\n".join(clean_gutenberg(open_text(path)))
        elif fmt == "plain":
            yield "\n".join(line for line in open_text(path))
        else:
            raise ValueError(f"unknown format {fmt!r}")


def train(name: str, target: list[Path], target_format: str, raw: list[Path], raw_format: str,
          out: Path, buckets: int = DEFAULT_BUCKETS, licences: dict | None = None) -> dict:
    """Fit both distributions and write ``out`` (.npz) with an embedded JSON card."""
    target_counts, target_lambda, target_docs = fit_counts(documents(target, target_format), buckets)
    raw_counts, raw_lambda, raw_docs = fit_counts(documents(raw, raw_format), buckets)
    card = {
        "name": name,
        "kind": "dsir",
        "format_version": FORMAT_VERSION,
        "hash": HASH_ID,
        "buckets": buckets,
        "features": "raw words (\\w+|[^\\w\\s]+, case kept) and their bigrams",
        "target": {"format": target_format, "documents": target_docs, "mean_words": target_lambda,
                   "features": int(target_counts.sum()),
                   "files": [{"path": _display(p), "sha256": sha256_of(p)} for p in target]},
        "raw": {"format": raw_format, "documents": raw_docs, "mean_words": raw_lambda,
                "features": int(raw_counts.sum()),
                "files": [{"path": _display(p), "sha256": sha256_of(p)} for p in raw]},
        "licences": licences or {},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(
        tmp,
        target_log_prob=log_probabilities(target_counts),
        raw_log_prob=log_probabilities(raw_counts),
        target_lambda=np.float64(target_lambda),
        raw_lambda=np.float64(raw_lambda),
        card=np.array(json.dumps(card, sort_keys=True)),
    )
    tmp.replace(out)
    return card


def default_models(out_dir: Path = DEFAULT_OUT_DIR, force: bool = False) -> list[Path]:
    kenlm_data = DATA / "kenlm_en"
    raw_licence = "MIT (mlfoundations/dclm repository; content from Common Crawl)"
    specs = [
        ("wikipedia", [kenlm_data / "wikitext2_raw_test.txt.gz"], "wikitext",
         "CC BY-SA 3.0 (Wikipedia, via WikiText-2)"),
        ("books", sorted((kenlm_data / "gutenberg").glob("*.txt.gz")), "gutenberg",
         "public domain (Project Gutenberg)"),
    ]
    written = []
    for name, target, fmt, licence in specs:
        out = out_dir / f"{name}.npz"
        if out.is_file() and not force:
            print(f"train_dsir: {out} exists")
        else:
            card = train(name, target, fmt, [DEFAULT_RAW], "jsonl", out,
                         licences={"target": licence, "raw": raw_licence})
            print(f"train_dsir: {out} ({card['target']['documents']} target docs, "
                  f"{card['raw']['documents']} raw docs)")
        written.append(out)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    formats = ["jsonl", "wikitext", "gutenberg", "plain"]
    p_train = sub.add_parser("train", help="train one target-vs-raw model")
    p_train.add_argument("--name", required=True, help="target domain name, e.g. wikipedia")
    p_train.add_argument("--target", type=Path, nargs="+", required=True)
    p_train.add_argument("--target-format", choices=formats, default="jsonl")
    p_train.add_argument("--raw", type=Path, nargs="+", required=True)
    p_train.add_argument("--raw-format", choices=formats, default="jsonl")
    p_train.add_argument("--buckets", type=int, default=DEFAULT_BUCKETS)
    p_train.add_argument("--out", type=Path, required=True, help="output .npz")
    p_default = sub.add_parser("default", help="build models/dsir/{wikipedia,books}.npz")
    p_default.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR)
    p_default.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "train":
        card = train(args.name, args.target, args.target_format, args.raw, args.raw_format, args.out,
                     args.buckets)
        print(json.dumps(card, indent=2))
    else:
        default_models(args.out_dir, args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
