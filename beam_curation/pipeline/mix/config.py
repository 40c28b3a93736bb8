"""The mixture config (`beam-curation mix --config MIX.yaml`): typed and validated as a run config is.

```yaml
groups:                      # in order: a document goes to the first group whose `where` holds
  - {name: web_en, where: "language == 'en' and quality_score > 0.5", weight: 0.7}
  - {name: web_other, where: "language != 'en'", weight: 0.3}
  - {name: wiki, where: "source == 'wikipedia'", tokens: 2000000}   # a token budget
total_tokens: 10000000       # optional: weights are shares of what the budgets leave of it
tokens_column: token_count   # optional: default token_count when the runs store it, else characters / 4
upsample: rehydrate          # none | rehydrate (repeat each cluster keeper by `rehydration`)
seed: 0
```
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

import yaml

from beam_curation.filters.mixture import FINEWEB2_REHYDRATION, GroupTarget
from beam_curation.filters.rules import RuleError, compile_rule
from beam_curation.pipeline.config import ConfigError, apply_override, parse_dataclass

__all__ = ["GroupSpec", "MixConfig", "load_mix_config", "parse_mix_config"]


@dataclass(frozen=True)
class GroupSpec:
    """A named group: the documents its `where` expression (the rule language, over source, language, url,
    the documents' columns and any signal the runs stored) holds for, with a weight or a token budget."""

    name: str
    where: str = "True"
    weight: Optional[float] = None
    tokens: Optional[int] = None  # a budget: the group's tokens in the mixture (within one document)

    def __post_init__(self):
        if (self.weight is None) == (self.tokens is None):
            raise ValueError(f"group {self.name}: give a weight or a token budget (tokens), not "
                             f"{'both' if self.weight is not None else 'neither'}")
        if self.weight is not None and not self.weight > 0:
            raise ValueError(f"group {self.name}: weight must be > 0, got {self.weight}")
        if self.tokens is not None and self.tokens < 0:
            raise ValueError(f"group {self.name}: tokens must be >= 0, got {self.tokens}")
        try:
            compile_rule(self.name, self.where)
        except RuleError as exc:
            raise ValueError(f"where: {exc}".replace("rule ", "group ", 1)) from None

    def target(self) -> GroupTarget:
        return GroupTarget(self.name, self.weight, self.tokens)


@dataclass(frozen=True)
class MixConfig:
    groups: list[GroupSpec] = field(default_factory=list)
    # The column counting a document's tokens (a signals/ or documents/ column). None: `token_count` where
    # the runs stored it (the `tokens` stage), else an estimate of characters / 4; stats.json says which.
    tokens_column: Optional[str] = None
    # The mixture's size in tokens. Weighted groups share what the budgets leave of it, in proportion to their
    # weights. Without it, the weighted groups make up the most tokens no group needs repeating for.
    total_tokens: Optional[int] = None
    # rehydrate: each duplicate cluster's keeper counts `rehydration[size]` times in its group's pool
    # (signals/ `dup_cluster_size`, so the runs need dedup on), as FineWeb-2 re-hydrates its corpus.
    upsample: Literal["none", "rehydrate"] = "none"
    # cluster size (lower bound) -> times repeated; default FineWeb-2's published weights
    # (beam_curation.filters.mixture.FINEWEB2_REHYDRATION, cited there).
    rehydration: dict[str, int] = field(default_factory=lambda: {str(k): v for k, v in FINEWEB2_REHYDRATION.items()})
    seed: int = 0
    compression: Literal["zstd", "snappy", "gzip", "none"] = "zstd"

    def __post_init__(self):
        if not self.groups:
            raise ValueError("groups: give at least one group ({name, where, weight | tokens})")
        names = [g.name for g in self.groups]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"groups: group name used twice: {twice[0]}")
        if self.total_tokens is not None:
            if self.total_tokens <= 0:
                raise ValueError(f"total_tokens: must be > 0, got {self.total_tokens}")
            budgets = sum(g.tokens for g in self.groups if g.tokens is not None)
            if budgets > self.total_tokens:
                raise ValueError(f"total_tokens: the groups' budgets ({budgets:,}) exceed it ({self.total_tokens:,})")
            if all(g.weight is None for g in self.groups) and budgets != self.total_tokens:
                raise ValueError(f"total_tokens: {self.total_tokens:,} is not the sum of the budgets ({budgets:,}) "
                                 "and no group has a weight to make up the rest (leave total_tokens out)")
        for size, times in self.rehydration.items():
            if not size.isdigit() or int(size) < 1:
                raise ValueError(f"rehydration: keys are cluster sizes (integers >= 1), got {size!r}")
            if times < 1:
                raise ValueError(f"rehydration.{size}: times repeated must be >= 1, got {times}")
        if "1" not in self.rehydration:
            raise ValueError("rehydration: give the factor of cluster size 1 (documents without duplicates)")

    def rehydration_table(self) -> dict[int, int]:
        return {int(size): times for size, times in self.rehydration.items()}

    def targets(self) -> list[GroupTarget]:
        return [g.target() for g in self.groups]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_mix_config(raw: Any) -> MixConfig:
    return parse_dataclass(MixConfig, raw)


def load_mix_config(path: str | Path, overrides: list[str] = ()) -> MixConfig:
    """Read a mixture YAML, apply `--set` overrides, validate."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (FileNotFoundError, IsADirectoryError):
        raise ConfigError(f"mix config file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"mix config file {path} is not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"mix config file {path} must hold a mapping (groups, total_tokens, ...)")
    for item in overrides:
        apply_override(raw, item)
    return parse_mix_config(raw)
