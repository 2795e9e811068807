"""The closing guard: what the candidate hears around the closing finder's finding."""

import numpy as np
import pytest
from pipecat.frames.frames import TTSAudioRawFrame, TTSStoppedFrame, TTSTextFrame
from pipecat.tests.utils import run_test

from viva.pipelines.registry import ClosingGuardParams
from viva.processors.closing_guard import ClosingGuard, ClosingGuardProcessor
from viva.processors.exam_frames import ClosingPhraseFrame

PHRASE = "Thank you. That is the end of the Speaking test."
RATE = 24000


def voice(seconds: float = 0.04) -> bytes:
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * 180 * t) * 8000).astype(np.int16).tobytes()


def quiet(seconds: float = 0.04) -> bytes:
    return np.zeros(int(seconds * RATE), np.int16).tobytes()


def test_audio_passes_until_the_phrase_then_until_its_pause_then_nothing():
    guard = ClosingGuard(gap_s=0.2)
    assert guard.on_audio(voice(), RATE) and guard.on_closing() and guard.on_text(PHRASE)
    assert guard.state == "closing"
    assert all(guard.on_audio(voice(), RATE) for _ in range(5))  # "...test" still sounding
    assert all(guard.on_audio(quiet(), RATE) for _ in range(5))  # 0.2 s of quiet: the phrase is over
    assert guard.state == "closed"
    assert not guard.on_audio(voice(), RATE)  # the second "Thank you..."
    assert not guard.on_text(" Thank you. That is the end of the Speaking test. Have a good day.")
    assert guard.cut_audio_s == pytest.approx(0.04)
    assert "Have a good day" in guard.cut_text


def test_a_word_beyond_the_phrase_cuts_at_once_even_without_a_pause():
    guard = ClosingGuard(gap_s=0.2)
    guard.on_closing() and guard.on_text(PHRASE)
    assert guard.on_audio(voice(), RATE)
    assert not guard.on_text(" Have")
    assert not guard.on_audio(voice(), RATE)


def test_short_quiet_inside_the_last_word_does_not_cut():
    guard = ClosingGuard(gap_s=0.2)
    guard.on_closing() and guard.on_text(PHRASE)
    for _ in range(3):
        assert guard.on_audio(quiet(0.04), RATE) and guard.on_audio(voice(), RATE)
    assert guard.state == "closing"


def test_the_turn_ending_closes_and_nothing_later_is_heard():
    guard = ClosingGuard(gap_s=0.2)
    guard.on_closing() and guard.on_text(PHRASE)
    guard.on_turn_end()
    assert not guard.on_audio(voice(), RATE)
    assert not guard.on_text("Goodbye.")


def test_before_the_phrase_everything_passes():
    guard = ClosingGuard(gap_s=0.2)
    assert guard.on_text("Thank you. Now let's talk about music.")
    assert all(guard.on_audio(quiet(), RATE) for _ in range(20))
    assert guard.state == "listening"


async def test_the_processor_drops_the_repeat_and_reports_it_at_the_turns_end():
    events = []
    processor = ClosingGuardProcessor(ClosingGuardParams(gap_s=0.08),
                                      on_event=lambda kind, **fields: events.append((kind, fields)))
    frames = [ClosingPhraseFrame(), TTSTextFrame(text=PHRASE, text_type="sentence"), *[TTSAudioRawFrame(voice(), RATE, 1)] * 2,
              *[TTSAudioRawFrame(quiet(), RATE, 1)] * 2, TTSTextFrame(text=" Thank you.", text_type="sentence"),
              *[TTSAudioRawFrame(voice(), RATE, 1)] * 3, TTSStoppedFrame()]
    down, _ = await run_test(processor, frames_to_send=frames, expected_down_frames=None)
    audio = [f for f in down if isinstance(f, TTSAudioRawFrame)]
    texts = [f.text for f in down if isinstance(f, TTSTextFrame)]
    assert len(audio) == 4 and texts == [PHRASE]
    assert len([f for f in down if isinstance(f, ClosingPhraseFrame)]) == 1
    assert events == [("closing_trimmed", {"audio_s": 0.12, "text": "Thank you."})]


def test_a_finding_after_the_cut_is_dropped_with_its_words():
    guard = ClosingGuard(gap_s=0.2)
    assert guard.on_closing() and guard.on_text(PHRASE)
    assert not guard.on_text(" And again:")
    assert not guard.on_closing() and not guard.on_text(PHRASE)


def test_the_piece_that_completes_the_phrase_passes_with_whatever_follows_it_in_the_piece():
    guard = ClosingGuard(gap_s=0.2)
    assert guard.on_text("Thank you. That is the end")
    assert guard.on_closing() and guard.on_text(" of the Speaking test. Good")
    assert not guard.on_text("bye.")
