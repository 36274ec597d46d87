"""Rich output that degrades to text: an IPython front end shows HTML/Markdown, a log the text."""

from __future__ import annotations

from typing import Any


def _shell_running() -> bool:
    try:
        from IPython.core.interactiveshell import InteractiveShell
    except ImportError:
        return False
    return bool(InteractiveShell.initialized())


def publish(data: dict[str, str]) -> None:
    """Show ``data`` (MIME type -> text; must hold ``text/plain``) in the best available way."""
    if _shell_running():
        from IPython.display import display

        display(data, raw=True)
    else:
        print(data["text/plain"], flush=True)


def display(*objects: Any) -> None:
    if _shell_running():
        from IPython.display import display as ipython_display

        ipython_display(*objects)
    else:
        for obj in objects:
            print(repr(obj) if not isinstance(obj, str) else obj, flush=True)
