"""Beam's DaskRunner with the fixes a real pipeline needs; `--runner=DaskRunner` resolves to it
(`beam_curation.pipeline.runners.options.runner_for`).

Written against apache-beam 2.77 (`apache_beam/runners/dask/`); see BEAM_VERSIONS for the range checked.
Beam's runner, as shipped, silently loses, duplicates or misroutes data. Each fix below names the defect;
tests/test_dask_runner.py has a small pipeline per defect that fails on Beam's runner (or, for 6, with the fix
taken out) and passes on this one:

1. Outputs were taken before `finish_bundle`, so whatever a DoFn emits there (the last batch of
   `BatchElements`, a buffered writer) was lost. Here they are taken after it.
2. A multi-output ParDo's bag held all its outputs and each consumer got all of them, main and tagged alike.
   Here each output keeps its tag and each consumer (ParDo, side input, GroupByKey, Flatten) selects its own.
3. `result.metrics()` raised `NotImplementedError`. Here each bundle runs under a metrics container whose
   updates travel back with the bundle's outputs: counted once per successful task, retries included.
4. `beam.Create` put up to 128 items in one partition unless `--dask_npartitions` was given, so a short list
   of read tasks ran on one worker. Here each item gets its own partition (up to MAX_CREATE_PARTITIONS).
5. Only the last transform's bag was computed: a branch that does not feed it (a second sink) never ran.
   Here every leaf is computed, without shipping its elements to the client.
6. A side input was a Dask bag pickled into each consuming task and recomputed there, with all of its
   upstream branch, once per bundle. Here it is one task that every consuming task depends on.
7. (Not an upstream defect: a choice here.) The graph is computed unoptimised. Dask's fusion copied a task
   shared by two consumers into both when several collections were computed together, and on the default
   config the unoptimised graph ran fewer tasks (3726 against 4033).
8. A GroupByKey was `bag.groupby`: Dask's task shuffle, which hashes every element's key with `tokenize` (an
   MD5 of its normalised form) and makes n * k * stages tasks for n partitions (k = n up to 32, two stages
   beyond): a 500-shard run's dedup made hundreds of thousands of tasks, and the driver's scheduler held gigabytes
   for them. Here the shuffle is one stage of at most MAX_SHUFFLE_PARTITIONS splitting tasks (each over a run of
   input partitions) and as many grouping tasks, and keys of plain types (int, str, bytes, tuples of them) are
   hashed by CRC-32 of their pickle, which is the same in every process (Python's str and bytes hashes are salted per process); other keys as upstream.
9. A partition that moved between workers was serialised element by element: distributed's `serialize`
   iterates a top-level list and pickles each item on its own (a frame, a header and a module lookup per
   element), which took more worker time than the DoFns on a dedup run. Here every partition a task of this
   runner returns, the shuffle's included, is a `Partition` (a list subclass), which Dask pickles whole.
10. (Not an upstream defect: as Beam's other runners do.) Each ParDo was a task per partition whose whole output
   was kept in worker memory until its consumer ran. Here a ParDo whose outputs feed exactly one ParDo runs
   inside that consumer's tasks (a chain of bundles in one task), so the partitions between them never exist
   as Dask results.
11. (Not an upstream defect: what it costs.) A GroupByKey's ReifyWindows step wrapped every value with its window
   and timestamp, re-building the DoFn's window arguments per element, for the grouping to unwrap them again:
   about a tenth of the workers' time on a dedup run. In the global window (the only one this runner, as
   upstream, groups in) the values go to the shuffle as they are.

Also: a DoFn instance is set up once per worker thread and reused across bundles (as Beam's other runners
do), instead of being set up and torn down for every partition; a worker tears down the idle instances of a
run when it starts a bundle of the next one.
A Flatten keeps the partition count of its largest input instead of their sum.

Not fixed, documented: daemonic workers cannot start child processes, and the extraction stage runs
trafilatura in one, so workers need `DASK_DISTRIBUTED__WORKER__DAEMON=False` (run_pipeline warns when a worker
is daemonic). As upstream: global windows only, `Reshuffle` is a no-op, `beam.io.Read` is not translated.
"""

from __future__ import annotations

import dataclasses
import logging
import pickle
import re
import threading
import typing as t
import uuid
import zlib

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.pipeline import AppliedPTransform, PipelineVisitor
from apache_beam.runners.common import Receiver
from apache_beam.runners.dask import dask_runner as upstream
from apache_beam.pvalue import TaggedOutput
from apache_beam.runners.dask.transform_evaluator import defenestrate, get_windowed_value
from apache_beam.runners.direct.direct_metrics import DirectMetrics
from apache_beam.runners.runner import PipelineState
from apache_beam.transforms.window import GlobalWindow, TimestampedValue
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

log = logging.getLogger(__name__)

# Run on 2.77; apache_beam/runners/dask/ of 2.63 and 2.70 differs from 2.77 only in type hints and in
# get_all_options(current_only=...), which _dask_options avoids. Before 2.63 DaskOptions has no partition options.
BEAM_VERSIONS = ">=2.63,<2.78"
MAX_CREATE_PARTITIONS = 1024
MAX_SHUFFLE_PARTITIONS = 32  # Dask's task shuffle stays one stage up to its max_branch, 32 (fix 8)
DAEMON_HINT = ("start the workers with DASK_DISTRIBUTED__WORKER__DAEMON=False (dask config "
               "distributed.worker.daemon: false); a daemonic process cannot start the extraction sandbox")
_METRICS = "__dask_runner_metrics__"  # the tag under which a bundle's metric updates travel with its outputs
_ALL = "__dask_runner_all__"  # input_tag of a ParDo whose input is not a ParDo's (no tags to select)


# ---------------------------------------------------------------------------------------------------------
# Worker side: one partition is one bundle of a reused DoFn instance.

@dataclasses.dataclass(frozen=True)
class _ParDoSpec:
    run_id: str
    key: str  # run_id/label: instances are pooled under it
    label: str
    fn_blob: bytes
    window_fn: t.Any
    args: tuple
    kwargs: dict
    side_specs: tuple
    input_tag: t.Any  # the producer's output tag to select, or _ALL


class Partition(list):
    """A bag partition: a list that distributed pickles in one piece when it moves between workers (fix 9)."""

    __slots__ = ()


class _Collect(Receiver):
    """Appends (tag, value) to the bundle's outputs; main outputs plain, tagged ones windowed (as upstream)."""

    def __init__(self, tag: str | None, owner: "_Receivers"):
        self.tag, self.owner = tag, owner

    def receive(self, windowed_value) -> None:
        self.owner.out.append((self.tag, windowed_value.value if self.tag is None else windowed_value))


class _Receivers(dict):
    """Output tag -> receiver, made on first use; all append to `out`, the running bundle's outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.out: list = []

    def __missing__(self, tag):
        receiver = self[tag] = _Collect(tag, self)
        return receiver


class _Windowed:
    """A side input's values (one list, computed once), in the global window as upstream puts them."""

    def __init__(self, values: list):
        self._values = values

    def __iter__(self):
        from apache_beam.transforms.window import GlobalWindows

        for value in self._values:
            yield get_windowed_value(value, GlobalWindows())


class _Instance:
    """One set-up DoFn with its invoker; runs one bundle at a time."""

    def __init__(self, spec: _ParDoSpec, side_values: tuple):
        import cloudpickle
        from apache_beam.runners.common import DoFnContext, DoFnInvoker, DoFnSignature, _OutputHandler
        from apache_beam.transforms.sideinputs import SideInputMap

        self.receivers = _Receivers()
        handler = _OutputHandler(window_fn=spec.window_fn, main_receivers=self.receivers[None],
                                 tagged_receivers=self.receivers, per_element_output_counter=None,
                                 output_batch_converter=None, process_yields_batches=False,
                                 process_batch_yields_elements=False)
        side_inputs = [SideInputMap(view, options, _Windowed(values))
                       for (view, options), values in zip(spec.side_specs, side_values)]
        self.invoker = DoFnInvoker.create_invoker(
            DoFnSignature(cloudpickle.loads(spec.fn_blob)), handler, context=DoFnContext(spec.label, state=None),
            side_inputs=side_inputs, input_args=list(spec.args), input_kwargs=dict(spec.kwargs),
            user_state_context=None, bundle_finalizer_param=beam.DoFn.BundleFinalizerParam())
        self.invoker.invoke_setup()

    def bundle(self, items: t.Iterable, spec: _ParDoSpec) -> tuple[Partition, t.Any]:
        """The bundle's (tag, value) outputs and its metric updates (None when it updated none)."""
        from apache_beam.metrics.execution import MetricsContainer
        from apache_beam.runners.worker import statesampler
        from apache_beam.utils import counters

        self.receivers.out = out = Partition()
        container = MetricsContainer(spec.label)
        sampler = statesampler.StateSampler(spec.label, counters.CounterFactory())
        previous = statesampler.get_current_tracker()
        statesampler.set_current_tracker(sampler)
        try:
            with sampler.scoped_state(spec.label, "process", metrics_container=container):
                self.invoker.invoke_start_bundle()
                process = self.invoker.invoke_process
                for item in items:
                    process(_windowed(item, spec.window_fn))
                self.invoker.invoke_finish_bundle()  # fix 1: before the outputs are taken
        finally:
            statesampler.set_current_tracker(previous)
        updates = container.get_cumulative()
        return out, (updates if updates.counters or updates.distributions or updates.gauges else None)


_GLOBAL_WINDOWS = (GlobalWindow(),)
_ZERO = Timestamp(0)


def _windowed(item, window_fn) -> WindowedValue:
    """As upstream's get_windowed_value, but a plain value's window and timestamp are made once, not per element
    (on a dedup run, constructing them per element took about a seventh of the bundles' time)."""
    if isinstance(item, (WindowedValue, TaggedOutput, TimestampedValue)):
        return get_windowed_value(item, window_fn)
    return WindowedValue(item, _ZERO, _GLOBAL_WINDOWS)


_IDLE: dict[str, list[_Instance]] = {}  # this worker process's set-up instances not running a bundle, by spec key
_IDLE_LOCK = threading.Lock()
_RUN = [""]  # the run this worker process last ran a bundle for


def _run_chain(partition, chain: tuple[tuple[_ParDoSpec, int], ...], *side_values) -> Partition:
    """One Dask partition as one Beam bundle of each ParDo of a fused chain in turn (fix 10), each link's
    selected output feeding the next; `chain` pairs each ParDo's spec with its number of side inputs, whose
    values follow in order. The last link's outputs, then every link's metric updates (fix 3)."""
    out, updates, taken = partition, [], 0
    for spec, sides in chain:
        items = out if spec.input_tag == _ALL else _select(out, spec.input_tag)
        instance = _acquire(spec, side_values[taken:taken + sides])
        taken += sides
        out, update = instance.bundle(items, spec)
        _release(spec, instance)
        if update is not None:
            updates.append(update)
    out.extend((_METRICS, update) for update in updates)
    return out


def _acquire(spec: _ParDoSpec, side_values: tuple) -> _Instance:
    """An idle (or new) set-up instance of the ParDo's DoFn.

    A worker keeps its set-up instances for the run it works for; the first bundle of another run tears down
    the idle instances of the previous ones (Beam calls teardown best-effort: a worker that stops skips it)."""
    stale: list[_Instance] = []
    with _IDLE_LOCK:
        if _RUN[0] != spec.run_id:
            _RUN[0] = spec.run_id
            for key in [key for key in _IDLE if not key.startswith(spec.run_id + "/")]:
                stale += _IDLE.pop(key)
        idle = _IDLE.get(spec.key)
        instance = idle.pop() if idle else None
    for old in stale:
        try:
            old.invoker.invoke_teardown()
        except Exception:  # best effort, as in Beam
            log.warning("teardown of a DoFn of an earlier run failed", exc_info=True)
    return instance if instance is not None else _Instance(spec, side_values)


def _release(spec: _ParDoSpec, instance: _Instance) -> None:
    with _IDLE_LOCK:
        _IDLE.setdefault(spec.key, []).append(instance)


def _select(partition, tag) -> Partition:
    """One output's values out of a ParDo partition's (tag, value) pairs (fix 2)."""
    return Partition(value for pair_tag, value in partition if pair_tag == tag)


def _unwindowed(partition) -> Partition:
    """The plain values (a tagged output's values travel windowed, fix 2)."""
    return Partition(defenestrate(value) for value in partition)


def _discard(_partition) -> Partition:
    return Partition()


def _concat(*partitions) -> Partition:
    return Partition(value for partition in partitions for value in partition)


_PLAIN_KEYS = (int, str, bytes)


def _plain(key) -> bool:
    kind = type(key)
    return kind in _PLAIN_KEYS or (kind is tuple and all(_plain(part) for part in key))


def _key_hash(key) -> int:
    """The same for equal keys in every worker process (fix 8)."""
    if _plain(key):
        return zlib.crc32(pickle.dumps(key, protocol=4))
    from dask.base import tokenize

    return int(tokenize(key), 16)


class _Splits(tuple):
    """One splitting task's output: part j goes to grouping task j (a tuple subclass: moved whole, if at all)."""

    __slots__ = ()


def _split(parts: int, *partitions) -> _Splits:
    """(key, value) pairs of a run of input partitions, by the grouping task their key's hash sends them to."""
    out = [Partition() for _ in range(parts)]
    for partition in partitions:
        for pair in partition:
            out[_key_hash(pair[0]) % parts].append(pair)
    return _Splits(out)


def _pick(splits: _Splits, j: int) -> Partition:
    return splits[j]


def _group(*picked) -> Partition:
    """Beam's (key, [value, ...]) per key, keys in order of arrival."""
    groups: dict = {}
    for pairs in picked:
        for key, value in pairs:
            groups.setdefault(key, []).append(defenestrate(value))
    return Partition(groups.items())


def _runs(n: int, runs: int) -> list[range]:
    """0..n-1 cut into `runs` runs of adjacent indices, as even as can be."""
    bounds = [round(i * n / runs) for i in range(runs + 1)]
    return [range(bounds[r], bounds[r + 1]) for r in range(runs)]


def _bag_of(graph: dict, name: str, parts: int, source):
    """The bag whose partitions are the tasks (name, 0..parts-1) of `graph`, built on `source`."""
    from dask.bag import Bag
    from dask.highlevelgraph import HighLevelGraph

    return Bag(HighLevelGraph.from_collections(name, graph, dependencies=[source]), name, parts)


def _merge_adjacent(bag, parts: int):
    """Runs of adjacent partitions merged into `parts` partitions (as bag.repartition, but into Partitions)."""
    from dask.base import tokenize

    name = f"merge-{tokenize(bag.name, parts)}"
    runs = _runs(bag.npartitions, parts)
    return _bag_of({(name, r): (_concat, *[(bag.name, i) for i in run]) for r, run in enumerate(runs)}, name, parts, bag)


def _shuffle(bag, parts: int):
    """GroupByKey over `bag` as one task shuffle: at most `parts` splitting tasks, each over a run of adjacent
    input partitions, one picking task per (split, group) pair (it runs where the split is, so only that part
    moves) and `parts` grouping tasks: parts * (parts + 2) tasks, whatever the input's partition count."""
    from dask.base import tokenize

    parts = max(1, min(parts, bag.npartitions))
    runs = _runs(bag.npartitions, parts)  # as many splitting tasks as grouping ones
    token = tokenize(bag.name, parts)
    split, pick, name = f"gbk-split-{token}", f"gbk-pick-{token}", f"gbk-group-{token}"
    graph: dict = {}
    for s, run in enumerate(runs):
        graph[(split, s)] = (_split, parts, *[(bag.name, i) for i in run])
        for j in range(parts):
            graph[(pick, s, j)] = (_pick, (split, s), j)
    for j in range(parts):
        graph[(name, j)] = (_group, *[(pick, s, j) for s in range(len(runs))])
    return _bag_of(graph, name, parts, bag)


# ---------------------------------------------------------------------------------------------------------
# Client side: the pipeline as a Dask graph.

class _Visitor(PipelineVisitor):
    """Translates each primitive into a Dask bag; a ParDo's bag holds (tag, value) pairs, selected per consumer."""

    def __init__(self, bag_kwargs: dict, run_id: str, consumers: dict[AppliedPTransform, int] | None = None):
        from apache_beam.runners.dask.overrides import _Create

        self._create = _Create
        self.bag_kwargs = bag_kwargs
        self.run_id = run_id
        self.bags: dict[AppliedPTransform, t.Any] = {}
        self.pardos: list[AppliedPTransform] = []
        self.consumed: set[AppliedPTransform] = set()
        self._consumers = consumers or {}  # main and side inputs each transform's outputs feed (_Consumers)
        self._chains: dict[AppliedPTransform, tuple] = {}  # ParDo -> (source bag, chain, side values)
        self._fused: set[AppliedPTransform] = set()  # ParDos run inside their one consumer's tasks (fix 10)

    def _raw(self, pcoll):
        self.consumed.add(pcoll.producer)
        return self.bags[pcoll.producer], pcoll.producer in self.pardos

    def bag_for(self, pcoll):
        """The bag of one PCollection: only its own tag's values when a ParDo made it (fix 2)."""
        bag, tagged = self._raw(pcoll)
        return bag.map_partitions(_select, pcoll.tag) if tagged else bag

    def visit_transform(self, node: AppliedPTransform) -> None:
        from apache_beam.runners.dask.transform_evaluator import Flatten, GroupByKey, NoOp

        transform = node.transform
        inputs = [pc for pc in node.inputs if not isinstance(pc, beam.pvalue.PBegin) and pc.producer in self.bags]
        if isinstance(transform, self._create):
            self.bags[node] = self._translate_create(node)
        elif type(transform) is beam.ParDo and _reifies_global_windows(node, inputs[0]):
            self.bags[node] = self.bag_for(inputs[0]).map_partitions(_unwindowed)  # fix 11
        elif type(transform) is beam.ParDo:
            self.bags[node] = self._translate_pardo(node, inputs[0])
            self.pardos.append(node)
        else:
            bags = [self.bag_for(pc) for pc in inputs]
            op_class = upstream.TRANSLATIONS.get(type(transform), NoOp)
            if op_class is Flatten:
                self.bags[node] = self._translate_flatten(bags)
            elif op_class is GroupByKey:
                self.bags[node] = self._translate_group_by_key(bags[0])
            else:
                op = op_class(node, bag_kwargs=dict(self.bag_kwargs))
                self.bags[node] = op.apply(bags[0] if len(bags) == 1 else (bags or None))

    def _translate_create(self, node: AppliedPTransform):
        """beam.Create: one item per partition unless --dask_npartitions / --dask_partition_size say (fix 4)."""
        from dask import bag as db

        if self.bag_kwargs:
            return upstream.TRANSLATIONS[type(node.transform)](node, bag_kwargs=dict(self.bag_kwargs)).apply(None)
        items = node.transform.values
        return db.from_sequence(items, npartitions=max(1, min(len(items), MAX_CREATE_PARTITIONS)))

    def _translate_pardo(self, node: AppliedPTransform, main_input):
        """One map_partitions call; side inputs as whole-list dependencies computed once (fix 6)."""
        import cloudpickle
        import dask

        transform = t.cast(beam.ParDo, node.transform)
        producer = main_input.producer
        fuse = producer in self._chains and self._consumers.get(producer) == 1
        bag, tagged = self._raw(main_input)
        window_fn = main_input.windowing.windowfn if hasattr(main_input, "windowing") else None
        spec = _ParDoSpec(run_id=self.run_id, key=f"{self.run_id}/{node.full_label}", label=node.full_label,
                          fn_blob=cloudpickle.dumps(transform.fn), window_fn=window_fn,
                          args=tuple(transform.args), kwargs=dict(transform.kwargs),
                          side_specs=tuple((type(si), si._view_options()) for si in node.side_inputs),
                          input_tag=main_input.tag if tagged else _ALL)
        # Partition by partition and unoptimised: a finalised bag would carry its own fused copy of its graph.
        side_values = [dask.delayed(_concat, pure=True)(*self.bag_for(si.pvalue).to_delayed(optimize_graph=False))
                       for si in node.side_inputs]
        link = ((spec, len(side_values)),)
        if fuse:  # the producer's only consumer: its bundles run in this ParDo's tasks (fix 10)
            bag, chain, chain_sides = self._chains[producer]
            link, side_values = chain + link, [*chain_sides, *side_values]
            self._fused.add(producer)
        self._chains[node] = (bag, link, side_values)
        # Named after the transform, so that the dashboard's task stream reads as the pipeline.
        token = re.sub(r"[^A-Za-z0-9_.]+", "_", node.full_label)
        return bag.map_partitions(_run_chain, link, *side_values, token=token)

    @staticmethod
    def _translate_group_by_key(bag):
        """One task shuffle into at most MAX_SHUFFLE_PARTITIONS partitions, with a cheap stable hash (fixes 8, 9)."""
        return _shuffle(bag, MAX_SHUFFLE_PARTITIONS)

    @staticmethod
    def _translate_flatten(bags: list):
        from dask import bag as db

        if not bags:
            return db.from_sequence([], npartitions=1)
        joined = db.concat(bags)
        widest = max(bag.npartitions for bag in bags)
        return _merge_adjacent(joined, widest) if joined.npartitions > widest else joined

    def leaves(self) -> list:
        """Bags nothing else consumes (fix 5), drained so that their elements stay on the workers."""
        seen, out = set(), []
        for node, bag in self.bags.items():
            if node in self.consumed or bag is None or bag.name in seen:
                continue
            seen.add(bag.name)
            out.append(bag.map_partitions(_discard))
        return out

    def metric_bags(self) -> list:
        """Each chain's metric updates, from its last ParDo (a fused one's travel with its consumer's)."""
        return [self.bags[node].map_partitions(_select, _METRICS) for node in self.pardos if node not in self._fused]


def _reifies_global_windows(node: AppliedPTransform, main_input) -> bool:
    """The ReifyWindows step of a GroupByKey over globally windowed values: each value wrapped with its window
    and timestamp for the grouping to unwrap again (this runner, as upstream, groups in the global window only)."""
    from apache_beam.transforms.window import GlobalWindows

    windowing = getattr(main_input, "windowing", None)
    return (isinstance(t.cast(beam.ParDo, node.transform).fn, beam.GroupByKey.ReifyWindows)
            and windowing is not None and windowing.windowfn == GlobalWindows())


class _Consumers(PipelineVisitor):
    """How many main and side inputs each primitive's outputs feed: a ParDo whose outputs feed exactly one
    ParDo's main input can run inside that ParDo's tasks (fix 10)."""

    def __init__(self) -> None:
        self.counts: dict[AppliedPTransform, int] = {}

    def visit_transform(self, node: AppliedPTransform) -> None:
        fed = [pc for pc in node.inputs if not isinstance(pc, beam.pvalue.PBegin)]
        fed += [side.pvalue for side in node.side_inputs]
        for pcoll in fed:
            self.counts[pcoll.producer] = self.counts.get(pcoll.producer, 0) + 1


class DaskRunnerResult(upstream.DaskRunnerResult):
    """Waits for the one future that depends on every leaf and holds the bundles' metric updates (fix 3)."""

    def __init__(self, client, future):
        super().__init__(client, [future])
        self._metrics = DirectMetrics()

    def wait_until_finish(self, duration=None) -> str:
        if self._state != PipelineState.RUNNING:
            return self._state
        try:
            # One gather of one small result: many futures gathered at once (as_completed) hung here at times.
            updates = self.futures[0].result(timeout=None if duration is None else duration / 1000)
            for i, update in enumerate(updates):
                self._metrics.commit_physical(i, update)
                self._metrics.commit_logical(i, update)
            self._state = PipelineState.DONE
        except BaseException:
            self._state = PipelineState.FAILED
            raise
        finally:
            if self._state != PipelineState.RUNNING:
                self.client.close()
        return self._state

    def metrics(self) -> DirectMetrics:
        return self._metrics


class DaskRunner(upstream.DaskRunner):
    """Beam's DaskRunner with the fixes of this module's docstring."""

    def run_pipeline(self, pipeline, options: PipelineOptions) -> DaskRunnerResult:
        import dask.distributed as ddist
        from dask import bag as db

        dask_options = _dask_options(options)
        bag_kwargs = upstream.DaskOptions._extract_bag_kwargs(dask_options)
        client = ddist.Client(**dask_options)
        warn_if_daemonic(client)
        pipeline.replace_all(upstream.dask_overrides())
        run_id = uuid.uuid4().hex
        consumers = _Consumers()
        pipeline.visit(consumers)
        visitor = _Visitor(bag_kwargs, run_id, consumers.counts)
        pipeline.visit(visitor)
        # The drained leaves (no elements) and every bundle's metric updates, as one bag: one future.
        done = db.concat([*visitor.leaves(), *visitor.metric_bags()])
        return DaskRunnerResult(client, client.compute(done, optimize_graph=False))  # see note 7


def _dask_options(options: PipelineOptions) -> dict:
    """The non-default DaskOptions only, by dest (Beam 2.63 has no get_all_options(current_only=...))."""
    import argparse

    parser = argparse.ArgumentParser()
    upstream.DaskOptions._add_argparse_args(parser)
    dests = {action.dest for action in parser._actions}
    given = options.view_as(upstream.DaskOptions).get_all_options(drop_default=True)
    return {key: value for key, value in given.items() if key in dests}


def warn_if_daemonic(client) -> bool:
    """True, with a warning, when a worker runs daemonic: a DoFn that starts a child process fails there."""
    flags = client.run(_is_daemonic)
    bad = sorted(address for address, flag in flags.items() if flag)
    if bad:
        log.warning("%d of %d Dask workers are daemonic (%s): %s", len(bad), len(flags), bad[0], DAEMON_HINT)
    return bool(bad)


def _is_daemonic() -> bool:
    import multiprocessing

    return bool(multiprocessing.current_process().daemon)
