from datetime import UTC, datetime, timedelta

import pytest

from lakeworks.ui.filters import ago

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (timedelta(seconds=-10), "just now"),
        (timedelta(seconds=10), "in a moment"),
        # 45-59 s used to fall through every unit and read "just now", also for the future.
        (timedelta(seconds=46), "in 1 minute"),
        (timedelta(seconds=-50), "1 minute ago"),
        (timedelta(minutes=15), "in 15 minutes"),
        (timedelta(hours=-3), "3 hours ago"),
        (timedelta(days=2), "in 2 days"),
        (timedelta(days=-40), "2026-10-15"),
    ],
)
def test_ago_reads_relative_times(offset: timedelta, expected: str) -> None:
    assert ago(NOW + offset, now=NOW) == expected


def test_ago_of_nothing_is_never() -> None:
    assert ago(None) == "never"
