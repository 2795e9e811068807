"""A Pipecat transport whose other end is a simulated candidate.

The input side is the candidate's microphone: 20 ms frames at real-time pace, mixed
by CandidateBehavior from the candidate's answers, sounds, background and the
examiner's voice leaking back. The output side is the candidate's loudspeaker: it
plays examiner audio at real-time pace (as a sound card would, by taking frames no
faster than they play) and keeps what it played, which is how the candidate knows
when the examiner has stopped.
"""

from __future__ import annotations

import asyncio

import numpy as np
from pipecat.audio.utils import create_stream_resampler
from pipecat.frames.frames import InputAudioRawFrame, OutputAudioRawFrame, StartFrame
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import BaseTransport, TransportParams

from viva.audio import RATE
from viva.harness.candidate import Candidate, CandidateBehavior

FRAME_S = 0.02
FRAME_SAMPLES = int(RATE * FRAME_S)
_DEVICE_BUFFER_S = 0.06  # how far ahead of the playhead the loudspeaker accepts audio
_HISTORY_S = 5.0  # examiner audio kept for the echo


class _Clock:
    """Sample positions at 16 kHz since the transport started."""

    def __init__(self):
        self._t0: float | None = None

    def start(self) -> None:
        if self._t0 is None:
            self._t0 = asyncio.get_running_loop().time()

    def now(self) -> int:
        self.start()
        return int((asyncio.get_running_loop().time() - self._t0) * RATE)

    def at(self, position: int) -> float:
        return self._t0 + position / RATE


class _Speaker:
    """The examiner's audio as played, at 16 kHz on the microphone's clock."""

    def __init__(self):
        self.playing_until: int | None = None
        self.burst_starts: list[int] = []  # where each stretch of examiner audio began to play
        self._history = np.zeros(0, dtype=np.int16)
        self._history_start = 0

    def play(self, samples: np.ndarray, now: int) -> int:
        """Queues samples after what is already playing; returns where they start."""
        start = max(now, self.playing_until or 0)
        if self.playing_until is None or now > self.playing_until:
            self.burst_starts.append(start)
        history_end = self._history_start + len(self._history)
        gap = np.zeros(max(0, start - history_end), dtype=np.int16)
        self._history = np.concatenate((self._history, gap, samples))
        excess = len(self._history) - int(_HISTORY_S * RATE)
        if excess > 0:
            self._history, self._history_start = self._history[excess:], self._history_start + excess
        self.playing_until = start + len(samples)
        return start

    def window(self, start: int, count: int) -> np.ndarray:
        """What the speaker played over [start, start+count) (zeros where nothing)."""
        out = np.zeros(count, dtype=np.int16)
        lo, hi = max(start, self._history_start), min(start + count, self._history_start + len(self._history))
        if lo < hi:
            out[lo - start : hi - start] = self._history[lo - self._history_start : hi - self._history_start]
        return out


class _Microphone(BaseInputTransport):
    def __init__(self, transport: "SimulatedCandidateTransport", params: TransportParams):
        super().__init__(params)
        self._transport = transport
        self._task: asyncio.Task | None = None

    async def start(self, frame: StartFrame):
        await super().start(frame)
        await self.set_transport_ready(frame)
        if self._task is None:
            self._task = self.create_task(self._capture(), "microphone")

    async def stop(self, frame):
        await self._stop_capture()
        await super().stop(frame)

    async def cancel(self, frame):
        await self._stop_capture()
        await super().cancel(frame)

    async def _stop_capture(self):
        if self._task is not None:
            await self.cancel_task(self._task)
            self._task = None

    async def _capture(self):
        clock, behavior, speaker = self._transport.clock, self._transport.behavior, self._transport.speaker
        clock.start()
        loop = asyncio.get_running_loop()
        position = 0
        echo_delay = int(behavior.candidate.echo_delay_s * RATE)
        while True:
            await asyncio.sleep(max(0.0, clock.at(position + FRAME_SAMPLES) - loop.time()))
            behavior.step(position, examiner_playing_until=speaker.playing_until)
            echo = speaker.window(position - echo_delay, FRAME_SAMPLES) if behavior.candidate.echo_gain_db is not None else None
            samples = behavior.render(position, FRAME_SAMPLES, examiner=echo)
            await self.push_audio_frame(InputAudioRawFrame(audio=samples.tobytes(), sample_rate=RATE, num_channels=1))
            position += FRAME_SAMPLES


class _Loudspeaker(BaseOutputTransport):
    def __init__(self, transport: "SimulatedCandidateTransport", params: TransportParams):
        super().__init__(params)
        self._transport = transport
        self._resampler = create_stream_resampler()

    async def start(self, frame: StartFrame):
        await super().start(frame)
        await self.set_transport_ready(frame)

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        clock, speaker = self._transport.clock, self._transport.speaker
        audio = await self._resampler.resample(frame.audio, frame.sample_rate, RATE)
        samples = np.frombuffer(audio, dtype="<i2")
        if frame.num_channels > 1:
            samples = samples.reshape(-1, frame.num_channels).mean(axis=1).astype(np.int16)
        speaker.play(samples, clock.now())
        # Take the next frame only when this one is nearly played, like a sound card.
        ahead = (speaker.playing_until - clock.now()) / RATE - _DEVICE_BUFFER_S
        if ahead > 0:
            await asyncio.sleep(ahead)
        return True


class SimulatedCandidateTransport(BaseTransport):
    """Input and output of a simulated candidate session.

    Args:
        candidate: the loaded candidate file.
        params: Pipecat transport params (audio in and out are enabled here).
    """

    def __init__(self, *, candidate: Candidate, params: TransportParams | None = None):
        super().__init__()
        params = params or TransportParams()
        params.audio_in_enabled = True
        params.audio_in_sample_rate = RATE
        params.audio_out_enabled = True
        self.clock = _Clock()
        self.speaker = _Speaker()
        self.behavior = CandidateBehavior(candidate)
        self._input = _Microphone(self, params)
        self._output = _Loudspeaker(self, params)

    def input(self) -> _Microphone:
        return self._input

    def output(self) -> _Loudspeaker:
        return self._output
