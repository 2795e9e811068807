"""The scripted examiner: what the emulated model says next, as a plain state machine.

It knows only what the client sent in the setup, as the real model does: the system
instruction and the declared tools. An instruction with a numbered script ("1. ...",
"2. ...") is followed the way a well-behaved model follows it: the first line when first
prompted, the next line after each turn that holds speech, each declared tool called
once after the last answer, the closing phrase it was told to say exactly (`say exactly
"..."`) once after the tool results, then quiet. An instruction without a script gets
an improvising examiner: a greeting and generic questions. The state is a small value,
so a resumption handle can carry a copy of it.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from enum import Enum

# What a model with no script asks: generic questions, one per turn.
IMPROVISED_LINES = ("Hello, I am your examiner today. Where do you live?",
                    "What do you like to do in your free time?")
IMPROVISED_CLOSING = "Thank you. That is the end of the test."
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+(\S.*)$", re.MULTILINE)
_SAY_EXACTLY = re.compile(r'say exactly\s+"([^"]+)"', re.IGNORECASE)


@dataclass(frozen=True)
class ScriptLine:
    """One examiner turn that expects an answer."""

    text: str
    question: str  # its last sentence: what is asked again, and looked for in a history


def script_from_instruction(instruction: str) -> tuple[list[ScriptLine], str]:
    """(the lines, the closing phrase) an instruction tells the examiner to say."""
    said = _NUMBERED.findall(instruction or "") or list(IMPROVISED_LINES)
    lines = [ScriptLine(text.strip(), _last_sentence(text)) for text in said]
    closings = _SAY_EXACTLY.findall(instruction or "")
    closing = " ".join(closings[-1].split()) if closings else IMPROVISED_CLOSING
    return lines, closing


def _last_sentence(text: str) -> str:
    sentences = [s for s in re.split(r"(?<=[.?!])\s+", text.strip()) if s]
    return sentences[-1] if sentences else text.strip()


class Phase(str, Enum):
    NOT_STARTED = "not_started"
    ASKING = "asking"
    AWAITING_TOOL_RESULTS = "awaiting_tool_results"
    DONE = "done"


@dataclass(frozen=True)
class Speak:
    text: str
    line: int | None = None  # index of the script line, None for the closing and repeats


@dataclass(frozen=True)
class CallTools:
    names: tuple[str, ...]


@dataclass(frozen=True)
class Silence:
    """An empty turn: the model answers nothing."""


Reply = Speak | CallTools | Silence


@dataclass(frozen=True)
class ExaminerState:
    phase: Phase = Phase.NOT_STARTED
    next_line: int = 0
    pending_tools: tuple[str, ...] = ()
    answered_tools: tuple[str, ...] = ()


@dataclass
class ScriptedExaminer:
    """Decides the examiner's reply to each completed input.

    Args:
        lines: the script, from script_from_instruction().
        closing_phrase: said once, after the tools have their results.
        tools: the tools the client declared: each is called once after the last answer.
    """

    lines: list[ScriptLine]
    closing_phrase: str
    tools: tuple[str, ...] = ()
    state: ExaminerState = field(default_factory=ExaminerState)

    def on_turn(self, *, speech: bool) -> Reply:
        """A completed activity window, with or without speech."""
        if not speech:
            return Silence()
        if self.state.phase is Phase.NOT_STARTED:
            return self._ask(0)
        if self.state.phase is Phase.ASKING:
            if self.state.next_line < len(self.lines):
                return self._ask(self.state.next_line)
            return self._finish_questions()
        return Silence()

    def on_text(self) -> Reply:
        """A text prompt (a first trigger, or a nudge from the client)."""
        if self.state.phase is Phase.NOT_STARTED:
            return self._ask(0)
        if self.state.phase is Phase.ASKING and self.state.next_line > 0:
            current = self.lines[self.state.next_line - 1]
            return Speak(f"Let me say that again. {current.question}")
        return Silence()

    def on_history(self, examiner_said: list[str]) -> bool:
        """A conversation so far, seeded into a fresh session: go on after the last line the
        examiner said in it (as a model reads its history). Returns whether it placed itself."""
        said = _words(" ".join(examiner_said))
        if _words(self.closing_phrase) and _words(self.closing_phrase) in said:
            self.state = dataclasses.replace(self.state, phase=Phase.DONE)
            return True
        asked = [i for i, line in enumerate(self.lines) if _words(line.question) and _words(line.question) in said]
        if not asked:
            return False
        self.state = dataclasses.replace(self.state, phase=Phase.ASKING, next_line=asked[-1] + 1)
        return True

    def on_tool_result(self, name: str) -> Reply:
        """The client answered one of the calls."""
        if self.state.phase is not Phase.AWAITING_TOOL_RESULTS or name not in self.state.pending_tools:
            return Silence()
        pending = tuple(n for n in self.state.pending_tools if n != name)
        self.state = dataclasses.replace(
            self.state, pending_tools=pending, answered_tools=(*self.state.answered_tools, name)
        )
        if pending:
            return Silence()
        return self.close()

    def cancel_tools(self) -> None:
        """The pending calls were cancelled: call again after the next answer."""
        if self.state.phase is Phase.AWAITING_TOOL_RESULTS:
            self.state = dataclasses.replace(self.state, phase=Phase.ASKING, pending_tools=())

    @property
    def current_line(self) -> int:
        """Index of the last line asked (-1 before the greeting)."""
        return self.state.next_line - 1

    def _ask(self, index: int) -> Speak:
        self.state = dataclasses.replace(self.state, phase=Phase.ASKING, next_line=index + 1)
        return Speak(self.lines[index].text, line=index)

    def _finish_questions(self) -> Reply:
        if not self.tools:
            return self.close()
        self.state = dataclasses.replace(
            self.state, phase=Phase.AWAITING_TOOL_RESULTS, pending_tools=self.tools
        )
        return CallTools(self.tools)

    def close(self) -> Speak:
        """The closing phrase, after which the examiner goes quiet."""
        self.state = dataclasses.replace(self.state, phase=Phase.DONE, pending_tools=())
        return Speak(self.closing_phrase)


def _words(text: str) -> str:
    """Lower-case words joined by single spaces, framed by spaces (for whole-word containment)."""
    return " " + " ".join(re.findall(r"[a-z0-9']+", text.lower())) + " " if text.strip() else ""
