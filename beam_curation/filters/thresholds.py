"""Rule thresholds from a corpus's own signal distributions, per language, as CulturaX sets them.

CulturaX (Nguyen et al. 2023, arXiv 2309.09400) chose each cleaning threshold per language from the
distribution of the metric over that language's documents rather than one number for every language: a
lower bound at a low percentile for a signal where higher is better (word count, stop-word fraction,
language score), an upper bound at a high percentile where lower is better (perplexity, repetition,
special characters). This module holds that idea without Beam: what to compute (`ThresholdSpec`), the
exact percentile (numpy's, linear interpolation), and the rules file the values become. The Beam job that
computes them over a finished run is `beam_curation.pipeline.report.thresholds`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Mapping

import numpy as np

Direction = Literal["higher", "lower"]
DEFAULT_LOW = 10.0  # percentile for signals where higher is better
DEFAULT_HIGH = 90.0  # percentile for signals where lower is better
GRID = 1000  # approximate mode resolves percentiles in steps of 100 / GRID = 0.1


@dataclass(frozen=True)
class ThresholdSpec:
    """One signal: which way is better, and the percentile of its per-language distribution to cut at."""

    signal: str
    direction: Direction
    percentile: float

    def __post_init__(self) -> None:
        if self.direction not in ("higher", "lower"):
            raise ValueError(f"{self.signal}: direction must be 'higher' or 'lower', got {self.direction!r}")
        if not 0.0 <= self.percentile <= 100.0:
            raise ValueError(f"{self.signal}: percentile must lie in [0, 100], got {self.percentile}")
        if abs(self.percentile * GRID / 100 - round(self.percentile * GRID / 100)) > 1e-9:
            raise ValueError(f"{self.signal}: percentile {self.percentile} is not a multiple of {100 / GRID:g}")

    @property
    def operator(self) -> str:
        return ">=" if self.direction == "higher" else "<="

    @property
    def rule_name(self) -> str:
        return f"threshold_{self.signal}"


def parse_signal(arg: str, low: float = DEFAULT_LOW, high: float = DEFAULT_HIGH) -> ThresholdSpec:
    """`name:higher`, `name:lower` or `name:lower:95` -> a spec (the percentile defaults by direction)."""
    parts = arg.split(":")
    if len(parts) not in (2, 3) or not parts[0]:
        raise ValueError(f"--signals wants NAME:higher|lower[:PERCENTILE], got {arg!r}")
    direction = parts[1]
    percentile = float(parts[2]) if len(parts) == 3 else (low if direction == "higher" else high)
    return ThresholdSpec(parts[0], direction, percentile)  # type: ignore[arg-type]


def parse_spec(raw: Mapping[str, Any]) -> list[ThresholdSpec]:
    """A small YAML: `low_percentile`, `high_percentile` and `signals: {name: higher | lower |
    {direction: ..., percentile: ...}}`."""
    unknown = set(raw) - {"low_percentile", "high_percentile", "signals"}
    if unknown:
        raise ValueError(f"unknown key in thresholds spec: {sorted(unknown)[0]} "
                         "(allowed: low_percentile, high_percentile, signals)")
    low = float(raw.get("low_percentile", DEFAULT_LOW))
    high = float(raw.get("high_percentile", DEFAULT_HIGH))
    specs = []
    for name, value in (raw.get("signals") or {}).items():
        if isinstance(value, str):
            specs.append(parse_signal(f"{name}:{value}", low, high))
        elif isinstance(value, Mapping) and set(value) <= {"direction", "percentile"} and "direction" in value:
            direction = value["direction"]
            percentile = float(value.get("percentile", low if direction == "higher" else high))
            specs.append(ThresholdSpec(str(name), direction, percentile))
        else:
            raise ValueError(f"signals.{name}: expected higher, lower or {{direction, percentile}}, got {value!r}")
    if not specs:
        raise ValueError("a thresholds spec needs at least one signal")
    return specs


def usable(value: Any) -> bool:
    """A value that counts towards a distribution (a null or NaN signal is no measurement)."""
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def exact_percentile(values: Iterable[float], percentile: float) -> float:
    """numpy's percentile (linear interpolation between the closest ranks)."""
    return float(np.percentile(np.asarray(list(values), dtype=np.float64), percentile))


def grid_index(percentile: float) -> int:
    """Position of `percentile` among the GRID + 1 evenly spaced quantiles (minimum ... maximum)."""
    return int(round(percentile * GRID / 100))


def rules(specs: list[ThresholdSpec], values: Mapping[str, Mapping[str, float]]) -> list[dict[str, Any]]:
    """One rule per spec with per-language values (`values[signal][language]`), in spec order; a language
    without a value is not judged by that rule."""
    out = []
    for spec in specs:
        per_language = {lang: float(v) for lang, v in sorted(values.get(spec.signal, {}).items())}
        if not per_language:
            continue
        out.append({"name": spec.rule_name, "keep": f"{spec.signal} {spec.operator} threshold",
                    "params": {"threshold": per_language}})
    return out
