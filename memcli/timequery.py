"""Time in queries: "what did I do last weekend?" -> a time range, and the words left to search.

`find(query, now)` looks for the time expressions of a query and resolves each
against `now` (the present, or `--as-of`) into a range of local wall-clock time,
given back as UTC:

- what parsedatetime finds in a sentence (`Calendar.nlp`): "in May 2023", "on
  May 3, 2023", "two weeks ago", "last monday", "yesterday", "this morning",
  "4 years ago". The range is as wide as what was said: a year, a month, a
  week (Monday to Monday), a day, or the part of the day of a time;
- what it does not know, here: "last weekend" (Saturday to Monday), seasons
  ("the summer of 2022", "last winter"; northern hemisphere, by months), a
  year alone ("in 2023"), an ISO month ("2024-03").

A date said without its year is the latest one not after `now` ("in May" asked
in March 2024 is May 2023); "next ..." and "tomorrow" stay in the future.
"since X" and "after X" reach from X to `now`, "before X" and "until X" from
the beginning of time to X. Words that only name a meal or a time of day
("dinner", "noon") are not taken for times.

parsedatetime is imported only when a query has a word that can belong to a
time expression (a month, a weekday, "ago", "last", a year, ...): 25 ms to
import, under a millisecond a query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any


class _Lazy:
    """A pattern compiled when first used: a query without a time word needs only _CUE."""

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._args = (pattern, flags)
        self._compiled: re.Pattern[str] | None = None

    def __getattr__(self, name: str) -> Any:
        if self._compiled is None:
            self._compiled = re.compile(*self._args)
        return getattr(self._compiled, name)


_MONTHS = "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t|tember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
_DAYS = "mon(?:day)?|tue(?:s|sday)?|wed(?:nesday)?|thu(?:rs|rsday)?|fri(?:day)?|sat(?:urday)?|sun(?:day)?"
_CUE = re.compile(
    r"\b(?:ago|last|this|next|past|previous|yesterday|today|tonight|tomorrow|week|weekend|month|year|"
    r"morning|afternoon|evening|night|spring|summer|autumn|fall|winter|since|"
    rf"{_MONTHS}|{_DAYS}|\d{{4}}|\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?)\b",
    re.IGNORECASE,
)
# What parsedatetime reads as a time but a question means as a thing.
_NOT_TIMES = _Lazy(
    r"^(?:(?:at|for|on|by|in|from)\s+)?(?:the\s+)?(?:breakfast|lunch|dinner|supper|noon|midnight|eod|eom|eoy|now|"
    r"morning|afternoon|evening|night|tonight|\d{1,2}|\d{1,3}(?:st|nd|rd|th)?|(?:19|20)\d{2}|may|march|sat|sun|wed)\s*$",
    re.IGNORECASE,
)
_BEFORE = _Lazy(r"\b(since|after|before|until|till|prior to)\s*$", re.IGNORECASE)
_DIRECTION = _Lazy(r"(?:since|after|before|until|till|prior to)\s+", re.IGNORECASE)
_LEAD = _Lazy(r"(?:\s*\b(?:in|on|during|from|of|at|around|over|for|within|the)\b)+\s*$", re.IGNORECASE)
_PART = _Lazy(
    r"\b(?:(this|yesterday|tomorrow|last)\s+(morning|afternoon|evening|night)|(tonight))\b", re.IGNORECASE
)
_SEASONS = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}
_PARTS_OF_DAY = ((5, 12), (12, 17), (17, 22))  # morning, afternoon, evening; the rest is night

_WEEKEND = _Lazy(r"\b(last|this|past|previous)\s+weekend\b", re.IGNORECASE)
_SEASON = _Lazy(
    r"\b(?:(last|this|past|previous)\s+)?(?:the\s+)?(spring|summer|autumn|fall|winter)\b"
    r"(?:\s+(?:of\s+)?((?:19|20)\d{2})\b)?",
    re.IGNORECASE,
)
_ISO = _Lazy(r"\b((?:19|20)\d{2})-(0[1-9]|1[0-2])(?:-(0[1-9]|[12]\d|3[01]))?\b")
_YEAR = _Lazy(r"\b((?:19|20)\d{2})\b")


@dataclass(frozen=True)
class TimeRange:
    """A span of time a query named: [start, end), aware UTC datetimes."""

    start: datetime
    end: datetime
    said: str  # the words that named it

    def stamps(self) -> tuple[str, str]:
        from .timeparse import format_time

        return format_time(self.start), format_time(self.end)


@dataclass
class TimedQuery:
    text: str  # the query without its time expressions: what is searched
    ranges: list[TimeRange] = field(default_factory=list)

    @property
    def span(self) -> TimeRange | None:
        """The one range a search keeps to: the narrowest named (None when none is)."""
        if not self.ranges:
            return None
        return min(self.ranges, key=lambda r: r.end - r.start)


def has_cue(query: str) -> bool:
    return _CUE.search(query) is not None


def find(query: str, now: datetime | None = None) -> TimedQuery:
    """The time ranges a query names, resolved against `now` (aware; default: now)."""
    if not has_cue(query):
        return TimedQuery(query)
    now = (now or datetime.now(UTC)).astimezone()  # local wall clock, with its offset
    local = now.replace(tzinfo=None)
    taken: list[tuple[int, int, datetime, datetime]] = []  # (start, end) of the text, local range

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e, _, _ in taken)

    for m in _WEEKEND.finditer(query):
        back = 7 if m.group(1).lower() != "this" or local.weekday() < 5 else 0
        saturday = _midnight(local) - timedelta(days=local.weekday() - 5 + back)
        taken.append((m.start(), m.end(), saturday, saturday + timedelta(days=2)))
    for m in _PART.finditer(query):
        which, part = (m.group(1) or "this").lower(), (m.group(2) or "night").lower()
        day = _midnight(local) + timedelta(days={"yesterday": -1, "tomorrow": 1, "last": -1}.get(which, 0))
        hours = {"morning": (5, 12), "afternoon": (12, 17), "evening": (17, 22), "night": (22, 29)}[part]
        if which == "last" and part != "night":
            continue  # "last morning": not a time anyone means
        if which == "last" or (m.group(3) is None and part == "night" and which == "this"):
            hours = (22, 29)
        taken.append((m.start(), m.end(), day + timedelta(hours=hours[0]), day + timedelta(hours=hours[1])))
    for m in _SEASON.finditer(query):
        if free(m.start(), m.end()):
            taken.append((m.start(), m.end(), *_season(m.group(1), m.group(2), m.group(3), local)))
    for m in _ISO.finditer(query):
        if free(m.start(), m.end()):
            year, month = int(m.group(1)), int(m.group(2))
            if m.group(3):
                day = datetime(year, month, int(m.group(3)))
                taken.append((m.start(), m.end(), day, day + timedelta(days=1)))
            else:
                taken.append(
                    (m.start(), m.end(), datetime(year, month, 1), _add_months(datetime(year, month, 1), 1))
                )
    for start, end, begin, until in _parsed(query, local, free):
        taken.append((start, end, begin, until))
    for m in _YEAR.finditer(query):  # a year no other expression took
        if free(m.start(), m.end()):
            year = int(m.group(1))
            taken.append((m.start(), m.end(), datetime(year, 1, 1), datetime(year + 1, 1, 1)))
    if not taken:
        return TimedQuery(query)

    ranges: list[TimeRange] = []
    text = query
    for start, end, begin, until in sorted(taken, key=lambda t: -t[0]):  # right to left: offsets hold
        head = text[:start]
        said = query[start:end].strip()
        direction = _BEFORE.search(head)
        if direction:
            word = direction.group(1).lower()
            head = head[: direction.start()]
            if word in ("since", "after"):
                begin, until = (begin if word == "since" else until), local
            else:
                begin, until = datetime(1, 1, 2), begin
            said = f"{word} {said}"
        else:
            lead = _LEAD.search(head)
            if lead:
                head = head[: lead.start()]
        if until <= begin:
            continue
        ranges.append(TimeRange(_utc(begin), _utc(until), said))
        text = head.rstrip() + " " + text[end:].lstrip()
    text = re.sub(r"\s+([?.!,;])", r"\1", " ".join(text.split()))
    return TimedQuery(text if re.search(r"\w", text) else query, ranges[::-1])


def _parsed(query: str, local: datetime, free: Any) -> list[tuple[int, int, datetime, datetime]]:
    """What parsedatetime finds in the query, each as (start, end, local range)."""
    import parsedatetime  # noqa: PLC0415 - 25 ms, only for a query with a time word

    calendar = _calendar(parsedatetime)
    found = calendar.nlp(query, sourceTime=local) or ()
    out = []
    for moment, context, start, end, said in found:
        lead = len(said) - len(said.lstrip())
        start, said = start + lead, said.strip()
        direction = _DIRECTION.match(said)
        if direction:  # parsedatetime reads "before March 2024" as March 2023: parse the date alone
            start, said = start + direction.end(), said[direction.end() :]
            moment, context = calendar.parseDT(said, sourceTime=local)
        if _NOT_TIMES.match(said) or not free(start, end) or not context.hasDateOrTime:
            continue
        begin, until = _widen(moment, context, said, local, parsedatetime.pdtContext)
        out.append((start, end, begin, until))
    return out


_CALENDAR: Any = None


def _calendar(parsedatetime: Any) -> Any:
    global _CALENDAR
    if _CALENDAR is None:
        _CALENDAR = parsedatetime.Calendar(version=parsedatetime.VERSION_CONTEXT_STYLE)
    return _CALENDAR


def _widen(
    moment: datetime, context: Any, said: str, local: datetime, ctx: Any, *, settle: bool = True
) -> tuple[datetime, datetime]:
    """The span a parsed moment stands for, by how precisely it was said; a date said
    without a year is moved into the past when it fell after now (unless not `settle`)."""
    words = said.lower()
    future = re.search(r"\b(next|tomorrow|coming|upcoming|from now|in \d+)\b", words) is not None
    named_year = re.search(r"\b(19|20)\d{2}\b", words) is not None
    relative = re.search(r"\b(ago|last|this|past|previous|yesterday|today|tonight)\b", words) is not None
    if settle and moment > local and not future and not named_year and not relative:
        if context.accuracy & (ctx.ACU_MONTH | ctx.ACU_DAY) and not context.accuracy & ctx.ACU_WEEK:
            moment = (
                moment.replace(year=moment.year - 1)
                if re.search(_MONTHS, words, re.I)
                else moment - timedelta(days=7)
            )
    accuracy = context.accuracy
    if "weekend" in words:
        saturday = _midnight(moment) - timedelta(days=moment.weekday() - 5)
        return saturday, saturday + timedelta(days=2)
    if accuracy & (ctx.ACU_HOUR | ctx.ACU_MIN | ctx.ACU_SEC | ctx.ACU_HALFDAY):
        return _part_of_day(moment)
    if accuracy & ctx.ACU_DAY or re.search(r"\b(yesterday|today|tonight|tomorrow)\b", words):
        return _midnight(moment), _midnight(moment) + timedelta(days=1)
    if accuracy & ctx.ACU_WEEK:
        monday = _midnight(moment) - timedelta(days=moment.weekday())
        return monday, monday + timedelta(days=7)
    if accuracy & ctx.ACU_MONTH:
        first = datetime(moment.year, moment.month, 1)
        return first, _add_months(first, 1)
    if accuracy & ctx.ACU_YEAR:
        if re.search(r"\bago\b", words):  # "4 years ago": that year, around the date
            return moment - timedelta(days=183), moment + timedelta(days=183)
        return datetime(moment.year, 1, 1), datetime(moment.year + 1, 1, 1)
    return _midnight(moment), _midnight(moment) + timedelta(days=1)


def _season(which: str | None, name: str, year: str | None, local: datetime) -> tuple[datetime, datetime]:
    month = _SEASONS[name.lower()]
    if year:
        start = datetime(int(year) - (1 if month == 12 else 0), month, 1)
    else:
        start = datetime(local.year, month, 1)
        while start > local:  # the latest one that has begun
            start = start.replace(year=start.year - 1)
        if which and which.lower() != "this" and start + timedelta(days=92) > local:
            start = start.replace(year=start.year - 1)  # "last summer": the one before this one
    return start, _add_months(start, 3)


def _part_of_day(moment: datetime) -> tuple[datetime, datetime]:
    day = _midnight(moment)
    for first, last in _PARTS_OF_DAY:
        if first <= moment.hour < last:
            return day + timedelta(hours=first), day + timedelta(hours=last)
    if moment.hour >= 22:
        return day + timedelta(hours=22), day + timedelta(hours=29)
    return day - timedelta(hours=2), day + timedelta(hours=5)


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    return moment.replace(year=index // 12, month=index % 12 + 1, day=1)


def _utc(wall: datetime) -> datetime:
    """A local wall-clock time -> aware UTC, at the offset in force then (DST included)."""
    if wall.year < 2:
        return datetime(1, 1, 2, tzinfo=UTC)
    return wall.astimezone(UTC)


def moment(text: str, now: datetime, *, future: bool = False) -> datetime | None:
    """A date as people type it ("last monday", "March 3 2024", "05/01/2024", "yesterday
    9am", "two weeks ago") -> aware UTC: the moment said, or the start of the day,
    week, month or year named; None when the whole text is not one date. A date
    without its year is the latest one not after `now`, or with `future` (an expiry)
    the next one not before it."""
    if not re.search(r"[^\W\d_]|/", text):
        return None
    import parsedatetime  # noqa: PLC0415 - 25 ms, only for a date that is not ISO

    local = now.astimezone().replace(tzinfo=None)
    calendar = _calendar(parsedatetime)
    ctx = parsedatetime.pdtContext
    found = calendar.nlp(text, sourceTime=local) or ()
    covered = "".join(said for *_, said in found)
    if len(found) != 1 or re.sub(r"[\s,.]", "", covered) != re.sub(r"[\s,.]", "", text):
        return None
    when, context = calendar.parseDT(text, sourceTime=local)
    if not context.hasDateOrTime:
        return None
    words = text.lower()
    dated = re.search(r"\b(19|20)\d{2}\b", words) is not None
    relative = re.search(
        r"\b(ago|last|this|next|past|previous|yesterday|today|tomorrow|tonight|from now|in \d+)\b", words
    )
    if not dated and not relative and context.accuracy & (ctx.ACU_MONTH | ctx.ACU_DAY):
        named_month = re.search(_MONTHS, words, re.IGNORECASE) is not None
        step = (
            (lambda d, n: d.replace(year=d.year + n))
            if named_month
            else (lambda d, n: d + timedelta(days=7 * n))
        )
        if not future and when > local:
            when = step(when, -1)
        elif future and when < local:
            when = step(when, 1)
    exact = context.accuracy & (ctx.ACU_HOUR | ctx.ACU_MIN | ctx.ACU_SEC | ctx.ACU_HALFDAY)
    if not exact and not re.search(r"\bago\b", words):
        when = _widen(when, context, text, local, ctx, settle=False)[0]  # the day's, week's, ... start
    return _utc(when)
