"""Jinja filters: dates, sizes, URL paths and Markdown, as every page shows them."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from markdown_it import MarkdownIt
from markupsafe import Markup

from lakeworks.runtimes.manager import preparing_python

# CommonMark with raw HTML off: a README is user content and must never inject markup.
# markdown-it also refuses javascript: and data: links by default. Tables and strikethrough
# are enabled because READMEs written for git hosts use them.
_markdown = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def markdown(text: str) -> Markup:
    # Safe to mark up: the parser escapes every raw HTML fragment of the source.
    return Markup(_markdown.render(text))


def when(value: datetime | None) -> str:
    """An absolute UTC time, for tooltips and audit tables."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """A short relative time ("5 minutes ago", "in 3 days"), falling back to the date."""
    if value is None:
        return "never"
    now = now or datetime.now(UTC)
    seconds = (now - value.astimezone(UTC)).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 45:
        return "just now" if not future else "in a moment"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):  # noqa: B007
        if seconds >= size:
            break  # the largest unit that fits; 45-59 s ends on "minute" and reads "1 minute"
    count = max(1, round(seconds / size))
    if unit == "day" and count > 30:
        return value.astimezone(UTC).strftime("%Y-%m-%d")
    label = f"{count} {unit}{'s' if count != 1 else ''}"
    return f"in {label}" if future else f"{label} ago"


def filesize(size: int) -> str:
    amount = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{int(amount)} {unit}" if unit == "bytes" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} TB"


def urlpath(path: str) -> str:
    """Quote a project file path for use inside a URL, keeping its slashes."""
    return quote(path, safe="/")


FILTERS = {
    "preparing_python": preparing_python,
    "markdown": markdown,
    "when": when,
    "ago": ago,
    "filesize": filesize,
    "urlpath": urlpath,
}
