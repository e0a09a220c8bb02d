"""Time expressions in queries: found, resolved against now, and cut from what is searched."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from memcli.timequery import find, has_cue

NOW = datetime(2023, 10, 20, 12, 0, tzinfo=UTC)  # a Friday


@pytest.fixture(autouse=True)
def _utc(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def span(query: str, now: datetime = NOW) -> tuple[str, str, str]:
    found = find(query, now)
    assert found.span is not None, query
    start, end = found.span.stamps()
    return found.text, start[:10], end[:10]


@pytest.mark.parametrize(
    ("query", "text", "start", "end"),
    [
        (
            "What did John attend with his colleagues in March 2023?",
            "What did John attend with his colleagues?",
            "2023-03-01",
            "2023-04-01",
        ),
        (
            "Who did Maria have dinner with on May 3, 2023?",
            "Who did Maria have dinner with?",
            "2023-05-03",
            "2023-05-04",
        ),
        ("what did I do last weekend?", "what did I do?", "2023-10-14", "2023-10-16"),
        ("notes from two weeks ago about the garden", "notes about the garden", "2023-10-02", "2023-10-09"),
        ("dentist appointment yesterday", "dentist appointment", "2023-10-19", "2023-10-20"),
        ("When did Melanie go camping in June?", "When did Melanie go camping?", "2023-06-01", "2023-07-01"),
        (
            "When did we meet in November?",
            "When did we meet?",
            "2022-11-01",
            "2022-12-01",
        ),  # the latest past one
        (
            "What state did Joanna visit in summer 2021?",
            "What state did Joanna visit?",
            "2021-06-01",
            "2021-09-01",
        ),
        ("trips during the summer", "trips", "2023-06-01", "2023-09-01"),
        (
            "How many times has Melanie gone to the beach in 2023?",
            "How many times has Melanie gone to the beach?",
            "2023-01-01",
            "2024-01-01",
        ),
        ("the 2024-03 budget", "budget", "2024-03-01", "2024-04-01"),
        ("meetings before March 2024", "meetings", "0001-01-02", "2024-03-01"),
        ("what happened since last monday", "what happened", "2023-10-16", "2023-10-20"),
        ("what did I eat this morning", "what did I eat", "2023-10-20", "2023-10-20"),
        ("plans for next week", "plans", "2023-10-23", "2023-10-30"),
        ("visits in the last year", "visits", "2022-01-01", "2023-01-01"),
    ],
)
def test_a_time_in_a_query_becomes_a_span_and_leaves_the_words(
    query: str, text: str, start: str, end: str
) -> None:
    assert span(query) == (text, start, end)


def test_parts_of_the_day_keep_their_hours() -> None:
    (morning,) = find("what did I eat this morning", NOW).ranges
    assert morning.stamps() == ("2023-10-20T05:00:00Z", "2023-10-20T12:00:00Z")
    (night,) = find("the noise last night", NOW).ranges
    assert night.stamps() == ("2023-10-19T22:00:00Z", "2023-10-20T05:00:00Z")


@pytest.mark.parametrize(
    "query",
    [
        "where is the spare key",
        "What is Caroline's identity?",
        "Who did Maria have dinner with?",  # a meal is not a time
        "What did Melanie paint recently?",
        "may I borrow the ladder",
        "the 3 kids of Ana",
    ],
)
def test_a_query_without_a_time_is_searched_as_it_is(query: str) -> None:
    found = find(query, NOW)
    assert found.ranges == [] and found.text == query


def test_only_a_query_with_a_time_word_imports_the_parser() -> None:
    assert not has_cue("where is the spare key")
    assert has_cue("what did I do last weekend")
    assert has_cue("notes of 2021")


def test_a_query_that_is_only_a_time_is_searched_whole() -> None:
    found = find("last weekend", NOW)
    assert found.text == "last weekend" and found.span is not None


def test_local_days_are_given_in_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    (day,) = find("dentist yesterday", datetime(2024, 5, 2, 12, 0, tzinfo=UTC)).ranges
    assert day.stamps() == ("2024-05-01T04:00:00Z", "2024-05-02T04:00:00Z")  # EDT, UTC-4
    (winter,) = find("dentist on January 10, 2024", datetime(2024, 5, 2, 12, 0, tzinfo=UTC)).ranges
    assert winter.stamps() == ("2024-01-10T05:00:00Z", "2024-01-11T05:00:00Z")  # EST, UTC-5
