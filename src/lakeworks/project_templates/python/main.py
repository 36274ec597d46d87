"""A first script: print where it runs."""

import os
import platform

print(f"Python {platform.python_version()} in {os.getcwd()}")
