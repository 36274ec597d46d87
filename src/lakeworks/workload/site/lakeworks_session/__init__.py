"""Starts what a session runs, inside the session's workload (runtime interpreter).

``python -m lakeworks_session <session id> jupyterlab|workbench``:

- a Jupyter server (JupyterLab) on ``LAKEWORKS_JUPYTER_PORT``, bound to 127.0.0.1, under
  ``/sessions/<id>/``: the platform's proxy authenticates people before forwarding and adds
  the session's token, without which the server refuses every request (``identity``);
- for the workbench editor, also an IPython kernel listening on the five
  ``LAKEWORKS_KERNEL_*_PORT`` ports with the key in ``LAKEWORKS_KERNEL_KEY``, started first
  (the console waits on it) and started again whenever it ends (a console restart asks the
  kernel to shut down; this supervisor brings it back on the same ports).

Imports nothing from the server side.
"""
