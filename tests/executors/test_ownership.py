"""Handing a project's files to its workloads' user (``executors/ownership.py``): as root
only, where the server writes as root and workloads run as the project's uid."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lakeworks.executors.ownership import Settled, hand_over
from lakeworks.executors.sandbox import Identity

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")
USER = Identity(1_234_567_891, 1_234_567_891, switch=True)


def owner(path: Path) -> int:
    return path.lstat().st_uid


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "data" / "deep").mkdir(parents=True)
    (root / "data" / "deep" / "upload.csv").write_text("a,b\n")
    (root / "script.py").write_text("print(1)\n")
    os.mkfifo(root / "pipe")
    return root


def test_every_entry_goes_to_the_user_and_no_link_is_followed(
    project: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "secret_key"
    outside.write_text("server only")
    (project / "leak").symlink_to(outside)
    (project / "leak-dir").symlink_to(tmp_path)
    (project / "hard").hardlink_to(outside)

    changed = hand_over(project, USER)

    for path in (project, project / "data", project / "data" / "deep" / "upload.csv"):
        assert owner(path) == USER.uid
    assert owner(project / "pipe") == owner(project / "leak") == USER.uid  # the link itself
    assert owner(outside) == owner(tmp_path) == 0  # nothing outside changed hands
    assert owner(project / "hard") == 0  # a hard link shares its inode with the outside
    assert changed == 8  # the project, data, deep, upload.csv, script.py, pipe, both links


def test_nothing_happens_when_the_server_cannot_switch_users(project: Path) -> None:
    assert hand_over(project, Identity(os.getuid(), os.getgid(), switch=False)) == 0
    assert owner(project / "script.py") == 0


def test_settled_directories_are_looked_at_again_only_when_they_change(project: Path) -> None:
    settled = Settled()
    hand_over(project, USER, settled)
    assert hand_over(project, USER, settled) == 0
    # Changed within the settle time: remembered only once old enough (coarse file times).
    past = 1_000_000_000 * 1_000_000_000
    for directory in (project, project / "data", project / "data" / "deep"):
        os.utime(directory, ns=(past, past))
    hand_over(project, USER, settled)
    # Remembered: unchanged directories' entries are not looked at (a chown is no change of
    # the directory; nobody but this walk changes owners there).
    os.chown(project / "script.py", 0, 0)
    assert hand_over(project, USER, settled) == 0 and owner(project / "script.py") == 0
    assert hand_over(project, USER, Settled()) == 1  # a fresh walk looks at everything

    (project / "data" / "deep" / "new.csv").write_text("by the file API")
    (project / "data" / "deep" / "upload.csv").write_text("rewritten in place: still the user's")
    changed = hand_over(project, USER, settled)

    assert changed == 1 and owner(project / "data" / "deep" / "new.csv") == USER.uid
    assert owner(project / "data" / "deep" / "upload.csv") == USER.uid
