"""Does a text hold anything its sources lack? The check behind `mem ask`'s answers
(and, for consolidation and chat, behind a fact drawn from an episode).

Small local models answer from a memory and add to it: "What flowers should I buy
Ana?" over "Ana's birthday is on 3 March; she likes orchids" came back as "Ana
should buy roses." The check is word by word, model-free, and errs towards "not
supported" (an answer withdrawn costs a retry or an "I don't know"; an invented
one costs the user's trust):

- names (capitalised words, but a sentence's first word only when it is not an
  ordinary word), numbers (digits, number words: "three" is "3", "3rd" is "3")
  and date parts (months, weekdays, "tomorrow", "week"...) must all occur in the
  sources, compared case-insensitively and by their stems;
- content words (all the others but stop words and filler such as "located",
  "the user", "according") must occur in the sources by stem (`search.stem`, or
  with a light suffix rule: "parked" is "park", "liked" is "likes"). A word taken
  from the question is allowed but is not evidence. Paraphrase: with an `embed`
  function, missing content words are accepted when they are at most a quarter
  of the answer's own content words (PARAPHRASE_SHARE) and every answer sentence
  holding one has cosine >= PARAPHRASE_SIMILARITY with a source sentence. The
  share keeps a substituted answer out however similar it reads: in "Ana should
  buy roses" the one new word is the invented one;
- with the question: the answer must hold something of its own (a word, name,
  number or date found in the sources and not in the question: "Biscuit is a
  dog" to "What is my dog allergic to?" only restates who the dog is); a
  "when" question needs a date or number, a "how many / much / old / long" one
  a number; and the question's subject (its names, and the first word after
  "my", "our", "your" or "the") must be in the memory the answer's words come
  from, so a note about the car does not answer "Where did I park the bike?".
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .search import STOPWORDS, stem

# Cosine of all-MiniLM-L6-v2 sentence vectors: paraphrase pairs measured 0.83 on
# average, unrelated ones 0.07 (MODELS.md).
PARAPHRASE_SIMILARITY = 0.7
# At most this share of an answer's own content words may be paraphrase.
PARAPHRASE_SHARE = 0.25

MONTHS = "january february march april may june july august september october november december".split()
_MONTH_ABBR = {m[:3]: m for m in MONTHS} | {"sept": "september"}
WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_WEEKDAY_ABBR = {"mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun"}
TIME_WORDS = frozenset(
    """yesterday today tomorrow tonight weekend morning mornings afternoon afternoons evening
    evenings night nights noon midnight week weeks month months year years fortnight daily weekly
    monthly yearly annually ago""".split()
)
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        """zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen
        fifteen sixteen seventeen eighteen nineteen twenty""".split()
    )
} | {
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "sixty": "60",
    "seventy": "70",
    "eighty": "80",
    "ninety": "90",
    "hundred": "100",
    "thousand": "1000",
    "dozen": "12",
    "twice": "2",
    "first": "1",
    "second": "2",
    "third": "3",
    "fourth": "4",
    "fifth": "5",
    "sixth": "6",
    "seventh": "7",
    "eighth": "8",
    "ninth": "9",
    "tenth": "10",
    "eleventh": "11",
    "twelfth": "12",
}
_ALIASES = {"doctor": "dr", "mister": "mr", "missus": "mrs", "street": "st", "avenue": "ave", "road": "rd"}
# Words that carry no fact of their own in an answer: how it refers to the
# memories or the user, and verbs small models add around a copied fact.
FILLER = STOPWORDS | frozenset(
    """name names named called call kind type sort thing things time times much many long often ever
    usually tell know remember may might shall say said says s t d ll ve re m one ones also yes no yeah sure
    user users memory memories note notes noted mention mentions mentioned according answer
    stated states state record recorded seem seems appear appears
    located location placed kept keep keeps stored scheduled planned set going go goes went
    held happen happens happening take takes taking need needs must currently actually
    don doesn didn isn aren wasn weren won haven hasn hadn can cannot couldn shouldn wouldn""".split()
)
# A question's first word that makes it a yes/no question.
_AUXILIARIES = frozenset(
    "is are am was were do does did can could will would should shall have has had may might must".split()
)
_SUBJECT_MARKERS = frozenset("my our your the".split())
_ASKS_A_NAME = frozenset("who whom whose where which name names named called".split())
_WHEN = re.compile(
    r"\bwhen\b|\bwhat (time|date|day|year|month)\b|\bwhich (day|date|year|month)\b|\bhow long ago\b"
)
_HOW_MANY = re.compile(r"\bhow (many|much|old|long|far)\b|\bnumber\b")
_CITATION = re.compile(r"\[[^\]\n]{1,40}\]")
_SENTENCE = re.compile(r"[^.!?;\n]+")
_WORD = re.compile(r"\w+", re.UNICODE)
_ORDINAL = re.compile(r"^(\d+)(st|nd|rd|th)$")
_SUFFIXES = (("ies", "y"), ("ied", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""), ("ly", ""))


@dataclass
class Support:
    """How far a text is held by its sources."""

    ok: bool
    missing: list[str] = field(default_factory=list)  # its words the sources lack, as written
    reason: str = ""  # why it is not supported ("" when it is)
    closest: int | None = None  # the index of the source that holds most of its words


@dataclass(frozen=True)
class _Token:
    text: str  # as written
    kind: str  # "name", "number", "date" or "word"
    forms: frozenset[str]  # what is compared with the sources' forms
    sentence: int


def light(word: str) -> str:
    """Drop one common English suffix: "parked" -> "park", "likes" and "like" -> "lik", "cities" -> "city"."""
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + replacement
    if word.endswith("e") and len(word) > 3:  # "like" meets "liked" at "lik"
        return word[:-1]
    return word


def forms(word: str) -> frozenset[str]:
    """The forms a word is compared by: a number's value, a month's full name, or
    two stems (search.stem's first five letters, and the light-suffix form)."""
    word = word.lower()
    ordinal = _ORDINAL.match(word)
    if ordinal:
        word = ordinal.group(1)
    if word.isdigit():
        return frozenset({"#" + (word.lstrip("0") or "0")})
    if any(ch.isdigit() for ch in word):  # a code ("sunflower42"): only itself
        return frozenset({word})
    if word in _NUMBER_WORDS:
        return frozenset({"#" + _NUMBER_WORDS[word]})
    word = _MONTH_ABBR.get(word, _ALIASES.get(word, word))
    return frozenset({stem(word), stem(light(word)), light(word)})


def source_forms(text: str) -> set[str]:
    found: set[str] = set()
    for word in _WORD.findall(text):
        found |= forms(word)
    return found


def _tokens(text: str, common: set[str]) -> list[_Token]:
    """The words of `text` that can be checked, each classified. `common` holds
    words seen in lower case (in the sources or the question): a sentence's first
    word is a name only when it is not one of those nor a stop word."""
    out: list[_Token] = []
    text = _CITATION.sub(" ", text)
    for number, sentence in enumerate(_SENTENCE.findall(text)):
        words = list(_WORD.finditer(sentence))
        for i, match in enumerate(words):
            word = match.group()
            lower = word.lower()
            following = words[i + 1].group().lower() if i + 1 < len(words) else ""
            if any(ch.isdigit() for ch in word):
                kind = "number"
            elif lower in MONTHS and (word[0].isupper() or lower != "may"):
                kind = "date"
            elif lower in WEEKDAYS or lower in TIME_WORDS or lower in _MONTH_ABBR and word[0].isupper():
                kind = "date"
            elif word[0].isupper() and lower in _WEEKDAY_ABBR:
                kind = "date"
            elif lower in ("last", "next", "this") and (
                following in TIME_WORDS or following in WEEKDAYS or following in MONTHS
            ):
                kind = "date"
            elif lower in _NUMBER_WORDS and lower not in ("one", "second"):
                kind = "number"
            elif len(word) < 2 and not word.isupper() or lower in FILLER:
                continue
            elif word[0].isupper() and (i > 0 or lower not in common):
                kind = "name"
            else:
                kind = "word"
            out.append(_Token(word, kind, forms(word), number))
    return out


def _lowercase_words(*texts: str) -> set[str]:
    return {w for t in texts for w in _WORD.findall(t) if w.islower()}


def subject(question: str) -> list[str]:
    """What a question is about, that the memory answering it must mention: its
    names and the first word after "my", "our", "your" or "the".
    "What is my dog allergic to?" -> ["dog"]; "When is Ana's birthday?" -> ["Ana"]."""
    words = _WORD.findall(_CITATION.sub(" ", question))
    found: list[str] = []
    for i, word in enumerate(words):
        lower = word.lower()
        if lower in FILLER and lower not in _SUBJECT_MARKERS:
            continue
        if i > 0 and word[0].isupper() and lower not in MONTHS and lower not in WEEKDAYS:
            found.append(word)  # a name (a date is what is asked, not who)
        elif lower in _SUBJECT_MARKERS and i + 1 < len(words):
            following = words[i + 1]
            plain = following.lower()
            if not (plain in FILLER or plain in TIME_WORDS or following[0].isupper() or plain[0].isdigit()):
                found.append(following)
    return list(dict.fromkeys(found))


def _is_yes_no(question: str) -> bool:
    first = _WORD.findall(question.lower())[:1]
    return bool(first) and first[0] in _AUXILIARIES


def _asks_a_name(question: str) -> bool:
    """Who, where, which, "what is X called", or "what <noun>" ("what island")."""
    words = _WORD.findall(question.lower())
    if _ASKS_A_NAME & set(words):
        return True
    return any(w == "what" and i + 1 < len(words) and words[i + 1] not in FILLER for i, w in enumerate(words))


def _similar_enough(sentences: list[str], sources: Sequence[str], embed: Callable[[list[str]], Any]) -> bool:
    """Every one of `sentences` has a source sentence with cosine >= PARAPHRASE_SIMILARITY."""
    pieces = [s.strip() for src in sources for s in _SENTENCE.findall(src) if s.strip()]
    if not pieces or not sentences:
        return False
    import numpy as np

    vectors = np.asarray(embed([*sentences, *pieces]), dtype=np.float32)
    cosines = vectors[: len(sentences)] @ vectors[len(sentences) :].T  # the vectors are unit length
    return bool((cosines.max(axis=1) >= PARAPHRASE_SIMILARITY).all())


def support(
    answer: str,
    sources: Sequence[str],
    question: str = "",
    *,
    embed: Callable[[list[str]], Any] | None = None,
) -> Support:
    """Is every fact of `answer` in `sources` (and, given `question`, does it answer it)?

    >>> support("Ana should buy roses.", ["Ana's birthday is on 3 March; she likes orchids"],
    ...         "What flowers should I buy Ana?").ok
    False
    """
    by_source = [source_forms(s) for s in sources]
    everywhere = set().union(*by_source) if by_source else set()
    asked = source_forms(question)
    common = _lowercase_words(question, *sources)
    tokens = _tokens(answer, common)

    # The memory that answers must be about what is asked: only those count.
    about = subject(question)
    if about:
        needed = [forms(w) for w in about]
        usable = [i for i, f in enumerate(by_source) if all(n & f for n in needed)]
        if not usable:
            return Support(
                False, [], f"the cited memories do not mention {' '.join(about)}", _closest(tokens, by_source)
            )
        evidence = set().union(*(by_source[i] for i in usable))
    else:
        evidence = everywhere

    missing = [t for t in tokens if not t.forms & evidence and not (t.kind == "word" and t.forms & asked)]
    closest = _closest(tokens, by_source)
    strict = [t for t in missing if t.kind != "word"]
    if strict:
        return Support(False, _texts(missing), "not in the memories: " + ", ".join(_texts(strict)), closest)
    own = [t for t in tokens if t.kind == "word" and not t.forms & asked]
    if missing:
        if embed is None or len(missing) > math.floor(len(own) * PARAPHRASE_SHARE):
            return Support(
                False, _texts(missing), "not in the memories: " + ", ".join(_texts(missing)), closest
            )
        sentences = [
            s
            for i, s in enumerate(_SENTENCE.findall(_CITATION.sub(" ", answer)))
            if any(t.sentence == i for t in missing)
        ]
        if not _similar_enough([s.strip() for s in sentences], sources, embed):
            return Support(
                False, _texts(missing), "not in the memories: " + ", ".join(_texts(missing)), closest
            )
    if not question:
        return Support(True, _texts(missing), "", closest)

    new = [t for t in tokens if t not in missing and not t.forms & asked]
    if not new:
        if _is_yes_no(question) and _WORD.findall(answer.lower())[:1] == ["yes"]:
            claim = _tokens(question, common)
            if all(t.forms & evidence for t in claim):
                return Support(True, [], "", closest)
        return Support(False, [], "the answer only repeats the question", closest)
    kinds = {t.kind for t in new}
    if _WHEN.search(question.lower()) and not kinds & {"date", "number"}:
        return Support(False, [], "the answer does not say when", closest)
    if _HOW_MANY.search(question.lower()) and "number" not in kinds:
        return Support(False, [], "the answer gives no number", closest)
    if kinds == {"name"} and not _asks_a_name(question):
        return Support(False, [], "the answer names who or what is asked about but does not answer", closest)
    return Support(True, _texts(missing), "", closest)


def _texts(tokens: list[_Token]) -> list[str]:
    return list(dict.fromkeys(t.text for t in tokens))


def _closest(tokens: list[_Token], by_source: list[set[str]]) -> int | None:
    if not by_source:
        return None
    counts = [sum(bool(t.forms & f) for t in tokens) for f in by_source]
    return max(range(len(counts)), key=lambda i: (counts[i], -i))


def grounded_fact(fact: str, episode: str, *, embed: Callable[[list[str]], Any] | None = None) -> bool:
    """May `fact` be stored as drawn from `episode`? The rules of `support`, without a question.

    >>> grounded_fact("The user's dog is allergic to cats.", "Biscuit, my dog, is allergic to chicken")
    False
    """
    if len(_WORD.findall(fact)) < 3:  # "Porto" is not a fact
        return False
    checked = support(fact, [episode], embed=embed)
    return checked.ok and bool(_tokens(fact, _lowercase_words(episode)))
