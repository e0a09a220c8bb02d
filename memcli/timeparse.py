"""Dates and durations as people type them: ISO dates, `yesterday`, `2d`, `3 weeks ago`.

Every stored time is a UTC string `YYYY-MM-DDTHH:MM:SSZ`, which sorts as text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
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
# Errors datetime arithmetic and the C time functions raise for a moment outside years 1..9999.
_RANGE_ERRORS = (OverflowError, ValueError, OSError)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _to_utc(moment: datetime) -> datetime:
    """Aware or naive (local wall-clock) datetime -> aware UTC.

    A naive time takes the UTC offset in force on its own date (DST included),
    from the system's time zone rules; near years 1 and 9999 this raises.
    """
    return moment.astimezone(UTC)


def _local_wall(moment: datetime) -> datetime:
    """An aware datetime -> the naive local wall-clock time it shows (system time zone)."""
    return moment.astimezone().replace(tzinfo=None)


def _stamp(utc: datetime) -> str:
    # Not strftime("%Y"): it does not zero-pad years before 1000 on every platform.
    return f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}Z"


def format_time(moment: datetime) -> str:
    """A datetime (naive = local time) -> stored UTC string `YYYY-MM-DDTHH:MM:SSZ`."""
    try:
        return _stamp(_to_utc(moment))
    except _RANGE_ERRORS:
        raise InputError(f"date {moment.isoformat()!r} is out of range") from None


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


def parse_time(text: str, *, now: datetime | None = None, future: bool = False) -> str:
    """A point in time -> stored UTC string.

    Accepts ISO dates and datetimes (naive ones are local time), `now`, `today`,
    `yesterday`, `tomorrow`, past offsets such as `2d`, `3h`, `2 weeks ago`, and
    what people type (memcli.timequery.moment: "last monday", "March 3 2024",
    "05/01/2024", "yesterday 9am"). A date without its year is the latest one
    not after now, or with `future` (an expiry) the next one.
    """
    raw = (text or "").strip()
    try:
        return _stamp(_parse_moment(raw, text, now or utcnow(), future))
    except _RANGE_ERRORS:
        raise InputError(f"date {text!r} is out of range") from None


def _parse_moment(raw: str, text: str, now: datetime, future: bool = False) -> datetime:
    """`parse_time` without the formatting: an aware UTC datetime, or a range error near the limits."""
    word = raw.lower()
    if word == "now":
        return _to_utc(now)
    if word in ("today", "yesterday", "tomorrow"):
        # Local midnight of that day, with the UTC offset in force then (not now: DST may differ).
        midnight = _local_wall(now).replace(hour=0, minute=0, second=0, microsecond=0)
        days = {"today": 0, "yesterday": -1, "tomorrow": 1}[word]
        return _to_utc(midnight + timedelta(days=days))
    duration = _DURATION.match(raw)
    if duration and duration.group(2).lower() in _UNITS:
        return _to_utc(now) - parse_duration(raw)
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        pass
    else:
        return _to_utc(moment)  # naive input means the user's local time, at that date's offset
    if re.fullmatch(r"((?:19|20)\d{2})-(0[1-9]|1[0-2])", raw):  # a month: its first day
        return _to_utc(datetime.fromisoformat(raw + "-01"))
    from .timequery import moment as natural

    found = natural(raw, now, future=future)
    if found is None:
        raise InputError(
            f"bad date {text!r}: use a date such as 2024-05-01, 'March 3 2024', 'last monday', "
            "'yesterday 9am', or an offset like 2d or '3 weeks ago'"
        ) from None
    return found


WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def resolve_dates(text: str, occurred_at: str) -> str:
    """Relative dates ("yesterday", "last month", "next Friday") -> dates, from the episode's time."""
    try:
        day = datetime.strptime(occurred_at[:10], "%Y-%m-%d")
    except ValueError:
        return text

    def on(d: datetime) -> str:
        return f"on {d.day} {d.strftime('%B %Y')}"

    def month(d: datetime, delta: int) -> str:
        index = d.year * 12 + d.month - 1 + delta
        return f"in {datetime(index // 12, index % 12 + 1, 1).strftime('%B %Y')}"

    rules: list[tuple[str, Callable[[re.Match[str]], str]]] = [
        (r"\b(this morning|this afternoon|this evening|tonight|today)\b", lambda m: on(day)),
        (r"\byesterday\b", lambda m: on(day - timedelta(days=1))),
        (r"\btomorrow\b", lambda m: on(day + timedelta(days=1))),
        (r"\b(\d+) days ago\b", lambda m: on(day - timedelta(days=int(m.group(1))))),
        (
            r"\blast week\b",
            lambda m: (
                f"in the week of {(day - timedelta(days=7)).day} "
                f"{(day - timedelta(days=7)).strftime('%B %Y')}"
            ),
        ),
        (
            r"\bnext week\b",
            lambda m: (
                f"in the week of {(day + timedelta(days=7)).day} "
                f"{(day + timedelta(days=7)).strftime('%B %Y')}"
            ),
        ),
        (r"\blast month\b", lambda m: month(day, -1)),
        (r"\bnext month\b", lambda m: month(day, 1)),
        (r"\bthis month\b", lambda m: month(day, 0)),
        (r"\blast year\b", lambda m: f"in {day.year - 1}"),
        (r"\bnext year\b", lambda m: f"in {day.year + 1}"),
        (r"\bthis year\b", lambda m: f"in {day.year}"),
        (
            r"\b(last|next|this) (" + "|".join(WEEKDAYS) + r")\b",
            lambda m: on(_weekday(day, m.group(1).lower(), m.group(2).lower())),
        ),
    ]
    for pattern, replace in rules:
        # "the last Wednesday of the month", "over the next year": a rule, or a span, not a date
        pattern = rf"(?<!\bthe ){pattern}(?!\s+of\b)"
        text = re.sub(pattern, replace, text, flags=re.IGNORECASE)
    return text


def _weekday(day: datetime, which: str, name: str) -> datetime:
    target = WEEKDAYS.index(name)
    if which == "last":
        back = (day.weekday() - target) % 7 or 7
        return day - timedelta(days=back)
    ahead = (target - day.weekday()) % 7
    if which == "next":
        ahead = ahead or 7
    return day + timedelta(days=ahead)


# -- ages ------------------------------------------------------------------------------

_MONTH_NAMES = [
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
]  # fmt: skip
_MONTH = r"(?P<{}>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t|tember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
_ORD = r"(?:st|nd|rd|th)?"
_BIRTH_DATE = (
    rf"(?:(?P<d1>\d{{1,2}}){_ORD}\s+(?:of\s+)?{_MONTH.format('m1')},?\s+(?P<y1>\d{{4}})"
    rf"|{_MONTH.format('m2')}\s+(?P<d2>\d{{1,2}}){_ORD},?\s+(?P<y2>\d{{4}})"
    rf"|{_MONTH.format('m3')},?\s+(?P<y3>\d{{4}})"
    r"|(?P<y4>\d{4})-(?P<m4>\d{2})-(?P<d4>\d{2})"
    r"|(?P<y5>\d{4}))\b"
)
_BORN = re.compile(rf"\bborn(?:\s+(?:on|in))?\s+(?:the\s+)?{_BIRTH_DATE}", re.IGNORECASE)
# "turned 40", "turned 40 in 2024", "is 40 years old", "a 40-year-old"
_TURNED = re.compile(r"\bturned\s+(?P<n>\d{1,3})\b(?:\s+(?:in|on\s+\d{1,2}\s+\w+)\s+(?P<y>\d{4})\b)?", re.I)
# (not the ages put in: "(36 years old on ...)", "35 or 36", "about 42")
_YEARS_OLD = re.compile(
    r"(?<!\()(?<!about )(?<!or )\b(?P<n>\d{1,3})(?:\s+years?\s+old|-years?-old)\b", re.IGNORECASE
)


def _month(name: str | None) -> int | None:
    if not name:
        return None
    key = name.lower().rstrip(".")[:3]
    return next(i for i, full in enumerate(_MONTH_NAMES, 1) if full.startswith(key))


def _age_on(on: datetime, year: int, month: int | None, day: int | None) -> str | None:
    """How old someone born then is on `on`: "36", or "35 or 36" when the birthday is not known."""
    years = on.year - year
    if month is not None and (on.month, on.day if day else 32) < (month, day or 0):
        years -= 1  # not yet had their birthday this year (with only a month: only before it)
    if years < 0 or years > 130:
        return None
    if month is None or (day is None and on.month == month):
        return f"{years - 1} or {years}" if years > 0 else None
    return str(years)


def with_ages(text: str, occurred_at: str, on: datetime) -> str:
    """A note with the ages its dates give, on the day `on`: "born on 3 March 1990"
    -> "born on 3 March 1990 (36 years old on 2 December 2026)", and "turned 40 in
    2024" or "is 40 years old" (noted in 2024) -> "... (about 42 years old on ...)".

    What "how old" asks is arithmetic the small model gets wrong; it is done here,
    and the answer is then checked against the note with its ages."""
    day = f"{on.day} {on.strftime('%B %Y')}"
    try:
        noted = datetime.strptime(occurred_at[:10], "%Y-%m-%d").year
    except ValueError:
        noted = on.year

    def born(m: re.Match[str]) -> str:
        g = m.groupdict()
        year = int(next(g[k] for k in ("y1", "y2", "y3", "y4", "y5") if g[k]))
        month = _month(g["m1"] or g["m2"] or g["m3"]) or (int(g["m4"]) if g["m4"] else None)
        when = g["d1"] or g["d2"] or g["d4"]
        if month is not None and not 1 <= month <= 12:
            return m.group()
        age = _age_on(on, year, month, int(when) if when else None)
        return f"{m.group()} ({age} years old on {day})" if age else m.group()

    def grown(m: re.Match[str]) -> str:
        then = int(m.groupdict().get("y") or noted)
        age = int(m.group("n")) + on.year - then
        if on.year <= then or not 0 < age <= 130:
            return m.group()
        return f"{m.group()} (about {age} years old on {day})"

    text = _BORN.sub(born, text)
    text = _TURNED.sub(grown, text)
    return _YEARS_OLD.sub(grown, text)
