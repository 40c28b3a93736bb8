"""DataTrove as the peer of the comparison scripts: its own virtualenv, never a project dependency.

Two halves, one per interpreter:
- ours (the project's Python): `datatrove_python()` returns an interpreter with DataTrove, creating a
  virtualenv under `.cache/` on first use;
- DataTrove's (that interpreter, which imports nothing from this project): `fineweb_filters()` builds FineWeb's
  four quality filters, so the filter comparison and the end-to-end benchmark run the same steps.

`datatrove[processing]` must be pinned: unpinned, pip resolves it to 0.2.0, which lacks `datatrove.utils.lid`.
0.10.1's extra pins trafilatura < 1.12; the venv then gets this project's trafilatura release instead, so both
sides extract with the same library (DataTrove calls only `trafilatura.extract`, whose options are unchanged).
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATATROVE_VERSION = "0.10.1"
DEFAULT_VENV = REPO / ".cache" / f"datatrove-{DATATROVE_VERSION}"


def requirements() -> list[list[str]]:
    """pip install steps, in order: DataTrove with its extras and spaCy (its English word tokenizer), then our
    trafilatura release over the one DataTrove's extra pins, with lxml_html_clean (trafilatura 2 on lxml 6
    fails on import without it, and DataTrove's extraction child would then time out on every page)."""
    return [[f"datatrove[processing,io]=={DATATROVE_VERSION}", "spacy"],
            [f"trafilatura=={metadata.version('trafilatura')}", "lxml_html_clean"]]


def datatrove_python(given: str | None = None, venv: Path = DEFAULT_VENV) -> str:
    """The interpreter to run DataTrove with: `given` as it is, else `venv`'s, created or brought up to date."""
    if given:
        if not Path(given).is_file():
            raise SystemExit(f"--datatrove-python: {given} does not exist")
        return given
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    wanted = repr(requirements())
    if marker.is_file() and marker.read_text() == wanted and python.is_file():
        return str(python)
    print(f"creating DataTrove's virtualenv at {venv} (once; a few minutes)", file=sys.stderr, flush=True)
    if not python.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    for step in requirements():
        subprocess.run([str(python), "-m", "pip", "install", "-q", *step], check=True)
    marker.write_text(wanted)
    return str(python)


def fineweb_filters() -> list:
    """FineWeb's quality filters as DataTrove runs them (DataTrove's interpreter only)."""
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    return [
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False),
        FineWebQualityFilter(),
    ]
