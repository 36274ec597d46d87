"""Runtimes as site administrators manage them (services/runtimes.py), called directly: the
admin-only actions refused (and the refusals audited) for everyone else, an admin's build
started once and audited, and a build log followed by byte offset in bounded chunks.

The runtimes live in the test's own directory, built by a build function that fails at once
(the manager's hook for it), so nothing here builds a real runtime or touches the shared
runtime cache."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.services.conftest import account

from lakeworks.entities.audit import AuditEvent, Outcome
from lakeworks.errors import HTTP_STATUS, InvalidInput, NotFound, PermissionDenied
from lakeworks.runtimes import builder
from lakeworks.runtimes.builder import RuntimeBuildError
from lakeworks.runtimes.catalog import Interpreter
from lakeworks.runtimes.manager import RuntimeManager
from lakeworks.services import runtimes
from lakeworks.services.platform import Platform, Principal

Audit = Callable[[Platform, str], list[AuditEvent]]
REFUSED = "Only site administrators manage runtimes."


class FailingBuilds:
    """A runtime build that fails at once, once ``release`` is set; counts the builds."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.release = threading.Event()

    def __call__(self, interpreter: Interpreter, runtimes_dir: Path, output: Any) -> Path:
        self.calls.append(interpreter.python)
        self.release.wait(30)
        raise RuntimeBuildError("no network here")


@pytest.fixture
def builds(fake_platform: Platform, tmp_path: Path) -> FailingBuilds:
    made = FailingBuilds()
    fake_platform.use_runtimes(RuntimeManager(tmp_path / "own-runtimes", build=made))
    return made


@pytest.fixture
def key(fake_platform: Platform, builds: FailingBuilds) -> str:
    keys = fake_platform.runtimes.keys()
    assert keys, "the host has no Python for a runtime"
    return keys[0]


@pytest.fixture
def site_admin(fake_platform: Platform) -> Principal:
    return Principal(user=account(fake_platform, "root", is_admin=True), via="session")


@pytest.fixture
def someone(fake_platform: Platform) -> Principal:
    return Principal(user=account(fake_platform, "someone"), via="session")


def write_log(platform: Platform, key: str, data: bytes) -> Path:
    path = platform.runtimes.state(key).log_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_states_and_stale_are_for_site_admins_only(
    fake_platform: Platform, key: str, site_admin: Principal, someone: Principal
) -> None:
    for call in (runtimes.states, runtimes.stale):
        with pytest.raises(PermissionDenied) as refused:
            call(fake_platform, someone)
        assert refused.value.message == REFUSED
        assert HTTP_STATUS[refused.value.code] == 403

    states = runtimes.states(fake_platform, site_admin)
    assert [s.key for s in states] == fake_platform.runtimes.keys()
    assert {s.state for s in states} <= {"not built", "unavailable"}
    assert runtimes.stale(fake_platform, site_admin) == []


def test_a_build_asked_by_a_non_admin_is_refused_audited_and_not_started(
    fake_platform: Platform,
    key: str,
    builds: FailingBuilds,
    someone: Principal,
    audit_rows: Audit,
) -> None:
    with pytest.raises(PermissionDenied) as refused:
        runtimes.build(fake_platform, someone, key)
    assert refused.value.message == REFUSED

    assert builds.calls == []
    assert not fake_platform.runtimes.is_building(key)
    [event] = audit_rows(fake_platform, "runtime.build")
    assert event.outcome is Outcome.DENIED
    assert event.actor == "someone" and event.target == key
    assert event.detail["error"] == REFUSED


def test_an_admin_build_starts_once_is_audited_and_its_failure_shows(
    fake_platform: Platform,
    key: str,
    builds: FailingBuilds,
    site_admin: Principal,
    audit_rows: Audit,
) -> None:
    if fake_platform.runtimes.state(key).state == "unavailable":
        pytest.skip(f"Python {key} cannot build runtimes on this host")
    first = runtimes.build(fake_platform, site_admin, key)
    again = runtimes.build(fake_platform, site_admin, key)  # while the first one runs

    assert first.state == "building" and again.state == "building"
    builds.release.set()
    deadline = time.monotonic() + 30
    while fake_platform.runtimes.state(key).state == "building":
        assert time.monotonic() < deadline, "the failing build never ended"
        time.sleep(0.05)
    failed = fake_platform.runtimes.state(key)
    assert failed.state == "failed" and failed.reason == "no network here"
    assert len(builds.calls) == 1

    events = audit_rows(fake_platform, "runtime.build")
    assert [(e.outcome, e.actor, e.target) for e in events] == [
        (Outcome.SUCCESS, "root", key),
        (Outcome.SUCCESS, "root", key),
    ]
    assert [e.detail for e in events] == [{"started": True}, {"started": False}]


@pytest.mark.parametrize(
    ("asked", "error", "status"),
    [("3.1", NotFound, 404), ("2.1", InvalidInput, 400), ("3.11-huge", InvalidInput, 400)],
)
def test_an_unknown_or_malformed_runtime_key_is_refused_and_audited_as_failed(
    fake_platform: Platform,
    builds: FailingBuilds,
    site_admin: Principal,
    audit_rows: Audit,
    asked: str,
    error: type[Exception],
    status: int,
) -> None:
    with pytest.raises(error) as refused:
        runtimes.build(fake_platform, site_admin, asked)
    assert isinstance(refused.value, NotFound | InvalidInput)
    assert HTTP_STATUS[refused.value.code] == status
    assert builds.calls == []
    [event] = audit_rows(fake_platform, "runtime.build")
    assert event.outcome is Outcome.FAILED and event.target == asked
    assert event.detail["error"] == refused.value.message


def test_removing_is_for_site_admins_and_a_runtime_that_is_not_built_is_not_found(
    fake_platform: Platform,
    key: str,
    site_admin: Principal,
    someone: Principal,
    audit_rows: Audit,
) -> None:
    name = fake_platform.runtimes.state(key).name
    with pytest.raises(PermissionDenied):
        runtimes.remove(fake_platform, someone, name)
    with pytest.raises(NotFound) as missing:
        runtimes.remove(fake_platform, site_admin, name)
    assert name in missing.value.message

    events = audit_rows(fake_platform, "runtime.remove")
    assert [(e.outcome, e.actor, e.target) for e in events] == [
        (Outcome.DENIED, "someone", name),
        (Outcome.FAILED, "root", name),
    ]


def test_removing_a_built_runtime_deletes_it_and_its_log(
    fake_platform: Platform, key: str, site_admin: Principal, audit_rows: Audit
) -> None:
    state = fake_platform.runtimes.state(key)
    if state.state == "unavailable":
        pytest.skip(f"Python {key} cannot build runtimes on this host")
    state.path.mkdir(parents=True)
    (state.path / builder.MARKER).write_text(json.dumps({"base_prefix": sys.base_prefix}))
    write_log(fake_platform, key, b"built fine\n")
    assert fake_platform.runtimes.state(key).state == "built"

    runtimes.remove(fake_platform, site_admin, state.name)

    assert not state.path.exists() and not state.log_path.exists()
    assert fake_platform.runtimes.state(key).state == "not built"
    [event] = audit_rows(fake_platform, "runtime.remove")
    assert event.outcome is Outcome.SUCCESS and event.detail == {"name": state.name}


def test_anyone_signed_in_follows_a_build_log_from_an_offset(
    fake_platform: Platform, key: str, someone: Principal
) -> None:
    write_log(fake_platform, key, b"Resolving packages\nInstalling numpy\n")

    text, offset, state = runtimes.build_log(fake_platform, someone, key)
    assert text == "Resolving packages\nInstalling numpy\n" and offset == 36
    assert state.key == key

    # Nothing new yet: the same offset comes back with no text.
    assert runtimes.build_log(fake_platform, someone, key, offset)[:2] == ("", 36)

    with state.log_path.open("ab") as log:
        log.write(b"Compiling bytecode\n")
    assert runtimes.build_log(fake_platform, someone, key, offset)[:2] == (
        "Compiling bytecode\n",
        55,
    )
    # A negative offset reads from the start; one past the end reads nothing.
    assert runtimes.build_log(fake_platform, someone, key, -5)[1] == 55
    assert runtimes.build_log(fake_platform, someone, key, 10_000)[:2] == ("", 10_000)


def test_a_missing_log_is_empty_not_an_error(
    fake_platform: Platform, key: str, someone: Principal
) -> None:
    assert runtimes.build_log(fake_platform, someone, key, 12)[:2] == ("", 12)
    assert runtimes.build_log(fake_platform, someone, key, -3)[:2] == ("", 0)


def test_a_long_log_comes_in_chunks_that_join_up_to_the_whole(
    fake_platform: Platform, key: str, someone: Principal
) -> None:
    line = "é-step done\n"  # two bytes for the é: chunks may split it
    whole = line * (runtimes.LOG_CHUNK // len(line.encode()) * 2 + 7)
    write_log(fake_platform, key, whole.encode())

    chunks: list[bytes] = []
    offset = 0
    while True:
        text, next_offset, _ = runtimes.build_log(fake_platform, someone, key, offset)
        if next_offset == offset:
            break
        assert next_offset - offset <= runtimes.LOG_CHUNK
        path = fake_platform.runtimes.state(key).log_path
        chunks.append(path.read_bytes()[offset:next_offset])
        assert text == chunks[-1].decode("utf-8", "replace")
        offset = next_offset

    assert len(chunks) == 3
    assert b"".join(chunks).decode() == whole
    assert offset == len(whole.encode())


def test_the_catalog_is_open_to_everyone_and_filters(fake_platform: Platform) -> None:
    rows = runtimes.catalog_rows(fake_platform, None)
    assert rows, "the catalog lists the host's runtimes"
    assert all({"image_identifier", "edition", "kernel"} <= set(row) for row in rows)
    some_kernel = rows[0]["kernel"]
    filtered = runtimes.catalog_rows(fake_platform, {"kernel": some_kernel})
    assert filtered and all(row["kernel"] == some_kernel for row in filtered)
    assert runtimes.catalog_rows(fake_platform, {"kernel": "Fortran 77"}) == []
    with pytest.raises(InvalidInput) as unknown:
        runtimes.catalog_rows(fake_platform, {"colour": "blue"})
    assert "cannot be filtered by colour" in unknown.value.message
