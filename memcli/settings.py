"""Every setting of the config file: its type, default, bounds and meaning.

`mem config get/set/list` and the man page read this table, and the code reads
settings through `value()`, so a setting cannot exist without documentation.
A value in the file that is not valid (edited by hand) is ignored for its
default, and `mem config list` and `mem doctor` say so.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from . import config
from .errors import InputError


@dataclass(frozen=True)
class Setting:
    key: str
    type: Any  # str, int or float
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    env: str | None = None  # an environment variable that overrides the file

    def parse(self, text: str) -> Any:
        """A value typed by the user (`mem config set KEY TEXT`), checked."""
        if self.type is str:
            value: Any = text
        else:
            try:
                value = self.type(text)
            except ValueError:
                raise InputError(f"{self.key} takes {self._kind()}, not {text!r}") from None
        return self.check(value)

    def check(self, value: Any) -> Any:
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, self.type) or isinstance(value, bool):
            raise InputError(f"{self.key} takes {self._kind()}, not {value!r}")
        if self.type is float and not math.isfinite(value):
            raise InputError(f"{self.key} takes a finite number, not {value!r}")
        if self.type is str and not value.strip():
            raise InputError(f"{self.key} cannot be empty")
        if self.choices and value not in self.choices:
            raise InputError(f"{self.key} is one of {', '.join(self.choices)}, not {value!r}")
        if self.minimum is not None and value < self.minimum:
            raise InputError(f"{self.key} is at least {self.minimum:g}, not {value!r}")
        if self.maximum is not None and value > self.maximum:
            raise InputError(f"{self.key} is at most {self.maximum:g}, not {value!r}")
        return value

    def _kind(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        kind = {int: "a whole number", float: "a number", str: "text"}[self.type]
        if self.minimum is not None and self.maximum is not None:
            kind += f" from {self.minimum:g} to {self.maximum:g}"
        elif self.minimum is not None:
            kind += f" of at least {self.minimum:g}"
        return kind


SETTINGS: dict[str, Setting] = {
    s.key: s
    for s in [
        Setting(
            "embed_model",
            str,
            "all-MiniLM-L6-v2",
            "The embedding model: all-MiniLM-L6-v2 or a path to a GGUF embedding model. "
            "After a change, run mem reindex.",
            env="MEMCLI_EMBED_MODEL",
        ),
        Setting(
            "generate_model",
            str,
            "qwen2.5-coder-0.5b-instruct",
            "The generation model of ask, chat and consolidate: a name from mem models list "
            "or a path to a GGUF file (mem models use sets it).",
            env="MEMCLI_MODEL",
        ),
        Setting(
            "hybrid_fusion",
            str,
            "score",
            "How hybrid recall merges full-text and vector matches: score (the full-text "
            "relevance and the cosine similarity, both from 0 to 1, added with equal weights) "
            "or rrf (reciprocal-rank fusion, by ranks alone).",
            choices=("score", "rrf"),
        ),
        Setting(
            "timezone",
            str,
            "local",
            "How times are shown: local (the system's time zone, with its UTC offset) or utc. "
            "Times are stored in UTC, and JSON output gives them so.",
            choices=("local", "utc"),
        ),
        Setting(
            "query_time",
            str,
            "boost",
            'What recall does with a time the query names ("last weekend", "in May 2023"): '
            "boost (memories that happened then first), filter (only those) or off (words "
            "as words).",
            choices=("boost", "filter", "off"),
        ),
        Setting(
            "min_score",
            float,
            0.15,
            "recall leaves out memories scoring under this (scores go from 0 to 1). At 0.15 "
            "recall kept 99.9% of the LoCoMo evidence it found (bench/locomo.py, development "
            "half); --min-score sets it for one search, 0 keeps every match.",
            minimum=0.0,
            maximum=1.0,
        ),
        Setting(
            "ask_min_similarity",
            float,
            0.25,
            "mem ask and chat show the model no memory less similar to the question (cosine).",
            minimum=0.0,
            maximum=1.0,
        ),
        Setting(
            "ask_support_similarity",
            float,
            0.5,
            "A memory that shares none of the question's key words is shown to the model "
            "only from this similarity on.",
            minimum=0.0,
            maximum=1.0,
        ),
        Setting(
            "ask_prompt_tokens",
            int,
            768,
            "The size of mem ask's prompt in tokens; it bounds the wait for the first word.",
            minimum=256,
            maximum=32768,
        ),
        Setting(
            "graph_weight",
            float,
            0.0,
            "Hybrid recall: the weight of graph recall, the memories that mention a person, "
            "place or thing the query names (or one related to it), against full text and "
            "vectors; 0 turns it off.",
            minimum=0.0,
            maximum=1.0,
        ),
        Setting(
            "speaker_weight",
            float,
            0.5,
            "Hybrid recall: a turn of a conversation said by a person the query names "
            '("Ana: ...") scores this much more (times 1 + it); 0 turns it off.',
            minimum=0.0,
            maximum=4.0,
        ),
        Setting(
            "profile_tokens",
            int,
            120,
            "How many tokens of every mem ask and mem chat prompt the profile's memories may "
            "take (mem profile); 0 leaves the profile out.",
            minimum=0,
            maximum=4096,
        ),
        Setting(
            "digest_after_days",
            float,
            30.0,
            "mem consolidate writes a digest of the episodes older than this (0: never).",
            minimum=0.0,
            maximum=36500.0,
        ),
        Setting(
            "episode_retention",
            str,
            "keep",
            "keep: episodes stay after their digest; digested: they are erased once a digest holds them.",
            choices=("keep", "digested"),
        ),
        Setting(
            "importance_weight",
            float,
            0.05,
            "Ranking: each importance step above or below 3 adds or takes this share of the score.",
            minimum=0.0,
            maximum=0.5,
        ),
        Setting(
            "recency_weight",
            float,
            0.1,
            "Ranking: the share of the score that decays with age.",
            minimum=0.0,
            maximum=1.0,
        ),
        Setting(
            "half_life_days",
            float,
            90.0,
            "Ranking: the age in days at which the decaying share is halved.",
            minimum=0.001,
            maximum=36500.0,
        ),
        Setting(
            "superseded_factor",
            float,
            0.5,
            "Ranking: the score of a superseded fact is multiplied by this.",
            minimum=0.0,
            maximum=1.0,
        ),
    ]
}


def lookup(key: str) -> Setting:
    try:
        return SETTINGS[key]
    except KeyError:
        raise InputError(f"unknown setting {key!r}: see mem config list") from None


def _from_file(setting: Setting, data: dict[str, Any]) -> tuple[Any, str]:
    if setting.key not in data:
        return setting.default, "default"
    try:
        return setting.check(data[setting.key]), "config"
    except InputError:
        return setting.default, "default (the config's value is not valid)"


def value(key: str) -> Any:
    """The value in force: the environment variable, else the config file, else the default."""
    setting = SETTINGS[key]
    if setting.env and os.environ.get(setting.env):
        return os.environ[setting.env]
    return _from_file(setting, config.load())[0]


def effective() -> list[tuple[Setting, Any, str]]:
    """Every setting with its value in force and where that comes from."""
    data = config.load()
    rows = []
    for setting in SETTINGS.values():
        if setting.env and os.environ.get(setting.env):
            rows.append((setting, os.environ[setting.env], f"env {setting.env}"))
        else:
            rows.append((setting, *_from_file(setting, data)))
    return rows


def problems() -> list[str]:
    """Keys of the config file that are unknown or not valid, for mem doctor."""
    data = config.load()
    found = []
    for key, raw in data.items():
        if key not in SETTINGS:
            found.append(f"config {config.config_path()}: unknown setting {key!r}: mem config unset {key}")
            continue
        try:
            SETTINGS[key].check(raw)
        except InputError as exc:
            found.append(f"config {config.config_path()}: {exc}: mem config set {key} VALUE")
    return found
