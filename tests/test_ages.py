"""How old someone is: the ages a note's dates give, counted for the model, and
`mem ask "How old is Ana?"` answered with the age, not the birthday."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memcli.ask import ages_day
from memcli.cli import app
from memcli.timeparse import with_ages

runner = CliRunner()
ON = datetime(2026, 12, 2)


@pytest.mark.parametrize(
    ("text", "noted", "shown"),
    [
        (
            "Ana was born on 3 March 1990",
            "2024-01-01",
            "Ana was born on 3 March 1990 (36 years old on 2 December 2026)",
        ),
        ("born on December 25th, 1990", "", "born on December 25th, 1990 (35 years old on 2 December 2026)"),
        ("born 1990-12-02", "", "born 1990-12-02 (36 years old on 2 December 2026)"),  # the birthday itself
        ("born in March 1990", "", "born in March 1990 (36 years old on 2 December 2026)"),
        ("born in December 1990", "", "born in December 1990 (35 or 36 years old on 2 December 2026)"),
        ("Ana was born in 1990", "", "Ana was born in 1990 (35 or 36 years old on 2 December 2026)"),
        (
            "Rui turned 40 in 2024",
            "2024-05-01",
            "Rui turned 40 in 2024 (about 42 years old on 2 December 2026)",
        ),
        ("Rui turned 40", "2025-06-01", "Rui turned 40 (about 41 years old on 2 December 2026)"),
        (
            "Our dog is 3 years old",
            "2023-01-01",
            "Our dog is 3 years old (about 6 years old on 2 December 2026)",
        ),
        ("a 5-year-old boy", "2025-03-01", "a 5-year-old (about 6 years old on 2 December 2026) boy"),
    ],
)
def test_dates_of_birth_and_ages_give_the_age_on_a_day(text: str, noted: str, shown: str) -> None:
    assert with_ages(text, noted, ON) == shown


@pytest.mark.parametrize(
    ("text", "noted"),
    [
        ("The baby will be born in 2027", "2026-01-01"),  # not born yet
        ("She was born in 1850", ""),  # no one is that old
        ("Rui is 40 years old", "2026-05-01"),  # noted this year: it says the age already
        ("born in a small town", ""),
        ("The house was built in 1990", ""),
    ],
)
def test_what_gives_no_age_is_left_as_it_is(text: str, noted: str) -> None:
    assert with_ages(text, noted, ON) == text


def test_only_a_question_about_age_counts_ages() -> None:
    assert ages_day("How old is Ana?") is not None
    assert ages_day("What age is my sister?", "2024-06-01T00:00:00Z") == datetime(2024, 6, 1)
    assert ages_day("What is her age now?") is not None
    for question in ("When is Ana's birthday?", "When was Ana born?", "Which page of the book?"):
        assert ages_day(question) is None


@pytest.mark.model
def test_real_model_answers_how_old_with_the_age(tmp_path: Path, real_embedder, real_generator) -> None:
    db = str(tmp_path / "ages.db")

    def mem(*args: str) -> str:
        result = runner.invoke(app, [*args, "--db", db])
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result.stdout

    mem("remember", "My sister Ana was born on 3 March 1990", "--at", "2020-01-05")
    mem("remember", "Ana's birthday is on 3 March; she likes orchids", "--at", "2020-01-06")
    answer = json.loads(mem("ask", "How old is Ana?", "--as-of", "2024-06-01", "--json"))
    assert answer["known"] and "34" in answer["answer"], answer
    today = datetime.now()
    age = today.year - 1990 - ((today.month, today.day) < (3, 3))
    answer = json.loads(mem("ask", "How old is Ana?", "--json"))
    assert answer["known"] and str(age) in answer["answer"], answer
