"""The scripted examiner: what the emulated model says next, as a plain state machine.

It follows an exam config the way a well-behaved model follows its prompt: greets
and asks the first question when first prompted, answers each turn that holds speech
with the next line of the script, calls each required tool once after the last
answer, says the closing phrase once after the tool results, then goes quiet. The
state is a small value, so a resumption handle can carry a copy of it.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from enum import Enum

from viva.config import ExamConfig


@dataclass(frozen=True)
class ScriptLine:
    """One examiner turn that expects an answer."""

    text: str
    question: str
    part: str


def script_lines(exam: ExamConfig) -> list[ScriptLine]:
    """The examiner's turns in order: greeting, then each part's intro and questions."""
    lines: list[ScriptLine] = []
    lead = [exam.greeting]
    for part in exam.parts:
        if part.intro:
            lead.append(part.intro)
        if part.cue_card:
            card = part.cue_card.spoken()
            lead.append(card)
            lines.append(ScriptLine(" ".join(lead), card, part.name))
            lead = []
        for question in part.questions:
            lead.append(question)
            lines.append(ScriptLine(" ".join(lead), question, part.name))
            lead = []
    if lead:  # a part with an intro and nothing to ask still gets said
        lines.append(ScriptLine(" ".join(lead), lead[-1], exam.parts[-1].name))
    return lines


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
        lines: the script, from script_lines().
        closing_phrase: said once, after the required tools have their results.
        required_tools: the tools the exam config requires.
        tools: those of them the client declared, so the model can call them.
    """

    lines: list[ScriptLine]
    closing_phrase: str
    required_tools: tuple[str, ...] = ()
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
