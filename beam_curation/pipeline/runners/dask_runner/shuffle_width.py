"""Fix 12: a GroupByKey shuffles into as many partitions as the cluster can use, not always 32.

Upstream cost (of fix 8's one-stage shuffle, not an upstream defect): a shuffle of n input partitions into p
makes p splitting tasks, p * p picking tasks and p grouping tasks. At p = MAX_SHUFFLE_PARTITIONS = 32 that is
1,088 tasks per GroupByKey, of which 1,024 only hand a part of a split to its group; a dedup run has 22
GroupByKeys, so 22,528 of its ~29,000 tasks were picks. Each task costs the scheduler and the worker's event
loop about a millisecond whatever it computes (transitions, sizeof, a message each way): on a 2-worker cluster
the workers spent about as much CPU there as in the DoFns.

Here the width is `SHUFFLE_PARTITIONS_PER_THREAD` per worker thread of the cluster the run starts on, capped at
MAX_SHUFFLE_PARTITIONS: 8 on 2 single-threaded workers (80 tasks per GroupByKey), 32 from 8 threads on. Which
group a key lands in changes, not what is grouped: outputs are the same for any width. (On the 100,000-document
dedup bench, 2 workers: 8 per thread cut the run's CPU seconds 111 -> 79, 4 per thread to 64, 2 per thread to
62; 4 keeps a few partitions per thread for stragglers.)
"""

from __future__ import annotations

from beam_curation.pipeline.runners.dask_runner.group_by_key import MAX_SHUFFLE_PARTITIONS

SHUFFLE_PARTITIONS_PER_THREAD = 4  # a few partitions per thread, so that a slow one does not idle the others


def shuffle_width(threads: int) -> int:
    """The partition count of every GroupByKey of a run on a cluster of `threads` worker threads (a cluster
    with no worker yet, 0: MAX_SHUFFLE_PARTITIONS, as before this fix)."""
    if threads <= 0:
        return MAX_SHUFFLE_PARTITIONS
    return min(MAX_SHUFFLE_PARTITIONS, SHUFFLE_PARTITIONS_PER_THREAD * threads)


def cluster_threads(client) -> int:
    """The worker threads of the cluster `client` is connected to (0 when it has no worker yet)."""
    return sum(client.nthreads().values())
