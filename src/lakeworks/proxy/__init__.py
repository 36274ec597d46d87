"""The authenticating reverse proxy: workloads' web UIs and hosted applications.

- ``forward``: relays one ASGI HTTP request or websocket to a workload's loopback port.
- ``hosts``: the middleware that routes ``<label>.<domain>`` and ``/apps/<subdomain>/`` to
  applications and workload ports, after authorising the user through services.
"""
