"""Email about job runs to the job's report recipients (SMTP settings; off when no host)."""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage

from lakeworks.entities.jobs import Job, JobRun
from lakeworks.services.platform import Platform

log = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 10


def run_finished(platform: Platform, job: Job, run: JobRun) -> list[str]:
    """Send the run's outcome to every recipient who asked for it; returns the addresses.

    A mail server that is down must not break the scheduler: failures are logged, not raised.
    """
    settings = platform.settings
    recipients = [r.email for r in job.recipients if r.wants(run.status)]
    if not recipients or not settings.smtp_host:
        return []
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(recipients)
    message["Subject"] = f"[Lakeworks] Job {job.name!r} {run.status.value}"
    link = f"{settings.base_url}/projects/{job.project_id}/jobs/{job.id}/runs/{run.id}"
    duration = run.duration_seconds
    message.set_content(
        "\n".join(
            [
                f"Job: {job.name}",
                f"Run: {run.id} ({run.trigger.value})",
                f"Status: {run.status.value}",
                *([f"Reason: {run.reason}"] if run.reason else []),
                *([f"Duration: {duration:.1f} s"] if duration is not None else []),
                f"Script: {job.script} {run.arguments}".rstrip(),
                "",
                f"Details and logs: {link}",
            ]
        )
    )
    try:
        with smtplib.SMTP(
            settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS
        ) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password)
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException):
        log.exception("could not email the outcome of run %s to %s", run.id, recipients)
        return []
    return recipients
