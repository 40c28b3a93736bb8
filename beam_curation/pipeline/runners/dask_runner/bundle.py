"""Fix 1: outputs emitted in `finish_bundle` arrive; and a DoFn is set up once per worker, not once per partition.

Upstream defect (fix 1): `apply_dofn_to_bundle` (`apache_beam/runners/dask/transform_evaluator.py`) takes the
bundle's outputs (`results = [v.value for v in tagged_receivers.values]`) before it calls
`invoke_finish_bundle`, so whatever a DoFn emits there is lost: the last batch of `BatchElements`, the rows a
buffering writer flushes. `DoFnInstance.bundle` takes them after it.

Upstream cost (not a defect): `apply_dofn_to_bundle` sets the DoFn up and tears it down around every partition,
so a DoFn that loads a model or starts a process does so per partition. Beam's other runners reuse a set-up
instance across bundles; here each worker keeps the run's set-up instances in a `DoFnPool`, a distributed
WorkerPlugin the runner registers for the run and unregisters when it ends (tearing down the idle instances).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import typing as t

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput
from apache_beam.runners.dask.transform_evaluator import get_windowed_value
from apache_beam.transforms.window import GlobalWindow, TimestampedValue
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue
from distributed.diagnostics.plugin import WorkerPlugin

from beam_curation.pipeline.runners.dask_runner.outputs import TaggedReceivers
from beam_curation.pipeline.runners.dask_runner.partition import Partition
from beam_curation.pipeline.runners.dask_runner.side_inputs import side_input_maps

log = logging.getLogger(__name__)

_GLOBAL_WINDOWS = (GlobalWindow(),)
_ZERO = Timestamp(0)


@dataclasses.dataclass(frozen=True)
class ParDoSpec:
    """What a worker needs to run bundles of one ParDo; made on the client from the pipeline's node."""

    label: str
    fn_blob: bytes  # the DoFn, cloudpickled: each instance unpickles its own copy
    window_fn: t.Any
    args: tuple
    kwargs: dict
    side_specs: tuple  # (view class, view options) of each side input, in order
    input_tag: t.Any  # the producer's output tag to select (fix 2), or outputs.UNTAGGED

    @classmethod
    def of(cls, node, main_input, input_tag) -> "ParDoSpec":
        import cloudpickle

        transform = t.cast(beam.ParDo, node.transform)
        return cls(label=node.full_label, fn_blob=cloudpickle.dumps(transform.fn),
                   window_fn=main_input.windowing.windowfn if hasattr(main_input, "windowing") else None,
                   args=tuple(transform.args), kwargs=dict(transform.kwargs),
                   side_specs=tuple((type(si), si._view_options()) for si in node.side_inputs),
                   input_tag=input_tag)


def windowed(item, window_fn) -> WindowedValue:
    """Upstream's `get_windowed_value`, but a plain value's window and timestamp are made once, not per element
    (on a dedup run, making them per element took about a seventh of the bundles' time)."""
    if isinstance(item, (WindowedValue, TaggedOutput, TimestampedValue)):
        return get_windowed_value(item, window_fn)
    return WindowedValue(item, _ZERO, _GLOBAL_WINDOWS)


class DoFnInstance:
    """One set-up DoFn with its invoker, built as upstream's `ParDo.apply` builds it (an `_OutputHandler`,
    `DoFnInvoker.create_invoker`) but with receivers that keep each output's tag (fix 2); runs one bundle at a
    time."""

    def __init__(self, spec: ParDoSpec, side_values: tuple):
        import cloudpickle
        from apache_beam.runners.common import DoFnContext, DoFnInvoker, DoFnSignature, _OutputHandler

        self.receivers = TaggedReceivers()
        handler = _OutputHandler(window_fn=spec.window_fn, main_receivers=self.receivers[None],
                                 tagged_receivers=self.receivers, per_element_output_counter=None,
                                 output_batch_converter=None, process_yields_batches=False,
                                 process_batch_yields_elements=False)
        self.invoker = DoFnInvoker.create_invoker(
            DoFnSignature(cloudpickle.loads(spec.fn_blob)), handler, context=DoFnContext(spec.label, state=None),
            side_inputs=side_input_maps(spec.side_specs, side_values), input_args=list(spec.args),
            input_kwargs=dict(spec.kwargs), user_state_context=None,
            bundle_finalizer_param=beam.DoFn.BundleFinalizerParam())
        self.invoker.invoke_setup()

    def bundle(self, items: t.Iterable, window_fn) -> Partition:
        """One bundle over `items`: its (tag, value) outputs, those of `finish_bundle` included (fix 1)."""
        invoker = self.invoker
        invoker.invoke_start_bundle()
        process = invoker.invoke_process
        for item in items:
            process(windowed(item, window_fn))
        invoker.invoke_finish_bundle()
        return self.receivers.take()

    def teardown(self) -> None:
        try:
            self.invoker.invoke_teardown()
        except Exception:  # best effort, as in Beam
            log.warning("teardown of a DoFn failed", exc_info=True)


class DoFnPool(WorkerPlugin):
    """One run's set-up DoFn instances on one worker, idle ones by ParDo label, reused across its bundles.

    The runner registers one per run on every worker (`client.register_plugin`) and unregisters it when the run
    ends, which tears down the idle instances; a task finds it with `on_this_worker`. A pool that is set up on a
    worker closes the pools of earlier runs still registered there (a driver that died never unregistered its
    own): Beam calls teardown best-effort, and a worker that stops skips it."""

    def __init__(self, name: str):
        self.name = name
        self._idle: dict[str, list[DoFnInstance]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def __reduce__(self):  # sent to the workers empty
        return DoFnPool, (self.name,)

    @staticmethod
    def on_this_worker(name: str) -> "DoFnPool | None":
        """The pool registered under `name` on the worker running this task; None outside a worker."""
        from distributed import get_worker

        try:
            return get_worker().plugins.get(name)
        except ValueError:  # not in a distributed worker (dask's local schedulers)
            return None

    def acquire(self, spec: ParDoSpec, side_values: tuple) -> DoFnInstance:
        """An idle set-up instance of the ParDo's DoFn, else a new one."""
        with self._lock:
            idle = self._idle.get(spec.label)
            instance = idle.pop() if idle else None
        return instance if instance is not None else DoFnInstance(spec, side_values)

    def release(self, spec: ParDoSpec, instance: DoFnInstance) -> None:
        with self._lock:
            if not self._closed:
                self._idle.setdefault(spec.label, []).append(instance)
                return
        instance.teardown()  # the pool closed while the bundle ran

    def close(self) -> None:
        """Tear down the idle instances; an instance released later is torn down then."""
        with self._lock:
            self._closed = True
            idle, self._idle = [i for instances in self._idle.values() for i in instances], {}
        for instance in idle:
            instance.teardown()

    async def setup(self, worker) -> None:
        earlier = [plugin for name, plugin in worker.plugins.items()
                   if isinstance(plugin, DoFnPool) and name != self.name]
        for pool in earlier:  # DoFn teardowns run in a thread, not in the worker's event loop
            await asyncio.get_running_loop().run_in_executor(None, pool.close)

    async def teardown(self, worker) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.close)
