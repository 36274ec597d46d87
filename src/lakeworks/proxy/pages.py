"""The pages a proxy answers with itself (upstream down, session not running, not allowed).

They are self-contained: an application's page is served on the application's own origin,
where ``/static/`` is the application's, so the styling travels inside the page. Each says
what happened and what to do next, and may retry by itself (a workload still starting).

Example::

    body = page(502, "JupyterLab is not answering yet", "It is still starting.",
                links=[("Back to the session", "/projects/p1/sessions/s1")], retry_seconds=3)
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

STYLE = (
    "body{margin:0;min-height:100vh;display:grid;place-items:center;background:#f6f7f9;"
    "font:15px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1d2430}"
    ".card{max-width:34rem;margin:1rem;padding:2rem 2.25rem;background:#fff;"
    "border:1px solid #dfe3e8;border-radius:12px;box-shadow:0 1px 3px rgba(16,24,40,.06)}"
    ".code{margin:0;color:#6b7686;font-weight:600;letter-spacing:.04em}"
    "h1{margin:.25rem 0 .5rem;font-size:1.35rem}p{margin:.5rem 0}"
    ".hint{color:#4a5565;font-size:.9rem}.actions{margin-top:1.25rem;display:flex;gap:.5rem}"
    ".btn{display:inline-block;padding:.45rem .95rem;border:1px solid #c9d0d9;border-radius:8px;"
    "color:#1d2430;text-decoration:none;font-weight:550}"
    ".btn-primary{background:#2563eb;border-color:#2563eb;color:#fff}"
)


def page(
    status: int,
    title: str,
    message: str,
    *,
    hint: str = "",
    links: Sequence[tuple[str, str]] = (),
    retry_seconds: int | None = None,
) -> bytes:
    """A small styled HTML page; ``links`` are (label, href), the first one primary."""
    refresh = f'<meta http-equiv="refresh" content="{int(retry_seconds)}">' if retry_seconds else ""
    buttons = "".join(
        f'<a class="btn{" btn-primary" if i == 0 else ""}" href="{html.escape(href)}">'
        f"{html.escape(label)}</a>"
        for i, (label, href) in enumerate(links)
    )
    retry = (
        f'<p class="hint">This page tries again every {int(retry_seconds)} seconds.</p>'
        if retry_seconds
        else ""
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"{refresh}<title>{status} · {html.escape(title)}</title><style>{STYLE}</style></head>"
        f'<body><main class="card"><p class="code">{status}</p><h1>{html.escape(title)}</h1>'
        f"<p>{html.escape(message)}</p>"
        + (f'<p class="hint">{html.escape(hint)}</p>' if hint else "")
        + retry
        + (f'<div class="actions">{buttons}</div>' if buttons else "")
        + "</main></body></html>"
    ).encode()


@dataclass(frozen=True)
class Down:
    """What a proxy says when the workload behind it does not answer (a 502)."""

    title: str = "The application is not answering"
    message: str = "It may still be starting, or it has stopped or crashed."
    hint: str = (
        "If it was started a moment ago, wait. Otherwise open its page in Lakeworks to read "
        "its log and restart it."
    )
    links: tuple[tuple[str, str], ...] = ()
    retry_seconds: int = 5

    def render(self) -> bytes:
        return page(
            502,
            self.title,
            self.message,
            hint=self.hint,
            links=self.links,
            retry_seconds=self.retry_seconds,
        )
