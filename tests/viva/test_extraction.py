"""extract_with_model: a text model reads the spoken result back from the examiner's transcript
(the emulator's REST side stands in for Gemini)."""

import socket
from types import SimpleNamespace

from google import genai
from google.genai import types

from emulator.misbehaviour import spoken_result
from emulator.server import EmulatorServer
from tests.helpers import MODEL, live_config, receive_turn, sdk_client
from viva.extraction import extract_with_model, extraction_prompt

TEXT_MODEL = "gemini-2.5-flash"
ARGUMENTS = {"fluency_coherence": 6.5, "overall_band": 7.0, "evidence": {"fluency_coherence": "Long answers."}}


async def known_session(server: EmulatorServer, exam, session_id: str, spoken: dict | None):
    """A Live session the emulator served, whose examiner said `spoken` aloud."""
    async with sdk_client(server, session_id=session_id).aio.live.connect(model=MODEL, config=live_config(exam)) as live:
        await live.send_realtime_input(text="Hello")
        await receive_turn(live)
    if spoken is not None:
        server.sessions[session_id].spoken_results[exam.tools[0].name] = spoken


def client_for(server: EmulatorServer, session_id: str) -> genai.Client:
    return genai.Client(api_key="test-key", http_options=server.http_options(session_id=session_id))


async def test_the_spoken_result_is_extracted(emulator, exam):
    await known_session(emulator, exam, "spoke", ARGUMENTS)
    transcript = f"Thank you. {spoken_result(ARGUMENTS)} {exam.closing_phrase}"
    client = client_for(emulator, "spoke")
    result = await extract_with_model(transcript=transcript, tool=exam.tools[0], client=client, model=TEXT_MODEL)
    assert result == ARGUMENTS
    [line] = [r for r in emulator.sessions["spoke"].journal.records if r["kind"] == "generate_content"]
    assert line["found"] is True and line["schema_errors"] == []


async def test_none_when_the_model_finds_nothing(emulator, exam):
    await known_session(emulator, exam, "silent", ARGUMENTS)
    client = client_for(emulator, "silent")
    result = await extract_with_model(transcript=exam.closing_phrase, tool=exam.tools[0], client=client, model=TEXT_MODEL)
    assert result is None


def answering(text: str):
    """A stand-in client whose model answers text."""
    async def generate_content(**kwargs):
        return types.GenerateContentResponse.model_validate(
            {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finish_reason": "STOP"}]}
        )
    return SimpleNamespace(aio=SimpleNamespace(models=SimpleNamespace(generate_content=generate_content)))


async def test_none_when_the_answer_is_not_a_json_object(exam):
    for text in ("[6.5, 7]", '"six point five"', "I would give six point five.", ""):
        result = await extract_with_model(transcript="x", tool=exam.tools[0], client=answering(text), model=TEXT_MODEL)
        assert result is None, text


async def test_none_when_the_server_is_unreachable(exam):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = genai.Client(api_key="test-key", http_options=types.HttpOptions(base_url=f"https://127.0.0.1:{port}"))
    result = await extract_with_model(transcript="x", tool=exam.tools[0], client=client, model=TEXT_MODEL, timeout_s=10)
    assert result is None


async def test_the_prompt_says_whose_words_and_carries_the_schema(exam):
    prompt = extraction_prompt("  I would give overall band a seven.  ", exam.tools[0])
    assert "Only the\nexaminer's words are given" in prompt
    assert '"multipleOf": 0.5' in prompt and "record_assessment" in prompt
    assert prompt.rstrip().endswith("I would give overall band a seven.\n>>>")


async def test_the_request_carries_the_full_json_schema(exam):
    seen = {}

    async def generate_content(**kwargs):
        seen.update(kwargs)
        return types.GenerateContentResponse.model_validate(
            {"candidates": [{"content": {"role": "model", "parts": [{"text": '{"overall_band": 7}'}]}}]}
        )

    client = SimpleNamespace(aio=SimpleNamespace(models=SimpleNamespace(generate_content=generate_content)))
    result = await extract_with_model(transcript="x", tool=exam.tools[0], client=client, model=TEXT_MODEL)
    assert result == {"overall_band": 7}  # not validated here: the caller does that
    config = seen["config"]
    assert config.response_json_schema == exam.tools[0].parameters and config.response_mime_type == "application/json"
    assert config.temperature == 0 and seen["model"] == TEXT_MODEL
