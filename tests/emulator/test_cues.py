"""The emulated model acts on the cues a client sends (emulator/script.py parse_cue): a note
before each examiner turn that it does and never reads aloud. The real SDK sends them as
client content; raw JSON where the SDK cannot say the case (3.x initial history)."""

import json

import pytest
from google.genai import errors, types

from emulator.script import AGAIN, FOLLOW_UP_QUESTIONS, IMPROVISED_LINES
from emulator.toolargs import schema_errors
from tests.conftest import read_pcm
from tests.helpers import RawClient, live_config, receive_turn, sdk_client, send_answer
from viva.exam import wording

MODEL = "gemini-3.1-flash-live-preview"
SPEECH = read_pcm("speech__cmu_arctic_aew_a0001.wav")
KNOCK = read_pcm("noise__door_knock_02.wav")

# The cues as viva words them (viva/exam/wording.py), so that the emulator is tested on what is sent.
FIRST = wording.cue(wording.say("Hello, I am your examiner. Where do you live?"), now=True)
ASK = wording.cue(wording.say("Do you work or are you a student?"), now=False)
EARLIER = wording.cue(wording.say("What is your name?"), now=False)
ASSESS = wording.cue(wording.call_for_assessment(["record_assessment"]), now=False)
NUDGE = "(The candidate has finished answering. Please continue with the exam.)"


def instruction(exam) -> str:
    """What a client that conducts the exam itself tells the model up front: no script."""
    return f'{exam.system_prompt} Follow the exam system\'s notes. After the function result, say exactly "{exam.closing_phrase}"'


def cue_config(exam, *, handle: str | None = None) -> types.LiveConnectConfig:
    return live_config(exam, handle=handle).model_copy(update={"system_instruction": instruction(exam)})


def user(text: str) -> types.Content:
    return types.Content(role="user", parts=[types.Part(text=text)])


def records(server, session_id, kind) -> list[dict]:
    return [r for r in server.sessions[session_id].journal.records if r["kind"] == kind]


async def connected(server, exam, session_id, **kwargs):
    return sdk_client(server, session_id=session_id).aio.live.connect(model=MODEL, config=cue_config(exam, **kwargs))


async def test_a_pending_cue_waits_through_noise_and_is_said_after_speech_the_latest_replacing_the_earlier(emulator, exam):
    async with await connected(emulator, exam, "pending") as session:
        await session.send_client_content(turns=user(FIRST), turn_complete=True)
        assert (await receive_turn(session)).text == "Hello, I am your examiner. Where do you live?"
        await session.send_client_content(turns=user(EARLIER), turn_complete=False)
        await session.send_client_content(turns=user(ASK), turn_complete=False)
        await send_answer(session, KNOCK)
        empty = await receive_turn(session)
        await send_answer(session, SPEECH)
        asked = await receive_turn(session)
    assert empty.turn_complete and empty.audio == 0 and empty.text == ""
    assert asked.text == "Do you work or are you a student?" and asked.audio > 0
    contents = records(emulator, "pending", "client_content")
    assert [c["text"] for c in contents] == [FIRST, EARLIER, ASK]  # each note, whole, in the journal
    cues = records(emulator, "pending", "cue")
    assert [c["pending"] for c in cues] == [False, True, True] and cues[2]["replaces"] == EARLIER
    spoken = records(emulator, "pending", "speak")
    assert [(s["text"], s["cued"]) for s in spoken] == [
        ("Hello, I am your examiner. Where do you live?", True), ("Do you work or are you a student?", True)]
    replies = records(emulator, "pending", "reply")
    assert [r["trigger"] for r in replies] == ["client_content", "no_speech", "speech"]


async def test_a_cue_with_turn_complete_or_as_realtime_text_is_said_at_once(emulator, exam):
    async with await connected(emulator, exam, "at-once") as session:
        await session.send_client_content(turns=user(FIRST), turn_complete=True)
        first = await receive_turn(session)
        await session.send_realtime_input(text=ASK)
        second = await receive_turn(session)
    assert first.text == "Hello, I am your examiner. Where do you live?"
    assert second.text == "Do you work or are you a student?"
    assert "[Exam system]" not in first.text + second.text  # the note itself is never read aloud
    assert [c["source"] for c in records(emulator, "at-once", "cue")] == ["client_content", "text"]


async def test_a_cue_in_the_initial_history_of_a_3x_model_is_said_after_pipecats_blank_text(emulator, exam):
    setup = {"setup": {
        "model": "models/gemini-3.8-live", "generationConfig": {"responseModalities": ["AUDIO"]},
        "systemInstruction": {"parts": [{"text": instruction(exam)}], "role": "user"},
        "realtimeInputConfig": {"automaticActivityDetection": {"disabled": True}},
        "outputAudioTranscription": {}, "historyConfig": {"initialHistoryInClientContent": True}}}
    async with RawClient(emulator, headers={"x-viva-session-id": "history"}) as client:
        await client.send(setup)
        assert await client.recv() == {"setupComplete": {}}
        await client.send({"clientContent": {"turns": [{"role": "user", "parts": [{"text": FIRST}]}],
                                             "turnComplete": True}})
        await client.send({"realtimeInput": {"text": " "}})
        turn = await client.recv_until(lambda m: m.get("serverContent", {}).get("turnComplete"))
    said = "".join(m["serverContent"]["outputTranscription"]["text"] for m in turn
                   if "outputTranscription" in m.get("serverContent", {}))
    assert said == "Hello, I am your examiner. Where do you live?"
    cue = records(emulator, "history", "cue")[0]
    assert cue["source"] == "history" and cue["pending"] is True
    assert [r["trigger"] for r in records(emulator, "history", "reply")] == ["text"]  # one turn, from the " "


async def test_a_cue_naming_the_declared_tool_calls_it_and_the_instructions_closing_follows(emulator, exam):
    async with await connected(emulator, exam, "tool") as session:
        await session.send_client_content(turns=user(FIRST), turn_complete=True)
        await receive_turn(session)
        await session.send_client_content(turns=user(ASSESS), turn_complete=False)
        await send_answer(session, SPEECH)
        called = await receive_turn(session)
        call = called.tool_calls[0]
        await session.send_tool_response(
            function_responses=[types.FunctionResponse(id=call.id, name=call.name, response={"ok": True})])
        closing = await receive_turn(session)
    assert call.name == "record_assessment" and called.audio == 0
    assert schema_errors(exam.tools[0].parameters, call.args) == []
    assert closing.text == exam.closing_phrase
    assert records(emulator, "tool", "cue")[1]["call_tools"] == ["record_assessment"]


async def test_a_nudge_says_the_pending_cue_then_repeats_the_cued_question(emulator, exam):
    async with await connected(emulator, exam, "nudge") as session:
        await session.send_client_content(turns=user(FIRST), turn_complete=True)
        await receive_turn(session)
        await session.send_client_content(turns=user(ASK), turn_complete=False)
        await session.send_realtime_input(text=NUDGE)  # the model stalled; the client nudges it
        cued = await receive_turn(session)
        await session.send_realtime_input(text=NUDGE)
        again = await receive_turn(session)
    assert cued.text == "Do you work or are you a student?"
    assert again.text == f"{AGAIN} Do you work or are you a student?"
    assert len(records(emulator, "nudge", "cue")) == 2  # the nudges are no cues


async def test_without_a_script_or_a_cue_the_examiner_improvises_and_after_cues_asks_follow_ups(emulator, exam):
    async with await connected(emulator, exam, "improvise") as session:
        await session.send_realtime_input(text="Hello")
        greeting = await receive_turn(session)
        await send_answer(session, SPEECH)
        improvised = await receive_turn(session)
        await session.send_client_content(turns=user(ASK), turn_complete=True)
        await receive_turn(session)
        await send_answer(session, SPEECH)  # no cue for this turn
        follow_up = await receive_turn(session)
    assert [greeting.text, improvised.text] == list(IMPROVISED_LINES)
    assert follow_up.text == FOLLOW_UP_QUESTIONS[0]
    assert [s["cued"] for s in records(emulator, "improvise", "speak")] == [False, False, True, False]


def offered_after(journal: list[dict], cue: str, handle: str) -> bool:
    """Whether the emulator offered this handle after it had taken in this cue."""
    taken = [i for i, r in enumerate(journal) if r["kind"] == "cue" and r["text"] == cue]
    return bool(taken) and any(r.get("handle") == handle for r in journal[taken[0]:])


async def test_a_pending_cue_survives_a_drop_and_resumption_by_handle(emulator, exam):
    client = sdk_client(emulator, session_id="resume")
    async with client.aio.live.connect(model=MODEL, config=cue_config(exam)) as session:
        await session.send_client_content(turns=user(FIRST), turn_complete=True)
        await receive_turn(session)
        await session.send_client_content(turns=user(ASK), turn_complete=False)
        journal = emulator.sessions["resume"].journal.records
        update = None
        async for message in session.receive():  # up to the handle offered once the cue is held
            update = message.session_resumption_update
            if update and update.resumable and update.new_handle and offered_after(journal, ASK, update.new_handle):
                break
        await emulator.sessions["resume"].connection.close_now(1011, "Internal error encountered.")
        with pytest.raises(errors.APIError):
            async for _ in session.receive():
                pass
    async with client.aio.live.connect(model=MODEL, config=cue_config(exam, handle=update.new_handle)) as resumed:
        await send_answer(resumed, SPEECH)
        assert (await receive_turn(resumed)).text == "Do you work or are you a student?"
    setups = records(emulator, "resume", "setup")
    assert [s["resumed_from"] for s in setups] == [None, update.new_handle]
    lines = emulator.sessions["resume"].journal.path.read_text().splitlines()
    assert any(json.loads(line).get("cued") for line in lines if '"kind":"speak"' in line)
