"""Exam parts heard from the examiner's transcript, with the real IELTS intros: the tracker, then its processor."""

import re

import pytest
from pipecat.frames.frames import TextFrame, TTSStartedFrame, TTSStoppedFrame, TTSTextFrame
from pipecat.processors.frame_processor import FrameDirection
from pipecat.tests.utils import run_test

from viva.exam_script import examiner_lines
from processors.exam_part import ExamPartFrame, ExamPartProcessor, ExamPartTracker
from viva.config import load_config

from tests.conftest import ROOT

EXAM = load_config(ROOT / "configs" / "ielts_speaking.yaml").exam
INTROS = [(part.name, part.intro or "") for part in EXAM.parts]  # as pipelines/registry.py builds them
INTRO = dict(INTROS)


def word_pieces(text: str) -> list[str]:
    """Text as the model's transcript arrives: a word at a time, punctuation attached."""
    return re.findall(r"\s*\S+", text)


def feed(tracker: ExamPartTracker, pieces: list[str]) -> list[str | None]:
    return [tracker.on_examiner_text(piece) for piece in pieces]


def reported(tracker: ExamPartTracker, text: str) -> list[str]:
    return [part for part in feed(tracker, word_pieces(text)) if part is not None]


def test_part_1_is_reported_once_when_enough_of_its_intro_has_been_said():
    tracker = ExamPartTracker(INTROS)
    pieces = word_pieces(INTRO["Part 1"])
    assert pieces[:9] == ["Now,", " in", " this", " first", " part,", " I'd", " like", " to", " ask"]
    # "Now, in this first part, I'd like to" is not yet enough; "ask" makes 9 of the intro's first 12 words
    assert feed(tracker, pieces) == [None] * 8 + ["Part 1"] + [None] * (len(pieces) - 9)
    assert tracker.current == "Part 1"


def test_the_whole_scripted_exam_reports_each_part_once_in_order_within_its_intro():
    tracker = ExamPartTracker(INTROS)
    heard = []  # (part reported, the script line it was reported in)
    for line in examiner_lines(EXAM):
        for piece in word_pieces(line):
            part = tracker.on_examiner_text(piece)
            if part is not None:
                heard.append((part, line))
    assert reported(tracker, EXAM.closing_phrase) == []
    assert [part for part, _ in heard] == ["Part 1", "Part 2", "Part 3"]
    for part, line in heard:
        assert INTRO[part] in line  # reported within the line that says the part's own intro


def test_an_earlier_part_said_again_is_not_reported():
    tracker = ExamPartTracker(INTROS)
    assert reported(tracker, INTRO["Part 1"]) == ["Part 1"]
    assert reported(tracker, INTRO["Part 2"]) == ["Part 2"]
    assert reported(tracker, INTRO["Part 1"]) == []
    assert reported(tracker, INTRO["Part 2"]) == []
    assert tracker.current == "Part 2"


def test_a_part_skipped_does_not_stop_the_next_from_being_reported():
    tracker = ExamPartTracker(INTROS)
    assert reported(tracker, INTRO["Part 1"]) == ["Part 1"]
    assert reported(tracker, INTRO["Part 3"]) == ["Part 3"]
    assert reported(tracker, INTRO["Part 2"]) == []  # behind us now
    assert tracker.current == "Part 3"


@pytest.mark.parametrize("paraphrase", [
    "Now in this first part I would like to ask you a few questions about yourself.",
    "In this first part, I'd like to ask you some questions about you.",
])
def test_a_paraphrase_with_most_of_the_intros_first_words_is_recognised(paraphrase):
    assert reported(ExamPartTracker(INTROS), paraphrase) == ["Part 1"]


@pytest.mark.parametrize("text", [
    "Do you work or are you a student?",
    " ".join(EXAM.parts[0].questions),  # all of Part 1's questions, none of them its intro
    "Now, let's talk about you. I'd like to know what you do.",
])
def test_examiner_questions_are_not_an_intro(text):
    tracker = ExamPartTracker(INTROS)
    assert reported(tracker, text) == []
    assert tracker.current is None


@pytest.mark.parametrize("empty", ["", "   ", "..."])
def test_a_part_with_an_empty_intro_is_never_reported(empty):
    tracker = ExamPartTracker([("Warm-up", empty), *INTROS])
    assert reported(tracker, "") == []
    assert tracker.on_examiner_text("") is None
    assert reported(tracker, EXAM.greeting + " " + INTRO["Part 1"]) == ["Part 1"]
    assert reported(tracker, INTRO["Part 2"] + " " + INTRO["Part 3"]) == ["Part 2", "Part 3"]


def tts_words(text: str) -> list[TTSTextFrame]:
    return [TTSTextFrame(text=piece, text_type="word") for piece in word_pieces(text)]


async def test_the_processor_passes_frames_on_and_sends_one_part_frame_upstream():
    events = []
    processor = ExamPartProcessor(intros=INTROS, on_event=lambda kind, **fields: events.append((kind, fields)))
    sent = [TTSStartedFrame(), *tts_words(EXAM.greeting + " " + INTRO["Part 1"]),
            TTSStoppedFrame(), TextFrame(text=INTRO["Part 2"])]  # not the examiner's speech
    down, up = await run_test(processor, frames_to_send=sent)

    assert len(down) == len(sent) and all(a is b for a, b in zip(down, sent, strict=True))  # the same frames, in order
    assert [f.text for f in down if isinstance(f, TTSTextFrame)] == word_pieces(EXAM.greeting + " " + INTRO["Part 1"])
    assert [type(f) for f in up] == [ExamPartFrame] and up[0].part == "Part 1"
    assert events == [("exam_part", {"name": "Part 1"})]


async def test_examiner_text_travelling_upstream_reports_no_part():
    processor = ExamPartProcessor(intros=INTROS)
    sent = tts_words(INTRO["Part 1"])
    down, up = await run_test(processor, frames_to_send=sent, frames_to_send_direction=FrameDirection.UPSTREAM)
    assert not any(isinstance(f, ExamPartFrame) for f in [*down, *up])
    assert processor.tracker.current is None


def test_an_intro_split_mid_word_across_transcript_pieces_is_recognised():
    """Gemini's transcript pieces need not end at word boundaries."""
    config = load_config(ROOT / "configs/ielts_speaking.yaml")
    intro = config.exam.parts[0].intro
    tracker = ExamPartTracker([(p.name, p.intro or "") for p in config.exam.parts])
    found = [tracker.on_examiner_text(intro[i : i + 7]) for i in range(0, len(intro), 7)]
    assert [f for f in found if f] == [config.exam.parts[0].name]
