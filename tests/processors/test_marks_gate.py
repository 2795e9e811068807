"""The marks gate: once the assessment is cued, the candidate hears the closing phrase only."""

import pytest

from viva.exam.phrases import begins_phrase
from viva.processors.marks_gate import MarksGate, Play, Withhold

PHRASE = "Thank you. That is the end of the Speaking test."


def played(actions) -> list:
    return [item for action in actions if isinstance(action, Play) for item in action.items]


def withheld(actions) -> list[Withhold]:
    return [action for action in actions if isinstance(action, Withhold)]


def sealed_gate() -> MarksGate:
    """A gate in the assessment, at the start of an examiner turn."""
    gate = MarksGate(PHRASE)
    gate.seal(True)
    gate.on_turn_start()
    return gate


@pytest.mark.parametrize("said, begins", [
    ("", True),
    ("Thank", True),
    ("thank you, that's the end", True),
    ("Thank you. That is the end of the Speaking tests.", True),
    ("Thank you that is end of the Speaking test", True),  # a word lost by transcription
    ("Fluency and coherence: six.", False),
    ("Thank you for your answers.", False),
    ("Your band is six. Thank you. That is the end of the Speaking test.", False),
])
def test_a_turn_begins_the_phrase_only_with_its_words_in_order(said, begins):
    assert begins_phrase(said, PHRASE) is begins


def test_unsealed_everything_passes_at_once():
    gate = MarksGate(PHRASE)
    gate.on_turn_start()
    assert played(gate.on_item("a1")) == ["a1"]
    assert played(gate.on_text("t1", "Do you work or are you a student?")) == ["t1"]


def test_a_closing_turn_is_held_until_its_first_words_then_plays_in_order_and_streams():
    gate = sealed_gate()
    assert gate.on_item("a1") == [] and gate.on_item("llm1") == []
    assert played(gate.on_text("t1", "Thank you.")) == ["a1", "llm1", "t1"]
    assert played(gate.on_item("a2")) == ["a2"]
    assert played(gate.on_text("t2", " That is the end of the Speaking test.")) == ["t2"]
    assert gate.on_turn_end() == [] and gate.withheld_turns == 0


def test_marks_said_aloud_are_withheld_whole_and_their_words_go_to_the_record():
    gate = sealed_gate()
    gate.on_item("a1")
    first = gate.on_text("t1", "Fluency and coherence six,")
    assert played(first) == [] and withheld(first) == [Withhold("Fluency and coherence six,", first=True)]
    assert gate.on_item("a2") == []
    later = gate.on_text("t2", " lexical resource six. Thank you. That is the end of the Speaking test.")
    assert played(later) == [] and not withheld(later)[0].first
    assert gate.on_turn_end() == [] and gate.withheld_turns == 1
    # The next turn is judged afresh: the model's own closing after the call plays.
    gate.on_turn_start()
    gate.on_item("a3")
    assert played(gate.on_text("t3", "Thank you. That is the end")) == ["a3", "t3"]


def test_a_closing_that_strays_into_marks_is_cut_from_there():
    gate = sealed_gate()
    assert played(gate.on_text("t1", "Thank you.")) == ["t1"]
    cut = gate.on_text("t2", " Your fluency band is six.")
    assert played(cut) == [] and withheld(cut)[0].first
    assert gate.on_item("a2") == []


def test_a_closing_said_whole_plays_on_and_the_closing_guard_cuts_what_follows():
    # repeat_closing: the phrase said twice in one turn. The first is heard whole; the
    # repeat is the closing guard's to cut, and nothing is withheld (which would make exam
    # end say the closing once more).
    # The closing finder's finding ("c1") comes just before the piece that completes the phrase.
    gate = sealed_gate()
    assert gate.on_closing("c1") == []  # held with the turn until its first words
    assert played(gate.on_text("t1", "Thank you. That is the end of the Speaking test.")) == ["c1", "t1"]
    assert played(gate.on_text("t2", " Thank you.")) == ["t2"]
    assert played(gate.on_item("a2")) == ["a2"]
    assert gate.on_turn_end() == [] and gate.withheld_turns == 0
    # The phrase and its repeat in one piece of transcript: the same.
    gate.on_turn_start()
    gate.on_item("a3")
    gate.on_closing("c3")
    assert played(gate.on_text("t3", "Thank you. That is the end of the Speaking test. Thank you.")) == ["a3", "c3", "t3"]
    assert gate.on_turn_end() == [] and gate.withheld_turns == 0


def test_a_turn_of_marks_that_ends_in_the_phrase_stays_withheld_finding_and_all():
    gate = sealed_gate()
    gate.on_text("t1", "Your band is six.")
    assert gate.on_closing("c1") == []
    assert played(gate.on_text("t2", " Thank you. That is the end of the Speaking test.")) == []
    assert gate.withheld_turns == 1


def test_a_turn_that_never_shows_its_words_is_not_heard():
    gate = sealed_gate()
    gate.on_item("a1")
    assert withheld(gate.on_turn_end()) == [Withhold("", first=True)] and gate.withheld_turns == 1


def test_unsealing_plays_what_an_undecided_turn_held():
    gate = sealed_gate()
    gate.on_item("a1")
    assert played(gate.seal(False)) == ["a1"]
    assert played(gate.on_item("a2")) == ["a2"]
