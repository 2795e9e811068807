"""The turn gate on real recordings: Pipecat's Silero (VoicingVADProcessor), the gate's processor,
and Smart Turn, as the config's stages build them, through Pipecat's test runner."""

import json

import numpy as np
import pytest
import soxr
from pipecat.frames.frames import BotStartedSpeakingFrame, BotStoppedSpeakingFrame, InputAudioRawFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.tests.utils import run_test

from emulator.voice import render_speech
from pipelines.registry import STAGES
from processors.end_of_turn import smart_turn_model
from tests.conftest import ROOT
from viva.audio import RATE, gain, read_wav
from viva.config import load_config

CONFIG = load_config(ROOT / "configs/ielts_speaking.yaml")
MANIFEST = json.loads((ROOT / "audio/manifest.json").read_text())
FRAME = 320


def wav(name: str) -> np.ndarray:
    return read_wav(ROOT / "audio" / name)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.int16)


def frames_of(samples: np.ndarray) -> list[InputAudioRawFrame]:
    return [InputAudioRawFrame(audio=samples[i : i + FRAME].tobytes(), sample_rate=RATE, num_channels=1)
            for i in range(0, len(samples) - FRAME + 1, FRAME)]


async def gate_events(samples: np.ndarray, *, part: str | None = None, examiner_speaks: bool = False) -> list:
    """The events of the config's VAD and turn gate (in `part`'s settings) on these samples."""
    specs = {s.name: s.params for s in CONFIG.stages}
    events = []
    vad = STAGES["silero_vad"].build(specs["silero_vad"], None)
    gate = STAGES["turn_gate"].build(specs["turn_gate"], None)
    gate._on_event = lambda kind, **fields: events.append((kind, fields))
    if part is not None:
        gate.gate.apply(specs["turn_gate"].settings(part))
    frames = frames_of(samples)
    if examiner_speaks:  # as the output transport says it, for the whole clip
        frames = [BotStartedSpeakingFrame(), *frames, BotStoppedSpeakingFrame()]
    await run_test(Pipeline([vad, gate]), frames_to_send=frames, expected_down_frames=None)
    return events


def count(events, kind: str) -> int:
    return sum(1 for k, _ in events if k == kind)


@pytest.mark.parametrize("entry", [e for e in MANIFEST if e["kind"].split()[0] in ("speech", "synthetic")],
                         ids=lambda e: e["name"])
async def test_each_recorded_answer_opens_exactly_one_window_pauses_and_all(entry):
    events = await gate_events(np.concatenate([silence(1.0), wav(entry["name"]), silence(2.5)]))
    assert count(events, "window_opened") == 1
    assert count(events, "window_closed") == 1


@pytest.mark.parametrize("entry", [e for e in MANIFEST if e["kind"].split()[0] == "noise"], ids=lambda e: e["name"])
async def test_no_noise_recording_opens_a_window(entry):
    events = await gate_events(np.concatenate([silence(1.0), wav(entry["name"]), silence(1.5)]))
    assert count(events, "window_opened") == 0


async def test_the_production_burst_after_an_answer_is_rejected_and_the_answer_is_one_window():
    """field-reports.md §1: the answer, its activityEnd, 2 s of kitchen clatter with a faint word, silence."""
    burst = wav("noise__kitchen_dishes_ambience_12s.wav")[: 2 * RATE].astype(np.int32)
    word = gain(wav("speech__uberi_one_two_three.wav")[: int(0.6 * RATE)], -6)
    burst[int(0.5 * RATE) : int(0.5 * RATE) + len(word)] += word
    samples = np.concatenate([silence(0.5), wav("speech__librivox_sense_and_sensibility_0870.wav"), silence(2.0),
                              np.clip(burst, -32768, 32767).astype(np.int16), silence(3.0)])
    events = await gate_events(samples)
    assert [k for k, _ in events if k != "noise_rejected"] == ["window_opened", "window_closed"]
    (rejected,) = [fields for k, fields in events if k == "noise_rejected"]
    assert 0 < rejected["voiced_s"] < 0.4  # the faint word was heard, and was not enough


async def test_a_two_minute_part_2_turn_with_thinking_pauses_stays_one_window_only_with_part_2_settings():
    names = [e["name"] for e in MANIFEST if e["kind"] == "speech"]
    pauses = [0.6, 1.2, 2.0, 0.9, 1.6, 2.2, 1.0, 1.8]  # with the files' own edges, under 3 s
    pieces, i = [silence(0.5)], 0
    while sum(len(p) for p in pieces) < 120 * RATE:
        pieces += [wav(names[i % len(names)]), silence(pauses[i % len(pauses)])]
        i += 1
    samples = np.concatenate([*pieces, silence(4.0)])
    assert count(await gate_events(samples, part="Part 2"), "window_opened") == 1
    assert count(await gate_events(samples), "window_opened") > 1  # Part 1's settings would split it


async def test_the_examiners_echo_at_minus_20_db_opens_nothing_and_speech_over_it_barges_in():
    examiner = np.frombuffer(render_speech(
        "Now I'm going to give you a topic, and I'd like you to talk about it for one to two minutes.",
        rate=24000), np.int16)
    echo = gain(soxr.resample(examiner, 24000, RATE).astype(np.int16), -20)
    padded = np.concatenate([silence(0.5), echo, silence(0.2)])
    events = await gate_events(padded, examiner_speaks=True)
    assert count(events, "window_opened") == 0
    answer = wav("speech__cmu_arctic_aew_a0001.wav")
    over = padded.astype(np.int32)
    over[RATE : RATE + len(answer)] += answer
    events = await gate_events(np.clip(over, -32768, 32767).astype(np.int16), examiner_speaks=True)
    opened = [fields for k, fields in events if k == "window_opened"]
    assert len(opened) == 1 and opened[0]["barge_in"]


def test_smart_turn_hears_a_trailing_actually_as_unfinished_and_a_whole_sentence_as_finished():
    model = smart_turn_model()
    turn = wav("synthetic__espeak_en_us_turn.wav")  # "...for two. Actually, make that three people. Thanks."
    unfinished = np.concatenate([turn[: int(4.2 * RATE)], silence(0.3)])  # "... for two. Actually,"
    finished = np.concatenate([wav("speech__cmu_arctic_aew_a0001.wav"), silence(0.3)])
    assert model(unfinished.tobytes(), RATE) < 0.5 < model(finished.tobytes(), RATE)
    assert model(b"", RATE) == 0.0
