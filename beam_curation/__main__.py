"""`python -m beam_curation`: the same as the `beam-curation` console script."""

import sys

from beam_curation.pipeline.cli import console

if __name__ == "__main__":
    sys.exit(console())
