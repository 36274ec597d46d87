"""Lakeworks' in-workload runners, executed by the workload's own (runtime) interpreter.

This directory is put on the workload's ``PYTHONPATH``; it imports only the standard library,
IPython and (for notebooks) nbclient, which every Lakeworks runtime has. Nothing here imports
``lakeworks``: the runtime does not have it.

- ``python -m lakeworks_runner SCRIPT [ARGUMENTS]`` runs a ``.py`` file as one IPython cell.
- ``python -m lakeworks_runner.notebook NOTEBOOK [ARGUMENTS]`` runs a ``.ipynb`` cell by cell.
"""
