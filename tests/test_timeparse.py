import re
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from memcli.errors import InputError
from memcli.timeparse import format_time, parse_duration, parse_time, resolve_dates

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


@pytest.mark.parametrize(
    "text,expected",
    [  # NOW is Sunday 10 May 2026, noon UTC; the tests run with TZ=UTC
        ("last week", "2026-04-27T00:00:00Z"),  # the start of the week before this one
        ("last monday", "2026-05-04T00:00:00Z"),
        ("March 3 2024", "2024-03-03T00:00:00Z"),
        ("05/01/2024", "2024-05-01T00:00:00Z"),
        ("2024-03", "2024-03-01T00:00:00Z"),
        ("yesterday 9am", "2026-05-09T09:00:00Z"),
        ("3 March", "2026-03-03T00:00:00Z"),  # the latest 3 March
        ("October 13, 2023", "2023-10-13T00:00:00Z"),
        ("two weeks ago", "2026-04-26T12:00:00Z"),
    ],
)
def test_dates_as_people_type_them(text: str, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        assert parse_time(text, now=NOW) == expected
    finally:
        monkeypatch.undo()
        time.tzset()


def test_an_expiry_without_a_year_is_the_next_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        assert parse_time("3 March", now=NOW, future=True) == "2027-03-03T00:00:00Z"
        assert parse_time("next friday", now=NOW, future=True) == "2026-05-15T00:00:00Z"
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize("bad", ["", "the 3rd", "2024-13-01", "5 parsecs", "99999999y"])
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


@pytest.fixture
def local_tz(monkeypatch: pytest.MonkeyPatch):
    """Set the process time zone (TZ + time.tzset()) for one test; restored afterwards."""

    def set_zone(name: str) -> None:
        if not (Path("/usr/share/zoneinfo") / name).exists():
            pytest.skip(f"no zone data for {name}")
        monkeypatch.setenv("TZ", name)
        time.tzset()

    yield set_zone
    monkeypatch.undo()
    time.tzset()


STORED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.mark.parametrize(
    "text,expected",
    [
        ("0999-05-01", "0999-05-01T00:00:00Z"),
        ("0999-05-01T10:00:00Z", "0999-05-01T10:00:00Z"),
        ("0001-01-01T00:00Z", "0001-01-01T00:00:00Z"),
        ("0099-12-31T23:59:59+00:00", "0099-12-31T23:59:59Z"),
        ("9999-12-31", "9999-12-31T00:00:00Z"),
        ("9999-12-31T23:59+00:00", "9999-12-31T23:59:00Z"),
        ("9999-12-31T23:59:59.999999", "9999-12-31T23:59:59Z"),
    ],
)
def test_years_are_four_digits_and_round_trip(local_tz, text: str, expected: str) -> None:
    local_tz("UTC")
    stored = parse_time(text)
    assert stored == expected
    assert parse_time(stored) == stored


def test_early_years_sort_before_later_ones_as_text() -> None:
    early = parse_time("0999-05-01T00:00Z")
    assert STORED.match(early)
    assert early < parse_time("2024-05-01T00:00Z")
    assert format_time(datetime(5, 1, 2, 3, 4, 5, tzinfo=UTC)) == "0005-01-02T03:04:05Z"


@pytest.mark.parametrize(
    "zone,text",
    [
        ("UTC", "0001-01-01T00:00+01:00"),
        ("UTC", "9999-12-31T23:59-01:00"),
        ("UTC", "9999-12-31T23:59:59-00:01"),
        ("Asia/Tokyo", "0001-01-01"),
        ("Asia/Tokyo", "0001-01-01T08:00"),
        ("Europe/Berlin", "0001-01-01"),
        ("America/New_York", "9999-12-31T23:59:59"),
        ("America/New_York", "9999-12-31T20:00"),
    ],
)
def test_dates_beyond_the_limits_are_input_errors(local_tz, zone: str, text: str) -> None:
    local_tz(zone)
    with pytest.raises(InputError, match="out of range") as caught:
        parse_time(text)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("text", ["99999999d", "10000 years ago", "1001y", "9" * 400 + "d"])
def test_huge_offsets_are_input_errors(text: str) -> None:
    with pytest.raises(InputError):
        parse_time(text, now=NOW)


@pytest.mark.parametrize("zone", ["UTC", "Asia/Tokyo", "America/New_York"])
@pytest.mark.parametrize(
    "now,text",
    [
        (datetime(1, 1, 1, tzinfo=UTC), "1s"),
        (datetime(1, 1, 1, tzinfo=UTC), "yesterday"),
        (datetime(9999, 12, 31, 23, tzinfo=UTC), "tomorrow"),
    ],
)
def test_relative_times_beyond_the_limits_are_input_errors(
    local_tz, zone: str, now: datetime, text: str
) -> None:
    local_tz(zone)
    with pytest.raises(InputError, match="out of range"):
        parse_time(text, now=now)


def test_format_time_out_of_range_is_an_input_error() -> None:
    with pytest.raises(InputError, match="out of range"):
        format_time(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))))


@pytest.mark.parametrize(
    "zone,now,word,expected",
    [
        # Berlin: CET (+1) until 2024-03-31 02:00, CEST (+2) after; back to CET on 2024-10-27 03:00.
        ("Europe/Berlin", datetime(2024, 3, 31, 10, tzinfo=UTC), "today", "2024-03-30T23:00:00Z"),
        ("Europe/Berlin", datetime(2024, 3, 31, 10, tzinfo=UTC), "tomorrow", "2024-03-31T22:00:00Z"),
        ("Europe/Berlin", datetime(2024, 4, 1, 10, tzinfo=UTC), "yesterday", "2024-03-30T23:00:00Z"),
        ("Europe/Berlin", datetime(2024, 10, 27, 10, tzinfo=UTC), "today", "2024-10-26T22:00:00Z"),
        ("Europe/Berlin", datetime(2024, 10, 27, 10, tzinfo=UTC), "tomorrow", "2024-10-27T23:00:00Z"),
        ("Europe/Berlin", datetime(2024, 10, 28, 10, tzinfo=UTC), "yesterday", "2024-10-26T22:00:00Z"),
        # New York: EST (-5) until 2024-03-10 02:00, EDT (-4) after.
        ("America/New_York", datetime(2024, 3, 10, 20, tzinfo=UTC), "today", "2024-03-10T05:00:00Z"),
        ("America/New_York", datetime(2024, 3, 11, 20, tzinfo=UTC), "yesterday", "2024-03-10T05:00:00Z"),
        ("America/New_York", datetime(2024, 3, 9, 20, tzinfo=UTC), "tomorrow", "2024-03-10T05:00:00Z"),
    ],
)
def test_local_midnight_uses_the_offset_of_that_day(
    local_tz, zone: str, now: datetime, word: str, expected: str
) -> None:
    local_tz(zone)
    assert parse_time(word, now=now) == expected


def test_today_matches_the_same_date_typed_out(local_tz) -> None:
    local_tz("Europe/Berlin")
    now = datetime(2024, 3, 31, 10, tzinfo=UTC)
    assert parse_time("today", now=now) == parse_time("2024-03-31T00:00") == parse_time("2024-03-31")


@pytest.mark.parametrize(
    "text,expected",
    [
        ("2024-01-15T12:00", "2024-01-15T11:00:00Z"),
        ("2024-07-15T12:00", "2024-07-15T10:00:00Z"),
        ("2024-03-31T02:30", "2024-03-31T00:30:00Z"),  # in the spring gap: as datetime.astimezone() does
        ("2024-10-27T02:30", "2024-10-27T00:30:00Z"),  # in the autumn fold: the first (CEST) one
    ],
)
def test_naive_times_use_the_offset_of_their_date(local_tz, text: str, expected: str) -> None:
    local_tz("Europe/Berlin")
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    "text,noted,expected",
    [
        (
            "saw Ana yesterday and moved last month",
            "2024-03-05T10:00:00Z",
            "saw Ana on 4 March 2024 and moved in February 2024",
        ),
        ("see you next Friday", "2024-03-06T00:00:00Z", "see you on 8 March 2024"),
        ("I finished it last Friday", "2022-01-23T10:00:00Z", "I finished it on 21 January 2022"),
        # a rule or a span is not a date
        (
            "The club meets on the last Wednesday of the month",
            "2026-11-30T00:00:00Z",
            "The club meets on the last Wednesday of the month",
        ),
        ("over the next year", "2026-11-30T00:00:00Z", "over the next year"),
        ("in the last week of May", "2026-11-30T00:00:00Z", "in the last week of May"),
        ("no date here", "not a date", "no date here"),
    ],
)
def test_relative_dates_become_dates_from_when_they_were_noted(text: str, noted: str, expected: str) -> None:
    assert resolve_dates(text, noted) == expected
