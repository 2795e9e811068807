"""The emulator's TTS models: Pipecat's real GeminiTTSService (and google-genai under it)
against a real EmulatorServer, and the wire shape the Gemini API answers with."""

import base64
import json

import aiohttp
import numpy as np
import pytest
from google import genai
from google.genai import errors, types
from pipecat.clocks.system_clock import SystemClock
from pipecat.frames.frames import EndFrame, ErrorFrame, TTSAudioRawFrame
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.services.google.tts import GeminiTTSService
from pipecat.utils.asyncio.task_manager import TaskManager

from emulator.rest import PCM_MIME, SPEECH_MODELS
from emulator.voice import ExaminerVoice
from tests.helpers import MODEL, live_config, receive_turn, sdk_client

PHRASE = "Thank you. That is the end of the Speaking test."


async def pipecat_tts(server, *, model: str, voice: str, session_id: str | None = None, language: str = "en-GB",
                      text: str = PHRASE) -> list:
    """The frames Pipecat's GeminiTTSService yields for text, its client pointed at the emulator."""
    service = GeminiTTSService(api_key="test-key", http_options=server.http_options(session_id=session_id),
                               sample_rate=24000,
                               settings=GeminiTTSService.Settings(model=model, voice=voice, language=language))
    await service.setup(FrameProcessorSetup(clock=SystemClock(), task_manager=TaskManager(), pipeline_worker=None))
    try:
        return [frame async for frame in service.run_tts(text, service.create_context_id())]
    finally:
        await service.stop(EndFrame())
        await service.cleanup()


def speech_config(voice: str | None) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        response_modalities=["AUDIO"],
        speech_config=types.SpeechConfig(voice_config=types.VoiceConfig(
            prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name=voice))) if voice else None)


def speech_body(voice: str | None = "Charon", modality: str = "AUDIO") -> dict:
    config = {"responseModalities": [modality]}
    if voice:
        config["speechConfig"] = {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": voice}}}
    return {"contents": [{"role": "user", "parts": [{"text": PHRASE}]}], "generationConfig": config}


async def raw_post(server, model: str, body: dict, *, stream: bool = False):
    """(status, content type, body text) of a bare request to the emulator."""
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.base_url}/v1beta/models/{model}:{method}", json=body,
                             headers={"x-goog-api-key": "k"}, ssl=server.client_ssl_context()) as response:
            return response.status, response.content_type, await response.text()


@pytest.fixture
async def examiner_pcm() -> bytes:
    """What the emulator's examiner says PHRASE as (espeak-ng, 24 kHz)."""
    return await ExaminerVoice().synthesize(PHRASE)


@pytest.mark.parametrize("model", ["gemini-3.8-flash-tts", "gemini-3.1-flash-tts-preview",
                                   "gemini-2.5-flash-preview-tts"])
async def test_pipecats_gemini_tts_service_gets_the_phrase_spoken(emulator, examiner_pcm, model):
    frames = await pipecat_tts(emulator, model=model, voice="Charon")
    assert not [f for f in frames if isinstance(f, ErrorFrame)]
    audio = b"".join(f.audio for f in frames if isinstance(f, TTSAudioRawFrame))
    assert {(f.sample_rate, f.num_channels) for f in frames if isinstance(f, TTSAudioRawFrame)} == {(24000, 1)}
    # The examiner's own voice, sample for sample: a 3.8 model's WAV header is stripped, nothing else.
    assert audio == examiner_pcm
    seconds = len(audio) / 2 / 24000
    assert 1.5 < seconds < 8  # nine words, said at an examiner's pace
    samples = np.frombuffer(audio, np.int16).astype(np.float32) / 32768
    assert np.sqrt(np.mean(samples**2)) > 0.02  # speech, not silence


async def test_an_unknown_voice_gets_the_apis_error_through_pipecat(emulator):
    frames = await pipecat_tts(emulator, model="gemini-3.8-flash-tts", voice="Nobody")
    (error,) = [f for f in frames if isinstance(f, ErrorFrame)]
    assert "400 INVALID_ARGUMENT" in error.error and not [f for f in frames if isinstance(f, TTSAudioRawFrame)]


async def test_an_unknown_voice_is_refused_400_with_the_apis_error_shape(emulator):
    status, _, text = await raw_post(emulator, "gemini-3.8-flash-tts", speech_body("Nobody"))
    assert status == 400
    assert json.loads(text) == {"error": {"code": 400, "message": "Request contains an invalid argument.",
                                          "status": "INVALID_ARGUMENT"}}
    client = genai.Client(api_key="k", http_options=emulator.http_options())
    with pytest.raises(errors.ClientError) as raised:
        await client.aio.models.generate_content(model="gemini-2.5-flash-preview-tts", contents=PHRASE,
                                                 config=speech_config("Nobody"))
    assert raised.value.code == 400 and raised.value.status == "INVALID_ARGUMENT"


@pytest.mark.parametrize("model", ["gemini-2.5-flash-tts", "gemini-9-flash-tts"])  # a Cloud TTS name; none at all
async def test_a_tts_model_the_gemini_api_does_not_serve_is_not_found(emulator, model):
    for stream in (False, True):
        status, _, text = await raw_post(emulator, model, speech_body(), stream=stream)
        error = json.loads(text)["error"]
        method = "streamGenerateContent" if stream else "generateContent"
        assert status == 404 and error["status"] == "NOT_FOUND"
        assert error["message"].startswith(f"models/{model} is not found for API version v1beta, or is not "
                                           f"supported for {method}.")


async def test_only_audio_is_asked_of_a_tts_model_and_only_text_of_a_text_model(emulator):
    status, _, text = await raw_post(emulator, "gemini-2.5-flash-preview-tts", speech_body(modality="TEXT"))
    assert status == 400 and json.loads(text)["error"]["message"] == (
        "The requested combination of response modalities (TEXT) is not supported by the model. "
        "models/gemini-2.5-flash-preview-tts accepts the following combination of response modalities:\n* AUDIO\n")
    status, _, text = await raw_post(emulator, "gemini-2.5-flash", speech_body())
    assert status == 400 and json.loads(text)["error"]["message"].endswith(
        "models/gemini-2.5-flash accepts the following combination of response modalities:\n* TEXT\n")


async def test_a_3x_model_wants_a_voice_and_2_5_speaks_in_a_default_one(emulator):
    status, _, _ = await raw_post(emulator, "gemini-3.1-flash-tts-preview", speech_body(voice=None))
    assert status == 400
    status, _, _ = await raw_post(emulator, "gemini-2.5-flash-preview-tts", speech_body(voice=None))
    assert status == 200


@pytest.mark.parametrize("model, mime", [("gemini-2.5-pro-preview-tts", PCM_MIME),
                                         ("gemini-3.8-flash-lite-tts", "audio/wav")])
async def test_the_answer_has_the_apis_wire_shape(emulator, examiner_pcm, model, mime):
    status, content_type, text = await raw_post(emulator, model, speech_body())
    assert status == 200 and content_type == "application/json"
    answer = json.loads(text)
    (candidate,) = answer["candidates"]
    (part,) = candidate["content"]["parts"]
    assert candidate["content"]["role"] == "model" and candidate["finishReason"] == "STOP"
    assert part["inlineData"]["mimeType"] == mime
    data = base64.b64decode(part["inlineData"]["data"])
    assert data == examiner_pcm if mime == PCM_MIME else (data[:4] == b"RIFF" and data[44:] == examiner_pcm)
    usage = answer["usageMetadata"]
    assert usage["candidatesTokensDetails"] == [{"modality": "AUDIO", "tokenCount": usage["candidatesTokenCount"]}]
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    assert answer["modelVersion"] == model and answer["responseId"]
    # google-genai reads it as the SDK's own types.
    client = genai.Client(api_key="k", http_options=emulator.http_options())
    response = await client.aio.models.generate_content(model=model, contents=PHRASE, config=speech_config("Kore"))
    inline = response.candidates[0].content.parts[0].inline_data
    assert inline.mime_type == mime and inline.data == data


@pytest.mark.parametrize("model", ["gemini-3.8-flash-tts", "gemini-2.5-flash-preview-tts"])
async def test_streamed_the_audio_comes_as_server_sent_events(emulator, examiner_pcm, model):
    status, content_type, text = await raw_post(emulator, model, speech_body(), stream=True)
    assert status == 200 and content_type == "text/event-stream"
    sent = [json.loads(line[len("data: "):]) for line in text.split("\r\n\r\n") if line]
    # 3.x in pieces of a second (the WAV's 44-byte header in the first); 2.5 the whole audio at once.
    events = -(-(len(examiner_pcm) + 44) // 48000) if SPEECH_MODELS[model].stream_s else 1
    assert events > 1 or model.startswith("gemini-2.5")
    assert len(sent) == events
    data = b"".join(base64.b64decode(e["candidates"][0]["content"]["parts"][0]["inlineData"]["data"]) for e in sent)
    assert data.endswith(examiner_pcm)
    assert [e["candidates"][0].get("finishReason") for e in sent] == [None] * (events - 1) + ["STOP"]
    assert "usageMetadata" in sent[-1]


async def test_a_request_naming_a_live_session_is_a_line_of_its_journal(emulator, exam):
    live_client = sdk_client(emulator, session_id="spoken")
    async with live_client.aio.live.connect(model=MODEL, config=live_config(exam)) as live:
        await live.send_realtime_input(text="Hello")
        await receive_turn(live)
        await pipecat_tts(emulator, model="gemini-3.8-flash-tts", voice="Charon", session_id="spoken")
    lines = [json.loads(line) for line in emulator.sessions["spoken"].journal.path.read_text().splitlines()]
    (line,) = [e for e in lines if e["kind"] == "generate_speech"]
    assert line["model"] == "gemini-3.8-flash-tts" and line["voice"] == "Charon" and line["text"] == PHRASE
    assert line["stream"] is True and line["audio_s"] > 1.5
    assert (line["language"], line["espeak_voice"]) == ("en-GB", "en-gb")  # what Pipecat named, and its voice

