"""Benchmark dedup: MinHash signature throughput against datasketch, and a scale run of ``Deduplicate``.

    python scripts/bench_dedup.py                    # both parts, 200,000 docs on 2 worker processes
    python scripts/bench_dedup.py --docs 50000 --skip-throughput
    python scripts/bench_dedup.py --docs 100000 --skip-throughput --runner dask   # on a 2-worker Dask cluster
    python scripts/bench_dedup.py --against --docs 20000   # dedup.against against re-deduplicating the union

The scale corpus is generated inside the pipeline (no input files): Zipf-distributed words from a
synthetic vocabulary, planted near-duplicate clusters (copies with a few word substitutions) and one
boilerplate cluster of ``--boilerplate`` near-identical documents (a hot key in every shuffle). The planted
clusters have a random stream of their own, so scoring replays only them (``planted_clusters``: ~18 s for 10M
documents) and compares them with the cluster of every output record. The scale run prints wall time, peak RSS
and CPU seconds of every process; ``--count-shuffled`` adds the records and bytes of every grouping (a counting
step per grouping: leave it out of timed runs).
``--runner dask`` runs it on a dask.distributed LocalCluster of ``--workers`` non-daemonic worker processes
(one thread each) through beam_curation.pipeline.runners.dask_runner, as tests/pipeline/runners/test_dask_runner.py starts one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import resource
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

VOCAB = 50_000
SHARD_DOCS = 2_000


def _vocabulary(seed: int = 0) -> list[str]:
    """VOCAB random lower-case words of 2-10 letters (drawn at once: ~20 ms, not seconds, per worker)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 11, VOCAB)
    letters = (rng.integers(0, 26, int(lengths.sum())) + ord("a")).astype(np.uint8).tobytes().decode("ascii")
    ends = np.cumsum(lengths).tolist()
    return [letters[e - n : e] for e, n in zip(ends, lengths.tolist())]


def _zipf_cdf() -> np.ndarray:
    p = 1.0 / np.arange(1, VOCAB + 1) ** 1.1
    cdf = np.cumsum(p / p.sum())
    cdf[-1] = 1.0
    return cdf


class CorpusGenerator:
    """Builds the vocabulary once; ``shard(i)`` yields that shard's documents (picklable for workers)."""

    def __init__(self, num_docs: int, dup_fraction: float, boilerplate: int):
        self.num_docs, self.dup_fraction, self.boilerplate = num_docs, dup_fraction, boilerplate
        self._vocab = None
        self._cdf = None

    def shard(self, shard: int):
        if self._vocab is None:
            self._vocab, self._cdf = _vocabulary(), _zipf_cdf()
        return generate_shard(shard, self.num_docs, self.dup_fraction, self.boilerplate, self._vocab, self._cdf)


def planted_clusters(shard: int, num_docs: int, dup_fraction: float, boilerplate: int) -> np.ndarray:
    """The true cluster of every document of one shard, known by construction (no text is made): the index of
    the cluster's first document, -1 for the boilerplate cluster.

    Documents ``[0, boilerplate)`` are the boilerplate cluster; then groups: with probability ``dup_fraction``
    a group is an original plus 1-4 edited copies, else a single original (a group is cut at the shard's end).
    The group structure has its own random stream, so scoring 10M documents replays only it (seconds)."""
    rng = np.random.default_rng([shard, 1])
    start, stop = shard * SHARD_DOCS, min((shard + 1) * SHARD_DOCS, num_docs)
    out = np.empty(max(0, stop - start), dtype=np.int64)
    i = start
    while i < stop:
        if i < boilerplate:
            out[i - start] = -1
            i += 1
            continue
        copies = int(rng.integers(1, 5)) if rng.random() < dup_fraction else 0
        end = min(stop, i + 1 + copies)
        out[i - start : end - start] = i
        i = end
    return out


def generate_shard(shard: int, num_docs: int, dup_fraction: float, boilerplate: int, vocab=None, cdf=None):
    """Deterministic documents of one shard: ``(id, text, true_cluster)`` (the ``planted_clusters``).

    Boilerplate documents are one 300-word template with 1-2 words substituted; an original has 80-400
    Zipf-distributed words, its copies 3% of its words substituted."""
    vocab = _vocabulary() if vocab is None else vocab
    cdf = _zipf_cdf() if cdf is None else cdf
    clusters = planted_clusters(shard, num_docs, dup_fraction, boilerplate)
    rng = np.random.default_rng([shard, 2])  # the words' stream, apart from the structure's
    start = shard * SHARD_DOCS
    template = np.searchsorted(cdf, np.random.default_rng(99).random(300), side="right")
    words = template
    for k, cluster in enumerate(clusters.tolist()):
        i = start + k
        if cluster == -1:
            words = template.copy()
            n_sub = int(rng.integers(1, 3))
            words[rng.integers(0, len(words), n_sub)] = rng.integers(0, VOCAB, n_sub)
            label = "boilerplate"
            text_words = words
        elif cluster == i:
            words = np.searchsorted(cdf, rng.random(int(rng.integers(80, 400))), side="right")
            label = f"c{i:09d}"
            text_words = words
        else:
            text_words = words.copy()
            n_edit = max(1, int(0.03 * len(words)))
            text_words[rng.integers(0, len(words), n_edit)] = rng.integers(0, VOCAB, n_edit)
            label = f"c{cluster:09d}"
        yield (f"doc{i:09d}", " ".join([vocab[w] for w in text_words.tolist()]), label)


def bench_throughput(num_docs: int, num_perm: int) -> None:
    from datasketch import MinHash

    from beam_curation.filters.dedup.minhash import MinHasher, ShingleConfig, shingle_strings

    docs = [t for _, t, _ in generate_shard(5, num_docs + 10_000, 0.0, 0)][:num_docs]
    cfg = ShingleConfig(ngram=5)
    words = np.mean([len(d.split()) for d in docs])
    rows = []
    t = time.perf_counter()
    for d in docs:
        m = MinHash(num_perm=num_perm)
        for s in shingle_strings(d, cfg):
            m.update(s.encode("utf8"))
    rows.append(("datasketch update()", time.perf_counter() - t))
    t = time.perf_counter()
    for d in docs:
        m = MinHash(num_perm=num_perm)
        m.update_batch([s.encode("utf8") for s in shingle_strings(d, cfg)])
    rows.append(("datasketch update_batch()", time.perf_counter() - t))
    hasher = MinHasher(num_perm, 1, cfg)
    t = time.perf_counter()
    for i in range(0, len(docs), 512):
        hasher.signatures(docs[i : i + 512])
    rows.append(("beam_curation.filters.dedup.minhash (batch 512)", time.perf_counter() - t))
    base = len(docs) / rows[0][1]
    print(f"\nSignature throughput: {len(docs)} docs, {words:.0f} words/doc, word 5-grams, {num_perm} perms, 1 core")
    print(f"{'implementation':32s} {'docs/s':>10s} {'x update()':>11s}")
    for name, sec in rows:
        print(f"{name:32s} {len(docs) / sec:10.0f} {len(docs) / sec / base:11.1f}")


_TICKS = os.sysconf("SC_CLK_TCK")


class _RssPoller:
    """Peak RSS (VmHWM) and CPU seconds (user + system, last seen) of every descendant process, polled from
    /proc."""

    def __init__(self, interval: float = 0.5):
        self.peak: dict[int, tuple[str, int]] = {}
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _children(self) -> list[int]:
        parents: dict[int, int] = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        parents[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
                except OSError:
                    continue
        out, frontier = [], [os.getpid()]
        while frontier:
            p = frontier.pop()
            kids = [c for c, pp in parents.items() if pp == p]
            out += kids
            frontier += kids
        return out

    def sample(self) -> None:
        for pid in self._children():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:80]
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            self.cpu[pid] = max(self.cpu.get(pid, 0.0), (int(fields[11]) + int(fields[12])) / _TICKS)
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    kb = int(line.split()[1])
                    if kb > self.peak.get(pid, ("", 0))[1]:
                        self.peak[pid] = (cmd, kb)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self._interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def _runner(kind: str, workers: int):
    """(runner, options, worker pids) for `kind`: FnApiRunner's multi_processing mode, or a Dask LocalCluster
    of `workers` non-daemonic processes whose scheduler runs in this process (the driver)."""
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    if kind == "multi_processing":
        options = ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
        yield FnApiRunner(), PipelineOptions(options), None
        return
    import dask
    import distributed

    from beam_curation.pipeline.runners.dask_runner import DaskRunner

    with dask.config.set({"distributed.worker.daemon": False}):
        cluster = distributed.LocalCluster(n_workers=workers, processes=True, threads_per_worker=1,
                                           dashboard_address=":0", silence_logs=logging.WARNING)
    with cluster, distributed.Client(cluster) as client:
        pids = client.run(os.getpid)  # worker address -> pid
        yield DaskRunner(), PipelineOptions([f"--dask_client_address={cluster.scheduler_address}"]), pids


def _own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def bench_scale(num_docs: int, workers: int, boilerplate: int, dup_fraction: float, max_rounds: int,
                runner: str = "multi_processing", count_shuffled: bool = False) -> None:
    import apache_beam as beam

    from beam_curation.filters.dedup.types import DedupConfig, DedupInput
    from beam_curation.pipeline.graph.dedup import Deduplicate

    out = Path(tempfile.mkdtemp(prefix="bench_dedup_"))
    config = DedupConfig(max_rounds=max_rounds)
    shards = (num_docs + SHARD_DOCS - 1) // SHARD_DOCS
    gen = CorpusGenerator(num_docs, dup_fraction, boilerplate)
    with _RssPoller() as rss, _runner(runner, workers) as (beam_runner, options, dask_pids):
        rss.sample()
        cpu0 = dict(rss.cpu)  # the Dask workers' start-up is not the pipeline's either
        own0 = _own_cpu()
        t0 = time.perf_counter()  # the cluster is up: its start is not the pipeline's time
        p = beam.Pipeline(runner=beam_runner, options=options)
        (
            p
            | "Shards" >> beam.Create(list(range(shards)))
            | "Reshard" >> beam.Reshuffle()
            | "Generate" >> beam.FlatMap(gen.shard)
            | "Input" >> beam.MapTuple(lambda i, text, _c: DedupInput(i, text))
            | "Dedup" >> Deduplicate(config, measure=count_shuffled)
            | "Json" >> beam.Map(lambda r: json.dumps(list(r)))
            | "Write" >> beam.io.WriteToText(str(out / "records"))
        )
        result = p.run()
        result.wait_until_finish()
        wall = time.perf_counter() - t0
        rss.sample()  # the workers' final peaks and CPU, before the cluster stops
        own_cpu = _own_cpu() - own0
        driver_peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # before scoring, which is ours

    counters = {}
    try:
        for c in result.metrics().query()["counters"]:
            if c.key.metric.namespace == "curation":
                counters[c.key.metric.name] = counters.get(c.key.metric.name, 0) + c.committed
    except Exception as e:  # noqa: BLE001 - metrics are best-effort on some runners
        print("metrics unavailable:", e)

    # Scored on integer arrays (document index -> cluster), so 10M documents take ~0.3 GB here, not dicts of GBs.
    pred = np.full(num_docs, -1, dtype=np.int64)  # index of the cluster's kept document
    n_records = kept = 0
    for f in sorted(out.glob("records*")):
        with f.open() as handle:
            for line in handle:
                r = json.loads(line)
                pred[int(r[0][3:])] = int(r[1][3:])
                n_records += 1
                kept += bool(r[3])
    shutil.rmtree(out, ignore_errors=True)
    # Truth by construction: the planted cluster of every document, replayed from the structure's seeds.
    truth = np.concatenate([planted_clusters(s, num_docs, dup_fraction, boilerplate) for s in range(shards)])
    pair_count = lambda counts: int((counts * (counts - 1) // 2).sum())  # noqa: E731
    tp = pair_count(np.unique(pred * (num_docs + 1) + (truth + 1), return_counts=True)[1])
    cluster_sizes = np.unique(pred, return_counts=True)[1]
    pred_pairs = pair_count(cluster_sizes)
    true_pairs = pair_count(np.unique(truth, return_counts=True)[1])
    biggest = int(cluster_sizes.max())

    where = "FnApiRunner multi_processing" if runner == "multi_processing" else "a Dask LocalCluster (DaskRunner)"
    print(f"\nScale run: Deduplicate on {where}, {workers} workers, max_rounds={max_rounds}")
    rows = [
        ("documents in / records out", f"{num_docs} / {n_records}"),
        ("kept / removed", f"{kept} / {n_records - kept}"),
        ("largest cluster", f"{biggest}"),
        ("pairwise precision / recall", f"{tp / max(1, pred_pairs):.4f} / {tp / max(1, true_pairs):.4f}"),
        ("wall time (s)", f"{wall:.1f}"),
        ("docs/s (end to end)", f"{num_docs / wall:.0f}"),
        ("CPU seconds: this process (runner" + (")" if dask_pids is None else " + scheduler)"), f"{own_cpu:.1f}"),
        ("runner process peak RSS (MB)" if dask_pids is None else "driver process (runner + scheduler) peak RSS (MB)",
         f"{driver_peak_kb / 1024:.0f}"),
    ]
    cpu = {pid: sec - cpu0.get(pid, 0.0) for pid, sec in rss.cpu.items()}
    if dask_pids is None:
        for pid, (cmd, kb) in sorted(rss.peak.items()):
            if kb > 20 * 1024:  # skip thin shell wrappers of the worker processes
                rows.append((f"worker pid {pid} peak RSS (MB) / CPU s", f"{kb / 1024:.0f} / {cpu.get(pid, 0):.1f}"))
    else:
        for address, pid in sorted(dask_pids.items()):
            rows.append((f"dask worker {address} (pid {pid}) peak RSS (MB) / CPU s",
                         f"{rss.peak.get(pid, ('', 0))[1] / 1024:.0f} / {cpu.get(pid, 0):.1f}"))
    rows.append(("CPU seconds: all processes (pipeline)", f"{own_cpu + sum(cpu.values()):.1f}"))
    for name in sorted(counters):
        rows.append((f"records shuffled: {name}", f"{counters[name]}"))
    shuffled = sum(v for k, v in counters.items() if k.startswith("shuffled_records_"))
    if count_shuffled:
        rows.append(("records shuffled: total (counted)", f"{shuffled}  ({shuffled / num_docs:.1f} per doc)"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:{width}s}  {v}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=200_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runner", choices=["multi_processing", "dask"], default="multi_processing",
                    help="dask: a LocalCluster of --workers non-daemonic processes (needs the dask extra)")
    ap.add_argument("--boilerplate", type=int, default=10_000)
    ap.add_argument("--dup-fraction", type=float, default=0.1)
    ap.add_argument("--max-rounds", type=int, default=6)
    ap.add_argument("--throughput-docs", type=int, default=1_000)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-scale", action="store_true")
    ap.add_argument("--against", action="store_true",
                    help="only the dedup.against figures: run 1 on --docs, run 2 on --docs more against it, "
                         "and the union of both re-deduplicated (CPU seconds, in-process runner)")
    ap.add_argument("--count-shuffled", action="store_true",
                    help="count the records and bytes of every grouping (a step per grouping: not in timed runs)")
    args = ap.parse_args()
    if args.against:
        bench_against(args.docs, args.dup_fraction)
        return
    if not args.skip_throughput:
        bench_throughput(args.throughput_docs, args.num_perm)
    if not args.skip_scale:
        bench_scale(args.docs, args.workers, args.boilerplate, args.dup_fraction, args.max_rounds, args.runner,
                    args.count_shuffled)



# ---------------------------------------------------------------------------------------------------------
# dedup.against: a second crawl deduplicated against a finished first run, against re-deduplicating the union


def _write_inputs(folder: Path, docs: list[tuple[str, str]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True)
    for start in range(0, len(docs), SHARD_DOCS):
        part = docs[start:start + SHARD_DOCS]
        pq.write_table(pa.table({"id": [d for d, _ in part], "text": [t for _, t in part]}),
                       folder / f"{folder.name}-{start // SHARD_DOCS:05d}.parquet")


def _timed_run(config: Path, output: Path, inputs: list[str], runner_args: list[str]) -> tuple[float, float]:
    """(CPU seconds of the run's process and the workers it waited for, wall seconds) of one `run`, in a
    child process so the figures are its own."""
    import subprocess
    import sys

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    cmd = [sys.executable, "-c", "from beam_curation.pipeline.cli import console; console()", "run", "--config",
           str(config), "--output", str(output), *[a for i in inputs for a in ("--input", i)], *runner_args]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def bench_against(num_docs: int, dup_fraction: float, cross_fraction: float = 0.1) -> None:
    """Run 1 on `num_docs` generated documents, then run 2 on `num_docs` new ones (a `cross_fraction` of them
    edited copies of run 1's) with `dedup.against: [run 1]`, against one run on all 2 x `num_docs` (fresh, and
    in a copy of run 1's folder, which reuses its annotations). In-process runner: every CPU second is the run
    process's own."""
    gen = CorpusGenerator(2 * num_docs, dup_fraction, 0)
    docs = [(i, t) for s in range((2 * num_docs + SHARD_DOCS - 1) // SHARD_DOCS) for i, t, _c in gen.shard(s)]
    first, second = docs[:num_docs], docs[num_docs:]
    rng = np.random.default_rng(5)
    for k in range(0, num_docs, max(1, round(1 / cross_fraction))):
        words = first[k][1].split(" ")
        for j in rng.integers(0, len(words), max(1, len(words) // 33)):
            words[j] = words[(j + 1) % len(words)]
        second[k] = (second[k][0], " ".join(words))
    root = Path(tempfile.mkdtemp(prefix="bench_against_"))
    _write_inputs(root / "in1", first)
    _write_inputs(root / "in2", second)
    base = ("mode: filter\nextract: {enabled: false}\nlangid: {enabled: false}\nsignals: {enabled: false}\n"
            "filters: {enabled: false}\n")
    plain, against = root / "plain.yaml", root / "against.yaml"
    plain.write_text(base + "dedup: {enabled: true}\n")
    against.write_text(base + f"dedup: {{enabled: true, against: [{root / 'one'}]}}\n")
    in1, in2 = str(root / "in1" / "*.parquet"), str(root / "in2" / "*.parquet")
    rows = [("run 1: first N, fresh", _timed_run(plain, root / "one", [in1], []))]
    rows.append(("run 2: next N with dedup.against [run 1]", _timed_run(against, root / "two", [in2], [])))
    rows.append(("next N alone (no against), for the index's share", _timed_run(plain, root / "alone", [in2], [])))
    shutil.copytree(root / "one", root / "union_reuse")
    rows.append(("union 2N in run 1's folder (its annotations reused)",
                 _timed_run(plain, root / "union_reuse", [in1, in2], [])))
    rows.append(("union 2N, fresh", _timed_run(plain, root / "union", [in1, in2], [])))
    stats = json.loads((root / "two" / "stats.json").read_text())
    print(f"\ndedup.against: N = {num_docs} generated documents per run, {cross_fraction:.0%} of run 2's are "
          f"edited copies of run 1's; in-process runner (FnApiRunner), load average {os.getloadavg()[0]:.1f}")
    print(f"run 2 removed {stats['removed']} of {stats['input']}")
    width = max(len(k) for k, _ in rows)
    print(f"{'':{width}s}  {'CPU s':>8s}  {'wall s':>8s}")
    for name, (cpu, wall) in rows:
        print(f"{name:{width}s}  {cpu:8.1f}  {wall:8.1f}")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
