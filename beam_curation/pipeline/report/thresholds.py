"""`thresholds --from OUT`: per-language rule thresholds at chosen percentiles of a finished run's signals.

A Beam job, so it runs wherever the corpus is (Dataflow, Spark, Flink, in-process): signals/ (or
_annotations/ when signals/ holds nothing) -> ((language, signal), value) for every usable value -> per
key, the document count and either

- approximate quantiles (default): Beam's `ApproximateQuantilesCombineFn` (Manku, Rajagopalan & Lindsay
  1998) with `epsilon`, on a grid of 1,001 quantiles (percentiles in steps of 0.1). For N values of a
  language, the value returned for percentile p is one of them, whose rank in the sorted values is within
  `epsilon * N + 1` of numpy's position `p / 100 * (N - 1)` (the + 1: an element is returned, never an
  interpolation between two). Beam guarantees the bound up to 10^9 values per language and signal (its
  `max_num_elements`), in memory that does not grow with N; or
- exact percentiles (`exact`): every value of a language and signal is grouped in one worker and numpy's
  percentile is taken (linear interpolation), for small runs.

The driver reads the per-key results back and writes a rules file (`filters.rules`, per-language params)
that a run includes with `filters.include` (beam_curation.filters.thresholds has the definitions).
"""

from __future__ import annotations

import json
import logging
import posixpath
from dataclasses import dataclass
from typing import Any, Iterator, Optional

import apache_beam as beam
import yaml

from beam_curation.filters.thresholds import GRID, ThresholdSpec, exact_percentile, grid_index, rules, usable
from beam_curation.pipeline.config import ConfigError
from beam_curation.pipeline.report.escape import yaml_comment, yaml_document

log = logging.getLogger(__name__)

DEFAULT_EPSILON = 0.001
RESULTS = "_thresholds"  # under --from: the job's per-key results, read back by the driver


@dataclass(frozen=True)
class LanguageThreshold:
    signal: str
    language: str
    documents: int  # documents with a usable value of the signal
    value: float


def source_files(source: str) -> tuple[str, bool]:
    """(glob of the Parquet files to read, whether they are annotation files) for a finished run."""
    from apache_beam.io.filesystems import FileSystems

    for folder, internal in (("signals", False), ("_annotations", True)):
        pattern = posixpath.join(source, folder, "*.parquet")
        try:
            if FileSystems.match([pattern])[0].metadata_list:
                return pattern, internal
        except Exception:  # noqa: BLE001 - no such folder
            continue
    raise ConfigError(f"--from {source}: no signals/*.parquet or _annotations/*.parquet (not a finished run?)")


def check_columns(pattern: str, specs: list[ThresholdSpec]) -> None:
    """Every requested signal is a numeric column of the files (checked on the first one, before the job)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from apache_beam.io.filesystems import FileSystems

    from beam_curation.pipeline.io.readers import open_path

    first = FileSystems.match([pattern])[0].metadata_list[0].path
    with open_path(first) as handle:
        schema = pq.ParquetFile(handle).schema_arrow
    numeric = {f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)}
    if "language" not in schema.names:
        raise ConfigError(f"{first} has no language column: the run had language ID off")
    for spec in specs:
        if spec.signal not in numeric:
            raise ConfigError(f"--signals: {spec.signal} is not a numeric column of {first} "
                              f"(numeric columns: {', '.join(sorted(numeric))})")


def _values(row: dict[str, Any], signals: tuple[str, ...], internal: bool) -> Iterator[tuple[tuple[str, str], float]]:
    # An annotation row that failed, or was left without text before the signal stages, has no signals.
    skip = internal and (row.get("_error") is not None or row.get("_removed_by") is not None)
    language = row.get("language") or ""
    for signal in () if skip else signals:
        value = row.get(signal)
        if usable(value):
            yield (language, signal), float(value)


def _exact(element: tuple[tuple[str, str], list[float]], percentiles: dict[str, float]) -> tuple:
    (language, signal), values = element
    values = list(values)
    return (language, signal), (len(values), exact_percentile(values, percentiles[signal]))


def _from_quantiles(element: tuple[tuple[str, str], dict[str, list]], percentiles: dict[str, float]) -> tuple:
    (language, signal), joined = element
    n = joined["count"][0]
    quantiles = joined["quantiles"][0]  # GRID + 1 values: minimum, evenly spaced quantiles, maximum
    return (language, signal), (n, float(quantiles[grid_index(percentiles[signal])]))


def _to_json(element: tuple) -> str:
    (language, signal), (n, value) = element
    return json.dumps({"language": language, "signal": signal, "documents": n, "value": value}, sort_keys=True)


def build(p: beam.Pipeline, pattern: str, internal: bool, specs: list[ThresholdSpec], exact: bool,
          epsilon: float, results: str) -> None:
    """The job: values per (language, signal) -> (documents, threshold) per key -> JSON lines in `results`."""
    signals = tuple(dict.fromkeys(s.signal for s in specs))
    percentiles = {s.signal: s.percentile for s in specs}
    columns = ["language", *signals, *(["_error", "_removed_by"] if internal else [])]
    values = (p
              | "Read" >> beam.io.ReadFromParquet(pattern, columns=columns)
              | "Values" >> beam.FlatMap(_values, signals, internal))
    if exact:
        per_key = (values
                   | "GroupValues" >> beam.GroupByKey()
                   | "Percentiles" >> beam.Map(_exact, percentiles))
    else:
        from apache_beam.transforms.stats import ApproximateQuantilesCombineFn

        combine = ApproximateQuantilesCombineFn.create(num_quantiles=GRID + 1, epsilon=epsilon)
        per_key = ({"count": values | "Count" >> beam.combiners.Count.PerKey(),
                    "quantiles": values | "Quantiles" >> beam.CombinePerKey(combine)}
                   | "Join" >> beam.CoGroupByKey()
                   | "Pick" >> beam.Map(_from_quantiles, percentiles))
    (per_key
     | "Json" >> beam.Map(_to_json)
     | "Write" >> beam.io.WriteToText(posixpath.join(results, "part"), file_name_suffix=".jsonl"))


def read_results(results: str) -> list[LanguageThreshold]:
    from apache_beam.io.filesystems import FileSystems

    from beam_curation.pipeline.io.readers import open_path

    out = []
    for meta in FileSystems.match([posixpath.join(results, "part*.jsonl")])[0].metadata_list:
        with open_path(meta.path) as handle:
            for line in handle.read().decode("utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    out.append(LanguageThreshold(row["signal"], row["language"], row["documents"], row["value"]))
    return sorted(out, key=lambda t: (t.signal, t.language))


def compute(source: str, specs: list[ThresholdSpec], *, exact: bool = False, epsilon: float = DEFAULT_EPSILON,
            beam_args: list[str] = (), work: Optional[str] = None) -> list[LanguageThreshold]:
    """Run the job over `source` (a finished run's folder) and return every (signal, language) threshold;
    the job's results go to `work` (default `<source>/_thresholds`) and are read back from there."""
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import PipelineOptions

    from beam_curation.pipeline.runners.options import BeamArgumentError, check_runner

    if not 0.0 < epsilon < 1.0:
        raise ConfigError(f"--epsilon: must lie in (0, 1), got {epsilon}")
    pattern, internal = source_files(source)
    check_columns(pattern, specs)
    results = work or posixpath.join(source, RESULTS)
    given = {a.split("=", 1)[0] for a in beam_args}
    defaults = [] if "--runner" in given else ["--runner=FnApiRunner"]
    options = PipelineOptions(defaults + list(beam_args))
    try:
        check_runner(options)
    except BeamArgumentError as exc:
        raise ConfigError(str(exc)) from None
    if FileSystems.exists(results):
        FileSystems.delete([results])
    with beam.Pipeline(options=options) as p:
        build(p, pattern, internal, specs, exact, epsilon, results)
    return read_results(results)


def render(specs: list[ThresholdSpec], found: list[LanguageThreshold], *, source: str, exact: bool,
           epsilon: float, min_documents: int) -> str:
    """The rules file: a config fragment (`filters.rules`) with a header saying how it was made."""
    values: dict[str, dict[str, float]] = {}
    counts: dict[str, dict[str, int]] = {}
    for t in found:
        if t.documents >= min_documents:
            values.setdefault(t.signal, {})[t.language] = t.value
        counts.setdefault(t.signal, {})[t.language] = t.documents
    how = "exact (numpy percentiles)" if exact else (
        f"approximate (Beam ApproximateQuantiles, epsilon {epsilon:g}: rank within epsilon * N + 1 of the exact "
        "position)")
    lines = [f"Per-language thresholds from `beam-curation thresholds --from {source}`, {how}.",
             f"Languages with fewer than {min_documents} documents holding a value are left out (not judged).",
             "Include in a run: --set 'filters.include=[THIS_FILE]' (or filters.include in the config).",
             ""]
    for spec in specs:
        kept = values.get(spec.signal, {})
        lines.append(f"{spec.signal}: {spec.direction} is better -> keep {spec.operator} the p{spec.percentile:g} "
                     f"of each language; {len(kept)} language(s), documents: "
                     + ", ".join(f"{lang or '(none)'} {n}" for lang, n in sorted(counts.get(spec.signal, {}).items())))
    body = yaml_document({"filters": {"rules": rules(specs, values)}}, width=110)
    return "\n".join(yaml_comment(line) for line in lines) + "\n" + body


def write(path: str, text: str) -> None:
    from beam_curation.pipeline.io.atomic import atomic_write

    blob = text.encode("utf-8")
    atomic_write(path, lambda handle: handle.write(blob))


def thresholds(source: str, specs: list[ThresholdSpec], output: str, *, exact: bool = False,
               epsilon: float = DEFAULT_EPSILON, min_documents: int = 10, beam_args: list[str] = (),
               work: Optional[str] = None) -> list[LanguageThreshold]:
    """`beam-curation thresholds`: compute, then write the rules file to `output`."""
    if min_documents < 1:
        raise ConfigError(f"--min-documents: must be >= 1, got {min_documents}")
    found = compute(source, specs, exact=exact, epsilon=epsilon, beam_args=beam_args, work=work)
    write(output, render(specs, found, source=source, exact=exact, epsilon=epsilon, min_documents=min_documents))
    return found


def summary(found: list[LanguageThreshold], output: str, min_documents: int) -> str:
    used = [t for t in found if t.documents >= min_documents]
    languages = sorted({t.language for t in used})
    return (f"wrote {output}: {len({t.signal for t in used})} signal(s) x {len(languages)} language(s) "
            f"({', '.join(lang or '(none)' for lang in languages)}); "
            f"{len(found) - len(used)} (signal, language) pair(s) below --min-documents {min_documents}")


def load_specs(args_signals: list[str], spec_file: Optional[str], low: float, high: float) -> list[ThresholdSpec]:
    """Specs from `--spec FILE` and/or `--signals NAME:DIR[:P]` (the command line wins for the same signal)."""
    from beam_curation.filters.thresholds import parse_signal, parse_spec

    specs: dict[str, ThresholdSpec] = {}
    try:
        if spec_file:
            from beam_curation.pipeline.io.readers import open_path

            with open_path(spec_file) as handle:
                raw = yaml.safe_load(handle.read()) or {}
            if not isinstance(raw, dict):
                raise ValueError("expected a mapping")
            specs.update({s.signal: s for s in parse_spec(raw)})
        for arg in args_signals:
            spec = parse_signal(arg, low, high)
            specs[spec.signal] = spec
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"thresholds: {exc}") from None
    if not specs:
        raise ConfigError("thresholds: give --signals NAME:higher|lower[:PERCENTILE] ... or --spec FILE")
    return list(specs.values())
