"""Lakeworks: a self-hosted machine learning workbench compatible with CML projects."""

__version__ = "0.1.0"
