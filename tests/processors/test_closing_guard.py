"""The closing guard: the phrase found in a streaming transcript, and what audio passes around it."""

import numpy as np
import pytest
from pipecat.frames.frames import TTSAudioRawFrame, TTSStoppedFrame, TTSTextFrame
from pipecat.tests.utils import run_test

from viva.pipelines.registry import ClosingGuardParams
from viva.processors.closing_guard import ClosingDetector, ClosingGuard, ClosingGuardProcessor

PHRASE = "Thank you. That is the end of the Speaking test."
RATE = 24000


def voice(seconds: float = 0.04) -> bytes:
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * 180 * t) * 8000).astype(np.int16).tobytes()


def quiet(seconds: float = 0.04) -> bytes:
    return np.zeros(int(seconds * RATE), np.int16).tobytes()


@pytest.mark.parametrize("text", [
    "Thank you, that's the end of the speaking test.",
    "thank you that is the end of speaking test",  # a word lost in transcription
    "Thank you. That is the end of the Speaking tests.",  # a word misheard
])
def test_small_transcription_differences_still_count(text):
    assert ClosingDetector(PHRASE).feed(text) == 1


@pytest.mark.parametrize("text", [
    "Thank you. That is the end of part one.",
    "Thank you. Now, in this first part, I'd like to ask you some questions.",
    "That is the end.",
])
def test_other_sentences_do_not_count(text):
    assert ClosingDetector(PHRASE).feed(text) == 0


def test_a_phrase_whose_last_word_is_still_arriving_waits_for_it():
    detector = ClosingDetector(PHRASE)
    assert detector.feed("Thank you. That is the end of the Speaking te") == 0
    assert detector.feed("st.") == 1


def test_a_passage_cut_short_at_the_end_waits_for_the_rest():
    detector = ClosingDetector(PHRASE)
    assert detector.feed("Do you agree? Thank you. That is the end of the Speaking") == 0
    assert detector.feed(" test.") == 1


def test_a_turn_cut_mid_word_does_not_swallow_the_next_turns_first_word():
    # A link dropped in "Why do people like"; the next turn is the closing. Without the
    # turn's end between them, "likeThank" would hide the phrase's first word.
    detector = ClosingDetector(PHRASE)
    assert detector.feed("Why do people like") == 0
    detector.end_turn()
    assert detector.feed(PHRASE) == 1
    glued = ClosingDetector(PHRASE)
    glued.feed("Why do people like")
    assert glued.feed(PHRASE) == 0


def test_the_phrase_said_twice_counts_twice_in_any_piecing():
    detector = ClosingDetector(PHRASE)
    pieces = (PHRASE + " " + PHRASE + " Have a good day.").split(" ")
    assert sum(detector.feed(piece + " ") for piece in pieces) == 2


def test_audio_passes_until_the_phrase_then_until_its_pause_then_nothing():
    guard = ClosingGuard(PHRASE, gap_s=0.2)
    assert guard.on_audio(voice(), RATE) and guard.on_text("Thank you. That is the end of the Speaking test.")
    assert guard.state == "closing"
    assert all(guard.on_audio(voice(), RATE) for _ in range(5))  # "...test" still sounding
    assert all(guard.on_audio(quiet(), RATE) for _ in range(5))  # 0.2 s of quiet: the phrase is over
    assert guard.state == "closed"
    assert not guard.on_audio(voice(), RATE)  # the second "Thank you..."
    assert not guard.on_text(" Thank you. That is the end of the Speaking test. Have a good day.")
    assert guard.cut_audio_s == pytest.approx(0.04)
    assert "Have a good day" in guard.cut_text


def test_a_word_beyond_the_phrase_cuts_at_once_even_without_a_pause():
    guard = ClosingGuard(PHRASE, gap_s=0.2)
    guard.on_text(PHRASE)
    assert guard.on_audio(voice(), RATE)
    assert not guard.on_text(" Have")
    assert not guard.on_audio(voice(), RATE)


def test_short_quiet_inside_the_last_word_does_not_cut():
    guard = ClosingGuard(PHRASE, gap_s=0.2)
    guard.on_text(PHRASE)
    for _ in range(3):
        assert guard.on_audio(quiet(0.04), RATE) and guard.on_audio(voice(), RATE)
    assert guard.state == "closing"


def test_the_turn_ending_closes_and_nothing_later_is_heard():
    guard = ClosingGuard(PHRASE, gap_s=0.2)
    guard.on_text(PHRASE)
    guard.on_turn_end()
    assert not guard.on_audio(voice(), RATE)
    assert not guard.on_text("Goodbye.")


def test_before_the_phrase_everything_passes():
    guard = ClosingGuard(PHRASE, gap_s=0.2)
    assert guard.on_text("Thank you. Now let's talk about music.")
    assert all(guard.on_audio(quiet(), RATE) for _ in range(20))
    assert guard.state == "listening"


async def test_the_processor_drops_the_repeat_and_reports_it_at_the_turns_end():
    events = []
    processor = ClosingGuardProcessor(ClosingGuardParams(gap_s=0.08), closing_phrase=PHRASE,
                                      on_event=lambda kind, **fields: events.append((kind, fields)))
    frames = [TTSTextFrame(text=PHRASE, text_type="sentence"), *[TTSAudioRawFrame(voice(), RATE, 1)] * 2,
              *[TTSAudioRawFrame(quiet(), RATE, 1)] * 2, TTSTextFrame(text=" Thank you.", text_type="sentence"),
              *[TTSAudioRawFrame(voice(), RATE, 1)] * 3, TTSStoppedFrame()]
    down, _ = await run_test(processor, frames_to_send=frames, expected_down_frames=None)
    audio = [f for f in down if isinstance(f, TTSAudioRawFrame)]
    texts = [f.text for f in down if isinstance(f, TTSTextFrame)]
    assert len(audio) == 4 and texts == [PHRASE]
    assert events == [("closing_trimmed", {"audio_s": 0.12, "text": "Thank you."})]
