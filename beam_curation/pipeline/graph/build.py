"""The Beam graph, on one screen: annotate each task where it is read, then decide globally and write.

    _plan/tasks.jsonl ──> Annotate (per task, fused: read, extract, langid, signals, pii, decontamination,
         │                  perplexity, classifiers, dedup signature -> _annotations/<task>.parquet + marker)
         │                    │ task markers               │ decision columns (dedup on)
         │                    v                            v
         │             group by shard               rules -> DedupDoc -> ClusterDocs (keys and ids only)
         │                    │ parts                      │ cluster members, exact copies
         │                    └──────> group by part <─────┘
         │                                 v
         │                     WritePart (streams the annotations back, applies the decisions; side input:
         │                                 │  RunColumns, the union of every shard's passthrough columns)
         │                                 v
         └───────────────────> group by shard -> CommitShard (_shards/<shard>.json)

An evaluation set too large for a side input adds a join (beam_curation.pipeline.graph.decontam): the tasks' n-gram
hashes meet the set's by hash bucket, and each document's figures go by part to WritePart (and by node to
the rules before dedup, when those read them). Nothing that is grouped carries text, signals or raw input.
The task list is read from a file at run time, so the graph does not grow with the number of shards.
"""

from __future__ import annotations

import dataclasses

import apache_beam as beam
from apache_beam.utils.shared import Shared

from beam_curation.pipeline.graph.against import MatchAgainst
from beam_curation.pipeline.graph.annotate import AnnotateTask
from beam_curation.pipeline.graph.decide import Decider, DedupDocs, decision_columns, exact_by_part, members_by_part
from beam_curation.pipeline.graph.decontam import JoinEvalSets, filled_rows, found_by_part, rows_by_node
from beam_curation.pipeline.graph.dedup import ClusterDocs
from beam_curation.pipeline.graph.materialize import CommitShard, RunColumns, WritePart, expand_parts, shard_columns
from beam_curation.pipeline.graph.metrics import measured
from beam_curation.pipeline.graph.paragraphs import DedupParagraphs, EarlierParagraphs, spans_by_part, strip_text
from beam_curation.pipeline.io.passthrough import ColumnUnion
from beam_curation.pipeline.io.shards import read_plan
from beam_curation.pipeline.plan import RunPlan


@dataclasses.dataclass(frozen=True)
class Job:
    """What the driver decided about this job's tasks before the graph is built (all of it small)."""

    tasks_file: str  # the task list, read by the workers
    chunks: int  # ... in this many chunks (beam_curation.pipeline.io.shards.plan_chunks)
    annotations: str  # folder of the annotation files (another run's for refilter)
    annotation_digest: str
    digest: str  # the full config digest that shard markers carry
    scope: str  # the run's shard set (dedup decisions hold only among the same shards)
    compute: bool = True  # annotate tasks that have no annotations (False: refilter)
    # The passthrough columns of the complete shards the graph does not read (beam_curation.pipeline.io.passthrough).
    known_columns: ColumnUnion = dataclasses.field(default_factory=ColumnUnion)
    joined: tuple[str, ...] = ()  # evaluation sets joined with the documents' n-grams (beam_curation.pipeline.io.eval_sets)
    against: tuple = ()  # the `dedup.against` runs' shards (beam_curation.pipeline.io.against.IndexPart)


def build_graph(p: beam.Pipeline, run: RunPlan, job: Job) -> beam.PCollection:
    """Wire the run; returns the PCollection of the shard markers this run commits."""
    measure = run.measure_shuffle
    rows_per_file = run.writing.output.rows_per_file
    dedup = run.dedup.enabled
    decider = Decider(run.decisions)
    columns = decision_columns(run.dedup, decider) if dedup else None
    # dedup's rules read a joined set's columns: its figures must meet the decision rows first
    regroup = dedup and bool(joined_columns(job.joined) & set(decider.columns))
    ngrams = ("all" if regroup else "written") if job.joined else ""
    tasks = (p | "Plan" >> beam.Create(list(range(job.chunks)))
             | "ReadPlan" >> beam.FlatMap(read_plan, job.tasks_file, job.chunks))
    annotated = (
        measured(tasks, "CountTasks", "tasks", measure)
        | "SpreadTasks" >> beam.Reshuffle()
        | "Annotate" >> beam.ParDo(AnnotateTask(run.annotation, job.annotations, job.annotation_digest, Shared(),
                                                columns, job.compute, ngrams))
        .with_outputs(AnnotateTask.DECISIONS, AnnotateTask.NGRAMS, main="tasks")
    )
    by_shard = annotated.tasks | "KeyByShard" >> beam.Map(lambda done: (done.task.index, done))
    tasks_by_shard = measured(by_shard, "CountMarkers", "markers", measure) | "GroupTasksByShard" >> beam.GroupByKey()
    # One passthrough schema for the run, before any part is written: the union of every shard's columns.
    passthrough = (tasks_by_shard
                   | "ShardColumns" >> beam.MapTuple(lambda index, done: (index, shard_columns(done)))
                   | "RunColumns" >> beam.CombineGlobally(RunColumns(job.known_columns)))
    grouped = {"spec": tasks_by_shard | "Parts" >> beam.FlatMap(expand_parts, job.annotations, rows_per_file)}
    decisions = annotated[AnnotateTask.DECISIONS]
    with_text = decisions  # with paragraph dedup, the rows carry their text (hashed before any grouping)
    paragraphs = dedup and run.dedup.paragraphs.enabled
    if paragraphs and regroup:
        decisions = decisions | "StripText" >> beam.Map(strip_text)
    if job.joined:
        found = annotated[AnnotateTask.NGRAMS] | "JoinEvalSets" >> JoinEvalSets(run.decontamination, job.joined, measure)
        grouped["found"] = found | "FoundByPart" >> beam.Map(found_by_part, rows_per_file)
        if regroup:
            decisions = ({"rows": decisions | "RowsByNode" >> beam.FlatMap(rows_by_node), "found": found}
                         | "JoinDecisionRows" >> beam.CoGroupByKey()
                         | "FilledRows" >> beam.FlatMap(filled_rows))
    if dedup:
        primary = dataclasses.replace(run.dedup, thresholds=())  # cluster at the primary threshold only
        docs = all_docs = decisions | "DedupDocs" >> beam.ParDo(DedupDocs(run.decisions, run.dedup))
        earlier = None
        if run.dedup.against:  # earlier runs' kept documents remove their duplicates first; the rest cluster
            earlier = docs | "Against" >> MatchAgainst(run.dedup, list(job.against))
            docs = earlier["rest"]
        clusters = (docs | "Cluster" >> ClusterDocs(primary, measure))[float(primary.threshold)]
        members, exact = clusters["members"], clusters["exact"]
        if earlier is not None:
            members = (members, earlier["members"]) | "AllMembers" >> beam.Flatten()
            exact = (exact, earlier["exact"]) | "AllExact" >> beam.Flatten()
        grouped["members"] = members | "MembersByPart" >> beam.Map(members_by_part, rows_per_file)
        grouped["exact"] = exact | "ExactByPart" >> beam.Map(exact_by_part, rows_per_file)
        if paragraphs:  # every document of dedup (those matched against earlier runs too), every membership
            earlier_paragraphs = (p | "EarlierParagraphs" >> EarlierParagraphs(list(run.dedup.against),
                                                                              run.dedup.paragraphs.min_chars)
                                  if run.dedup.against else None)
            spans = with_text | "Paragraphs" >> DedupParagraphs(all_docs, members, run.dedup.paragraphs.min_chars,
                                                                earlier_paragraphs, measure)
            grouped["paragraphs"] = spans | "ParagraphsByPart" >> beam.Map(spans_by_part, rows_per_file)
    counted = {tag: measured(pc, f"Count{tag.title()}", "parts", measure) for tag, pc in grouped.items()}
    written = (counted
               | "GroupByPart" >> beam.CoGroupByKey()
               | "WriteParts" >> beam.ParDo(WritePart(run.writing, run.decisions, run.dedup),
                                            columns=beam.pvalue.AsSingleton(passthrough)))
    return (
        measured(written, "CountWritten", "commits", measure)
        | "GroupPartsByShard" >> beam.GroupByKey()
        | "CommitShards" >> beam.ParDo(CommitShard(job.digest, run.writing.output.path, job.scope))
    )


def joined_columns(names: tuple[str, ...]) -> set[str]:
    from beam_curation.filters.release.decontamination import signal_names

    return {column for name in names for column in signal_names(name)}
