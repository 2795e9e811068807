"""The scripted examiner: what the emulated model says next, as a plain state machine.

It knows only what the client sent, as the real model does: the setup's system
instruction and declared tools, and the notes (cues) the client sends during the session.

Two ways of being told the exam, and a model that improvises without either:

- A numbered script in the system instruction ("1. ...", "2. ..."), followed the way a
  well-behaved model follows it: the first line when first prompted, the next line after
  each turn that holds speech, each declared tool called once after the last answer.
- Cues: user text the client sends before an examiner turn (parse_cue()): `say exactly
  "X"` makes the next turn say X word for word; `call NAME` makes it call that declared
  tool. A cue sent with turnComplete false waits (pending) for the next trigger: a window
  with speech, a text, a client turn. Once the session has had a cue it is in cue mode:
  with no cue pending it improvises generic follow-up questions and a nudge repeats the
  last cued line.

In both, the closing phrase the instruction says to say exactly (`say exactly "..."`) is
said once after the tool results, then the examiner is quiet. The state is a small frozen
value, so a resumption handle can carry a copy of it (the pending cue included).
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
# What a model in cue mode asks when the client has told it nothing for this turn.
FOLLOW_UP_QUESTIONS = ("Can you tell me more about that?", "Why do you think that is?",
                       "How do you feel about that?", "Can you give me an example?")
AGAIN = "Let me say that again."
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+(\S.*)$", re.MULTILINE)
_SAY_EXACTLY = re.compile(r'say exactly\s+"([^"]+)"', re.IGNORECASE)
# In a cue: straight or curly quotes.
_CUE_SAY_EXACTLY = re.compile(r'say\s+exactly\s*:?\s*(?:"([^"]+)"|\u201c([^\u201d]+)\u201d)', re.IGNORECASE)
_CUE_CALL = re.compile(r"\bcall\s+([^.!?;]*)", re.IGNORECASE)


@dataclass(frozen=True)
class ScriptLine:
    """One examiner turn that expects an answer."""

    text: str
    question: str  # its last sentence: what is asked again, and looked for in a history
    improvised: bool = False  # a line of the improvising examiner, not one the instruction gave


def script_from_instruction(instruction: str) -> tuple[list[ScriptLine], str]:
    """(the lines, the closing phrase) an instruction tells the examiner to say."""
    said = _NUMBERED.findall(instruction or "")
    lines = [ScriptLine(text.strip(), last_sentence(text)) for text in said]
    if not lines:
        lines = [ScriptLine(text, last_sentence(text), improvised=True) for text in IMPROVISED_LINES]
    closings = _SAY_EXACTLY.findall(instruction or "")
    closing = " ".join(closings[-1].split()) if closings else IMPROVISED_CLOSING
    return lines, closing


def last_sentence(text: str) -> str:
    """The last sentence of text: the question a turn asks."""
    sentences = [s for s in re.split(r"(?<=[.?!])\s+", text.strip()) if s]
    return sentences[-1] if sentences else text.strip()


_last_sentence = last_sentence  # the older private name


@dataclass(frozen=True)
class Cue:
    """A note from the client telling the examiner what its next turn is: words to say
    exactly (say), or tools to call (tools). text is the note as it was received."""

    text: str
    say: str | None = None
    tools: tuple[str, ...] = ()


def parse_cue(text: str, tools: tuple[str, ...] | list[str] = ()) -> Cue | None:
    """The cue in a client's text, read as a model reads it; None when the text is no cue.

    - `say exactly "X"` (any case; straight or curly quotes; the last such quote in the
      text wins): the next turn says X, its whitespace collapsed.
    - otherwise `call NAME`, NAME a declared tool (several may follow in the same sentence,
      "call a and b"): the next turn calls those tools, in the order they are named.
    - otherwise no cue: a marker such as "[Exam system]" alone does not make one.
    """
    if not text or not text.strip():
        return None
    quoted = _CUE_SAY_EXACTLY.findall(text)
    if quoted:
        say = " ".join((quoted[-1][0] or quoted[-1][1]).split())
        if say:
            return Cue(text=text, say=say)
    named: list[str] = []
    for match in _CUE_CALL.finditer(text):
        clause = match.group(1)
        found = sorted((m.start(), name) for name in tools
                       for m in [re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", clause)] if m)
        named += [name for _, name in found if name not in named]
    if named:
        return Cue(text=text, tools=tuple(named))
    return None


class Phase(str, Enum):
    NOT_STARTED = "not_started"
    ASKING = "asking"
    AWAITING_TOOL_RESULTS = "awaiting_tool_results"
    DONE = "done"


@dataclass(frozen=True)
class Speak:
    text: str
    line: int | None = None  # index of the script line, None for the closing and repeats
    cue: str | None = None  # the cue's text, when what is said was cued

    @property
    def cued(self) -> bool:
        return self.cue is not None


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
    pending_cue: Cue | None = None  # told, not yet acted on
    cue_mode: bool = False  # the session has had a cue: the client conducts the exam
    last_cued: str | None = None  # the words of the last cued turn (what a nudge repeats)
    improvised: int = 0  # follow-up questions improvised so far (cycles FOLLOW_UP_QUESTIONS)


@dataclass
class ScriptedExaminer:
    """Decides the examiner's reply to each completed input.

    Args:
        lines: the script, from script_from_instruction().
        closing_phrase: said once, after the tools have their results.
        tools: the tools the client declared: each is called once after the last answer
            of a numbered script, or when a cue says so.
    """

    lines: list[ScriptLine]
    closing_phrase: str
    tools: tuple[str, ...] = ()
    state: ExaminerState = field(default_factory=ExaminerState)

    @property
    def scripted(self) -> bool:
        """Whether the instruction gave a numbered script (else the examiner improvises)."""
        return not all(line.improvised for line in self.lines)

    # ---- cues ------------------------------------------------------------------------

    def read_cue(self, text: str) -> Cue | None:
        """A client's text: when it is a cue, it becomes the pending cue (replacing an
        earlier one) and the session is in cue mode. Returns the cue, or None."""
        cue = parse_cue(text, self.tools)
        if cue is not None:
            self.state = dataclasses.replace(self.state, pending_cue=cue, cue_mode=True)
        return cue

    @property
    def pending_cue(self) -> Cue | None:
        return self.state.pending_cue

    def settle_cue(self) -> None:
        """The pending cue was acted on already (a model turn follows it in a history)."""
        cue = self.state.pending_cue
        if cue is not None:
            self.state = dataclasses.replace(self.state, pending_cue=None,
                                             last_cued=cue.say or self.state.last_cued)

    def _act_on_cue(self) -> Reply:
        cue = self.state.pending_cue
        self.state = dataclasses.replace(self.state, pending_cue=None)
        if cue.say is not None:
            phase = Phase.ASKING if self.state.phase is Phase.NOT_STARTED else self.state.phase
            self.state = dataclasses.replace(self.state, phase=phase, last_cued=cue.say)
            return Speak(cue.say, cue=cue.text)
        self.state = dataclasses.replace(self.state, phase=Phase.AWAITING_TOOL_RESULTS, pending_tools=cue.tools)
        return CallTools(cue.tools)

    def improvise(self) -> str:
        """A generic follow-up question (the next of FOLLOW_UP_QUESTIONS, in a cycle)."""
        n = self.state.improvised
        self.state = dataclasses.replace(self.state, improvised=n + 1)
        return FOLLOW_UP_QUESTIONS[n % len(FOLLOW_UP_QUESTIONS)]

    # ---- triggers --------------------------------------------------------------------

    def on_turn(self, *, speech: bool) -> Reply:
        """A completed activity window, with or without speech."""
        if not speech:
            return Silence()  # a pending cue waits for the candidate to finish
        if self.state.pending_cue is not None:
            return self._act_on_cue()
        if self.state.phase in (Phase.AWAITING_TOOL_RESULTS, Phase.DONE):
            return Silence()
        if self.state.cue_mode:
            self.state = dataclasses.replace(self.state, phase=Phase.ASKING)
            return Speak(self.improvise())
        if self.state.phase is Phase.NOT_STARTED:
            return self._ask(0)
        if self.state.next_line < len(self.lines):
            return self._ask(self.state.next_line)
        return self._finish_questions()

    def on_text(self) -> Reply:
        """A text prompt (a first trigger, a client turn, or a nudge from the client)."""
        if self.state.pending_cue is not None:
            return self._act_on_cue()
        if self.state.phase in (Phase.AWAITING_TOOL_RESULTS, Phase.DONE):
            return Silence()
        if self.state.cue_mode:
            if self.state.last_cued:
                return Speak(f"{AGAIN} {last_sentence(self.state.last_cued)}")
            self.state = dataclasses.replace(self.state, phase=Phase.ASKING)
            return Speak(self.improvise())
        if self.state.phase is Phase.NOT_STARTED:
            return self._ask(0)
        if self.state.next_line > 0:
            current = self.lines[self.state.next_line - 1]
            return Speak(f"{AGAIN} {current.question}")
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
        """The pending calls were cancelled: call again after the next answer (in cue mode:
        the calls are pending again, as the cue that asked for them was)."""
        if self.state.phase is Phase.AWAITING_TOOL_RESULTS:
            again = self.state.pending_cue
            if self.state.cue_mode and again is None and self.state.pending_tools:
                tools = self.state.pending_tools
                again = Cue(text=f"call {' and '.join(tools)}", tools=tools)
            self.state = dataclasses.replace(self.state, phase=Phase.ASKING, pending_tools=(), pending_cue=again)

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
