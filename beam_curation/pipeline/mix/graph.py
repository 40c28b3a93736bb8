"""The mixture as a Beam graph: two reads of the runs' files, and in between only keys and integers.

1. Scan every documents/ file (one file per worker) into units: (group, key, tokens) per copy of each
   document a group takes.
2. Per group, the pool (documents, tokens, largest unit): CombinePerKey; the plan (each group's target,
   whole passes and remainder, beam_curation.filters.mixture.plan_groups): one small element.
3. Per group, where the remainder stops: token sums per (group, hash bucket) (CombinePerKey), the bucket list
   of a group (at most 65,536 integers) gives the cut bucket; the units of that one bucket, sorted, give the
   cut key.
4. Write each documents/ file again with the drawn documents and their `mix_count` (a function of a document's
   own keys, the plan and the cut): files in input order, the same bytes on any runner. Each file's figures
   go to `_mix/files/`, the plan to `_mix/plan.json`, for the driver's stats.json.
"""

from __future__ import annotations

import json
import posixpath
from collections import Counter
from typing import Any, Iterable, Iterator, Optional

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from beam_curation.filters.mixture import (Cut, GroupPlan, GroupTarget, Key, MixtureError, bucket_of, cut_bucket,
                                           cut_key, draw_count, plan_groups)
from beam_curation.pipeline.io.atomic import atomic_write
from beam_curation.pipeline.mix.read import Chooser, FileSpec, Reading, joined

WORK = "_mix"  # under the output: the plan and each file's figures
PLAN = "plan.json"
FILES = "files"
MIX_COUNT, MIX_GROUP = "mix_count", "mix_group"


class ScanUnits(beam.DoFn):
    """A documents/ file -> (group, (key, tokens)) for every copy of every document a group takes."""

    def __init__(self, reading: Reading):
        self._reading = reading

    def process(self, spec: FileSpec) -> Iterator[tuple[int, tuple[Key, int]]]:
        chooser = Chooser(self._reading)
        for _, rows in joined(spec, self._reading):
            for values in rows:
                choice = chooser.choose(values, spec.run)
                if choice is not None:
                    for key in choice.keys:
                        yield choice.group, (key, choice.tokens)


class PoolFn(beam.CombineFn):
    """Units of a group -> (documents, tokens, largest unit)."""

    def create_accumulator(self) -> tuple[int, int, int]:
        return 0, 0, 0

    def add_input(self, acc: tuple[int, int, int], unit: tuple[Key, int]) -> tuple[int, int, int]:
        key, tokens = unit
        return acc[0] + (key[3] == 0), acc[1] + tokens, max(acc[2], tokens)

    def merge_accumulators(self, accs: Iterable[tuple[int, int, int]]) -> tuple[int, int, int]:
        documents = tokens = largest = 0
        for d, t, m in accs:
            documents, tokens, largest = documents + d, tokens + t, max(largest, m)
        return documents, tokens, largest

    def extract_output(self, acc: tuple[int, int, int]) -> tuple[int, int, int]:
        return acc


def make_plan(pools: dict[int, tuple[int, int, int]], targets: tuple[GroupTarget, ...],
              total_tokens: Optional[int]) -> dict[str, Any]:
    """{'groups': [GroupPlan by group index]} or {'error': why no mixture can be drawn}."""
    named = {targets[i].name: pool for i, pool in pools.items()}
    try:
        return {"groups": plan_groups(targets, named, total_tokens)}
    except MixtureError as exc:
        return {"error": str(exc)}


def _cut_bucket(element: tuple[int, Iterable[tuple[int, int]]], plan: dict[str, Any]
                ) -> Iterator[tuple[int, tuple[int, int]]]:
    group, buckets = element
    if "error" in plan:
        return
    found = cut_bucket(buckets, plan["groups"][group].remainder)
    if found is not None:
        yield group, found


def _in_cut_bucket(unit: tuple[int, tuple[Key, int]], buckets: dict[int, tuple[int, int]]) -> bool:
    group, (key, _) = unit
    return group in buckets and bucket_of(key) == buckets[group][0]


def _cut(element: tuple[int, Iterable[tuple[Key, int]]], buckets: dict[int, tuple[int, int]]) -> tuple[int, Cut]:
    group, units = element
    bucket, residual = buckets[group]
    return group, Cut(bucket, cut_key(units, residual))


class WriteMixFile(beam.DoFn):
    """A documents/ file -> its drawn documents with `mix_count` and `mix_group` in `output/documents/`, and
    its figures in `_mix/files/<name>.json` (no file for a part that draws nothing: no 0-row files)."""

    def __init__(self, reading: Reading, output: str, schema: pa.Schema, compression: str):
        self._reading = reading
        self._output = output
        self._schema = schema
        self._compression = None if compression == "none" else compression

    def process(self, spec: FileSpec, plan: dict[str, Any], cuts: dict[int, Cut]) -> Iterator[str]:
        from apache_beam.io.filesystems import FileSystems

        path = posixpath.join(self._output, "documents", f"{spec.name}.parquet")
        groups: list[GroupPlan] = plan.get("groups", [])
        chooser = Chooser(self._reading)
        figures = {"documents_read": 0, "unmatched": {"documents": 0, "tokens": 0},
                   "groups": {}, "copies": Counter()}
        writer = handle = None
        temp = f"{path}.inprogress"
        for batch, rows in joined(spec, self._reading, all_columns=True):
            counts, names = [], []
            for values in rows:
                figures["documents_read"] += 1
                choice = chooser.choose(values, spec.run) if groups else None
                if choice is None:
                    figures["unmatched"]["documents"] += 1
                    figures["unmatched"]["tokens"] += chooser.tokens(values)
                    counts.append(0)
                    names.append(None)
                    continue
                group = groups[choice.group]
                n = draw_count(choice.keys, group, cuts.get(choice.group))
                counts.append(n)
                names.append(group.name)
                figures["copies"][len(choice.keys)] += 1
                drawn = figures["groups"].setdefault(group.name, {"documents": 0, "drawn": 0, "tokens": 0})
                drawn["documents"] += n > 0
                drawn["drawn"] += n
                drawn["tokens"] += n * choice.tokens
            picked = [i for i, n in enumerate(counts) if n > 0]
            if not picked:
                continue
            table = self._conform(pa.Table.from_batches([batch]).take(picked),
                                  [counts[i] for i in picked], [names[i] for i in picked])
            if writer is None:
                handle = FileSystems.create(temp, mime_type="application/octet-stream",
                                            compression_type="uncompressed")
                writer = pq.ParquetWriter(handle, self._schema, compression=self._compression)
            writer.write_table(table)
        figures["copies"] = {str(k): v for k, v in sorted(figures["copies"].items())}
        figures["unevaluable"] = chooser.unevaluable
        figures["tokens_missing"] = chooser.tokens_missing
        if writer is not None:
            writer.close()
            handle.close()
            if FileSystems.exists(path):
                FileSystems.delete([path])
            FileSystems.rename([temp], [path])
            figures["file"] = posixpath.join("documents", f"{spec.name}.parquet")
        elif FileSystems.exists(path):  # an earlier mix into this folder drew from this part
            FileSystems.delete([path])
        blob = json.dumps(figures, sort_keys=True).encode()
        atomic_write(posixpath.join(self._output, WORK, FILES, f"{spec.name}.json"), lambda h: h.write(blob))
        yield spec.name

    def _conform(self, table: pa.Table, counts: list[int], groups: list[str]) -> pa.Table:
        """The drawn rows in the mixture's one schema: every run's documents columns (null where a run has
        none), then mix_count and mix_group."""
        columns = []
        for field in self._schema:
            if field.name == MIX_COUNT:
                columns.append(pa.array(counts, pa.int64()))
            elif field.name == MIX_GROUP:
                columns.append(pa.array(groups, pa.string()))
            elif field.name in table.column_names:
                columns.append(table.column(field.name).cast(field.type))
            else:
                columns.append(pa.nulls(table.num_rows, field.type))
        return pa.Table.from_arrays(columns, schema=self._schema)


def _write_plan(plan: dict[str, Any], output: str) -> None:
    data = {"error": plan["error"]} if "error" in plan else {"groups": [g.as_dict() for g in plan["groups"]]}
    blob = json.dumps(data, sort_keys=True).encode()
    atomic_write(posixpath.join(output, WORK, PLAN), lambda handle: handle.write(blob))


def build_mix(p: beam.Pipeline, files: list[FileSpec], reading: Reading, targets: tuple[GroupTarget, ...],
              total_tokens: Optional[int], output: str, schema: pa.Schema, compression: str) -> None:
    specs = p | "Files" >> beam.Create(files) | "Spread" >> beam.Reshuffle()
    units = specs | "Units" >> beam.ParDo(ScanUnits(reading))
    plan = (units
            | "Pools" >> beam.CombinePerKey(PoolFn())
            | "PoolDict" >> beam.combiners.ToDict()
            | "Plan" >> beam.Map(make_plan, targets, total_tokens))
    buckets = (units
               | "ByBucket" >> beam.Map(lambda u: ((u[0], bucket_of(u[1][0])), u[1][1]))
               | "BucketTokens" >> beam.CombinePerKey(sum)
               | "PerGroup" >> beam.Map(lambda kv: (kv[0][0], (kv[0][1], kv[1])))
               | "GroupBuckets" >> beam.GroupByKey()
               | "CutBucket" >> beam.FlatMap(_cut_bucket, beam.pvalue.AsSingleton(plan))
               | "CutBucketDict" >> beam.combiners.ToDict())
    cuts = (units
            | "InCutBucket" >> beam.Filter(_in_cut_bucket, beam.pvalue.AsSingleton(buckets))
            | "GroupCutUnits" >> beam.GroupByKey()
            | "CutKey" >> beam.Map(_cut, beam.pvalue.AsSingleton(buckets))
            | "CutDict" >> beam.combiners.ToDict())
    _ = plan | "WritePlan" >> beam.Map(_write_plan, output)
    _ = specs | "Write" >> beam.ParDo(WriteMixFile(reading, output, schema, compression),
                                      beam.pvalue.AsSingleton(plan), beam.pvalue.AsSingleton(cuts))
