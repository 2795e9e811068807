"""The stall watchdog: the candidate never waits in silence after an answer.

After a real answer, the Live model sometimes says nothing for 10 to 50 s with the
socket open (field-reports.md §1). `StallWatchdog` (plain, injected clock) arms at the
end of each answer; if no examiner output (audio, transcript or tool call) arrives by
the deadline, it asks for a nudge, then again after `retry_s`, doubling, up to
`max_nudges`, then for a reconnect, then gives up. It never acts while the candidate or
the examiner speaks, during a preparation the exam director holds, while a tool call is pending,
or while the Live link is down (the service is reconnecting); after any of these the model gets a full deadline again. `StallWatchdogProcessor`
sits after the Live service: it nudges by sending the config's text to the model
(InputTextRawFrame upstream, realtimeInput text) and asks the service to reconnect.

The `stall_watchdog` stage's builder (`build`) is here; its parameters (`StallWatchdogParams`) are in
viva/pipelines/registry.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    FunctionCallCancelFrame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    InputTextRawFrame,
    StartFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from viva.pipelines.registry import StallWatchdogParams
from viva.processors.exam_frames import CandidateHoldFrame
from viva.processors.live_link import LiveLinkFrame, ReconnectRequestFrame

if TYPE_CHECKING:
    from viva.pipelines.context import StageContext


@dataclass(frozen=True)
class Nudge:
    attempt: int  # 1, 2, ... (counted again after a reconnect)
    waited_s: float  # since the answer ended
    first: bool = False  # the first of this stall: the stall is detected now


@dataclass(frozen=True)
class Reconnect:
    waited_s: float


@dataclass(frozen=True)
class GiveUp:
    waited_s: float


class StallWatchdog:
    """When to nudge a silent model.

    Args:
        params: the stage's: deadline_s (silence after an answer before the first nudge),
            retry_s (wait after the first nudge before the next; doubled each time),
            max_nudges (nudges before the reconnect), reconnect (reconnect once the nudges
            are spent; False: give up then).
        clock: seconds, monotonic.
    """

    def __init__(self, params: StallWatchdogParams, *, clock: Callable[[], float] = time.monotonic):
        self._deadline_s, self._retry_s, self._max_nudges = params.deadline_s, params.retry_s, params.max_nudges
        self._reconnect = params.reconnect
        self._clock = clock
        self.armed = False
        self._answer_end = self._due = 0.0
        self.nudges = 0
        self._reconnected = self._detected = False
        self._candidate = self._examiner = False
        self._calls: set[str] = set()
        self._link_down = False
        self._preparing = False
        self._closing = False

    # -- what happened

    def on_answer_end(self) -> None:
        if self._closing:
            return
        now = self._clock()
        self.armed, self._answer_end, self._due = True, now, now + self._deadline_s
        self.nudges, self._reconnected, self._detected = 0, False, False

    def on_examiner_output(self) -> None:
        """The model answered: audio, transcript or a tool call."""
        self.armed = False

    def on_candidate_speaking(self, speaking: bool) -> None:
        self._candidate = speaking
        if speaking:
            self.armed = False  # a new answer; its end arms again

    def on_examiner_speaking(self, speaking: bool) -> None:
        self._examiner = speaking

    def on_tool_call(self, call_id: str, pending: bool) -> None:
        if pending:
            self._calls.add(call_id)
        else:
            self._calls.discard(call_id)

    def on_link(self, up: bool) -> None:
        """The Live link is down (reconnecting) or back. Back, the model first takes in what was
        kept and sent again (a fresh session: the exam so far, the answer replayed): it gets
        twice the deadline from now before a nudge, which would cut into its first reply."""
        self._link_down = not up
        if up and self.armed:
            self._due = max(self._due, self._clock() + 2 * self._deadline_s)

    def on_preparation(self, preparing: bool) -> None:
        """The candidate prepares in silence (the exam director holds them): the model owes nothing."""
        self._preparing = preparing
        if preparing:
            self.armed = False

    def on_closing(self) -> None:
        """The exam end is getting the closing said (a cue, then viva's own voice): the silence
        after the result is its to handle, and a nudge or a reconnect now would lose its cue."""
        self._closing = True
        self.armed = False

    # -- the decision

    @property
    def blocked(self) -> bool:
        return (self._candidate or self._examiner or self._link_down or bool(self._calls)
                or self._preparing)

    def check(self) -> list:
        """What to do now (call it often): [], or one action."""
        if not self.armed:
            return []
        now = self._clock()
        if self.blocked:
            self._due = max(self._due, now + self._deadline_s)
            return []
        if now < self._due:
            return []
        waited = round(now - self._answer_end, 3)
        if self.nudges < self._max_nudges:
            self.nudges += 1
            self._due = now + self._retry_s * 2 ** (self.nudges - 1)
            first, self._detected = not self._detected, True
            return [Nudge(attempt=self.nudges, waited_s=waited, first=first)]
        if self._reconnect and not self._reconnected:
            self._reconnected = True
            self.nudges = self._max_nudges - 1  # one more nudge on the new connection
            self._due = now + self._deadline_s
            return [Reconnect(waited_s=waited)]
        self.armed = False
        return [GiveUp(waited_s=waited)]


class StallWatchdogProcessor(FrameProcessor):
    """Nudges the Live model (after it in the pipeline) when StallWatchdog says so.

    Args:
        params: the stage's (nudge_text: the text sent to the model as a nudge; the rest, StallWatchdog's).
        on_event: called with (kind, **fields): stall_detected, nudge_sent, reconnect, stall_given_up.
        tick_s: how often the watchdog is checked.
        clock, sleep: StallWatchdog's clock, and what waits tick_s between checks; injected for tests.
    """

    def __init__(self, params: StallWatchdogParams, *, on_event: Callable[..., None] | None = None,
                 tick_s: float = 0.1, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        super().__init__()
        self.watchdog = StallWatchdog(params, clock=clock)
        self._nudge_text = params.nudge_text
        self._on_event = on_event or (lambda *args, **fields: None)
        self._tick_s = tick_s
        self._sleep = sleep
        self._task: asyncio.Task | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        dog = self.watchdog
        downstream = direction == FrameDirection.DOWNSTREAM
        if isinstance(frame, StartFrame) and self._task is None:
            self._task = self.create_task(self._watch(), "stall-watchdog")
        elif isinstance(frame, (TTSAudioRawFrame, TTSTextFrame)) and downstream:
            dog.on_examiner_output()
        elif isinstance(frame, UserStartedSpeakingFrame) and downstream:
            dog.on_candidate_speaking(True)
        elif isinstance(frame, UserStoppedSpeakingFrame) and downstream:
            dog.on_candidate_speaking(False)
            dog.on_answer_end()
        elif isinstance(frame, BotStartedSpeakingFrame) and not downstream:
            dog.on_examiner_speaking(True)
        elif isinstance(frame, BotStoppedSpeakingFrame) and not downstream:
            dog.on_examiner_speaking(False)
        elif isinstance(frame, FunctionCallInProgressFrame) and downstream:
            dog.on_examiner_output()
            dog.on_tool_call(frame.tool_call_id, True)
        elif isinstance(frame, (FunctionCallResultFrame, FunctionCallCancelFrame)) and downstream:
            dog.on_tool_call(frame.tool_call_id, False)
            dog.on_answer_end()  # the model owes an answer to the result now
        elif isinstance(frame, LiveLinkFrame):
            dog.on_link(frame.up)
        elif isinstance(frame, CandidateHoldFrame):
            dog.on_preparation(frame.hold and frame.reason == "preparation")
            if frame.hold and frame.reason == "closing":
                dog.on_closing()
        await self.push_frame(frame, direction)

    async def _watch(self) -> None:
        while True:
            await self._sleep(self._tick_s)
            for action in self.watchdog.check():
                await self._act(action)

    async def _act(self, action) -> None:
        if isinstance(action, Nudge):
            if action.first:
                self._on_event("stall_detected", waited_s=action.waited_s)
            self._on_event("nudge_sent", attempt=action.attempt, waited_s=action.waited_s)
            await self.push_frame(InputTextRawFrame(text=self._nudge_text), FrameDirection.UPSTREAM)
        elif isinstance(action, Reconnect):
            self._on_event("reconnect", reason="stall", waited_s=action.waited_s)
            await self.push_frame(ReconnectRequestFrame(), FrameDirection.UPSTREAM)
        elif isinstance(action, GiveUp):
            self._on_event("stall_given_up", waited_s=action.waited_s)

    async def cleanup(self):
        await super().cleanup()
        if self._task is not None:
            await self.cancel_task(self._task)


def build(params: StallWatchdogParams, context: StageContext) -> StallWatchdogProcessor:
    """The `stall_watchdog` stage."""
    return StallWatchdogProcessor(params, on_event=context.record.event)
