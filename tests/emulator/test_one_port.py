"""One port, as the real service has one host: a google-genai client given nothing but the
emulator's base URL (and its CA) reaches the Live API and the REST API alike, the way
tests/test_bot.py and `viva emulator` point unmodified code at it."""

import asyncio
import json

import aiohttp
import pytest
import websockets
from google import genai
from google.genai import errors, types

from emulator.misbehaviour import spoken_result
from emulator.server import EmulatorServer
from tests.conftest import fast_settings
from tests.helpers import LIVE_PATH, MODEL, live_config, receive_turn

ARGUMENTS = {"fluency_coherence": 6.5, "overall_band": 7, "evidence": {"fluency_coherence": "Spoke at length."}}
TEXT_MODEL = "gemini-2.5-flash"


@pytest.fixture
def unmodified_client(emulator, monkeypatch) -> genai.Client:
    """A client as code that knows only Gemini makes it: the environment points it here."""
    for name, value in emulator.environment().items():
        monkeypatch.setenv(name, value)
    return genai.Client(api_key="test-key")


async def test_an_unmodified_client_reaches_live_and_rest_on_the_one_base_url(emulator, exam, unmodified_client):
    client = unmodified_client
    async with client.aio.live.connect(model=MODEL, config=live_config(exam)) as live:
        await live.send_realtime_input(text="Hello")
        assert (await receive_turn(live)).text.endswith("Where do you live?")

    config = types.GenerateContentConfig(response_mime_type="application/json",
                                         response_json_schema=exam.tools[0].parameters)
    extracted = await client.aio.models.generate_content(model=TEXT_MODEL, contents=spoken_result(ARGUMENTS),
                                                         config=config)
    assert json.loads(extracted.text) == ARGUMENTS
    # The sync client (httpx) and the closing voice's TTS request go the same way.
    plain = await asyncio.to_thread(client.models.generate_content, model=TEXT_MODEL, contents="hello")
    assert plain.text
    speech = await client.aio.models.generate_content(
        model="gemini-2.5-flash-preview-tts", contents="Thank you.",
        config=types.GenerateContentConfig(response_modalities=["AUDIO"]))
    assert speech.candidates[0].content.parts[0].inline_data.data
    assert emulator.base_url == f"https://localhost:{emulator.port}"


async def test_http_options_reach_both_and_name_the_session_in_both(emulator, exam):
    client = genai.Client(api_key="test-key", http_options=emulator.http_options(session_id="one"))
    async with client.aio.live.connect(model=MODEL, config=live_config(exam)) as live:
        await live.send_realtime_input(text="Hello")
        await receive_turn(live)
    await client.aio.models.generate_content(model=TEXT_MODEL, contents=spoken_result(ARGUMENTS),
                                             config=types.GenerateContentConfig(response_mime_type="application/json"))
    kinds = [record["kind"] for record in emulator.sessions["one"].journal.records]
    assert kinds[:2] == ["connect", "setup"] and kinds[-1] == "generate_content"


async def test_a_plain_request_on_a_live_path_is_not_an_upgrade_and_other_paths_are_rest(emulator):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{emulator.base_url}{LIVE_PATH}", ssl=emulator.client_ssl_context()) as response:
            assert response.status == 426
    for path, status in [("/v1beta/models/x:generateContent", 405), ("/ws/other", 404)]:
        with pytest.raises(websockets.InvalidStatus) as refused:  # an upgrade elsewhere: the REST API answers
            await websockets.connect(f"wss://localhost:{emulator.port}{path}", ssl=emulator.client_ssl_context(),
                                     additional_headers={"x-goog-api-key": "k"})
        assert refused.value.response.status_code == status
        assert json.loads(refused.value.response.body)["error"]["code"] == status


async def test_nothing_answers_once_the_emulator_stops(exam):
    server = await EmulatorServer(settings=fast_settings()).start()
    client = genai.Client(api_key="k", http_options=server.http_options())
    async with client.aio.live.connect(model=MODEL, config=live_config(exam)) as live:
        await server.stop()
        with pytest.raises(errors.APIError) as closed:  # the open socket is closed, going away
            async for _ in live.receive():
                pass
    assert closed.value.code == 1001
    with pytest.raises(aiohttp.ClientConnectionError):  # and nothing listens any more
        await client.aio.models.generate_content(model=TEXT_MODEL, contents="hello")
