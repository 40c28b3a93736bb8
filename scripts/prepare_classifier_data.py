"""Prepare the training data bundled under models/training_data/ for the fastText classifiers.

Run once by a maintainer (not by set-up) from a directory of the project's shared data:

    python scripts/prepare_classifier_data.py --shared-data <shared data dir> --out models/training_data

Writes (gzip with a fixed mtime, so re-running gives identical bytes):
  toxicity/davidson_train.csv.gz          Davidson et al. tweets (MIT), unchanged rows
  quality/wikitext_docs.jsonl.gz          WikiText-2 test articles, de-tokenised, cut into documents
  quality/gutenberg_docs.jsonl.gz         Gutenberg books (NLTK selection), de-tokenised documents
  quality/dclm_human_labels.jsonl.gz      DCLM human-labelled web documents (label 1/0, MIT)
  quality/web_visible_text.jsonl.gz       ALL visible text of real web pages (boilerplate included)
ETHOS (GPL-3.0) is never copied.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import re
from pathlib import Path

from lxml import etree, html as lxml_html
from warcio.archiveiterator import ArchiveIterator

# Document-size targets (characters), spread like real web documents (DCLM's human-labelled
# docs span ~400..7000 chars); the target of each chunk is picked by hash.
_TARGET_CHARS = (500, 800, 1200, 1700, 2300, 3000, 4000, 5500, 7500)
_GUTENBERG_DOCS_PER_BOOK = 70
_WEB_CHUNKS_PER_PAGE = 3


def _gzip_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
            gz.write(data)


def _write_jsonl_gz(path: Path, rows: list[dict]) -> None:
    body = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
    _gzip_write(path, body.encode("utf-8"))
    print(f"{path}: {len(rows)} rows, {path.stat().st_size} bytes")


def _target(key: str) -> int:
    h = int(hashlib.sha1(key.encode("utf-8")).hexdigest(), 16)
    return _TARGET_CHARS[h % len(_TARGET_CHARS)]


def _chunk(paragraphs: list[str], key: str) -> list[str]:
    """Greedily pack paragraphs into documents of hash-chosen target sizes."""
    docs: list[str] = []
    current: list[str] = []
    size = 0
    target = _target(f"{key}:0")
    for para in paragraphs:
        current.append(para)
        size += len(para) + 1
        if size >= target:
            docs.append("\n".join(current))
            current, size = [], 0
            target = _target(f"{key}:{len(docs)}")
    if current and size >= 200:
        docs.append("\n".join(current))
    return docs


# --- de-tokenisation of WikiText / NLTK Gutenberg --------------------------------------------
_WIKI_AT = re.compile(r" @([-,.])@ ")
_SPACE_BEFORE = re.compile(r" ([,.;:?!%)\]}]|'s\b|'S\b|n't\b|'re\b|'ve\b|'ll\b|'d\b|'m\b)")
_SPACE_AFTER = re.compile(r"([(\[{$]) ")


def _fix_double_quotes(line: str) -> str:
    """Attach standalone `"` tokens: odd ones to the next word, even ones to the previous."""
    out: list[str] = []
    opening = True
    attach_next = False
    for tok in line.split(" "):
        if tok == '"':
            if opening:
                out.append('"')
                attach_next = True
            elif out:
                out[-1] += '"'
            else:
                out.append('"')
            opening = not opening
            continue
        if attach_next and out:
            out[-1] += tok
            attach_next = False
        else:
            out.append(tok)
    return " ".join(out)


def detokenize(line: str) -> str:
    """Undo WikiText/PTB-style tokenisation: `a @-@ b`, `word ,`, `( x )`, `` `` x '' ``."""
    line = _WIKI_AT.sub(r"\1", line)
    line = line.replace("``", '"').replace("''", '"').replace("` ", "'").replace("`", "'")
    line = _fix_double_quotes(line)
    line = _SPACE_BEFORE.sub(r"\1", line)
    line = _SPACE_BEFORE.sub(r"\1", line)
    line = _SPACE_AFTER.sub(r"\1", line)
    line = line.replace(" - ", "-").replace(" -- ", " — ").replace("-- ", "— ")
    return re.sub(r" {2,}", " ", line).strip()


def wikitext_docs(path: Path) -> list[dict]:
    articles: list[tuple[str, list[str]]] = []
    for raw in path.read_text(encoding="utf-8").split("\n"):
        line = raw.strip()
        if not line:
            continue
        m = re.fullmatch(r"= ([^=].*?) =", line)
        if m:
            articles.append((detokenize(m.group(1)), [detokenize(m.group(1))]))
            continue
        m = re.fullmatch(r"(?:= )+(.*?)(?: =)+", line)
        if m and articles:  # section heading, kept as its own short line
            articles[-1][1].append(detokenize(m.group(1)))
            continue
        if articles:
            articles[-1][1].append(detokenize(line))
    rows = []
    for title, paras in articles:
        for i, doc in enumerate(_chunk(paras, f"wikitext:{title}")):
            rows.append({"id": f"wikitext2-test/{title}/{i}", "text": doc})
    return rows


def gutenberg_docs(folder: Path) -> list[dict]:
    rows = []
    for book in sorted(folder.glob("*.txt")):
        lines = [l.strip() for l in book.read_text(encoding="utf-8").split("\n") if l.strip()]
        lines = lines[1:]  # "[ Title by Author Year ]"
        paragraphs: list[str] = []
        sentences: list[str] = []
        for line in lines:
            if line.isupper() or re.fullmatch(r"(CHAPTER|VOLUME|BOOK|PART)\b.*", line):
                if sentences:
                    paragraphs.append(" ".join(sentences))
                    sentences = []
                paragraphs.append(detokenize(line))
                continue
            sentences.append(detokenize(line))
            # paragraph breaks by hash: 2..6 sentences per paragraph
            if len(sentences) >= 2 + int(hashlib.sha1(line.encode()).hexdigest(), 16) % 5:
                paragraphs.append(" ".join(sentences))
                sentences = []
        if sentences:
            paragraphs.append(" ".join(sentences))
        docs = _chunk(paragraphs, f"gutenberg:{book.stem}")
        # spread the kept documents over the whole book
        step = max(1, len(docs) // _GUTENBERG_DOCS_PER_BOOK)
        for i in range(0, len(docs), step)[:_GUTENBERG_DOCS_PER_BOOK]:
            rows.append({"id": f"gutenberg/{book.stem}/{i}", "text": docs[i]})
    return rows


# --- visible text of whole pages -------------------------------------------------------------
_INVISIBLE = {"script", "style", "noscript", "template", "head", "svg", "iframe", "object"}
_BLOCK = {
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "fieldset",
    "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
    "hr", "li", "main", "nav", "ol", "option", "p", "pre", "section", "table", "td", "th",
    "tr", "ul", "button", "label", "select", "title",
}


def visible_text(html_bytes: bytes) -> str:
    """All text a browser would show (menus, footers, cookie notes included), one block a line."""
    try:
        root = lxml_html.fromstring(html_bytes)
    except (etree.ParserError, ValueError):
        return ""
    pieces: list[str] = []

    def walk(el) -> None:
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag.lower() in _INVISIBLE or not tag:
            if el.tail:
                pieces.append(el.tail)
            return
        block = tag.lower() in _BLOCK
        if block:
            pieces.append("\n")
        if el.text:
            pieces.append(el.text)
        for child in el:
            walk(child)
        if block:
            pieces.append("\n")
        if el.tail:
            pieces.append(el.tail)

    walk(root)
    lines = [re.sub(r"[ \t\r\f\v\xa0]+", " ", l).strip() for l in "".join(pieces).split("\n")]
    return "\n".join(l for l in lines if l)


def _web_rows(page_id: str, text: str, source: str) -> list[dict]:
    lines = text.split("\n")
    docs = _chunk(lines, f"web:{page_id}")[:_WEB_CHUNKS_PER_PAGE] if len(text) > 9000 else [text]
    return [
        {"id": f"{page_id}/{i}", "text": d, "source": source}
        for i, d in enumerate(docs)
        if len(d) >= 200
    ]


def web_pages(shared: Path) -> list[dict]:
    rows: list[dict] = []
    for gold, source in (
        ("extraction_dev/trafilatura_gold.jsonl", "adbar/trafilatura@e90b0ef5 tests (Apache-2.0)"),
        ("extraction_dev/scrapinghub_gold.jsonl",
         "scrapinghub/article-extraction-benchmark@4a3bc979 (MIT)"),
    ):
        for line in (shared / gold).read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            with gzip.open(shared / "extraction_dev" / rec["html_file"], "rb") as fh:
                text = visible_text(fh.read())
            rows.extend(_web_rows(rec["url"], text, source))
    for warc in sorted((shared / "warc").glob("*.warc.gz")):
        if warc.name.endswith((".wet.gz", ".wat.gz")):
            continue
        with open(warc, "rb") as fh:
            for rec in ArchiveIterator(fh):
                if rec.rec_type != "response":
                    continue
                ctype = rec.http_headers.get_header("Content-Type") if rec.http_headers else ""
                if ctype and "html" not in ctype:
                    continue
                url = rec.rec_headers.get_header("WARC-Target-URI")
                text = visible_text(rec.content_stream().read())
                rows.extend(_web_rows(url, text, f"warc/{warc.name}"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared-data", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("models/training_data"))
    args = ap.parse_args()
    shared, out = args.shared_data, args.out

    src = shared / "toxicity_train" / "davidson_train.csv"
    _gzip_write(out / "toxicity" / "davidson_train.csv.gz", src.read_bytes())
    with gzip.open(out / "toxicity" / "davidson_train.csv.gz", "rt", encoding="utf-8", newline="") as fh:
        n = sum(1 for _ in csv.DictReader(fh))
    print(f"toxicity/davidson_train.csv.gz: {n} rows")

    q = out / "quality"
    _write_jsonl_gz(q / "wikitext_docs.jsonl.gz", wikitext_docs(shared / "quality_reference" / "wikitext2_raw_test.txt"))
    _write_jsonl_gz(q / "gutenberg_docs.jsonl.gz", gutenberg_docs(shared / "quality_reference" / "gutenberg_tokenized"))
    dclm = [
        {"id": f"dclm-majority/{i}", "text": r["text"], "label": int(r["label"])}
        for i, r in enumerate(
            json.loads(l)
            for l in (shared / "quality_reference" / "dclm_human_quality_majority_only.jsonl")
            .read_text(encoding="utf-8").splitlines()
        )
    ]
    _write_jsonl_gz(q / "dclm_human_labels.jsonl.gz", dclm)
    _write_jsonl_gz(q / "web_visible_text.jsonl.gz", web_pages(shared))


if __name__ == "__main__":
    main()
