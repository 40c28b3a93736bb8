"""Compare ``beam_curation.filters.heuristics.fineweb_chain.fineweb_decision`` with DataTrove's own FineWeb filters on real texts.

DataTrove is never a dependency of this project: it runs in its own virtualenv, created under ``.cache/`` on
first use (``scripts/datatrove_env.py``) or given with ``--datatrove-python``. This script (run with the
project's Python) builds the texts, runs DataTrove's GopherRepetitionFilter, GopherQualityFilter, C4QualityFilter
(``filter_no_terminal_punct=False``) and FineWebQualityFilter in that interpreter (this same file, in
``--worker`` mode), compares keep/drop and reasons, and writes the expectations file the tests use
(document sha1 + DataTrove's decision; the texts are re-derived from the shared data folder given as ``--data``).

    .venv/bin/python scripts/compare_datatrove.py --data DATA_DIR [--datatrove-python VENV/bin/python]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_EXPECTATIONS = REPO / "tests" / "data" / "fineweb_datatrove_expectations.jsonl"


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def load_corpus(data: Path) -> list[tuple[str, str]]:
    """(source, text) pairs from the shared real data: extracted pages, DCLM, cc_net, Wikipedia, books."""
    import trafilatura
    import warcio.archiveiterator

    docs: list[tuple[str, str]] = []
    for gold, source in (("trafilatura_gold.jsonl", "extraction_trafilatura"), ("scrapinghub_gold.jsonl", "extraction_scrapinghub")):
        for line in (data / "extraction_dev" / gold).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            with gzip.open(data / "extraction_dev" / row["html_file"], "rb") as fh:
                html = fh.read()
            text = trafilatura.extract(html, url=row["url"])
            if text:
                docs.append((source, text))
    for warc in sorted((data / "warc").glob("*.warc.gz")):
        if ".wet." in warc.name or ".wat." in warc.name:
            continue
        with open(warc, "rb") as fh:
            for record in warcio.archiveiterator.ArchiveIterator(fh):
                if record.rec_type != "response":
                    continue
                html = record.content_stream().read()
                text = trafilatura.extract(html, url=record.rec_headers.get_header("WARC-Target-URI"))
                if text:
                    docs.append(("warc", text))
    quality = data / "quality_reference"
    for name, source in (("dclm_human_quality_majority_only.jsonl", "dclm"), ("ccnet_en_head_sample_dolma.jsonl", "ccnet")):
        for line in (quality / name).read_text(encoding="utf-8").splitlines():
            docs.append((source, json.loads(line)["text"]))
    article: list[str] = []
    for line in (quality / "wikitext2_raw_test.txt").read_text(encoding="utf-8").splitlines(keepends=True):
        if line.startswith(" = ") and not line.startswith(" = = ") and article:
            docs.append(("wikitext", "".join(article)))
            article = []
        article.append(line)
    if article:
        docs.append(("wikitext", "".join(article)))
    for book in sorted((quality / "gutenberg_tokenized").glob("*.txt")):
        lines = book.read_text(encoding="utf-8").splitlines(keepends=True)
        for i in range(0, len(lines), 400):
            docs.append(("gutenberg", "".join(lines[i : i + 400])))
    bases = [t for s, t in docs if s in ("dclm", "wikitext", "extraction_scrapinghub")]
    docs.extend(("edge_case", t) for t in edge_cases(bases))
    return docs


_EDGE_LINES = (
    "This website uses cookies to improve your experience, see our privacy policy.",
    "Please enable JavaScript in your browser to see the comments.",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.",
    "Lorem ipsum",
    "The call looks like f(x) { return x; } in the listing.",
    "Our JavaScript code is { broken } today, sorry.",
    "A word " + "x" * 1001 + " too long.",
    "\u2022 first bullet item here",
    "- second bullet item here",
    "And then it stopped...",
    "Wait for it \u2026",
    "#tag #another #third #fourth #fifth",
    "He said \"yes.\"",
    "It was 'fine.'",
    "See e.g. the U.S. report (p. 4).  ) Then more text.",
    "Mr. Smith went to Washington.\tHe did not return!?",
    "ALL THE WORDS AND THAT TO BE OF WITH HAVE.",
    "short",
    "   ",
)


def edge_cases(bases: list[str]) -> list[str]:
    """Real texts with deterministic edits that exercise every rule and tokenizer corner case."""
    import random

    rng = random.Random(0)
    out = []
    for i, base in enumerate(bases[:240]):
        lines = base.split("\n")
        kind = i % 12
        if kind == 0:  # edge-case lines inserted at random places
            for line in rng.sample(_EDGE_LINES, 4):
                lines.insert(rng.randrange(len(lines) + 1), line)
            text = "\n".join(lines)
        elif kind == 1:  # citations, also at line ends after the final mark
            marks = ["[1]", "[23]", "[]", "[edit]", "[citation needed]", " [4]", "  [5]", " [6] [7]", "\t[8]"]
            text = "\n".join(line + rng.choice(marks) if line and rng.random() < 0.5 else line for line in lines)
        elif kind == 2:  # other line breaks and spaces
            sep = rng.choice(["\r\n", "\r", "\u2028", "\x0c", "\n\n", "\n \n"])
            text = sep.join(line.replace(" ", rng.choice(["  ", " \t", "\xa0", " "]), 3) for line in lines)
        elif kind == 3:  # repeated paragraphs / lines
            k = rng.randrange(1, 4)
            text = "\n".join(lines + lines[: max(1, len(lines) // k)])
        elif kind == 4:  # list-like text: many bullets or ellipses
            marker = rng.choice(["\u2022 ", "- ", "* "])
            tail = rng.choice(["", "...", "\u2026", "."])
            text = "\n".join(marker + line + tail for line in lines if line)
        elif kind == 5:  # leading/trailing blank lines and whitespace-only lines
            text = "\n\n  \n" + "\n \n".join(lines) + "\n\n\n"
        elif kind == 6:  # truncated texts around the 50-word and 5-sentence limits
            words = base.split(" ")
            text = " ".join(words[: rng.randrange(30, 120)])
        elif kind == 8:  # repeated paragraphs separated by blank lines
            paragraphs = [p for p in base.split("\n") if p.strip()]
            text = "\n\n".join(paragraphs + paragraphs[: rng.randrange(1, len(paragraphs) + 1)])
        elif kind == 9:  # hashes and ellipses between words
            words = base.split(" ")
            mark = rng.choice(["#", "...", "\u2026", "# ..."])
            text = " ".join(w + (" " + mark if rng.random() < rng.choice([0.05, 0.12, 0.3]) else "") for w in words)
        elif kind == 10:  # list-like lines of three long words (newline-to-word ratio near 0.3)
            long_words = list(dict.fromkeys(w for w in base.split() if len(w) >= 10 and w.isalpha())) or ["placeholder"]
            share = rng.choice([0.1, 0.15, 0.2, 0.3])
            rows = [f"the of {rng.choice(long_words)}." if rng.random() < share else " ".join(rng.choices(long_words, k=3))
                    for _ in range(rng.randrange(20, 40))]
            text = "\n".join(rows)
        elif kind == 11:  # several texts concatenated; once, enough of them to pass 100,000 words
            text = "\n\n".join(bases[i : i + (len(bases) if i == 11 else 3)])
        else:  # repeated n-grams inside lines
            words = base.split(" ")
            start = rng.randrange(max(1, len(words) - 12))
            chunk = " ".join(words[start : start + rng.randrange(5, 12)])
            text = base + ("\n" + chunk) * rng.randrange(1, 6)
        out.append(text)
    return out


# ----------------------------------------------------------------------------------------------------
# Worker mode: runs inside DataTrove's virtualenv, imports nothing from this project.


def _datatrove_worker(inp: str, out: str) -> None:
    from datatrove.data import Document
    from datatrove_env import fineweb_filters  # scripts/ is sys.path[0]: this file runs as a script

    chain = fineweb_filters()
    texts = [json.loads(line)["text"] for line in Path(inp).read_text(encoding="utf-8").splitlines()]
    # Warm up lazily-loaded tokenizers so the timing is steady-state.
    for f in chain:
        f.filter(Document(text=texts[0], id="warmup"))
    results = []
    start = time.perf_counter()
    for i, text in enumerate(texts):
        doc = Document(text=text, id=str(i))
        keep, reason = True, None
        for f in chain:
            verdict = f.filter(doc)
            if verdict is not True:
                keep = False
                reason = verdict[1] if isinstance(verdict, tuple) else None
                break
        results.append({"keep": keep, "reason": reason, "text_after": doc.text if keep else None})
    seconds = time.perf_counter() - start
    Path(out).write_text(json.dumps({"seconds": seconds, "results": results}), encoding="utf-8")


def run_datatrove(python: str, texts: list[str]) -> tuple[list[dict], float]:
    """DataTrove's decisions for ``texts`` (and its filtering time in seconds), via ``python``."""
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "in.jsonl", Path(tmp) / "out.json"
        inp.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
        subprocess.run([python, __file__, "--worker", str(inp), str(out)], check=True)
        payload = json.loads(out.read_text(encoding="utf-8"))
    return payload["results"], payload["seconds"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datatrove-python", help="python of a virtualenv with DataTrove (default: created)")
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--expectations", type=Path, default=DEFAULT_EXPECTATIONS)
    parser.add_argument("--worker", nargs=2, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _datatrove_worker(*args.worker)
        return 0

    sys.path.insert(0, str(REPO))
    from datatrove_env import datatrove_python
    from beam_curation.filters.heuristics.fineweb_chain import fineweb_decision

    python = datatrove_python(args.datatrove_python)
    corpus = load_corpus(args.data)
    texts = [t for _, t in corpus]
    print(f"{len(texts)} documents")
    theirs, their_seconds = run_datatrove(python, texts)
    start = time.perf_counter()
    ours = [fineweb_decision(t) for t in texts]
    our_seconds = time.perf_counter() - start

    same_keep = same_reason = same_text = 0
    rows = []
    for (source, text), (keep, reason, after), dt in zip(corpus, ours, theirs):
        same_keep += keep == dt["keep"]
        same_reason += keep == dt["keep"] and reason == dt["reason"]
        if keep and dt["keep"]:
            same_text += after == dt["text_after"]
        if keep != dt["keep"] or reason != dt["reason"]:
            print(f"DIFF {source} {sha1(text)[:12]} ours={keep},{reason} datatrove={dt['keep']},{dt['reason']}")
        rows.append({"sha1": sha1(text), "source": source, "keep": dt["keep"], "reason": dt["reason"],
                     "text_after_sha1": sha1(dt["text_after"]) if dt["keep"] else None})
    n = len(texts)
    both_kept = sum(1 for (k, _, _), dt in zip(ours, theirs) if k and dt["keep"])
    print(f"keep/drop agreement: {same_keep}/{n} = {same_keep / n:.2%}")
    print(f"reason agreement:    {same_reason}/{n} = {same_reason / n:.2%}")
    print(f"identical text after C4 (both kept): {same_text}/{both_kept}")
    print(f"kept by DataTrove: {sum(r['keep'] for r in theirs)}/{n}")
    print(f"time: DataTrove {their_seconds:.2f}s ({n / their_seconds:.1f} docs/s), ours {our_seconds:.2f}s "
          f"({n / our_seconds:.1f} docs/s), ratio {their_seconds / our_seconds:.2f}x")
    args.expectations.parent.mkdir(parents=True, exist_ok=True)
    args.expectations.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {args.expectations}")
    return 0 if same_keep == n else 1


if __name__ == "__main__":
    sys.exit(main())
