"""Local audio on a desktop: Pipecat's LocalAudioTransport (PyAudio over PortAudio).

Local audio has no echo cancellation: the examiner's voice from the loudspeakers
reaches the microphone. So the turn gate is half-duplex by default (no window opens
while the examiner speaks: the candidate cannot interrupt); with headphones nothing
leaks back, and barge-in can stay on.

The loudspeaker side wraps Pipecat's output (see `PacedLocalAudioOutputTransport`): its
blocking writes stall after every underrun, and a stalled write ended in a crash.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections import deque
from contextlib import contextmanager

import pyaudio
from loguru import logger
from pipecat.frames.frames import Frame, InterruptionFrame, OutputAudioRawFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor, FrameProcessorSetup
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.local.audio import (LocalAudioOutputTransport, LocalAudioTransport,
                                            LocalAudioTransportParams)

from viva.config import VivaConfig
from viva.errors import BadInput


@contextmanager
def _quiet_c_stderr():
    """PortAudio's probing prints ALSA and JACK complaints straight to file descriptor 2;
    the user needs the one line that matters, not dozens about absent surround cards."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def check_audio_devices() -> None:
    """One clear line (BadInput) when there is no microphone or no loudspeaker."""
    with _quiet_c_stderr():
        audio = pyaudio.PyAudio()
    try:
        for kind, find in (("input (microphone)", audio.get_default_input_device_info),
                           ("output (loudspeaker)", audio.get_default_output_device_info)):
            try:
                find()
            except (OSError, IOError) as e:
                raise BadInput(f"--transport local: no audio {kind} device found ({e}); "
                               "connect one, or use --transport webrtc") from None
    finally:
        audio.terminate()


class PlayoutBuffer:
    """Audio on its way to the loudspeaker: the pipeline puts, the sound card's callback
    takes (on PortAudio's thread, hence the lock). A take never waits: what is missing is
    played as silence. Runs of audio keep their frames' `interruptible` flag, so an
    interruption drops what it may and keeps the rest, as Pipecat's own queue does."""

    def __init__(self, bytes_per_second: int, ahead_secs: float = 0.1):
        self._bytes_per_second = bytes_per_second
        self._ahead_bytes = int(bytes_per_second * ahead_secs)
        self._runs: deque[tuple[bytearray, bool]] = deque()
        self._queued = 0
        self._lock = threading.Lock()

    @property
    def queued_secs(self) -> float:
        return self._queued / self._bytes_per_second

    def put(self, audio: bytes, *, interruptible: bool = True) -> None:
        if not audio:
            return
        with self._lock:
            if self._runs and self._runs[-1][1] == interruptible:
                self._runs[-1][0].extend(audio)
            else:
                self._runs.append((bytearray(audio), interruptible))
            self._queued += len(audio)

    def take(self, nbytes: int) -> bytes:
        """Exactly `nbytes`: the oldest queued audio, then silence."""
        out = bytearray()
        with self._lock:
            while len(out) < nbytes and self._runs:
                audio, _ = self._runs[0]
                needed = nbytes - len(out)
                if len(audio) <= needed:
                    out.extend(audio)
                    self._runs.popleft()
                else:
                    out.extend(audio[:needed])
                    del audio[:needed]
            self._queued -= len(out)
        out.extend(bytes(nbytes - len(out)))
        return bytes(out)

    def wait_secs(self) -> float:
        """How long, at the sound card's pace, until no more than `ahead_secs` is queued."""
        return max(0, self._queued - self._ahead_bytes) / self._bytes_per_second

    def drop_interruptible(self) -> float:
        """Drop the queued audio an interruption may drop; the seconds dropped."""
        with self._lock:
            before = self._queued
            self._runs = deque(run for run in self._runs if not run[1])
            self._queued = sum(len(audio) for audio, _ in self._runs)
            return (before - self._queued) / self._bytes_per_second

    def clear(self) -> None:
        with self._lock:
            self._runs.clear()
            self._queued = 0


async def paced_put(buffer: PlayoutBuffer, audio: bytes, *, interruptible: bool = True, sleep=asyncio.sleep) -> None:
    """Queue `audio` and return once the sound card has played down to `ahead_secs`: a
    write takes about as long as its audio, which Pipecat's bot-speaking timing assumes."""
    buffer.put(audio, interruptible=interruptible)
    while (wait := buffer.wait_secs()) > 0:
        await sleep(max(wait, 0.005))


class PacedLocalAudioOutputTransport(LocalAudioOutputTransport):
    """Pipecat's local output, played through PortAudio's callback mode.

    Why the wrapper: Pipecat writes with PyAudio's blocking `stream.write` in a thread.
    Between examiner turns nothing is written, so the device underruns, and the first
    write of every turn stalls in PortAudio's ALSA code (~2 s on the pulse plugin, longer
    and repeated under load). A write that outlasted Pipecat's 10 s write timeout made the
    transport fail; `cleanup()` then stopped and closed the stream while the writer thread
    was still inside it, and PortAudio freed the stream under the writer: SIGSEGV.

    Here PortAudio's own thread pulls from a `PlayoutBuffer` (silence when it is empty,
    so the device never underruns between turns), `write_audio_frame` only queues and
    paces, and no write is ever in flight inside PortAudio. `cleanup()` stops the stream
    (which joins PortAudio's thread) with a bound, and if that hangs it leaves the
    stream alone rather than free it under a running thread.
    """

    AHEAD_SECS = 0.1
    CLOSE_TIMEOUT_SECS = 5.0

    def __init__(self, py_audio: pyaudio.PyAudio, params: LocalAudioTransportParams):
        super().__init__(py_audio, params)
        self._playout: PlayoutBuffer | None = None
        self._frame_bytes = 2 * params.audio_out_channels

    async def setup(self, setup: FrameProcessorSetup):
        await BaseOutputTransport.setup(self, setup)  # not Pipecat's blocking stream
        self._playout = PlayoutBuffer(self.sample_rate * self._frame_bytes, ahead_secs=self.AHEAD_SECS)
        self._out_stream = self._py_audio.open(
            format=self._py_audio.get_format_from_width(2),
            channels=self._params.audio_out_channels,
            rate=self.sample_rate,
            output=True,
            output_device_index=self._params.output_device_index,
            frames_per_buffer=self.sample_rate // 50,  # 20 ms a callback
            stream_callback=self._play,
            start=False,
        )

    def _play(self, in_data, frame_count, time_info, status):
        return self._playout.take(frame_count * self._frame_bytes), pyaudio.paContinue

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        if not self._out_stream:
            return False
        await paced_put(self._playout, frame.audio, interruptible=frame.interruptible)
        return True

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        # Pipecat's base output drops the interruptible audio of its own queue but has no
        # hook for the transport's: the audio already handed to us is dropped here.
        if isinstance(frame, InterruptionFrame) and self._playout:
            self._playout.drop_interruptible()

    async def cleanup(self):
        try:
            await BaseOutputTransport.cleanup(self)
            stream, self._out_stream = self._out_stream, None
            if stream:
                await self._stop_and_close(stream)
            if self._playout:
                self._playout.clear()
        finally:
            self._executor.shutdown(wait=False)

    async def _stop_and_close(self, stream) -> None:
        """Stop (joining PortAudio's thread) and close, on a daemon thread so that a stuck
        PortAudio can neither hang the pipeline nor the interpreter's exit."""

        def stop_and_close():
            try:
                stream.stop_stream()
                stream.close()
            except Exception as e:
                logger.warning(f"{self}: closing the audio output stream failed: {e}")

        closer = threading.Thread(target=stop_and_close, name="viva-audio-out-close", daemon=True)
        closer.start()
        deadline = asyncio.get_running_loop().time() + self.CLOSE_TIMEOUT_SECS
        while closer.is_alive() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        if closer.is_alive():
            logger.warning(f"{self}: the audio output stream did not stop within {self.CLOSE_TIMEOUT_SECS}s; "
                           "left open")


class PacedLocalAudioTransport(LocalAudioTransport):
    """Pipecat's LocalAudioTransport with the paced output above; the input is Pipecat's."""

    def output(self) -> FrameProcessor:
        if not self._output:
            self._output = PacedLocalAudioOutputTransport(self._pyaudio, self._params)
        return self._output


def local_transport() -> LocalAudioTransport:
    check_audio_devices()
    with _quiet_c_stderr():
        return PacedLocalAudioTransport(LocalAudioTransportParams(
            audio_in_enabled=True, audio_out_enabled=True, audio_in_sample_rate=16000, audio_out_sample_rate=24000))


def with_half_duplex(config: VivaConfig, half_duplex: bool) -> VivaConfig:
    """The config with its turn gate set half-duplex (or not), whatever the file says."""
    stages = [spec.model_copy(update={"params": spec.params.model_copy(update={"half_duplex": half_duplex})})
              if spec.name == "turn_gate" else spec for spec in config.stages]
    return config.model_copy(update={"stages": stages})
