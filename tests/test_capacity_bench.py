"""bench/candidate_client.py speaks Pipecat's ProtobufFrameSerializer both ways, and counts
holes in the examiner's audio by its sample clock (no timing: positions are given)."""

from __future__ import annotations

import asyncio

import numpy as np
import pipecat.frames.protobufs.frames_pb2 as frame_protos
from pipecat.frames.frames import InputAudioRawFrame, OutputAudioRawFrame
from pipecat.serializers.protobuf import ProtobufFrameSerializer

from bench.candidate_client import HOLE_MAX_S, JITTER_S, Loudspeaker, mic_message
from viva.audio import RATE


def test_microphone_frame_reads_as_pipecat_input_audio():
    samples = (np.arange(320) - 160).astype(np.int16)
    frame = asyncio.run(ProtobufFrameSerializer().deserialize(mic_message(samples)))
    assert isinstance(frame, InputAudioRawFrame)
    assert frame.audio == samples.tobytes() and frame.sample_rate == RATE and frame.num_channels == 1


def test_examiner_audio_from_pipecat_parses_on_the_client():
    audio = np.ones(960, dtype=np.int16).tobytes()
    payload = asyncio.run(ProtobufFrameSerializer().serialize(
        OutputAudioRawFrame(audio=audio, sample_rate=24000, num_channels=1)))
    frame = frame_protos.Frame.FromString(payload)
    assert frame.WhichOneof("frame") == "audio"
    assert frame.audio.audio == audio and frame.audio.sample_rate == 24000


def test_holes_pauses_and_new_turns():
    speaker = Loudspeaker(turn_gap_s=0.4)
    chunk = np.zeros(640, dtype=np.int16)  # 40 ms
    jitter = int(JITTER_S * RATE)
    speaker.receive(chunk, 0)  # a turn starts after the jitter buffer
    assert speaker.speaker.playing_until == jitter + 640
    speaker.receive(chunk, jitter + 640)  # just in time: no hole
    assert speaker.underruns == []
    late = speaker.speaker.playing_until + 160  # 10 ms after all before it has played
    speaker.receive(chunk, late)
    assert speaker.underruns == [160 / RATE]
    pause = speaker.speaker.playing_until + int((HOLE_MAX_S + 0.05) * RATE)
    speaker.receive(chunk, pause)  # the model's own pause inside its turn
    assert len(speaker.underruns) == 1 and speaker.pauses == 1
    speaker.receive(chunk, speaker.speaker.playing_until + int(0.5 * RATE))  # the next turn
    assert len(speaker.underruns) == 1 and speaker.pauses == 1
