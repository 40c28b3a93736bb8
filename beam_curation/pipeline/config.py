"""Typed, validated run configuration.

A YAML recipe is read into frozen dataclasses. Every key is checked against the dataclass fields (an unknown
key or a wrong type fails with the dotted key in the message), `--set a.b=value` overrides are applied to the
raw mapping before validation, and paths that must exist (models, input globs) are checked before any work
starts, so a bad config never burns worker time. Relative local paths are read from the driver's working
directory and made absolute at load, so workers elsewhere open the same files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml

from beam_curation.pipeline.io import formats
from beam_curation.pipeline.io.content import content_digest  # noqa: F401 - re-exported
from beam_curation.pipeline.stages import STAGES
from beam_curation.settings import ConfigError, absolute_path, raw_with_paths, setting, settings_view, with_paths

__all__ = ["Config", "ConfigError", "RuleSpec", "absolute_path", "content_digest", "load_config", "parse_config"]

log = logging.getLogger(__name__)


# `input.format`: `auto` (each file's format from its name) or a registered format's name.
InputFormatName = Literal[(formats.AUTO, *formats.names())]
# `input.max_text_bytes`'s default: with the default config a 10 MB document peaks a worker at 1.2 GB, a 20 MB
# one at 2.0 GB, a 50 MB one at 4.3 GB (scripts/bench_memory.py, docs/known-limits.md).
MAX_TEXT_BYTES = 10_000_000


@dataclass(frozen=True)
class InputConfig:
    paths: list[str] = setting(default_factory=list, path="input")
    format: InputFormatName = formats.AUTO
    # Read each shard as N slices, each its own annotation task: a shard is extracted by up to N workers and no
    # raw HTML is shuffled. 1 when shards outnumber workers.
    splits: int = 1
    # What the input is and under which licence, as the user declares it: the data card (`report`) says so.
    source: Optional[str] = None  # e.g. "Common Crawl CC-MAIN-2024-22" or a Hugging Face dataset id
    license: Optional[str] = None  # an SPDX id or a Hugging Face licence id (cc-by-4.0, odc-by, other, ...)
    # A record whose text is larger than this many bytes (UTF-8; a WET record's content as stored) is a read
    # error, found by the reader before the text is held or copied: a worker's memory grows with the largest
    # document (the signal stages take about 80 times its size; docs/known-limits.md). Shapes annotations.
    max_text_bytes: int = setting(MAX_TEXT_BYTES, newer=True)


@dataclass(frozen=True)
class OutputConfig:
    path: str = "out"
    compression: Literal["zstd", "snappy", "gzip", "none"] = "zstd"
    # 0: one file per shard in each folder (<shard>.parquet). N > 0: a shard's rows in parts of N input rows
    # (<shard>-00000.parquet, ...), each written by its own worker, so no worker holds a whole large shard.
    rows_per_file: int = 0
    # A run holds its output folder (beam_curation.pipeline.io.lease). A holder on another host that has not renewed
    # its lease for this long is taken to be gone (on one host a dead pid tells at once).
    lease_expiry_seconds: float = 900.0


@dataclass(frozen=True)
class RuleSpec:
    """A named keep-condition over signal columns; `params` values may be per-language mappings."""

    name: str
    keep: str
    params: dict[str, Any] = field(default_factory=dict)
    languages: list[str] = field(default_factory=list)  # empty: every language


@dataclass(frozen=True)
class BucketSpec:
    """Named bands over signals (beam_curation.filters.bands): column `name` holds the label of the band the
    expression `value` falls in (`labels[i]` below `edges[i]`, the last label at or above the last edge; null
    for NaN). Decided from stored signals, like a rule; rules and mixtures can read the column."""

    name: str
    value: str
    edges: Union[list[float], dict[str, list[float]]]  # ascending; or per language, with `default`
    labels: list[str]
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FiltersConfig:
    enabled: bool = True
    rules: list[RuleSpec] = field(default_factory=list)


@dataclass(frozen=True)
class RunnerConfig:
    """Beam pipeline options used when the command line gives none of the same name."""

    options: dict[str, Any] = field(default_factory=lambda: {"runner": "FnApiRunner"})
    # Count the encoded bytes of every record that reaches a grouping (Beam counters shuffled_bytes_*): what
    # `scripts/bench.py shuffle` reports. Costs a few microseconds a record, so off by default.
    measure_shuffle: bool = False


class _ConfigMethods:
    """The run configuration: the sections above, one per annotation stage (in stage order, each the stage's
    own dataclass, beam_curation.pipeline.stages), then `filters` and `runner`. Built from the stage registry
    (`Config` below), so a new stage's section needs no line here."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def stage_sections(self) -> list[tuple[type, Any]]:
        """(stage, its section) for every registered stage, in the order they run."""
        return [(stage, getattr(self, stage.SECTION)) for stage in STAGES]

    def _stable_dict(self) -> dict[str, Any]:
        """The settings as plain data without the keys newer than a config's digest while they keep their
        defaults (`newer` settings, optional stages' sections while off), so older runs' digests still hold."""
        data = settings_view(self)
        for stage, section in self.stage_sections():
            if stage.OPTIONAL and not section.enabled:
                data.pop(stage.SECTION)
        return data

    def digest(self) -> str:
        """Hash of everything that shapes the output (not where it goes, not how it runs)."""
        data = self._stable_dict()
        data.pop("runner")
        data["output"].pop("path")
        data["output"].pop("lease_expiry_seconds")  # how the folder is guarded, not what is in it
        # inputs are checked per shard; splits only spread the work; source and licence only describe it
        for how in ("paths", "splits", "source", "license"):
            data["input"].pop(how)
        if not data["output"]["rows_per_file"]:  # whole shards, as before the option existed: same digests
            data["output"].pop("rows_per_file")
        return _hash(data)

    def annotation_digest(self) -> str:
        """Hash of what shapes a task's annotations: the input format and each stage's settings that shape them
        (`Stage.digest`: every setting not marked `decided_later`). Rules, the language keep-list and
        threshold, mode, dedup thresholds and keep policy and the output layout are decided later from stored
        annotations, so changing them reuses the annotations."""
        shaping: dict[str, Any] = {"version": ANNOTATION_VERSION, "format": self.input.format}
        # the text cap decides which records are annotated at all; a newer key, so left out at its default
        if "max_text_bytes" in settings_view(self.input):
            shaping["max_text_bytes"] = self.input.max_text_bytes
        for stage, section in self.stage_sections():
            shaping.update(stage.digest(section))
        return _hash(shaping)


def _config_class() -> type:
    """`Config`: the fixed sections around the registered stages' sections."""
    sections = [("input", InputConfig, field(default_factory=InputConfig)),
                ("output", OutputConfig, field(default_factory=OutputConfig)),
                ("mode", Literal["filter", "annotate"], field(default="filter"))]
    sections += [(stage.SECTION, stage.Settings, field(default_factory=stage.Settings)) for stage in STAGES]
    sections += [("buckets", list[BucketSpec], setting(default_factory=list, newer=True)),
                 ("filters", FiltersConfig, field(default_factory=FiltersConfig)),
                 ("runner", RunnerConfig, field(default_factory=RunnerConfig))]
    cls = dataclasses.make_dataclass("Config", sections, bases=(_ConfigMethods,), frozen=True)
    cls.__module__, cls.__doc__ = __name__, _ConfigMethods.__doc__  # picklable by reference
    return cls


Config = _config_class()


# Bumped whenever the annotation files' layout or meaning changes, so older annotations are recomputed.
ANNOTATION_VERSION = 2  # 2: the language guess on the raw HTML (`_langid_guess`)


def _hash(data: Any) -> str:
    blob = json.dumps(data, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------------------
# Loading

def shipped_recipes() -> dict[str, Path]:
    """The recipes the package ships (`configs/*.yaml`, in a checkout and in an installed wheel) by name."""
    from importlib.resources import files

    folder = Path(str(files("beam_curation").joinpath("configs")))
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def recipe(name: str | Path) -> tuple[Path, Path | None]:
    """The config file `name` names and the folder its relative input and model paths are read against: a
    file's against the working directory (None); a shipped recipe's, named without a folder or suffix
    (`default`, `fineweb`), against the package's data root, where its sample is, so it runs from anywhere."""
    path = Path(name)
    if path.exists() or path.suffix or len(path.parts) > 1:
        return path, None
    shipped = shipped_recipes()
    if str(name) not in shipped:
        raise ConfigError(f"config file not found: {name} (shipped recipes: {', '.join(shipped)})")
    return shipped[str(name)], shipped[str(name)].parent.parent


def load_config(path: str | Path, overrides: list[str] = (), *, input_paths: list[str] | None = None,
                output_path: str | None = None) -> Config:
    """Read a YAML recipe (a file, or a shipped recipe's name), apply `--set` overrides and `--input`/`--output`,
    validate, return a Config."""
    path, base = recipe(path)
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections")
    if base is not None:  # a shipped recipe's own paths are the package's; the command line's the working directory's
        raw = raw_with_paths(raw, Config, lambda p: absolute_path(p, base))
    for item in overrides:
        apply_override(raw, item)
    include_rules(raw)
    if input_paths:
        raw.setdefault("input", {})["paths"] = list(input_paths)
    if output_path:
        raw.setdefault("output", {})["path"] = output_path
    config = parse_config(raw)
    warn_off_sections(raw, config)
    return config


def warn_off_sections(raw: dict[str, Any], config: Config) -> None:
    """Settings the user gave (the recipe or `--set`; not defaults) for a stage whose section is switched off
    do nothing: one warning line per such section, naming the switch, instead of silence."""
    for stage, section in config.stage_sections():
        given = raw.get(stage.SECTION)
        if section.enabled or not isinstance(given, dict):
            continue
        keys = [f"{stage.SECTION}.{key}" for key in given if key != "enabled"]
        if keys:
            verb = "is" if len(keys) == 1 else "are"
            log.warning("%s %s set but %s.enabled is false: %s no effect", ", ".join(keys), verb, stage.SECTION,
                        "it has" if len(keys) == 1 else "they have")


def include_rules(raw: dict[str, Any]) -> None:
    """`filters.include`: rules files (a YAML with `filters.rules`, as `beam-curation thresholds` writes)
    whose rules are appended, in order, after the config's own; read once here, so the config (its digest,
    the manifest) holds the rules themselves. Relative paths are read from the working directory."""
    filters = raw.get("filters")
    if not isinstance(filters, dict) or "include" not in filters:
        return
    paths = filters.pop("include")
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise ConfigError(f"filters.include: expected a list of rules files, got {paths!r}")
    rules = list(filters.get("rules") or [])
    for path in paths:
        try:
            included = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"filters.include: rules file not found: {path}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"filters.include: {path} is not valid YAML: {exc}") from None
        if (not isinstance(included, dict) or set(included) != {"filters"} or not isinstance(included["filters"], dict)
                or set(included["filters"]) != {"rules"} or not isinstance(included["filters"]["rules"], list)):
            raise ConfigError(f"filters.include: {path} must hold only filters.rules (a list of rules)")
        rules += included["filters"]["rules"]
    filters["rules"] = rules


def parse_config(raw: dict[str, Any], base: Path | None = None) -> Config:
    """Validate a raw mapping; relative local paths are made absolute against `base` (default: the working
    directory), the output folder against the working directory."""
    config = absolute_paths(_build(Config, raw, ""), base or Path.cwd())
    _check_semantics(config)
    return config


def absolute_paths(config: Config, base: Path) -> Config:
    """Every local path a worker opens (the settings marked as paths: inputs, models, blocklist, evaluation
    sets), made absolute against `base` on the driver, and the output folder against the working directory: a
    worker runs in its own working directory (another machine, a container, a worker pool), where a path
    relative to the driver's names nothing, or something else."""
    config = with_paths(config, lambda path: absolute_path(path, base))
    return dataclasses.replace(config, output=dataclasses.replace(config.output, path=absolute_path(config.output.path)))


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Apply one `dotted.key=value` to the raw mapping; the value is read as a YAML scalar or list."""
    if "=" not in item:
        raise ConfigError(f"--set expects dotted.key=value, got {item!r}")
    key, _, text = item.partition("=")
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"--set has an empty key: {item!r}")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {key}: value is not valid YAML: {exc}") from None
    node = raw
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"--set {key}: {part} is not a section")
        node = child
    node[parts[-1]] = value


def _build(cls: type, data: Any, where: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(f"unknown config key: {key} (allowed here: {', '.join(sorted(fields))})")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, f"{where}.{name}" if where else name)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where or 'config'}: {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{where or 'config'}: {exc}") from None


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, where)
            except ConfigError as exc:
                errors.append(str(exc))
        if isinstance(value, dict):  # a mapping is meant for the union's dataclass: its error says what is wrong
            errors = [e for arg, e in zip([a for a in args if a is not type(None)], errors)
                      if dataclasses.is_dataclass(arg)] or errors
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: must be one of {', '.join(map(str, args))}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    if origin is list:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        return [_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        return tuple(_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return {str(k): _coerce(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported type {tp}")


def _check_semantics(config: Config) -> None:
    """Cross-field checks that types alone cannot express: the fixed sections', then each stage's own."""
    if not 1 <= config.input.splits <= 1024:
        raise ConfigError("input.splits: must lie in [1, 1024]")
    if config.input.max_text_bytes <= 0:
        raise ConfigError("input.max_text_bytes: must be > 0")
    if config.output.rows_per_file < 0:
        raise ConfigError("output.rows_per_file: must be >= 0 (0: one file per shard)")
    if not config.output.lease_expiry_seconds > 0:
        raise ConfigError("output.lease_expiry_seconds: must be > 0")
    names = [r.name for r in config.filters.rules]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"filters.rules: rule name used twice: {dupes[0]}")
    _check_buckets(config.buckets)
    for stage, section in config.stage_sections():
        stage.validate(section)


def parse_dataclass(cls: type, raw: Any, where: str = "") -> Any:
    """Validate a raw mapping into any frozen config dataclass (another command's config, `mix`'s), with the
    same checks and one-line messages as a run config's sections."""
    return _build(cls, raw, where)


def _check_buckets(buckets: list[BucketSpec]) -> None:
    """Each band set compiles (its columns are checked at start, against the run's) and has its own name."""
    from beam_curation.filters.bands import compile_bands
    from beam_curation.filters.rules import RuleError

    seen: set[str] = set()
    for i, spec in enumerate(buckets):
        if not spec.name.isidentifier() or spec.name in seen:
            raise ConfigError(f"buckets[{i}].name: {spec.name!r} must be a unique identifier (it names a column)")
        seen.add(spec.name)
        try:
            compile_bands(spec.name, spec.value, spec.edges, spec.labels, spec.params)
        except RuleError as exc:
            raise ConfigError(f"buckets[{i}]: {exc}") from None
