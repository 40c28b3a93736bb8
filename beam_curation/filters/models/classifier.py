"""Score documents with a supervised fastText classifier (toxicity, quality, any binary or multi-label model).

The score of a text is the model's probability of the positive label (0..1), read from a
prediction over all labels (``k=-1``), so it is meaningful whichever label wins.  Texts are
normalised with the same named normalisation the model was trained with
(`beam_curation.filters.models.classifier_text`), and scored in batches: fastText's batched ``predict`` over a
list of strings is both the fast path and the one that works with numpy 2.

Two levels:

- ``document``: one score per document over its whole text.
- ``paragraph``: Dolma-style units: each line (its ``\\n`` included in the span) that is not
  blank is scored on its own, giving spans ``(start, end, score)`` over the original text.
  The document score is then an aggregation of the paragraph scores: ``length_weighted_mean``
  (each paragraph weighted by its character count, so one short toxic line in a long page
  counts for little) or ``max`` (the worst paragraph decides, as when removing any document
  that has a toxic paragraph).

A text with nothing left after normalisation (empty or blank) scores 0.0 without asking the
model: with no evidence it is neither toxic nor high quality.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from typing import Sequence

from beam_curation.filters.models.classifier_text import normalizer

__all__ = ["FastTextClassifier", "ScoredDocument", "Span", "paragraph_spans"]

logger = logging.getLogger(__name__)

Span = tuple[int, int, float]

_PARAGRAPH = re.compile(r"[^\n]*\n|[^\n]+$")
_LEVELS = ("document", "paragraph")
_AGGREGATIONS = ("length_weighted_mean", "max")


def _with_prefix(label: str) -> str:
    return label if label.startswith("__label__") else f"__label__{label}"


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the non-blank lines of `text` (each with its trailing ``\\n``)."""
    return [
        (m.start(), m.end()) for m in _PARAGRAPH.finditer(text) if m.group().strip()
    ]


@dataclass(frozen=True)
class ScoredDocument:
    """A document's score and the spans it was computed from (one span at document level)."""

    score: float
    spans: list[Span]


class FastTextClassifier:
    """A loaded fastText model that returns P(positive label) for batches of texts.

    `path` is a local ``.bin`` / ``.ftz`` file (callers copy remote models to local disk first).
    `positive_label` may be given with or without fastText's ``__label__`` prefix.
    `max_chars`, when set, truncates each scored unit (document or paragraph) before
    normalisation, bounding the cost of very long documents.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        positive_label: str | None,
        normalization: str = "fasttext_basic",
        level: str = "document",
        max_chars: int | None = None,
        aggregation: str = "length_weighted_mean",
    ) -> None:
        import fasttext  # heavy native import, kept out of module import time

        if level not in _LEVELS:
            raise ValueError(f"level must be one of {_LEVELS}, got {level!r}")
        if aggregation not in _AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {_AGGREGATIONS}, got {aggregation!r}")
        if max_chars is not None and max_chars <= 0:
            raise ValueError(f"max_chars must be positive, got {max_chars}")
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"fastText model not found: {path}")
        self._normalize = normalizer(normalization)
        # fastText prints a warning to stderr on load_model; it is harmless.
        self._model = fasttext.load_model(path)
        labels = list(self._model.get_labels())
        label = None
        if positive_label is not None:  # None: a multi-label model read with `label_probabilities`
            label = _with_prefix(positive_label)
            if label not in labels:
                raise ValueError(f"positive label {label!r} not in model {path} labels {labels}")
        self.path = path
        self.positive_label = label
        self.normalization = normalization
        self.level = level
        self.max_chars = max_chars
        self.aggregation = aggregation
        self.labels = labels

    @classmethod
    def from_card(
        cls,
        card_path: str | os.PathLike[str],
        level: str = "document",
        aggregation: str = "length_weighted_mean",
    ) -> "FastTextClassifier":
        """Load the model a card describes (written by scripts/train_fasttext.py next to it),
        with the positive label, normalisation and max_chars it was trained with."""
        with open(card_path, encoding="utf-8") as fh:
            card = json.load(fh)
        model_path = os.path.join(os.path.dirname(os.fspath(card_path)), card["model_file"])
        return cls(
            model_path,
            card["labels"]["positive"],
            card["normalization"],
            level=level,
            max_chars=card.get("max_chars"),
            aggregation=aggregation,
        )

    def _prepare(self, text: str) -> str:
        if self.max_chars is not None:
            text = text[: self.max_chars]
        return self._normalize(text)

    def _positive_probs(self, units: Sequence[str]) -> list[float]:
        """P(positive) for already-cut units, in one batched predict over all labels;
        blank units get 0.0."""
        if self.positive_label is None:
            raise ValueError(f"{self.path}: loaded without a positive label; use label_probabilities")
        return [probs[0] for probs in self._probs(units, [self.positive_label])]

    def _probs(self, units: Sequence[str], labels: Sequence[str]) -> list[list[float]]:
        prepared = [self._prepare(u) for u in units]
        out = [[0.0] * len(labels) for _ in prepared]
        todo = [i for i, t in enumerate(prepared) if t.strip()]
        if not todo:
            return out
        where = {label: j for j, label in enumerate(labels)}
        predicted, probs = self._model.predict([prepared[i] for i in todo], k=-1)
        for i, unit_labels, unit_probs in zip(todo, predicted, probs):
            for lab, pr in zip(unit_labels, unit_probs):
                j = where.get(lab)
                if j is not None:
                    out[i][j] = min(1.0, max(0.0, float(pr)))
        return out

    def label_probabilities(self, texts: Sequence[str], labels: Sequence[str]) -> list[list[float]]:
        """P(label) of each of `labels` (with or without ``__label__``) for each document, in order: the scores
        of a multi-label model. Trained with ``loss=ova`` each is an independent sigmoid (any number of
        labels may be near 1); with softmax they share one distribution. Blank texts get 0.0 for all."""
        wanted = [_with_prefix(label) for label in labels]
        missing = [label for label in wanted if label not in self.labels]
        if missing:
            raise ValueError(f"labels {missing} not in model {self.path} labels {self.labels}")
        return self._probs(texts, wanted)

    def score_batch(self, texts: Sequence[str]) -> list[float]:
        """Document scores (P(positive) in 0..1), one per text, in order."""
        if self.level == "document":
            return self._positive_probs(texts)
        return [doc.score for doc in self.score_spans_batch(texts)]

    def score_spans_batch(self, texts: Sequence[str]) -> list[ScoredDocument]:
        """Scores with their spans over the original text: one span per scored unit."""
        if self.level == "document":
            scores = self._positive_probs(texts)
            return [ScoredDocument(s, [(0, len(t), s)]) for t, s in zip(texts, scores)]

        per_doc = [paragraph_spans(t) for t in texts]
        units = [t[a:b] for t, spans in zip(texts, per_doc) for a, b in spans]
        unit_scores = self._positive_probs(units)
        results: list[ScoredDocument] = []
        pos = 0
        for spans in per_doc:
            scores = unit_scores[pos : pos + len(spans)]
            pos += len(spans)
            if not spans:
                results.append(ScoredDocument(0.0, []))
                continue
            scored = [(a, b, s) for (a, b), s in zip(spans, scores)]
            results.append(ScoredDocument(self._aggregate(scored), scored))
        return results

    def _aggregate(self, spans: list[Span]) -> float:
        if self.aggregation == "max":
            return max(s for _, _, s in spans)
        total = sum(b - a for a, b, _ in spans)
        return sum((b - a) * s for a, b, s in spans) / total
