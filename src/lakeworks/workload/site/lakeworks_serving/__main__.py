"""``python -m lakeworks_serving``: load the model and serve it (see ``server``)."""

from __future__ import annotations

import sys

from lakeworks_serving.server import main

if __name__ == "__main__":
    sys.exit(main())
