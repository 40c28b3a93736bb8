"""Precision and recall of beam_curation.filters.release.pii on the labelled set from scripts/build_pii_eval.py, false positives on
real gold text, and throughput.

    python scripts/eval_pii.py --eval /tmp/pii_eval.jsonl [--kinds email ip phone card iban]
                               [--phone-regions US] [--data DATA_DIR] [--show-errors 20]

A detection counts as correct only when its start, end and kind equal a labelled span (exact spans); a
detection that overlaps a labelled span of its kind with other boundaries is counted as both a false positive
and a false negative, and reported as a boundary error. Reported per kind: precision, recall, and the
planted / real split; recall of phones per written form; false positives by the hard negative they hit.
Redaction is checked too: after ``redact`` no labelled value of a detected kind may remain in the text.

With ``--data``, every detection on the extraction_dev gold text (ScrapingHub article bodies and trafilatura
``with`` snippets, real text with no planted values) is listed and split into the hand-labelled real values
(build_pii_eval.REAL_PII) and the rest (false positives).

Throughput: documents of the set cut to 5,000 characters (those shorter are skipped), process CPU time,
best of 3 runs, as documents per second on one core.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from beam_curation.filters.release.pii import DEFAULT_KINDS, PII_KINDS, PiiDetector, redact  # noqa: E402

SLICE = 5000


def read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def evaluate(docs: list[dict], detector: PiiDetector, show_errors: int = 0) -> dict:
    kinds = detector.kinds
    tp, fp, fn = Counter(), Counter(), Counter()
    tp_origin, fn_origin = Counter(), Counter()
    boundary = Counter()
    phone_forms_total, phone_forms_found = Counter(), Counter()
    fp_by_negative: dict[str, Counter] = defaultdict(Counter)
    errors: list[str] = []
    leaked = 0
    for doc in docs:
        text = doc["text"]
        gold = {(s["start"], s["end"], s["kind"]): s for s in doc["spans"] if s["kind"] in kinds}
        pred = detector.find(text)
        pred_set = {(p.start, p.end, p.kind) for p in pred}
        for key, span in gold.items():
            form = span["format"].split("/")
            if span["kind"] == "phone":
                form_name = "real/" + form[1] if form[0] == "real" else form[-1]
                form_name = "national(NANP)" if form_name.startswith("national") else form_name
                phone_forms_total[form_name] += 1
            if key in pred_set:
                tp[span["kind"]] += 1
                tp_origin[(span["kind"], span["origin"])] += 1
                if span["kind"] == "phone":
                    phone_forms_found[form_name] += 1
            else:
                fn[span["kind"]] += 1
                fn_origin[(span["kind"], span["origin"])] += 1
                if len(errors) < show_errors:
                    errors.append(f"FN {span['kind']:5} {span['format']:28} {text[key[0]:key[1]]!r} in "
                                  f"{text[max(0, key[0] - 30):key[1] + 20]!r}")
        for p in pred:
            if (p.start, p.end, p.kind) in gold:
                continue
            fp[p.kind] += 1
            if any(g[2] == p.kind and g[0] < p.end and p.start < g[1] for g in gold):
                boundary[p.kind] += 1
            hit = [n["type"] for n in doc["negatives"] if n["start"] < p.end and p.start < n["end"]]
            fp_by_negative[p.kind][hit[0] if hit else "carrier text"] += 1
            if len(errors) < show_errors:
                errors.append(f"FP {p.kind:5} {text[p.start:p.end]!r} in {text[max(0, p.start - 30):p.end + 20]!r}"
                              f" ({hit[0] if hit else 'carrier text'})")
        redacted = redact(text, pred)
        leaked += sum(1 for s in gold.values() if text[s["start"]:s["end"]] in redacted)
    per_kind = {}
    for k in kinds:
        n_pred, n_gold = tp[k] + fp[k], tp[k] + fn[k]
        per_kind[k] = {
            "precision": tp[k] / n_pred if n_pred else float("nan"),
            "recall": tp[k] / n_gold if n_gold else float("nan"),
            "tp": tp[k], "fp": fp[k], "fn": fn[k], "boundary_errors": boundary[k],
            "planted": f"{tp_origin[(k, 'planted')]}/{tp_origin[(k, 'planted')] + fn_origin[(k, 'planted')]}",
            "real": f"{tp_origin[(k, 'real')]}/{tp_origin[(k, 'real')] + fn_origin[(k, 'real')]}",
            "fp_by_negative": dict(fp_by_negative[k]),
        }
    phone_forms = {f: f"{phone_forms_found[f]}/{n}" for f, n in sorted(phone_forms_total.items())}
    return {"per_kind": per_kind, "phone_forms": phone_forms, "values_left_after_redaction": leaked,
            "errors": errors}


def gold_text_detections(data: Path, detector: PiiDetector) -> dict:
    from build_pii_eval import REAL_PII, value_key

    texts = []
    dev = data / "extraction_dev"
    for line in (dev / "scrapinghub_gold.jsonl").open(encoding="utf-8"):
        texts.append(json.loads(line)["articleBody"])
    for line in (dev / "trafilatura_gold.jsonl").open(encoding="utf-8"):
        texts.append("\n".join(json.loads(line)["with"]))
    real, other = Counter(), Counter()
    listed = []
    for text in texts:
        for s in detector.find(text):
            value = text[s.start:s.end]
            labelled = REAL_PII.get(value_key(value), "").split("/")[0] == s.kind
            (real if labelled else other)[s.kind] += 1
            listed.append(f"{'real' if labelled else 'FALSE POSITIVE'}: {s.kind} {value!r}")
    return {"documents": len(texts), "characters": sum(map(len, texts)), "real": dict(real),
            "false_positives": dict(other), "detections": listed}


def throughput(docs: list[dict], detector: PiiDetector, repeat: int = 3) -> tuple[int, float]:
    slices = [d["text"][:SLICE] for d in docs if len(d["text"]) >= SLICE]
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for text in slices:
            detector.find(text)
        best = min(best, time.process_time() - start)
    return len(slices), len(slices) / best if best else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=Path, required=True, help="JSONL from scripts/build_pii_eval.py")
    parser.add_argument("--kinds", nargs="+", default=list(PII_KINDS), choices=PII_KINDS)
    parser.add_argument("--phone-regions", nargs="*", default=["US"])
    parser.add_argument("--data", type=Path, help="shared data folder: also measure the gold text")
    parser.add_argument("--show-errors", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    docs = read_jsonl(args.eval)
    detector = PiiDetector(args.kinds, phone_regions=args.phone_regions)
    report = evaluate(docs, detector, args.show_errors)
    n_slices, docs_per_s = throughput(docs, detector)
    report["throughput"] = {"documents_5kb": n_slices, "docs_per_s_per_core": round(docs_per_s, 1)}
    default = PiiDetector(DEFAULT_KINDS, phone_regions=args.phone_regions)
    report["throughput_default_kinds"] = round(throughput(docs, default)[1], 1)
    if args.data:
        report["gold_text"] = gold_text_detections(args.data, detector)
    if args.json:
        print(json.dumps(report, indent=1))
        return
    n_gold = sum(len(d["spans"]) for d in docs)
    print(f"{len(docs)} documents, {n_gold} labelled values, {sum(len(d['negatives']) for d in docs)} hard negatives; "
          f"kinds {' '.join(detector.kinds)}; phone regions {' '.join(args.phone_regions) or '-'}")
    print(f"{'kind':6} {'precision':>9} {'recall':>7} {'tp':>5} {'fp':>4} {'fn':>4}  planted   real  fp by negative")
    for k, r in report["per_kind"].items():
        print(f"{k:6} {r['precision']:9.4f} {r['recall']:7.4f} {r['tp']:5} {r['fp']:4} {r['fn']:4}  "
              f"{r['planted']:>8} {r['real']:>6}  {r['fp_by_negative'] or ''}")
    print("phone recall by written form:", report["phone_forms"])
    print("labelled values left in text after redaction:", report["values_left_after_redaction"])
    print(f"throughput: {report['throughput']['docs_per_s_per_core']} documents/s/core at 5 KB "
          f"({n_slices} slices; all kinds), {report['throughput_default_kinds']} with the default kinds")
    if args.data:
        g = report["gold_text"]
        print(f"gold text ({g['documents']} documents, {g['characters']:,} chars): real {g['real']}, "
              f"false positives {g['false_positives']}")
        for line in g["detections"]:
            print("   ", line)
    for line in report["errors"]:
        print(line)


if __name__ == "__main__":
    main()
