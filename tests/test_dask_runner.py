"""beam_curation.pipeline.runners.dask_runner on a real dask.distributed cluster: 2 non-daemonic worker processes in another directory.

One small pipeline per defect of Beam's DaskRunner (each fails on Beam's runner, or with that fix taken out),
then the shipped configs on the bundled sample, byte-identical to the FnApiRunner run.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed (make setup installs it)")

import apache_beam as beam  # noqa: E402
import dask  # noqa: E402
from apache_beam.metrics import Metrics  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402
from apache_beam.runners.dask import dask_runner as upstream  # noqa: E402

from beam_curation.pipeline.runners import dask_runner  # noqa: E402
from beam_curation.pipeline.runners.options import runner_for  # noqa: E402
from conftest import REPO, data_file_digests, run_pipeline  # noqa: E402

# Every test here runs a pipeline or a cluster: the full tier (`make test`), not `make test-fast`.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """2 worker processes, 1 thread each, non-daemonic (the extraction sandbox is their child process), started
    from another working directory so that anything only the driver's directory holds is missed."""
    workdir = tmp_path_factory.mktemp("dask-workers")
    here = os.getcwd()
    with dask.config.set({"distributed.worker.daemon": False}):
        os.chdir(workdir)
        try:
            cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                               dashboard_address=":0", local_directory=str(workdir),
                                               silence_logs=logging.WARNING)
        finally:
            os.chdir(here)
    with cluster, distributed.Client(cluster) as client:
        assert set(client.run(os.getcwd).values()) == {str(workdir)} != {here}
        yield cluster, client


def _run(cluster, build, *args: str):
    """Build a pipeline with `build(p)` and run it on the cluster through this module's DaskRunner."""
    options = PipelineOptions([f"--dask_client_address={cluster[0].scheduler_address}", *args])
    p = beam.Pipeline(runner=dask_runner.DaskRunner(), options=options)
    build(p)
    result = p.run()
    assert result.wait_until_finish() == beam.runners.runner.PipelineState.DONE
    return result


class _Record(beam.DoFn):
    """Sink: one file per element received, so the driver sees what arrived, duplicates included."""

    def __init__(self, folder: Path):
        self.folder = str(folder)

    def process(self, element):
        os.makedirs(self.folder, exist_ok=True)
        Path(self.folder, uuid.uuid4().hex).write_text(json.dumps(element))
        yield element


def _recorded(folder: Path) -> list:
    return sorted(json.loads(p.read_text()) for p in folder.iterdir()) if folder.exists() else []


def test_outputs_of_finish_bundle_arrive(cluster, tmp_path):
    """Fix 1: BatchElements emits its last batch in finish_bundle (Beam's runner lost it: 8 of 10 here)."""
    _run(cluster, lambda p: (p | beam.Create(list(range(10)))
                             | beam.BatchElements(min_batch_size=4, max_batch_size=4)
                             | beam.FlatMap(lambda batch: batch) | beam.ParDo(_Record(tmp_path))))
    assert _recorded(tmp_path) == list(range(10))


class _Parity(beam.DoFn):
    def process(self, x):
        yield x if x % 2 == 0 else beam.pvalue.TaggedOutput("odd", x)


def test_each_output_of_a_multi_output_pardo_reaches_only_its_consumers(cluster, tmp_path):
    """Fix 2 (and 5): Beam's runner handed both outputs to each consumer, and ran only the last branch."""
    def build(p):
        parts = p | beam.Create(list(range(6))) | beam.ParDo(_Parity()).with_outputs("odd", main="even")
        parts.even | "TagEven" >> beam.Map(lambda x: ["even", x]) | "Even" >> beam.ParDo(_Record(tmp_path))
        parts.odd | "TagOdd" >> beam.Map(lambda x: ["odd", x]) | "Odd" >> beam.ParDo(_Record(tmp_path))

    _run(cluster, build)
    assert _recorded(tmp_path) == [["even", 0], ["even", 2], ["even", 4], ["odd", 1], ["odd", 3], ["odd", 5]]


class _Count(beam.DoFn):
    def process(self, x):
        from beam_curation.pipeline.graph.metrics import NAMESPACE

        Metrics.counter(NAMESPACE, "seen").inc()
        Metrics.counter(NAMESPACE, "sum").inc(x)
        yield x


def test_counters_come_back_from_the_workers(cluster):
    """Fix 3: result.metrics() raised NotImplementedError; the CLI's beam_counters reads them now."""
    from beam_curation.pipeline.run import beam_counters

    result = _run(cluster, lambda p: p | beam.Create(list(range(10))) | beam.ParDo(_Count()))
    assert beam_counters(result) == {"seen": 10, "sum": 45}


def test_no_metrics_gives_empty_counters_with_a_note(caplog):
    """A runner without metrics (Beam's own DaskRunner result, Dataflow's dry run) ends the run cleanly."""
    from beam_curation.pipeline.run import beam_counters

    with pytest.raises(NotImplementedError):
        upstream.DaskRunnerResult(None, []).metrics()
    with caplog.at_level(logging.INFO, logger="beam_curation.pipeline.graph.metrics"):
        assert beam_counters(upstream.DaskRunnerResult(None, [])) == {}
    assert "reports no Beam metrics" in caplog.text


def test_create_spreads_its_items_over_the_workers(cluster, tmp_path):
    """Fix 4: Beam's runner put up to 128 items of beam.Create (the read tasks) in one partition, one worker."""
    def where(x):
        time.sleep(0.5)  # both workers busy at once
        return [x, distributed.get_worker().address]

    _run(cluster, lambda p: p | beam.Create(list(range(4))) | beam.Map(where) | beam.ParDo(_Record(tmp_path)))
    placed = _recorded(tmp_path)
    assert sorted(x for x, _ in placed) == [0, 1, 2, 3]
    assert len({worker for _, worker in placed}) == 2


def test_a_side_input_is_computed_once(cluster, tmp_path):
    """Fix 6: each bundle of the consumer recomputed the side input's whole branch (here 6 bundles, 18 calls)."""
    def build(p):
        side = p | "Side" >> beam.Create([1, 2, 3]) | "Calls" >> beam.ParDo(_Record(tmp_path / "calls"))
        (p | "Main" >> beam.Create(list(range(6)))
         | beam.Map(lambda x, s: x + sum(s), s=beam.pvalue.AsList(side)) | beam.ParDo(_Record(tmp_path / "out")))

    _run(cluster, build)
    assert _recorded(tmp_path / "out") == [6, 7, 8, 9, 10, 11]
    assert _recorded(tmp_path / "calls") == [1, 2, 3]


def test_a_pardo_with_two_consumers_runs_once(cluster, tmp_path):
    """Both branches run (fix 5: Beam's runner ran only the last) and the shared ParDo once, not per branch."""
    def build(p):
        shared = p | beam.Create(list(range(3))) | "Shared" >> beam.ParDo(_Record(tmp_path / "calls"))
        shared | "A" >> beam.Map(lambda x: x) | "RecordA" >> beam.ParDo(_Record(tmp_path / "a"))
        shared | "B" >> beam.Map(lambda x: x) | "RecordB" >> beam.ParDo(_Record(tmp_path / "b"))

    _run(cluster, build)
    assert _recorded(tmp_path / "a") == _recorded(tmp_path / "b") == [0, 1, 2]
    assert _recorded(tmp_path / "calls") == [0, 1, 2]


def test_group_by_key_shuffles_at_most_32_partitions_and_groups_across_workers(cluster, tmp_path):
    """Fix 8: a GroupByKey over 200 read partitions (fix 4) was a 200-way task shuffle (two stages, thousands of
    tasks); here at most MAX_SHUFFLE_PARTITIONS, one stage. Keys are str and bytes, whose Python hash differs
    between the two worker processes: a group split by it would arrive twice. Fix 11: no ReifyWindows step."""
    from apache_beam.runners.dask.overrides import dask_overrides

    def build(p):
        pairs = (p | beam.Create(list(range(200)))
                 | beam.FlatMap(lambda i: [(f"k{i % 7}", i), ((b"b", i % 3), i)]))
        (pairs | beam.GroupByKey() | beam.MapTuple(lambda k, vs: [repr(k), sorted(vs)])
         | beam.ParDo(_Record(tmp_path)))
        return p

    p = build(beam.Pipeline(runner=dask_runner.DaskRunner(), options=PipelineOptions([])))
    p.replace_all(dask_overrides())
    visitor = dask_runner._Visitor({}, "test")
    p.visit(visitor)
    grouped = [bag for node, bag in visitor.bags.items() if type(node.transform).__name__ == "_GroupByKeyOnly"]
    assert grouped and max(bag.npartitions for bag in grouped) <= dask_runner.MAX_SHUFFLE_PARTITIONS
    assert not [n for n in visitor.pardos if n.full_label.endswith("ReifyWindows")], "fix 11: values go as they are"

    shutil.rmtree(tmp_path, ignore_errors=True)
    _run(cluster, build)
    got = _recorded(tmp_path)
    expected = sorted([[repr(f"k{r}"), [i for i in range(200) if i % 7 == r]] for r in range(7)]
                      + [[repr((b"b", r)), [i for i in range(200) if i % 3 == r]] for r in range(3)])
    assert got == expected


def test_partitions_move_between_workers_in_one_piece():
    """Fix 9: distributed serialises a plain list element by element (a frame and a pickle call per element);
    every partition of a ParDo, GroupByKey or Flatten here is a Partition, which it pickles whole."""
    from apache_beam.runners.dask.overrides import dask_overrides
    from distributed.protocol import serialize, to_serialize

    assert len(serialize(to_serialize(list(range(100))))[1]) == 100  # what a plain list costs
    assert len(serialize(to_serialize(dask_runner.Partition(range(100))))[1]) == 1

    p = beam.Pipeline(runner=dask_runner.DaskRunner(), options=PipelineOptions([]))
    pairs = (p | beam.Create(list(range(40))) | beam.FlatMap(lambda i: [(f"k{i % 5}", i), (i % 3, i)]))
    grouped = pairs | beam.GroupByKey()
    ((grouped | "Keys" >> beam.Keys(), pairs | "Values" >> beam.Values()) | beam.Flatten()
     | beam.combiners.Count.Globally())
    p.replace_all(dask_overrides())
    visitor = dask_runner._Visitor({}, "test-partitions")
    p.visit(visitor)
    kinds = Counter()
    for node, bag in visitor.bags.items():
        kind = type(node.transform).__name__
        if kind in ("ParDo", "_GroupByKeyOnly", "_Flatten"):
            partitions = dask.compute(*bag.to_delayed(optimize_graph=False), scheduler="sync")
            assert {type(part) for part in partitions} == {dask_runner.Partition}, node.full_label
            kinds[kind] += 1
    assert kinds["ParDo"] and kinds["_GroupByKeyOnly"] and kinds["_Flatten"]


def _double(i: int) -> int:
    Metrics.counter("chain", "double").inc()
    return 2 * i


def _split_in_two(i: int) -> list[int]:
    Metrics.counter("chain", "split").inc()
    return [i, i + 1]


def test_a_chain_of_pardos_runs_in_the_last_ones_tasks(cluster, tmp_path):
    """Fix 10: a Map feeding only a FlatMap runs in the FlatMap's tasks (one task per partition, named after the
    FlatMap), yet both steps' counters come back and every element arrives; the FlatMap, which feeds two
    transforms, is folded into neither."""
    from apache_beam.runners.dask.overrides import dask_overrides

    def build(p):
        mid = (p | beam.Create(list(range(30))) | "Double" >> beam.Map(_double)
               | "Split" >> beam.FlatMap(_split_in_two))
        mid | "Write" >> beam.ParDo(_Record(tmp_path / "items"))
        mid | "Total" >> beam.combiners.Count.Globally() | "WriteTotal" >> beam.ParDo(_Record(tmp_path / "total"))
        return p

    p = build(beam.Pipeline(runner=dask_runner.DaskRunner(), options=PipelineOptions([])))
    p.replace_all(dask_overrides())
    consumers = dask_runner._Consumers()
    p.visit(consumers)
    visitor = dask_runner._Visitor({}, "test-chain", consumers.counts)
    p.visit(visitor)
    graph = dict(dask.bag.concat([*visitor.leaves(), *visitor.metric_bags()]).__dask_graph__())
    names = {key[0] if isinstance(key, tuple) else key for key in graph}
    assert not any(name.startswith("Double") for name in names), "Double runs inside Split's tasks"
    assert any(name.startswith("Split") for name in names), "Split feeds two transforms: its own tasks"

    result = _run(cluster, build)
    counters = {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]}
    assert counters["double"] == 30 and counters["split"] == 30
    assert _recorded(tmp_path / "items") == sorted([2 * i for i in range(30)] + [2 * i + 1 for i in range(30)])
    assert _recorded(tmp_path / "total") == [60]


def test_key_hash_is_the_same_in_every_process():
    """Fix 8: the shuffle's hash must route a key alike in every worker (Python's str/bytes hash is salted)."""
    import subprocess
    import sys

    key = ("doc", b"\x00band", 7)
    code = "from beam_curation.pipeline.runners.dask_runner import _key_hash; print(_key_hash(('doc', b'\\x00band', 7)))"
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO,
                             env=dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(REPO))).stdout
        assert int(out) == dask_runner._key_hash(key)


def test_daemonic_workers_are_reported(cluster, caplog):
    with caplog.at_level(logging.WARNING, logger="beam_curation.pipeline.runners.dask_runner"):
        assert dask_runner.warn_if_daemonic(cluster[1]) is False
        with distributed.LocalCluster(n_workers=1, processes=True, threads_per_worker=1, dashboard_address=":0",
                                      silence_logs=logging.WARNING) as daemonic, \
                distributed.Client(daemonic) as client:
            assert dask_runner.warn_if_daemonic(client) is True
    assert "DASK_DISTRIBUTED__WORKER__DAEMON=False" in caplog.text


def test_runner_names_resolve_to_this_runner():
    """Beam knows its DaskRunner only by module path; runner_for gives ours for every name, None for others."""
    from apache_beam.runners.runner import create_runner

    with pytest.raises(ValueError, match="Unexpected pipeline runner: DaskRunner"):
        create_runner("DaskRunner")
    assert type(create_runner("apache_beam.runners.dask.dask_runner.DaskRunner")) is upstream.DaskRunner
    for name in ("DaskRunner", "dask", "apache_beam.runners.dask.dask_runner.DaskRunner"):
        assert type(runner_for(PipelineOptions([f"--runner={name}"]))) is dask_runner.DaskRunner
    assert runner_for(PipelineOptions(["--runner=FnApiRunner"])) is None
    assert runner_for(PipelineOptions([])) is None


@pytest.mark.parametrize("config", ["configs/default.yaml", "configs/fineweb.yaml"])
def test_shipped_config_on_dask_matches_fnapi_byte_for_byte(cluster, tmp_path, config, monkeypatch):
    """Every data file of a Dask run equals the FnApiRunner run's; both workers annotated shards."""
    monkeypatch.chdir(REPO)  # the config's relative model paths, made absolute on the driver (beam_curation.pipeline.config)
    recipe = REPO / config
    # A page past extract.timeout_seconds goes to errors/, so a slower run would differ: no limit reached here.
    args = ("--input", str(REPO / "sample" / "*.warc.gz"), "--set", "extract.timeout_seconds=300")
    assert run_pipeline(recipe, tmp_path / "fnapi", *args, "--runner=FnApiRunner") == 0
    with distributed.get_task_stream(cluster[1]) as stream:
        assert run_pipeline(recipe, tmp_path / "dask", *args, "--runner=DaskRunner",
                            f"--dask_client_address={cluster[0].scheduler_address}") == 0
    expected = data_file_digests(tmp_path / "fnapi")
    assert expected and data_file_digests(tmp_path / "dask") == expected
    stats = json.loads((tmp_path / "dask" / "stats.json").read_text())
    assert stats["input"] == json.loads((tmp_path / "fnapi" / "stats.json").read_text())["input"] > 0
    reads = Counter(task["worker"] for task in stream.data if str(task["key"]).startswith("('Annotate_"))
    assert len(reads) == 2 and sum(reads.values()) == 5, reads
