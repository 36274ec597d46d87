"""Model serving on the server side: the gateway (``POST /model``), its route cache and the
least-outstanding balancing over replicas. The replica server itself runs in workloads
(``workload/site/lakeworks_serving``)."""
