"""The real google-genai SDK runs a whole exam against the emulator with manual activity signals."""

import asyncio

from google.genai import types

from tests.conftest import read_pcm
from tests.helpers import MODEL, live_config, receive_turn, sdk_client, send_answer
from emulator.toolargs import schema_errors

SPEECH = read_pcm("speech__cmu_arctic_aew_a0001.wav")
OTHER_SPEECH = read_pcm("speech__librivox_sense_and_sensibility_0880.wav")
KNOCK = read_pcm("noise__door_knock_02.wav")


async def test_sdk_completes_an_exam_with_tool_call_and_closing(emulator, exam):
    client = sdk_client(emulator, session_id="sdk-exam")
    async with client.aio.live.connect(model=MODEL, config=live_config(exam)) as session:
        await session.send_realtime_input(text="Hello")
        greeting = await receive_turn(session)
        assert greeting.text == "Hello, I am your examiner. Where do you live?"
        assert greeting.audio > 24000 * 2  # more than a second of 24 kHz speech

        await send_answer(session, SPEECH)
        second = await receive_turn(session)
        assert second.input_text.startswith("(speech, ")
        assert second.text == "What do you do at the weekend?"
        assert second.audio > 0

        await send_answer(session, OTHER_SPEECH)
        calls = await receive_turn(session)
        assert [call.name for call in calls.tool_calls] == ["record_assessment"]
        call = calls.tool_calls[0]
        assert call.id.startswith("fc_")
        assert schema_errors(exam.tools[0].parameters, call.args) == []
        assert calls.audio == 0  # a silent call: nothing said

        await session.send_tool_response(
            function_responses=[types.FunctionResponse(id=call.id, name=call.name, response={"status": "recorded"})]
        )
        closing = await receive_turn(session)
        assert closing.text == exam.closing_phrase
        assert closing.audio > 0

        # After the closing the examiner goes quiet: speech gets an empty turn.
        await send_answer(session, SPEECH)
        after = await receive_turn(session)
        assert after.turn_complete and after.audio == 0 and after.text == ""

    record = emulator.sessions["sdk-exam"]
    assert record.messages_validated > 20
    assert record.validation_failures == []
    spoken = [r["text"] for r in record.journal.records if r["kind"] == "speak"]
    assert spoken.count(exam.closing_phrase) == 1


async def test_a_window_of_noise_gets_an_empty_turn_and_the_question_stands(emulator, exam):
    client = sdk_client(emulator, session_id="noise")
    async with client.aio.live.connect(model=MODEL, config=live_config(exam)) as session:
        await session.send_realtime_input(text="Hello")
        await receive_turn(session)
        await send_answer(session, KNOCK)
        empty = await receive_turn(session)
        assert empty.turn_complete and empty.audio == 0 and empty.input_text == ""
        await send_answer(session, SPEECH)
        assert (await receive_turn(session)).text == "What do you do at the weekend?"
    windows = [r for r in emulator.sessions["noise"].journal.records if r["kind"] == "window"]
    assert [w["speech"] for w in windows] == [False, True]


async def test_the_journal_records_every_client_message_with_window_state(emulator, exam):
    client = sdk_client(emulator, session_id="journal")
    async with client.aio.live.connect(model=MODEL, config=live_config(exam)) as session:
        await session.send_realtime_input(text="Hello")
        await receive_turn(session)
        # Audio between windows: accepted and ignored, and counted as outside.
        await session.send_realtime_input(audio=types.Blob(data=SPEECH[:640], mime_type="audio/pcm;rate=16000"))
        await send_answer(session, SPEECH)
        await receive_turn(session)
    path = emulator.sessions["journal"].journal.path
    import json

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    audio = [r for r in lines if r["kind"] == "audio"]
    assert sum(r["audio_bytes"] for r in audio if not r["window_open"]) == 640
    assert sum(r["audio_bytes"] for r in audio if r["window_open"]) == len(SPEECH)
    kinds = [r["kind"] for r in lines if r.get("dir") == "in"]
    assert kinds[:2] == ["setup", "text"]
    assert kinds.count("activity_start") == kinds.count("activity_end") == 1
    assert all("t_s" in r for r in lines)


async def test_sessions_at_once_are_isolated(emulator, exam):
    async def one(session_id: str, answers: int) -> list[str]:
        client = sdk_client(emulator, session_id=session_id)
        said = []
        async with client.aio.live.connect(model=MODEL, config=live_config(exam)) as session:
            await session.send_realtime_input(text="Hello")
            said.append((await receive_turn(session)).text)
            for _ in range(answers):
                await send_answer(session, SPEECH)
                turn = await receive_turn(session)
                said.append(turn.text or ",".join(c.name for c in turn.tool_calls))
        return said

    results = await asyncio.gather(one("a", 1), one("b", 2), one("c", 0))
    assert results[0] == ["Hello, I am your examiner. Where do you live?", "What do you do at the weekend?"]
    assert results[1][-1] == "record_assessment"
    assert results[2] == ["Hello, I am your examiner. Where do you live?"]
    assert {"a", "b", "c"} <= set(emulator.sessions)
