"""The turn gate: only a real answer opens an activity window, and no audio leaves outside one.

`TurnGate` holds the decisions (plain, no Pipecat; its clock is the audio itself, so the
same input always gives the same windows):

- Between windows audio is kept in a short pre-roll ring and never sent.
- After the VAD's speech start the audio is held until enough of it is voiced
  (`confirm_s` at `confidence` and `min_volume`, counted across stops shorter than
  `confirm_gap_s`, so "One. Two. Three." confirms); then a window opens with the pre-roll
  and the held audio, so the onset is not clipped. Speech that stops for `confirm_gap_s`
  before it is confirmed was a `Rejected` noise burst: nothing is sent.
- At the VAD's speech stop the window stays open through the pause (its audio still
  goes inside); it closes once the silence reaches `pause_tolerance_s`, or, with the
  Smart Turn model, `end_silence_s` if the model judged the turn complete. Never on a
  timer: only silence in the audio closes a window.
- While the examiner speaks (and `echo_tail_s` after), speech must be louder, last
  longer and keep going to open a window (barge-in): `barge_in_confirm_s` at
  `barge_in_min_volume`, the count starting again after `barge_in_gap_s` without it, so
  that neither the examiner's own voice leaking into the microphone nor a clatter with a
  word from another room cuts the examiner; in half-duplex mode it opens none.
- While a blocking tool call is pending, what the gate would send is held, and sent in
  order once the call is answered.

`TurnGateProcessor` sits after `VoicingVADProcessor` and turns the gate's actions into the
user-turn frames Pipecat's Gemini Live service sends as activityStart/activityEnd.

The `turn_gate` stage's builder (`build`) is here too; its parameters are in
viva/pipelines/registry.py: `GateSettings` (how the gate decides, each field with its
description and the stage's default), `TurnGateParams` (those, the timed answers' silence and
the parts' overrides).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    FunctionCallCancelFrame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    InputAudioRawFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from viva.pipelines.registry import GateSettings, TurnGateParams
from viva.processors.exam_frames import CandidateHeldFrame, CandidateHoldFrame, ExamPartFrame, ExamStepFrame
from viva.processors.voicing_vad import VOICING, Voicing

if TYPE_CHECKING:
    from viva.pipelines.context import StageContext

SMART_TURN_AUDIO_S = 8.0  # the model looks at the last 8 s of the turn
MAX_CONFIRMING_S = 3.0


@dataclass(frozen=True)
class OpenWindow:
    barge_in: bool = False


@dataclass(frozen=True)
class CloseWindow:
    reason: str = "silence"
    silence_s: float = 0.0  # since the last voiced audio: how long after the speech it closed


@dataclass(frozen=True)
class Rejected:
    """A speech start taken back before it was confirmed: no window."""

    voiced_s: float  # the most it counted at once
    heard_s: float
    while_examiner: bool


@dataclass(frozen=True)
class Send:
    frame: InputAudioRawFrame


@dataclass(frozen=True, eq=False)
class JudgeTurn:
    """Ask the end-of-turn model whether this audio (the turn's last seconds) is a complete turn.
    Each is its own question: a verdict names the one it answers (`on_verdict`)."""

    audio: bytes
    sample_rate: int


class TurnGate:
    """Which audio goes to the model, and when windows open and close.

    Feed it every input frame (`on_audio`), the VAD's starts and stops, the examiner's
    speaking state, pending tool calls and end-of-turn verdicts; each call returns the
    actions to take, in order.

    Args:
        settings: GateSettings (None: the stage's defaults, which ask Smart Turn: a JudgeTurn
            action wants an `on_verdict`; end_of_turn "silence" needs no model).
        **overrides: fields of GateSettings that replace the settings' own.
    """

    def __init__(self, settings: GateSettings | None = None, **overrides):
        values = settings.model_dump(include=set(GateSettings.model_fields)) if settings is not None else {}
        self.settings = GateSettings(**(values | overrides))
        self.now_s = 0.0  # audio time: seconds of input seen
        self._ring: deque[InputAudioRawFrame] = deque()
        self._ring_s = 0.0
        # Since the VAD's start, until confirmed: each frame with the voiced seconds it counted.
        self._held: deque[tuple[InputAudioRawFrame, float]] = deque()
        self._voiced_s = self._heard_s = 0.0
        self._peak_voiced_s = 0.0  # confirming: the most _voiced_s reached (a barge-in gap resets it)
        self._unvoiced_s = 0.0  # confirming: audio since the last frame that counted
        self._gap_s = 0.0  # confirming: silence since the VAD's last stop
        self.confirming = False
        self.vad_speaking = False  # between the VAD's start and stop
        self.window_open = False
        self._silence_s = 0.0  # in a window: audio since the last voiced frame
        self._answer_voiced_s = 0.0  # in a window: voiced audio so far
        self._judged = False  # this pause was put to the end-of-turn model
        self.asked: JudgeTurn | None = None  # ...in this question, unanswered (speech back: None)
        self._complete = False  # ...and it said the turn is complete
        self._turn_audio: deque[InputAudioRawFrame] = deque()
        self._turn_audio_s = 0.0
        self._examiner_speaking = False
        self._examiner_until_s = -math.inf  # end of the echo tail
        self._examiner_stopped_s = -math.inf
        self._pending_calls: set[str] = set()
        self._deferred: list = []
        self.held = False  # the exam director holds the candidate: no window, nothing sent
        self.rejected = 0
        self._received = self._sent = 0

    # -- state the processor and tests read

    @property
    def bytes_outside(self) -> int:
        """Audio received and not sent inside a window (so far)."""
        return self._received - self._sent

    @property
    def examiner_audible(self) -> bool:
        return self._examiner_speaking or self.now_s < self._examiner_until_s

    @property
    def holding(self) -> bool:
        return bool(self._pending_calls)

    @property
    def verdict_due(self) -> bool:
        """The pause has lasted end_silence_s and the model's verdict on it (`asked`) has not come:
        what the window does next depends on it."""
        return (self.asked is not None and self.window_open and not self.vad_speaking
                and self._silence_s >= self.settings.end_silence_s - 1e-9)

    # -- inputs

    def apply(self, settings: GateSettings) -> None:
        """New settings (another exam part); a window in progress keeps going under them."""
        self.settings = settings

    def on_audio(self, frame: InputAudioRawFrame) -> list:
        seconds = _seconds(frame)
        audible = self.examiner_audible
        self.now_s += seconds
        self._received += len(frame.audio)
        if audible and not self.examiner_audible and self.confirming:
            # The examiner has fallen silent: what was held while it spoke is its echo, not
            # the candidate's onset; only what came after it stopped (the echo tail) is kept.
            self._trim_held(self.now_s - seconds - self._examiner_stopped_s)
        if self.window_open:
            return self._in_window(frame, seconds)
        if self.held:
            return []  # not even the pre-roll: what is said while held reaches no one
        if self.confirming:
            self._hold(frame)
            if self.vad_speaking:
                return self._maybe_confirm()
            self._gap_s += seconds
            return self._reject() if self._gap_s >= self.settings.confirm_gap_s - 1e-9 else []
        self._keep(frame)
        return []

    def on_speech_start(self) -> list:
        if self.vad_speaking:
            return []
        self.vad_speaking = True
        if self.held and not self.window_open:
            return []
        if self.window_open:  # speech again after a pause: the same answer
            self._judged = self._complete = False
            self.asked = None
            return []
        if not self.confirming:  # a new start: the pre-roll is where it may have begun
            self.confirming = True
            self._held.clear()
            self._voiced_s = self._heard_s = self._peak_voiced_s = self._unvoiced_s = 0.0
            ring, self._ring = self._ring, deque()
            self._ring_s = 0.0
            for frame in ring:
                self._hold(frame)
        self._gap_s = 0.0
        return self._maybe_confirm()

    def on_speech_stop(self) -> list:
        if not self.vad_speaking:
            return []
        self.vad_speaking = False
        if self.window_open:
            return self._pause_began()
        self._gap_s = 0.0  # confirming: more speech within confirm_gap_s still counts
        return []

    def on_verdict(self, complete: bool, asked: JudgeTurn | None = None) -> list:
        """The end-of-turn model's answer to a JudgeTurn (asked; None: the last one)."""
        if not self.window_open or self.vad_speaking or (asked is not None and asked is not self.asked):
            return []  # speech came back meanwhile (the answer goes on), or another pause is judged
        self.asked = None
        self._complete = complete
        return self._maybe_close()

    def on_examiner(self, speaking: bool) -> list:
        self._examiner_speaking = speaking
        if not speaking:
            self._examiner_stopped_s = self.now_s
            self._examiner_until_s = self.now_s + self.settings.echo_tail_s
        return []

    def on_hold(self, hold: bool, *, cut: bool = False) -> list:
        """The exam director holds the candidate (the preparation, a long turn's limit) or lets go.
        cut: a window open now closes at once (its audio so far is the answer)."""
        self.held = hold
        actions: list = []
        if hold and self.confirming:
            self.confirming = False
            self._held.clear()
            self._voiced_s = self._heard_s = self._peak_voiced_s = self._unvoiced_s = 0.0
        if hold and cut and self.window_open:
            actions = self._close("limit")
        if not hold and self.vad_speaking and not self.window_open:
            self.vad_speaking = False  # still talking: the speech counts from now, as a new start
            actions = self.on_speech_start()
        return actions

    def on_tool_call(self, call_id: str, pending: bool) -> list:
        """A blocking tool call started (pending) or was answered or cancelled."""
        if pending:
            self._pending_calls.add(call_id)
            return []
        self._pending_calls.discard(call_id)
        if self._pending_calls:
            return []
        released, self._deferred = self._deferred, []
        return released

    # -- decisions

    def _counts(self, frame: InputAudioRawFrame) -> bool:
        """Whether a frame counts towards confirming speech, given who else is audible."""
        voicing = frame.metadata.get(VOICING)
        if voicing is None:  # no voicing VAD upstream: the VAD's own start is the evidence
            voicing = Voicing(1.0, 1.0)
        settings = self.settings
        if self.examiner_audible:
            if settings.half_duplex:
                return False
            return voicing.confidence >= settings.confidence and voicing.volume >= settings.barge_in_min_volume
        return voicing.confidence >= settings.confidence and voicing.volume >= settings.min_volume

    def _voiced(self, frame: InputAudioRawFrame) -> bool:
        voicing = frame.metadata.get(VOICING)
        if voicing is None:
            return self.vad_speaking
        return voicing.confidence >= self.settings.confidence and voicing.volume >= self.settings.min_volume

    def _hold(self, frame: InputAudioRawFrame) -> None:
        seconds = _seconds(frame)
        voiced = seconds if self._counts(frame) else 0.0
        self._held.append((frame, voiced))
        self._heard_s += seconds
        self._voiced_s += voiced
        self._peak_voiced_s = max(self._peak_voiced_s, self._voiced_s)
        self._unvoiced_s = 0.0 if voiced else self._unvoiced_s + seconds
        if (self.examiner_audible and self._voiced_s > 1e-9
                and self._unvoiced_s >= self.settings.barge_in_gap_s - 1e-9):
            # Over the examiner only speech that keeps going counts: a word, a clatter, another
            # word add up to nothing; the examiner's echo plus a noise's loudness is as voiced
            # and as loud as a candidate for as long as the noise lasts, so only length tells.
            self._held = deque((held, 0.0) for held, _ in self._held)
            self._voiced_s = 0.0
        # What is held is at most the pre-roll plus MAX_CONFIRMING_S: a long stretch that
        # never confirms (the examiner's echo in half-duplex) is not sent when speech does.
        self._trim_held(self.settings.preroll_s + MAX_CONFIRMING_S)

    def _trim_held(self, keep_s: float) -> None:
        while self._held and self._heard_s - _seconds(self._held[0][0]) >= keep_s - 1e-9:
            dropped, dropped_voiced = self._held.popleft()
            self._heard_s -= _seconds(dropped)
            self._voiced_s -= dropped_voiced

    def _reject(self) -> list:
        rejected = Rejected(voiced_s=round(max(0.0, self._voiced_s, self._peak_voiced_s), 3),
                            heard_s=round(self._heard_s, 3),
                            while_examiner=self.examiner_audible)
        self.confirming = False
        held, self._held = self._held, deque()
        for frame, _ in held:
            self._keep(frame)
        self.rejected += 1
        return [rejected]

    def _maybe_confirm(self) -> list:
        barge_in = self.examiner_audible
        needed = self.settings.barge_in_confirm_s if barge_in else self.settings.confirm_s
        if self._voiced_s < needed - 1e-9 or not self._held:
            return []
        held, self._held = [frame for frame, _ in self._held], deque()
        self.confirming = False
        self.window_open = True
        self._silence_s = 0.0
        self._answer_voiced_s = self._voiced_s
        self._judged = self._complete = False
        self._turn_audio.clear()
        self._turn_audio_s = 0.0
        actions: list = [OpenWindow(barge_in=barge_in)]
        for frame in held:
            actions += self._send(frame)
        return self._out(actions)

    def _in_window(self, frame: InputAudioRawFrame, seconds: float) -> list:
        # A voiced frame ends the silence even before the VAD's start (which comes start_secs late).
        if self._voiced(frame):
            self._silence_s = 0.0
            self._answer_voiced_s += seconds
        else:
            self._silence_s += seconds
        actions = self._out(self._send(frame))
        return actions + self._maybe_close()

    def _pause_began(self) -> list:
        if self.settings.end_of_turn != "smart_turn" or self._judged:
            return self._maybe_close()
        if self._answer_voiced_s < self.settings.min_answer_s - 1e-9:
            # An opening phrase ("Well, in my country,") sounds finished to the model; so
            # early in an answer a pause waits the full tolerance.
            return self._maybe_close()
        self._judged = True
        audio = b"".join(f.audio for f in self._turn_audio)
        sample_rate = self._turn_audio[-1].sample_rate if self._turn_audio else 16000
        self.asked = JudgeTurn(audio=audio, sample_rate=sample_rate)
        return [self.asked]

    def _maybe_close(self) -> list:
        if self.vad_speaking:
            return []
        settings = self.settings
        if self._silence_s >= settings.pause_tolerance_s - 1e-9:
            return self._close("silence")
        if self._complete and self._silence_s >= settings.end_silence_s - 1e-9:
            return self._close("smart_turn")
        return []

    def _close(self, reason: str) -> list:
        self.window_open = False
        self._judged = self._complete = False
        self.asked = None
        return self._out([CloseWindow(reason=reason, silence_s=self._silence_s)])

    def _send(self, frame: InputAudioRawFrame) -> list:
        self._sent += len(frame.audio)
        if self.settings.end_of_turn == "smart_turn":
            self._turn_audio.append(frame)
            self._turn_audio_s += _seconds(frame)
            while self._turn_audio_s - _seconds(self._turn_audio[0]) >= SMART_TURN_AUDIO_S:
                self._turn_audio_s -= _seconds(self._turn_audio.popleft())
        return [Send(frame)]

    def _out(self, actions: list) -> list:
        """Window actions go out now, or after the pending tool call is answered."""
        if not self._pending_calls and not self._deferred:
            return actions
        self._deferred += actions
        return []

    def _keep(self, frame: InputAudioRawFrame) -> None:
        self._ring.append(frame)
        self._ring_s += _seconds(frame)
        while self._ring and self._ring_s - _seconds(self._ring[0]) >= self.settings.preroll_s - 1e-9:
            self._ring_s -= _seconds(self._ring.popleft())


def _seconds(frame: InputAudioRawFrame) -> float:
    return len(frame.audio) / 2 / frame.num_channels / frame.sample_rate


class TurnGateProcessor(FrameProcessor):
    """Pipecat processor around TurnGate, after a (Voicing)VADProcessor.

    The settings follow the exam: the stage's own, then what the step being answered asks
    (an ExamStepFrame: a timed answer ends only at its limit, or after `timed_end_silence_s`
    of silence, never at a pause between sentences), then the overrides of the exam part
    an ExamPartFrame names (`turn_gate.parts`).

    Args:
        params: the stage's (its settings, timed_end_silence_s and the parts' overrides).
        end_of_turn_model: called (in a thread) with (audio, sample_rate) for the
            probability that the turn is complete; required for end_of_turn "smart_turn".
            The audio goes on while it judges, until the pause has lasted end_silence_s: only
            then does the window's fate wait for the verdict (on a busy host the model takes
            seconds; a gate that waited from the pause's start held every frame behind it).
        on_event: called with (kind, **fields) for window_opened, window_closed and
            noise_rejected events (at_s: the gate's audio clock).
    """

    def __init__(self, params: TurnGateParams, *,
                 end_of_turn_model: Callable[[bytes, int], float] | None = None,
                 on_event: Callable[..., None] | None = None, **kwargs):
        super().__init__(**kwargs)
        self._params = params
        self.gate = TurnGate(params.settings())
        self._part: str | None = None
        self._answer = "open"
        self._model = end_of_turn_model
        self._judging: dict[JudgeTurn, asyncio.Future] = {}
        self._on_event = on_event or (lambda *args, **fields: None)
        if uses_smart_turn(params) and end_of_turn_model is None:
            raise ValueError("end_of_turn 'smart_turn' needs an end_of_turn_model")

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        gate = self.gate
        if isinstance(frame, InputAudioRawFrame) and direction == FrameDirection.DOWNSTREAM:
            await self._act(self._verdicts())  # decided before this frame came
            await self._act(gate.on_audio(frame))
            if gate.verdict_due:  # only now does the window wait for the model
                await self._judging[gate.asked]
                await self._act(self._verdicts())
            return
        if isinstance(frame, VADUserStartedSpeakingFrame):
            await self._act(gate.on_speech_start())
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            await self._act(gate.on_speech_stop())
        elif isinstance(frame, BotStartedSpeakingFrame):
            await self._act(gate.on_examiner(True))
        elif isinstance(frame, BotStoppedSpeakingFrame):
            await self._act(gate.on_examiner(False))
        elif isinstance(frame, FunctionCallInProgressFrame) and direction == FrameDirection.UPSTREAM:
            if frame.cancel_on_interruption:  # a blocking call (Pipecat runs non-blocking ones async)
                await self._act(gate.on_tool_call(frame.tool_call_id, True))
        elif isinstance(frame, (FunctionCallResultFrame, FunctionCallCancelFrame)) \
                and direction == FrameDirection.UPSTREAM:
            await self._act(gate.on_tool_call(frame.tool_call_id, False))
        elif isinstance(frame, ExamPartFrame):
            self._part = frame.part
            gate.apply(self.settings_now())
        elif isinstance(frame, ExamStepFrame):
            self._part, self._answer = frame.part or self._part, frame.answer
            gate.apply(self.settings_now())
        elif isinstance(frame, CandidateHoldFrame):
            await self._act(gate.on_hold(frame.hold, cut=frame.cut))
            if frame.hold:
                await self.push_frame(CandidateHeldFrame(window_open=gate.window_open, reason=frame.reason))
        if isinstance(frame, (VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame)):
            return  # the gate's windows replace the VAD's turns downstream
        await self.push_frame(frame, direction)

    def settings_now(self) -> GateSettings:
        """The settings for the part and the answer now (TurnGateParams.settings)."""
        return self._params.settings(self._part, self._answer)

    async def _act(self, actions: list) -> None:
        for action in actions:
            if isinstance(action, OpenWindow):
                self._on_event("window_opened", at_s=round(self.gate.now_s, 3), barge_in=action.barge_in)
                await self.broadcast_frame(UserStartedSpeakingFrame)
            elif isinstance(action, Send):
                await self.push_frame(action.frame)
            elif isinstance(action, CloseWindow):
                self._on_event("window_closed", at_s=round(self.gate.now_s, 3), reason=action.reason,
                               silence_s=round(action.silence_s, 3))
                await self.broadcast_frame(UserStoppedSpeakingFrame)
            elif isinstance(action, Rejected):
                self._on_event("noise_rejected", at_s=round(self.gate.now_s, 3), voiced_s=action.voiced_s,
                               heard_s=action.heard_s,
                               while_examiner=action.while_examiner)
            elif isinstance(action, JudgeTurn):
                self._judging[action] = asyncio.get_running_loop().run_in_executor(
                    None, self._model, action.audio, action.sample_rate)

    def _verdicts(self) -> list:
        """The gate's actions on the end-of-turn model's verdicts that have come (those on a pause
        the candidate has since spoken after change nothing)."""
        actions: list = []
        for asked, verdict in list(self._judging.items()):
            if verdict.done():
                del self._judging[asked]
                actions += self.gate.on_verdict(verdict.result() > self.gate.settings.smart_turn_threshold, asked)
        return actions


def uses_smart_turn(params: TurnGateParams) -> bool:
    """Whether the stage, or one of its parts, asks the Smart Turn model."""
    return "smart_turn" in {params.end_of_turn, *(part.end_of_turn for part in params.parts.values())}


def build(params: TurnGateParams, context: StageContext | None) -> TurnGateProcessor:
    """The `turn_gate` stage (context None: no record for its events)."""
    model = None
    if uses_smart_turn(params):
        from viva.processors.end_of_turn import smart_turn_model  # loads Smart Turn's runtime

        model = smart_turn_model()
    record = context.record if context is not None else None
    return TurnGateProcessor(params, end_of_turn_model=model, on_event=record.event if record is not None else None)
