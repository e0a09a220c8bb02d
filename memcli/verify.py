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
- with the question, the memory must be about what is asked and the answer
  must answer it:
  - the question's subject (its names, and the first word after "my", "our",
    "your" or "the") must be in the memory the answer's words come from, so a
    note about the car does not answer "Where did I park the bike?"; after
    "my", not as someone else's ("her husband Tomas" is not "my husband");
  - that memory must also hold one of the question's other words ("allergic"
    in "What is my dog allergic to?": the dog's note without it, copied back
    whole, answers nothing), or for "what <category>" an answer word with
    cosine >= CATEGORY_SIMILARITY to the category ("orchids" for "flowers");
  - the answer must hold something of its own (a word, name, number or date
    found in the memory and not in the question), and not only a name unless
    a name is asked for ("Biscuit is a dog.");
  - "when" needs a date or a number, "what time" a number or a time of day,
    "how many / much / old / long" and "... number" a number.

`support` is for `mem ask`; `grounded_fact` applies the word rules (without a
question) to a fact drawn from an episode, for consolidation and chat.
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
# An answer to "what <category>" whose memory does not name the category: one of
# its words must be this like the category (single-word cosines measured with
# MiniLM: flowers-orchids 0.59, city-Lyon 0.49, breed-beagle 0.48 but breed-cat
# 0.46; unrelated pairs 0.16-0.33, medication-lemon 0.25).
CATEGORY_SIMILARITY = 0.5

MONTHS = "january february march april may june july august september october november december".split()
_MONTH_ABBR = {m[:3]: m for m in MONTHS} | {"sept": "september"}
WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_WEEKDAY_ABBR = {"mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun"}
TIME_WORDS = frozenset(
    """yesterday today tomorrow tonight weekend morning mornings afternoon afternoons evening
    evenings night nights noon midnight week weeks month months year years fortnight daily weekly
    monthly yearly annually ago hour hours minute minutes""".split()
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
_ALIASES = {
    "doctor": "dr", "mister": "mr", "missus": "mrs", "street": "st", "avenue": "ave", "road": "rd",
    "okay": "ok", "mum": "mom", "mommy": "mom", "mother": "mom", "dad": "father", "daddy": "father",
    "kid": "child", "kids": "child", "children": "child", "pup": "puppy", "gf": "girlfriend",
    "bf": "boyfriend", "doc": "dr",
}  # fmt: skip
# Past forms no suffix rule reaches: "saw" is "see", so an answer may say "saw"
# where the memory says "seeing".
_IRREGULAR = {
    "saw": "see", "seen": "see", "came": "come", "went": "go", "gone": "go", "got": "get",
    "gotten": "get", "made": "make", "took": "take", "taken": "take", "ate": "eat", "eaten": "eat",
    "bought": "buy", "felt": "feel", "met": "meet", "ran": "run", "told": "tell", "found": "find",
    "gave": "give", "given": "give", "left": "leave", "kept": "keep", "thought": "think",
    "brought": "bring", "began": "begin", "begun": "begin", "wrote": "write", "written": "write",
    "won": "win", "sold": "sell", "paid": "pay", "held": "hold", "lost": "lose", "spent": "spend",
    "built": "build", "sent": "send", "taught": "teach", "caught": "catch", "chose": "choose",
    "chosen": "choose", "drove": "drive", "driven": "drive", "flew": "fly", "flown": "fly",
    "grew": "grow", "grown": "grow", "knew": "know", "known": "know", "rode": "ride",
    "sang": "sing", "sung": "sing", "swam": "swim", "spoke": "speak", "spoken": "speak",
    "stood": "stand", "understood": "understand", "wore": "wear", "worn": "wear", "heard": "hear",
    "sat": "sit", "slept": "sleep", "fell": "fall", "fallen": "fall", "broke": "break",
    "broken": "break", "drew": "draw", "drawn": "draw", "threw": "throw", "thrown": "throw",
    "did": "do", "done": "do", "had": "have", "has": "have", "was": "be", "were": "be", "is": "be",
}  # fmt: skip
# What a state's question asks, said by the change that led to it: "Where do I
# live?" is answered by "The user moved to Porto", "How old is Rui?" by "Rui turned
# 40 in May" (which number is the age: _AGE).
_IMPLIED_BY = {
    "live": ("move", "relocat", "address", "reside"),
    "old": ("turn", "aged"),
    "work": ("job", "employ", "hired", "career", "office", "boss", "manager"),
    "job": ("work", "employ", "hired", "career"),
}
# Words that carry no fact of their own in an answer: how it refers to the
# memories or the user, and verbs small models add around a copied fact.
FILLER = STOPWORDS | frozenset(
    """name names named called call kind type sort thing things time times much many long often ever
    usually tell know remember may might shall due day days date dates last next say said says s t d ll ve re m one ones also yes
    no yeah sure user users memory memories note notes noted mention mentions mentioned according answer
    stated states state record recorded seem seems appear appears
    located location placed kept keep keeps stored scheduled planned set going go goes went
    held happen happens happening take takes taking need needs must currently actually
    don doesn didn isn aren wasn weren won haven hasn hadn can cannot couldn shouldn wouldn""".split()
)
# A question's first word that makes it a yes/no question; after "what", a word
# that is not a category ("what is", not "what flowers").
_AUXILIARIES = frozenset(
    "is are am was were do does did can could will would should shall have has had may might must".split()
)
_SUBJECT_MARKERS = frozenset("my our your the".split())
_ASKS_A_NAME = frozenset("who whom whose where which name names named called".split())
# "When" that asks opens the question ("How did she help when I started?" asks how).
_WHEN = re.compile(
    r"^\W*(?:(?:and|so|but|then)\s+)?when\b|\bsince when\b|\bwhat (time|date|day|year|month)\b"
    r"|\bwhich (day|date|year|month)\b|\bhow long ago\b"
)
_WHAT_TIME = re.compile(r"\b(what|which) time\b")
_WHICH_DAY = re.compile(r"\b(what|which) (day|date)\b")
_DAYS = frozenset([*WEEKDAYS, *MONTHS, *_WEEKDAY_ABBR, "today", "tomorrow", "yesterday", "tonight"])
_TIMES_OF_DAY = frozenset("noon midnight morning afternoon evening night mornings evenings".split())
# A word before a subject that makes it someone else's ("her husband", "Ana's dog").
_SOMEONE_ELSES = frozenset("his her their its s".split())
_UNITS = frozenset("minute minutes hour hours day days week weeks month months year years".split())
_HOW_MANY = re.compile(r"\bhow (many|much|old|long|far)\b|\bnumber\b")
ASKS_AGE = re.compile(r"\bhow old\b|\bwhat age\b|\b(?:his|her|their|my|your|its)\s+age\b|\bage of\b", re.I)
# A number said as an age: "turns seven", "turned 40", "aged 3", "36 years old",
# "a four-year-old beagle" (and the ages memcli.ask puts in: "(36 years old on ...)").
_AGE = re.compile(r"\b(?:turn(?:s|ed|ing)?|aged)\s+(\w+)|\b(\w+)[\s-]+years?[\s-]+old\b", re.I)
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
    found = {stem(word), stem(light(word)), light(word)}
    base = _IRREGULAR.get(word)
    if base:
        found |= {stem(base), light(base)}
    return frozenset(found)


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


def details(text: str) -> set[frozenset[str]]:
    """The names, numbers and dates of `text`, by the forms the check compares
    ("3rd" and "three" are the same number)."""
    return {t.forms for t in _tokens(text, _lowercase_words(text)) if t.kind != "word"}


def _lowercase_words(*texts: str) -> set[str]:
    return {w for t in texts for w in _WORD.findall(t) if w.islower()}


@dataclass
class Asked:
    """The parts of a question that the memory answering it must speak of."""

    subject: list[str]  # names, and the first word after my / our / your / the
    mine: set[str]  # the subject words after my / our / your: the user's own
    category: str | None  # "flowers" in "What flowers should I buy Ana?"
    attributes: list[str]  # its other words: "allergic" in "What is my dog allergic to?"


def parse(question: str) -> Asked:
    words = _WORD.findall(_CITATION.sub(" ", question))
    lowers = [w.lower() for w in words]
    subject: list[str] = []
    mine: set[str] = set()
    category = None
    for i, word in enumerate(words):
        lower = lowers[i]
        following = words[i + 1] if i + 1 < len(words) else ""
        plain = following.lower()
        if (
            i > 0
            and word[0].isupper()
            and lower not in FILLER
            and lower not in MONTHS
            and lower not in WEEKDAYS
        ):
            subject.append(word)  # a name (a date is what is asked, not who)
        elif lower in _SUBJECT_MARKERS and following and following[0].islower():
            if not (plain in FILLER or plain in TIME_WORDS or plain[0].isdigit()):
                subject.append(following)
                if lower != "the":
                    mine.add(following)
        elif lower in ("what", "which") and following and following[0].islower():
            if category is None and not (
                plain in FILLER or plain in _AUXILIARIES or plain in TIME_WORDS or plain[0].isdigit()
            ):
                category = following
    taken = {w.lower() for w in subject} | ({category} if category else set())
    attributes = [
        w for w, lower in zip(words, lowers)
        if w[0].islower() and lower not in FILLER and lower not in taken and not lower[0].isdigit()
        and lower not in _NUMBER_WORDS and lower not in TIME_WORDS  # "last week" says when, not what
    ]  # fmt: skip
    return Asked(list(dict.fromkeys(subject)), mine, category, list(dict.fromkeys(attributes)))


def subject(question: str) -> list[str]:
    """What a question is about, that the memory answering it must mention: its
    names and the first word after "my", "our", "your" or "the".
    "What is my dog allergic to?" -> ["dog"]; "When is Ana's birthday?" -> ["Ana"]."""
    return parse(question).subject


def _about(source: str, asked: Asked) -> bool:
    """Does `source` mention the whole subject, and the user's own where the
    question says "my" ("my husband" is not "her husband Tomas")?"""
    words = [w.lower() for w in _WORD.findall(source)]
    for word in asked.subject:
        wanted = forms(word)
        places = [i for i, w in enumerate(words) if forms(w) & wanted]
        if not places:
            return False
        if word in asked.mine and all(i > 0 and words[i - 1] in _SOMEONE_ELSES for i in places):
            return False
    return True


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
    context: Sequence[str] | None = None,
) -> Support:
    """Is every fact of `answer` in `sources` (and, given `question`, does it answer it)?

    >>> support("Ana should buy roses.", ["Ana's birthday is on 3 March; she likes orchids"],
    ...         "What flowers should I buy Ana?").ok
    False
    """
    by_source = [source_forms(s) for s in sources]
    asked = source_forms(question)
    common = _lowercase_words(question, *sources)
    tokens = _tokens(answer, common)

    # The memory that answers must be about what is asked: only those count.
    # A turn of a conversation is read with the turn before it (`context`): "usually
    # for about an hour" answers "How long do you walk the dogs?" asked just before.
    # The context says what a memory is about; the answer's words must be in the
    # memory itself.
    around = [f"{c}\n{src}" for c, src in zip(context or [""] * len(sources), sources)]
    asked_parts = parse(question)
    if asked_parts.subject:
        usable = [i for i, text in enumerate(around) if _about(text, asked_parts)]
        if not usable:
            about = " ".join(asked_parts.subject)
            return Support(
                False, [], f"the cited memories do not mention {about}", _closest(tokens, by_source)
            )
    else:
        usable = list(range(len(sources)))
    evidence = set().union(*(by_source[i] for i in usable)) if usable else set()
    topic = set().union(*(source_forms(around[i]) for i in usable)) if usable else set()

    # What the answer repeats of the question (its names and dates too) is the
    # user's own premise: allowed, but it is no evidence.
    missing = [t for t in tokens if not t.forms & evidence and not t.forms & asked]
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
    if not _says_what_is_asked(asked_parts, topic, new, embed):
        what = " ".join(filter(None, [asked_parts.category, *asked_parts.attributes]))
        return Support(False, [], f"the memories do not say what is asked ({what})", closest)
    kinds = {t.kind for t in new}
    if _WHAT_TIME.search(question.lower()) and not (
        "number" in kinds or any(t.text.lower() in _TIMES_OF_DAY for t in new)
    ):
        return Support(False, [], "the answer does not say what time", closest)
    if _WHEN.search(question.lower()) and not kinds & {"date", "number"}:
        return Support(False, [], "the answer does not say when", closest)
    if _WHICH_DAY.search(question.lower()) and not any(
        t.kind == "number" or t.text.lower() in _DAYS for t in new
    ):  # "every other week" does not say which day
        return Support(False, [], "the answer does not say which day", closest)
    duration = "how long" in question.lower() and any(t.text.lower() in _UNITS for t in new)
    if _HOW_MANY.search(question.lower()) and "number" not in kinds and not duration:
        return Support(False, [], "the answer gives no number", closest)
    if ASKS_AGE.search(question):  # the day of a birthday is no age
        ages = {f for i in usable for m in _AGE.finditer(sources[i]) for f in forms(m.group(1) or m.group(2))}
        if not any(t.kind == "number" and t.forms & ages for t in new):
            return Support(False, [], "the memories give no such age", closest)
    if kinds == {"name"} and not _asks_a_name(question):
        return Support(False, [], "the answer names who or what is asked about but does not answer", closest)
    return Support(True, _texts(missing), "", closest)


def _says_what_is_asked(
    asked: Asked, evidence: set[str], new: list[_Token], embed: Callable[[list[str]], Any] | None
) -> bool:
    """Does the memory speak of what the question asks, not only of its subject?
    One of the question's other words must be in it ("allergic" for "What is my
    dog allergic to?": the dog's note without it does not answer), or, for a
    "what <category>" question, the answer's own words must be like the
    category ("orchids" for "flowers", cosine >= CATEGORY_SIMILARITY)."""
    if not asked.category and not asked.attributes:
        return True
    if any(forms(w) & evidence for w in [*asked.attributes, *filter(None, [asked.category])]):
        return True
    for word in asked.attributes:
        for state, implied in _IMPLIED_BY.items():
            if light(state) != light(word.lower()):
                continue
            if any(form.startswith(cue[:5]) for cue in implied for form in evidence):
                return True
    words = [t.text for t in new if t.kind == "word"]
    if asked.category is None or embed is None or not words:
        return False
    import numpy as np

    vectors = np.asarray(embed([asked.category, *words]), dtype=np.float32)
    return bool((vectors[1:] @ vectors[0]).max() >= CATEGORY_SIMILARITY)


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
