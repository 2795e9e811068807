"""The turn gate: only speech opens an activity window, and no audio leaves outside one.

`TurnGate` holds the decisions (plain, no Pipecat): audio between windows is kept in
a short pre-roll ring and never sent; a window opens once the VAD's speech start has
lasted `confirm_s` (a start the VAD takes back sooner is rejected, and opens nothing)
and carries the pre-roll first, so the onset the VAD needed to decide is not clipped;
it closes at the VAD's speech end. A window is only declared with its first audio, so
no window is ever empty.

`TurnGateProcessor` sits after Pipecat's VADProcessor and turns its VAD frames into
the user-turn frames Pipecat's Gemini Live service acts on (activityStart/End).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
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
class Rejected:
    """A speech start taken back before it was confirmed: no window."""


@dataclass(frozen=True)
class Send:
    frame: InputAudioRawFrame


class TurnGate:
    """Which audio goes to the model, and when windows open and close.

    Args:
        preroll_s: seconds of audio before the speech start sent at the window's start.
        confirm_s: seconds of audio after the VAD's start before the window opens; a
            start the VAD takes back sooner (a stop within it) opens no window.
    """

    def __init__(self, *, preroll_s: float = 0.5, confirm_s: float = 0.0):
        self._preroll_s = preroll_s
        self._confirm_s = confirm_s
        self._ring: deque[InputAudioRawFrame] = deque()
        self._ring_s = 0.0
        self._held: list[InputAudioRawFrame] = []  # since the VAD's start, until confirmed
        self._held_s = 0.0
        self.in_turn = False  # between the VAD's start and stop
        self.window_open = False  # declared to the model (after its first audio)
        self.rejected = 0
        self._received = self._sent = 0

    @property
    def bytes_outside(self) -> int:
        """Audio received and not sent inside a window (so far)."""
        return self._received - self._sent

    def on_audio(self, frame: InputAudioRawFrame) -> list:
        self._received += len(frame.audio)
        if self.in_turn and self.window_open:
            return self._send(frame)
        if self.in_turn:
            self._held.append(frame)
            self._held_s += _seconds(frame)
            return self._open() if self._held_s >= self._confirm_s - 1e-9 else []
        self._keep(frame)
        return []

    def on_speech_start(self) -> list:
        if self.in_turn:
            return []
        self.in_turn = True
        self._held, self._held_s = list(self._ring), 0.0
        self._ring.clear()
        self._ring_s = 0.0
        return self._open() if self._confirm_s <= 0 else []

    def on_speech_stop(self) -> list:
        if not self.in_turn:
            return []
        self.in_turn = False
        if not self.window_open:
            # Taken back before it was confirmed: what was held goes back to the pre-roll.
            held, self._held = self._held, []
            for frame in held:
                self._keep(frame)
            self.rejected += 1
            return [Rejected()]
        self.window_open = False
        return [CloseWindow()]

    def _keep(self, frame: InputAudioRawFrame) -> None:
        self._ring.append(frame)
        self._ring_s += _seconds(frame)
        while self._ring and self._ring_s - _seconds(self._ring[0]) >= self._preroll_s - 1e-9:
            self._ring_s -= _seconds(self._ring.popleft())

    def _open(self) -> list:
        actions: list = []
        for frame in self._held:
            actions += self._send(frame)
        self._held = []
        return actions

    def _send(self, frame: InputAudioRawFrame) -> list:
        self._sent += len(frame.audio)
        actions = [] if self.window_open else [OpenWindow()]
        self.window_open = True
        return [*actions, Send(frame)]


def _seconds(frame: InputAudioRawFrame) -> float:
    return len(frame.audio) / 2 / frame.num_channels / frame.sample_rate


class TurnGateProcessor(FrameProcessor):
    """Pipecat processor around TurnGate, after a VADProcessor.

    Args:
        preroll_s, confirm_s: see TurnGate.
        on_event: called with ("noise_rejected", fields) for a start taken back unconfirmed.
    """

    def __init__(self, *, preroll_s: float = 0.5, confirm_s: float = 0.0,
                 on_event: Callable[..., None] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.gate = TurnGate(preroll_s=preroll_s, confirm_s=confirm_s)
        self._on_event = on_event or (lambda *args, **fields: None)

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
            elif isinstance(action, Rejected):
                self._on_event("noise_rejected")
