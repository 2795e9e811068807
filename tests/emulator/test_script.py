"""The scripted examiner as a plain state machine."""

from emulator.script import (AGAIN, FOLLOW_UP_QUESTIONS, IMPROVISED_CLOSING, IMPROVISED_LINES, CallTools, Cue,
                             Phase, ScriptedExaminer, Silence, Speak, parse_cue, script_from_instruction)
from viva.exam.wording import system_instruction
from viva.config import load_config
from tests.conftest import ROOT
from viva.exam import wording


def examiner(exam, tools=("record_assessment",)) -> ScriptedExaminer:
    lines, closing_phrase = script_from_instruction(system_instruction(exam))
    return ScriptedExaminer(lines=lines, closing_phrase=closing_phrase, tools=tools)


def script_lines(exam):
    """The lines the examiner reads from the system instruction viva composes for exam."""
    return script_from_instruction(system_instruction(exam))[0]


def test_a_whole_exam_in_order(exam):
    e = examiner(exam)
    assert e.on_turn(speech=True) == Speak("Hello, I am your examiner. Where do you live?", line=0)
    assert e.on_turn(speech=True) == Speak("What do you do at the weekend?", line=1)
    assert e.on_turn(speech=True) == CallTools(("record_assessment",))
    assert e.state.phase is Phase.AWAITING_TOOL_RESULTS
    assert e.on_turn(speech=True) == Silence()  # waits for the result
    assert e.on_tool_result("record_assessment") == Speak(exam.closing_phrase)
    assert e.on_turn(speech=True) == Silence()
    assert e.on_text() == Silence()


def test_windows_without_speech_get_empty_turns_and_move_nothing(exam):
    e = examiner(exam)
    assert e.on_turn(speech=False) == Silence()
    assert e.state.phase is Phase.NOT_STARTED
    e.on_turn(speech=True)
    assert e.on_turn(speech=False) == Silence()
    assert e.state.next_line == 1


def test_text_starts_the_exam_then_repeats_the_current_question(exam):
    e = examiner(exam)
    assert e.on_text().line == 0
    assert e.on_text() == Speak("Let me say that again. Where do you live?")
    assert e.state.next_line == 1


def test_results_for_unknown_or_unrequested_tools_change_nothing(exam):
    e = examiner(exam, tools=("record_assessment", "note"))
    for _ in range(3):
        e.on_turn(speech=True)
    assert e.on_tool_result("other") == Silence()
    assert e.on_tool_result("note") == Silence()
    assert e.state.pending_tools == ("record_assessment",)
    assert e.on_tool_result("note") == Silence()  # a duplicate result
    assert e.on_tool_result("record_assessment") == Speak(exam.closing_phrase)


def test_without_declared_tools_the_closing_follows_the_last_answer(exam):
    e = examiner(exam, tools=())
    for _ in range(2):
        e.on_turn(speech=True)
    assert e.on_turn(speech=True) == Speak(exam.closing_phrase)


def test_cancelled_calls_are_made_again_after_the_next_answer(exam):
    e = examiner(exam)
    for _ in range(3):
        e.on_turn(speech=True)
    e.cancel_tools()
    assert e.on_turn(speech=True) == CallTools(("record_assessment",))


def test_a_snapshot_of_the_state_restores_the_position(exam):
    e = examiner(exam)
    e.on_turn(speech=True)
    saved = e.state
    e.on_turn(speech=True)
    e.state = saved
    assert e.on_turn(speech=True).line == 1


def test_the_ielts_script_reads_the_cue_card_and_every_question():
    exam = load_config(ROOT / "configs/ielts_speaking.yaml").exam
    lines = script_lines(exam)
    questions = sum(len(part.questions) for part in exam.parts)
    # The cue card is a turn of its own, and so is each greeting line that asks (the name, the ID).
    assert len(lines) == questions + 1 + 2
    greeting = exam.greeting_lines
    assert lines[0].text == greeting[0] and lines[1].text == greeting[1]
    assert lines[2].text.startswith(greeting[2]) and lines[2].text.endswith(exam.parts[0].questions[0])
    card = next(line for line in lines if exam.parts[1].cue_card.topic in line.text)
    assert exam.parts[1].intro in card.text and lines.index(card) == len(exam.parts[0].questions) + 2


def test_a_history_seeded_into_a_fresh_session_places_the_examiner_after_its_last_line(exam):
    e = examiner(exam)
    lines = script_lines(exam)
    assert e.on_history([lines[0].text, "Thank you."])  # the greeting and first question were said
    assert e.state.phase is Phase.ASKING and e.current_line == 0
    assert e.on_turn(speech=True) == Speak(lines[1].text, line=1)


def test_a_history_with_the_closing_leaves_the_examiner_done_and_one_with_no_line_changes_nothing(exam):
    e = examiner(exam)
    assert not e.on_history(["Hello there, how are you?"])
    assert e.state.phase is Phase.NOT_STARTED
    assert e.on_history([exam.closing_phrase])
    assert e.state.phase is Phase.DONE


def test_the_closing_is_the_one_the_instruction_says_to_say_exactly(exam):
    assert examiner(exam).closing_phrase == exam.closing_phrase
    lines, closing = script_from_instruction('Examine.\n1. Hi. Who are you?\nThen say exactly "Bye  now." once.')
    assert [line.text for line in lines] == ["Hi. Who are you?"] and lines[0].question == "Who are you?"
    assert closing == "Bye now."


def test_an_instruction_without_a_script_gets_an_improvising_examiner():
    lines, closing = script_from_instruction("You are an examiner. Ask about the candidate's life.")
    assert [line.text for line in lines] == list(IMPROVISED_LINES) and closing == IMPROVISED_CLOSING
    e = ScriptedExaminer(lines=lines, closing_phrase=closing, tools=("record_assessment",))
    assert e.on_text() == Speak(IMPROVISED_LINES[0], line=0)


# ---- cues: the client tells the examiner each turn (SPEC §4; emulator/script.py parse_cue)

# The cues as viva words them (viva/exam/wording.py).
ASK = wording.cue(wording.say("Do you work or are you a student?"), now=False)
NOW = wording.cue(wording.say("All right? Remember you have one to two minutes for this. Please start speaking now."),
                  now=True)
ASSESS = wording.cue(wording.call_for_assessment(["record_assessment"]), now=False)
NUDGE = "(The candidate has finished answering. Please continue with the exam.)"


def cue_examiner(tools=("record_assessment",)) -> ScriptedExaminer:
    """What a client that conducts the exam itself tells the model: no script, a closing."""
    lines, closing = script_from_instruction('You are an examiner. After the function result, say exactly "Goodbye."')
    return ScriptedExaminer(lines=lines, closing_phrase=closing, tools=tools)


def test_a_cue_is_read_from_what_it_says_not_from_its_marker():
    tools = ("record_assessment", "note")
    assert parse_cue(ASK, tools) == Cue(ASK, say="Do you work or are you a student?")
    assert parse_cue(NOW, tools).say.startswith("All right? Remember") and parse_cue(NOW, tools).say.endswith("now.")
    assert parse_cue(ASSESS, tools) == Cue(ASSESS, tools=("record_assessment",))
    # the last quoted text wins, any case, curly quotes, whitespace collapsed; no marker needed
    assert parse_cue('Say Exactly "one" or rather SAY EXACTLY \u201ctwo  words\u201d', tools).say == "two words"
    assert parse_cue("Now call note and record_assessment, silently.", tools).tools == ("note", "record_assessment")
    # not cues: a nudge, a marker alone, an undeclared tool, a blank
    for text in (NUDGE, "[Exam system] Please wait.", "[Exam system] call other_tool now.", " ", "Please recall it."):
        assert parse_cue(text, tools) is None, text


def test_a_pending_cue_is_said_after_the_next_speech_window_not_after_noise():
    e = cue_examiner()
    assert e.read_cue("[Exam system] say exactly \"Where do you live?\"") is not None
    e.read_cue(ASK)  # the latest pending cue replaces the earlier one
    assert e.state.cue_mode and e.pending_cue.say == "Do you work or are you a student?"
    assert e.on_turn(speech=False) == Silence()  # noise: the cue waits
    assert e.on_turn(speech=True) == Speak("Do you work or are you a student?", cue=ASK)
    assert e.pending_cue is None and e.on_turn(speech=True).cue is None  # consumed: now it improvises


def test_a_text_acts_on_the_pending_cue_and_a_later_nudge_repeats_the_cued_question():
    e = cue_examiner()
    assert e.read_cue(NUDGE) is None  # a nudge is no cue
    e.read_cue(NOW)
    said = e.on_text()  # a trigger (turnComplete true, the realtime " ", a nudge): the cue now
    assert said.cued and said.text == parse_cue(NOW).say and said.line is None
    assert e.on_text() == Speak(f"{AGAIN} Please start speaking now.")


def test_in_cue_mode_without_a_cue_the_examiner_improvises_follow_ups_and_never_finishes():
    e = cue_examiner()
    e.read_cue(ASK)
    e.on_text()
    asked = [e.on_turn(speech=True) for _ in range(len(FOLLOW_UP_QUESTIONS) + 1)]
    assert [a.text for a in asked] == [*FOLLOW_UP_QUESTIONS, FOLLOW_UP_QUESTIONS[0]]
    assert not any(a.cued for a in asked) and e.state.phase is Phase.ASKING


def test_a_cue_to_call_the_tool_calls_it_then_the_instructions_closing_follows():
    e = cue_examiner(tools=("record_assessment", "note"))
    e.read_cue(ASSESS)
    assert e.on_turn(speech=True) == CallTools(("record_assessment",))
    assert e.on_turn(speech=True) == Silence()  # waits for the result
    assert e.on_tool_result("record_assessment") == Speak("Goodbye.")
    assert e.on_turn(speech=True) == Silence() and e.on_text() == Silence()


def test_a_cancelled_cued_call_is_made_again_at_the_next_trigger():
    e = cue_examiner()
    e.read_cue(ASSESS)
    e.on_turn(speech=True)
    e.cancel_tools()
    assert e.on_turn(speech=True) == CallTools(("record_assessment",))


def test_the_pending_cue_and_cue_mode_are_in_the_state_a_handle_restores():
    e = cue_examiner()
    e.read_cue(ASK)
    saved = e.state
    e.on_turn(speech=True)
    fresh = cue_examiner()
    fresh.state = saved
    assert fresh.state.cue_mode and fresh.on_turn(speech=True) == Speak("Do you work or are you a student?", cue=ASK)


def test_a_cue_answered_in_a_seeded_history_is_settled_not_said_again():
    e = cue_examiner()
    e.read_cue(ASK)
    e.settle_cue()
    assert e.pending_cue is None and e.on_text() == Speak(f"{AGAIN} Do you work or are you a student?")


def test_a_numbered_script_is_still_followed_when_no_cue_comes(exam):
    e = examiner(exam)
    assert e.scripted and not cue_examiner().scripted
    assert e.on_text() == Speak("Hello, I am your examiner. Where do you live?", line=0)
    e.read_cue(ASK)  # a cue in a scripted session is still done as told
    assert e.on_turn(speech=True).cued
