"""Handing a project's files to its workloads' user.

A server running as root writes into projects (uploads, templates, git clones, Spark
configuration, build snapshots) as root, while the project's workloads run as the project's
own uid (``sandbox.Identity``) and could only read those files. Before a workload starts,
``hand_over`` gives every entry of the project directory that the workload's user does not own
to that user.

The walk never follows a symbolic link (a workload may have planted them): it goes through
directory descriptors (``os.fwalk``) and changes the owner of the link itself. A regular file
with several hard links is left alone: a link may share its inode with a file outside the
project, and that file must not change hands.

Projects grow large (a ``pip install`` into the project writes tens of thousands of files),
and the walk runs before every start. ``Settled`` remembers the directories whose entries all
belonged to the user at the last walk, with their modification time: a directory whose
entries changed since has a newer one (creating, renaming or linking an entry sets it), so
only the entries of changed directories are looked at again. A directory changed within the
last ``SETTLE_SECONDS`` is not remembered: file times are coarse, and a change made in the
same tick as the walk would leave the time as it was.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections import OrderedDict
from pathlib import Path

from lakeworks.executors.sandbox import Identity

log = logging.getLogger(__name__)

SETTLE_SECONDS = 2.0
REMEMBERED_PROJECTS = 1000


class Settled:
    """Per project directory: ``(device, inode) -> mtime_ns`` of directories whose entries
    all belonged to the workloads' user at the last walk."""

    def __init__(self) -> None:
        self._projects: OrderedDict[str, dict[tuple[int, int], int]] = OrderedDict()
        self._lock = threading.Lock()

    def of(self, root: Path) -> dict[tuple[int, int], int]:
        with self._lock:
            known = self._projects.pop(str(root), {})
            self._projects[str(root)] = known
            while len(self._projects) > REMEMBERED_PROJECTS:
                self._projects.popitem(last=False)
            return known


def hand_over(root: Path, identity: Identity, settled: Settled | None = None) -> int:
    """Give ``root`` and everything below it to ``identity``; returns how many entries
    changed owner. Nothing to do (and nothing read) unless the server can switch users."""
    if not identity.switch:
        return 0
    known = settled.of(root) if settled is not None else {}
    changed = 0
    owner = (identity.uid, identity.gid)
    top = os.lstat(root)
    if stat.S_ISLNK(top.st_mode):
        raise OSError(f"{root} is a symbolic link, not a project directory")
    if (top.st_uid, top.st_gid) != owner:
        os.chown(root, *owner, follow_symlinks=False)
        changed += 1
    recent = time.time_ns() - int(SETTLE_SECONDS * 1e9)
    for _, dirnames, filenames, dir_fd in os.fwalk(root, follow_symlinks=False):
        here = os.fstat(dir_fd)
        key = (here.st_dev, here.st_ino)
        if known.get(key) == here.st_mtime_ns:
            continue  # no entry came or went since every one was the user's
        done = True
        for name in (*dirnames, *filenames):
            try:
                found = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                if (found.st_uid, found.st_gid) == owner:
                    continue
                if stat.S_ISREG(found.st_mode) and found.st_nlink > 1:
                    log.debug("left %s/%s to uid %s: it has hard links", root, name, found.st_uid)
                    done = False
                    continue
                os.chown(name, *owner, dir_fd=dir_fd, follow_symlinks=False)
                changed += 1
            except FileNotFoundError:  # removed meanwhile by a running workload
                continue
        if done and here.st_mtime_ns < recent:
            known[key] = here.st_mtime_ns
        else:
            known.pop(key, None)
    return changed
