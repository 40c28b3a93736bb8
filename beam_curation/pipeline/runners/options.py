"""Which command-line arguments are Beam pipeline options, and which runners run on this machine.

Beam itself only warns about an argument no options class knows and runs on without it, so a mistyped
`--ouput out2` would write into the config's folder. The CLI checks every argument it does not own against
the options Beam has registered (every `PipelineOptions` subclass, the Dask runner's included) and refuses
the rest, naming the closest valid spelling.
"""

from __future__ import annotations

import argparse
import difflib
from typing import Iterable

# Runners whose workers share this machine's (or a cluster's shared) file system with the driver: the driver
# can follow their progress from the output folder and stops their processes on Ctrl-C.
LOCAL_RUNNERS = frozenset({"fnapirunner", "directrunner", "switchingdirectrunner", "bundlebaseddirectrunner",
                           "prismrunner", "daskrunner", "dask"})


# What a "no such runner" message offers (Beam knows a few more, e.g. its test runners).
KNOWN_RUNNERS = ("FnApiRunner", "DirectRunner", "PrismRunner", "DaskRunner", "DataflowRunner", "FlinkRunner",
                 "SparkRunner", "PortableRunner")

# Names Beam's create_runner would resolve to its DaskRunner (it lower-cases and tries a "runner" suffix).
DASK_RUNNER_NAMES = ("daskrunner", "dask", "apache_beam.runners.dask.dask_runner.daskrunner")


def runner_for(options):
    """This project's DaskRunner (beam_curation.pipeline.runners.dask_runner) when the options name Beam's, else None (Beam
    resolves the name itself). Use as `beam.Pipeline(runner=runner_for(options), options=options)`; dask is
    imported only for a Dask run (it adds 0.3 s to every start). Raises as check_runner does."""
    if _dask_runner_name(options):
        check_runner(options)
        from beam_curation.pipeline.runners.dask_runner import DaskRunner

        return DaskRunner()
    return None


def _dask_runner_name(options) -> str | None:
    from apache_beam.options.pipeline_options import StandardOptions

    name = options.view_as(StandardOptions).runner
    return name if isinstance(name, str) and name.lower() in DASK_RUNNER_NAMES else None


class BeamArgumentError(ValueError):
    """An argument that is neither the command's nor a Beam pipeline option (or a Beam option misused)."""


def check_runner(options) -> None:
    """The runner the options name exists here, and the Dask runner runs on an apache-beam its fixes are tested
    with (beam_curation.pipeline.runners.dask_runner.version): BeamArgumentError naming it otherwise, asked
    before anything is created, as Beam itself only finds out when the job starts, after the output folder was
    prepared."""
    from apache_beam.options.pipeline_options import StandardOptions
    from apache_beam.runners.runner import create_runner

    name = options.view_as(StandardOptions).runner
    if not isinstance(name, str):
        return
    if name.lower() in DASK_RUNNER_NAMES:
        from beam_curation.pipeline.runners.dask_runner.version import untested_beam

        problem = untested_beam()
        if problem:
            raise BeamArgumentError(f"--runner={name}: {problem}")
        try:
            import beam_curation.pipeline.runners.dask_runner  # noqa: F401 - needs the `dask` extra
        except ImportError as exc:
            raise BeamArgumentError(f"--runner {name}: {exc} (pip install 'beam-curation[dask]')") from None
        return
    try:
        create_runner(name)  # resolves the name as Beam will, imports its module; starts nothing
    except (ValueError, ImportError, AttributeError) as exc:
        suggestion = closest(name, KNOWN_RUNNERS)
        hint = f"did you mean {suggestion}? " if suggestion else ""
        reason = "" if isinstance(exc, ValueError) else f" ({str(exc).splitlines()[0]})"
        raise BeamArgumentError(f"--runner {name}: no such runner{reason}; {hint}runners: "
                                f"{', '.join(KNOWN_RUNNERS)}, or the full name of a PipelineRunner subclass") from None


def _register_optional_options() -> None:
    """Options classes outside `pipeline_options` register on import; the Dask runner's is one the CLI offers."""
    try:
        import apache_beam.runners.dask.dask_runner  # noqa: F401 - registers DaskOptions (--dask_client_address)
    except ImportError:  # the `dask` extra is not installed: its options are not valid either
        pass


def _subclasses(cls: type) -> Iterable[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would print its usage and exit
        raise BeamArgumentError(message)


def beam_parser(optional: bool = True) -> argparse.ArgumentParser:
    """One parser holding the arguments of every registered PipelineOptions subclass (as Beam builds its own,
    but over subclasses of subclasses too); with `optional`, the Dask runner's too (importing dask: the
    checks below first try without it)."""
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    if optional:
        _register_optional_options()

    class Parser(_Parser, _BeamArgumentParser):
        pass

    parser = Parser(allow_abbrev=False, add_help=False)
    seen: set[str] = set()
    for cls in _subclasses(PipelineOptions):
        key = f"{cls.__module__}.{cls.__qualname__}"
        if key in seen:
            continue
        seen.add(key)
        try:
            cls._add_argparse_args(parser)  # noqa: SLF001 - the only way Beam exposes an options class's arguments
        except argparse.ArgumentError:  # an option two classes both define: the first one stands
            continue
    return parser


def option_strings(parser: argparse.ArgumentParser) -> list[str]:
    return [s for action in parser._actions for s in action.option_strings if s.startswith("--")]  # noqa: SLF001


def closest(name: str, candidates: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(name, list(dict.fromkeys(candidates)), n=1, cutoff=0.6)
    return found[0] if found else None


def check_beam_args(args: list[str], own: Iterable[str] = ()) -> None:
    """Raise BeamArgumentError naming the first argument that is no Beam pipeline option (with the closest
    spelling among `own` and Beam's options), or a Beam option given a value it cannot take."""
    if not args:
        return
    for optional in (False, True):
        parser = beam_parser(optional)
        try:
            _, unknown = parser.parse_known_args(args)
        except BeamArgumentError as exc:
            raise BeamArgumentError(f"Beam pipeline option {exc}") from None
        if not unknown:
            return
    known = [*own, *option_strings(parser)]
    first = unknown[0]
    if not first.startswith("-"):
        raise BeamArgumentError(f"unexpected argument {first!r} (every option is --name value or --name=value)")
    name = first.split("=", 1)[0]
    if not name.startswith("--"):
        suggestion = closest("--" + name.lstrip("-"), known)
        hint = f"; did you mean {suggestion}?" if suggestion else ""
        raise BeamArgumentError(f"unknown argument {name}: options are spelled --name{hint}")
    suggestion = closest(name, known)
    hint = f"; did you mean {suggestion}?" if suggestion else ""
    raise BeamArgumentError(f"unknown argument {name}: neither an option of this command nor a Beam "
                            f"pipeline option{hint}")


def check_option_names(names: Iterable[str], where: str) -> None:
    """`runner.options` keys (option names without dashes) must be Beam pipeline options."""
    names = list(names)
    known = {s[2:] for s in option_strings(beam_parser(optional=False))}
    if not set(names) <= known:
        known = {s[2:] for s in option_strings(beam_parser())}
    for name in names:
        if name not in known:
            suggestion = closest(name, known)
            hint = f"; did you mean {suggestion}?" if suggestion else ""
            raise BeamArgumentError(f"{where}.{name}: not a Beam pipeline option{hint}")


def runner_name(options) -> str:
    """The runner an options object names, as a class name without module (FnApiRunner, DataflowRunner, ...)."""
    from apache_beam.options.pipeline_options import StandardOptions

    name = options.view_as(StandardOptions).runner
    if name is None:
        return "DirectRunner"
    return name if isinstance(name, str) else type(name).__name__


def is_local(options) -> bool:
    return runner_name(options).rsplit(".", 1)[-1].lower() in LOCAL_RUNNERS
