"""Closing detection and the decision to end, with a fake clock."""

import pytest

from tests.helpers import FakeClock
from viva.processors.closing_guard import ClosingDetector
from viva.processors.exam_end import ExamEnd

PHRASE = "Thank you. That is the end of the Speaking test."


def exam_end() -> tuple[FakeClock, ExamEnd]:
    clock = FakeClock()
    return clock, ExamEnd(drain_s=0.5, closing_wait_s=5.0, clock=clock)


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


def test_the_end_waits_for_the_audio_to_stop_and_drain():
    clock = FakeClock()
    end = ExamEnd(drain_s=0.5, clock=clock)
    end.on_examiner_audio(True)
    end.on_closing()
    clock.t += 3
    assert end.due() is None  # still speaking
    end.on_examiner_audio(False)
    clock.t += 0.4
    assert end.due() is None
    clock.t += 0.2
    assert end.due() == "closing_phrase"


def test_audio_resuming_after_the_closing_delays_the_end():
    clock = FakeClock()
    end = ExamEnd(drain_s=0.5, clock=clock)
    end.on_closing()
    end.on_examiner_audio(False)
    clock.t += 0.3
    end.on_examiner_audio(True)
    clock.t += 1
    assert end.due() is None


def test_no_closing_no_end():
    clock = FakeClock()
    end = ExamEnd(drain_s=0.5, clock=clock)
    end.on_examiner_audio(False)
    clock.t += 600
    assert end.due() is None


def test_without_the_phrase_viva_says_it_once_after_the_result_and_quiet_then_ends():
    clock, end = exam_end()
    end.on_examiner_audio(True)
    clock.t += 2
    end.on_result_ready()  # the call came during the examiner's turn
    end.on_examiner_audio(False)
    clock.t += 4.9
    assert end.due() is None
    clock.t += 0.1
    assert end.due() == "say_closing"
    end.on_saying_closing()
    assert end.due() is None  # its audio has not played yet
    end.on_examiner_audio(True)
    clock.t += 3
    end.on_examiner_audio(False)
    clock.t += 0.5
    assert end.due() == "closing_from_config"


def test_the_wait_for_the_phrase_counts_from_the_result_when_it_comes_in_the_quiet():
    clock, end = exam_end()
    end.on_examiner_audio(False)
    clock.t += 30
    end.on_result_ready()
    clock.t += 4
    assert end.due() is None
    clock.t += 1
    assert end.due() == "say_closing"


def test_the_models_own_phrase_after_the_result_ends_it_normally():
    clock, end = exam_end()
    end.on_result_ready()
    end.on_examiner_audio(True)
    end.on_closing()
    clock.t += 10  # speaking all along: never "say_closing"
    assert end.due() is None
    end.on_examiner_audio(False)
    clock.t += 0.5
    assert end.due() == "closing_phrase"


def test_no_result_means_viva_does_not_say_the_closing():
    clock, end = exam_end()
    end.on_examiner_audio(False)
    clock.t += 600
    assert end.due() is None


def test_a_lost_link_after_the_result_means_viva_says_the_closing_once_the_examiner_stops():
    clock, end = exam_end()
    end.on_link(False)
    clock.t += 10
    assert end.due() is None  # no result yet: the reconnect is worth waiting for
    end.on_examiner_audio(True)  # the closing, cut by the drop, still playing out
    end.on_result_ready()
    assert end.due() is None
    end.on_examiner_audio(False)
    assert end.due() == "say_closing"  # at once, not after closing_wait_s


def test_a_link_back_up_restores_the_usual_wait():
    clock, end = exam_end()
    end.on_result_ready()
    end.on_examiner_audio(False)
    end.on_link(False)
    end.on_link(True)
    clock.t += 4.9
    assert end.due() is None
    clock.t += 0.1
    assert end.due() == "say_closing"


def test_marks_withheld_in_the_assessment_mean_viva_closes_at_once_then_waits_for_the_result():
    clock, end = exam_end()
    end.on_examiner_withheld()  # the model is saying the marks; the candidate hears nothing
    assert end.due() == "say_closing"  # no result yet, no quiet waited for
    end.on_saying_closing()
    end.on_examiner_audio(True)
    clock.t += 3
    end.on_examiner_audio(False)
    clock.t += 0.5
    assert end.due() is None  # the closing has played; the result is still to come
    clock.t += 5
    end.on_result_ready()  # the call after the spoken marks
    assert end.due() == "closing_from_config"


def test_after_viva_closed_for_withheld_marks_the_result_is_waited_for_while_the_model_goes_on():
    clock, end = exam_end()
    end.on_examiner_withheld()
    end.on_saying_closing()
    end.on_examiner_audio(True)
    end.on_examiner_audio(False)
    for _ in range(6):  # the model is still saying its marks, withheld, long after the closing
        clock.t += 5
        end.on_examiner_withheld()
        assert end.due() is None
    clock.t += 9.9
    assert end.due() is None
    clock.t += 0.1
    assert end.due() == "closing_from_config"  # quiet for result_wait_s: ends, extracting what was said
