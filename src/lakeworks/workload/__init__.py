"""What runs inside workloads, and how the platform starts it.

- ``site_dir()``: the directory to put on a workload's ``PYTHONPATH``; it holds the script and
  notebook runners (``lakeworks_runner``) and the in-workload libraries ``cdsw`` and ``cml``,
  which run under the runtime's interpreter and import nothing from ``lakeworks``.
- ``command_for(script, arguments, python)``: the argv of a job run, AMP task or application.
"""

from lakeworks.workload.runner import SCRIPT_SUFFIXES, UnsupportedScript, command_for, site_dir

__all__ = ["SCRIPT_SUFFIXES", "UnsupportedScript", "command_for", "site_dir"]
