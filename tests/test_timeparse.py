from datetime import UTC, datetime

import pytest

from memcli.errors import InputError
from memcli.timeparse import parse_duration, parse_time

NOW = datetime(2026, 5, 10, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z"),
        ("2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00Z"),
        ("now", "2026-05-10T12:00:00Z"),
        ("2d", "2026-05-08T12:00:00Z"),
        ("3 weeks ago", "2026-04-19T12:00:00Z"),
        ("12h", "2026-05-10T00:00:00Z"),
    ],
)
def test_parse_time(text: str, expected: str) -> None:
    assert parse_time(text, now=NOW) == expected


def test_naive_dates_are_local_and_yesterday_is_before_today() -> None:
    assert parse_time("2024-05-01").startswith("2024-0")
    assert parse_time("yesterday", now=NOW) < parse_time("today", now=NOW) < parse_time("tomorrow", now=NOW)


@pytest.mark.parametrize("bad", ["", "next tuesday", "2024-13-01", "5 parsecs", "-3d", "99999999y"])
def test_bad_times_are_input_errors(bad: str) -> None:
    with pytest.raises(InputError):
        parse_time(bad, now=NOW)


def test_durations() -> None:
    assert parse_duration("30d").days == 30
    assert parse_duration("2 weeks").days == 14
    with pytest.raises(InputError, match="not positive"):
        parse_duration("0d")
    with pytest.raises(InputError, match="at most 1000 years"):
        parse_duration("2000y")
