"""The server-rendered web UI: Jinja2 templates and static assets, calling the same services
as the API. Pages live in ``*_pages.py`` modules; ``routes.router`` gathers them."""
