#!/usr/bin/env python
"""Train a CCNet-style KenLM model and compute its perplexity bucket cut-offs.

Subcommands
-----------
``train``    text files -> ``<out>.arpa`` (lmplz) -> ``<out>.bin`` (build_binary) + ``<out>.json`` card.
``buckets``  score a JSONL sample with a model and write the 30th/60th perplexity percentiles
             (CCNet's head/middle/tail cut-offs) into the model card.
``default``  build the shipped English model ``models/kenlm/en.{bin,json}`` from the bundled
             Wikipedia text in ``models/training_data/kenlm_en/`` and its cut-offs from the bundled
             web sample in ``models/training_data/quality/dclm_human_labels.jsonl.gz``; skipped when the model and its card
             match the current settings (``--force`` rebuilds); runs ``scripts/build_kenlm.sh``
             first when a build is needed and the KenLM tools are missing.

Every training line goes through the source's de-tokenisation (undoing WikiText's ``@-@`` and
spaced punctuation, Gutenberg's spaced punctuation and title lines) and then through
``beam_curation.filters.models.perplexity.prepare_line``, the same function used at scoring time.
The KenLM tools come from ``scripts/build_kenlm.sh`` (default ``.cache/kenlm-bin``).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from beam_curation.filters.models.perplexity import (  # noqa: E402
    NORMALIZATION_ID,
    PerplexityModel,
    bucket_cutoffs,
    prepare_line,
)

DEFAULT_KENLM_BIN = REPO / ".cache" / "kenlm-bin"
DEFAULT_DATA = REPO / "models" / "training_data" / "kenlm_en"
DEFAULT_BUCKET_SAMPLE = REPO / "models" / "training_data" / "quality" / "dclm_human_labels.jsonl.gz"
DEFAULT_OUT = REPO / "models" / "kenlm" / "en"

# Default model settings: a 5-gram as CCNet, singleton 3/4/5-grams pruned (4 MB instead of 16 MB,
# same ranking quality), modified Kneser-Ney with lmplz's discount fallback (needed for small
# corpora whose count-of-counts are irregular).
DEFAULT_ORDER = 5
DEFAULT_PRUNE: tuple[int, ...] = (0, 0, 1)
# The shipped model is trained on the bundled Wikipedia text only, as CCNet's models are. Adding
# the bundled Gutenberg fiction (5x more words) was measured to make the ranking of human-labelled
# web documents worse (ROC-AUC 0.64 -> 0.59 on the DCLM dev sample), so it is opt-in.
DEFAULT_INCLUDE_GUTENBERG = False


def open_text(path: Path) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            yield line.rstrip("\n")


# ---------------------------------------------------------------- de-tokenisation of the sources

_CONTRACTION_RE = re.compile(r"(\w) (n't|'s|'re|'ve|'ll|'d|'m)\b", re.IGNORECASE)
_SPLIT_CONTRACTION_RE = re.compile(r"(\w)' (s|re|ve|ll|d|m|t)\b", re.IGNORECASE)
_SPACE_BEFORE_RE = re.compile(r" +([,.;:!?%)\]}])")
_SPACE_AFTER_RE = re.compile(r"([(\[{$]) +")
_QUOTE_RES = {q: re.compile(rf"(?<!\S){q}(?!\S)") for q in ('"', "'")}


def _attach_quotes(line: str, quote: str) -> str:
    """Spaced quotes alternate opening/closing: ' " x " ' -> ' "x" '."""
    parts = _QUOTE_RES[quote].split(line)
    if len(parts) == 1:
        return line
    out = [parts[0]]
    for i, part in enumerate(parts[1:]):
        if i % 2 == 0:  # opening quote: glue to the following word
            out.append(" " + quote + part.lstrip())
        else:  # closing quote: glue to the preceding word
            out[-1] = out[-1].rstrip()
            out.append(quote + part)
    return re.sub(r" {2,}", " ", "".join(out)).strip()


def detokenize(line: str) -> str:
    """Undo Penn-Treebank-like spacing so the text looks like ordinary (web) prose."""
    line = line.replace("``", '"').replace("''", '"').replace("`", "'")
    line = re.sub(r"(?<!\S)_(?!\S)", " ", line)  # Gutenberg italics markers: "_ them _"
    line = re.sub(r"(?<!-)--(?!-)", " - ", line)  # em dash as CCNet normalises "—"
    line = re.sub(r" {2,}", " ", line).strip()
    line = _CONTRACTION_RE.sub(r"\1\2", line)
    line = _SPLIT_CONTRACTION_RE.sub(r"\1'\2", line)
    line = _SPACE_BEFORE_RE.sub(r"\1", line)
    line = _SPACE_AFTER_RE.sub(r"\1", line)
    return _attach_quotes(_attach_quotes(line, '"'), "'")


_WIKI_HEADING_RE = re.compile(r"^\s*(=\s+)+(.*?)(\s+=)+\s*$")


def clean_wikitext(lines: Iterator[str]) -> Iterator[str]:
    """WikiText-2 raw: ' = = Heading = = ' -> 'Heading'; ' @-@ ' -> '-', ' @,@ ' -> ',', ' @.@ ' -> '.'."""
    for line in lines:
        if not line.strip():
            continue
        heading = _WIKI_HEADING_RE.match(line)
        if heading:
            line = heading.group(2)
        line = line.replace(" @-@ ", "-").replace(" @,@ ", ",").replace(" @.@ ", ".")
        yield detokenize(line)


def clean_gutenberg(lines: Iterator[str]) -> Iterator[str]:
    """NLTK Gutenberg, sentence per line: drop the '[ Title by Author Year ]' line, de-tokenise."""
    for line in lines:
        stripped = line.strip()
        if not stripped or (stripped.startswith("[") and stripped.endswith("]")):
            continue
        yield detokenize(stripped)


def clean_plain(lines: Iterator[str]) -> Iterator[str]:
    return (line for line in lines if line.strip())


CLEANERS: dict[str, Callable[[Iterator[str]], Iterator[str]]] = {
    "wikitext": clean_wikitext,
    "gutenberg": clean_gutenberg,
    "plain": clean_plain,
}


# ------------------------------------------------------------------------------------ training


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_training_text(sources: list[dict], out_path: Path) -> list[dict]:
    """Clean + prepare every source into one lmplz input file; return per-source statistics."""
    stats = []
    with open(out_path, "w", encoding="utf-8") as out:
        for source in sources:
            path = Path(source["path"])
            n_lines = n_tokens = 0
            prepared_source = []
            for line in CLEANERS[source["format"]](open_text(path)):
                prepared = prepare_line(line)
                if prepared:
                    prepared_source.append(prepared)
                    n_lines += 1
                    n_tokens += prepared.count(" ") + 1
            for _ in range(source.get("repeat", 1)):
                out.write("\n".join(prepared_source))
                out.write("\n")
            stats.append({**source, "path": _display(path), "sha256": sha256_of(path),
                          "lines": n_lines, "tokens": n_tokens})
    return stats


def _display(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def run_lmplz(kenlm_bin: Path, text: Path, arpa: Path, order: int, prune: tuple[int, ...],
              memory: str, tmp_dir: Path) -> None:
    cmd = [str(kenlm_bin / "lmplz"), "-o", str(order), "--discount_fallback", "-S", memory,
           "-T", str(tmp_dir)]
    if prune:
        cmd += ["--prune", *map(str, prune)]
    with open(text, "rb") as stdin, open(arpa, "wb") as stdout:
        subprocess.run(cmd, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, check=True)


def run_build_binary(kenlm_bin: Path, arpa: Path, binary: Path) -> None:
    subprocess.run([str(kenlm_bin / "build_binary"), str(arpa), str(binary)],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)


def train(sources: list[dict], out: Path, order: int = DEFAULT_ORDER,
          prune: tuple[int, ...] = DEFAULT_PRUNE, kenlm_bin: Path = DEFAULT_KENLM_BIN,
          memory: str = "1G", keep_arpa: bool = False, language: str = "en") -> dict:
    """Train ``<out>.bin`` (and ``<out>.arpa`` while building) and write the ``<out>.json`` card."""
    for tool in ("lmplz", "build_binary"):
        if not (kenlm_bin / tool).is_file():
            raise FileNotFoundError(f"{kenlm_bin / tool} missing: run scripts/build_kenlm.sh {kenlm_bin}")
    out.parent.mkdir(parents=True, exist_ok=True)
    arpa, binary, card_path = (out.with_name(out.name + ext) for ext in (".arpa", ".bin", ".json"))
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="kenlm-train-") as tmp:
        text = Path(tmp) / "train.txt"
        source_stats = write_training_text(sources, text)
        run_lmplz(kenlm_bin, text, arpa, order, prune, memory, Path(tmp))
    tmp_binary = binary.with_name(binary.name + ".tmp")
    run_build_binary(kenlm_bin, arpa, tmp_binary)
    os.replace(tmp_binary, binary)
    card = {
        "name": out.name,
        "language": language,
        "kind": "kenlm",
        "order": order,
        "pruning": list(prune),
        "smoothing": "modified Kneser-Ney (lmplz, --discount_fallback)",
        "normalization": NORMALIZATION_ID,
        "normalization_doc": "beam_curation.filters.models.perplexity.prepare_line: CCNet text_normalizer.normalize "
                             "(strip, lowercase, strip accents, digits->0, unicode punct->ASCII, drop "
                             "non-printing) then \\w+|[^\\w\\s]+ tokens joined by spaces "
                             "(stands in for CCNet's SentencePiece)",
        "perplexity": "10 ** (-sum(line log10 prob) / sum(tokens + 1)) over non-empty lines",
        "sources": source_stats,
        "training_tokens": sum(s["tokens"] * s.get("repeat", 1) for s in source_stats),
        "arpa_bytes": arpa.stat().st_size,
        "bin_bytes": binary.stat().st_size,
        "bucket_cutoffs": None,
    }
    print(f"train_kenlm: trained {binary} in {time.time() - started:.1f} s", file=sys.stderr)
    if not keep_arpa:
        arpa.unlink()
    card_path.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return card


# -------------------------------------------------------------------------------- bucket cut-offs


def read_jsonl_texts(path: Path, field: str = "text") -> Iterator[str]:
    for line in open_text(path):
        if line.strip():
            text = json.loads(line).get(field)
            if text:
                yield text


def compute_buckets(model_path: Path, sample: Path, card_path: Path | None = None,
                    head: float = 30.0, tail: float = 60.0) -> tuple[float, float]:
    model = PerplexityModel(model_path)
    ppls = [model.perplexity(text) for text in read_jsonl_texts(sample)]
    cutoffs = bucket_cutoffs(ppls, head, tail)
    if card_path is not None and card_path.is_file():
        card = json.loads(card_path.read_text(encoding="utf-8"))
        card["bucket_cutoffs"] = {
            "head_percentile": head, "tail_percentile": tail,
            "head": round(cutoffs[0], 3), "tail": round(cutoffs[1], 3),
            "sample": _display(sample), "sample_sha256": sha256_of(sample), "sample_docs": len(ppls),
        }
        card_path.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return cutoffs


# ------------------------------------------------------------------------------------- default


def default_sources(data_dir: Path = DEFAULT_DATA,
                    include_gutenberg: bool = DEFAULT_INCLUDE_GUTENBERG) -> list[dict]:
    """The bundled English prose with licences (see models/training_data/kenlm_en/README.md)."""
    sources = [{"path": str(data_dir / "wikitext2_raw_test.txt.gz"), "format": "wikitext",
                "repeat": 1, "licence": "CC BY-SA 3.0 (Wikipedia, via WikiText-2)"}]
    if not include_gutenberg:
        return sources
    for path in sorted((data_dir / "gutenberg").glob("*.txt.gz")):
        sources.append({"path": str(path), "format": "gutenberg", "repeat": 1,
                        "licence": "public domain (Project Gutenberg)"})
    return sources


def build_default(out: Path = DEFAULT_OUT, kenlm_bin: Path = DEFAULT_KENLM_BIN,
                  sample: Path = DEFAULT_BUCKET_SAMPLE, force: bool = False,
                  include_gutenberg: bool = DEFAULT_INCLUDE_GUTENBERG) -> dict:
    binary, card_path = out.with_name(out.name + ".bin"), out.with_name(out.name + ".json")
    if binary.is_file() and card_path.is_file() and not force:
        card = json.loads(card_path.read_text(encoding="utf-8"))
        wanted = [_display(Path(s["path"])) for s in default_sources(include_gutenberg=include_gutenberg)]
        if (card.get("normalization") == NORMALIZATION_ID and card.get("bucket_cutoffs")
                and [s["path"] for s in card.get("sources", [])] == wanted
                and card.get("order") == DEFAULT_ORDER and card.get("pruning") == list(DEFAULT_PRUNE)):
            print(f"train_kenlm: {binary} is up to date")
            return card
    if not ((kenlm_bin / "lmplz").is_file() and (kenlm_bin / "build_binary").is_file()):
        # Only a (re)build needs the KenLM tools: compile them from the kenlm sdist now.
        subprocess.run(["bash", str(REPO / "scripts" / "build_kenlm.sh"), str(kenlm_bin)], check=True)
    card = train(default_sources(include_gutenberg=include_gutenberg), out, kenlm_bin=kenlm_bin)
    compute_buckets(binary, sample, card_path)
    return json.loads(card_path.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p_train = sub.add_parser("train", help="train a model from text files")
    p_train.add_argument("--out", type=Path, required=True, help="output prefix: <out>.bin, <out>.json")
    for fmt in CLEANERS:
        p_train.add_argument(f"--{fmt}", type=Path, nargs="+", default=[], metavar="FILE",
                             help=f"{fmt} text files (.gz ok)")
    p_train.add_argument("--order", type=int, default=DEFAULT_ORDER)
    p_train.add_argument("--prune", type=int, nargs="*", default=list(DEFAULT_PRUNE),
                         help="lmplz --prune thresholds per order (e.g. 0 0 1)")
    p_train.add_argument("--kenlm-bin", type=Path, default=DEFAULT_KENLM_BIN)
    p_train.add_argument("--memory", default="1G", help="lmplz -S")
    p_train.add_argument("--keep-arpa", action="store_true")
    p_train.add_argument("--bucket-sample", type=Path, help="JSONL sample to compute cut-offs from")

    p_buckets = sub.add_parser("buckets", help="compute 30th/60th percentile cut-offs")
    p_buckets.add_argument("--model", type=Path, required=True)
    p_buckets.add_argument("--sample", type=Path, required=True, help="JSONL(.gz) with a text field")
    p_buckets.add_argument("--head", type=float, default=30.0)
    p_buckets.add_argument("--tail", type=float, default=60.0)

    p_default = sub.add_parser("default", help="build the shipped English model (idempotent)")
    p_default.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p_default.add_argument("--kenlm-bin", type=Path, default=DEFAULT_KENLM_BIN)
    p_default.add_argument("--force", action="store_true")
    p_default.add_argument("--with-gutenberg", action="store_true",
                           help="also train on the bundled Gutenberg books (worse on web text)")

    args = parser.parse_args(argv)
    if args.command == "train":
        sources = [{"path": str(p), "format": fmt, "repeat": 1}
                   for fmt in CLEANERS for p in getattr(args, fmt)]
        if not sources:
            parser.error("give at least one --wikitext/--gutenberg/--plain file")
        card = train(sources, args.out, args.order, tuple(args.prune), args.kenlm_bin, args.memory,
                     args.keep_arpa)
        if args.bucket_sample:
            compute_buckets(args.out.with_name(args.out.name + ".bin"), args.bucket_sample,
                            args.out.with_name(args.out.name + ".json"))
        print(f"train_kenlm: {args.out}.bin ({card['bin_bytes']} bytes)")
    elif args.command == "buckets":
        card_path = args.model.with_suffix(".json")
        head, tail = compute_buckets(args.model, args.sample, card_path, args.head, args.tail)
        print(json.dumps({"head": head, "tail": tail}))
    else:
        card = build_default(args.out, args.kenlm_bin, force=args.force,
                             include_gutenberg=args.with_gutenberg)
        print(f"train_kenlm: {args.out}.bin ready, cut-offs {card['bucket_cutoffs']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
