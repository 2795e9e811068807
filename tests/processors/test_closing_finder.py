"""The closing finder: the closing phrase found once in the examiner's streaming transcript
(ClosingDetector), and the finding pushed just before the piece that completes it."""

import pytest
from pipecat.frames.frames import TTSStartedFrame, TTSStoppedFrame, TTSTextFrame
from pipecat.tests.utils import run_test

from viva.exam.phrases import ClosingDetector
from viva.processors.closing_finder import ClosingFinderProcessor
from viva.processors.exam_frames import ClosingPhraseFrame

PHRASE = "Thank you. That is the end of the Speaking test."


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


@pytest.mark.parametrize("pieces", [
    ["Thank you. That is the end of the Speaking test."],
    ["Thank you.", " That is the end", " of the speaking TEST"],
    ["thank you that is  the end of the speaking test!"],
])
def test_the_phrase_is_found_across_pieces_case_and_punctuation(pieces):
    detector = ClosingDetector(PHRASE)
    found = sum(detector.feed(piece) for piece in pieces)
    assert found == 1 and detector.count == 1


def test_each_occurrence_is_counted_once():
    detector = ClosingDetector(PHRASE)
    assert detector.feed(PHRASE + " " + PHRASE) == 2
    assert detector.feed(" Have a good day.") == 0
    assert detector.count == 2


def test_other_text_is_not_the_phrase():
    detector = ClosingDetector(PHRASE)
    assert detector.feed("Thank you. That is the end of part one of the Speaking test.") == 0


async def test_the_finding_comes_just_before_the_piece_that_completes_the_phrase_with_its_place_in_the_turn():
    frames = [TTSStartedFrame(), TTSTextFrame(text="Good. Thank you. That is the end", text_type="word"),
              TTSTextFrame(text=" of the Speaking test.", text_type="word"), TTSTextFrame(text=" Bye.", text_type="word"),
              TTSStoppedFrame(), TTSStartedFrame(), TTSTextFrame(text=PHRASE, text_type="sentence"), TTSStoppedFrame()]
    down, _ = await run_test(ClosingFinderProcessor(PHRASE), frames_to_send=frames, expected_down_frames=None)
    seen = [(type(f).__name__, getattr(f, "text", getattr(f, "words_before", None))) for f in down
            if isinstance(f, (TTSTextFrame, ClosingPhraseFrame))]
    assert seen == [("TTSTextFrame", "Good. Thank you. That is the end"), ("ClosingPhraseFrame", 1),
                    ("TTSTextFrame", " of the Speaking test."), ("TTSTextFrame", " Bye."),
                    ("ClosingPhraseFrame", 0), ("TTSTextFrame", PHRASE)]


async def test_other_words_bring_no_finding():
    frames = [TTSStartedFrame(), TTSTextFrame(text="Thank you. That is the end of part one.", text_type="sentence"),
              TTSStoppedFrame()]
    down, _ = await run_test(ClosingFinderProcessor(PHRASE), frames_to_send=frames, expected_down_frames=None)
    assert not [f for f in down if isinstance(f, ClosingPhraseFrame)]


@pytest.mark.parametrize("phrase, said", [
    ("Merci. L'épreuve est terminée.", "Très bien, merci. L'épreuve est terminée. Au revoir."),
    ("Спасибо. Экзамен окончен.", "Хорошо. Спасибо. Экзамен окончен."),
])
def test_a_closing_in_any_script_is_found_once(phrase, said):
    detector = ClosingDetector(phrase)
    assert detector.feed(said) == 1 and detector.count == 1
    assert ClosingDetector(phrase).feed("Merci. Passons à la suite.") == 0
