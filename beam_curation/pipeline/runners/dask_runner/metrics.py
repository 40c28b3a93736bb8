"""Fix 3: `result.metrics()` reports the pipeline's Beam metrics.

Upstream defect: `DaskRunnerResult.metrics` (`apache_beam/runners/dask/dask_runner.py`) raises
`NotImplementedError`, and `apply_dofn_to_bundle` (`transform_evaluator.py`) runs a DoFn outside any metrics
container, so a `Metrics.counter(...).inc()` in a DoFn has nowhere to go.

Here each bundle runs under its own `MetricsContainer` (`BundleMetrics`), as Beam's other runners run a bundle;
its updates travel back with the bundle's outputs under the tag METRICS, so they are counted once per task that
succeeded (a retried task's are not counted twice), and the result commits them into Beam's `DirectMetrics`
(`committed_metrics`).
"""

from __future__ import annotations

import typing as t

# The tag under which a bundle's metric updates travel with its outputs (fix 2's pairs).
METRICS = "__dask_runner_metrics__"


class BundleMetrics:
    """A context in which a bundle's DoFn calls update one MetricsContainer; `updates` then holds them, or None
    when the bundle updated none."""

    def __init__(self, label: str):
        from apache_beam.metrics.execution import MetricsContainer
        from apache_beam.runners.worker import statesampler
        from apache_beam.utils import counters

        self.label = label
        self.container = MetricsContainer(label)
        self._statesampler = statesampler
        self._sampler = statesampler.StateSampler(label, counters.CounterFactory())
        self._previous = None
        self._scope = None
        self.updates = None

    def __enter__(self) -> "BundleMetrics":
        self._previous = self._statesampler.get_current_tracker()
        self._statesampler.set_current_tracker(self._sampler)
        self._scope = self._sampler.scoped_state(self.label, "process", metrics_container=self.container)
        self._scope.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._scope.__exit__(*exc)
        finally:
            self._statesampler.set_current_tracker(self._previous)
        updates = self.container.get_cumulative()
        self.updates = updates if updates.counters or updates.distributions or updates.gauges else None


def committed_metrics(updates: t.Iterable):
    """Beam's DirectMetrics holding every bundle's updates, committed (each bundle's task succeeded)."""
    from apache_beam.runners.direct.direct_metrics import DirectMetrics

    metrics = DirectMetrics()
    for i, update in enumerate(updates):
        metrics.commit_physical(i, update)
        metrics.commit_logical(i, update)
    return metrics
