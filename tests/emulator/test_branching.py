"""Exams that branch on the examiner's judgement: the model calls a judgement function when a
cue says so, and a function response that holds the next cue is acted on (emulator/script.py
on_tool_result, cue_in_response) instead of closing. Which branch a call takes is drawn from
the seeded rng (the faults file's seed, the run stream) or forced by a tool_args fault."""

import json

import pytest
from google import genai
from google.genai import types
from pydantic import ValidationError

from emulator.faults import FaultsFile
from emulator.script import (Cue, ScriptedExaminer, Silence, Speak, cue_in_response, cue_says_now,
                             script_from_instruction)
from emulator.server import EmulatorServer
from emulator.toolargs import merged_arguments
from tests.conftest import fast_settings, read_pcm
from tests.helpers import MODEL, receive_turn, sdk_client, send_answer
from viva.exam import wording

SPEECH = read_pcm("speech__cmu_arctic_aew_a0001.wav")
CLOSING = "Thank you. That is the end of the test."
INSTRUCTION = ("You are an examiner. Follow the exam system's notes. "
               f'After the function result, say exactly "{CLOSING}"')
JUDGEMENT = {"type": "object", "required": ["judgement"], "properties": {"judgement": {
    "type": "string", "enum": ["sustained", "broke_down"], "description": "Whether the candidate sustained it."}}}
RESULT = {"type": "object", "properties": {"overall_band": {"type": "number", "minimum": 0, "maximum": 9}},
          "required": ["overall_band"]}

# The cues as viva words them (viva/exam/wording.py).
FIRST = wording.cue(wording.say("Hello. Tell me about your town?"), now=True)
JUDGE = wording.cue(wording.call_for_judgement("intermediate_check", "Did the candidate sustain the level?"),
                    now=False)
FOLLOW_UP = "Tell me about a book you read?"
NEXT_NOW = wording.cue(wording.say(FOLLOW_UP), now=True)
LATER = "What do you do at the weekend?"
NEXT_WAIT = wording.cue(wording.say(LATER), now=False)
ASSESS = wording.cue(wording.call_for_assessment(["record_assessment"]), now=False)


def config() -> types.LiveConnectConfig:
    declarations = [types.FunctionDeclaration(name="intermediate_check", description="Your judgement.",
                                              parameters_json_schema=JUDGEMENT),
                    types.FunctionDeclaration(name="record_assessment", description="The result.",
                                              parameters_json_schema=RESULT)]
    return types.LiveConnectConfig(
        response_modalities=["AUDIO"], system_instruction=INSTRUCTION,
        tools=[types.Tool(function_declarations=declarations)],
        output_audio_transcription=types.AudioTranscriptionConfig(),
        realtime_input_config=types.RealtimeInputConfig(
            automatic_activity_detection=types.AutomaticActivityDetection(disabled=True)),
        session_resumption=types.SessionResumptionConfig())


def user(text: str) -> types.Content:
    return types.Content(role="user", parts=[types.Part(text=text)])


def answer_to(call: types.FunctionCall, response: dict) -> list[types.FunctionResponse]:
    return [types.FunctionResponse(id=call.id, name=call.name, response=response)]


def journal(server, session_id, kind) -> list[dict]:
    return [r for r in server.sessions[session_id].journal.records if r["kind"] == kind]


async def judged(session) -> types.FunctionCall:
    """Greeting, the judgement cue, an answer: the model's call of intermediate_check."""
    await session.send_client_content(turns=user(FIRST), turn_complete=True)
    await receive_turn(session)
    await session.send_client_content(turns=user(JUDGE), turn_complete=False)
    await send_answer(session, SPEECH)
    called = await receive_turn(session)
    assert [c.name for c in called.tool_calls] == ["intermediate_check"] and called.audio == 0
    return called.tool_calls[0]


# ---- on the wire, through google-genai ------------------------------------------------------

async def test_a_cue_in_a_judgements_response_is_said_and_a_result_without_one_gets_the_closing(emulator):
    client = sdk_client(emulator, session_id="branch")
    async with client.aio.live.connect(model=MODEL, config=config()) as session:
        call = await judged(session)
        await session.send_tool_response(function_responses=answer_to(
            call, {"judgement": call.args["judgement"], "next": NEXT_NOW}))
        said = await receive_turn(session)
        # A "When the candidate has finished:" cue in a response waits for the answer.
        await session.send_client_content(turns=user(JUDGE), turn_complete=False)
        await send_answer(session, SPEECH)
        call = (await receive_turn(session)).tool_calls[0]
        await session.send_tool_response(function_responses=answer_to(call, {"judgement": "x", "next": NEXT_WAIT}))
        waited = await receive_turn(session)
        await send_answer(session, SPEECH)
        later = await receive_turn(session)
        # The exam's result tool: its response holds no cue, so the closing follows.
        await session.send_client_content(turns=user(ASSESS), turn_complete=False)
        await send_answer(session, SPEECH)
        result = (await receive_turn(session)).tool_calls[0]
        await session.send_tool_response(function_responses=answer_to(result, {"ok": True}))
        closing = await receive_turn(session)
    assert said.text == FOLLOW_UP and said.audio > 0 and CLOSING not in said.text
    assert waited.turn_complete and waited.audio == 0 and waited.text == ""
    assert later.text == LATER
    assert result.name == "record_assessment" and closing.text == CLOSING
    cues = [c for c in journal(emulator, "branch", "cue") if c["source"] == "tool_response"]
    assert [(c["say"], c["pending"]) for c in cues] == [(FOLLOW_UP, False), (LATER, True)]
    assert [s["text"] for s in journal(emulator, "branch", "speak")].count(CLOSING) == 1


async def test_a_tool_args_fault_forces_the_judgement_valid_or_not(tmp_path):
    faults = FaultsFile.model_validate({"seed": 2, "faults": [  # seed 2 alone draws "sustained"
        {"kind": "tool_args", "tool": "intermediate_check", "args": {"judgement": "broke_down"}, "times": 1},
        {"kind": "tool_args", "tool": "intermediate_check", "args": {"judgement": "maybe"}, "times": 1}]})
    async with EmulatorServer(log_dir=tmp_path, settings=fast_settings(), faults=faults) as server:
        client = genai.Client(api_key="k", http_options=server.http_options(session_id="forced", run=0))
        async with client.aio.live.connect(model=MODEL, config=config()) as session:
            first = await judged(session)
            await session.send_tool_response(function_responses=answer_to(first, {"next": NEXT_WAIT}))
            await receive_turn(session)
            await session.send_client_content(turns=user(JUDGE), turn_complete=False)
            await send_answer(session, SPEECH)
            second = (await receive_turn(session)).tool_calls[0]
        assert first.args == {"judgement": "broke_down"}
        assert second.args == {"judgement": "maybe"}  # invalid, and sent all the same
        calls = journal(server, "forced", "tool_call")
        assert [c["schema_errors"] for c in calls][0] == [] and calls[1]["schema_errors"]
        assert [c["forced"] for c in calls] == [{"judgement": "broke_down"}, {"judgement": "maybe"}]
        lines = [json.loads(line) for line in server.sessions["forced"].journal.path.read_text().splitlines()]
        assert [e["args"] for e in lines if e.get("fault") == "tool_args"] == [
            {"judgement": "broke_down"}, {"judgement": "maybe"}]


async def drawn_judgement(tmp_path, seed: int, *, run: int = 0) -> str:
    """The judgement the model draws in a fresh server whose faults file has this seed (no faults)."""
    async with EmulatorServer(log_dir=tmp_path / f"{seed}-{run}", settings=fast_settings(),
                              faults=FaultsFile(seed=seed)) as server:
        client = genai.Client(api_key="k", http_options=server.http_options(session_id="seeded", run=run))
        async with client.aio.live.connect(model=MODEL, config=config()) as session:
            await session.send_client_content(
                turns=user("[Exam system] Now: call intermediate_check, silently."), turn_complete=True)
            call = (await receive_turn(session)).tool_calls[0]
    return call.args["judgement"]


async def test_the_faults_files_seed_picks_the_branch_and_repeats_it(tmp_path):
    # Run stream 0, first draw of the session: seed 1 draws broke_down, seed 2 sustained.
    assert await drawn_judgement(tmp_path / "a", 1) == "broke_down"
    assert await drawn_judgement(tmp_path / "b", 2) == "sustained"
    assert await drawn_judgement(tmp_path / "c", 1) == "broke_down"  # the same seed, the same branch
    assert await drawn_judgement(tmp_path / "d", 1, run=1) == "sustained"  # seed 1, run stream 1 (x-viva-run)


# ---- the decisions, without a socket --------------------------------------------------------

def test_a_cue_is_found_in_any_string_of_a_response_at_any_depth():
    tools = ("intermediate_check",)
    assert cue_in_response({"judgement": "sustained", "next": NEXT_NOW}, tools) == Cue(NEXT_NOW, say=FOLLOW_UP)
    assert cue_in_response({"a": [1, {"b": [NEXT_WAIT]}]}, tools) == Cue(NEXT_WAIT, say=LATER)
    assert cue_in_response({"ok": True, "judgement": "sustained"}, tools) is None
    assert cue_in_response(None, tools) is None
    assert cue_says_now(Cue(NEXT_NOW)) and not cue_says_now(Cue(NEXT_WAIT))
    assert cue_says_now(Cue('say exactly "Hi."'))  # no timing given: a function response is answered at once


def test_the_examiner_acts_on_a_result_cue_only_once_every_pending_result_is_in():
    e = ScriptedExaminer(*script_from_instruction(INSTRUCTION), tools=("intermediate_check", "record_assessment"))
    e.read_cue("[Exam system] Now: call intermediate_check and record_assessment.")
    e.on_text()
    assert e.on_tool_result("intermediate_check", {"next": NEXT_NOW}) == Silence()
    assert e.on_tool_result("record_assessment", {"ok": True}) == Speak(FOLLOW_UP, cue=NEXT_NOW)
    assert e.state.result_cue is None and e.state.pending_cue is None


def test_tool_args_needs_its_tool_and_args_and_merges_over_the_drawn():
    with pytest.raises(ValidationError, match="tool_args needs tool and args"):
        FaultsFile.model_validate({"faults": [{"kind": "tool_args", "tool": "intermediate_check"}]})
    with pytest.raises(ValidationError, match="tool and args are for tool_args only"):
        FaultsFile.model_validate({"faults": [{"kind": "stall", "tool": "intermediate_check"}]})
    assert merged_arguments({"a": 1, "e": {"x": "1", "y": "2"}}, {"e": {"y": "3"}, "b": 2}) == {
        "a": 1, "e": {"x": "1", "y": "3"}, "b": 2}
