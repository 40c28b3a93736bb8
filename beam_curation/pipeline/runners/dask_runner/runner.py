"""The runner: upstream's DaskRunner, running the translation of `translate.py` as one computation.

`DaskRunner.run_pipeline` does what upstream's does (options, client, `dask_overrides`, a visitor, one
`client.compute`), with this package's translation; then it computes every leaf (fix 5) and every bundle's
metric updates (fix 3) as one bag, unoptimised, and the result waits for that one future.
"""

from __future__ import annotations

import argparse
import logging
import uuid

from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.dask import dask_runner as upstream
from apache_beam.runners.runner import PipelineState

from beam_curation.pipeline.runners.dask_runner.bundle import DoFnPool
from beam_curation.pipeline.runners.dask_runner.metrics import committed_metrics
from beam_curation.pipeline.runners.dask_runner.shuffle_width import cluster_threads, shuffle_width
from beam_curation.pipeline.runners.dask_runner.translate import translate

log = logging.getLogger(__name__)

DAEMON_HINT = ("start the workers with DASK_DISTRIBUTED__WORKER__DAEMON=False (dask config "
               "distributed.worker.daemon: false); a daemonic process cannot start the extraction sandbox")


class DaskRunnerResult(upstream.DaskRunnerResult):
    """Upstream's result, waiting for the run's one future, whose value is every bundle's metric updates (fix 3);
    when the run ends it unregisters the run's DoFnPool (tearing down the set-up DoFns) and closes the client."""

    def __init__(self, client, future, pool: str):
        super().__init__(client, [future])
        self.pool = pool
        self._metrics = committed_metrics(())  # empty until the run is done

    def wait_until_finish(self, duration=None) -> str:
        if self._state != PipelineState.RUNNING:
            return self._state
        try:
            # One gather of one small result: many futures gathered at once (as_completed) hung here at times.
            updates = self.futures[0].result(timeout=None if duration is None else duration / 1000)
            self._metrics = committed_metrics(updates)
            self._state = PipelineState.DONE
        except BaseException:
            self._state = PipelineState.FAILED
            raise
        finally:
            if self._state != PipelineState.RUNNING:
                self._end()
        return self._state

    def _end(self) -> None:
        try:
            self.client.unregister_worker_plugin(self.pool)
        except Exception:  # best effort, as Beam's teardown
            log.warning("could not unregister the run's DoFn pool from the Dask workers", exc_info=True)
        finally:
            self.client.close()

    def metrics(self):
        """Fix 3: the run's committed Beam metrics (upstream raises NotImplementedError)."""
        return self._metrics


class DaskRunner(upstream.DaskRunner):
    """Upstream's DaskRunner with this package's fixes (see the package's docstring)."""

    def run_pipeline(self, pipeline, options: PipelineOptions) -> DaskRunnerResult:
        import dask.distributed as ddist
        from dask import bag as db

        dask_options = client_options(options)
        bag_kwargs = upstream.DaskOptions._extract_bag_kwargs(dask_options)
        client = ddist.Client(**dask_options)
        warn_if_daemonic(client)
        pool = f"beam-dofn-pool-{uuid.uuid4().hex}"
        client.register_plugin(DoFnPool(pool), name=pool)
        # Fix 12: every GroupByKey as wide as the cluster can use, fixed when the run starts.
        visitor = translate(pipeline, bag_kwargs, pool, shuffle_width(cluster_threads(client)))
        # The drained leaves (no values) and every bundle's metric updates, as one bag: one future.
        done = db.concat([*visitor.leaves(), *visitor.metric_bags()])
        # Unoptimised (a choice, not an upstream defect): Dask's fusion copied a task shared by two consumers into
        # both when several collections were computed together, and the unoptimised graph ran fewer tasks.
        return DaskRunnerResult(client, client.compute(done, optimize_graph=False), pool)


def client_options(options: PipelineOptions) -> dict:
    """The DaskOptions given (not defaulted), by dest: dask.distributed.Client's keyword arguments and the bag
    options. (Upstream asks get_all_options for current_only=True, which Beam 2.63 does not have.)"""
    parser = argparse.ArgumentParser()
    upstream.DaskOptions._add_argparse_args(parser)
    dests = vars(parser.parse_args([]))
    given = options.view_as(upstream.DaskOptions).get_all_options(drop_default=True)
    return {key: value for key, value in given.items() if key in dests}


def warn_if_daemonic(client) -> bool:
    """True, with a warning, when a worker runs daemonic: a DoFn that starts a child process fails there.
    (Not an upstream defect: the extraction stage runs trafilatura in a child process.)"""
    flags = client.run(_is_daemonic)
    bad = sorted(address for address, flag in flags.items() if flag)
    if bad:
        log.warning("%d of %d Dask workers are daemonic (%s): %s", len(bad), len(flags), bad[0], DAEMON_HINT)
    return bool(bad)


def _is_daemonic() -> bool:
    import multiprocessing

    return bool(multiprocessing.current_process().daemon)
