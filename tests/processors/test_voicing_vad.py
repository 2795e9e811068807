"""The voicing VAD: real Silero on corpus audio marks every frame, and still says when speech starts and stops."""

import json

import numpy as np
import pytest
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.tests.utils import run_test

from tests.conftest import AUDIO
from viva.audio import read_wav
from viva.processors.voicing_vad import SILENT, VOICING, Voicing, VoicingSileroAnalyzer, VoicingVADProcessor

RATE = 16000
FRAME_SAMPLES = 320  # 20 ms
FRAME_S = FRAME_SAMPLES / RATE
LEAD_S = 1.0
TAIL_S = 1.5
STOP_SECS = 0.3
SPEECH = "speech__cmu_arctic_aew_a0001.wav"
NOISE = "noise__door_knock_02.wav"


def manifest(name: str) -> dict:
    entries = json.loads((AUDIO / "manifest.json").read_text())
    return next(entry for entry in entries if entry["name"] == name)


def with_silences(name: str) -> np.ndarray:
    """LEAD_S of silence, the file (padded to whole frames), then TAIL_S of silence."""
    samples = read_wav(AUDIO / name)
    samples = np.pad(samples, (0, -len(samples) % FRAME_SAMPLES))
    lead = np.zeros(int(LEAD_S * RATE), np.int16)
    tail = np.zeros(int(TAIL_S * RATE), np.int16)
    return np.concatenate([lead, samples, tail])


def audio_frames(samples: np.ndarray) -> list[InputAudioRawFrame]:
    pcm = samples.tobytes()
    step = FRAME_SAMPLES * 2
    return [InputAudioRawFrame(audio=pcm[i:i + step], sample_rate=RATE, num_channels=1)
            for i in range(0, len(pcm), step)]


def frame_index(seconds_into_file: float) -> float:
    """The frame index (counting from the leading silence) of a time in the file."""
    return (LEAD_S + seconds_into_file) / FRAME_S


class VoicingSeen(FrameProcessor):
    """The next processor: notes the voicing on each audio frame as the frame reaches it."""

    def __init__(self):
        super().__init__()
        self.seen: list[Voicing | None] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self.seen.append(frame.metadata.get(VOICING))
        await self.push_frame(frame, direction)


async def run_vad(name: str):
    """The file between silences through the processor.

    Returns the frames sent, the voicing the next processor saw on each audio frame,
    and the VAD events with the number of audio frames that came out before each.
    """
    sent = audio_frames(with_silences(name))
    processor = VoicingVADProcessor(vad_analyzer=VoicingSileroAnalyzer(params=VADParams(stop_secs=STOP_SECS)))
    seen = VoicingSeen()
    down, _ = await run_test(Pipeline([processor, seen]), frames_to_send=sent)
    audio_out, events = [], []
    for frame in down:
        if isinstance(frame, InputAudioRawFrame):
            audio_out.append(frame)
        elif isinstance(frame, (VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame)):
            events.append((type(frame), len(audio_out)))
    assert [f.audio for f in audio_out] == [f.audio for f in sent]  # every frame passed on, in order
    return sent, seen.seen, events


async def test_speech_frames_are_marked_voiced_and_one_start_and_stop_frame_the_speech():
    sent, seen, events = await run_vad(SPEECH)

    assert len(seen) == len(sent) and all(isinstance(v, Voicing) for v in seen)
    confidence = [v.confidence for v in seen]

    lead = int(LEAD_S / FRAME_S)
    assert max(confidence[:lead]) < 0.3

    segments = manifest(SPEECH)["speech_segments"]
    start_s, end_s = segments[0][0], segments[-1][1]
    inside = [c for segment in segments
              for c in confidence[int(frame_index(segment[0])) + 1:int(frame_index(segment[1]))]]
    assert inside and sum(c >= 0.7 for c in inside) >= 0.85 * len(inside)

    assert [kind for kind, _ in events] == [VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame]
    (_, started), (_, stopped) = events
    assert frame_index(start_s) <= started < stopped
    assert started <= frame_index(end_s)  # the start is heard while the speech goes on
    # the stop comes after the speech ends, about stop_secs later (0.3 s of slack for Silero's tail)
    assert frame_index(end_s) <= stopped <= frame_index(end_s + STOP_SECS + 0.3)


async def test_a_door_knock_is_loud_but_not_voiced_and_starts_no_speech():
    sent, voicing, events = await run_vad(NOISE)

    assert len(voicing) == len(sent) and all(isinstance(v, Voicing) for v in voicing)
    assert max(v.confidence for v in voicing) < 0.7
    knock = voicing[int(LEAD_S / FRAME_S):int(frame_index(manifest(NOISE)["duration_s"]))]
    assert max(v.volume for v in knock) > 0.3  # the knock was heard, not missed
    assert events == []


def chunk_at(name: str, seconds: float) -> bytes:
    """One Silero window (512 samples) of a corpus file."""
    samples = read_wav(AUDIO / name)
    start = int(seconds * RATE)
    return samples[start:start + 512].tobytes()


def analyzer(cls=VoicingSileroAnalyzer):
    vad = cls()
    vad.set_sample_rate(RATE)
    return vad


async def test_take_is_silent_before_a_whole_chunk_is_analysed():
    vad = analyzer()
    assert vad.take() == SILENT
    await vad.analyze_audio(chunk_at(SPEECH, 1.0)[:640])  # less than a 512-sample window
    assert vad.take() == SILENT


async def test_take_gives_each_chunk_just_analysed_then_keeps_the_last_until_another_is():
    vad, plain = analyzer(), analyzer(SileroVADAnalyzer)
    chunks = [chunk_at(SPEECH, 0.5 + i * 512 / RATE) for i in range(20)]  # 0.64 s of speech
    taken, expected = [], []
    for chunk in chunks:
        await vad.analyze_audio(chunk)
        taken.append(vad.take())
        # the same windows through an unhooked Silero: the confidences it reports
        expected.append(np.asarray(plain.voice_confidence(chunk)).item())
    assert [v.confidence for v in taken] == pytest.approx(expected)
    assert max(expected) >= 0.7
    # Pipecat's volume reads 0 until its 0.4 s window is full, then measures the speech
    assert all(0 < v.volume <= 1 for v in taken[-5:])

    last = taken[-1]
    assert vad.take() == last  # nothing analysed since
    await vad.analyze_audio(chunks[0][:640])  # not a whole window: still nothing analysed
    assert vad.take() == last


async def test_take_returns_the_most_voiced_chunk_since_the_last_take():
    speech, silence = chunk_at(SPEECH, 1.0), bytes(1024)
    one_by_one = analyzer()
    await one_by_one.analyze_audio(speech)
    voiced = one_by_one.take()
    await one_by_one.analyze_audio(silence)
    quiet = one_by_one.take()
    assert quiet.confidence < voiced.confidence

    together = analyzer()
    await together.analyze_audio(speech + silence)
    assert together.take() == voiced
