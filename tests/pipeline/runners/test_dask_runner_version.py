"""The Dask runner refuses, at start, an apache-beam outside the range its fixes are tested with (fast: no Dask)."""

from __future__ import annotations

import pytest
from apache_beam import version as beam_version
from apache_beam.options.pipeline_options import PipelineOptions

from beam_curation.pipeline.cli import EXIT_USAGE, main
from beam_curation.pipeline.runners.dask_runner.version import BEAM_VERSIONS, untested_beam
from beam_curation.pipeline.runners.options import BeamArgumentError, check_runner, runner_for


@pytest.mark.parametrize("version", ["2.63.0", "2.70.0", "2.77.0", "2.77.0rc1", "2.77.2"])
def test_tested_versions_pass(version):
    assert untested_beam(version) is None


@pytest.mark.parametrize("version", ["2.62.0", "2.63.0rc1", "2.78.0", "2.78.0.dev0", "3.0.0", "not-a-version"])
def test_other_versions_are_named_with_the_tested_range(version):
    assert untested_beam(version) == (f"apache-beam {version} is installed, but the Dask runner is tested with "
                                      f"apache-beam {BEAM_VERSIONS} only (pip install 'beam-curation[dask]' installs "
                                      "a tested one)")


def test_the_check_reads_the_installed_version(monkeypatch):
    monkeypatch.setattr(beam_version, "__version__", "2.78.0")
    assert "apache-beam 2.78.0 is installed" in untested_beam()
    with pytest.raises(BeamArgumentError, match=r"^--runner=dask: apache-beam 2\.78\.0 is installed"):
        check_runner(PipelineOptions(["--runner=dask"]))
    with pytest.raises(BeamArgumentError, match="2.78.0"):  # where the runner is chosen, too
        runner_for(PipelineOptions(["--runner=DaskRunner"]))
    check_runner(PipelineOptions(["--runner=FnApiRunner"]))  # other runners do not care
    assert runner_for(PipelineOptions(["--runner=FnApiRunner"])) is None


@pytest.mark.parametrize("how", ["argument", "config"])
def test_the_cli_refuses_an_untested_beam_in_one_line_before_writing(monkeypatch, tmp_path, capsys, how):
    """Exit 2, one line naming the installed version and the tested range, and no output folder; the runner may
    come from the command line or from the config's runner.options."""
    monkeypatch.setattr(beam_version, "__version__", "2.80.1")
    output = tmp_path / "out"
    if how == "argument":
        args = ["--runner=DaskRunner", "--dask_client_address=tcp://127.0.0.1:1"]
    else:
        config = tmp_path / "dask.yaml"
        config.write_text("runner:\n  options:\n    runner: DaskRunner\n")
        args = ["--config", str(config)]
    assert main(["run", "--output", str(output), *args]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("config error: --runner=DaskRunner: apache-beam 2.80.1 is installed") and BEAM_VERSIONS in err
    assert not output.exists()
