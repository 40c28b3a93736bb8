"""The stage registry: every setting of every stage either shapes the annotation digest or is marked as
decided later, each stage's section is a config section, and the paths a stage declares are made absolute."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, Literal, Union

import pytest

from beam_curation.pipeline.config import Config, parse_config
from beam_curation.pipeline.stages import ORDER, STAGES
from beam_curation.settings import SHAPES

# Values a stage's section needs before each of its settings can be changed on its own (a list of specs
# must hold one spec for a spec's settings to matter).
SEEDS: dict[str, dict[str, Any]] = {
    "classifiers": {"enabled": True, "models": [{"name": "q", "model": "/m/q.bin", "output": "quality_score"}]},
    "decontamination": {"enabled": True, "sets": [{"name": "mmlu", "path": "/e/mmlu.jsonl"}]},
    "pii": {"enabled": True},
    "perplexity": {"enabled": True, "models": {"en": "/m/en.bin"}},
    "dedup": {"enabled": True},
    "tokens": {"enabled": True, "tokenizer": "/t/tokenizer.json"},
}


def _other(tp: Any, value: Any) -> Any:
    """A valid value of type `tp` different from `value`."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Union:
        options = [a for a in args if a is not type(None)]
        if value is None:
            return _sample(options[0])
        if len(options) == 1:
            return _other(options[0], value)
        return _other(next(a for a in options if _holds(a, value)), value)
    if origin is Literal:
        return next(a for a in args if a != value)
    if tp is bool:
        return not value
    if tp is int:
        return value + 1
    if tp is float:
        return value / 2 if value else 0.5
    if tp is str:
        return f"{value}x" if value else "/x/other"
    if origin in (list, tuple):
        return [*(value or []), _sample(args[0])]
    if origin is dict:
        return {**(value or {}), "zz": _sample(args[1])}
    raise AssertionError(f"no other value for {tp}")


def _holds(tp: Any, value: Any) -> bool:
    """`value` is of the union member `tp` (a Literal's: one of its values)."""
    if typing.get_origin(tp) is Literal:
        return value in typing.get_args(tp)
    return isinstance(value, typing.get_origin(tp) or tp)


def _sample(tp: Any) -> Any:
    """Some valid value of type `tp` (a path for a string: paths are the strings settings hold most)."""
    if typing.get_origin(tp) is Literal:
        return typing.get_args(tp)[0]
    if tp is float:
        return 0.5
    if typing.get_origin(tp) is list:
        return [_sample(typing.get_args(tp)[0])]
    return "/x/extra"


def _mutations(cls: type, obj: Any, where: str):
    """(dotted key, shapes, changed object) for every setting under `obj`, nested sections and specs included."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        value = getattr(obj, f.name)
        shapes = f.metadata.get(SHAPES, True)
        if dataclasses.is_dataclass(hints[f.name]):
            for key, inner_shapes, changed in _mutations(hints[f.name], value, f"{where}.{f.name}"):
                yield key, shapes and inner_shapes, dataclasses.replace(obj, **{f.name: changed})
            continue
        spec = typing.get_args(hints[f.name])[0] if typing.get_origin(hints[f.name]) is list else None
        if spec is not None and dataclasses.is_dataclass(spec) and value:
            for key, inner_shapes, changed in _mutations(spec, value[0], f"{where}.{f.name}[0]"):
                yield key, shapes and inner_shapes, dataclasses.replace(obj, **{f.name: [changed, *value[1:]]})
            continue
        yield f"{where}.{f.name}", shapes, dataclasses.replace(obj, **{f.name: _other(hints[f.name], value)})


@pytest.mark.parametrize("stage", STAGES, ids=[s.STAGE for s in STAGES])
def test_every_setting_shapes_the_digest_or_is_decided_later(stage, monkeypatch):
    # The evaluation sets' contents are part of the digest: hash the paths only here (they do not exist).
    monkeypatch.setattr("beam_curation.pipeline.stages.decontamination.content_digest", lambda path: path)
    base = parse_config({stage.SECTION: SEEDS.get(stage.SECTION, {})})
    section = getattr(base, stage.SECTION)
    before = base.annotation_digest()
    checked = 0
    for key, shapes, changed in _mutations(stage.Settings, section, stage.SECTION):
        after = dataclasses.replace(base, **{stage.SECTION: changed}).annotation_digest()
        if shapes:
            assert after != before, f"{key} shapes annotations but is not in the annotation digest"
        elif not key.endswith(".enabled"):  # a stage switched off changes what is annotated, marked or not
            assert after == before, f"{key} is marked decided later but changes the annotation digest"
        checked += 1
    assert checked >= len(dataclasses.fields(stage.Settings))


def test_a_forgotten_setting_fails_the_check(monkeypatch):
    """A stage whose digest leaves a shaping setting out is what the test above catches."""
    from beam_curation.pipeline.stages.perplexity import ScorePerplexity

    monkeypatch.setattr(ScorePerplexity, "digest", classmethod(lambda cls, section: {"perplexity": section.enabled}))
    with pytest.raises(AssertionError, match="perplexity.models shapes annotations"):
        test_every_setting_shapes_the_digest_or_is_decided_later(ScorePerplexity, monkeypatch)


def test_each_stage_is_a_config_section_in_run_order():
    names = [f.name for f in dataclasses.fields(Config)]
    assert [s.SECTION for s in STAGES] == [n for n in names if n in {s.SECTION for s in STAGES}]
    assert len(STAGES) == len(ORDER) == len({s.STAGE for s in STAGES})
    assert STAGES[0].STAGE == "extract", "extraction comes first: the later stages read its text"


def test_declared_paths_are_made_absolute(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = parse_config({
        "langid": {"model": "m/lid.bin"},
        "signals": {"ut1_blocklist": "ut1", "importance": {"wiki": "m/wiki.npz"}},
        "perplexity": {"models": {"en": "m/en.bin"}},
        "classifiers": {"models": [{"name": "q", "model": "m/q.bin", "output": "quality_score"}]},
        "decontamination": {"sets": [{"name": "mmlu", "path": "e/mmlu.jsonl"}]},
        "input": {"paths": ["in/*.parquet"]},
        "output": {"path": "out"}})
    for path in (config.langid.model, config.signals.ut1_blocklist, config.signals.importance["wiki"],
                 config.perplexity.models["en"], config.classifiers.models[0].model,
                 config.decontamination.sets[0].path, config.input.paths[0], config.output.path):
        assert path.startswith(str(tmp_path) + "/"), path
