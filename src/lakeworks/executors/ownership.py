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
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from lakeworks.executors.sandbox import Identity

log = logging.getLogger(__name__)


def hand_over(root: Path, identity: Identity) -> int:
    """Give ``root`` and everything below it to ``identity``; returns how many entries
    changed owner. Nothing to do (and nothing read) unless the server can switch users."""
    if not identity.switch:
        return 0
    changed = 0
    owner = (identity.uid, identity.gid)
    top = os.lstat(root)
    if stat.S_ISLNK(top.st_mode):
        raise OSError(f"{root} is a symbolic link, not a project directory")
    if (top.st_uid, top.st_gid) != owner:
        os.chown(root, *owner, follow_symlinks=False)
        changed += 1
    for _, dirnames, filenames, dir_fd in os.fwalk(root, follow_symlinks=False):
        for name in (*dirnames, *filenames):
            try:
                found = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                if (found.st_uid, found.st_gid) == owner:
                    continue
                if stat.S_ISREG(found.st_mode) and found.st_nlink > 1:
                    log.debug("left %s/%s to uid %s: it has hard links", root, name, found.st_uid)
                    continue
                os.chown(name, *owner, dir_fd=dir_fd, follow_symlinks=False)
                changed += 1
            except FileNotFoundError:  # removed meanwhile by a running workload
                continue
    return changed
