"""The local loudspeaker's playout buffer and pacing (viva/transports/local.py), without a
sound card: a simulated card takes 20 ms callbacks as simulated time passes, so nothing
here sleeps or depends on how loaded the machine is."""

import threading

import numpy as np
import pyaudio
import pytest
from pipecat.frames.frames import InterruptionFrame, OutputAudioRawFrame
from pipecat.processors.frame_processor import FrameDirection
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.local.audio import LocalAudioTransportParams

from viva.transports.local import PacedLocalAudioOutputTransport, PlayoutBuffer, paced_put

RATE = 24000
BPS = RATE * 2  # 16-bit mono
MS = BPS // 1000


def tone(ms: int, value: int = 1000) -> bytes:
    return value.to_bytes(2, "little", signed=True) * (ms * RATE // 1000)


class SimulatedCard:
    """A sound card pulling 20 ms a callback; `sleep` is the writer's sleep, in simulated time."""

    def __init__(self, buffer: PlayoutBuffer, on_sleep=None):
        self.buffer = buffer
        self.played = bytearray()
        self.elapsed_ms = 0
        self.sleeps = 0
        self._due_ms = 0
        self._on_sleep = on_sleep

    async def sleep(self, secs: float):
        self.sleeps += 1
        if self._on_sleep:  # something happening while the writer waits
            self._on_sleep()
        ms = round(secs * 1000)
        assert ms > 0
        self.elapsed_ms += ms
        self._due_ms += ms
        while self._due_ms >= 20:
            self.played += self.buffer.take(20 * MS)
            self._due_ms -= 20


def test_take_gives_the_audio_in_order_then_silence():
    buffer = PlayoutBuffer(BPS)
    buffer.put(b"\x01\x00\x02\x00")
    buffer.put(b"\x03\x00", interruptible=False)
    assert buffer.take(2) == b"\x01\x00"
    assert buffer.take(6) == b"\x02\x00\x03\x00\x00\x00"
    assert buffer.take(4) == b"\x00" * 4
    assert buffer.queued_secs == 0


def test_wait_is_what_is_queued_beyond_the_lead():
    buffer = PlayoutBuffer(BPS, ahead_secs=0.1)
    buffer.put(tone(60))
    assert buffer.wait_secs() == 0
    buffer.put(tone(240))
    assert buffer.wait_secs() == pytest.approx(0.2)
    buffer.take(200 * MS)
    assert buffer.wait_secs() == 0


async def test_writes_take_as_long_as_their_audio_and_the_card_never_runs_dry():
    buffer = PlayoutBuffer(BPS, ahead_secs=0.1)
    card = SimulatedCard(buffer)
    turn = b"".join(tone(40, value=100 + i) for i in range(50))  # 2 s, as Pipecat's 40 ms chunks
    for i in range(50):
        await paced_put(buffer, turn[i * 40 * MS:(i + 1) * 40 * MS], sleep=card.sleep)
        assert buffer.queued_secs <= 0.1  # never more than the lead queued when a write returns
    assert 2000 - 100 - 20 <= card.elapsed_ms <= 2000  # about as long as the audio, the lead excepted
    assert bytes(card.played) == turn[:len(card.played)]  # in order, and no silence mid-turn
    assert len(card.played) + round(buffer.queued_secs * BPS) == len(turn)


async def test_a_long_frame_waits_until_only_the_lead_is_left():
    buffer = PlayoutBuffer(BPS, ahead_secs=0.1)
    card = SimulatedCard(buffer)
    await paced_put(buffer, bytes(2 * BPS), sleep=card.sleep)  # Pipecat's 2 s of end silence
    assert 1900 <= card.elapsed_ms <= 1920 and buffer.queued_secs <= 0.1


async def test_an_interruption_drops_the_interruptible_audio_and_frees_the_writer():
    buffer = PlayoutBuffer(BPS, ahead_secs=0.1)
    buffer.put(tone(100, value=7), interruptible=False)
    card = SimulatedCard(buffer, on_sleep=lambda: buffer.drop_interruptible())
    await paced_put(buffer, tone(500, value=9), sleep=card.sleep)  # interrupted as it starts waiting
    assert card.sleeps == 1 and buffer.queued_secs == 0
    # the uninterruptible audio played, then silence: none of the interrupted audio
    assert bytes(card.played) == tone(100, value=7) + bytes(len(card.played) - 100 * MS)


def test_an_interruption_keeps_uninterruptible_audio_in_order():
    buffer = PlayoutBuffer(BPS)
    buffer.put(tone(20, value=1))
    buffer.put(tone(20, value=2), interruptible=False)
    buffer.put(tone(20, value=3))
    buffer.put(tone(20, value=4), interruptible=False)
    assert buffer.drop_interruptible() == pytest.approx(0.04)
    assert buffer.take(40 * MS) == tone(20, value=2) + tone(20, value=4)
    assert buffer.queued_secs == 0


def test_the_card_and_the_pipeline_on_two_threads_lose_nothing():
    buffer = PlayoutBuffer(BPS)
    samples = [(1 + i % 30000).to_bytes(2, "little") for i in range(RATE * 4)]
    audio = b"".join(samples)
    played = bytearray()
    done = threading.Event()

    def card():
        while not done.is_set() or buffer.queued_secs:
            played.extend(buffer.take(20 * MS))

    thread = threading.Thread(target=card)
    thread.start()
    for i in range(0, len(audio), 40 * MS):
        buffer.put(audio[i:i + 40 * MS])
    done.set()
    thread.join()
    heard = np.frombuffer(bytes(played), "<i2")
    assert heard[heard != 0].tobytes() == audio


# The transport around the buffer; Pipecat's base output is stubbed where it needs a pipeline.

class FakeStream:
    def __init__(self, stop_blocks: threading.Event | None = None, **kwargs):
        self.kwargs, self.calls, self._stop_blocks = kwargs, [], stop_blocks

    def start_stream(self):
        self.calls.append("start")

    def stop_stream(self):
        self.calls.append("stop")
        if self._stop_blocks:
            self._stop_blocks.wait()

    def close(self):
        self.calls.append("close")


class FakePyAudio:
    def __init__(self, stop_blocks=None):
        self.stream, self._stop_blocks = None, stop_blocks

    def get_format_from_width(self, width):
        return pyaudio.paInt16

    def open(self, **kwargs):
        self.stream = FakeStream(self._stop_blocks, **kwargs)
        return self.stream


@pytest.fixture
def output(monkeypatch):
    async def base_setup(self, setup):
        self._sample_rate = RATE

    async def nothing(self, *args):
        pass

    monkeypatch.setattr(BaseOutputTransport, "setup", base_setup)
    monkeypatch.setattr(BaseOutputTransport, "cleanup", nothing)
    monkeypatch.setattr(BaseOutputTransport, "process_frame", nothing)

    async def make(stop_blocks=None):
        transport = PacedLocalAudioOutputTransport(FakePyAudio(stop_blocks), LocalAudioTransportParams(
            audio_out_enabled=True, audio_out_sample_rate=RATE))
        await transport.setup(None)
        return transport

    return make


async def test_the_stream_is_played_by_callback_from_the_buffer(output):
    transport = await output()
    stream = transport._py_audio.stream
    assert stream.kwargs["output"] and stream.kwargs["stream_callback"] and stream.kwargs["start"] is False
    transport._playout.put(tone(10))
    callback = stream.kwargs["stream_callback"]
    assert callback(None, 480, {}, 0) == (tone(10) + bytes(20 * MS - 10 * MS), pyaudio.paContinue)
    assert callback(None, 480, {}, 0) == (bytes(20 * MS), pyaudio.paContinue)  # silence, never a stall


async def test_an_interruption_frame_empties_the_buffer(output):
    transport = await output()
    transport._playout.put(tone(100))
    transport._playout.put(tone(40), interruptible=False)
    await transport.process_frame(InterruptionFrame(), FrameDirection.DOWNSTREAM)
    assert transport._playout.queued_secs == pytest.approx(0.04)


async def test_cleanup_stops_then_closes(output):
    transport = await output()
    stream = transport._py_audio.stream
    await transport.cleanup()
    assert stream.calls == ["stop", "close"]
    assert not await transport.write_audio_frame(OutputAudioRawFrame(tone(40), RATE, 1))


async def test_a_stuck_stop_leaves_the_stream_open_rather_than_freeing_it(output):
    stuck = threading.Event()
    transport = await output(stop_blocks=stuck)
    transport.CLOSE_TIMEOUT_SECS = 0.05
    stream = transport._py_audio.stream
    await transport.cleanup()  # returns, bounded, while stop_stream is still inside PortAudio
    assert stream.calls == ["stop"]
    stuck.set()
