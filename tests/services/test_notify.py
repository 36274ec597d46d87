"""Email about a finished job run (services/notify.py) sent to a real SMTP listener on
127.0.0.1 (aiosmtpd in a thread): who gets it by status, what it says, no email without a host,
and a mail server that refuses or is down never raising into the scheduler."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import Message as EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPProtocol
from aiosmtpd.smtp import Envelope, Session

from lakeworks.config import Settings
from lakeworks.entities.jobs import Job, JobRun, Recipient, RunStatus, ScheduleKind, Trigger
from lakeworks.services import notify
from lakeworks.services.platform import Platform
from lakeworks.store.uow import Store

PORTS = range(9500, 9520)  # this suite's own port range
STARTED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass
class Mailbox:
    """What the listener was handed, and what it answers to RCPT and DATA."""

    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    refuse_rcpt: str = ""  # e.g. "550 5.1.1 No such mailbox"
    refuse_data: str = ""  # e.g. "554 5.7.1 Rejected as spam"

    async def handle_RCPT(
        self,
        server: SMTPProtocol,
        session: Session,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> str:
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPProtocol, session: Session, envelope: Envelope) -> str:
        if self.refuse_data:
            return self.refuse_data
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.messages.append((envelope.mail_from or "", list(envelope.rcpt_tos), content))
        return "250 Message accepted"

    def only(self) -> EmailMessage:
        import email

        assert len(self.messages) == 1, self.messages
        return email.message_from_bytes(self.messages[0][2])


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    for port in PORTS:
        if _port_free(port):
            return port
    pytest.skip("no free port in 9500-9519")


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def mail_platform(settings: Settings, store: Store, port: int, **extra: object) -> Platform:
    update: dict[str, object] = {"smtp_host": "127.0.0.1", "smtp_port": port}
    update.update(extra)
    return Platform(settings.model_copy(update=update), store)


def job(*recipients: Recipient, name: str = "Nightly report") -> Job:
    return Job(
        id="job1",
        project_id="proj1",
        name=name,
        script="report.py",
        arguments="--day 2026-01-05",
        runtime_identifier="",
        cpu=1.0,
        memory_mb=512,
        environment={},
        timeout_seconds=0,
        kill_on_timeout=True,
        schedule_kind=ScheduleKind.MANUAL,
        schedule="",
        timezone="UTC",
        parent_id=None,
        paused=False,
        recipients=list(recipients),
    )


def run(status: RunStatus, *, reason: str = "", seconds: float | None = 42.5) -> JobRun:
    return JobRun(
        id="run1",
        job_id="job1",
        project_id="proj1",
        status=status,
        trigger=Trigger.SCHEDULE,
        user_id=1,
        username="owner",
        arguments="--day 2026-01-05",
        environment={},
        workload_id=None,
        parent_run_id=None,
        scheduled_for=None,
        created_at=STARTED,
        starting_at=STARTED,
        running_at=STARTED,
        finished_at=None if seconds is None else STARTED + timedelta(seconds=seconds),
        exit_code=None,
        reason=reason,
        cpu=1.0,
        memory_mb=512,
    )


TEAM = Recipient("team@example.org")  # the default: failures and timeouts
ALL = Recipient("all@example.org", on_success=True, on_failure=True, on_timeout=True, on_stop=True)
SUCCESS_ONLY = Recipient("boss@example.org", on_success=True, on_failure=False, on_timeout=False)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (RunStatus.SUCCEEDED, ["all@example.org", "boss@example.org"]),
        (RunStatus.FAILED, ["team@example.org", "all@example.org"]),
        (RunStatus.TIMEDOUT, ["team@example.org", "all@example.org"]),
        (RunStatus.STOPPED, ["all@example.org"]),
    ],
)
def test_each_status_goes_to_the_recipients_who_asked_for_it(
    settings: Settings,
    store: Store,
    mailbox: tuple[Mailbox, int],
    status: RunStatus,
    expected: list[str],
) -> None:
    box, port = mailbox
    platform = mail_platform(settings, store, port, smtp_from="lakeworks@example.org")

    sent = notify.run_finished(platform, job(TEAM, ALL, SUCCESS_ONLY), run(status))

    assert sent == expected
    mail_from, rcpt_tos, _ = box.messages[0]
    assert mail_from == "lakeworks@example.org"
    assert rcpt_tos == expected
    message = box.only()
    assert message["To"] == ", ".join(expected)
    assert message["Subject"] == f"[Lakeworks] Job 'Nightly report' {status.value}"


def test_nobody_asked_for_a_success_so_nothing_is_sent(
    settings: Settings, store: Store, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    platform = mail_platform(settings, store, port)
    assert notify.run_finished(platform, job(TEAM), run(RunStatus.SUCCEEDED)) == []
    assert notify.run_finished(platform, job(), run(RunStatus.FAILED)) == []
    # A run that has not ended (or was skipped) is nobody's business.
    assert notify.run_finished(platform, job(ALL), run(RunStatus.RUNNING)) == []
    assert notify.run_finished(platform, job(ALL), run(RunStatus.SKIPPED)) == []
    assert box.messages == []


def test_the_body_says_what_ran_how_it_ended_and_where_to_look(
    settings: Settings, store: Store, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    platform = mail_platform(settings, store, port)

    notify.run_finished(
        platform, job(TEAM), run(RunStatus.FAILED, reason="exited with code 3", seconds=42.5)
    )

    body = box.only().get_payload(decode=True)
    assert isinstance(body, bytes)
    lines = body.decode().splitlines()
    link = f"{platform.settings.base_url}/projects/proj1/jobs/job1/runs/run1"
    assert lines == [
        "Job: Nightly report",
        "Run: run1 (schedule)",
        "Status: failed",
        "Reason: exited with code 3",
        "Duration: 42.5 s",
        "Script: report.py --day 2026-01-05",
        "",
        f"Details and logs: {link}",
    ]


def test_a_run_without_reason_duration_or_arguments_leaves_those_lines_out(
    settings: Settings, store: Store, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    platform = mail_platform(settings, store, port)
    never_ran = replace(run(RunStatus.STOPPED, seconds=None), arguments="")

    assert notify.run_finished(platform, job(ALL), never_ran) == ["all@example.org"]

    body = box.only().get_payload(decode=True)
    assert isinstance(body, bytes)
    lines = body.decode().splitlines()
    assert not [line for line in lines if line.startswith(("Reason:", "Duration:"))]
    assert "Script: report.py" in lines  # no trailing space where the arguments were


def test_a_quote_in_the_job_name_is_shown_quoted_in_the_subject(
    settings: Settings, store: Store, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    platform = mail_platform(settings, store, port)
    notify.run_finished(platform, job(TEAM, name="Bob's ETL"), run(RunStatus.FAILED))
    assert box.only()["Subject"] == '[Lakeworks] Job "Bob\'s ETL" failed'


def test_no_smtp_host_means_no_email(
    settings: Settings, store: Store, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    platform = Platform(settings.model_copy(update={"smtp_host": "", "smtp_port": port}), store)
    assert notify.run_finished(platform, job(ALL), run(RunStatus.FAILED)) == []
    assert box.messages == []


def test_a_mail_server_that_is_down_is_logged_not_raised(
    settings: Settings, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    port = _free_port()  # nothing listens there
    platform = mail_platform(settings, store, port)
    with caplog.at_level(logging.ERROR, logger="lakeworks.services.notify"):
        assert notify.run_finished(platform, job(TEAM), run(RunStatus.FAILED)) == []
    assert "could not email the outcome of run run1" in caplog.text
    assert "team@example.org" in caplog.text


@pytest.mark.parametrize(
    ("refusal", "reply"),
    [("refuse_rcpt", "550 5.1.1 No such mailbox"), ("refuse_data", "554 5.7.1 Rejected")],
)
def test_a_mail_server_that_refuses_is_logged_not_raised(
    settings: Settings,
    store: Store,
    mailbox: tuple[Mailbox, int],
    caplog: pytest.LogCaptureFixture,
    refusal: str,
    reply: str,
) -> None:
    box, port = mailbox
    setattr(box, refusal, reply)
    platform = mail_platform(settings, store, port)
    with caplog.at_level(logging.ERROR, logger="lakeworks.services.notify"):
        assert notify.run_finished(platform, job(TEAM), run(RunStatus.FAILED)) == []
    assert box.messages == []
    assert "could not email the outcome of run run1" in caplog.text


def test_a_login_the_server_does_not_offer_is_logged_not_raised(
    settings: Settings,
    store: Store,
    mailbox: tuple[Mailbox, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The listener offers no AUTH (and no STARTTLS): asking for either fails the send."""
    box, port = mailbox
    for extra in ({"smtp_username": "mailer", "smtp_password": "pw"}, {"smtp_starttls": True}):
        platform = mail_platform(settings, store, port, **extra)
        with caplog.at_level(logging.ERROR, logger="lakeworks.services.notify"):
            assert notify.run_finished(platform, job(TEAM), run(RunStatus.FAILED)) == []
    assert box.messages == []
    assert caplog.text.count("could not email the outcome of run run1") == 2
