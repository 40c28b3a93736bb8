"""beam_curation.pipeline.runners.dask_runner on a real dask.distributed cluster: 2 non-daemonic worker processes in another directory.

One small pipeline per fix, run on Beam's own DaskRunner (showing the defect) and on this one (showing it
fixed); where a fix changes the graph rather than the results (8, 9, 10, 11, Flatten), both runners' graphs
are compared. Then the shipped configs on the bundled sample, byte-identical to the FnApiRunner run.
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
from apache_beam.runners.dask.overrides import dask_overrides  # noqa: E402

from beam_curation.pipeline.runners import dask_runner  # noqa: E402
from beam_curation.pipeline.runners.dask_runner.group_by_key import MAX_SHUFFLE_PARTITIONS, key_hash  # noqa: E402
from beam_curation.pipeline.runners.dask_runner.partition import Partition  # noqa: E402
from beam_curation.pipeline.runners.dask_runner.runner import warn_if_daemonic  # noqa: E402
from beam_curation.pipeline.runners.dask_runner.shuffle_width import (  # noqa: E402
    SHUFFLE_PARTITIONS_PER_THREAD, cluster_threads, shuffle_width)
from beam_curation.pipeline.runners.dask_runner.translate import translate  # noqa: E402
from beam_curation.pipeline.runners.options import runner_for  # noqa: E402
from conftest import REPO, data_file_digests, run_pipeline  # noqa: E402

# Every test here runs a pipeline or a cluster: the full tier (`make test`), not `make test-fast`.
pytestmark = pytest.mark.slow

OURS, UPSTREAM = "ours", "upstream"


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


def _run(cluster, build, *args: str, runner: str = OURS):
    """Build a pipeline with `build(p)` and run it on the cluster through this package's DaskRunner, or Beam's."""
    options = PipelineOptions([f"--dask_client_address={cluster[0].scheduler_address}", *args])
    p = beam.Pipeline(runner=dask_runner.DaskRunner() if runner == OURS else upstream.DaskRunner(), options=options)
    build(p)
    result = p.run()
    try:
        assert result.wait_until_finish() == beam.runners.runner.PipelineState.DONE
    finally:
        if runner == UPSTREAM:
            result.client.close()  # (upstream's result leaves its client open)
    return result


def _translated(build, runner: str = OURS, bag_kwargs: dict | None = None) -> dict:
    """The bags a runner translates `build`'s pipeline into, by transform label (no cluster: nothing runs)."""
    p = beam.Pipeline(options=PipelineOptions([]))
    build(p)
    if runner == OURS:
        bags = translate(p, dict(bag_kwargs or {}), "no-pool").bags
    else:
        p.replace_all(dask_overrides())
        visitor = upstream.DaskRunner.to_dask_bag_visitor(dict(bag_kwargs or {}))
        p.visit(visitor)
        bags = visitor.bags
    return {node.full_label: bag for node, bag in bags.items()}


def _partitions(bag) -> tuple:
    return dask.compute(*bag.to_delayed(optimize_graph=False), scheduler="sync")


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
    """Fix 1: BatchElements emits its last batch in finish_bundle; Beam's runner loses it (8 of 10 here)."""
    for runner in (UPSTREAM, OURS):
        _run(cluster, lambda p: (p | beam.Create(list(range(10)))
                                 | beam.BatchElements(min_batch_size=4, max_batch_size=4)
                                 | beam.FlatMap(lambda batch: batch) | beam.ParDo(_Record(tmp_path / runner))),
             runner=runner)
    assert _recorded(tmp_path / UPSTREAM) == list(range(8))
    assert _recorded(tmp_path / OURS) == list(range(10))


class _Parity(beam.DoFn):
    def process(self, x):
        yield x if x % 2 == 0 else beam.pvalue.TaggedOutput("odd", x)


def test_each_output_of_a_multi_output_pardo_reaches_only_its_consumers(cluster, tmp_path):
    """Fix 2 (and 5): Beam's runner hands both outputs to each consumer, and runs only the last branch."""
    def build(folder):
        def pipeline(p):
            parts = p | beam.Create(list(range(6))) | beam.ParDo(_Parity()).with_outputs("odd", main="even")
            parts.even | "TagEven" >> beam.Map(lambda x: ["even", x]) | "Even" >> beam.ParDo(_Record(folder))
            parts.odd | "TagOdd" >> beam.Map(lambda x: ["odd", x]) | "Odd" >> beam.ParDo(_Record(folder))
        return pipeline

    for runner in (UPSTREAM, OURS):
        _run(cluster, build(tmp_path / runner), runner=runner)
    assert _recorded(tmp_path / UPSTREAM) == [["odd", x] for x in range(6)]
    assert _recorded(tmp_path / OURS) == [["even", 0], ["even", 2], ["even", 4], ["odd", 1], ["odd", 3], ["odd", 5]]


class _Count(beam.DoFn):
    def process(self, x):
        from beam_curation.pipeline.graph.metrics import NAMESPACE

        Metrics.counter(NAMESPACE, "seen").inc()
        Metrics.counter(NAMESPACE, "sum").inc(x)
        yield x


def test_counters_come_back_from_the_workers(cluster):
    """Fix 3: Beam's runner's result.metrics() raises NotImplementedError; the CLI's beam_counters reads ours."""
    from beam_curation.pipeline.run import beam_counters

    def build(p):
        return p | beam.Create(list(range(10))) | beam.ParDo(_Count())

    with pytest.raises(NotImplementedError):
        _run(cluster, build, runner=UPSTREAM).metrics()
    assert beam_counters(_run(cluster, build)) == {"seen": 10, "sum": 45}


def test_no_metrics_gives_empty_counters_with_a_note(caplog):
    """A runner without metrics (Beam's own DaskRunner result, Dataflow's dry run) ends the run cleanly."""
    from beam_curation.pipeline.run import beam_counters

    with pytest.raises(NotImplementedError):
        upstream.DaskRunnerResult(None, []).metrics()
    with caplog.at_level(logging.INFO, logger="beam_curation.pipeline.graph.metrics"):
        assert beam_counters(upstream.DaskRunnerResult(None, [])) == {}
    assert "reports no Beam metrics" in caplog.text


def test_create_spreads_its_items_over_the_workers(cluster, tmp_path):
    """Fix 4: Beam's runner puts up to 128 items of beam.Create (the read tasks) in one partition, one worker."""
    def where(x):
        time.sleep(0.5)  # both workers busy at once
        return [x, distributed.get_worker().address]

    for runner in (UPSTREAM, OURS):
        _run(cluster, lambda p: (p | beam.Create(list(range(4))) | beam.Map(where)
                                 | beam.ParDo(_Record(tmp_path / runner))), runner=runner)
    for runner, workers in ((UPSTREAM, 1), (OURS, 2)):
        placed = _recorded(tmp_path / runner)
        assert sorted(x for x, _ in placed) == [0, 1, 2, 3]
        assert len({worker for _, worker in placed}) == workers, runner


def _install_graph_counter(dask_scheduler) -> None:
    from distributed.diagnostics.plugin import SchedulerPlugin

    class Graphs(SchedulerPlugin):
        """The client of every graph submitted to the scheduler."""

        def __init__(self):
            self.clients: list[str] = []

        def update_graph(self, scheduler, *, client=None, **kwargs):
            self.clients.append(str(client))

    dask_scheduler.add_plugin(Graphs(), name="test-graphs")


def _graphs_from_workers(dask_scheduler) -> int:
    """Graphs submitted by a client inside a worker (a task computing a collection), and forget them."""
    plugin = dask_scheduler.plugins["test-graphs"]
    count = sum(client.startswith("Client-worker-") for client in plugin.clients)
    plugin.clients.clear()
    return count


def test_a_side_input_is_computed_once(cluster, tmp_path):
    """Fix 6: each bundle of Beam's runner's consumer computes the side input's bag from inside its task (here 6
    bundles, 6 graphs submitted by the workers); ours computes it once, as a task of the run's graph."""
    def build(folder):
        def pipeline(p):
            side = p | "Side" >> beam.Create([1, 2, 3]) | "Calls" >> beam.ParDo(_Record(folder / "calls"))
            (p | "Main" >> beam.Create(list(range(6)))
             | beam.Map(lambda x, s: x + sum(s), s=beam.pvalue.AsList(side)) | beam.ParDo(_Record(folder / "out")))
        return pipeline

    client = cluster[1]
    client.run_on_scheduler(_install_graph_counter)
    graphs = {}
    for runner in (UPSTREAM, OURS):
        _run(cluster, build(tmp_path / runner), "--dask_npartitions=6", runner=runner)
        graphs[runner] = client.run_on_scheduler(_graphs_from_workers)
        assert _recorded(tmp_path / runner / "out") == [6, 7, 8, 9, 10, 11]
    assert graphs == {UPSTREAM: 6, OURS: 0}
    assert _recorded(tmp_path / OURS / "calls") == [1, 2, 3]


def test_a_pardo_with_two_consumers_runs_once(cluster, tmp_path):
    """Fix 5: Beam's runner computes only the last translated bag, so branch A never runs; here both branches
    run, and the shared ParDo once, not once per branch."""
    def build(folder):
        def pipeline(p):
            shared = p | beam.Create(list(range(3))) | "Shared" >> beam.ParDo(_Record(folder / "calls"))
            shared | "A" >> beam.Map(lambda x: x) | "RecordA" >> beam.ParDo(_Record(folder / "a"))
            shared | "B" >> beam.Map(lambda x: x) | "RecordB" >> beam.ParDo(_Record(folder / "b"))
        return pipeline

    for runner in (UPSTREAM, OURS):
        _run(cluster, build(tmp_path / runner), runner=runner)
    assert (_recorded(tmp_path / UPSTREAM / "a"), _recorded(tmp_path / UPSTREAM / "b")) == ([], [0, 1, 2])
    assert _recorded(tmp_path / OURS / "a") == _recorded(tmp_path / OURS / "b") == [0, 1, 2]
    assert _recorded(tmp_path / OURS / "calls") == [0, 1, 2]


def _group_by_key_of_200_partitions(folder: Path):
    def build(p):
        pairs = (p | beam.Create(list(range(200)))
                 | "Pairs" >> beam.FlatMap(lambda i: [(f"k{i % 7}", i), ((b"b", i % 3), i)]))
        (pairs | beam.GroupByKey() | beam.MapTuple(lambda k, vs: [repr(k), sorted(vs)])
         | beam.ParDo(_Record(folder)))
    return build


def test_group_by_key_shuffles_at_most_32_partitions_and_groups_across_workers(cluster, tmp_path):
    """Fix 8: a GroupByKey over 200 partitions is, on Beam's runner, Dask's two-stage task shuffle into 200
    partitions (thousands of tasks); here one stage into at most MAX_SHUFFLE_PARTITIONS. Keys are str and bytes,
    whose Python hash differs between the two worker processes: a group split by it would arrive twice.
    Fix 11: no ReifyWindows step (Beam's runner runs it as a ParDo, tasks per partition)."""
    build = _group_by_key_of_200_partitions(tmp_path)
    tasks = {}
    for runner in (UPSTREAM, OURS):
        bags = _translated(build, runner, {"npartitions": 200})
        tasks[runner] = len(bags["GroupByKey/GroupByKey"].__dask_graph__()) - len(bags["Pairs"].__dask_graph__())
        width = bags["GroupByKey/GroupByKey"].npartitions
        assert width >= 200 if runner == UPSTREAM else width == MAX_SHUFFLE_PARTITIONS
        reify = bags["GroupByKey/ReifyWindows"].name
        assert reify.startswith("apply_dofn_to_bundle" if runner == UPSTREAM else "select-"), reify  # fix 11
    # Ours: a selecting task per input partition (fix 2), then the shuffle's 32 + 32 * 32 + 32 tasks.
    assert tasks[OURS] == 200 + MAX_SHUFFLE_PARTITIONS * (MAX_SHUFFLE_PARTITIONS + 2)
    assert tasks[UPSTREAM] > 4 * tasks[OURS], tasks

    _run(cluster, build)
    expected = sorted([[repr(f"k{r}"), [i for i in range(200) if i % 7 == r]] for r in range(7)]
                      + [[repr((b"b", r)), [i for i in range(200) if i % 3 == r]] for r in range(3)])
    assert _recorded(tmp_path) == expected


def test_a_shuffle_is_as_wide_as_the_cluster_can_use(cluster, tmp_path):
    """Fix 12: on 2 single-threaded workers a GroupByKey shuffles into 8 partitions (80 tasks, not 1,088), and
    groups the same values as at the full width of MAX_SHUFFLE_PARTITIONS."""
    assert shuffle_width(cluster_threads(cluster[1])) == 2 * SHUFFLE_PARTITIONS_PER_THREAD == 8
    assert shuffle_width(0) == shuffle_width(64) == MAX_SHUFFLE_PARTITIONS
    build = _group_by_key_of_200_partitions(tmp_path)
    p = beam.Pipeline(options=PipelineOptions([]))
    build(p)
    bags = {node.full_label: bag for node, bag in translate(p, {"npartitions": 200}, "no-pool", 8).bags.items()}
    assert bags["GroupByKey/GroupByKey"].npartitions == 8
    assert len(bags["GroupByKey/GroupByKey"].__dask_graph__()) - len(bags["Pairs"].__dask_graph__()) == 200 + 8 * 10

    with distributed.get_task_stream(client=cluster[1]) as stream:  # the runner picks the width from the cluster
        _run(cluster, build, "--dask_npartitions=200")
    groups = {str(task["key"]) for task in stream.data if "gbk-group" in str(task["key"])}
    assert len(groups) == 8, groups
    expected = sorted([[repr(f"k{r}"), [i for i in range(200) if i % 7 == r]] for r in range(7)]
                      + [[repr((b"b", r)), [i for i in range(200) if i % 3 == r]] for r in range(3)])
    assert _recorded(tmp_path) == expected


def test_key_hash_is_the_same_in_every_process():
    """Fix 8: the shuffle's hash must route a key alike in every worker (Python's str/bytes hash is salted)."""
    import subprocess
    import sys

    key = ("doc", b"\x00band", 7)
    code = ("from beam_curation.pipeline.runners.dask_runner.group_by_key import key_hash; "
            "print(key_hash(('doc', b'\\x00band', 7)))")
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO,
                             env=dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(REPO))).stdout
        assert int(out) == key_hash(key)


def test_partitions_move_between_workers_in_one_piece():
    """Fix 9: distributed serialises a plain list element by element (a frame and a pickle call per element);
    Beam's runner's ParDo partitions are plain lists, and every partition of a ParDo, GroupByKey or Flatten here
    is a Partition, which it pickles whole."""
    from distributed.protocol import serialize, to_serialize

    assert len(serialize(to_serialize(list(range(100))))[1]) == 100  # what a plain list costs
    assert len(serialize(to_serialize(Partition(range(100))))[1]) == 1

    def build(p):
        pairs = (p | beam.Create(list(range(40))) | "Pairs" >> beam.FlatMap(lambda i: [(f"k{i % 5}", i), (i % 3, i)]))
        grouped = pairs | beam.GroupByKey()
        ((grouped | "Keys" >> beam.Keys(), pairs | "Values" >> beam.Values()) | beam.Flatten()
         | beam.combiners.Count.Globally())

    assert {type(part) for part in _partitions(_translated(build, UPSTREAM)["Pairs"])} == {list}
    kinds = Counter()
    p = beam.Pipeline(options=PipelineOptions([]))
    build(p)
    for node, bag in translate(p, {}, "no-pool").bags.items():
        kind = type(node.transform).__name__
        if kind in ("ParDo", "_GroupByKeyOnly", "_Flatten") and not node.full_label.endswith("ReifyWindows"):
            assert {type(part) for part in _partitions(bag)} == {Partition}, node.full_label
            kinds[kind] += 1
    assert kinds["ParDo"] and kinds["_GroupByKeyOnly"] and kinds["_Flatten"]


def test_flatten_keeps_the_widest_inputs_partition_count():
    """Beam's runner's Flatten has as many partitions as its inputs together; here as many as the widest."""
    def build(p):
        (tuple(p | f"C{i}" >> beam.Create(list(range(8 * i))) | f"M{i}" >> beam.Map(lambda x: x) for i in (1, 2, 4))
         | beam.Flatten())

    assert _translated(build, UPSTREAM, {"npartitions": 8})["Flatten"].npartitions == 24
    flattened = _translated(build, OURS, {"npartitions": 8})["Flatten"]
    assert flattened.npartitions == 8
    assert sorted(v for part in _partitions(flattened) for v in part) == sorted([*range(8), *range(16), *range(32)])


def _double(i: int) -> int:
    Metrics.counter("chain", "double").inc()
    return 2 * i


def _split_in_two(i: int) -> list[int]:
    Metrics.counter("chain", "split").inc()
    return [i, i + 1]


def test_a_chain_of_pardos_runs_in_the_last_ones_tasks(cluster, tmp_path):
    """Fix 10 (not an upstream defect, so not compared with Beam's runner): a Map feeding only a FlatMap runs in
    the FlatMap's tasks (one task per partition, named after the FlatMap), yet both steps' counters come back
    and every element arrives; the FlatMap, which feeds two transforms, is folded into neither."""
    def build(p):
        mid = (p | beam.Create(list(range(30))) | "Double" >> beam.Map(_double)
               | "Split" >> beam.FlatMap(_split_in_two))
        mid | "Write" >> beam.ParDo(_Record(tmp_path / "items"))
        mid | "Total" >> beam.combiners.Count.Globally() | "WriteTotal" >> beam.ParDo(_Record(tmp_path / "total"))
        return p

    p = beam.Pipeline(options=PipelineOptions([]))
    build(p)
    visitor = translate(p, {}, "no-pool")
    graph = dict(dask.bag.concat([*visitor.leaves(), *visitor.metric_bags()]).__dask_graph__())
    names = {key[0] if isinstance(key, tuple) else key for key in graph}
    assert not any(name.startswith("Double") for name in names), "Double runs inside Split's tasks"
    assert any(name.startswith("Split") for name in names), "Split feeds two transforms: its own tasks"

    result = _run(cluster, build)
    counters = {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]}
    assert counters["double"] == 30 and counters["split"] == 30
    assert _recorded(tmp_path / "items") == sorted([2 * i for i in range(30)] + [2 * i + 1 for i in range(30)])
    assert _recorded(tmp_path / "total") == [60]


class _Lifecycle(beam.DoFn):
    """Records each setup and teardown as a file named after the event, the process and the instance."""

    def __init__(self, folder: Path):
        self.folder = str(folder)

    def _mark(self, event: str) -> None:
        os.makedirs(self.folder, exist_ok=True)
        Path(self.folder, f"{event}-{os.getpid()}-{id(self)}").touch()

    def setup(self):
        self._mark("setup")

    def process(self, x):
        yield x

    def teardown(self):
        self._mark("teardown")


def test_a_dofn_is_set_up_once_per_worker_and_torn_down_when_the_run_ends(cluster, tmp_path):
    """Beam's runner sets a DoFn up and tears it down around every partition (8 here); ours sets it up once per
    worker thread, reuses it across the run's bundles, and tears it down when the run ends."""
    def events(runner: str) -> Counter:
        return Counter(p.name.split("-")[0] for p in (tmp_path / runner).iterdir())

    for runner in (UPSTREAM, OURS):
        _run(cluster, lambda p: p | beam.Create(list(range(8))) | beam.ParDo(_Lifecycle(tmp_path / runner)),
             "--dask_npartitions=8", runner=runner)
    assert events(UPSTREAM) == {"setup": 8, "teardown": 8}
    ours = events(OURS)
    assert 1 <= ours["setup"] <= 2 and ours["teardown"] == ours["setup"], ours


def test_daemonic_workers_are_reported(cluster, caplog):
    with caplog.at_level(logging.WARNING, logger="beam_curation.pipeline.runners.dask_runner.runner"):
        assert warn_if_daemonic(cluster[1]) is False
        with distributed.LocalCluster(n_workers=1, processes=True, threads_per_worker=1, dashboard_address=":0",
                                      silence_logs=logging.WARNING) as daemonic, \
                distributed.Client(daemonic) as client:
            assert warn_if_daemonic(client) is True
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


def test_paragraph_dedup_on_dask_matches_fnapi_byte_for_byte(cluster, tmp_path, monkeypatch):
    """Paragraph dedup's groupings (by node, by paragraph hash, by node again) give the FnApiRunner's files."""
    monkeypatch.chdir(REPO)
    args = ("--input", str(REPO / "sample" / "*.warc.gz"), "--set", "extract.timeout_seconds=300",
            "--set", "dedup.paragraphs.enabled=true", "--set", "dedup.paragraphs.mode=remove")
    recipe = REPO / "configs" / "default.yaml"
    assert run_pipeline(recipe, tmp_path / "fnapi", *args, "--runner=FnApiRunner") == 0
    assert run_pipeline(recipe, tmp_path / "dask", *args, "--runner=DaskRunner",
                        f"--dask_client_address={cluster[0].scheduler_address}") == 0
    expected = data_file_digests(tmp_path / "fnapi")
    assert expected and data_file_digests(tmp_path / "dask") == expected
    import pyarrow.parquet as pq

    spans = [s for f in sorted((tmp_path / "dask" / "signals").glob("*.parquet"))
             for s in pq.read_table(f, columns=["dup_paragraph_spans"]).column(0).to_pylist()]
    assert sum(bool(s) for s in spans) >= 5, "repeated paragraphs were found (and written alike)"
