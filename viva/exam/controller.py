"""The exam controller: every exam decision goes through it; it returns actions.

A model keeps no clock and follows a long script only now and then
(field-reports.md §8), so the plan (viva/exam/plan.py) and the timers stay here.
`ExamController` (plain, injected clock) decides from what happens (the examiner's turn
ended, with what the candidate heard of it; the candidate's window opened or closed; the
examiner's judgement arrived; time passing) what the model is told next and what the turn
gate and the stall watchdog do, as action objects:

- the next step's cue is placed while the candidate answers (clientContent with
  turnComplete false), so that the activityEnd of the answer is what makes the model say
  it: no round trip is added after the answer;
- what the candidate heard is checked against the step (`asked()`); a step not heard is
  cued again, and a step is said at most twice: a turn the candidate talked over is not a
  turn that said something else, so its answer is waited for, then it is said once more;
- each step's answer policy goes to the turn gate when the step is heard (`Listen`): a
  timed answer runs to its limit, a preparation is held in silence;
- the preparation is held by viva, a timed answer is cut at its limit, a part past its
  upper bound gives way to the next part, an exam past its own limit goes to the
  assessment, and a candidate silent after a question is asked once more, then given the
  next one; scripted lines (a time-up line, a role's closing line) are said before the
  step after them, the assessment and a judgement included;
- a judgement step's choice (a function the examiner calls) picks the step after it.

`viva/processors/exam_director.py` carries the actions out with frames.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from viva.exam import wording
from viva.exam.phrases import asked, questions_in
from viva.exam.plan import Answer, Plan, Step, StepKind, exam_plan

REPLY_WAIT_S = 4.0  # a cue to answer at once with no examiner turn after this long is sent again
MAX_SAID = 2  # a step is said at most this often, whatever happens
# A hold the turn gate has not answered (CandidateHeldFrame) after this long: a pipeline without one.
HOLD_ANSWER_S = 1.0
MAX_CUES = 5  # a step cued this often that the model still has not said: the exam goes on without it


# -- what the controller asks for


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
class Listen:
    """The candidate's answer to `step` is taken as `answer` says (the turn gate follows it)."""

    step: str
    part: str
    answer: Answer
    limit_s: float | None = None


@dataclass(frozen=True)
class Note:
    """Something for the record: kind and its fields."""

    kind: str
    fields: dict


class Phase(str, Enum):
    NOT_STARTED = "not_started"
    CUED = "cued"  # a cue is out for the step the examiner is to say next
    LINE = "line"  # a scripted line (time-up, a role's closing) is to be said before the cued step
    PREPARING = "preparing"
    ROLE = "role"  # the model plays its role; the candidate leads
    JUDGING = "judging"  # the examiner is to call its judgement function
    DONE = "done"  # assessment or closing cued: the exam's end is exam_end's


@dataclass
class StepRecord:
    """A step as conducted: the `plan` entry of session.json. asked_s: when the candidate
    first heard it whole enough to answer; said: examiner turns on it; heard: whether it was."""

    step: str
    part: str
    kind: str
    cued_s: float | None = None
    asked_s: float | None = None
    answered_s: list[list[float]] = field(default_factory=list)
    cues: int = 0
    said: int = 0
    interrupted: int = 0
    prep_s: float | None = None
    long_turn_s: float | None = None
    role_s: float | None = None
    choice: str | None = None
    outcome: str | None = None  # "no_answer", "cut": what happened to its answer (a part may branch on it)
    skipped: str | None = None

    def entry(self) -> dict:
        out = {"step": self.step, "part": self.part, "kind": self.kind, "cued_s": self.cued_s,
               "asked_s": self.asked_s, "answered_s": self.answered_s, "cues": self.cues, "said": self.said,
               "heard": self.asked_s is not None}
        for name in ("interrupted", "prep_s", "long_turn_s", "role_s", "choice", "outcome", "skipped"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        return out


class ExamController:
    """Which step is next, when it is cued, and what the gate and the watchdog do meanwhile.

    Args:
        plan: from exam_plan().
        parts_max_s: by part name, its upper bound (seconds); a part past it moves on.
        exam_max_s: past this the exam goes straight to the assessment (None: no limit).
        silence_reask_s: see ExamDirectorParams (viva/pipelines/registry.py).
        match: see asked().
        clock: seconds, monotonic.
    """

    def __init__(self, plan: Plan, *, parts_max_s: dict[str, float] | None = None,
                 exam_max_s: float | None = None, silence_reask_s: float, match: float,
                 clock: Callable[[], float] = time.monotonic, origin: float | None = None):
        self.plan = plan
        self.steps = plan.steps
        self._parts_max_s = parts_max_s or {}
        self._exam_max_s = exam_max_s
        self._silence_reask_s = silence_reask_s
        self._match = match
        self._clock = clock
        self.records = [StepRecord(s.key, s.part, s.kind.value) for s in self.steps]
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
        self._role_hold_at: float | None = None  # the role's time is up: held, the gate's answer awaited
        self._line = ""  # Phase.LINE: the scripted line to be said before steps[cued]
        self._cut_off = False  # the candidate's last answer was cut at its limit while they spoke

    # -- what happened

    def start(self) -> list:
        """The exam begins: the first step is cued at once."""
        now = self._clock()
        self._started_at = now
        if self._origin is None:
            self._origin = now
        return self._cue_step(0, respond_now=True, now=now)

    def on_examiner_turn(self, said: str, *, began: float | None = None, interrupted: bool = False) -> list:
        """The examiner's turn is over (its audio has ended). `said`: what the candidate heard
        of it (up to the candidate's voice, when they talked over it: `interrupted`); `began`:
        when it started (the controller's clock; default: now)."""
        now = self._clock()
        self._examiner_busy = False
        if self.phase is Phase.PREPARING:
            return [Note("examiner_withheld", {"text": said[:200]})] if said.strip() else []
        if not said.strip() and not interrupted:
            return []
        self._reply_due = None
        if self.phase is Phase.LINE:
            return self._line_said(said, now)
        if self.phase is Phase.JUDGING:
            return self._spoke_instead_of_judging(said, now)
        if self.phase is not Phase.CUED:
            return []  # in a role-play any reply is the role's
        step, record = self.steps[self.cued], self.records[self.cued]
        if step.kind in (StepKind.ASSESSMENT, StepKind.CLOSING):
            return []
        actions: list = []
        if wording.CUE_MARK.lower().strip("[]") in said.lower():
            actions.append(Note("cue_read_aloud", {"step": step.key, "text": said[:300]}))
        heard = asked(step.check, said, match=self._match)
        if heard or interrupted:
            record.said += 1  # a turn that said something else is no saying of the step
        if not heard:
            self._last_turn_asked = False
            self._placed = None
            if interrupted:
                # The candidate talked over it: their answer is waited for, then it is said again.
                # One who talks over the examiner may well go on after a pause: what they say
                # now ends only at a long silence (a timed answer with no limit), so that the
                # examiner does not start over them a second time.
                record.interrupted += 1
                actions += [Note("step_interrupted", {"step": step.key, "heard": said[:300]}),
                            Listen(step.key, step.part, Answer.TIMED, None)]
            else:
                actions.append(Note("step_not_asked", {"step": step.key, "said": said[:300]}))
            self._await_answer(None, now)
            if (interrupted and record.said >= MAX_SAID) or record.cues >= MAX_CUES:
                # Said twice and still not heard, or a model that will not say it: the exam goes
                # on (the record says so).
                actions.append(Note("step_not_heard", {"step": step.key, "said": record.said, "cues": record.cues}))
                record.skipped = "not heard" if interrupted else "not said"
                self._await_answer(self.cued, now)  # what the candidate says now answers what they heard
                following = self._next_index(self.cued, now)
                return actions + self._release() + self._cue_step(following, respond_now=False, now=now)
            return actions + self._release() + self._cue_step(self.cued, respond_now=False, now=now,
                                                              again=not interrupted)
        if questions_in(said) > max(1, questions_in(step.line)):
            actions.append(Note("two_questions", {"step": step.key, "said": said[:300]}))
        self._last_turn_asked = True
        if record.asked_s is None:
            record.asked_s = self._t(began if began is not None else now)
        self._placed = None
        actions.append(Note("step_asked", {"step": step.key, "cues": record.cues, "said": record.said}))
        # A part begins when its first step is said, not when it is cued: the candidate may
        # still be answering the last question of the part before (with its gate settings).
        actions += self._begin_part(step.part, began if began is not None else now)
        answer = step.answer
        if self._cut_off and answer is Answer.OPEN:
            # The candidate was stopped mid-answer at a limit and may well go on after a pause:
            # what they say now ends only at a long silence (as after talking over the examiner).
            answer = Answer.TIMED
        self._cut_off = False
        actions.append(Listen(step.key, step.part, answer, step.limit_s))
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

    def on_judgement(self, tool: str, choice: str) -> list:
        """The examiner called its judgement function: the step its choice leads to is cued at
        once (the function's response carries the cue)."""
        now = self._clock()
        self._examiner_busy = False
        if self.phase is not Phase.JUDGING or tool not in self.steps[self.cued].tools:
            return [Note("judgement_ignored", {"tool": tool, "choice": choice})]
        return self._judged(choice, now, by="examiner")

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
            if step.answer is Answer.TIMED and step.limit_s and self._long_turn_until is None:
                self._long_turn_until = now + step.limit_s
            return self._recheck_next(now)
        if record.answered_s and record.answered_s[-1][1] is None:
            record.answered_s[-1][1] = self._t(now)
        if self._long_turn_until is not None:
            record.long_turn_s = round(now - self._window_opened_at, 3)
            self._long_turn_until = None
        return []

    def tick(self) -> list:
        """Time passing: the preparation's end, the timed answer's limit, a silent candidate."""
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
            self._cut_off = True
            self.records[self.answering].outcome = "cut"
            following = self._next_index(self.answering, now)
            return [Note("long_turn_cut", {"step": step.key, "after_s": self.records[self.answering].long_turn_s}),
                    *self._cue_step(following, respond_now=False, now=now, lead=step.time_up),
                    HoldCandidate(True, "long_turn_limit", cut=True)]
        # Not while the model speaks: a cue to answer now would cut its turn off (it interrupts).
        if self._silence_due is not None and not self._window_open and not self._examiner_busy \
                and now >= self._silence_due:
            self._silence_due = None
            if not self._last_turn_asked and self.phase is Phase.CUED:
                # What the examiner said last was not the step: it is asked now (or, cued too
                # often already, the step after it).
                record = self.records[self.cued]
                if record.cues >= MAX_CUES:
                    record.skipped = "not said"
                    return [Note("step_not_heard", {"step": record.step, "said": record.said, "cues": record.cues}),
                            *self._cue_step(self._next_index(self.cued, now), respond_now=True, now=now)]
                return [Note("silence_recue", {"step": record.step}),
                        *self._cue_step(self.cued, respond_now=True, now=now)]
            if self.answering is None:
                return []
            step = self.steps[self.answering]
            if self._silences == 0 and step.reask and self.records[self.answering].said < MAX_SAID:
                self._silences = 1
                question = step.check if step.kind is StepKind.QUESTION else step.line
                # The step is the one cued again (even past the assessment's cue): said, it is
                # answered, and the step after it is cued once more.
                self.cued, self.phase = self.answering, Phase.CUED
                return [Note("silence_reask", {"step": step.key}), *self._seal(False),
                        *self._cue(step, wording.say(question), respond_now=True, now=now)]
            self.records[self.answering].skipped = "no answer"
            self.records[self.answering].outcome = "no_answer"
            return [Note("no_answer", {"step": step.key}),
                    *self._cue_step(self._next_index(self.answering, now), respond_now=True, now=now)]
        return []

    def _role_time(self, now: float) -> list:
        """The role-play's end: once its time is up and the model is not mid-reply, the role's
        closing line is said, then the next step: at once if the candidate is quiet, else at
        the end of what they are saying. Quiet as the gate knows it: the candidate is held
        first, and the gate's answer says whether they had begun to speak (on_candidate_held);
        the window's opening reaches the director only after the gate has opened it."""
        step = self.steps[self.answering]
        if now - self._role_began < step.limit_s or (self._examiner_busy and not self._window_open):
            return []
        if self._window_open:
            return self._end_role(now, quiet=False)
        if self._role_hold_at is None:
            self._role_hold_at, self._held = now, True
            return [HoldCandidate(True, "role_time_up")]
        if now - self._role_hold_at >= HOLD_ANSWER_S:
            return self._end_role(now, quiet=True)  # no gate answered: none holds the candidate
        return []

    def on_candidate_held(self, window_open: bool) -> list:
        """The turn gate has the hold asked at the role's time-up; window_open: the candidate
        had begun to speak before it (held only from the end of that answer)."""
        if self.phase is not Phase.ROLE or self._role_hold_at is None:
            return []
        now = self._clock()
        if window_open:
            return self._release("speaking") + self._end_role(now, quiet=False)
        return self._end_role(now, quiet=True)

    def _end_role(self, now: float, *, quiet: bool) -> list:
        """The role's closing line and the next step cued: at once if quiet (the candidate is held
        until the examiner has said it, so as not to cut off one just starting to speak)."""
        self._role_hold_at = None
        step = self.steps[self.answering]
        self.records[self.answering].role_s = round(now - self._role_began, 3)
        following = self._next_index(self.answering, now)
        return [Note("role_ended", {"step": step.key, "after_s": self.records[self.answering].role_s}),
                *self._cue_step(following, respond_now=quiet, now=now, lead=step.closing)]

    # -- state others read

    def now(self) -> float:
        return self._clock()

    @property
    def holding_candidate(self) -> bool:
        return self._held

    @property
    def judging(self) -> bool:
        return self.phase is Phase.JUDGING

    def plan_entries(self) -> list[dict]:
        on_path = self._on_path()
        entries = [record.entry() if i in on_path or record.skipped else
                   {**record.entry(), "skipped": "branch not taken"} for i, record in enumerate(self.records)]
        for part, started in self._part_started.items():
            ended = self._part_ended(part)
            entries.append({"step": part, "kind": "part", "start_s": self._t(started),
                            "end_s": self._t(ended) if ended is not None else None,
                            "duration_s": round(ended - started, 3) if ended is not None else None})
        return entries

    def _on_path(self) -> set[int]:
        """The steps the exam may still reach or has reached: from the first, each step's
        next, a judgement's chosen one (every choice while it is not yet made), an answer's
        outcome's (while the answer is still to come)."""
        seen, todo = set(), [0]
        while todo:
            index = todo.pop()
            if index in seen:
                continue
            seen.add(index)
            step, record = self.steps[index], self.records[index]
            if record.choice:
                keys = [step.choices[record.choice]]
            elif record.outcome in step.outcomes:
                keys = [step.outcomes[record.outcome]]
            else:
                answered = bool(record.answered_s) and (index != self.answering or self.phase is Phase.DONE)
                keys = [*step.choices.values(), *([] if answered else step.outcomes.values()),
                        *([step.then] if step.then else [])]
            todo += [self.plan.index(key) for key in keys]
        return seen

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
        # Silence counts while the candidate is quiet: one speaking now is answering, and the
        # end of their window is what has the model say its next turn.
        self._silence_due = None if self._window_open else now + self._silence_reask_s

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

    def _release(self, reason: str = "examiner_spoke") -> list:
        if not self._held:
            return []
        self._held = False
        return [HoldCandidate(False, reason)]

    def _check_reply(self, now: float) -> list:
        """A cue to answer at once that the model left unanswered is sent again, later each time."""
        if self._reply_due is None or now < self._reply_due or self._placed is None or not self._placed.respond_now:
            return []
        if self._window_open:
            return []  # the candidate speaks: sent now, it would cut in; their activityEnd asks the model anyway
        self._reply_wait_s *= 2
        self._reply_due = now + self._reply_wait_s
        record = self.records[self.plan.index(self._placed.step)]
        record.cues += 1
        self._placed = Cue(step=self._placed.step, text=self._placed.text, respond_now=True, attempt=record.cues)
        return [Note("cue_unanswered", {"step": self._placed.step}), self._placed]

    def _next_index(self, after: int, now: float) -> int:
        """The step after `after`, moved on when its part or the exam has run out of time."""
        index = self.plan.following(after, self.records[after].choice, self.records[after].outcome)
        last = self.plan.last
        if index >= last:
            return last
        if self._exam_max_s is not None and now - self._started_at > self._exam_max_s:
            while index < last:
                self.records[index].skipped = "exam_time_up"
                index = self.plan.following(index)
            return last
        part = self.steps[after].part
        limit = self._parts_max_s.get(part)
        started = self._part_started.get(part)
        if (limit is not None and started is not None and now - started > limit
                and self.steps[index].part == part and self.steps[index].kind is StepKind.QUESTION):
            while index < last and self.steps[index].part == part and self.steps[index].kind is not StepKind.JUDGE:
                self.records[index].skipped = "part_time_up"
                index = self.plan.following(index)
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
        if lead and step.kind in (StepKind.ASSESSMENT, StepKind.JUDGE, StepKind.CLOSING):
            # A scripted line is said in a turn of its own before a step that says nothing to the
            # candidate (the marks gate seals the assessment's turns).
            self.phase, self._line = Phase.LINE, lead
            return actions + self._seal(False) + self._cue(step, wording.say(lead), respond_now=respond_now, now=now)
        actions += self._seal(step.kind is StepKind.ASSESSMENT)
        if step.kind is StepKind.ASSESSMENT:
            self.phase = Phase.DONE
            return actions + self._cue(step, wording.call_for_assessment(step.tools), respond_now=respond_now,
                                       now=now)
        if step.kind is StepKind.JUDGE:
            self.phase = Phase.JUDGING
            return actions + self._cue(step, wording.call_for_judgement(step.tools[0], step.question),
                                       respond_now=respond_now, now=now)
        self.phase = Phase.DONE if step.kind is StepKind.CLOSING else Phase.CUED
        line = f"{lead} {step.line}".strip()
        what = wording.say(line)
        if step.kind is StepKind.ROLE:
            what = wording.play_role(step.brief, line)
        return actions + self._cue(step, what, respond_now=respond_now, now=now, again=again)

    def _line_said(self, said: str, now: float) -> list:
        """The scripted line's turn is over: the step it leads is cued at once (once more if the
        line was not said; it is not said a third time)."""
        record = self.records[self.cued]
        if not asked(self._line, said, match=self._match) and record.cues < MAX_SAID:
            return [Note("line_not_said", {"step": record.step, "line": self._line})] + \
                self._cue(self.steps[self.cued], wording.say(self._line), respond_now=True, now=now, again=True)
        self._line = ""
        return [Note("line_said", {"step": record.step})] + self._cue_step(self.cued, respond_now=True, now=now)

    def _spoke_instead_of_judging(self, said: str, now: float) -> list:
        """The examiner spoke when it was to call its judgement: asked at once once more, then
        the first choice is taken (the exam goes on)."""
        step, record = self.steps[self.cued], self.records[self.cued]
        if record.cues < MAX_SAID:
            return [Note("judgement_not_called", {"step": step.key, "said": said[:300]})] + \
                self._cue(step, wording.call_for_judgement(step.tools[0], step.question), respond_now=True,
                          now=now, again=True)
        return self._judged(next(iter(step.choices)), now, by="default")

    def _judged(self, choice: str, now: float, *, by: str) -> list:
        step, record = self.steps[self.cued], self.records[self.cued]
        if choice not in step.choices:
            choice = next(iter(step.choices))
            by = "default"
        record.choice = choice
        record.asked_s = self._t(now)
        actions = [Note("judgement", {"step": step.key, "choice": choice, "by": by})]
        return actions + self._cue_step(self._next_index(self.cued, now), respond_now=True, now=now)

    def _cue(self, step: Step, what: str, *, respond_now: bool, now: float, again: bool = False) -> list:
        record = self.records[self.plan.index(step.key)]
        record.cues += 1
        if record.cued_s is None:
            record.cued_s = self._t(now)
        text = wording.cue(what, now=respond_now, again=again)
        self._placed = Cue(step=step.key, text=text, respond_now=respond_now, attempt=record.cues)
        if respond_now:
            self._reply_wait_s = REPLY_WAIT_S
            self._reply_due = now + self._reply_wait_s
        return [self._placed]


def controller_for(exam, params, *, clock: Callable[[], float] = time.monotonic,
                   origin: float | None = None) -> ExamController:
    """The controller of a config's exam: its plan, its parts' upper bounds and its limit."""
    bounds = {part.name: part.duration_min[1] * 60 for part in exam.parts if part.duration_min}
    exam_max_s = sum(bounds.values()) if len(bounds) == len(exam.parts) else None
    return ExamController(exam_plan(exam), parts_max_s=bounds, exam_max_s=exam_max_s,
                          silence_reask_s=params.silence_reask_s, match=params.match, clock=clock, origin=origin)
