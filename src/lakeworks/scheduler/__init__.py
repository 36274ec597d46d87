"""Cron fires, dispatch of scheduled runs, timeouts, and the reconciler loop."""
