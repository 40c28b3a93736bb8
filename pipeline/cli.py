"""`python -m pipeline run | refilter | report | thresholds`.

Known arguments are ours; everything else is handed to Beam as pipeline options, as in Beam's own examples,
so `--runner DataflowRunner --project ...` works unchanged. Exit code 0 only when the run finished.
"""

from __future__ import annotations

import argparse
import logging
import sys

from pipeline.config import ConfigError, absolute_path, load_config

log = logging.getLogger("pipeline")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the curation pipeline (unknown arguments are Beam pipeline options)")
    run.add_argument("--config", required=True)
    run.add_argument("--input", nargs="+", action="extend", help="input glob(s), overriding input.paths")
    run.add_argument("--output", help="output directory, overriding output.path")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")

    refilter = sub.add_parser("refilter", help="apply a config's rules to a finished run's stored signals")
    # Folders the job's workers read or write: absolute, as config paths are (a worker runs elsewhere).
    refilter.add_argument("--from", dest="source", required=True, type=absolute_path)
    refilter.add_argument("--config", required=True)
    refilter.add_argument("--output", required=True)
    refilter.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")

    report = sub.add_parser("report", help="write OUT/report.html and OUT/README.md (the dataset card)")
    report.add_argument("output")

    thresholds = sub.add_parser(
        "thresholds", help="per-language rule thresholds at percentiles of a finished run's signals (a Beam job; "
                           "unknown arguments are Beam pipeline options)")
    thresholds.add_argument("--from", dest="source", required=True, type=absolute_path,
                            help="a finished run's output folder")
    thresholds.add_argument("--output", required=True, help="the rules file to write (YAML, filters.rules)")
    thresholds.add_argument("--signals", nargs="+", action="extend", default=[], metavar="NAME:higher|lower[:P]",
                            help="which way is better per signal, and optionally its percentile")
    thresholds.add_argument("--spec", help="YAML: low_percentile, high_percentile, signals: {name: higher|lower}")
    thresholds.add_argument("--low", type=float, default=10.0, help="percentile where higher is better (10)")
    thresholds.add_argument("--high", type=float, default=90.0, help="percentile where lower is better (90)")
    thresholds.add_argument("--exact", action="store_true",
                            help="exact percentiles (numpy's): every value of a language in one worker; small runs")
    thresholds.add_argument("--epsilon", type=float, default=0.001,
                            help="approximate mode's rank error bound, as a fraction of a language's documents")
    thresholds.add_argument("--min-documents", type=int, default=10,
                            help="leave out languages with fewer documents holding the signal (10)")
    thresholds.add_argument("--work", type=absolute_path,
                            help="folder for the job's per-language results (default: FROM/_thresholds)")
    return parser


def _summary(summary) -> str:
    if summary.dry_run:
        return (f"dry run: {summary.shards} shard(s) planned, the job graph translated"
                f"{f' ({summary.staged_graph_bytes:,} bytes staged)' if summary.staged_graph_bytes else ''}; "
                "nothing ran and nothing was written but the plan")
    s = summary.stats
    lines = [f"output: {summary.output}  ({summary.shards} shard(s), {summary.skipped} skipped as complete)",
             f"documents in: {s['input']}", f"kept: {s['kept']}", f"removed: {s['removed_total']}"]
    lines += [f"  {reason}: {n}" for reason, n in sorted(s["removed"].items(), key=lambda kv: -kv[1])]
    lines.append(f"errors: {s['errors_total']}")
    lines += [f"  {stage}: {n}" for stage, n in sorted(s["errors"].items())]
    if s.get("not_scored"):
        lines.append("not scored (the model is not for the document's language):")
        lines += [f"  {column}: {n}" for column, n in sorted(s["not_scored"].items())]
    lines.append(f"seconds: {summary.seconds:.1f}")
    return "\n".join(lines)


def _quiet_optional_gcp_warning(record: logging.LogRecord) -> bool:
    """Beam warns at import that GCP client libraries are absent; they are an optional extra here."""
    return "apitools not found" not in record.getMessage()


def main(argv: list[str] | None = None) -> int:
    logging.getLogger().addFilter(_quiet_optional_gcp_warning)
    args, beam_args = _parser().parse_known_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("apache_beam", "root"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger(noisy).level))
    if args.command == "report" and beam_args:
        print(f"error: unknown arguments: {' '.join(beam_args)}", file=sys.stderr)
        return 2
    try:
        if args.command == "run":
            from pipeline.run import run

            config = load_config(args.config, args.overrides, input_paths=args.input, output_path=args.output)
            print(_summary(run(config, beam_args)))
        elif args.command == "refilter":
            from pipeline.refilter import refilter

            config = load_config(args.config, args.overrides, output_path=args.output)
            print(_summary(refilter(args.source, config, beam_args)))
        elif args.command == "thresholds":
            from pipeline.report.page import thresholds as th

            specs = th.load_specs(args.signals, args.spec, args.low, args.high)
            found = th.thresholds(args.source, specs, args.output, exact=args.exact, epsilon=args.epsilon,
                                  min_documents=args.min_documents, beam_args=beam_args, work=args.work)
            print(th.summary(found, args.output, args.min_documents))
        else:
            from pipeline.report.page import write_report_and_card

            print("\n".join(write_report_and_card(args.output)))
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    return 0
