"""docker/compose.yaml (Flink and Spark through Beam's portable runner) parses and holds together.

The clusters themselves are not started here (their images cannot be pulled offline); what can be checked
offline is: the file is valid for Docker Compose (`docker compose config` or docker-compose's, when either is
installed), every reference points at something defined, the versions match this project's Beam, and each
engine's driver, job server and worker pool agree on names and ports.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from importlib import metadata

import pytest
import yaml

from conftest import REPO

COMPOSE = REPO / "docker" / "compose.yaml"
ENGINES = {"flink": ("flink-taskmanager", "flink-job-server"), "spark": ("spark-worker", "spark-job-server")}
POOL_PORT = 50000  # Beam's SDK image listens there with --worker_pool


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _flags(args: list[str]) -> dict[str, str]:
    return dict(a.removeprefix("--").split("=", 1) for a in args if a.startswith("--") and "=" in a)


def test_references_resolve(compose):
    services = compose["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on", []):
            assert dependency in services, f"{name} depends on {dependency}"
            assert set(services[dependency]["profiles"]) == set(service["profiles"]), f"{name} -> {dependency}"
        mode = service.get("network_mode", "")
        if mode.startswith("service:"):
            assert mode.removeprefix("service:") in services
            assert "ports" not in service, f"{name} shares another's network: it cannot publish ports"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith(("$", ".", "/")):
                assert source in compose["volumes"], f"{name} mounts the undefined volume {source}"


def test_published_host_ports_are_unique(compose):
    published = [p.split(":")[0] for s in compose["services"].values() for p in s.get("ports", [])]
    assert published and len(published) == len(set(published)), published


def test_versions_match_this_projects_beam(compose):
    beam = metadata.version("apache-beam")
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    assert f"ARG BEAM_VERSION={beam}" in dockerfile
    services = compose["services"]
    flink = re.fullmatch(r"apache/beam_flink(\d+\.\d+)_job_server:(.+)", services["flink-job-server"]["image"])
    assert flink and flink.group(2) == beam
    from apache_beam.options.pipeline_options import FlinkRunnerOptions

    assert flink.group(1) in FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS
    for engine in ("flink-jobmanager", "flink-taskmanager"):
        assert services[engine]["image"].split(":")[1].startswith(flink.group(1)), "Flink matches its job server"
    assert services["spark-job-server"]["image"] == f"apache/beam_spark3_job_server:{beam}"
    assert all(services[s]["image"].split(":")[1].startswith("3.") for s in ("spark-master", "spark-worker"))


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_driver_job_server_and_worker_pool_agree(compose, engine):
    services = compose["services"]
    worker, job_server = ENGINES[engine]
    pool, driver = services[f"{engine}-worker-pool"], services[f"{engine}-driver"]
    assert pool["command"] == ["--worker_pool"] and pool["network_mode"] == f"service:{worker}"
    assert pool["image"] == driver["image"] and pool["build"]["target"] == "with-models"
    server = _flags(services[job_server]["command"])
    options = _flags(driver["entrypoint"])
    assert driver["entrypoint"][:4] == ["python", "-m", "beam_curation", "run"]
    assert options["runner"] == "PortableRunner" and options["environment_type"] == "EXTERNAL"
    assert options["environment_config"] == f"localhost:{POOL_PORT}", "the pool shares the engine worker's network"
    assert options["job_endpoint"] == f"{job_server}:{server['job-port']}"
    assert options["artifact_endpoint"] == f"{job_server}:{server['artifact-port']}"
    # The job server stages artifacts where the engine worker reads them.
    staging = f"beam-artifacts:{server['artifacts-dir']}"
    assert staging in services[job_server]["volumes"] and staging in services[worker]["volumes"]
    # Outputs: the driver writes stats and the plan, the pool's SDK workers the data, in the same folder.
    assert driver["volumes"] == pool["volumes"] and driver["command"][-1].startswith("/data/")
    assert {s["profiles"][0] for s in services.values() if s["profiles"] == [engine]} == {engine}
    # The driver's config paths resolve inside the image: the shipped config exists there.
    assert (REPO / driver["command"][driver["command"].index("--config") + 1]).is_file()


def test_the_cli_takes_runner_options_before_the_config():
    """The drivers' entrypoint puts Beam options before `--config`: the CLI hands them to Beam wherever they are."""
    from beam_curation.pipeline.cli import _parser

    args, beam_args = _parser().parse_known_args(["run", "--runner=PortableRunner", "--environment_type=EXTERNAL",
                                                  "--config", "configs/default.yaml", "--output", "/data/x"])
    assert (args.config, args.output) == ("configs/default.yaml", "/data/x")
    assert beam_args == ["--runner=PortableRunner", "--environment_type=EXTERNAL"]


def _compose_cli() -> list[str] | None:
    """`docker compose` (v2 plugin) or `docker-compose` (v1), when one runs here (no daemon is needed)."""
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_docker_compose_accepts_the_file(compose):
    cli = _compose_cli()
    if cli is None:
        pytest.skip("neither `docker compose` nor docker-compose is installed")
    done = subprocess.run([*cli, "-f", str(COMPOSE), "config", "--services"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.split()) == set(compose["services"])
