"""The turn gate: only speech opens an activity window, and no audio leaves outside one.

`TurnGate` holds the decisions (plain, no Pipecat): audio between windows is kept in
a short pre-roll ring and never sent; a window opens at the VAD's speech start and
carries the pre-roll first, so the onset the VAD needed to decide is not clipped; it
closes at the VAD's speech end. A window is only declared with its first audio, so
no window is ever empty.

`TurnGateProcessor` sits after Pipecat's VADProcessor and turns its VAD frames into
the user-turn frames Pipecat's Gemini Live service acts on (activityStart/End).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor


@dataclass(frozen=True)
class OpenWindow:
    pass


@dataclass(frozen=True)
class CloseWindow:
    pass


@dataclass(frozen=True)
class Send:
    frame: InputAudioRawFrame


class TurnGate:
    """Which audio goes to the model, and when windows open and close.

    Args:
        preroll_s: seconds of audio before the speech start sent at the window's start.
    """

    def __init__(self, *, preroll_s: float = 0.5):
        self._preroll_s = preroll_s
        self._ring: deque[InputAudioRawFrame] = deque()
        self._ring_s = 0.0
        self.in_turn = False  # between the VAD's start and stop
        self.window_open = False  # declared to the model (after its first audio)
        self.bytes_outside = 0  # audio received outside windows and never sent

    def on_audio(self, frame: InputAudioRawFrame) -> list:
        if self.in_turn:
            return self._send(frame)
        self.bytes_outside += len(frame.audio)
        self._ring.append(frame)
        self._ring_s += _seconds(frame)
        while self._ring and self._ring_s - _seconds(self._ring[0]) >= self._preroll_s - 1e-9:
            self._ring_s -= _seconds(self._ring.popleft())
        return []

    def on_speech_start(self) -> list:
        if self.in_turn:
            return []
        self.in_turn = True
        actions = []
        while self._ring:
            frame = self._ring.popleft()
            self.bytes_outside -= len(frame.audio)
            actions += self._send(frame)
        self._ring_s = 0.0
        return actions

    def on_speech_stop(self) -> list:
        if not self.in_turn:
            return []
        self.in_turn = False
        if not self.window_open:
            return []  # nothing was sent: no window to close
        self.window_open = False
        return [CloseWindow()]

    def _send(self, frame: InputAudioRawFrame) -> list:
        actions = [] if self.window_open else [OpenWindow()]
        self.window_open = True
        return [*actions, Send(frame)]


def _seconds(frame: InputAudioRawFrame) -> float:
    return len(frame.audio) / 2 / frame.num_channels / frame.sample_rate


class TurnGateProcessor(FrameProcessor):
    """Pipecat processor around TurnGate, after a VADProcessor.

    Args:
        preroll_s: see TurnGate.
    """

    def __init__(self, *, preroll_s: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.gate = TurnGate(preroll_s=preroll_s)

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame) and direction == FrameDirection.DOWNSTREAM:
            await self._act(self.gate.on_audio(frame))
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            await self._act(self.gate.on_speech_start())
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            await self._act(self.gate.on_speech_stop())
        else:
            await self.push_frame(frame, direction)

    async def _act(self, actions: list) -> None:
        for action in actions:
            if isinstance(action, OpenWindow):
                await self.broadcast_frame(UserStartedSpeakingFrame)
            elif isinstance(action, Send):
                await self.push_frame(action.frame)
            elif isinstance(action, CloseWindow):
                await self.broadcast_frame(UserStoppedSpeakingFrame)
