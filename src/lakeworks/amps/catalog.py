"""The AMP catalog: the AMPs shipped in the package plus the catalogs a site adds.

Catalog files use CML's format (compat §10.6)::

    name: Our prototypes
    entries:
      - title: Fraud detection
        label: fraud-detection
        short_description: Scores card payments.
        long_description: ...
        image_path: images/fraud.png      # relative to the catalog file; remote images are
        tags: [Classification, Python]    # not fetched (offline installs, no CDN)
        git_url: https://git.example.org/amps/fraud.git
        is_prototype: true

An entry may give ``path:`` (a directory next to the catalog file, or absolute) instead of
``git_url``; the shipped AMPs are listed that way in ``builtin/catalog.yaml``. The site's
catalogs come from ``LAKEWORKS_AMP_CATALOGS`` (files, or directories of ``*.yaml``/``*.yml``
files). A catalog that cannot be read is reported on the page, never an error.

Local AMPs are read when the catalog is listed, so their cards show the runtime and resources
they ask for; a git AMP's ``.project-metadata.yaml`` is fetched when someone configures it.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lakeworks import safe_paths
from lakeworks.amps import spec as amp_spec
from lakeworks.config import Settings
from lakeworks.errors import InvalidInput, LakeworksError, NotFound
from lakeworks.runtimes.catalog import Catalog as RuntimeCatalog
from lakeworks.services import gitsource

BUILTIN_CATALOG = Path(__file__).parent / "builtin" / "catalog.yaml"
MAX_CATALOG_BYTES = 1024 * 1024
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
# Variables whose values the configure form masks (CML masks secrets the same way).
SECRET_NAME = re.compile(r"(?i)(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)")


@dataclass(frozen=True)
class Needs:
    """The most any one task of an AMP asks for (what the setup needs free at once)."""

    cpu: float
    memory_gb: float
    gpu: int


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    short_description: str
    long_description: str
    tags: tuple[str, ...]
    catalog: str
    builtin: bool
    git_url: str = ""
    directory: Path | None = None
    image: Path | None = None
    spec: amp_spec.AmpSpec | None = None
    problem: str = ""  # a local AMP whose file is bad: shown on its card

    @property
    def source(self) -> str:
        return self.git_url or str(self.directory)

    @property
    def needs(self) -> Needs | None:
        return needs(self.spec) if self.spec is not None else None

    @property
    def runtime(self) -> str:
        return runtime_label(self.spec) if self.spec is not None else ""


@dataclass
class Catalog:
    entries: list[Entry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def get(self, entry_id: str) -> Entry:
        for entry in self.entries:
            if entry.id == entry_id:
                return entry
        raise NotFound(f"There is no AMP {entry_id!r} in the catalog.")

    def search(self, query: str) -> list[Entry]:
        words = query.lower().split()
        if not words:
            return list(self.entries)
        found = []
        for entry in self.entries:
            text = " ".join(
                [entry.title, entry.short_description, entry.long_description, *entry.tags]
            ).lower()
            if all(word in text for word in words):
                found.append(entry)
        return found


def needs(spec: amp_spec.AmpSpec) -> Needs:
    cpu, memory, gpu = 1.0, 1.0, 0
    for task in spec.tasks:
        f = task.fields
        sizes = [f]
        if isinstance(f.get("default_resources"), dict):
            sizes.append(f["default_resources"])
        for size in sizes:
            cpu = max(cpu, _number(size.get("cpu"), 0))
            memory = max(memory, _number(size.get("memory"), 0))
            gpu = max(gpu, int(_number(size.get("gpu"), 0)))
    return Needs(cpu=cpu, memory_gb=memory, gpu=gpu)


def _number(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def runtime_label(spec: amp_spec.AmpSpec) -> str:
    if not spec.runtimes:
        return "the default Python runtime"
    wanted = spec.runtimes[0]
    return " · ".join(p for p in (wanted.editor, wanted.kernel, wanted.edition) if p)


def load(settings: Settings) -> Catalog:
    """Every catalog entry: the built-in AMPs first, then the site's catalogs in order."""
    catalog = Catalog()
    _read_catalog(BUILTIN_CATALOG, catalog, builtin=True)
    for item in settings.amp_catalogs:
        path = Path(item).expanduser()
        if path.is_dir():
            files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
            if not files:
                catalog.problems.append(f"AMP catalog directory {path} holds no .yaml file.")
            for file in files:
                _read_catalog(file, catalog, builtin=False)
        elif path.is_file():
            _read_catalog(path, catalog, builtin=False)
        else:
            catalog.problems.append(f"AMP catalog {path} does not exist (LAKEWORKS_AMP_CATALOGS).")
    return catalog


def _read_catalog(path: Path, catalog: Catalog, *, builtin: bool) -> None:
    try:
        if path.stat().st_size > MAX_CATALOG_BYTES:
            raise ValueError(f"larger than {MAX_CATALOG_BYTES} bytes")
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        catalog.problems.append(f"AMP catalog {path} cannot be read: {exc}")
        return
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        catalog.problems.append(f"AMP catalog {path}: expected a mapping with a list 'entries'.")
        return
    name = str(data.get("name") or path.stem)
    taken = {e.id for e in catalog.entries}
    for index, raw in enumerate(data["entries"]):
        where = f"AMP catalog {path}, entries[{index}]"
        try:
            entry = _entry(raw, path.parent, name, builtin=builtin, where=where)
        except ValueError as exc:
            catalog.problems.append(f"{where}: {exc}")
            continue
        if entry.id in taken:
            catalog.problems.append(f"{where}: the label {entry.id!r} is listed already; skipped.")
            continue
        taken.add(entry.id)
        catalog.entries.append(entry)


def _text(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    if isinstance(value, dict | list):
        raise ValueError(f"{key} must be text")
    return str(value).strip()


def _entry(raw: Any, base: Path, catalog_name: str, *, builtin: bool, where: str) -> Entry:
    if not isinstance(raw, dict):
        raise ValueError("an entry must be a mapping")
    title = _text(raw, "title")
    if not title:
        raise ValueError("title is missing")
    if raw.get("is_prototype") is False:
        raise ValueError("is_prototype is false (not an AMP); skipped")
    tags = raw.get("tags") or []
    if not isinstance(tags, list):
        raise ValueError("tags must be a list")
    slug = re.sub(r"[^a-z0-9]+", "-", (_text(raw, "label") or title).lower()).strip("-")
    if not slug:
        raise ValueError("label gives no usable id")
    git_url, local = _text(raw, "git_url"), _text(raw, "path")
    if bool(git_url) == bool(local):
        raise ValueError("give either git_url or path")
    directory = None
    spec = None
    problem = ""
    if git_url:
        git_url = gitsource.check_url(git_url) if git_url else ""
    else:
        directory = (base / local).resolve()
        if not directory.is_dir():
            raise ValueError(f"path {directory} is not a directory")
        try:
            spec = read_local(directory)
        except LakeworksError as exc:
            problem = exc.message
    image = None
    image_path = _text(raw, "image_path")
    if image_path and "://" not in image_path:
        candidate = (base / image_path).resolve()
        if candidate.suffix.lower() in IMAGE_TYPES and candidate.is_file():
            image = candidate
    return Entry(
        id=slug,
        title=title,
        short_description=_text(raw, "short_description") or (spec.description if spec else ""),
        long_description=_text(raw, "long_description"),
        tags=tuple(str(t) for t in tags),
        catalog=catalog_name,
        builtin=builtin,
        git_url=git_url,
        directory=directory,
        image=image,
        spec=spec,
        problem=problem,
    )


def read_local(directory: Path) -> amp_spec.AmpSpec:
    if not safe_paths.is_file(directory, amp_spec.FILE_NAME):
        raise InvalidInput(f"{directory} has no {amp_spec.FILE_NAME}.")
    data = safe_paths.read_bytes(directory, amp_spec.FILE_NAME, max_bytes=amp_spec.MAX_FILE_BYTES)
    return amp_spec.parse(data)


def read_git(settings: Settings, git_url: str, git_ref: str = "") -> amp_spec.AmpSpec:
    """Fetch a git AMP's ``.project-metadata.yaml`` (through the site's mirrors) and parse it:
    what the configure form shows before a project exists."""
    url = gitsource.check_url(git_url)
    tmp = Path(tempfile.mkdtemp(prefix="lakeworks-amp-"))
    try:
        try:
            gitsource.clone(
                url,
                tmp / "repo",
                ref=git_ref,
                timeout=settings.git_timeout_seconds,
                mirrors=settings.git_mirrors,
                connect_timeout=settings.git_connect_timeout_seconds,
            )
        except gitsource.CloneFailed as exc:
            raise InvalidInput(f"The AMP could not be fetched from git: {exc}") from exc
        return read_local(tmp / "repo")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass(frozen=True)
class Variable:
    name: str
    default: str
    description: str
    required: bool
    secret: bool


@dataclass(frozen=True)
class RuntimeChoice:
    wanted: str
    identifier: str
    warnings: tuple[str, ...]


def variables(spec: amp_spec.AmpSpec) -> list[Variable]:
    """The variables the configure form asks about (``prompt_user: false`` ones are applied
    silently, as CML does)."""
    return [
        Variable(
            name=v.name,
            default=v.default,
            description=v.description,
            required=v.required,
            secret=bool(SECRET_NAME.search(v.name)),
        )
        for v in spec.environment_variables
        if v.prompt_user
    ]


def runtime_choice(runtimes: RuntimeCatalog, spec: amp_spec.AmpSpec) -> RuntimeChoice:
    """The runtime the AMP's tasks will use here: the one it asks for, or the closest one
    offered, with the warnings that say what differs."""
    warnings: list[str] = []
    warn: Callable[[str], None] = warnings.append
    if spec.runtimes:
        wanted = spec.runtimes[0]
        runtime = runtimes.resolve_kernel(
            wanted.kernel, editor=wanted.editor, edition=wanted.edition, warn=warn
        )
    else:
        runtime = runtimes.resolve(None)
    return RuntimeChoice(
        wanted=runtime_label(spec), identifier=runtime.image_identifier, warnings=tuple(warnings)
    )
