"""Each documented close is triggered by its input and reaches the client as APIError with
that code, while the emulator goes on serving other sessions."""

import asyncio
import contextlib
import json

import pytest
import websockets
from google.genai import errors, live, types

from tests.conftest import read_pcm
from tests.helpers import LIVE_PATH, MODEL, live_config, receive_turn, sdk_client, send_answer

SPEECH = read_pcm("speech__cmu_arctic_aew_a0003.wav")


async def expect_close(session, code: int) -> errors.APIError:
    with pytest.raises(errors.APIError) as raised:
        async with asyncio.timeout(10):
            while True:  # receive() returns at each turnComplete; the close comes after
                async for _ in session.receive():
                    pass
    assert raised.value.code == code, str(raised.value)
    return raised.value


@contextlib.asynccontextmanager
async def unopened_sdk_session(emulator):
    """google-genai's AsyncSession on a socket that has not sent setup yet.

    The SDK always sends its own setup first; what it never sends (audio before setup, a
    toolConfig) is sent through the session's socket, and read back through the SDK.
    """
    async with websockets.connect(
        f"wss://localhost:{emulator.port}{LIVE_PATH}", ssl=emulator.client_ssl_context(),
        additional_headers={"x-goog-api-key": "k"},
    ) as ws:
        yield live.AsyncSession(api_client=sdk_client(emulator)._api_client, websocket=ws)


async def unknown_field(emulator, exam):
    async with unopened_sdk_session(emulator) as session:
        await session._ws.send(json.dumps({"setup": {"model": "models/" + MODEL, "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}}}))
        error = await expect_close(session, 1007)
    assert 'Unknown name "toolConfig" at \'setup\'' in str(error)


async def activity_start_with_automatic_detection(emulator, exam):
    config = live_config(exam, manual=False)
    async with sdk_client(emulator).aio.live.connect(model=MODEL, config=config) as session:
        await session.send_realtime_input(activity_start=types.ActivityStart())
        error = await expect_close(session, 1007)
    assert "automatic activity detection" in str(error)


async def window_without_audio(emulator, exam):
    async with sdk_client(emulator).aio.live.connect(model=MODEL, config=live_config(exam)) as session:
        await session.send_realtime_input(activity_start=types.ActivityStart())
        await session.send_realtime_input(activity_end=types.ActivityEnd())
        error = await expect_close(session, 1007)
    assert "Precondition check failed" in str(error)


async def audio_before_setup(emulator, exam):
    async with unopened_sdk_session(emulator) as session:
        await session.send_realtime_input(audio=types.Blob(data=SPEECH[:640], mime_type="audio/pcm;rate=16000"))
        error = await expect_close(session, 1007)
    assert "invalid argument" in str(error)


async def unknown_handle(emulator, exam):
    with pytest.raises(errors.APIError) as raised:
        async with sdk_client(emulator).aio.live.connect(model=MODEL, config=live_config(exam, handle="no-such-handle")):
            pass
    assert raised.value.code == 1008
    assert "session not found" in str(raised.value)


CLOSES = [unknown_field, activity_start_with_automatic_detection, window_without_audio, audio_before_setup, unknown_handle]


@pytest.mark.parametrize("trigger", CLOSES, ids=[c.__name__ for c in CLOSES])
async def test_close_reaches_the_client_and_other_sessions_go_on(emulator, exam, trigger):
    client = sdk_client(emulator, session_id="bystander")
    async with client.aio.live.connect(model=MODEL, config=live_config(exam)) as bystander:
        await bystander.send_realtime_input(text="Hello")
        assert (await receive_turn(bystander)).text.endswith("Where do you live?")
        await trigger(emulator, exam)
        await send_answer(bystander, SPEECH)
        assert (await receive_turn(bystander)).text == "What do you do at the weekend?"
    assert emulator.sessions["bystander"].validation_failures == []
