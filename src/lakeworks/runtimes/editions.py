"""Runtime editions: which packages a runtime carries (CML compat §1.6).

CML describes a runtime by editor, kernel and edition (``Standard``, and others). Lakeworks has
two editions, each a lock file built the same way (``builder``):

- **Standard** (``base-requirements.txt``): the scientific stack CML's Standard runtimes carry
  (pandas, scikit-learn, the full MLflow 2, Spark, Streamlit, the data libraries).
- **Lean** (``lean-requirements.txt``): only what the platform's own libraries and editors need
  (IPython, Jupyter, nbclient, the MLflow 2 client, requests, packaging), for projects that
  install their own, often older, versions of everything else.

A runtime is named by its Python and edition with a *key*: ``"3.11"`` for Standard (the key
existing installations, URLs and build logs already use) and ``"3.11-lean"`` for another
edition. The ``RuntimeManager`` builds, tracks and removes runtimes by key.

Example::

    key = runtime_key("3.11", LEAN)  # "3.11-lean"
    python, edition = parse_key(key)  # ("3.11", LEAN)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lakeworks.errors import InvalidInput

_HERE = Path(__file__).parent


@dataclass(frozen=True)
class Edition:
    name: str  # as CML's catalog shows it: "Standard"
    slug: str  # in identifiers, keys and directory names: "standard"
    requirements: Path  # the lock the runtime is built from
    imports: tuple[str, ...]  # what a built runtime must import before it is accepted
    summary: str  # what it carries, for the catalog's description


STANDARD = Edition(
    name="Standard",
    slug="standard",
    requirements=_HERE / "base-requirements.txt",
    imports=(
        "IPython",
        "ipykernel",
        "nbclient",
        "nbformat",
        "pandas",
        "sklearn",
        "mlflow",
        "jupyterlab",
        "jupyter_server_terminals",
        "pyspark",
        "streamlit",
        "flask",
        "requests",
        "packaging",
        "pip",
    ),
    summary="IPython, Jupyter, pandas, scikit-learn and MLflow 2",
)
LEAN = Edition(
    name="Lean",
    slug="lean",
    requirements=_HERE / "lean-requirements.txt",
    imports=(
        "IPython",
        "ipykernel",
        "nbclient",
        "nbformat",
        "mlflow",
        "jupyterlab",
        "jupyter_server_terminals",
        "requests",
        "packaging",
        "pip",
    ),
    summary="IPython, Jupyter and the MLflow 2 client only (install your own packages)",
)
EDITIONS = (STANDARD, LEAN)

_KEY = re.compile(r"^(?P<python>3\.\d{1,2})(?:-(?P<slug>[a-z][a-z0-9]{0,30}))?$")


def by_slug(slug: str) -> Edition | None:
    """The edition named ``slug`` (``"lean"``; case-insensitive), or None."""
    wanted = slug.strip().lower()
    return next((e for e in EDITIONS if e.slug == wanted), None)


def by_name(name: str) -> Edition | None:
    """The edition whose catalog name (``"Lean"``) or slug is ``name`` (case-insensitive)."""
    wanted = name.strip().lower()
    return next((e for e in EDITIONS if wanted in (e.name.lower(), e.slug)), None)


def runtime_key(python: str, edition: Edition = STANDARD) -> str:
    """``"3.11"`` for Standard, ``"3.11-<slug>"`` for another edition."""
    return python if edition is STANDARD else f"{python}-{edition.slug}"


def parse_key(key: str) -> tuple[str, Edition]:
    """``(python, edition)`` of a runtime key; ``InvalidInput`` for a malformed key or an
    unknown edition."""
    match = _KEY.match(key or "")
    if match is None:
        raise InvalidInput(
            f"{key!r} names no runtime: expected a Python such as 3.11 or 3.11-lean."
        )
    if match["slug"] is None:
        return match["python"], STANDARD
    edition = by_slug(match["slug"])
    if edition is None or edition is STANDARD:
        known = ", ".join(e.slug for e in EDITIONS if e is not STANDARD)
        raise InvalidInput(f"{key!r}: no edition {match['slug']!r} (editions: {known}).")
    return match["python"], edition
