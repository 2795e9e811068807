"""The one phrase matcher: whether words the examiner said hold a scripted line.

Every check of what the examiner said reads it: the closing phrase found in the examiner's
transcript (`ClosingDetector`, fed once, by the closing finder, whose finding the closing
guard, the marks gate, exam end and the record read), a turn that begins the closing
(`begins_phrase`: the marks gate), and a step said (`asked`: the exam controller).
All are tolerant of case, punctuation, contractions, rewording and a misheard word.
"""

from __future__ import annotations

import difflib
import re

# Words too common to show that a question was asked.
_COMMON = frozenset("a an the and or but of to in on at for with is are was were be do does did you your i me my "
                    "it this that these those there what how why when where which who would could can will "
                    "about some any so if as please now let us".split())


CONTRACTIONS = {"that's": "that is", "it's": "it is", "we're": "we are", "you're": "you are", "i'm": "i am",
                "let's": "let us", "we've": "we have", "there's": "there is"}


_WORD = re.compile(r"(?:[^\W_]|')+")


def words_of(text: str) -> list[str]:
    """Lower case words of any script (letters and digits, an apostrophe inside: "l'épreuve",
    "экзамен"), English contractions spelled out."""
    out: list[str] = []
    for word in _WORD.findall(text.lower()):
        out += CONTRACTIONS.get(word, word).split()
    return out


def normalize(text: str) -> str:
    return " ".join(words_of(text))


class ClosingDetector:
    """Counts how often the closing phrase occurs in text fed piece by piece.

    Occurrences do not overlap. A passage counts when it begins and ends with the
    phrase's first and last words (spelled alike, "tests" for "test") and holds all of
    its words but one, in order: "Thank you, that's the end of the speaking test" and one
    lost or misheard word still count; a passage cut short ("...of the Speaking te")
    does not, until the rest arrives.
    """

    def __init__(self, phrase: str):
        self._phrase = words_of(phrase)
        self._text = ""
        self.count = 0
        self.end_word = 0  # index (in words so far) just past the last occurrence found
        self.starts: list[int] = []  # the first word's index of each occurrence the last feed completed

    def feed(self, piece: str) -> int:
        """Adds transcript text; returns how many new occurrences it completed."""
        self._text += piece
        phrase = self._phrase
        if not phrase:
            return 0
        words = words_of(self._text)
        found, start, self.starts = 0, self.end_word, []
        while start < len(words):
            size = self._match_at(words, start) if _alike(words[start], phrase[0]) else None
            if size is None:
                start += 1
                continue
            found += 1
            self.starts.append(start)
            start += size
            self.end_word = start
        self.count += found
        return found

    def _match_at(self, words: list[str], start: int) -> int | None:
        phrase, n = self._phrase, len(self._phrase)
        for size in (n, n - 1, n + 1):  # a word lost or added by transcription
            window = words[start : start + size]
            if len(window) < size or size <= 0 or not _alike(window[-1], phrase[-1]):
                continue
            matched = sum(block.size for block in
                          difflib.SequenceMatcher(a=phrase, b=window, autojunk=False).get_matching_blocks())
            if matched >= n - 1:
                return size
        return None

    def end_turn(self) -> None:
        """A turn ended (or was cut): its last word and the next turn's first stay apart."""
        if self._text and not self._text[-1].isspace():
            self._text += " "

    @property
    def words_seen(self) -> int:
        return len(words_of(self._text))


def _alike(word: str, wanted: str) -> bool:
    return word == wanted or difflib.SequenceMatcher(a=word, b=wanted).ratio() >= 0.75


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def begins_phrase(said: str, phrase: str) -> bool:
    """Whether `said` (a turn so far) is the start of `phrase`: its first word alike, and
    of four or more words all but one found in order, as ClosingDetector tolerates."""
    heard, wanted = words_of(said), words_of(phrase)
    if not heard:
        return True
    if not wanted or not _alike(heard[0], wanted[0]) or len(heard) > len(wanted) + 1:
        return False
    window = wanted[: len(heard)]
    matched = sum(block.size for block in difflib.SequenceMatcher(
        a=[_stem(w) for w in window], b=[_stem(w) for w in heard], autojunk=False).get_matching_blocks())
    return matched >= len(heard) - (1 if len(heard) >= 4 else 0)


def content_words(text: str) -> list[str]:
    return [word for word in words_of(text) if word not in _COMMON]


def asked(check: str, said: str, *, match: float = 0.5) -> bool:
    """Whether `said` holds `check`: at least `match` of its content words (all its words
    when it has no content words), in any order; tolerant of rewording and a lost word."""
    wanted = content_words(check) or words_of(check)
    if not wanted:
        return True
    heard = set(words_of(said))
    stems = {word[:5] for word in heard}
    found = sum(1 for word in wanted if word in heard or word[:5] in stems)
    return found >= match * len(wanted) - 1e-9


def questions_in(text: str) -> int:
    return len(re.findall(r"\?", text))
