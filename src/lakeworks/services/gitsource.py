"""Cloning a project's git repository, with errors people can act on."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from lakeworks.errors import InvalidInput

# `ext::` and friends run commands; only plain transports are allowed.
_ALLOWED_PROTOCOLS = "file:git:http:https:ssh"
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")


class CloneFailed(Exception):
    """The repository could not be cloned; the message says why, for the project record."""


def check_url(url: str) -> str:
    url = url.strip()
    if not url:
        raise InvalidInput("A git URL is needed to create a project from git.")
    if url.startswith("-") or "\n" in url or "\x00" in url:
        raise InvalidInput(f"{url!r} is not a git URL.")
    scheme = urlsplit(url).scheme
    if scheme and scheme not in ("http", "https", "git", "ssh", "file") and len(scheme) > 1:
        raise InvalidInput(f"Git URLs with scheme {scheme!r} are not allowed.")
    return url


def _host(url: str) -> str:
    if _SCP_LIKE.match(url):
        return url.split("@", 1)[1].split(":", 1)[0]
    return urlsplit(url).hostname or url


MIRROR_HINT = (
    "no internet here? Map the URL to a local mirror with LAKEWORKS_GIT_MIRRORS "
    '(e.g. {"https://github.com/": "/srv/git-mirror/"}) or upload the repository as an archive'
)


def mirrored(url: str, mirrors: Mapping[str, str]) -> str:
    """``url`` with its longest prefix found in ``mirrors`` replaced by that mirror, else
    ``url`` itself. ``{"https://github.com/": "/srv/git/"}`` maps
    ``https://github.com/org/amp.git`` to ``/srv/git/org/amp.git``."""
    matches = [prefix for prefix in mirrors if prefix and url.startswith(prefix)]
    if not matches:
        return url
    prefix = max(matches, key=len)
    return mirrors[prefix] + url[len(prefix) :]


def _remote_endpoint(url: str) -> tuple[str, int] | None:
    """Host and port a clone of ``url`` connects to, or None for a local repository."""
    if _SCP_LIKE.match(url):
        return _host(url), 22
    parts = urlsplit(url)
    defaults = {"http": 80, "https": 443, "git": 9418, "ssh": 22}
    if parts.scheme not in defaults or not parts.hostname:
        return None
    try:
        port = parts.port or defaults[parts.scheme]
    except ValueError:
        return None
    return parts.hostname, port


def check_reachable(url: str, timeout: float) -> None:
    """Fail within ``timeout`` seconds when the host of a remote ``url`` cannot be reached
    (offline installs: compat §14), naming the host and the mirror setting."""
    endpoint = _remote_endpoint(url)
    if endpoint is None:
        return
    host, port = endpoint
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except socket.gaierror as exc:
        raise CloneFailed(
            f"cannot reach {host}: the host name does not resolve ({exc.strerror}); {MIRROR_HINT}"
        ) from exc
    except OSError as exc:
        why = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise CloneFailed(f"cannot reach {host} (port {port}: {why}); {MIRROR_HINT}") from exc


def clone(
    url: str,
    dest: Path,
    *,
    ref: str = "",
    timeout: int = 120,
    mirrors: Mapping[str, str] | None = None,
    connect_timeout: float = 10,
) -> None:
    """Clone ``url`` (or its mirror) into the empty directory ``dest`` (shallow, one branch)."""
    url = mirrored(url, mirrors or {})
    check_reachable(url, connect_timeout)
    args = ["git", "clone", "--depth", "1", "--quiet"]
    if ref:
        if ref.startswith("-"):
            raise InvalidInput(f"{ref!r} is not a git ref.")
        args += ["--branch", ref]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(dest.parent),
        "GIT_TERMINAL_PROMPT": "0",  # never wait for a password nobody will type
        "GIT_ALLOW_PROTOCOL": _ALLOWED_PROTOCOLS,
        "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o ConnectTimeout=10",
        "GIT_HTTP_LOW_SPEED_LIMIT": "1000",
        "GIT_HTTP_LOW_SPEED_TIME": "30",
    }
    try:
        result = subprocess.run(
            [*args, "--", url, str(dest)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CloneFailed(f"Cloning {url} took longer than {timeout} s and was stopped.") from exc
    if result.returncode != 0:
        raise CloneFailed(_explain(url, result.stderr))


def _explain(url: str, stderr: str) -> str:
    text = stderr.strip().splitlines()
    detail = text[-1] if text else "git exited with an error"
    lowered = stderr.lower()
    if "could not resolve host" in lowered or "name or service not known" in lowered:
        return (
            f"cannot reach {_host(url)}: the host name does not resolve ({detail}); {MIRROR_HINT}"
        )
    if "connection refused" in lowered or "timed out" in lowered or "unable to access" in lowered:
        return f"cannot reach {_host(url)}: {detail}; {MIRROR_HINT}"
    if "remote branch" in lowered and "not found" in lowered:
        return f"the branch or tag does not exist: {detail}"
    if "does not appear to be a git repository" in lowered or "not found" in lowered:
        return f"no git repository at {url}: {detail}"
    return f"git clone failed: {detail}"
