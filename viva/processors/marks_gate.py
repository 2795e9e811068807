"""The marks gate: once the assessment has begun, the candidate hears the closing phrase only.

No exam board lets a candidate hear their marks, yet a model told to call the result
function silently sometimes says the marks aloud first, or instead (the
tool_call_and_speak and speak_instead_of_tool_call faults). From the assessment's cue
on, `MarksGate` (plain) holds each examiner turn's audio and words until its first words
are in: a turn that begins the closing phrase plays (what was held first, then the rest
as it comes); any other turn is withheld whole, and so is a closing turn the moment it
strays from the phrase before the phrase is complete. The closing finder says when the
phrase is complete (`on_closing`); what follows is the closing guard's (it sits upstream
and cuts everything after the phrase):
withholding it here would make exam end say the closing a second time. Withheld words go to the record and to the result's fallback
extraction, never to the candidate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from viva.exam.phrases import begins_phrase


@dataclass(frozen=True)
class Play:
    """Pass these items on, in order (audio and words held until the turn was known)."""

    items: list


@dataclass(frozen=True)
class Withhold:
    """The turn is not the closing: its words so far (and from now on, piece by piece) are
    withheld. first: the turn was found out just now."""

    text: str
    first: bool


@dataclass
class _Turn:
    held: list = field(default_factory=list)
    said: str = ""
    verdict: str = "undecided"  # -> "closing" (plays) or "withheld"
    phrase_said: bool = False  # a closing turn has said the whole phrase


class MarksGate:
    """Which examiner audio and words reach the candidate while the assessment is under way.

    Args:
        closing_phrase: the exam's closing phrase; a turn that begins with it is heard.
    """

    def __init__(self, closing_phrase: str):
        self._phrase = closing_phrase
        self.sealed = False
        self._turn = _Turn()
        self.withheld_turns = 0

    def seal(self, sealed: bool) -> list:
        """The assessment began (True) or the exam went back to a question (False). Unsealing
        plays what a turn still held."""
        self.sealed = sealed
        if sealed:
            return []
        held, self._turn = self._turn.held, _Turn()
        return [Play(held)] if held else []

    def on_turn_start(self) -> list:
        """A new examiner turn: what an undecided turn still held is dropped."""
        return self.on_turn_end()

    def on_item(self, item) -> list:
        """Audio, or anything else of the turn that shows its words (Pipecat's LLMTextFrame,
        which RTVI forwards to the client): it goes, waits or is dropped with the turn."""
        if not self.sealed or self._turn.verdict == "closing":
            return [Play([item])]
        if self._turn.verdict == "undecided":
            self._turn.held.append(item)
        return []

    def on_closing(self, item) -> list:
        """The closing finder's finding (`item`): the turn's next words complete the phrase
        (in one piece, perhaps, with more after it). It goes with the turn's words."""
        if self.sealed and self._turn.verdict == "withheld":
            return []
        self._turn.phrase_said = True
        return self.on_item(item)

    def on_text(self, item, text: str) -> list:
        """The turn's words (its output transcript), which decide."""
        if not self.sealed:
            return [Play([item])]
        turn = self._turn
        turn.said += text
        if turn.verdict == "withheld":
            return [Withhold(text, first=False)]
        if turn.verdict == "closing" and turn.phrase_said:
            return [Play([item])]
        if not turn.said.strip():
            turn.held.append(item)
            return []
        if turn.phrase_said or begins_phrase(turn.said, self._phrase):
            if turn.verdict == "closing":
                return [Play([item])]
            turn.verdict, held, turn.held = "closing", [*turn.held, item], []
            return [Play(held)]
        turn.verdict, turn.held = "withheld", []
        self.withheld_turns += 1
        return [Withhold(turn.said, first=True)]

    def on_turn_end(self) -> list:
        """The examiner's turn ended: a turn that never showed its words is not heard."""
        turn, self._turn = self._turn, _Turn()
        if self.sealed and turn.verdict == "undecided" and turn.held:
            self.withheld_turns += 1
            return [Withhold(turn.said, first=True)]
        return []
