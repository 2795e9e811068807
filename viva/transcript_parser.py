"""A tool call's arguments read back from what the examiner said aloud.

Sometimes the model speaks its result ("I would give fluency coherence a six point five,
... Evidence. Fluency coherence: ...") instead of calling the function. parse_result reads
that result out of the examiner's output transcript, driven only by the tool's JSON schema:
for each property it finds the property's name said in the transcript and takes the value
said after it, recursively for object properties. It is deterministic (no model, no
randomness) and returns only what it found; the caller validates the result against the
schema, so a partial or garbled result is rejected there, not guessed at here.

It only ever reads the examiner's own transcript (the model's output transcription), never
the candidate's words, so nothing the candidate says can be taken for a mark.

Streaming transcription joins its pieces with extra or missing spaces and punctuation and may
change case; names are therefore found on the transcript's letters and digits alone.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any

# Words a number is said with; a merged piece such as "pointfive" is split into these.
_ONES = {
    word: value
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen".split()
    )
}
_TENS = {word: 10 * (i + 2) for i, word in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())}
_FRACTIONS = {("and", "a", "half"): 0.5, ("and", "a", "quarter"): 0.25, ("and", "three", "quarters"): 0.75}
_NEGATIVE = {"minus", "negative"}
_NUMBER_VOCABULARY = sorted(
    {*_ONES, *_TENS, *_NEGATIVE, "point", "and", "a", "half", "quarter", "quarters"}, key=len, reverse=True
)
_MERGED_NUMBER_WORDS = re.compile("(?:" + "|".join(_NUMBER_VOCABULARY) + ")+")
_NUMBER_WORD = re.compile("|".join(_NUMBER_VOCABULARY))

_YES = {"yes", "true"}
_NO = {"no", "false", "not"}
# Words that take back the value just said: "a six, sorry, a six point five".
_CORRECTIONS = {"sorry", "correction", "rather", "mean", "actually", "instead", "no", "make"}
# Phrases that close a spoken section whatever the schema (the exam's closing, a sign-off).
_GENERIC_ENDS = ("thankyou", "thatistheend", "thatstheend", "thatconcludes")

_WORDS_BEFORE_VALUE = 5  # "I'd give fluency and coherence a band of six": a few words may come between
_WORDS_BEFORE_CORRECTION = 4
_SHORT_NAME = 6  # letters; shorter names must stand as whole words ("band" is not in "husband")


@dataclass(frozen=True)
class _Transcript:
    """The transcript, and its letters and digits alone, lower-cased, with each one's place in it.

    Names and end phrases are looked for in `compact`, so "six point five ,lexical" and
    "Lexical  Resource" are found as well as the clean text.
    """

    text: str
    compact: str
    places: tuple[int, ...]

    @classmethod
    def of(cls, text: str) -> _Transcript:
        kept = [(c.lower(), i) for i, c in enumerate(text) if c.isalnum()]
        return cls(text, "".join(c for c, _ in kept), tuple(i for _, i in kept))

    def find(self, pattern: re.Pattern, start: int, end: int) -> list[tuple[int, int]]:
        """Spans of the text, within start..end, whose letters and digits match pattern."""
        low, high = bisect_left(self.places, start), bisect_left(self.places, end)
        return [
            (self.places[m.start()], self.places[m.end() - 1] + 1)
            for m in pattern.finditer(self.compact, low, high)
            if m.end() > m.start()
        ]

    def stands_alone(self, start: int, end: int) -> bool:
        """Whether text[start:end] is whole words, not part of a longer one."""
        before = self.text[start - 1] if start > 0 else " "
        after = self.text[end] if end < len(self.text) else " "
        return not before.isalnum() and not after.isalnum()


@dataclass(frozen=True)
class _Said:
    """A property's name said in the transcript, at text[start:end]."""

    name: str
    start: int
    end: int


def parse_result(transcript: str, schema: dict) -> dict | None:
    """The tool arguments the examiner said aloud in transcript, per schema, or None if none.

    Only the properties found are returned, typed as the schema says; a value said twice
    (a correction) is taken from its last saying. The caller validates the result.
    The transcript must be the examiner's own output transcript, never the candidate's.
    """
    said = _Transcript.of(transcript)
    found = _read_object(said, 0, len(transcript), schema)
    return found or None


def _read_object(said: _Transcript, start: int, end: int, schema: dict) -> dict:
    """The properties of an object schema said within text[start:end]."""
    properties = schema.get("properties", {})
    names = _names_said(said, start, end, properties)
    is_key = [
        _looks_like_key(said, name, names[i + 1].start if i + 1 < len(names) else end, end, properties)
        for i, name in enumerate(names)
    ]
    keys, sections = _claim_sections(said, names, is_key, end, properties)
    keys = _prefer_marked_keys(said, keys, properties)

    found: dict[str, Any] = {}
    for name, prop in properties.items():
        if _kind(prop) == "object":
            # Every saying of the object adds to it; a field said again later overrides.
            merged: dict[str, Any] = {}
            for section_start, section_end in sections.get(name, []):
                merged |= _read_object(said, section_start, section_end, prop)
            if merged:
                found[name] = merged
            continue
        for i in reversed([i for i, key in enumerate(keys) if key.name == name]):
            value_end = keys[i + 1].start if i + 1 < len(keys) else end
            value = _read_value(said, keys[i].end, value_end, prop)
            if value is not None:
                found[name] = value
                break
    return found


def _names_said(said: _Transcript, start: int, end: int, properties: dict) -> list[_Said]:
    """Every place a property name is said within text[start:end], in order, not overlapping."""
    candidates = []
    for name, prop in properties.items():
        pattern, letters = _name_pattern(name, prop)
        for s, e in said.find(pattern, start, end):
            if letters >= _SHORT_NAME or said.stands_alone(s, e):
                candidates.append(_Said(name, s, e))
    # Where names overlap ("overall band" and "band"), the longer one is what was said.
    candidates.sort(key=lambda n: (n.start, -(n.end - n.start)))
    names, reached = [], start
    for candidate in candidates:
        if candidate.start >= reached:
            names.append(candidate)
            reached = candidate.end
    return names


def _name_pattern(name: str, prop: dict) -> tuple[re.Pattern, int]:
    """A pattern for a property's name (or title) as said: words in order, 'and' allowed between.

    "fluency_coherence" also matches "Fluency and Coherence"; "overallBand" matches "overall band".
    Returns the pattern and the length of the shortest name in letters.
    """
    alternatives, shortest = [], None
    for spelling in [name] + ([prop["title"]] if isinstance(prop.get("title"), str) else []):
        words = re.findall(r"[a-z]+|\d+", re.sub(r"([a-z])([A-Z])", r"\1 \2", spelling).lower())
        if words:
            alternatives.append("(?:and)?".join(re.escape(w) for w in words))
            letters = sum(map(len, words))
            shortest = letters if shortest is None else min(shortest, letters)
    if not alternatives:
        return re.compile(r"(?!)"), 0
    return re.compile("|".join(f"(?:{a})" for a in alternatives)), shortest


def _looks_like_key(said: _Transcript, name: _Said, next_start: int, end: int, properties: dict) -> bool:
    """Whether a name is said as the key of a value, not merely mentioned.

    A number's or flag's name must be followed by a value before the next name; an object's
    name by one of its own properties' names within a few words ("Evidence. Fluency ...", not
    "as evidenced by"). A string's name always counts (see _prefer_marked_keys).
    """
    prop = properties[name.name]
    kind = _kind(prop)
    if kind in ("number", "integer"):
        return _number_in(_words(said.text[name.end:next_start])) is not None
    if kind == "boolean":
        return _boolean_in(_words(said.text[name.end:next_start])) is not None
    if kind == "object":
        inner = _names_said(said, name.end, end, prop.get("properties", {}))
        return bool(inner) and _word_count(said.text[name.end:inner[0].start]) <= 3
    return kind == "string"


def _claim_sections(
    said: _Transcript, names: list[_Said], is_key: list[bool], end: int, properties: dict
) -> tuple[list[_Said], dict[str, list[tuple[int, int]]]]:
    """The keys of this level, and each object's sections; names said inside one belong to it.

    A section runs from the object's name to "End of <name>" or a closing phrase, or to the
    next key of this level that is not one of its own fields, or that is one said again once
    all of them were said ("Evidence. Fluency coherence: ... Pronunciation: ... Fluency
    coherence six point five" ends at the mark), or to the end.
    """
    kept: list[_Said] = []
    sections: dict[str, list[tuple[int, int]]] = {}
    claimed_until = -1
    for i, name in enumerate(names):
        if name.start < claimed_until or not is_key[i]:
            continue
        kept.append(name)
        prop = properties[name.name]
        if _kind(prop) != "object":
            continue
        content_end = claimed_until = end
        closing = _first_end_phrase(said, name.end, end, name.name)
        if closing:
            content_end, claimed_until = closing
        own, seen = set(prop.get("properties", {})), set()
        for later, key in zip(names[i + 1:], is_key[i + 1:], strict=True):
            if later.start >= content_end:
                break
            if later.name in own and later.name not in seen:
                seen.add(later.name)
            elif key and later.name != name.name and (later.name not in own or seen == own):
                content_end = claimed_until = later.start
                break
        sections.setdefault(name.name, []).append((name.end, content_end))
    return kept, sections


def _first_end_phrase(said: _Transcript, start: int, end: int, section: str | None = None) -> tuple[int, int] | None:
    """The first closing phrase within text[start:end] ("Thank you", "End of evidence"), as a span."""
    phrases = list(_GENERIC_ENDS)
    if section:
        words = re.findall(r"[a-z]+|\d+", re.sub(r"([a-z])([A-Z])", r"\1 \2", section).lower())
        phrases.append("endof(?:the)?" + "".join(map(re.escape, words)))
    spans = said.find(re.compile("|".join(phrases)), start, end)
    return spans[0] if spans else None


def _prefer_marked_keys(said: _Transcript, keys: list[_Said], properties: dict) -> list[_Said]:
    """For a string, keep only the sayings followed by a colon if there are any.

    "Fluency coherence: better than her lexical resource." mentions a name inside a note; when
    the transcript has punctuation, the colon tells the key from the mention.
    """
    marked = {
        key.name
        for key in keys
        if _kind(properties[key.name]) == "string" and said.text[key.end:].lstrip().startswith(":")
    }
    return [k for k in keys if k.name not in marked or said.text[k.end:].lstrip().startswith(":")]


def _read_value(said: _Transcript, start: int, end: int, prop: dict) -> Any:
    """The value of one property said in text[start:end], typed per its schema, or None."""
    kind = _kind(prop)
    if kind in ("number", "integer"):
        number = _number_in(_words(said.text[start:end]), corrections=True)
        if number is None:
            return None
        # A whole number is an int for an integer; otherwise left as said, for the caller to reject.
        return int(number) if kind == "integer" and number == int(number) else float(number)
    if kind == "boolean":
        return _boolean_in(_words(said.text[start:end]))
    if kind == "string":
        closing = _first_end_phrase(said, start, end)
        text = _tidy(said.text[start : closing[0] if closing else end])
        return text or None
    return None


def _kind(prop: dict) -> str | None:
    """The JSON type a property's value is read as."""
    kind = prop.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind is None and "properties" in prop:
        return "object"
    if kind is None and ("anyOf" in prop or "oneOf" in prop):
        return _kind((prop.get("anyOf") or prop.get("oneOf"))[0])
    return kind


def _words(text: str) -> list[str]:
    """Lower-case words and decimals; a piece merged from number words ("pointfive") split up."""
    words = []
    for token in re.findall(r"[a-z\d]+(?:\.\d+)?", text.lower()):
        parts = re.findall(r"\d+(?:\.\d+)?|[a-z]+", token)
        letters = [part for part in parts if not part[0].isdigit()]
        # "asix", "a6.5" are pieces joined without a space; "l1" (an accent) is a word, not a one.
        if all(_MERGED_NUMBER_WORDS.fullmatch(part) for part in letters):
            words += [w for part in parts for w in ([part] if part[0].isdigit() else _NUMBER_WORD.findall(part))]
        else:
            words.append(token)
    return words


def _word_count(text: str) -> int:
    return len(re.findall(r"[A-Za-z0-9]+", text))


def _number_in(words: list[str], *, corrections: bool = False) -> float | None:
    """The number said within the first few words ("a six point five"), or None.

    With corrections, a number said soon after "sorry", "I mean", ... replaces it.
    """
    start = next((i for i in range(min(len(words), _WORDS_BEFORE_VALUE + 1)) if _number_at(words, i)), None)
    if start is None:
        return None
    value, i = _number_at(words, start)
    while corrections:
        soon_after = range(i, min(len(words), i + _WORDS_BEFORE_CORRECTION))
        cue = next((j for j in soon_after if words[j] in _CORRECTIONS), None)
        if cue is None:
            break
        again = next((k for k in range(cue + 1, min(len(words), cue + 5)) if _number_at(words, k)), None)
        if again is None:
            break
        value, i = _number_at(words, again)
    return value


def _number_at(words: list[str], i: int) -> tuple[float, int] | None:
    """The number said starting at words[i] and the index after it: "6.5", "six point five",
    "six and a half", "twenty one"; None if no number starts there."""
    sign = 1
    if i < len(words) and words[i] in _NEGATIVE:
        sign, i = -1, i + 1
    if i >= len(words):
        return None
    word = words[i]
    if word[0].isdigit():
        value, i = float(word), i + 1
        if "." in word:
            return sign * value, i
    elif word in _TENS:
        value, i = float(_TENS[word]), i + 1
        if i < len(words) and 0 < _ONES.get(words[i], 0) < 10:
            value, i = value + _ONES[words[i]], i + 1
    elif word in _ONES:
        value, i = float(_ONES[word]), i + 1
    else:
        return None
    if i < len(words) and words[i] == "point":
        digits = []
        for w in words[i + 1:]:
            if w.isdigit():
                digits.append(w)
            elif _ONES.get(w, 10) < 10:
                digits.append(str(_ONES[w]))
            else:
                break
        if digits:
            return sign * float(f"{int(value)}.{''.join(digits)}"), i + 1 + len(digits)
    for phrase, fraction in _FRACTIONS.items():
        if tuple(words[i : i + len(phrase)]) == phrase:
            return sign * (value + fraction), i + len(phrase)
    return sign * value, i


def _boolean_in(words: list[str]) -> bool | None:
    """A yes or no said within the first few words; the last one, if corrected."""
    said = [w for w in words[: _WORDS_BEFORE_VALUE + 3] if w in _YES or w in _NO]
    return None if not said else said[-1] in _YES


def _tidy(text: str) -> str:
    """A note as said: spaces joined up, none before punctuation and one after a comma or colon,
    no separator left at either end."""
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r" ([.,;:!?])", r"\1", text)
    # "range:idioms", "verbs.Rare": pieces joined without their space (but "e.g." and "U.K." stay).
    text = re.sub(r"([,;:!?])(?=[^\W\d_])", r"\1 ", text)
    text = re.sub(r"([a-z]\.)(?=[A-Z][a-z])", r"\1 ", text)
    # The note's own closing full stop stays; the separators said around it do not.
    text = re.sub(r"^[\s.:;,\-\u2013\u2014]+", "", text)
    return re.sub(r"[\s:;,\-\u2013\u2014]+$", "", text)
