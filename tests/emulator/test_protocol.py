"""Frame-level faithfulness to the protocol reference (§11 checklist), seen on a raw socket."""

import base64
import json

import pytest
import websockets

from emulator import wire
from tests.conftest import DATA, read_pcm
from tests.helpers import LIVE_PATH, RawClient
from viva.config import load_config
from viva.exam.wording import system_instruction

SPEECH = read_pcm("speech__cmu_arctic_aew_a0002.wav")
# What viva tells the model of the two-question exam: the emulated examiner knows nothing else.
INSTRUCTION = system_instruction(load_config(DATA / "two_questions.yaml").exam)

CAMEL_SETUP = {
    "setup": {
        "model": "models/gemini-3.1-flash-live-preview",
        "generationConfig": {"responseModalities": ["AUDIO"], "thinkingConfig": {"thinkingLevel": "MINIMAL"}},
        "systemInstruction": {"parts": [{"text": INSTRUCTION}], "role": "user"},
        "tools": [{"functionDeclarations": [{"name": "record_assessment", "description": "d",
                   "parametersJsonSchema": {"type": "object", "properties": {"fluency_coherence": {"type": "number", "minimum": 0, "maximum": 9}, "overall_band": {"type": "number", "minimum": 0, "maximum": 9}, "evidence": {"type": "object", "properties": {"fluency_coherence": {"type": "string"}}}}}}]}],
        "realtimeInputConfig": {"automaticActivityDetection": {"disabled": True}},
        "inputAudioTranscription": {}, "outputAudioTranscription": {}, "sessionResumption": {},
    }
}
SNAKE_SETUP = {
    "setup": {
        "model": "models/gemini-3.1-flash-live-preview",
        "generation_config": {"response_modalities": ["audio"], "thinking_config": {"thinking_level": "minimal"}},
        "system_instruction": {"parts": [{"text": INSTRUCTION}], "role": "user"},
        "tools": [{"function_declarations": [{"name": "record_assessment", "description": "d",
                   "parameters": {"type": "OBJECT", "properties": {"fluency_coherence": {"type": "NUMBER", "minimum": 0, "maximum": 9}, "overall_band": {"type": "NUMBER"}, "evidence": {"type": "OBJECT", "properties": {"fluency_coherence": {"type": "STRING", "min_length": 1}}}}}}]}],
        "realtime_input_config": {"automatic_activity_detection": {"disabled": True}},
        "input_audio_transcription": {}, "output_audio_transcription": {}, "session_resumption": {},
    }
}


def audio_message(pcm: bytes, *, urlsafe: bool, padded: bool, snake: bool) -> dict:
    data = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(pcm).decode()
    if not padded:
        data = data.rstrip("=")
    if snake:
        return {"realtime_input": {"audio": {"data": data, "mime_type": "audio/pcm;rate=16000"}}}
    return {"realtimeInput": {"audio": {"data": data, "mimeType": "audio/pcm;rate=16000"}}}


def is_turn_complete(message: dict) -> bool:
    return bool(message.get("serverContent", {}).get("turnComplete"))


async def greet(client: RawClient, setup: dict) -> list[dict]:
    await client.send(setup)
    assert await client.recv() == {"setupComplete": {}}
    await client.send({"realtimeInput": {"text": "Hello"}})
    return await client.recv_until(is_turn_complete)


@pytest.mark.parametrize("setup", [CAMEL_SETUP, SNAKE_SETUP], ids=["camelCase", "snake_case"])
async def test_either_spelling_and_either_base64_alphabet_is_understood(emulator, setup):
    async with RawClient(emulator, headers={"x-viva-session-id": "spell"}) as client:
        await greet(client, setup)
        await client.send({"realtime_input": {"activityStart": {}}})
        pieces = [SPEECH[i : i + 3200] for i in range(0, len(SPEECH), 3200)]
        for i, piece in enumerate(pieces):
            await client.send(audio_message(piece, urlsafe=i % 2 == 0, padded=i % 3 == 0, snake=i % 2 == 1))
        await client.send({"realtime_input": {"activity_end": {}}})
        answer = await client.recv_until(is_turn_complete)
    window = [r for r in emulator.sessions["spell"].journal.records if r["kind"] == "window"][0]
    assert window["speech"] is True
    assert sum(r["audio_bytes"] for r in emulator.sessions["spell"].journal.records if r["kind"] == "audio") == len(SPEECH)
    assert any("outputTranscription" in m.get("serverContent", {}) for m in answer)


async def test_every_frame_is_binary_camelcase_and_one_part_per_model_turn(emulator):
    async with RawClient(emulator) as client:
        messages = await greet(client, CAMEL_SETUP)
    assert client.frames and all(isinstance(frame, bytes) for frame in client.frames)
    for message in messages:
        wire.validate_server_message(message)
        turn = message.get("serverContent", {}).get("modelTurn")
        if turn:
            assert len(turn["parts"]) == 1
            assert turn["parts"][0]["inlineData"]["mimeType"] == "audio/pcm;rate=24000"
            assert len(json.dumps(message)) < 2**20


async def test_a_turn_interleaves_audio_and_transcript_and_ends_with_generation_then_turn_complete(emulator):
    async with RawClient(emulator) as client:
        messages = await greet(client, CAMEL_SETUP)
        messages += [await client.recv()]  # the resumption update that follows the turn
    kinds = []
    for message in messages:
        content = message.get("serverContent", {})
        kinds.append(
            "audio" if "modelTurn" in content else
            "text" if "outputTranscription" in content else
            "generation_complete" if content.get("generationComplete") else
            "turn_complete" if content.get("turnComplete") else
            "resumable" if message.get("sessionResumptionUpdate", {}).get("resumable") else
            "not_resumable" if "sessionResumptionUpdate" in message else "other"
        )
    first_audio, last_audio = kinds.index("audio"), len(kinds) - 1 - kinds[::-1].index("audio")
    texts = [i for i, k in enumerate(kinds) if k == "text"]
    assert len(texts) >= 2 and any(first_audio < i < last_audio for i in texts), kinds
    assert kinds[-3:] == ["generation_complete", "turn_complete", "resumable"]
    # resumable only between turns: the update before the audio says it cannot resume now
    generating_from = kinds.index("not_resumable")
    assert generating_from < first_audio and "resumable" not in kinds[generating_from:-1]
    # 3.1 sends the prompt's usage early, on an empty serverContent, and {} on turnComplete
    # (protocol reference §4.8); other generations count on turnComplete (tests/emulator/test_models.py).
    assert messages[kinds.index("turn_complete")]["usageMetadata"] == {}
    early = [m["usageMetadata"] for m in messages[:first_audio] if m.get("serverContent") == {} and "usageMetadata" in m]
    assert len(early) == 1 and early[0]["promptTokenCount"] > 0


async def test_not_resumable_while_a_tool_call_is_pending(emulator, exam):
    async with RawClient(emulator) as client:
        await greet(client, CAMEL_SETUP)
        for _ in range(2):
            await client.send({"realtimeInput": {"activityStart": {}}})
            await client.send(audio_message(SPEECH, urlsafe=True, padded=True, snake=False))
            await client.send({"realtimeInput": {"activityEnd": {}}})
            messages = await client.recv_until(lambda m: is_turn_complete(m) or "toolCall" in m)
        call = messages[-1]["toolCall"]["functionCalls"][0]
        assert call["name"] == "record_assessment" and call["id"].startswith("fc_")
        updates = [m["sessionResumptionUpdate"] for m in messages if "sessionResumptionUpdate" in m]
        assert updates[-1] == {"resumable": False}
        await client.send({"toolResponse": {"functionResponses": [{"id": call["id"], "name": call["name"], "response": {"ok": True}}]}})
        closing = await client.recv_until(is_turn_complete)
    text = "".join(m["serverContent"]["outputTranscription"]["text"] for m in closing if "outputTranscription" in m.get("serverContent", {}))
    assert text.strip() == exam.closing_phrase


@pytest.mark.parametrize("path", [
    "//ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent",
    "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContent",
    "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained",
    "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent",
])
async def test_every_live_path_is_served(emulator, path):
    async with RawClient(emulator, path=path) as client:
        await client.send(CAMEL_SETUP)
        assert await client.recv() == {"setupComplete": {}}


@pytest.mark.parametrize("where", ["query key", "Authorization Token", "access_token"])
async def test_keys_are_taken_from_every_place_clients_put_them(emulator, where):
    headers, path = {}, LIVE_PATH
    if where == "query key":
        path += "?key=abc"
    elif where == "access_token":
        path += "?access_token=auth_tokens/abc"
    else:
        headers = {"Authorization": "Token auth_tokens/abc"}
    url = f"wss://localhost:{emulator.port}{path}"
    async with websockets.connect(url, ssl=emulator.client_ssl_context(), additional_headers=headers) as ws:
        await ws.send(json.dumps(CAMEL_SETUP))
        assert json.loads(await ws.recv()) == {"setupComplete": {}}


async def test_no_key_closes_1008_and_an_unknown_path_is_404(emulator):
    url = f"wss://localhost:{emulator.port}{LIVE_PATH}"
    async with websockets.connect(url, ssl=emulator.client_ssl_context()) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd.code == 1008
    with pytest.raises(websockets.InvalidStatus) as status:
        await websockets.connect(f"wss://localhost:{emulator.port}/ws/other", ssl=emulator.client_ssl_context())
    assert status.value.response.status_code == 404


async def test_barge_in_interrupts_then_completes_the_turn(emulator):
    async with RawClient(emulator) as client:
        await client.send(CAMEL_SETUP)
        await client.recv()
        await client.send({"realtimeInput": {"text": "Hello"}})
        await client.recv_until(lambda m: "modelTurn" in m.get("serverContent", {}))
        await client.send({"realtimeInput": {"activityStart": {}}})
        after = await client.recv_until(is_turn_complete)
        # a nested start is ignored: no close, the window stays one window
        await client.send({"realtimeInput": {"activityStart": {}}})
        await client.send(audio_message(SPEECH, urlsafe=False, padded=True, snake=False))
        await client.send({"realtimeInput": {"activityEnd": {}}})
        answered = await client.recv_until(is_turn_complete)
    flags = [m["serverContent"] for m in after if "serverContent" in m and not m["serverContent"].get("modelTurn")
             and "outputTranscription" not in m["serverContent"]]
    assert flags[-2:] == [{"interrupted": True}, {"turnComplete": True}]
    assert not any(m.get("serverContent", {}).get("generationComplete") for m in after)
    assert any("modelTurn" in m.get("serverContent", {}) for m in answered)


async def test_automatic_activity_detection_ends_a_turn_on_silence(emulator):
    auto = json.loads(json.dumps(CAMEL_SETUP))
    del auto["setup"]["realtimeInputConfig"]
    async with RawClient(emulator, headers={"x-viva-session-id": "auto"}) as client:
        await greet(client, auto)
        silence = b"\x00\x00" * 16000
        for piece in (SPEECH, silence):
            for i in range(0, len(piece), 3200):
                await client.send(audio_message(piece[i : i + 3200], urlsafe=True, padded=True, snake=True))
        answer = await client.recv_until(is_turn_complete)
    assert any("modelTurn" in m.get("serverContent", {}) for m in answer)
    assert [r["speech"] for r in emulator.sessions["auto"].journal.records if r["kind"] == "window"] == [True]
