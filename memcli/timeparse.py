"""Dates and durations as people type them: ISO dates, `yesterday`, `2d`, `3 weeks ago`.

Every stored time is a UTC string `YYYY-MM-DDTHH:MM:SSZ`, which sorts as text.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from .errors import InputError

_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hr": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
    "w": 7 * 86400,
    "week": 7 * 86400,
    "mo": 30 * 86400,
    "month": 30 * 86400,
    "y": 365 * 86400,
    "year": 365 * 86400,
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+?)s?\s*(ago)?\s*$", re.IGNORECASE)
_MAX_SECONDS = 1000 * 365 * 86400


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_str() -> str:
    return format_time(utcnow())


def parse_duration(text: str) -> timedelta:
    """`30d`, `12h`, `2 weeks` -> timedelta."""
    match = _DURATION.match(text or "")
    if not match or match.group(2).lower() not in _UNITS:
        raise InputError(f"bad duration {text!r}: use a number and a unit, e.g. 30d, 12h, 2w")
    seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if seconds <= 0:
        raise InputError(f"duration {text!r} is not positive")
    if seconds > _MAX_SECONDS:
        raise InputError(f"duration {text!r} is too long (at most {_MAX_SECONDS // (365 * 86400):.0f} years)")
    return timedelta(seconds=seconds)


def parse_time(text: str, *, now: datetime | None = None) -> str:
    """A point in time -> stored UTC string.

    Accepts ISO dates and datetimes (naive ones are local time), `now`, `today`,
    `yesterday`, `tomorrow`, and past offsets such as `2d`, `3h`, `2 weeks ago`.
    """
    now = now or utcnow()
    raw = (text or "").strip()
    word = raw.lower()
    local_now = now.astimezone()
    midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    if word == "now":
        return format_time(now)
    if word == "today":
        return format_time(midnight)
    if word == "yesterday":
        return format_time(midnight - timedelta(days=1))
    if word == "tomorrow":
        return format_time(midnight + timedelta(days=1))
    if _DURATION.match(raw):
        return format_time(now - parse_duration(raw))
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InputError(
            f"bad date {text!r}: use an ISO date (2024-05-01, 2024-05-01T14:30), "
            "'yesterday', or an offset like 2d or '3 weeks ago'"
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # naive input means the user's local time
    return format_time(moment)
