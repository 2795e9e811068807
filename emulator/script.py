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
- A role cue (`play this role ... Role: <brief> Start by saying exactly "X" ...`): the
  examiner says X, then plays the role: each candidate turn (or nudge) with no cue pending
  gets a short answer in role, one fact of the brief a turn in the first person, never a
  direction to the actor (emulator/role.py), then fillers, until a cue to say or call
  something ends the role.

The words it makes up itself (improvised questions, follow-ups, "let me say that again",
fillers in a role) are in the session's language (emulator/language.py: own_words); in a
language the emulator has no words for, it says only what it was told, and is otherwise silent.

A tool result whose response holds a cue (in any string, at any depth: cue_in_response())
is acted on as the model acts on a function response: at once, unless the cue says to wait
"when the candidate has finished" (and not "Now:"); then it is the pending cue.

In both, the closing phrase the instruction says to say exactly (`say exactly "..."`) is
said once after the tool results (when none holds a cue), then the examiner is quiet. The
state is a small frozen value, so a resumption handle can carry a copy of it (the pending
cue included).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from enum import Enum

from emulator.language import ENGLISH, OwnWords
from emulator.role import role_facts

# The English words (emulator/language.py), by their older names.
IMPROVISED_LINES = ENGLISH.improvised_lines  # what a model with no script asks, one per turn
IMPROVISED_CLOSING = ENGLISH.improvised_closing
FOLLOW_UP_QUESTIONS = ENGLISH.follow_up_questions  # cue mode, when the client told it nothing for this turn
AGAIN = ENGLISH.again
ROLE_FILLERS = ENGLISH.role_fillers  # in role, when the brief has nothing more to tell (cycled)
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+(\S.*)$", re.MULTILINE)
_SAY_EXACTLY = re.compile(r'say exactly\s+"([^"]+)"', re.IGNORECASE)
# In a cue: straight or curly quotes.
_CUE_SAY_EXACTLY = re.compile(r'say\s+exactly\s*:?\s*(?:"([^"]+)"|\u201c([^\u201d]+)\u201d)', re.IGNORECASE)
_CUE_CALL = re.compile(r"\bcall\s+([^.!?;]*)", re.IGNORECASE)
# A role cue (viva/processors/exam_director.py sends it for role-play parts) words its opening line
# "Start by saying exactly": only there does "saying exactly" count, so other text keeps its meaning.
_ROLE_CUE = re.compile(r"\bplay\s+this\s+role\b", re.IGNORECASE)
_ROLE_OPENING = re.compile(r'say(?:ing)?\s+exactly\s*:?\s*(?:"([^"]+)"|\u201c([^\u201d]+)\u201d)', re.IGNORECASE)
# The brief: after "Role:", up to the opening line's instruction (or the note's own closing words).
_ROLE_BRIEF = re.compile(r"\bRole:\s*(.*?)\s*(?=\bStart\s+by\b|\bsay(?:ing)?\s+exactly\b|\bThis\s+note\b|$)",
                         re.IGNORECASE | re.DOTALL)
# A cue's timing, read from its words where no turnComplete says it (a function response).
_CUE_NOW = re.compile(r"\bnow\s*:", re.IGNORECASE)
_CUE_WAITS = re.compile(r"\bwhen\s+the\s+candidate\s+has\s+finished\b", re.IGNORECASE)


@dataclass(frozen=True)
class ScriptLine:
    """One examiner turn that expects an answer."""

    text: str
    question: str  # its last sentence: what is asked again, and looked for in a history
    improvised: bool = False  # a line of the improvising examiner, not one the instruction gave


def script_from_instruction(instruction: str, own_words: OwnWords = ENGLISH) -> tuple[list[ScriptLine], str]:
    """(the lines, the closing phrase) an instruction tells the examiner to say; without them,
    its own (improvised lines, a closing) in the session's language, which may have none."""
    said = _NUMBERED.findall(instruction or "")
    lines = [ScriptLine(text.strip(), last_sentence(text)) for text in said]
    if not lines:
        lines = [ScriptLine(text, last_sentence(text), improvised=True) for text in own_words.improvised_lines]
    closings = _SAY_EXACTLY.findall(instruction or "")
    closing = " ".join(closings[-1].split()) if closings else own_words.improvised_closing
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
    role: str | None = None  # a role to play after saying `say` (the brief, in the second person)


def parse_cue(text: str, tools: tuple[str, ...] | list[str] = ()) -> Cue | None:
    """The cue in a client's text, read as a model reads it; None when the text is no cue.

    - `say exactly "X"` (any case; straight or curly quotes; the last such quote in the
      text wins): the next turn says X, its whitespace collapsed.
    - otherwise `call NAME`, NAME a declared tool (several may follow in the same sentence,
      "call a and b"): the next turn calls those tools, in the order they are named.
    - a role cue (it says "play this role" and has "Role:"): the brief after "Role:" is the
      role to play, the quote after `say exactly` or `saying exactly` its opening line.
    - otherwise no cue: a marker such as "[Exam system]" alone does not make one.
    """
    if not text or not text.strip():
        return None
    role = _parse_role(text)
    if role is not None:
        return role
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


def cue_in_response(response, tools: tuple[str, ...] | list[str] = ()) -> Cue | None:
    """The cue in a function response: the first string (depth first, in order) that
    parse_cue() reads as one; None when no string in it is a cue."""
    if isinstance(response, str):
        return parse_cue(response, tools)
    if isinstance(response, dict):
        response = list(response.values())
    for value in response if isinstance(response, (list, tuple)) else ():
        cue = cue_in_response(value, tools)
        if cue is not None:
            return cue
    return None


def cue_says_now(cue: Cue) -> bool:
    """Whether a cue with no turnComplete beside it is acted on at once: "Now:" says so, as
    does a cue that does not ask to wait for the candidate ("When the candidate has finished:")."""
    return bool(_CUE_NOW.search(cue.text)) or not _CUE_WAITS.search(cue.text)


def _parse_role(text: str) -> Cue | None:
    """The role cue in text, or None when text asks for no role."""
    if not _ROLE_CUE.search(text):
        return None
    found = _ROLE_BRIEF.search(text)
    brief = " ".join(found.group(1).split()) if found else ""
    if not brief:
        return None
    quoted = _ROLE_OPENING.findall(text[found.end():])
    opening = " ".join((quoted[-1][0] or quoted[-1][1]).split()) if quoted else ""
    return Cue(text=text, say=opening or None, role=brief)


def in_role_lines(brief: str) -> list[str]:
    """What the examiner says in role, one a turn: the brief's facts (emulator/role.py), one
    each, in the first person ("You are a bus driver." -> "I am a bus driver."), without the
    directions to the actor ("Only mention X if asked.")."""
    return list(role_facts(brief))


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
    role: bool = False  # said in role (a reply from a role cue's brief)

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
    improvised: int = 0  # follow-up questions improvised so far (cycles the follow-up questions)
    role: str | None = None  # the brief of the role being played (None: not in role)
    role_replies: int = 0  # replies said in this role so far (the next of in_role_lines, then fillers)
    result_cue: Cue | None = None  # a cue in a tool result, kept until the last pending result is in


@dataclass
class ScriptedExaminer:
    """Decides the examiner's reply to each completed input.

    Args:
        lines: the script, from script_from_instruction().
        closing_phrase: said once, after the tools have their results.
        tools: the tools the client declared: each is called once after the last answer
            of a numbered script, or when a cue says so.
        own_words: the words it makes up itself, in the session's language (emulator/language.py).
    """

    lines: list[ScriptLine]
    closing_phrase: str
    tools: tuple[str, ...] = ()
    state: ExaminerState = field(default_factory=ExaminerState)
    own_words: OwnWords = ENGLISH

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
            self._take_role(cue)

    def _take_role(self, cue: Cue) -> None:
        """A cue acted on: a role cue starts its role, any other cue ends the role played."""
        self.state = dataclasses.replace(self.state, role=cue.role, role_replies=0)

    def in_role(self) -> Speak | Silence:
        """The next reply in role: the brief's next fact, then the fillers in a cycle (none in a
        language without own words: silence)."""
        facts = role_facts(self.state.role)
        fillers = self.own_words.role_fillers
        n = self.state.role_replies
        self.state = dataclasses.replace(self.state, phase=Phase.ASKING, role_replies=n + 1)
        if n < len(facts):
            return Speak(facts[n], role=True)
        return Speak(fillers[(n - len(facts)) % len(fillers)], role=True) if fillers else Silence()

    def _act_on_cue(self) -> Reply:
        cue = self.state.pending_cue
        self.state = dataclasses.replace(self.state, pending_cue=None)
        self._take_role(cue)
        if cue.say is None and cue.role is not None:
            return self.in_role()  # a role with no opening line: straight into it
        if cue.say is not None:
            phase = Phase.ASKING if self.state.phase is Phase.NOT_STARTED else self.state.phase
            self.state = dataclasses.replace(self.state, phase=phase, last_cued=cue.say)
            return Speak(cue.say, cue=cue.text)
        self.state = dataclasses.replace(self.state, phase=Phase.AWAITING_TOOL_RESULTS, pending_tools=cue.tools)
        return CallTools(cue.tools)

    def improvise(self) -> str | None:
        """A generic follow-up question (the next of the session language's, in a cycle); None
        in a language without own words."""
        questions = self.own_words.follow_up_questions
        if not questions:
            return None
        n = self.state.improvised
        self.state = dataclasses.replace(self.state, improvised=n + 1)
        return questions[n % len(questions)]

    def _follow_up(self) -> Speak | Silence:
        """Cue mode with nothing cued for this turn: an improvised question, or silence."""
        self.state = dataclasses.replace(self.state, phase=Phase.ASKING)
        question = self.improvise()
        return Speak(question) if question else Silence()

    def _again(self, question: str) -> Speak:
        """A question asked again, after the session language's "let me say that again" (if it has one)."""
        again = self.own_words.again
        return Speak(f"{again} {question}" if again else question)

    # ---- triggers --------------------------------------------------------------------

    def on_turn(self, *, speech: bool) -> Reply:
        """A completed activity window, with or without speech."""
        if not speech:
            return Silence()  # a pending cue waits for the candidate to finish
        if self.state.pending_cue is not None:
            return self._act_on_cue()
        if self.state.phase in (Phase.AWAITING_TOOL_RESULTS, Phase.DONE):
            return Silence()
        if self.state.role is not None:
            return self.in_role()
        if self.state.cue_mode:
            return self._follow_up()
        if self.state.phase is Phase.NOT_STARTED:
            return self._ask(0) if self.lines else Silence()  # no script, and no words of its own
        if self.state.next_line < len(self.lines):
            return self._ask(self.state.next_line)
        return self._finish_questions()

    def on_text(self) -> Reply:
        """A text prompt (a first trigger, a client turn, or a nudge from the client)."""
        if self.state.pending_cue is not None:
            return self._act_on_cue()
        if self.state.phase in (Phase.AWAITING_TOOL_RESULTS, Phase.DONE):
            return Silence()
        if self.state.role is not None:
            return self.in_role()  # a nudge in role: the answer the candidate is waiting for
        if self.state.cue_mode:
            if self.state.last_cued:
                return self._again(last_sentence(self.state.last_cued))
            return self._follow_up()
        if self.state.phase is Phase.NOT_STARTED:
            return self._ask(0) if self.lines else Silence()
        if self.state.next_line > 0:
            return self._again(self.lines[self.state.next_line - 1].question)
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

    def on_tool_result(self, name: str, response=None) -> Reply:
        """The client answered one of the calls. After the last pending result: a cue in a
        result (cue_in_response(), the latest kept) is acted on (cue_says_now()) or left
        pending for the next answer; with none, the closing."""
        if self.state.phase is not Phase.AWAITING_TOOL_RESULTS or name not in self.state.pending_tools:
            return Silence()
        pending = tuple(n for n in self.state.pending_tools if n != name)
        cue = cue_in_response(response, self.tools) or self.state.result_cue
        self.state = dataclasses.replace(
            self.state, pending_tools=pending, answered_tools=(*self.state.answered_tools, name), result_cue=cue
        )
        if pending:
            return Silence()
        if cue is None:
            return self.close()
        # A judgement's result says what comes next: the exam goes on, conducted by cues.
        self.state = dataclasses.replace(self.state, phase=Phase.ASKING, result_cue=None,
                                         pending_cue=cue, cue_mode=True)
        return self._act_on_cue() if cue_says_now(cue) else Silence()

    def cancel_tools(self) -> None:
        """The pending calls were cancelled: call again after the next answer (in cue mode:
        the calls are pending again, as the cue that asked for them was)."""
        if self.state.phase is Phase.AWAITING_TOOL_RESULTS:
            again = self.state.pending_cue
            if self.state.cue_mode and again is None and self.state.pending_tools:
                tools = self.state.pending_tools
                again = Cue(text=f"call {' and '.join(tools)}", tools=tools)
            self.state = dataclasses.replace(self.state, phase=Phase.ASKING, pending_tools=(), pending_cue=again,
                                             result_cue=None)

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

    def close(self) -> Speak | Silence:
        """The closing phrase, after which the examiner goes quiet (silence where it has none:
        the instruction named none, and the session's language has no words of its own)."""
        self.state = dataclasses.replace(self.state, phase=Phase.DONE, pending_tools=())
        return Speak(self.closing_phrase) if self.closing_phrase else Silence()


def _words(text: str) -> str:
    """Lower-case words joined by single spaces, framed by spaces (for whole-word containment)."""
    return " " + " ".join(re.findall(r"[a-z0-9']+", text.lower())) + " " if text.strip() else ""
