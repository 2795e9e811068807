"""recording.wav: the candidate's microphone on the left, the examiner as played on the right.

Two taps feed one recorder: the microphone tap sits right after the transport's input
(before the turn gate drops anything), the loudspeaker tap right after the transport's
output (what was played). Pipecat's AudioBufferProcessor records both sides from one
place in the pipeline, which cannot see the microphone before the gate and the
examiner after the output at once; hence two taps here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pipecat.audio.utils import create_stream_resampler
from pipecat.frames.frames import Frame, InputAudioRawFrame, OutputAudioRawFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from viva.audio import RATE, StereoWavWriter

LEFT, RIGHT = 0, 1
_SLACK_S = 1.0  # a channel with nothing newer than this is silent, and written as such
_GAP_S = 0.05  # audio arriving later than its place by more than this starts after a gap


class StereoRecorder:
    """Lays audio of two channels on one time axis and writes it as it goes.

    Args:
        path: the WAV file.
        clock: seconds, monotonic; position 0 is the recorder's creation.
    """

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.monotonic):
        self._writer = StereoWavWriter(path, rate=RATE)
        self._clock = clock
        self._t0 = clock()
        self._pending = [np.zeros(0, dtype=np.int16), np.zeros(0, dtype=np.int16)]
        self._written = 0  # samples written to the file, both channels
        self.closed = False

    def add(self, channel: int, samples: np.ndarray) -> None:
        """Audio that has just arrived on channel (it ends now)."""
        if self.closed:
            return
        end = int((self._clock() - self._t0) * RATE)
        cursor = self._written + len(self._pending[channel])
        start = end - len(samples)
        if start > cursor + _GAP_S * RATE:
            self._pending[channel] = np.concatenate((self._pending[channel], np.zeros(start - cursor, np.int16)))
        self._pending[channel] = np.concatenate((self._pending[channel], samples))
        self._flush(end)

    def _flush(self, now: int) -> None:
        horizon = now - int(_SLACK_S * RATE) - self._written
        for channel in (LEFT, RIGHT):
            short = horizon - len(self._pending[channel])
            if short > 0:
                self._pending[channel] = np.concatenate((self._pending[channel], np.zeros(short, np.int16)))
        count = min(len(self._pending[LEFT]), len(self._pending[RIGHT]))
        if count:
            self._writer.write(self._pending[LEFT][:count], self._pending[RIGHT][:count])
            self._pending = [p[count:] for p in self._pending]
            self._written += count

    def close(self) -> None:
        if self.closed:
            return
        longest = max(len(p) for p in self._pending)
        padded = [np.concatenate((p, np.zeros(longest - len(p), np.int16))) for p in self._pending]
        self._writer.write(padded[LEFT], padded[RIGHT])
        self._writer.close()
        self.closed = True


class RecordingTap(FrameProcessor):
    """Passes every frame on; copies one side's audio into the recorder.

    Args:
        recorder: the StereoRecorder.
        channel: LEFT for the microphone (InputAudioRawFrame), RIGHT for the examiner
            as played (OutputAudioRawFrame).
    """

    def __init__(self, *, recorder: StereoRecorder, channel: int, **kwargs):
        super().__init__(**kwargs)
        self._recorder = recorder
        self._channel = channel
        self._kind = InputAudioRawFrame if channel == LEFT else OutputAudioRawFrame
        self._resampler = create_stream_resampler()

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, self._kind) and direction == FrameDirection.DOWNSTREAM:
            audio = await self._resampler.resample(frame.audio, frame.sample_rate, RATE)
            samples = np.frombuffer(audio, dtype="<i2")
            if frame.num_channels > 1:
                samples = samples.reshape(-1, frame.num_channels).mean(axis=1).astype(np.int16)
            self._recorder.add(self._channel, samples)
        await self.push_frame(frame, direction)
