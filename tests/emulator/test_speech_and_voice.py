"""The emulator's ears (Silero on the corpus) and voice (espeak-ng, or a tone)."""

import json

import numpy as np
import pytest

from emulator.speech import SpeechDetector
from emulator.voice import OUTPUT_RATE, ExaminerVoice, tone_for
from tests.conftest import AUDIO, read_pcm

MANIFEST = json.loads((AUDIO / "manifest.json").read_text())
SPEECH = [e["name"] for e in MANIFEST if e["kind"].startswith("speech")]
NOISE = [e["name"] for e in MANIFEST if e["kind"].startswith("noise")]


@pytest.mark.parametrize("name", SPEECH)
def test_every_recorded_answer_holds_speech(name):
    detector = SpeechDetector()
    detector.feed(read_pcm(name))
    assert detector.has_speech
    labelled = sum(end - start for start, end in next(e for e in MANIFEST if e["name"] == name)["speech_segments"])
    assert detector.voiced_s == pytest.approx(labelled, abs=max(0.5, 0.25 * labelled))


@pytest.mark.parametrize("name", NOISE)
def test_no_recorded_noise_holds_speech(name):
    detector = SpeechDetector()
    detector.feed(read_pcm(name))
    assert not detector.has_speech


def test_audio_at_other_rates_is_resampled_first():
    pcm = np.frombuffer(read_pcm("speech__cmu_arctic_aew_a0001.wav"), dtype="<i2")
    at_48k = np.repeat(pcm, 3).astype("<i2").tobytes()
    detector = SpeechDetector()
    for i in range(0, len(at_48k), 1920):  # 20 ms messages, as a client streams them
        detector.feed(at_48k[i : i + 1920], 48000)
    assert detector.has_speech and detector.audio_s == pytest.approx(len(pcm) / 16000, abs=0.05)


def test_the_tone_lasts_as_long_as_the_words():
    short, long = tone_for("Hello there."), tone_for(" ".join(["word"] * 26))
    assert len(long) / 2 / OUTPUT_RATE == pytest.approx(10.0, abs=0.01)
    assert len(short) < len(long)


async def test_without_espeak_the_voice_is_the_tone():
    voice = ExaminerVoice(use_espeak=False)
    assert voice.engine == "tone"
    assert await voice.synthesize("Where do you live?") == tone_for("Where do you live?")


async def test_espeak_speech_is_24khz_and_the_emulator_hears_it_as_speech():
    voice = ExaminerVoice()  # scripts/setup.sh installs espeak-ng
    pcm = await voice.synthesize("Now let's talk about your home town. Where is your home town?")
    assert voice.engine == "espeak-ng"
    seconds = len(pcm) / 2 / OUTPUT_RATE
    assert 2.5 < seconds < 8
    detector = SpeechDetector()
    detector.feed(pcm, OUTPUT_RATE)
    assert detector.has_speech
    assert await voice.synthesize("Now let's talk about your home town. Where is your home town?") is pcm  # cached
