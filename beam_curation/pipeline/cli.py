"""`beam-curation run | refilter | report | thresholds | mix | tokenize`.

Arguments a command does not own must be Beam pipeline options (`--runner DataflowRunner --project ...` works
unchanged, as in Beam's own examples); anything else is refused with the closest valid spelling, so a typo
never runs with a default in its place. A user's mistake is one line on stderr and exit code 2; Ctrl-C is one
line and 130, SIGTERM one line and 143; 0 only when the command finished.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import posixpath
import signal
import sys
import threading
from typing import Iterator, Optional

# Nothing here imports Beam, numpy or pyarrow (or a module that does) at load: `main` blocks SIGINT before any
# library starts a thread, or a thread that was not told would drop a Ctrl-C (`_interrupts`).
from beam_curation.pipeline.io.lease import FolderHeld
from beam_curation.settings import ConfigError, absolute_path

log = logging.getLogger("pipeline")

EXIT_FAULT = 1  # the machine's fault (a full disk, a read-only folder): one line says which path
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM
OUR_LOGGERS = ("beam_curation", "scripts")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

MAIN_EPILOG = """\
examples:
  beam-curation run --config configs/default.yaml --output out
  beam-curation report out
  beam-curation refilter --from out --config configs/fineweb.yaml --output out-fineweb
  beam-curation tokenize --from out --tokenizer tokenizer.json --format megatron --output out-tokens

Each command has its own --help with more examples, e.g. beam-curation run --help.
Exit codes: 0 finished; 1 the machine failed the command (a full disk, a read-only folder: one line says
which); 2 a mistake in the command, config or inputs (one line says which); 130 interrupted (Ctrl-C); 143
terminated (SIGTERM).
"""

RUN_EPILOG = """\
examples:
  beam-curation run --config configs/default.yaml
  beam-curation run --config configs/fineweb.yaml --input 'data/*.parquet' --output out/fineweb
  beam-curation run --config configs/default.yaml --set mode=annotate --set dedup.threshold=0.8
  beam-curation run --config configs/default.yaml --direct_running_mode=multi_processing --direct_num_workers=2
  beam-curation run --config configs/default.yaml --runner DaskRunner --dask_client_address=tcp://host:8786
  beam-curation run --config configs/default.yaml --output gs://bucket/out \\
      --runner DataflowRunner --project P --region europe-west1 --temp_location gs://bucket/tmp

Beam pipeline options: every other argument must be one (--runner, --direct_num_workers, --project,
--temp_location, ...), given as --name value or --name=value; runner.options in the config supplies their
defaults. A misspelt argument is an error naming the closest valid one.

On a terminal, a local run (FnApiRunner, DirectRunner, Dask) shows one live line: tasks and shards done,
documents, documents/s, elapsed and estimated time left. Ctrl-C stops it with one line saying what finished;
rerunning the same command resumes: finished annotation tasks and shards are kept, not computed again.
"""

REFILTER_EPILOG = """\
examples:
  beam-curation refilter --from out --config configs/fineweb.yaml --output out/fineweb
  beam-curation refilter --from out --config configs/default.yaml --output out2 \\
      --set langid.keep=[en] --set dedup.threshold=0.8

Only decisions may differ from the run in --from: rules, langid.keep / min_score, mode, dedup thresholds and
keep policy, output.rows_per_file. A config that would annotate differently is refused at start, as is a rule
on a signal --from did not compute (the message names the config key that computes it). The output is
byte-identical to a fresh run of the new config. Other arguments are Beam pipeline options, as for run.
"""

REPORT_EPILOG = """\
examples:
  beam-curation report out
  beam-curation report gs://bucket/out
"""

THRESHOLDS_EPILOG = """\
examples:
  beam-curation thresholds --from out --output rules.yaml \\
      --signals rps_doc_word_count:higher ccnet_perplexity:lower:95 language_score:higher:5
  beam-curation thresholds --from out-culturax --spec configs/thresholds/culturax.yaml --output rules.yaml

Add the rules file to a config with filters.include, then refilter or run. Other arguments are Beam pipeline
options, as for run.
"""

MIX_EPILOG = """\
examples:
  beam-curation mix --from out-web --from out-wiki --config mix.yaml --output out-mix
  beam-curation mix --from out --config mix.yaml --output out-mix --set total_tokens=1000000 --set seed=2

MIX.yaml: groups (name, where: an expression as in rules, weight or tokens), total_tokens, tokens_column,
upsample (none | rehydrate), rehydration, seed; see docs/training-data.md#mixtures. The same runs, config and
seed give the same bytes on every runner. Other arguments are Beam pipeline options, as for run.
"""


TOKENIZE_EPILOG = """\
examples:
  beam-curation tokenize --from out --tokenizer tokenizer.json --format megatron --output out-megatron
  beam-curation tokenize --from out-mix --tokenizer tokenizer.json --format dolma --output out-dolma \\
      --tokens-per-file 100000000 --seed 7
  beam-curation tokenize --from out --tokenizer tokenizer.json --format megatron --output out-megatron \\
      --direct_running_mode=multi_processing --direct_num_workers=4

Writes part-NNNNN.bin + .idx (Megatron-LM's indexed dataset, version 1) or part-NNNNN.npy + .csv.gz (Dolma's token
memmaps and metadata), stats.json and manifest.json. Each document is its ids then the end-of-document id; the
documents are in a seeded order (a hash of seed and id), the same on every runner; a mixture's documents are
repeated as often as they were drawn (mix_count). Other arguments are Beam pipeline options, as for run.
"""


class UsageError(ValueError):
    """A mistake on the command line: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (with where to look) instead of the usage block."""

    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} --help)")


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=30)


def _parser() -> argparse.ArgumentParser:
    logs = _Parser(add_help=False)
    logs.add_argument("--log-level", type=str.upper, choices=LEVELS, default=argparse.SUPPRESS, metavar="LEVEL",
                      help=f"{', '.join(LEVELS)}: the level of every logger, Beam's and its workers' included "
                           "(default: this program's warnings, other libraries' errors)")
    parser = _Parser(prog="beam-curation", description="Curate web text for pretraining, on Apache Beam.",
                     epilog=MAIN_EPILOG, formatter_class=_formatter, parents=[logs], allow_abbrev=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = dict(parents=[logs], formatter_class=_formatter, allow_abbrev=False)

    run = sub.add_parser("run", help="run the curation pipeline", epilog=RUN_EPILOG,
                         description="Run a config over its inputs into an output folder (resumes a folder "
                                     "that holds an unfinished run of it).", **common)
    run.add_argument("--config", default="default", metavar="YAML",
                     help="the recipe: a file (configs/fineweb.yaml) or a shipped recipe's name (fineweb); "
                          "default: the embedded default, the bundled sample in, out/ out")
    run.add_argument("--input", nargs="+", action="extend", metavar="GLOB",
                     help="input file glob(s), local or any Beam filesystem, replacing input.paths")
    run.add_argument("--output", metavar="DIR", help="output folder, replacing output.path")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override any config key, the value read as YAML (repeatable): --set mode=annotate")

    refilter = sub.add_parser("refilter", help="decide again from a finished run's stored signals",
                              epilog=REFILTER_EPILOG,
                              description="Apply a config's decisions to the annotations of a finished run, "
                                          "writing another folder.", **common)
    # Folders the job's workers read or write are made absolute, as config paths are (a worker runs elsewhere).
    refilter.add_argument("--from", dest="source", required=True, metavar="OUT", type=absolute_path,
                          help="a finished run's output folder (its annotations are read, not changed)")
    refilter.add_argument("--config", required=True, metavar="YAML", help="the config whose decisions to apply")
    refilter.add_argument("--output", required=True, metavar="DIR", help="the folder to write (not --from)")
    refilter.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                          help="override any config key, as for run (repeatable)")

    report = sub.add_parser("report", help="write OUT/report.html and OUT/README.md (the data card)",
                            epilog=REPORT_EPILOG,
                            description="Write a finished run's report (self-contained HTML) and data card.",
                            **common)
    report.add_argument("output", metavar="OUT", help="a finished run's output folder")

    thresholds = sub.add_parser(
        "thresholds", help="per-language rule thresholds at percentiles of a finished run's signals",
        epilog=THRESHOLDS_EPILOG,
        description="Compute per-language thresholds (a Beam job) and write them as a rules file.", **common)
    thresholds.add_argument("--from", dest="source", required=True, metavar="OUT", type=absolute_path,
                            help="a finished run's output folder")
    thresholds.add_argument("--output", required=True, metavar="RULES.yaml",
                            help="the rules file to write (YAML holding filters.rules)")
    thresholds.add_argument("--signals", nargs="+", action="extend", default=[], metavar="NAME:higher|lower[:P]",
                            help="which way is better per signal, and optionally its percentile")
    thresholds.add_argument("--spec", metavar="YAML",
                            help="YAML: low_percentile, high_percentile, signals: {name: higher|lower}")
    thresholds.add_argument("--low", type=float, default=10.0, help="percentile where higher is better (10)")
    thresholds.add_argument("--high", type=float, default=90.0, help="percentile where lower is better (90)")
    thresholds.add_argument("--exact", action="store_true",
                            help="exact percentiles (numpy's): every value of a language in one worker; small runs")
    thresholds.add_argument("--epsilon", type=float, default=0.001,
                            help="approximate mode's rank error bound, as a fraction of a language's documents")
    thresholds.add_argument("--min-documents", type=int, default=10,
                            help="leave out languages with fewer documents holding the signal (10)")
    thresholds.add_argument("--work", metavar="DIR", type=absolute_path,
                            help="folder for the job's per-language results (default: FROM/_thresholds)")

    mix = sub.add_parser("mix", help="draw a mixture from finished runs (groups, weights, token budgets)",
                         epilog=MIX_EPILOG,
                         description="Draw a mixture from one or more finished runs into a new output folder: "
                                     "documents/ with mix_count (times drawn), stats.json, README.md, "
                                     "manifest.json.", **common)
    mix.add_argument("--from", dest="sources", required=True, action="append", metavar="OUT", type=absolute_path,
                     help="a finished run's output folder (repeatable)")
    mix.add_argument("--config", required=True, metavar="MIX.yaml", help="the mixture config")
    mix.add_argument("--output", required=True, metavar="DIR", help="the folder to write (not a --from)")
    mix.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override any mixture config key, the value read as YAML (repeatable)")

    tokenize = sub.add_parser("tokenize", help="tokenized shards for Megatron-LM or Dolma/OLMo from a finished run",
                              epilog=TOKENIZE_EPILOG,
                              description="Tokenize a finished run's (or mixture's) documents into training shards "
                                          "(a Beam job).", **common)
    tokenize.add_argument("--from", dest="source", required=True, metavar="OUT", type=absolute_path,
                          help="a finished run's or mixture's output folder (documents/*.parquet)")
    tokenize.add_argument("--tokenizer", required=True, metavar="tokenizer.json", type=absolute_path,
                          help="a Hugging Face tokenizer.json, local or any Beam filesystem (never fetched from a hub)")
    tokenize.add_argument("--format", required=True, choices=("megatron", "dolma"), dest="fmt",
                          help="megatron: .bin + .idx; dolma: .npy + .csv.gz")
    tokenize.add_argument("--output", required=True, metavar="DIR", type=absolute_path,
                          help="the folder to write (not --from)")
    tokenize.add_argument("--tokens-per-file", type=int, default=512 * 1024 * 1024, metavar="N",
                          help="a file holds the documents starting in its N tokens of the order (default 2^29)")
    tokenize.add_argument("--seed", type=int, default=0, help="the order's seed (default 0)")
    tokenize.add_argument("--eod-token", metavar="TOKEN",
                          help="the end-of-document token (default: the tokenizer's <|endoftext|>, </s>, <eos>, ...)")
    return parser


def _own_options(parser: argparse.ArgumentParser, command: str) -> list[str]:
    """The option strings of `command` (and the global ones): the closest spelling is looked for among them."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
    actions = [*sub.choices[command]._actions, *parser._actions]  # noqa: SLF001
    return [s for a in actions for s in a.option_strings if s.startswith("--")]


def _check_extra(parser: argparse.ArgumentParser, command: str, extra: list[str]) -> None:
    """Arguments `command` does not own: Beam pipeline options where the command runs a Beam job, else none."""
    from beam_curation.pipeline.runners.options import BeamArgumentError, check_beam_args, closest

    own = _own_options(parser, command)
    if command == "report":
        if extra:
            first = extra[0].split("=", 1)[0]
            suggestion = closest(first, own) if first.startswith("-") else None
            hint = f"; did you mean {suggestion}?" if suggestion else ""
            raise UsageError(f"unknown argument {first}: report takes only OUT{hint}")
        return
    try:
        check_beam_args(extra, own)
    except BeamArgumentError as exc:
        raise UsageError(f"{exc} (see beam-curation {command} --help)") from None


def _existing(folder: str, what: str) -> None:
    from apache_beam.io.filesystems import FileSystems

    if not FileSystems.exists(folder):
        raise ConfigError(f"{what} {folder}: no such folder")


def _finished_run(folder: str, what: str) -> None:
    """`report OUT` reads a finished run: say so in one line when OUT is not one."""
    from apache_beam.io.filesystems import FileSystems

    _existing(folder, what)
    if not FileSystems.exists(posixpath.join(folder, "manifest.json")):
        raise ConfigError(f"{what} {folder}: not a finished run (no manifest.json; run, or rerun, "
                          f"beam-curation run ... --output {folder} first)")


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


def _quiet_storage_faults(record: logging.LogRecord) -> bool:
    """Beam logs a worker's exception (with its traceback) before the driver sees it; for a full disk or a
    read-only folder the command's own line says it all."""
    from beam_curation.pipeline.io.faults import is_fault_text

    return not (record.name.startswith("apache_beam") and record.levelno >= logging.ERROR
                and is_fault_text(record.getMessage()))


def _quiet_unraisable_storage_faults(unraisable) -> None:
    """A writer that failed on a full disk retries its close when collected (pyarrow's ParquetWriter.__del__)
    and fails again, "ignored" with a traceback on stderr, maybe after the command's one line: dropped; any
    other unraisable exception is printed as Python would."""
    from beam_curation.pipeline.io.faults import fault_errno

    if unraisable.exc_value is not None and fault_errno(unraisable.exc_value) is not None:
        return
    sys.__unraisablehook__(unraisable)


def _configure_logging(level: Optional[str]) -> None:
    """Our warnings and other libraries' (Beam's, its workers', Dask's) errors, unless --log-level asks for a
    level: then every logger at it. The summary is printed, not logged, and the live line is the progress."""
    logging.basicConfig(level=level or "ERROR", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(level or "ERROR")
    root.addFilter(_quiet_optional_gcp_warning)
    for handler in root.handlers:  # records of every logger pass here, not only the root's own
        handler.addFilter(_quiet_storage_faults)
    sys.unraisablehook = _quiet_unraisable_storage_faults
    for name in OUR_LOGGERS:
        logging.getLogger(name).setLevel(level or "WARNING")
    for noisy in ("apache_beam", "distributed", "grpc"):  # set by some imports; the root's level is the one asked
        logging.getLogger(noisy).setLevel(logging.NOTSET)


def _freeze_children() -> list[int]:
    """Stop (SIGSTOP) every process this one started (Beam's SDK workers, the extraction sandboxes, a local Dask
    cluster) and return their pids: frozen, none can commit a marker after the interrupted line counted them, nor
    print when a sibling dies (the driver then cancels its calls to the others: "Logging client failed")."""
    import psutil

    me, frozen = psutil.Process(), {}
    for _ in range(3):  # a child may have started one more in the meantime
        try:
            new = [child for child in me.children(recursive=True) if child.pid not in frozen]
        except psutil.Error:
            break
        if not new:
            break
        for child in new:
            with contextlib.suppress(psutil.Error):
                child.suspend()
            frozen[child.pid] = child
    return list(frozen)


class _Interrupt:
    """What Ctrl-C reports: the run's progress, once the command has one; and the output folder whose lease this
    process holds, given back on the way out."""

    progress = None
    folder = None


@contextlib.contextmanager
def _interrupts() -> Iterator[_Interrupt]:
    """Ctrl-C ends the command with one line and exit code 130, however deep in Beam the driver is.

    A terminal sends SIGINT to the whole process group, and Beam's SDK workers, the extraction sandboxes and a
    local Dask cluster would each print a traceback. So SIGINT is ignored, which every child process inherits
    (through `sh -c` too, which resets the signal mask), and blocked in every thread of this process, where
    Linux then keeps it pending instead of dropping it: one thread waits for it, freezes the children, says
    what finished, kills them and exits. Nothing is lost: every file is moved into place whole, and a rerun
    resumes from the committed markers. Entered first thing, before any library starts a thread of its own.

    SIGTERM (`kill`, a scheduler's stop) ends the command the same way with 143. It is not blocked nor ignored,
    as both would be inherited by the children (a Dask nanny stops its workers with it): a Python handler, which
    children do not inherit, only lets the interpreter write the signal's number to a pipe (its wakeup fd, at C
    level, whatever the main thread is doing), and the same thread reads it there."""
    state = _Interrupt()
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "sigtimedwait"):
        yield state  # (macOS has no sigtimedwait: KeyboardInterrupt, caught in `_main`)
        return
    done = threading.Event()

    def interrupted(code: int, default: str) -> None:
        try:
            logging.disable(logging.CRITICAL)
            children = _freeze_children()  # their work is uncommitted: killed below, once the line is out
            line = state.progress.interrupted() if state.progress is not None else default
            if code == EXIT_TERMINATED:
                line = line.replace("interrupted", "terminated (SIGTERM)", 1)
            sys.stdout.flush()
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
            # The line is the last word: Beam's threads report their workers' deaths, to nowhere.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            for pid in children:  # (a plain kill holds the GIL: no thread of ours sees a death and goes on)
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            if state.folder is not None:  # nothing writes there any more: the next command need not take it over
                from beam_curation.pipeline.io.lease import release_own

                release_own(state.folder)
        finally:  # whatever failed above, the command ends here
            os._exit(code)

    wakeup_read, wakeup_write = os.pipe()
    for fd in (wakeup_read, wakeup_write):
        os.set_blocking(fd, False)

    def wait() -> None:
        while not done.is_set():
            # A wait cut short by another signal past its timeout returns a blank siginfo, not None (CPython's
            # sigtimedwait on EINTR; a profiler attaching with ptrace does it): only SIGINT interrupts.
            received = signal.sigtimedwait({signal.SIGINT}, 0.2)
            if received is not None and received.si_signo == signal.SIGINT:
                interrupted(EXIT_INTERRUPTED, "interrupted")
            try:
                woken = os.read(wakeup_read, 64)
            except BlockingIOError:
                continue
            if signal.SIGTERM in woken:
                interrupted(EXIT_TERMINATED, "terminated")

    # multiprocessing's resource tracker, started by the first spawned child (the extraction sandbox), unblocks
    # SIGINT in the thread that starts it, after which Linux would deliver Ctrl-C there, ignored: start it now.
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    previous_handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    previous_term = signal.signal(signal.SIGTERM, lambda signum, frame: None)  # the wakeup fd says it
    previous_wakeup = signal.set_wakeup_fd(wakeup_write, warn_on_full_buffer=False)
    waiter = threading.Thread(target=wait, name="sigint", daemon=True)
    waiter.start()
    try:
        yield state
    finally:
        done.set()
        waiter.join()
        signal.set_wakeup_fd(previous_wakeup)
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
        os.close(wakeup_read)
        os.close(wakeup_write)


def main(argv: list[str] | None = None) -> int:
    with _interrupts() as interrupt:
        return _main(argv, interrupt)


def console() -> int:
    """The `beam-curation` console script (and `python -m beam_curation`): `main`, then a quick exit."""
    import gc

    code = main()
    # The interpreter's collections at exit walk every object Beam, spaCy and the models allocated (about a
    # second after a run); nothing needs collecting then, so the survivors are frozen out of their reach.
    gc.freeze()
    return code


def _main(argv: list[str] | None, interrupt: _Interrupt) -> int:
    parser = _parser()
    try:
        args, extra = parser.parse_known_args(argv)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    _configure_logging(getattr(args, "log_level", None))
    try:
        progress = None
        if args.command in ("run", "refilter"):
            from beam_curation.pipeline.progress import RunProgress

            progress = interrupt.progress = RunProgress(live=sys.stderr.isatty())
        _check_extra(parser, args.command, extra)
        _command(args, extra, progress, interrupt)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except FolderHeld as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(interrupt.progress.interrupted() if interrupt.progress else "interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a full disk, a read-only folder: one line (anything else is a bug: its traceback)
        line = _storage_fault(args, exc)
        if line is None:
            raise
        if progress is not None:
            progress.interrupted()  # clears a live line
        print(f"error: {line}", file=sys.stderr)
        return EXIT_FAULT
    return 0


def _storage_fault(args: argparse.Namespace, exc: Exception) -> Optional[str]:
    """One line for a write the machine refused, naming the path and what to do; None for any other error."""
    from beam_curation.pipeline.io.faults import describe, fault_path

    if args.command in ("run", "refilter"):
        return describe(exc, getattr(args, "writes", None) or args.output, "rerun the same command to resume")
    if args.command == "report":
        return describe(exc, args.output, "run the command again")
    if fault_path(exc) is not None:  # the rules file
        return describe(exc, None, "run the command again")
    return describe(exc, args.work or posixpath.join(args.source, "_thresholds"),
                    "run the command again (--work DIR puts the job's results elsewhere)")


def _command(args: argparse.Namespace, beam_args: list[str], progress, interrupt: _Interrupt) -> None:
    from beam_curation.pipeline.config import load_config
    from beam_curation.pipeline.io.lease import check_free

    if args.command == "run":
        from beam_curation.pipeline.run import run

        config = load_config(args.config, args.overrides, input_paths=args.input, output_path=args.output)
        args.writes = config.output.path
        interrupt.folder = config.output.path
        print(_summary(run(config, beam_args, progress=progress)))
    elif args.command == "refilter":
        from beam_curation.pipeline.refilter import refilter

        config = load_config(args.config, args.overrides, output_path=args.output)
        args.writes = config.output.path
        interrupt.folder = config.output.path
        print(_summary(refilter(args.source, config, beam_args, progress=progress)))
    elif args.command == "thresholds":
        from beam_curation.pipeline.report import thresholds as th

        _existing(args.source, "--from")  # what it reads is checked by the job's own start (signals/ or _annotations/)
        check_free(args.source, "--from")
        specs = th.load_specs(args.signals, args.spec, args.low, args.high)
        found = th.thresholds(args.source, specs, args.output, exact=args.exact, epsilon=args.epsilon,
                              min_documents=args.min_documents, beam_args=beam_args, work=args.work)
        print(th.summary(found, args.output, args.min_documents))
    elif args.command == "mix":
        from beam_curation.pipeline.mix.config import load_mix_config
        from beam_curation.pipeline.mix.run import mix, summary

        config = load_mix_config(args.config, args.overrides)
        print(summary(mix(args.sources, config, args.output, beam_args)))
    elif args.command == "tokenize":
        from beam_curation.pipeline import tokenize as tk

        result = tk.tokenize(args.source, args.tokenizer, args.fmt, args.output, tokens_per_file=args.tokens_per_file,
                             seed=args.seed, eod_token=args.eod_token, beam_args=beam_args)
        print(tk.summary(result))
    else:
        from beam_curation.pipeline.report.page import write_report_and_card

        from beam_curation.pipeline.report.mix_card import is_mixture, rewrite_mix_card

        check_free(args.output, "report")
        _finished_run(args.output, "report")
        if is_mixture(args.output):  # a mixture has no run to report on: its data card only
            print(rewrite_mix_card(args.output))
            return
        print("\n".join(write_report_and_card(args.output)))
