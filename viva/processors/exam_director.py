"""The exam director: the thin adapter of the exam controller (viva/exam/controller.py).

It tells the controller what happened, from frames (the examiner's turn and what the
candidate heard of it, the candidate's windows, time passing, the examiner's judgement),
and carries out its actions with frames: cues and holds upstream to the Live service and
the turn gate, the answer policy of each step to the turn gate, the preparation's
silence and the marks gate downstream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

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

from viva.exam.controller import (
    Cue,
    ExamController,
    HoldCandidate,
    Listen,
    Note,
    PartBegins,
    SealMarks,
    WithholdExaminer,
    controller_for,
)
from viva.pipelines.registry import ExamDirectorParams
from viva.processors.exam_frames import (
    CandidateHeldFrame,
    CandidateHoldFrame,
    ClosingPhraseFrame,
    ExamCueFrame,
    ExaminerWithheldFrame,
    ExamPartFrame,
    ExamStepFrame,
)
from viva.processors.marks_gate import MarksGate, Play, Withhold

if TYPE_CHECKING:
    from viva.pipelines.context import StageContext


class HeardSoFar:
    """What the candidate has heard of the examiner's turn so far: each transcript piece is
    placed at the seconds of audio generated before it, and what has played is the time since
    the audio began to play (the model's audio and words can run well ahead of the candidate's
    ears, so the words received when the candidate cuts in are not what they heard)."""

    def __init__(self):
        self.turn_start()

    def turn_start(self) -> None:
        self._audio_s = 0.0
        self._pieces: list[tuple[float, str]] = []
        self._playing_since: float | None = None

    def on_audio(self, seconds: float) -> None:
        self._audio_s += seconds

    def on_text(self, text: str) -> None:
        self._pieces.append((self._audio_s, text))

    def on_playing(self, now: float) -> None:
        if self._playing_since is None:
            self._playing_since = now

    def heard(self, now: float) -> str:
        if self._playing_since is None:
            return ""
        played = now - self._playing_since
        return "".join(text for at, text in self._pieces if at < played)


class ExamDirectorProcessor(FrameProcessor):
    """Carries out the ExamController's actions; sits after the Live service and its guards.

    Cues and holds travel upstream (to the Live service and the turn gate); the examiner's
    audio is dropped here while withheld (the preparation), and once the assessment is
    cued only the closing phrase passes (MarksGate): what is withheld goes downstream as
    ExaminerWithheldFrame, to the record and the result's extraction. The director's clock
    is checked every tick_s.

    Args:
        director: the ExamController.
        closing_phrase: the exam's, for the marks gate.
        on_event: called with (kind, **fields) for cues and notes.
        on_plan: called with the plan entries whenever they change.
        tick_s, sleep: how often time is checked; sleep injected for tests.
    """

    def __init__(self, *, director: ExamController, closing_phrase: str, on_event: Callable[..., None] | None = None,
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
        self._heard: str | None = None  # what the candidate heard of a turn they talked over
        self._so_far = HeardSoFar()

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
        if downstream and isinstance(frame, ClosingPhraseFrame):
            await self._gate(self.marks_gate.on_closing(frame))
            return
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
                self._so_far.turn_start()
            self._model_turn, self._turn_over = True, False
        elif isinstance(frame, TTSAudioRawFrame) and downstream:
            self._so_far.on_audio(len(frame.audio) / 2 / frame.num_channels / frame.sample_rate)
        elif isinstance(frame, TTSTextFrame) and downstream:
            self._said += frame.text
            self._so_far.on_text(frame.text)
        elif isinstance(frame, (LLMFullResponseEndFrame, TTSStoppedFrame)) and downstream and self._model_turn:
            self._model_turn, self._turn_over = False, True
            await self._maybe_turn_over()
        elif isinstance(frame, BotStartedSpeakingFrame):
            self._speaking = True
            self._so_far.on_playing(self.director.now())
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._speaking = False
            await self._maybe_turn_over()
        elif isinstance(frame, UserStartedSpeakingFrame) and downstream:
            if (self._model_turn or self._speaking) and self._heard is None:
                self._heard = self._so_far.heard(self.director.now())  # the candidate's voice cuts in here
            await self._act(self.director.on_window(True))
        elif isinstance(frame, UserStoppedSpeakingFrame) and downstream:
            await self._act(self.director.on_window(False))
        elif isinstance(frame, CandidateHeldFrame) and downstream:
            await self._act(self.director.on_candidate_held(frame.window_open))
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
        heard, self._heard = self._heard, None
        await self._act(self.director.on_examiner_turn(said if heard is None else heard, began=self._began,
                                                       interrupted=heard is not None))

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
            elif isinstance(action, Listen):
                self._on_event("answer_policy", step=action.step, answer=action.answer.value, limit_s=action.limit_s)
                await self.push_frame(ExamStepFrame(step=action.step, part=action.part, answer=action.answer.value,
                                                    limit_s=action.limit_s), FrameDirection.UPSTREAM)
            elif isinstance(action, PartBegins):
                self._on_event("exam_part", name=action.part)
                await self.push_frame(ExamPartFrame(part=action.part), FrameDirection.UPSTREAM)
            elif isinstance(action, Note):
                self._on_event(action.kind, **action.fields)
        self._on_plan(self.director.plan_entries())

    async def judge(self, tool: str, choice: str) -> str | None:
        """The examiner called a judgement function: the controller's choice of the next step,
        whose cue is returned for the function's response (the model acts on it at once)."""
        actions = self.director.on_judgement(tool, choice)
        cues = [action for action in actions if isinstance(action, Cue)]
        for cue in cues:
            self._on_event("cue", step=cue.step, respond_now=cue.respond_now, attempt=cue.attempt, text=cue.text,
                           via="function_response")
        await self._act([action for action in actions if not isinstance(action, Cue)])
        self._on_plan(self.director.plan_entries())
        return cues[-1].text if cues else None

    async def cleanup(self):
        await super().cleanup()
        if self._task is not None:
            await self.cancel_task(self._task)


# -- the `exam_director` stage's builder (its parameters, ExamDirectorParams, are in viva/pipelines/registry.py)

def build(params: ExamDirectorParams, context: StageContext) -> ExamDirectorProcessor:
    """The `exam_director` stage: the controller of the config's exam on the record's clock (monotonic);
    the session's opening and the examiner's judgements go through it."""
    record = context.record
    controller = controller_for(context.config.exam, params, origin=record.started_at)
    processor = ExamDirectorProcessor(director=controller, closing_phrase=context.config.exam.closing_phrase,
                                      on_event=record.event, on_plan=record.set_plan)
    context.opening = processor.opening
    context.judge = processor.judge
    return processor
