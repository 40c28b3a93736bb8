"""The apache-beam releases this layer is tested with, and the start-time check that refuses any other.

The layer subclasses upstream's `apache_beam/runners/dask/` classes and calls Beam internals
(`apache_beam.runners.common._OutputHandler`, `DoFnInvoker.create_invoker`, the metrics container and state
sampler), which change without notice between releases. Imports nothing from Dask or from this package's other
modules, so that the check runs before anything version-dependent is imported.
"""

from __future__ import annotations

# tests/pipeline/runners/test_dask_runner.py passes on 2.63.0 and 2.77.0; upstream's apache_beam/runners/dask/ differs between
# them only in type hints and in DaskOptions.get_all_options(current_only=...), which runner.py does not use.
BEAM_VERSIONS = ">=2.63,<2.78"


def installed_beam_version() -> str:
    """The installed apache-beam's version string, read when asked (the tests replace it)."""
    from apache_beam import version

    return version.__version__


def untested_beam(installed: str | None = None) -> str | None:
    """None when the installed (or given) apache-beam is in BEAM_VERSIONS; else one line saying which is installed
    and which are tested. Pre-releases inside the range count (2.77.0rc1); those of 2.78 do not."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    installed = installed or installed_beam_version()
    try:
        tested = SpecifierSet(BEAM_VERSIONS).contains(Version(installed), prereleases=True)
    except InvalidVersion:
        tested = False
    if tested:
        return None
    return (f"apache-beam {installed} is installed, but the Dask runner is tested with apache-beam {BEAM_VERSIONS} "
            f"only (pip install 'beam-curation[dask]' installs a tested one)")
