"""The emulator's REST side: google-genai's generate_content against a real EmulatorServer,
answered from what the Live sessions' examiners said aloud."""

import json

import aiohttp
import pytest
from google import genai
from google.genai import errors, types

from emulator.faults import FaultsFile
from emulator.misbehaviour import spoken_result
from emulator.rest import empty_value, find_spoken_result, words
from emulator.server import EmulatorServer
from emulator.toolargs import schema_errors
from tests.conftest import fast_settings, read_pcm
from tests.helpers import MODEL, live_config, receive_turn, sdk_client, send_answer

SPEECH = read_pcm("speech__cmu_arctic_aew_a0002.wav")
TEXT_MODEL = "gemini-2.5-flash"
PATH = f"/v1beta/models/{TEXT_MODEL}:generateContent"
ARGUMENTS = {"fluency_coherence": 6.5, "overall_band": 7, "evidence": {"fluency_coherence": "Spoke at length."}}


def rest_client(server: EmulatorServer, session_id: str | None = None) -> genai.Client:
    return genai.Client(api_key="test-key", http_options=server.rest_http_options(session_id=session_id))


def json_config(schema: dict) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(response_mime_type="application/json", response_json_schema=schema, temperature=0)


async def extract(server, session_id, text, schema) -> types.GenerateContentResponse:
    client = rest_client(server, session_id)  # held: a collected Client closes its HTTP session
    return await client.aio.models.generate_content(model=TEXT_MODEL, contents=text, config=json_config(schema))


def generate_content_lines(server, session_id) -> list[dict]:
    path = server.sessions[session_id].journal.path
    return [e for e in map(json.loads, path.read_text().splitlines()) if e["kind"] == "generate_content"]


async def started_session(server, exam, session_id):
    """A Live session that has greeted (so the emulator knows it); returns the ExamSession."""
    async with sdk_client(server, session_id=session_id).aio.live.connect(model=MODEL, config=live_config(exam)) as live:
        await live.send_realtime_input(text="Hello")
        await receive_turn(live)
    return server.sessions[session_id]


async def raw_post(server, path=PATH, *, body=None, data=None, headers=None, method="POST"):
    """A bare HTTPS request to the REST port: (status, JSON body)."""
    async with aiohttp.ClientSession() as http:
        async with http.request(method, f"{server.rest_base_url}{path}", json=body, data=data,
                                headers=headers, ssl=server.client_ssl_context()) as response:
            return response.status, await response.json(content_type=None)


async def test_the_result_a_faulty_live_session_spoke_comes_back_as_its_arguments(exam, tmp_path):
    faults = FaultsFile.model_validate({"seed": 3, "faults": [{"kind": "speak_instead_of_tool_call"}]})
    async with EmulatorServer(exam=exam, log_dir=tmp_path, settings=fast_settings(), faults=faults) as server:
        transcript = []
        async with sdk_client(server, session_id="spoke").aio.live.connect(model=MODEL, config=live_config(exam)) as live:
            await live.send_realtime_input(text="Hello")
            transcript.append((await receive_turn(live)).text)
            for _ in range(2):
                await send_answer(live, SPEECH)
                turn = await receive_turn(live)
                transcript.append(turn.text)
        assert not turn.tool_calls and turn.text.endswith(exam.closing_phrase)
        spoken = server.sessions["spoke"].spoken_results["record_assessment"]

        response = await extract(server, "spoke", "Examiner said:\n" + "\n".join(transcript), exam.tools[0].parameters)

        assert json.loads(response.text) == spoken
        assert schema_errors(exam.tools[0].parameters, spoken) == []
        assert response.candidates[0].finish_reason == types.FinishReason.STOP
        assert response.model_version == TEXT_MODEL and response.usage_metadata.total_token_count > 0
        [line] = generate_content_lines(server, "spoke")
        assert line["found"] is True and line["tool"] == "record_assessment" and line["model"] == TEXT_MODEL


async def test_tool_call_and_speak_records_what_was_said_not_what_was_called(exam, tmp_path):
    faults = FaultsFile.model_validate({"seed": 1, "faults": [{"kind": "tool_call_and_speak"}]})
    async with EmulatorServer(exam=exam, log_dir=tmp_path, settings=fast_settings(), faults=faults) as server:
        async with sdk_client(server, session_id="both").aio.live.connect(model=MODEL, config=live_config(exam)) as live:
            await live.send_realtime_input(text="Hello")
            await receive_turn(live)
            for _ in range(2):
                await send_answer(live, SPEECH)
                turn = await receive_turn(live)
        spoken = server.sessions["both"].spoken_results["record_assessment"]
        assert turn.text == spoken_result(spoken) and turn.tool_calls
        response = await extract(server, "both", turn.text, exam.tools[0].parameters)
        assert json.loads(response.text) == spoken


async def test_spoken_text_is_found_whatever_its_case_punctuation_and_spacing(emulator, exam):
    session = await started_session(emulator, exam, "set")
    session.spoken_results["record_assessment"] = ARGUMENTS
    said = spoken_result(ARGUMENTS)
    mangled = "  ".join(said.upper().replace(",", " ,").split(" "))
    response = await extract(emulator, "set", f"Right. {mangled} Thank you!", exam.tools[0].parameters)
    assert json.loads(response.text) == ARGUMENTS


async def test_without_the_spoken_text_the_answer_is_an_empty_object(emulator, exam):
    session = await started_session(emulator, exam, "quiet")
    session.spoken_results["record_assessment"] = ARGUMENTS
    response = await extract(emulator, "quiet", "Thank you. That is the end of the Speaking test.",
                             exam.tools[0].parameters)
    assert response.text == "{}"
    [line] = generate_content_lines(emulator, "quiet")
    assert line["found"] is False and line["tool"] is None


async def test_without_a_known_session_the_answer_is_an_empty_object(emulator, exam):
    said = spoken_result(ARGUMENTS)
    for session_id in (None, "never-connected"):
        response = await extract(emulator, session_id, said, exam.tools[0].parameters)
        assert response.text == "{}"
    assert "never-connected" not in emulator.sessions


async def test_gemini_response_schema_is_honoured_too(emulator, exam):
    session = await started_session(emulator, exam, "schema")
    session.spoken_results["record_assessment"] = ARGUMENTS
    schema = types.Schema(type="OBJECT", properties={"overall_band": types.Schema(type="NUMBER")})
    config = types.GenerateContentConfig(response_mime_type="application/json", response_schema=schema)
    client = rest_client(emulator, "schema")
    nothing = await client.aio.models.generate_content(model=TEXT_MODEL, contents="Goodbye.", config=config)
    found = await client.aio.models.generate_content(model=TEXT_MODEL, contents=spoken_result(ARGUMENTS), config=config)
    assert nothing.text == "{}" and json.loads(found.text) == ARGUMENTS


async def test_a_plain_text_request_gets_a_plain_text_answer(emulator):
    client = rest_client(emulator)
    response = await client.aio.models.generate_content(model=TEXT_MODEL, contents="What was the band?")
    assert response.text and not response.text.startswith("{")


async def test_the_sync_client_reaches_it_too(emulator, exam):
    import asyncio

    client = rest_client(emulator)
    response = await asyncio.to_thread(
        client.models.generate_content, model=TEXT_MODEL, contents="hello", config=json_config(exam.tools[0].parameters)
    )
    assert response.text == "{}"


async def test_no_key_is_refused_and_a_query_key_is_accepted(emulator):
    body = {"contents": [{"parts": [{"text": "hello"}]}]}
    status, error = await raw_post(emulator, body=body)
    assert status == 403 and error["error"]["status"] == "PERMISSION_DENIED"
    assert "API Key" in error["error"]["message"]
    status, answer = await raw_post(emulator, f"{PATH}?key=test-key", body=body)
    assert status == 200 and answer["candidates"][0]["content"]["parts"][0]["text"]
    status, _ = await raw_post(emulator, "/" + PATH, body=body, headers={"Authorization": "Bearer abc"})
    assert status == 200


async def test_the_sdk_raises_on_a_missing_key(emulator):
    options = emulator.rest_http_options()
    options.headers = {"x-goog-api-key": ""}
    client = genai.Client(api_key="unused", http_options=options)
    with pytest.raises(errors.ClientError) as raised:
        await client.aio.models.generate_content(model=TEXT_MODEL, contents="hello")
    assert raised.value.code == 403


@pytest.mark.parametrize("path", ["/v1beta/models/x:streamGenerateContent", "/v1beta/files", "/", "/v1beta/models"])
async def test_other_paths_are_not_found(emulator, path):
    status, error = await raw_post(emulator, path, body={}, headers={"x-goog-api-key": "k"})
    assert status == 404 and error["error"]["status"] == "NOT_FOUND"


async def test_the_sdk_gets_not_found_for_another_method(emulator):
    client = rest_client(emulator)
    with pytest.raises(errors.ClientError) as raised:
        await client.aio.models.count_tokens(model=TEXT_MODEL, contents="hello")
    assert raised.value.code == 404


@pytest.mark.parametrize(
    "data, message",
    [
        (b"{not json", "Invalid JSON payload"),
        (b"[1, 2]", "Invalid JSON payload"),
        (json.dumps({"contents": [{"parts": [{"text": "x"}]}], "temprature": 0}).encode(), 'Unknown name "temprature"'),
        (json.dumps({"contents": [{"parts": [{"txt": "x"}]}]}).encode(), 'Unknown name "txt"'),
        (json.dumps({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"temperature": "hot"}}).encode(),
         "Invalid value"),
        (json.dumps({"generationConfig": {"temperature": 0}}).encode(), "contents is not specified"),
    ],
)
async def test_malformed_bodies_are_answered_400(emulator, data, message):
    status, error = await raw_post(emulator, data=data, headers={"x-goog-api-key": "k", "content-type": "application/json"})
    assert status == 400 and error["error"]["status"] == "INVALID_ARGUMENT" and error["error"]["code"] == 400
    assert message in error["error"]["message"]


async def test_either_spelling_of_fields_is_accepted(emulator, exam):
    session = await started_session(emulator, exam, "snake")
    session.spoken_results["record_assessment"] = ARGUMENTS
    body = {
        "contents": [{"role": "user", "parts": [{"text": spoken_result(ARGUMENTS)}]}],
        "generation_config": {"response_mime_type": "application/json",
                              "response_json_schema": exam.tools[0].parameters},
    }
    status, answer = await raw_post(emulator, body=body, headers={"x-goog-api-key": "k", "x-viva-session-id": "snake"})
    assert status == 200
    assert json.loads(answer["candidates"][0]["content"]["parts"][0]["text"]) == ARGUMENTS


async def test_the_rest_port_closes_with_the_emulator(exam):
    server = await EmulatorServer(exam=exam, settings=fast_settings()).start()
    options = server.rest_http_options()
    await server.stop()
    client = genai.Client(api_key="k", http_options=options)
    with pytest.raises(aiohttp.ClientConnectionError):  # nothing listens there any more
        await client.aio.models.generate_content(model=TEXT_MODEL, contents="hello")


def test_words_and_matching():
    assert words("I would give Fluency-Coherence a SIX point five.") == "i would give fluency coherence a six point five"
    said = spoken_result(ARGUMENTS)
    assert find_spoken_result(f"x {said} y", {"t": ARGUMENTS}, None) == ("t", ARGUMENTS)
    assert find_spoken_result(said[:-10], {"t": ARGUMENTS}, None) is None
    # A word that merely ends like the first spoken one does not count.
    assert find_spoken_result("xi" + words(said), {"t": ARGUMENTS}, None) is None
    assert empty_value({"type": "object"}) == {} and empty_value({"type": "ARRAY"}) == []
    assert empty_value({"type": "number"}) is None and empty_value(None) == {}
