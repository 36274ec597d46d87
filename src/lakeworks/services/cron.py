"""Cron expressions: validation with a useful message, next fire times, a human reading."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cron_descriptor import Options, get_description
from croniter import CroniterBadCronError, CroniterBadDateError, croniter

from lakeworks.errors import InvalidInput

DEFAULT_TIMEZONE = "America/Los_Angeles"  # CML's documented default for job schedules


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(
            f"{name!r} is not a time zone; use an IANA name such as 'Europe/Madrid' or 'UTC'."
        ) from exc


def validate(expression: str) -> str:
    """Return the normalised expression or raise InvalidInput saying what is wrong."""
    expression = " ".join(expression.split())
    fields = expression.split(" ")
    if len(fields) != 5:
        raise InvalidInput(
            f"{expression!r} is not a cron schedule: it needs 5 fields "
            "(minute hour day-of-month month day-of-week), e.g. '0 9 * * 1-5'."
        )
    try:
        schedule = croniter(expression, datetime(2000, 1, 1, tzinfo=UTC))
    except (CroniterBadCronError, CroniterBadDateError, ValueError, KeyError) as exc:
        raise InvalidInput(f"{expression!r} is not a valid cron schedule: {exc}") from exc
    try:
        # Each field can be valid while together they name no date (30 February): such a
        # job would never run, and computing its next fire fails.
        schedule.get_next(datetime)
    except CroniterBadDateError as exc:
        raise InvalidInput(
            f"{expression!r} never fires: no date has that day of the month in those months."
        ) from exc
    return expression


def next_fire(expression: str, timezone: str, after: datetime) -> datetime:
    """The first fire strictly after ``after``, in UTC (computed in the job's time zone)."""
    local = after.astimezone(zone(timezone))
    fire: datetime = croniter(expression, local).get_next(datetime)
    return fire.astimezone(UTC)


def describe(expression: str) -> str:
    """'At 09:00 AM, Monday through Friday' (empty when the expression cannot be read)."""
    options = Options()
    options.use_24hour_time_format = True
    try:
        return str(get_description(expression, options))
    except Exception:
        return ""
