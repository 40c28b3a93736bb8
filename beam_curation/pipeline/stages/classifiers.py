"""fastText classifiers on batches: P(positive label) per document (and per paragraph when configured)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

import pyarrow as pa

from beam_curation.pipeline.io.document import Doc
from beam_curation.pipeline.models import is_remote
from beam_curation.pipeline.stages.base import SPANS, Stage, acquire, check_model, in_batches
from beam_curation.pipeline.stages.decontamination import COLUMN_SUFFIX
from beam_curation.settings import ConfigError, decided_later, setting


@dataclass(frozen=True)
class ClassifierSpec:
    name: str
    model: str = setting(path="model")
    output: str  # signal column written, e.g. quality_score, toxicity_score, rps_doc_ml_palm_score
    positive_label: str = "__label__1"
    # see beam_curation.filters.models.classifier_text: none, fasttext_basic, dclm, dolma_jigsaw, ...
    normalization: str = "fasttext_basic"
    level: Literal["document", "paragraph"] = "document"  # paragraph: also `<output>_spans`, Dolma-style
    max_chars: Optional[int] = None  # score only the first N characters of each unit
    # The languages the model is for (lid.176 codes); documents in others get a null score, not a misleading
    # number, and stats.json counts them under `not_scored`. Empty: every language.
    languages: list[str] = field(default_factory=list)
    # A multi-label model: one column `<output>_<label>` per label, P(label) each (positive_label unused)
    labels: list[str] = setting(default_factory=list, newer=True)

    def columns(self) -> list[str]:
        """The score columns this classifier writes."""
        if self.labels:
            return [f"{self.output}_{label.removeprefix('__label__')}" for label in self.labels]
        return [self.output]


@dataclass(frozen=True)
class ClassifiersConfig:
    enabled: bool = False
    models: list[ClassifierSpec] = field(default_factory=list)
    batch_size: int = decided_later(64)


class Classify(Stage):
    STAGE = SECTION = "classifiers"
    Settings = ClassifiersConfig
    HINT = "a classifiers.models entry"

    @classmethod
    def enabled(cls, section: ClassifiersConfig) -> bool:
        return section.enabled and bool(section.models)

    @classmethod
    def columns(cls, section: ClassifiersConfig) -> list[pa.Field]:
        fields = []
        for spec in section.models:
            fields += [pa.field(column, pa.float64()) for column in spec.columns()]
            if spec.level == "paragraph":
                fields.append(pa.field(f"{spec.output}_spans", SPANS))
        return fields

    @classmethod
    def languages(cls, section: ClassifiersConfig) -> dict[str, frozenset[str]]:
        return {spec.output: frozenset(spec.languages) for spec in section.models if spec.languages}

    @classmethod
    def validate(cls, section: ClassifiersConfig) -> None:
        for i, spec in enumerate(section.models):
            if spec.labels and spec.level != "document":
                raise ConfigError(f"classifiers.models[{i}].level: a multi-label classifier scores documents only")
            if len(set(spec.labels)) != len(spec.labels):
                raise ConfigError(f"classifiers.models[{i}].labels: a label is listed twice")
            for label in spec.labels:
                if not COLUMN_SUFFIX.match(label.removeprefix("__label__")):
                    raise ConfigError(f"classifiers.models[{i}].labels: {label!r} cannot be a column suffix "
                                      "(lower-case letters, digits and _)")
        outputs = [c for spec in section.models for c in spec.columns()]
        dupes = sorted({n for n in outputs if outputs.count(n) > 1})
        if dupes:
            raise ConfigError(f"classifiers.models: two classifiers write {dupes[0]}")

    @classmethod
    def check(cls, section: ClassifiersConfig, config: Any) -> None:
        """A model card beside a local classifier (`x.bin` -> `x.card.json`, written by scripts/train_fasttext.py)
        records how the model was trained; a config that scores it differently would silently get poor scores.
        Then each model loads, with the labels asked for."""
        for i, spec in enumerate(section.models):
            if is_remote(spec.model):
                continue
            card_path = Path(spec.model.removeprefix("file://")).with_suffix(".card.json")
            if not card_path.is_file():
                continue
            card = json.loads(card_path.read_text(encoding="utf-8"))
            if spec.labels or card.get("multi_label"):
                _check_multi_label_card(i, spec, card, card_path)
                continue
            expected = {
                "normalization": card.get("normalization"),
                "positive_label": card.get("labels", {}).get("positive"),
                "max_chars": card.get("max_chars"),
            }
            given = {
                "normalization": spec.normalization,
                "positive_label": spec.positive_label if spec.positive_label.startswith("__label__")
                else f"__label__{spec.positive_label}",
                "max_chars": spec.max_chars,
            }
            for key, value in expected.items():
                if value is not None and value != given[key]:
                    raise ConfigError(f"classifiers.models[{i}].{key}: {given[key]!r} but the model card "
                                      f"{card_path} says the model was trained with {value!r}")
        _check_models(section)

    def setup(self) -> None:
        from beam_curation.filters.models.classifier import FastTextClassifier

        self._models = [(spec, acquire(self.shared, FastTextClassifier, spec.model,
                                       None if spec.labels else spec.positive_label,
                                       spec.normalization, spec.level, spec.max_chars))
                        for spec in self.section.models]

    def apply_batch(self, docs: list[Doc]) -> None:
        for every in in_batches(docs, self.section.batch_size):
            for spec, model in self._models:
                # A model scores only the languages it is for; the others keep a null score.
                chunk = [d for d in every if d.language in spec.languages] if spec.languages else every
                texts = [d.text or "" for d in chunk]
                if not chunk:
                    continue
                if spec.labels:  # multi-label: one column per label
                    columns = spec.columns()
                    for doc, probs in zip(chunk, model.label_probabilities(texts, spec.labels)):
                        doc.signals.update(zip(columns, probs))
                elif spec.level == "paragraph":
                    for doc, scored in zip(chunk, model.score_spans_batch(texts)):
                        doc.signals[spec.output] = scored.score
                        doc.signals[f"{spec.output}_spans"] = scored.spans
                else:
                    for doc, score in zip(chunk, model.score_batch(texts)):
                        doc.signals[spec.output] = score


def _check_models(section: ClassifiersConfig) -> None:
    """Each model is a whole fastText file holding the labels the config scores, and loads."""
    from beam_curation.filters.models.classifier import FastTextClassifier
    from beam_curation.filters.models.fasttext_file import check_fasttext_file

    def load(path: str, spec: ClassifierSpec) -> None:
        FastTextClassifier(path, None, spec.normalization, spec.level, spec.max_chars)

    for i, spec in enumerate(section.models):
        key = f"classifiers.models[{i}].model"
        labels = check_model(key, spec.model, load, spec, layout=check_fasttext_file)
        if labels is None:  # a remote model: the workers load it
            continue
        wanted = spec.labels or [spec.positive_label]
        for label in wanted:
            full = label if label.startswith("__label__") else f"__label__{label}"
            if full not in labels:
                field = "labels" if spec.labels else "positive_label"
                raise ConfigError(f"classifiers.models[{i}].{field}: {label!r} is not a label of the model "
                                  f"{spec.model} (it has {', '.join(labels)})")


def _check_multi_label_card(i: int, spec: ClassifierSpec, card: dict[str, Any], card_path: Path) -> None:
    """A multi-label model's card lists its labels: the config must ask for some of them, normalised alike."""
    if not card.get("multi_label"):
        raise ConfigError(f"classifiers.models[{i}].labels: the model card {card_path} describes a binary "
                          f"model (positive label {card.get('labels', {}).get('positive')!r}); drop labels")
    if not spec.labels:
        raise ConfigError(f"classifiers.models[{i}].labels: the model card {card_path} describes a multi-label "
                          f"model; list the labels to score (of {card['labels']['all']})")
    known = card["labels"]["all"]
    for label in spec.labels:
        full = label if label.startswith("__label__") else f"__label__{label}"
        if full not in known:
            raise ConfigError(f"classifiers.models[{i}].labels: {label!r} is not a label of the model "
                              f"(its card {card_path} lists {known})")
    for key in ("normalization", "max_chars"):
        if card.get(key) is not None and card[key] != getattr(spec, key):
            raise ConfigError(f"classifiers.models[{i}].{key}: {getattr(spec, key)!r} but the model card "
                              f"{card_path} says the model was trained with {card[key]!r}")


STAGE = Classify
