"""Beam's DaskRunner (`apache_beam/runners/dask/`) with the fixes a real pipeline needs, as a thin layer over it.

`--runner=DaskRunner` resolves to `DaskRunner` here (`beam_curation.pipeline.runners.options.runner_for`),
after `version.py` has checked that the installed apache-beam is one this layer is tested with. Upstream's
classes are used wherever they are right (DaskOptions, dask_overrides, the ops NoOp / Create / Flatten,
get_windowed_value, defenestrate, DaskBagWindowedIterator, DaskRunnerResult); each fix is one named unit, whose
docstring names the upstream defect (docs/dask-runner.md has each as a bug report):

1. bundle.DoFnInstance.bundle: outputs emitted in finish_bundle arrive (and bundle.DoFnPool: a DoFn is set up
   once per worker and run, not per partition).
2. outputs.TaggedReceivers / outputs.select / translate.BagVisitor.bag_for: each output of a multi-output ParDo
   reaches only its own consumers.
3. metrics.BundleMetrics / metrics.committed_metrics / runner.DaskRunnerResult.metrics: Beam metrics.
4. create.Create: beam.Create spreads its items over the workers.
5. translate.BagVisitor.leaves: every branch runs, not only the last translated one.
6. side_inputs.side_input_value: a side input is computed once, not per bundle of its consumer.
8. group_by_key.GroupByKey / shuffle / key_hash: a one-stage shuffle with a stable cheap hash.
9. partition.Partition: a partition moves between workers in one piece.
10. fusion.run_chain / fusion.Consumers: a ParDo feeding exactly one ParDo runs inside its tasks.
11. group_by_key.skips_reify_windows: no ReifyWindows step in the global window.
12. shuffle_width.shuffle_width: a GroupByKey is as wide as the cluster's threads can use (4 each, up to 32),
    not always 32: fewer tasks that only pass data on.
(7, computing the graph unoptimised, is a choice in runner.DaskRunner.run_pipeline; flatten.Flatten keeps the
widest input's partition count.)

Not fixed, as upstream: global windows only, `Reshuffle` is a no-op, `beam.io.Read` is not translated. Daemonic
workers cannot start child processes (the extraction stage's sandbox is one): `runner.warn_if_daemonic` says so.

Importing this package imports no Dask and nothing version-dependent; its names load on first use.
"""

from __future__ import annotations

import importlib
import types

_EXPORTS = types.MappingProxyType({
    "DaskRunner": "runner", "DaskRunnerResult": "runner", "warn_if_daemonic": "runner", "DAEMON_HINT": "runner",
    "BEAM_VERSIONS": "version", "untested_beam": "version",
})

__all__ = tuple(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
