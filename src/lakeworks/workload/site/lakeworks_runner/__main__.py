"""``python -m lakeworks_runner SCRIPT [ARGUMENTS]``: run a ``.py`` file as CML does."""

from __future__ import annotations

import sys

from lakeworks_runner.script import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
