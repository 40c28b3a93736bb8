"""CCNet-style KenLM perplexity and head/middle/tail buckets.

CCNet (Wenzek et al. 2019) scores every line of a document with a 5-gram KenLM trained on
Wikipedia, after normalising the line (lowercase, strip accents, digits -> 0, map Unicode
punctuation to ASCII, drop non-printing characters) and splitting it into SentencePiece
pieces. It sums the per-line log10 scores and divides by the number of tokens plus one
end-of-sentence per line: ``ppl = 10 ** (-sum(logprob) / sum(len(tokens) + 1))``.
Documents below the 30th percentile of perplexity are "head", below the 60th "middle",
the rest "tail".

CCNet's SentencePiece models cannot be fetched offline, so ``tokenize_line`` replaces them with
a word/punctuation split: Python ``re``'s ``\\w+|[^\\w\\s]+`` (not nltk's WordPunctTokenizer, which
uses the ``regex`` module and keeps spacing combining marks inside words; models are versioned by it).
Training (``scripts/train_kenlm.py``) and scoring both go through :func:`prepare_line`, so a
model only ever sees text prepared the same way; the preparation is versioned by
``NORMALIZATION_ID`` and recorded in each model card.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

NORMALIZATION_ID = "ccnet_normalize+wordpunct_v1"

HEAD, MIDDLE, TAIL = 0, 1, 2

# CCNet's table of non-ASCII punctuation and its ASCII replacement.
_UNICODE_PUNCT = {
    "，": ",", "。": ".", "、": ",", "„": '"', "”": '"', "“": '"', "«": '"', "»": '"',
    "１": '"', "」": '"', "「": '"', "《": '"', "》": '"', "´": "'", "∶": ":", "：": ":",
    "？": "?", "！": "!", "（": "(", "）": ")", "；": ";", "–": "-", "—": " - ", "．": ". ",
    "～": "~", "’": "'", "…": "...", "━": "-", "〈": "<", "〉": ">", "【": "[", "】": "]",
    "％": "%", "►": "-",
}
_UNICODE_PUNCT_TABLE = str.maketrans(_UNICODE_PUNCT)
# C0 and C1 control characters (tabs and newlines included), as CCNet removes them.
_NON_PRINTING_TABLE = dict.fromkeys([*range(0, 32), *range(127, 160)])
_DIGIT_RE = re.compile(r"\d")
_TOKEN_RE = re.compile(r"\w+|[^\w\s]+")


def strip_accents(text: str) -> str:
    """Decompose (NFD) and drop combining marks: 'café' -> 'cafe'."""
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def normalize_line(line: str) -> str:
    """CCNet's ``text_normalizer.normalize`` with its defaults (accent, case, numbers, punct=1)."""
    line = line.strip()
    if not line:
        return line
    line = line.lower()
    line = strip_accents(line)
    line = _DIGIT_RE.sub("0", line)
    line = line.translate(_UNICODE_PUNCT_TABLE)
    return line.translate(_NON_PRINTING_TABLE)


def tokenize_line(normalized: str) -> list[str]:
    """Word/punctuation split standing in for CCNet's SentencePiece (not available offline)."""
    return _TOKEN_RE.findall(normalized)


def prepare_line(line: str) -> str:
    """The exact string a KenLM model is trained on and queried with: normalised, tokens joined by spaces."""
    return " ".join(tokenize_line(normalize_line(line)))


def prepared_lines(text: str) -> list[str]:
    """Prepared, non-empty lines of a document (empty lines carry no words and are not scored)."""
    out = []
    for line in text.split("\n"):
        prepared = prepare_line(line)
        if prepared:
            out.append(prepared)
    return out


def perplexity_from_scores(log10_scores: Iterable[float], lengths: Iterable[int]) -> float:
    """``10 ** (-sum(score) / sum(length))``; NaN when there is nothing to score."""
    total_score = math.fsum(log10_scores)
    total_length = sum(lengths)
    if total_length == 0:
        return math.nan
    return 10.0 ** (-total_score / total_length)


def load_bucket_cutoffs(card_path: str | Path) -> tuple[float, float] | None:
    """The (head, tail) perplexity cut-offs from a model card written by scripts/train_kenlm.py."""
    import json

    card = json.loads(Path(card_path).read_text(encoding="utf-8"))
    cutoffs = card.get("bucket_cutoffs")
    if not cutoffs:
        return None
    return float(cutoffs["head"]), float(cutoffs["tail"])


class PerplexityModel:
    """A KenLM model (ARPA or binary) scoring documents as CCNet does.

    ``cutoffs`` are the bucket cut-offs of the model card beside the model (``en.bin`` ->
    ``en.json``), or None when there is no card or it has none.
    """

    def __init__(self, path: str | Path) -> None:
        import kenlm  # imported here so the module's pure functions work without kenlm installed

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"KenLM model not found: {self.path}")
        self._model = kenlm.Model(str(self.path))
        self.order: int = self._model.order
        card = self.path.with_suffix(".json")
        self.cutoffs = load_bucket_cutoffs(card) if card.is_file() else None

    def line_log10(self, prepared: str) -> float:
        """log10 P(line) with sentence boundaries, for an already prepared line."""
        return self._model.score(prepared, bos=True, eos=True)

    def perplexity(self, text: str) -> float:
        """Document perplexity: per-line log10 scores summed over (tokens + 1) per line.

        Returns NaN for a document with no scorable line. Unlike CCNet (which rounds to one
        decimal) the value is not rounded.
        """
        lines = prepared_lines(text)
        return perplexity_from_scores(
            (self.line_log10(line) for line in lines),
            (line.count(" ") + 2 for line in lines),  # tokens + </s>
        )

    def bucket(self, ppl: float) -> int:
        """Bucket of a perplexity with the card's cut-offs."""
        if self.cutoffs is None:
            raise ValueError(f"no bucket cut-offs in the model card of {self.path}")
        return bucket(ppl, self.cutoffs)

    def __reduce__(self):  # reload from the path instead of pickling the C++ object
        return (type(self), (str(self.path),))


def bucket(ppl: float, cutoffs: Sequence[float]) -> int:
    """CCNet bucket: 0 (head) if ppl < cutoffs[0], 1 (middle) if < cutoffs[1], else 2 (tail).

    NaN (nothing scorable) falls in the tail.
    """
    head_cut, tail_cut = cutoffs
    if math.isnan(ppl):
        return TAIL
    if ppl < head_cut:
        return HEAD
    if ppl < tail_cut:
        return MIDDLE
    return TAIL


def bucket_cutoffs(perplexities: Iterable[float], head_percentile: float = 30.0,
                   tail_percentile: float = 60.0) -> tuple[float, float]:
    """Perplexity percentiles (CCNet: 30th and 60th) of a sample, ignoring NaN."""
    import numpy as np

    values = np.asarray([p for p in perplexities if not math.isnan(p)], dtype=np.float64)
    if values.size == 0:
        raise ValueError("no finite perplexity to compute bucket cut-offs from")
    head, tail = np.percentile(values, [head_percentile, tail_percentile])
    return float(head), float(tail)
