"""The emulator's REST side: google-genai's generate_content against a real EmulatorServer,
answered from the transcript in the request, and from nothing else."""

import json

import aiohttp
import pytest
from google import genai
from google.genai import errors, types

from emulator.faults import FaultsFile
from emulator.misbehaviour import spoken_result
from emulator.reading import read_result
from emulator.rest import empty_value
from emulator.server import EmulatorServer
from emulator.toolargs import schema_errors
from tests.conftest import fast_settings, read_pcm
from tests.helpers import MODEL, live_config, receive_turn, sdk_client, send_answer

SPEECH = read_pcm("speech__cmu_arctic_aew_a0002.wav")
TEXT_MODEL = "gemini-2.5-flash"
PATH = f"/v1beta/models/{TEXT_MODEL}:generateContent"
ARGUMENTS = {"fluency_coherence": 6.5, "overall_band": 7, "evidence": {"fluency_coherence": "Spoke at length."}}


def rest_client(server: EmulatorServer, session_id: str | None = None) -> genai.Client:
    return genai.Client(api_key="test-key", http_options=server.http_options(session_id=session_id))


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
    """A bare HTTPS request to the emulator: (status, JSON body)."""
    async with aiohttp.ClientSession() as http:
        async with http.request(method, f"{server.base_url}{path}", json=body, data=data,
                                headers=headers, ssl=server.client_ssl_context()) as response:
            return response.status, await response.json(content_type=None)


async def test_the_result_a_faulty_live_session_spoke_comes_back_as_its_arguments(exam, tmp_path):
    faults = FaultsFile.model_validate({"seed": 3, "faults": [{"kind": "speak_instead_of_tool_call"}]})
    async with EmulatorServer(log_dir=tmp_path, settings=fast_settings(), faults=faults) as server:
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
        assert line["found"] is True and line["model"] == TEXT_MODEL


async def test_tool_call_and_speak_records_what_was_said_not_what_was_called(exam, tmp_path):
    faults = FaultsFile.model_validate({"seed": 1, "faults": [{"kind": "tool_call_and_speak"}]})
    async with EmulatorServer(log_dir=tmp_path, settings=fast_settings(), faults=faults) as server:
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


async def test_spoken_text_is_read_whatever_its_case_punctuation_and_spacing(emulator, exam):
    said = spoken_result(ARGUMENTS)
    mangled = "  ".join(said.upper().replace(",", " ,").split(" "))
    response = await extract(emulator, None, f"Right. {mangled} Thank you!", exam.tools[0].parameters)
    read = json.loads(response.text)
    assert {k: v for k, v in read.items() if k != "evidence"} == {"fluency_coherence": 6.5, "overall_band": 7}
    assert read["evidence"] == {"fluency_coherence": "SPOKE AT LENGTH."}  # a note comes back as it was written


async def test_without_the_spoken_text_the_answer_is_an_empty_object(emulator, exam):
    session = await started_session(emulator, exam, "quiet")
    session.spoken_results["record_assessment"] = ARGUMENTS  # said in the session, but not in the text sent
    response = await extract(emulator, "quiet", "Thank you. That is the end of the Speaking test.",
                             exam.tools[0].parameters)
    assert response.text == "{}"
    [line] = generate_content_lines(emulator, "quiet")
    assert line["found"] is False


async def test_the_answer_depends_on_the_text_alone_not_on_a_session_name(emulator, exam):
    said = spoken_result(ARGUMENTS)
    for session_id in (None, "never-connected"):
        response = await extract(emulator, session_id, said, exam.tools[0].parameters)
        assert json.loads(response.text) == ARGUMENTS
    assert "never-connected" not in emulator.sessions


async def test_gemini_response_schema_is_honoured_too(emulator, exam):
    schema = types.Schema(type="OBJECT", properties={"overall_band": types.Schema(type="NUMBER")})
    config = types.GenerateContentConfig(response_mime_type="application/json", response_schema=schema)
    client = rest_client(emulator, "schema")
    nothing = await client.aio.models.generate_content(model=TEXT_MODEL, contents="Goodbye.", config=config)
    found = await client.aio.models.generate_content(model=TEXT_MODEL, contents=spoken_result(ARGUMENTS), config=config)
    assert nothing.text == "{}" and json.loads(found.text) == {"overall_band": 7}  # what the schema asks, no more


async def test_a_plain_text_request_gets_a_plain_text_answer(emulator):
    client = rest_client(emulator)
    response = await client.aio.models.generate_content(model=TEXT_MODEL, contents="What was the band?")
    assert response.text and not response.text.startswith("{")


async def test_a_streamed_request_gets_the_same_answer_as_one_server_sent_event(emulator, exam):
    client = rest_client(emulator)
    said = spoken_result(ARGUMENTS)
    chunks = [chunk async for chunk in await client.aio.models.generate_content_stream(
        model=TEXT_MODEL, contents=said, config=json_config(exam.tools[0].parameters))]
    assert len(chunks) == 1 and json.loads(chunks[0].text) == ARGUMENTS
    assert chunks[0].candidates[0].finish_reason == types.FinishReason.STOP


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
    options = emulator.http_options()
    options.headers = {"x-goog-api-key": ""}
    client = genai.Client(api_key="unused", http_options=options)
    with pytest.raises(errors.ClientError) as raised:
        await client.aio.models.generate_content(model=TEXT_MODEL, contents="hello")
    assert raised.value.code == 403


@pytest.mark.parametrize("path", ["/v1beta/models/x:embedContent", "/v1beta/files", "/", "/v1beta/models"])
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
    await started_session(emulator, exam, "snake")
    body = {
        "contents": [{"role": "user", "parts": [{"text": spoken_result(ARGUMENTS)}]}],
        "generation_config": {"response_mime_type": "application/json",
                              "response_json_schema": exam.tools[0].parameters},
    }
    status, answer = await raw_post(emulator, body=body, headers={"x-goog-api-key": "k", "x-viva-session-id": "snake"})
    assert status == 200
    assert json.loads(answer["candidates"][0]["content"]["parts"][0]["text"]) == ARGUMENTS


def test_reading_takes_what_the_text_states_and_invents_nothing():
    schema = {"type": "object", "properties": {
        "fluency_coherence": {"type": "number"}, "overall_band": {"type": "integer"},
        "evidence": {"type": "object", "properties": {"fluency_coherence": {"type": "string"}}}}}
    said = spoken_result(ARGUMENTS)
    assert read_result(f"x {said} y", schema) == ARGUMENTS
    # Cut before the evidence ends: the marks are read, the unfinished notes are not.
    assert read_result(said[: said.index("End of")], schema) == {"fluency_coherence": 6.5, "overall_band": 7}
    # A word that merely ends like a label does not count.
    assert read_result("I would give xfluency coherence a six.", schema) == {}
    assert read_result("Thank you.", schema) == {} and read_result(said, None) == {}
    assert empty_value({"type": "object"}) == {} and empty_value({"type": "ARRAY"}) == []
    assert empty_value({"type": "number"}) is None and empty_value(None) == {}
