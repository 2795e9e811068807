"""The emulated model plays a role when a cue tells it to (emulator/script.py parse_cue,
in_role_lines): the opening line, then replies in role from the brief, until a cue to say or
call something ends the role. viva/processors/exam_director.py sends such cues for role-play parts."""

import pytest
from google.genai import errors

from emulator.script import (
    AGAIN,
    FOLLOW_UP_QUESTIONS,
    ROLE_FILLERS,
    CallTools,
    Cue,
    Silence,
    Speak,
    in_role_lines,
    parse_cue,
)
from tests.emulator.test_cues import KNOCK, SPEECH, connected, records, user
from tests.emulator.test_script import ASK, ASSESS, NUDGE, cue_examiner
from tests.helpers import receive_turn, send_answer
from viva.exam import wording

BRIEF = ("You are Mr David Jones, 58, a bus driver. You have had chest pain for three days. "
         "It gets worse when you climb stairs. You smoke ten cigarettes a day. You are worried it is your heart.")
OPENING = "Hello doctor. I have had this pain in my chest."
# The cues as viva words them (viva/exam/wording.py).
ROLE = wording.cue(wording.play_role(BRIEF, OPENING), now=False)
ROLE_NOW = wording.cue(wording.play_role(BRIEF, OPENING), now=True)
IN_ROLE = ["I am Mr David Jones, 58, a bus driver.", "I have had chest pain for three days.",
           "It gets worse when I climb stairs.", "I smoke ten cigarettes a day.", "I am worried it is my heart."]
STOP_LINE = ("Thank you, that is the end of the consultation. Now I have some questions for you. "
             "What is your most likely diagnosis?")
STOP = wording.cue(wording.say(STOP_LINE), now=False)


# ---- parse_cue ---------------------------------------------------------------------------

def test_a_role_cue_gives_the_brief_and_the_opening_line_either_placement():
    tools = ("record_assessment",)
    assert parse_cue(ROLE, tools) == Cue(ROLE, say=OPENING, role=BRIEF)
    assert parse_cue(ROLE_NOW, tools) == Cue(ROLE_NOW, say=OPENING, role=BRIEF)
    # the brief's whitespace collapsed, curly quotes for the opening line
    spread = ROLE.replace(f'"{OPENING}"', f"\u201c{OPENING}\u201d").replace(". You", ".\n  You")
    assert parse_cue(spread, tools) == Cue(spread, say=OPENING, role=BRIEF)


def test_text_that_asks_for_no_role_means_what_it_meant_before():
    tools = ("record_assessment",)
    assert parse_cue(ASK, tools) == Cue(ASK, say="Do you work or are you a student?")
    assert parse_cue(ASSESS, tools) == Cue(ASSESS, tools=("record_assessment",))
    assert parse_cue(STOP, tools) == Cue(STOP, say=STOP_LINE) and parse_cue(STOP, tools).role is None
    # "Role:" without "play this role" (and the reverse) is no role; "saying exactly" counts only in a role cue
    assert parse_cue('Role: examiner. Say exactly "Hi."', tools) == Cue('Role: examiner. Say exactly "Hi."', say="Hi.")
    assert parse_cue('Start by saying exactly "Hi."', tools) is None
    assert parse_cue("Please play this role well.", tools) is None
    assert parse_cue(NUDGE, tools) is None


def test_the_brief_in_the_first_person_one_sentence_a_line():
    assert in_role_lines(BRIEF) == IN_ROLE
    assert in_role_lines("You're a shopkeeper. Your shop sells shoes. A customer tells you the price is too high, "
                         "so you offer a discount. Dr. Smith is yours.") == [
        "I'm a shopkeeper.", "My shop sells shoes.",
        "A customer tells me the price is too high, so I offer a discount.", "Dr. Smith is mine."]


# ---- the state machine ---------------------------------------------------------------------

def test_a_role_is_played_from_the_brief_then_generic_lines_until_a_say_cue_ends_it():
    e = cue_examiner()
    e.read_cue(ROLE)
    assert e.on_turn(speech=False) == Silence() and e.state.role is None  # noise: the cue waits, no role yet
    assert e.on_turn(speech=True) == Speak(OPENING, cue=ROLE)
    assert e.state.role == BRIEF
    assert e.on_turn(speech=False) == Silence() and e.state.role_replies == 0  # noise gets nothing in role either
    said = [e.on_turn(speech=True) for _ in range(len(IN_ROLE) + 3)]
    assert [s.text for s in said] == [*IN_ROLE, *ROLE_FILLERS, ROLE_FILLERS[0]]
    assert all(s.role and not s.cued for s in said)
    e.read_cue(STOP)
    assert e.on_turn(speech=True) == Speak(STOP_LINE, cue=STOP)
    assert e.state.role is None
    assert e.on_turn(speech=True) == Speak(FOLLOW_UP_QUESTIONS[0])  # out of role: cue mode as before
    assert e.on_text() == Speak(f"{AGAIN} What is your most likely diagnosis?")


def test_a_role_cue_sent_now_is_said_at_the_trigger_and_a_nudge_in_role_gets_a_reply_in_role():
    e = cue_examiner()
    e.read_cue(ROLE_NOW)
    assert e.on_text() == Speak(OPENING, cue=ROLE_NOW)
    assert e.on_text() == Speak(IN_ROLE[0], role=True)
    assert e.on_turn(speech=True) == Speak(IN_ROLE[1], role=True)


def test_a_call_cue_ends_the_role_and_a_pending_cue_takes_the_turn_from_the_role():
    e = cue_examiner()
    e.read_cue(ROLE)
    e.on_turn(speech=True)
    e.on_turn(speech=True)
    e.read_cue(ASSESS)
    assert e.on_turn(speech=True) == CallTools(("record_assessment",))
    assert e.state.role is None
    assert e.on_tool_result("record_assessment") == Speak("Goodbye.")


def test_the_role_and_its_place_in_the_brief_are_in_the_state_a_handle_restores():
    e = cue_examiner()
    e.read_cue(ROLE)
    e.on_turn(speech=True)
    e.on_turn(speech=True)
    saved = e.state
    e.on_turn(speech=True)
    fresh = cue_examiner()
    fresh.state = saved
    assert fresh.on_turn(speech=True) == Speak(IN_ROLE[1], role=True)


def test_a_role_cue_settled_in_a_seeded_history_puts_the_examiner_in_role():
    e = cue_examiner()
    e.read_cue(ROLE)
    e.settle_cue()  # the model's opening line followed the cue in the history
    assert e.on_turn(speech=True) == Speak(IN_ROLE[0], role=True)


# ---- over the wire ----------------------------------------------------------------------

async def test_over_the_wire_the_role_cue_gets_the_opening_then_replies_in_role_until_the_stop_cue(emulator, exam):
    async with await connected(emulator, exam, "role") as session:
        await session.send_client_content(turns=user(ROLE_NOW), turn_complete=True)
        opening = await receive_turn(session)
        await send_answer(session, SPEECH)
        first = await receive_turn(session)
        await send_answer(session, KNOCK)
        empty = await receive_turn(session)
        await send_answer(session, SPEECH)
        second = await receive_turn(session)
        await session.send_client_content(turns=user(STOP), turn_complete=False)
        await send_answer(session, SPEECH)
        stop = await receive_turn(session)
        await send_answer(session, SPEECH)
        after = await receive_turn(session)
    assert [opening.text, first.text, empty.text, second.text, stop.text, after.text] == [
        OPENING, IN_ROLE[0], "", IN_ROLE[1], STOP_LINE, FOLLOW_UP_QUESTIONS[0]]
    assert first.audio > 0
    spoken = [(s["text"], s["cued"], s.get("role", False)) for s in records(emulator, "role", "speak")]
    assert spoken == [(OPENING, True, False), (IN_ROLE[0], False, True), (IN_ROLE[1], False, True),
                      (STOP_LINE, True, False), (FOLLOW_UP_QUESTIONS[0], False, False)]
    cues = records(emulator, "role", "cue")
    assert cues[0]["role"] == BRIEF and cues[0]["say"] == OPENING and "role" not in cues[1]


async def test_over_the_wire_a_session_resumed_in_role_goes_on_with_the_brief(emulator, exam):
    async with await connected(emulator, exam, "role-resume") as session:
        await session.send_client_content(turns=user(ROLE_NOW), turn_complete=True)
        await receive_turn(session)
        await send_answer(session, SPEECH)
        assert (await receive_turn(session)).text == IN_ROLE[0]
        handle = (await anext(session.receive())).session_resumption_update.new_handle  # offered after the turn
        assert handle
        await emulator.sessions["role-resume"].connection.close_now(1011, "Internal error encountered.")
        with pytest.raises(errors.APIError):
            async for _ in session.receive():
                pass
    async with await connected(emulator, exam, "role-resume", handle=handle) as resumed:
        await send_answer(resumed, SPEECH)
        assert (await receive_turn(resumed)).text == IN_ROLE[1]
