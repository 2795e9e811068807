"""The exam director: viva conducts the exam, step by step and on time; the model speaks.

A model keeps no clock and follows a long script only now and then
(field-reports.md §8), so the script and the timers stay here. `exam_plan()` turns the
config into steps (each question, the cue card, the start of the long turn, the
assessment). `ExamDirector` (plain, injected clock) decides from what happens (the
examiner's turn ended with its transcript, the candidate's window opened or closed, a
tool result, time passing) what the model is told next and what the turn gate and the
stall watchdog do, as action objects:

- the next step's cue is placed while the candidate answers (clientContent with
  turnComplete false, viva/pipelines/gemini.py), so that the activityEnd of the answer is what
  makes the model say it: no round trip is added after the answer;
- what the examiner said is checked against the cued step (`asked()`, as tolerant as the
  closing detector); a step not asked is cued again, and the exam never moves past it;
- the preparation is held by viva (no window, no nudge, no examiner audio), the long turn
  is cut at its limit, a part past its upper bound gives way to the next part, an exam
  past its own limit goes to the assessment, and a candidate silent after a question is
  asked once more, then given the next one.

`ExamDirectorProcessor` (after the Live service) carries the actions out with frames.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    FunctionCallInProgressFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    StartFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from viva.processors.closing_guard import words_of
from viva.processors.exam_frames import CandidateHoldFrame, ExamCueFrame, ExaminerWithheldFrame, ExamPartFrame
from viva.processors.marks_gate import MarksGate, Play, Withhold

CUE_MARK = "[Exam system]"
REPLY_WAIT_S = 4.0  # a cue to answer at once with no examiner turn after this long is sent again
# Words too common to show that a question was asked.
_COMMON = frozenset("a an the and or but of to in on at for with is are was were be do does did you your i me my "
                    "it this that these those there what how why when where which who would could can will "
                    "about some any so if as please now let us".split())


class StepKind(str, Enum):
    QUESTION = "question"
    CUE_CARD = "cue_card"
    LONG_TURN = "long_turn"  # the start of the candidate's timed talk
    ROLE = "role"  # the model plays a role from a brief; the candidate leads until the time is up
    ASSESSMENT = "assessment"
    CLOSING = "closing"  # only when there is no tool to call first


@dataclass(frozen=True)
class Step:
    """One thing the examiner is cued to do.

    key: its name in the record ("Part 1 q2"). line: the words it is to say (with the
    greeting or the part's intro in front when it leads). check: the words that show it
    was said (a question, a card's topic). prep_s: silent preparation after it is said.
    limit_s: the candidate's answer is cut this long after the window opens (a role: the
    role-play ends this long after its opening line). reask: a silent candidate is asked
    again once. brief, closing: a role's brief, and what ends it.
    """

    key: str
    part: str
    kind: StepKind
    line: str
    check: str
    prep_s: float = 0.0
    limit_s: float | None = None
    tools: tuple[str, ...] = ()
    reask: bool = True
    brief: str = ""
    closing: str = ""


def exam_plan(exam) -> list[Step]:
    """The steps of an ExamConfig, in order."""
    steps: list[Step] = []
    lead = [exam.greeting]
    for part in exam.parts:
        if part.intro:
            lead.append(part.intro)
        if part.cue_card:
            card = part.cue_card.spoken()
            prepared = part.prep_s > 0
            steps.append(Step(f"{part.name} cue card", part.name, StepKind.CUE_CARD, " ".join([*lead, card]),
                              check=part.cue_card.topic, prep_s=part.prep_s,
                              limit_s=None if prepared else part.long_turn_s))
            lead = []
            if prepared:
                steps.append(_start(part, f"{part.name} long turn", part.long_turn_s))
        elif part.role and part.prep_s > 0 and lead != [exam.greeting]:
            # Reading time before a role-play: the intro is said, then the silence is held.
            steps.append(Step(f"{part.name} intro", part.name, StepKind.QUESTION, " ".join(lead), check=lead[-1],
                              prep_s=part.prep_s))
            lead = []
        for number, question in enumerate(part.questions, 1):
            key = f"{part.name} q{number}"
            prep_s = part.question_prep_s
            steps.append(Step(key, part.name, StepKind.QUESTION, " ".join([*lead, question]), check=question,
                              prep_s=prep_s, limit_s=None if prep_s else part.answer_s, reask=part.reask))
            lead = []
            if prep_s:
                steps.append(_start(part, f"{key} answer", part.answer_s))
        if part.role:
            role = part.role
            steps.append(Step(f"{part.name} role", part.name, StepKind.ROLE, " ".join([*lead, role.opening_line]),
                              check=role.opening_line, limit_s=role.time_s, brief=role.brief,
                              closing=role.closing_line))
            lead = []
        if lead and lead != [exam.greeting]:  # an intro with nothing after it is still said
            steps.append(Step(f"{part.name} intro", part.name, StepKind.QUESTION, " ".join(lead), check=lead[-1]))
            lead = []
    tools = tuple(tool.name for tool in exam.required_tools)
    last = exam.parts[-1].name
    if tools:
        steps.append(Step("assessment", last, StepKind.ASSESSMENT, "", check="", tools=tools))
    else:
        steps.append(Step("closing", last, StepKind.CLOSING, exam.closing_phrase, check=exam.closing_phrase))
    return steps


def _start(part, key: str, limit_s: float | None) -> Step:
    """The start line after a preparation: the candidate's timed answer begins."""
    return Step(key, part.name, StepKind.LONG_TURN, part.start_line, check=part.start_line, limit_s=limit_s,
                reask=part.reask)


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


# -- what the director asks for


@dataclass(frozen=True)
class Cue:
    """Tell the model its next step. respond_now: at once (turnComplete); else it waits in
    the model's context for the end of the candidate's answer."""

    step: str
    text: str
    respond_now: bool
    attempt: int


@dataclass(frozen=True)
class HoldCandidate:
    """No window opens and nothing reaches the model while held; cut: close the open window now."""

    hold: bool
    reason: str
    cut: bool = False


@dataclass(frozen=True)
class WithholdExaminer:
    """The examiner's audio does not reach the candidate (the preparation is silent)."""

    withhold: bool


@dataclass(frozen=True)
class SealMarks:
    """From the assessment's cue on, the candidate hears the closing phrase only (MarksGate);
    False: the exam went back to a question."""

    sealed: bool


@dataclass(frozen=True)
class PartBegins:
    part: str


@dataclass(frozen=True)
class Note:
    """Something for the record: kind and its fields."""

    kind: str
    fields: dict


class Phase(str, Enum):
    NOT_STARTED = "not_started"
    CUED = "cued"  # a cue is out for the step the examiner is to say next
    PREPARING = "preparing"
    ROLE = "role"  # the model plays its role; the candidate leads
    DONE = "done"  # assessment or closing cued: the exam's end is exam_end's


@dataclass
class StepRecord:
    """A step as conducted: the `plan` entry of session.json."""

    step: str
    part: str
    kind: str
    cued_s: float | None = None
    asked_s: float | None = None
    answered_s: list[list[float]] = field(default_factory=list)
    cues: int = 0
    prep_s: float | None = None
    long_turn_s: float | None = None
    role_s: float | None = None
    skipped: str | None = None

    def entry(self) -> dict:
        out = {"step": self.step, "part": self.part, "kind": self.kind, "cued_s": self.cued_s,
               "asked_s": self.asked_s, "answered_s": self.answered_s, "cues": self.cues}
        for name in ("prep_s", "long_turn_s", "role_s", "skipped"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


class ExamDirector:
    """Which step is next, when it is cued, and what the gate and the watchdog do meanwhile.

    Args:
        steps: from exam_plan().
        parts_max_s: by part name, its upper bound (seconds); a part past it moves on.
        exam_max_s: past this the exam goes straight to the assessment (None: no limit).
        time_up_lines: by part name, what the examiner says when a long turn is cut.
        silence_reask_s: see ExamDirectorParams.
        match: see asked().
        clock: seconds, monotonic.
    """

    def __init__(self, steps: list[Step], *, parts_max_s: dict[str, float] | None = None,
                 exam_max_s: float | None = None, time_up_lines: dict[str, str] | None = None,
                 silence_reask_s: float = 10.0, match: float = 0.5, clock: Callable[[], float] = time.monotonic,
                 origin: float | None = None):
        self.steps = steps
        self._parts_max_s = parts_max_s or {}
        self._exam_max_s = exam_max_s
        self._time_up = time_up_lines or {}
        self._silence_reask_s = silence_reask_s
        self._match = match
        self._clock = clock
        self.records = [StepRecord(s.key, s.part, s.kind.value) for s in steps]
        self.phase = Phase.NOT_STARTED
        self.cued = 0  # index of the step the examiner is to say next
        self.answering: int | None = None  # index of the step whose answer is awaited
        self._placed: Cue | None = None  # the cue in the model's context, not yet acted on
        self._started_at = 0.0
        self._origin = origin  # the plan's times count from here (default: the exam's start)
        self._part: str | None = None
        self._part_started: dict[str, float] = {}
        self._prep_until: float | None = None
        self._window_open = False
        self._window_opened_at = 0.0
        self._long_turn_until: float | None = None
        self._silence_due: float | None = None
        self._silences = 0  # re-asks of the step awaiting an answer
        self._last_turn_asked = False  # the examiner's last turn said the step it was cued
        self._held = False
        self._sealed = False  # the assessment is cued: marks must not be heard
        self._reply_due: float | None = None  # a cue to answer at once is owed a turn by then
        self._reply_wait_s = REPLY_WAIT_S
        self._examiner_busy = False  # a model turn has begun and not yet ended
        self._role_began = 0.0

    # -- what happened

    def start(self) -> list:
        """The exam begins: the first step is cued at once."""
        now = self._clock()
        self._started_at = now
        if self._origin is None:
            self._origin = now
        return self._cue_step(0, respond_now=True, now=now)

    def on_examiner_turn(self, said: str, *, began: float | None = None) -> list:
        """The examiner's turn is over (its audio has ended); `said` is its transcript, `began`
        when it started (the director's clock; default: now)."""
        now = self._clock()
        self._examiner_busy = False
        if self.phase is Phase.PREPARING:
            return [Note("examiner_withheld", {"text": said[:200]})] if said.strip() else []
        if not said.strip():
            return []
        self._reply_due = None
        if self.phase is not Phase.CUED:
            return []  # in a role-play any reply is the role's
        step, record = self.steps[self.cued], self.records[self.cued]
        if step.kind in (StepKind.ASSESSMENT, StepKind.CLOSING):
            return []
        actions: list = []
        if CUE_MARK.lower().strip("[]") in said.lower():
            actions.append(Note("cue_read_aloud", {"step": step.key, "text": said[:300]}))
        if not asked(step.check, said, match=self._match):
            actions.append(Note("step_not_asked", {"step": step.key, "said": said[:300]}))
            self._last_turn_asked = False
            self._placed = None
            # The candidate answers what was said; the step is cued again for the next turn.
            self._await_answer(None, now)
            return actions + self._release() + self._cue_step(self.cued, respond_now=False, now=now, again=True)
        if questions_in(said) > max(1, questions_in(step.line)):
            actions.append(Note("two_questions", {"step": step.key, "said": said[:300]}))
        self._last_turn_asked = True
        if record.asked_s is None:
            record.asked_s = self._t(began if began is not None else now)
        self._placed = None
        actions.append(Note("step_asked", {"step": step.key, "cues": record.cues}))
        # A part begins when its first step is said, not when it is cued: the candidate may
        # still be answering the last question of the part before (with its gate settings).
        actions += self._begin_part(step.part, began if began is not None else now)
        if step.kind is StepKind.ROLE:
            # The candidate leads now; the role's time runs from its opening line.
            self.phase, self._role_began = Phase.ROLE, now
            self.answering, self._silence_due = self.cued, None
            return actions + self._release() + [Note("role_started", {"step": step.key, "time_s": step.limit_s})]
        if step.prep_s > 0:
            self.phase = Phase.PREPARING
            self._prep_until = now + step.prep_s
            self._held = True
            self._silence_due = None
            return actions + [HoldCandidate(True, "preparation"), WithholdExaminer(True),
                              Note("preparation_started", {"step": step.key, "prep_s": step.prep_s})]
        self._await_answer(self.cued, now)
        return actions + self._release() + self._cue_next(now, respond_now=False)

    def on_examiner_began(self) -> None:
        """The model has begun a turn (speech or a call): a cue to answer at once has its answer."""
        self._reply_due = None
        self._examiner_busy = True

    def on_window(self, open_: bool) -> list:
        """The candidate's activity window opened or closed."""
        now = self._clock()
        self._window_open = open_
        if open_:
            self._silence_due = None  # the candidate speaks, whatever they answer
        if self.answering is None:
            return []
        record = self.records[self.answering]
        if open_:
            self._window_opened_at = now
            record.answered_s.append([self._t(now), None])
            step = self.steps[self.answering]
            if step.kind is StepKind.ROLE:
                return []
            if step.limit_s and self._long_turn_until is None:
                self._long_turn_until = now + step.limit_s
            return self._recheck_next(now)
        if record.answered_s and record.answered_s[-1][1] is None:
            record.answered_s[-1][1] = self._t(now)
        if self._long_turn_until is not None:
            record.long_turn_s = round(now - self._window_opened_at, 3)
            self._long_turn_until = None
        return []

    def tick(self) -> list:
        """Time passing: the preparation's end, the long turn's limit, a silent candidate."""
        now = self._clock()
        if self.phase is not Phase.PREPARING and (resend := self._check_reply(now)):
            return resend
        if self.phase is Phase.ROLE:
            return self._role_time(now)
        if self.phase is Phase.PREPARING and now >= self._prep_until:
            record = self.records[self.cued]
            record.prep_s = round(now - (self._prep_until - self.steps[self.cued].prep_s), 3)
            self.phase = Phase.CUED
            self._prep_until = None
            # Still held until the examiner has said the start line.
            return [WithholdExaminer(False), HoldCandidate(True, "start_line"),
                    Note("preparation_ended", {"step": self.steps[self.cued].key, "prep_s": record.prep_s}),
                    *self._cue_next_after(self.cued, now, respond_now=True)]
        if self._long_turn_until is not None and self._window_open and now >= self._long_turn_until:
            step = self.steps[self.answering]
            self.records[self.answering].long_turn_s = round(now - self._window_opened_at, 3)
            self._long_turn_until = None
            self._held = True
            following = self._next_index(self.answering, now)
            return [Note("long_turn_cut", {"step": step.key, "after_s": self.records[self.answering].long_turn_s}),
                    *self._cue_step(following, respond_now=False, now=now,
                                    lead=self._time_up.get(step.part, "Thank you.")),
                    HoldCandidate(True, "long_turn_limit", cut=True)]
        # Not while the model speaks: a cue to answer now would cut its turn off (it interrupts).
        if self._silence_due is not None and not self._window_open and not self._examiner_busy \
                and now >= self._silence_due:
            self._silence_due = None
            if not self._last_turn_asked:
                # What the examiner said last was not the step: it is asked now.
                return [Note("silence_recue", {"step": self.steps[self.cued].key}),
                        *self._cue_step(self.cued, respond_now=True, now=now)]
            step = self.steps[self.answering]
            if self._silences == 0 and step.reask:
                self._silences = 1
                question = step.check if step.kind is StepKind.QUESTION else step.line
                # The step is the one cued again (even past the assessment's cue): said, it is
                # answered, and the step after it is cued once more.
                self.cued, self.phase = self.answering, Phase.CUED
                return [Note("silence_reask", {"step": step.key}), *self._seal(False),
                        *self._cue(step, f"say exactly \"{question}\"", respond_now=True, now=now)]
            self.records[self.answering].skipped = "no answer"
            return [Note("no_answer", {"step": step.key}),
                    *self._cue_step(self._next_index(self.answering, now), respond_now=True, now=now)]
        return []

    def _role_time(self, now: float) -> list:
        """The role-play's end: once its time is up and the model is not mid-reply, the next
        step is cued with the role's closing line in front: at once if the candidate is
        quiet, else for the end of what they are saying."""
        step = self.steps[self.answering]
        if now - self._role_began < step.limit_s or (self._examiner_busy and not self._window_open):
            return []
        self.records[self.answering].role_s = round(now - self._role_began, 3)
        following = self._next_index(self.answering, now)
        quiet = not self._window_open
        actions = [Note("role_ended", {"step": step.key, "after_s": self.records[self.answering].role_s}),
                   *self._cue_step(following, respond_now=quiet, now=now, lead=step.closing)]
        if quiet:
            # The candidate may be just starting to speak (no window yet): held until the
            # examiner has said the time is up, so as not to cut that off.
            self._held = True
            actions.append(HoldCandidate(True, "role_time_up"))
        return actions

    # -- state others read

    def now(self) -> float:
        return self._clock()

    @property
    def holding_candidate(self) -> bool:
        return self._held

    def plan_entries(self) -> list[dict]:
        entries = [record.entry() for record in self.records]
        for part, started in self._part_started.items():
            ended = self._part_ended(part)
            entries.append({"step": part, "kind": "part", "start_s": self._t(started),
                            "end_s": self._t(ended) if ended is not None else None,
                            "duration_s": round(ended - started, 3) if ended is not None else None})
        return entries

    # -- decisions

    def _t(self, moment: float) -> float:
        return round(moment - (self._origin or 0.0), 3)

    def _part_ended(self, part: str) -> float | None:
        names = list(self._part_started)
        index = names.index(part)
        if index + 1 < len(names):
            return self._part_started[names[index + 1]]
        return None

    def _await_answer(self, index: int | None, now: float) -> None:
        if index is not None and index != self.answering:
            self.answering = index
            self._silences = 0
        self._silence_due = now + self._silence_reask_s

    def _begin_part(self, part: str, at: float) -> list:
        if part == self._part:
            return []
        self._part = part
        self._part_started.setdefault(part, at)
        return [PartBegins(part)]

    def _seal(self, sealed: bool) -> list:
        if sealed == self._sealed:
            return []
        self._sealed = sealed
        return [SealMarks(sealed)]

    def _release(self) -> list:
        if not self._held:
            return []
        self._held = False
        return [HoldCandidate(False, "examiner_spoke")]

    def _check_reply(self, now: float) -> list:
        """A cue to answer at once that the model left unanswered is sent again, later each time."""
        if self._reply_due is None or now < self._reply_due or self._placed is None or not self._placed.respond_now:
            return []
        if self._window_open:
            return []  # the candidate speaks: sent now, it would cut in; their activityEnd asks the model anyway
        self._reply_wait_s *= 2
        self._reply_due = now + self._reply_wait_s
        step = next(s for s in self.steps if s.key == self._placed.step)
        record = self.records[self.steps.index(step)]
        record.cues += 1
        self._placed = Cue(step=self._placed.step, text=self._placed.text, respond_now=True, attempt=record.cues)
        return [Note("cue_unanswered", {"step": step.key}), self._placed]

    def _next_index(self, after: int, now: float) -> int:
        """The step after `after`, moved on when its part or the exam has run out of time."""
        index = after + 1
        if index >= len(self.steps):
            return len(self.steps) - 1
        last = len(self.steps) - 1
        if self._exam_max_s is not None and now - self._started_at > self._exam_max_s:
            for skipped in range(index, last):
                self.records[skipped].skipped = "exam_time_up"
            return last
        part = self.steps[after].part
        limit = self._parts_max_s.get(part)
        started = self._part_started.get(part)
        if (limit is not None and started is not None and now - started > limit
                and self.steps[index].part == part and self.steps[index].kind is StepKind.QUESTION):
            while index < last and self.steps[index].part == part:
                self.records[index].skipped = "part_time_up"
                index += 1
        return index

    def _cue_next(self, now: float, *, respond_now: bool) -> list:
        return self._cue_next_after(self.cued, now, respond_now=respond_now)

    def _cue_next_after(self, index: int, now: float, *, respond_now: bool) -> list:
        return self._cue_step(self._next_index(index, now), respond_now=respond_now, now=now)

    def _recheck_next(self, now: float) -> list:
        """At an answer's start: a part or the exam may have run out of time since the cue."""
        if self._placed is None or self.answering is None or self.phase is not Phase.CUED:
            return []
        wanted = self._next_index(self.answering, now)
        if wanted == self.cued:
            return []
        return self._cue_step(wanted, respond_now=False, now=now)

    def _cue_step(self, index: int, *, respond_now: bool, now: float, lead: str = "", again: bool = False) -> list:
        step = self.steps[index]
        actions: list = [] if self._part is not None else self._begin_part(step.part, now)
        self.cued = index
        actions += self._seal(step.kind is StepKind.ASSESSMENT)
        if step.kind is StepKind.ASSESSMENT:
            self.phase = Phase.DONE
            what = f"the questions are over: call {' and '.join(step.tools)} once, silently, with your assessment."
            return actions + self._cue(step, what, respond_now=respond_now, now=now)
        self.phase = Phase.DONE if step.kind is StepKind.CLOSING else Phase.CUED
        line = f"{lead} {step.line}".strip()
        what = f"say exactly \"{line}\""
        if step.kind is StepKind.ROLE:
            what = (f"play this role until a note tells you to stop. Role: {step.brief} Start by saying exactly "
                    f"\"{line}\", then answer the candidate in role, briefly.")
        return actions + self._cue(step, what, respond_now=respond_now, now=now, again=again)

    def _cue(self, step: Step, what: str, *, respond_now: bool, now: float, again: bool = False) -> list:
        record = self.records[self.steps.index(step)]
        record.cues += 1
        if record.cued_s is None:
            record.cued_s = self._t(now)
        when = "Now:" if respond_now else "When the candidate has finished:"
        firmer = " Your last turn did not say what you were told." if again else ""
        text = f"{CUE_MARK}{firmer} {when} {what} This note is for you only: do not read it aloud."
        self._placed = Cue(step=step.key, text=text, respond_now=respond_now, attempt=record.cues)
        if respond_now:
            self._reply_wait_s = REPLY_WAIT_S
            self._reply_due = now + self._reply_wait_s
        return [self._placed]


class ExamDirectorProcessor(FrameProcessor):
    """Carries out ExamDirector's actions; sits after the Live service and its guards.

    Cues and holds travel upstream (to the Live service and the turn gate); the examiner's
    audio is dropped here while withheld (the preparation), and once the assessment is
    cued only the closing phrase passes (MarksGate): what is withheld goes downstream as
    ExaminerWithheldFrame, to the record and the result's extraction. The director's clock
    is checked every tick_s.

    Args:
        director: the ExamDirector.
        closing_phrase: the exam's, for the marks gate.
        on_event: called with (kind, **fields) for cues and notes.
        on_plan: called with the plan entries whenever they change.
        tick_s, sleep: how often time is checked; sleep injected for tests.
    """

    def __init__(self, *, director: ExamDirector, closing_phrase: str, on_event: Callable[..., None] | None = None,
                 on_plan: Callable[[list[dict]], None] | None = None, tick_s: float = 0.1,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, **kwargs):
        super().__init__(**kwargs)
        self.director = director
        self._on_event = on_event or (lambda *args, **fields: None)
        self._on_plan = on_plan or (lambda entries: None)
        self._tick_s = tick_s
        self._sleep = sleep
        self._task: asyncio.Task | None = None
        self._withholding = False
        self._said = ""
        self._model_turn = False  # the model's turn is under way (start seen, end not yet)
        self._speaking = False  # the examiner's audio is playing
        self._turn_over = False  # the model's turn ended; waiting for its audio to end
        self._began: float | None = None
        self._opening_actions: list = []  # what the first step asks besides its cue, once running
        self.marks_gate = MarksGate(closing_phrase)
        self._withheld_text = ""  # of the examiner's turn, for the record at its end

    def opening(self) -> str:
        """The first cue's text (the exam session sends it to start the model)."""
        actions = self.director.start()
        cue = next(action for action in actions if isinstance(action, Cue))
        self._opening_actions = [action for action in actions if not isinstance(action, Cue)]
        self._on_event("cue", step=cue.step, respond_now=True, attempt=cue.attempt, text=cue.text)
        self._on_plan(self.director.plan_entries())
        return cue.text

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        downstream = direction == FrameDirection.DOWNSTREAM
        if isinstance(frame, StartFrame) and self._task is None:
            self._task = self.create_task(self._watch(), "exam-director")
        if self._opening_actions and self._task is not None:  # the first part begins
            opening, self._opening_actions = self._opening_actions, []
            await self._act(opening)
        if isinstance(frame, TTSAudioRawFrame) and downstream and self._withholding:
            return  # the preparation is silent
        if downstream and self.marks_gate.sealed and isinstance(frame, (TTSAudioRawFrame, TTSTextFrame, LLMTextFrame)):
            if isinstance(frame, TTSTextFrame):
                self._said += frame.text
                await self._gate(self.marks_gate.on_text(frame, frame.text))
            else:
                await self._gate(self.marks_gate.on_item(frame))
            return
        if isinstance(frame, TTSStartedFrame) and downstream:
            await self._gate(self.marks_gate.on_turn_start())
        elif isinstance(frame, TTSStoppedFrame) and downstream:
            await self._gate(self.marks_gate.on_turn_end())
            self._record_withheld()
        await self.push_frame(frame, direction)
        if isinstance(frame, LLMFullResponseStartFrame) and downstream:
            self.director.on_examiner_began()
            if not self._model_turn:
                self._began = self.director.now()
            self._model_turn, self._turn_over = True, False
        elif isinstance(frame, TTSTextFrame) and downstream:
            self._said += frame.text
        elif isinstance(frame, (LLMFullResponseEndFrame, TTSStoppedFrame)) and downstream and self._model_turn:
            self._model_turn, self._turn_over = False, True
            await self._maybe_turn_over()
        elif isinstance(frame, BotStartedSpeakingFrame):
            self._speaking = True
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._speaking = False
            await self._maybe_turn_over()
        elif isinstance(frame, UserStartedSpeakingFrame) and downstream:
            await self._act(self.director.on_window(True))
        elif isinstance(frame, UserStoppedSpeakingFrame) and downstream:
            await self._act(self.director.on_window(False))
        elif isinstance(frame, FunctionCallInProgressFrame) and downstream:
            self.director.on_examiner_began()
            self._said = ""

    async def _gate(self, actions: list) -> None:
        for action in actions:
            if isinstance(action, Play):
                for item in action.items:
                    await self.push_frame(item, FrameDirection.DOWNSTREAM)
            elif isinstance(action, Withhold):
                self._withheld_text += action.text
                await self.push_frame(ExaminerWithheldFrame(text=action.text, first=action.first))

    def _record_withheld(self) -> None:
        if self._withheld_text.strip():
            self._on_event("examiner_withheld", reason="assessment", text=self._withheld_text.strip()[:500])
        self._withheld_text = ""

    async def _maybe_turn_over(self) -> None:
        if not self._turn_over or (self._speaking and not self._withholding):
            return
        self._turn_over = False
        said, self._said = self._said, ""
        await self._act(self.director.on_examiner_turn(said, began=self._began))

    async def _watch(self) -> None:
        while True:
            await self._sleep(self._tick_s)
            await self._act(self.director.tick())

    async def _act(self, actions: list) -> None:
        if not actions:
            return
        for action in actions:
            if isinstance(action, Cue):
                self._on_event("cue", step=action.step, respond_now=action.respond_now, attempt=action.attempt,
                               text=action.text)
                await self.push_frame(ExamCueFrame(text=action.text, respond_now=action.respond_now),
                                      FrameDirection.UPSTREAM)
            elif isinstance(action, HoldCandidate):
                self._on_event("candidate_hold", hold=action.hold, reason=action.reason, cut=action.cut)
                await self.push_frame(CandidateHoldFrame(hold=action.hold, cut=action.cut, reason=action.reason),
                                      FrameDirection.UPSTREAM)
            elif isinstance(action, WithholdExaminer):
                self._withholding = action.withhold
            elif isinstance(action, SealMarks):
                self._on_event("marks_sealed", sealed=action.sealed)
                await self._gate(self.marks_gate.seal(action.sealed))
            elif isinstance(action, PartBegins):
                self._on_event("exam_part", name=action.part)
                await self.push_frame(ExamPartFrame(part=action.part), FrameDirection.UPSTREAM)
            elif isinstance(action, Note):
                self._on_event(action.kind, **action.fields)
        self._on_plan(self.director.plan_entries())

    async def cleanup(self):
        await super().cleanup()
        if self._task is not None:
            await self.cancel_task(self._task)


def director_for(exam, params, *, clock: Callable[[], float] = time.monotonic,
                 origin: float | None = None) -> ExamDirector:
    """The director of a config's exam: its plan, its parts' upper bounds and its limit."""
    bounds = {part.name: part.duration_min[1] * 60 for part in exam.parts if part.duration_min}
    exam_max_s = sum(bounds.values()) if len(bounds) == len(exam.parts) else None
    return ExamDirector(exam_plan(exam), parts_max_s=bounds, exam_max_s=exam_max_s,
                        time_up_lines={part.name: part.time_up_line for part in exam.parts},
                        silence_reask_s=params.silence_reask_s, match=params.match, clock=clock, origin=origin)
