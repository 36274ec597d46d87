"""API v2 (CML shapes) and the legacy API v1 endpoints: parse, call one service, serialise."""
