import gc
import sys

from pipeline.cli import main

if __name__ == "__main__":
    code = main()
    # The interpreter's collections at exit walk every object Beam, spaCy and the models allocated (about a
    # second after a run); nothing needs collecting then, so the survivors are frozen out of their reach.
    gc.freeze()
    sys.exit(code)
