"""A session dropped mid-exam resumes by handle and the script goes on at the same question."""

import json

import pytest
from google.genai import errors

from tests.conftest import read_pcm
from tests.helpers import MODEL, live_config, receive_turn, sdk_client, send_answer

SPEECH = read_pcm("speech__librivox_sense_and_sensibility_0930.wav")


async def test_resume_after_a_server_drop_continues_the_script(emulator, exam):
    client = sdk_client(emulator, session_id="drop")
    async with client.aio.live.connect(model=MODEL, config=live_config(exam)) as session:
        await session.send_realtime_input(text="Hello")
        await receive_turn(session)
        await send_answer(session, SPEECH)
        asked = await receive_turn(session)
        assert asked.text == "What do you do at the weekend?"
        handle = (await anext(session.receive())).session_resumption_update.new_handle
        assert handle
        await emulator.sessions["drop"].connection.close_now(1011, "Internal error encountered.")
        with pytest.raises(errors.APIError) as dropped:
            async for _ in session.receive():
                pass
        assert dropped.value.code == 1011

    async with client.aio.live.connect(model=MODEL, config=live_config(exam, handle=handle)) as resumed:
        # The answer to the question asked before the drop moves the exam on: no second greeting.
        await send_answer(resumed, SPEECH)
        turn = await receive_turn(resumed)
        assert [call.name for call in turn.tool_calls] == ["record_assessment"]

    records = emulator.sessions["drop"].journal.records
    setups = [r for r in records if r["kind"] == "setup"]
    assert [s["resumed_from"] for s in setups] == [None, handle]
    assert [r["line"] for r in records if r["kind"] == "speak"] == [0, 1]  # each line said once
    lines = emulator.sessions["drop"].journal.path.read_text().splitlines()
    times = [json.loads(line)["t_s"] for line in lines]
    assert times == sorted(times)  # one time axis, from the first socket


async def test_resume_with_an_older_handle_goes_back_to_that_point(emulator, exam):
    client = sdk_client(emulator, session_id="older")
    async with client.aio.live.connect(model=MODEL, config=live_config(exam)) as session:
        await session.send_realtime_input(text="Hello")
        greeting = await receive_turn(session)
        first_handle = (await anext(session.receive())).session_resumption_update.new_handle
        await send_answer(session, SPEECH)
        await receive_turn(session)
    assert greeting.text.endswith("Where do you live?")
    async with client.aio.live.connect(model=MODEL, config=live_config(exam, handle=first_handle)) as resumed:
        await send_answer(resumed, SPEECH)
        assert (await receive_turn(resumed)).text == "What do you do at the weekend?"


async def test_a_handle_is_refused_while_its_session_is_still_connected(emulator, exam):
    client = sdk_client(emulator, session_id="open")
    async with client.aio.live.connect(model=MODEL, config=live_config(exam)) as session:
        await session.send_realtime_input(text="Hello")
        await receive_turn(session)
        handle = (await anext(session.receive())).session_resumption_update.new_handle
        with pytest.raises(errors.APIError) as refused:
            async with client.aio.live.connect(model=MODEL, config=live_config(exam, handle=handle)):
                pass
        assert refused.value.code == 1011
        await send_answer(session, SPEECH)  # the open session is unharmed
        assert (await receive_turn(session)).text == "What do you do at the weekend?"


async def test_a_connection_at_the_end_of_its_life_gets_go_away_then_1011_and_resumes(exam, tmp_path):
    from emulator.server import EmulatorServer
    from tests.conftest import fast_settings

    settings = fast_settings(connection_lifetime_s=3.0, go_away_time_left_s=0.5)
    async with EmulatorServer(settings=settings) as server:
        client = sdk_client(server, session_id="lifetime")
        async with client.aio.live.connect(model=MODEL, config=live_config(exam)) as session:
            await session.send_realtime_input(text="Hello")
            greeting = await receive_turn(session)
            handle = greeting.handles[-1] if greeting.handles else None
            go_away = None
            with pytest.raises(errors.APIError) as closed:
                while True:
                    async for message in session.receive():
                        if message.go_away:
                            go_away = message.go_away
                        update = message.session_resumption_update
                        if update and update.new_handle:
                            handle = update.new_handle
            assert go_away is not None and go_away.time_left == "0.5s"
            assert closed.value.code == 1011 and "Deadline expired" in str(closed.value)
        async with client.aio.live.connect(model=MODEL, config=live_config(exam, handle=handle)) as resumed:
            await send_answer(resumed, SPEECH)
            assert (await receive_turn(resumed)).text == "What do you do at the weekend?"
        kinds = [r["kind"] for r in server.sessions["lifetime"].journal.records]
        assert kinds.index("go_away") < kinds.index("close")
