"""The web layer shared by every HTTP surface (API, UI pages, proxy, embedded MLflow): who is
calling (API key, Basic v1 key or browser session) and the CSRF rule for cookie writes.

One place, as jupyterhub's ``BaseHandler`` serves both its pages and its API handlers.
"""
