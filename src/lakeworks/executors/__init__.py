"""Executors run workloads: one interface (``base.Executor``), chosen by name in settings."""
