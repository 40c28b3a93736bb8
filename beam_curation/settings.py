"""What a setting says about itself: whether it shapes stored annotations, whether it names a file, its help.

Config sections are frozen dataclasses (each annotation stage declares its own, next to its code). A field's
metadata carries what the rest of the system needs to treat it without knowing the stage:
- `shapes=False`: the setting is decided later from stored annotations (a rule, a threshold, the language
  keep-list) or only says how the work runs (a batch size); changing it reuses annotations. Every other
  setting is part of the annotation digest, so a setting cannot be left out of it by forgetting.
- `path="model" | "resource" | "input"`: the value (or each value of a list or mapping) is a local or remote
  path a worker opens: made absolute on the driver and checked at start; models and resources are listed in
  the manifest.
- `newer=True`: a key added after digests were first written; left out of digests while it holds its
  default, so the runs made before it existed keep their digests.
Pure dataclass walking: no Beam, no pipeline imports (filters/ marks its dataclasses with it too).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Callable, Iterator

SHAPES, PATH, NEWER, HELP = "shapes", "path", "newer", "help"


class ConfigError(ValueError):
    """A configuration problem, reported before any work starts (one line, exit 2)."""


def absolute_path(path: str, base: str | Path | None = None) -> str:
    """`path` against `base` (default: the working directory) unless it is remote (`gs://...`) or already
    absolute; a glob stays a glob."""
    if "://" in path:
        return path
    return os.path.normpath(os.path.join(Path.cwd() if base is None else base, path))


def setting(default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING, shapes: bool = True,
            path: str | None = None, newer: bool = False, help: str | None = None) -> Any:  # noqa: A002
    """A dataclass field with the metadata above."""
    metadata = {SHAPES: shapes, PATH: path, NEWER: newer, HELP: help}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


def decided_later(default: Any = dataclasses.MISSING, **kwargs: Any) -> Any:
    """A setting that does not shape annotations (decided from them, or how the work runs)."""
    return setting(default, shapes=False, **kwargs)


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _plain(value: Any, view: Callable[[Any], Any]) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return view(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v, view) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v, view) for k, v in value.items()}
    return value


def settings_view(obj: Any) -> dict[str, Any]:
    """Every setting as plain data (as `dataclasses.asdict`), less the newer keys still at their default."""
    out = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.metadata.get(NEWER) and value == _default(f):
            continue
        out[f.name] = _plain(value, settings_view)
    return out


def annotation_view(obj: Any) -> dict[str, Any]:
    """The settings that shape annotations, as plain data: what a stage contributes to the annotation digest."""
    out = {}
    for f in dataclasses.fields(obj):
        if not f.metadata.get(SHAPES, True):
            continue
        value = getattr(obj, f.name)
        if f.metadata.get(NEWER) and value == _default(f):
            continue
        out[f.name] = _plain(value, annotation_view)
    return out


def path_settings(obj: Any, where: str) -> Iterator[tuple[str, str, str]]:
    """(dotted key, path, kind) of every path setting under `obj`, in field order."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = f"{where}.{f.name}"
        kind = f.metadata.get(PATH)
        if kind is not None:
            if isinstance(value, str):
                yield key, value, kind
            elif isinstance(value, dict):
                yield from ((f"{key}.{k}", v, kind) for k, v in value.items())
            elif isinstance(value, (list, tuple)):
                yield from ((f"{key}[{i}]", v, kind) for i, v in enumerate(value))
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                if dataclasses.is_dataclass(item):
                    yield from path_settings(item, f"{key}[{i}]")
        elif dataclasses.is_dataclass(value):
            yield from path_settings(value, key)


def with_paths(obj: Any, fix: Callable[[str], str]) -> Any:
    """`obj` with `fix` applied to every path setting under it (a new frozen dataclass)."""
    changes = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.metadata.get(PATH) is not None:
            if isinstance(value, str):
                changes[f.name] = fix(value)
            elif isinstance(value, dict):
                changes[f.name] = {k: fix(v) for k, v in value.items()}
            elif isinstance(value, (list, tuple)):
                changes[f.name] = type(value)(fix(v) for v in value)
        elif isinstance(value, (list, tuple)) and any(dataclasses.is_dataclass(v) for v in value):
            changes[f.name] = type(value)(with_paths(v, fix) if dataclasses.is_dataclass(v) else v for v in value)
        elif dataclasses.is_dataclass(value):
            changes[f.name] = with_paths(value, fix)
    return dataclasses.replace(obj, **changes) if changes else obj


def raw_with_paths(raw: Any, cls: type, fix: Callable[[str], str]) -> Any:
    """A raw mapping (YAML, before validation) of dataclass `cls` with `fix` applied to the path settings it
    gives: a recipe's own relative paths resolved against its folder before the command line adds its own.
    Values of unexpected shapes are left for validation to refuse."""
    import typing

    if not isinstance(raw, dict) or not dataclasses.is_dataclass(cls):
        return raw
    hints = typing.get_type_hints(cls)
    out = dict(raw)
    for f in dataclasses.fields(cls):
        if f.name not in raw:
            continue
        value, tp = raw[f.name], hints[f.name]
        if f.metadata.get(PATH) is not None:
            if isinstance(value, str):
                out[f.name] = fix(value)
            elif isinstance(value, dict):
                out[f.name] = {k: fix(v) if isinstance(v, str) else v for k, v in value.items()}
            elif isinstance(value, list):
                out[f.name] = [fix(v) if isinstance(v, str) else v for v in value]
            continue
        inner = typing.get_args(tp)[0] if typing.get_origin(tp) is list else tp
        if dataclasses.is_dataclass(inner):
            out[f.name] = [raw_with_paths(v, inner, fix) for v in value] if isinstance(value, list) \
                else raw_with_paths(value, inner, fix)
    return out
