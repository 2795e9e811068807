"""Each model generation as the service serves it (emulator/models.py): what it accepts,
answers and refuses. The real SDK where it can say the case; raw JSON where it cannot
(fields of a newer SDK, sent as its client sends them)."""


import pytest
from google.genai import errors, types

from emulator.models import GENERATIONS, model_for
from emulator.wire import ProtocolError
from tests.conftest import DATA, read_pcm
from tests.helpers import LIVE_PATH, RawClient, live_config, receive_turn, sdk_client, send_answer
from viva.config import load_config
from viva.exam.wording import system_instruction

SPEECH = read_pcm("speech__cmu_arctic_aew_a0001.wav")
INSTRUCTION = system_instruction(load_config(DATA / "two_questions.yaml").exam)  # all the model knows of the exam
VERTEX_PATH = "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"
TOOL = {"name": "record_assessment", "description": "Records the assessment.", "parametersJsonSchema": {
    "type": "object", "properties": {"overall_band": {"type": "number", "minimum": 0, "maximum": 9}},
    "required": ["overall_band"]}}


def setup(model: str, **fields) -> dict:
    """A setup as a raw client writes it: audio out, manual activity, both transcripts, resumption."""
    message = {"model": f"models/{model}", "generationConfig": {"responseModalities": ["AUDIO"]},
               "systemInstruction": {"parts": [{"text": INSTRUCTION}], "role": "user"},
               "realtimeInputConfig": {"automaticActivityDetection": {"disabled": True}},
               "inputAudioTranscription": {}, "outputAudioTranscription": {}, "sessionResumption": {}}
    message.update(fields)
    return {"setup": message}


def turn_complete(message: dict) -> bool:
    return bool(message.get("serverContent", {}).get("turnComplete"))


def spoken(messages: list[dict]) -> str:
    return "".join(m["serverContent"]["outputTranscription"]["text"] for m in messages
                   if "outputTranscription" in m.get("serverContent", {}))


def generation_of(emulator, session_id: str) -> str:
    return next(r["generation"] for r in emulator.sessions[session_id].journal.records if r["kind"] == "setup")


async def refusal(emulator, message: dict, path: str = LIVE_PATH) -> tuple[int, str]:
    """The close a setup gets (setupComplete is never sent before it)."""
    async with RawClient(emulator, path=path) as client:
        await client.send(message)
        with pytest.raises(Exception):
            await client.recv()
        return client.ws.close_code, client.ws.close_reason


# ---- item 1: a text turn as client content with turnComplete is answered on every generation


@pytest.mark.parametrize("model", ["gemini-3.1-flash-live-preview", "gemini-3.8-live",
                                   "gemini-2.5-flash-native-audio-preview-12-2025"])
async def test_a_client_content_turn_is_answered_on_every_generation(emulator, exam, model):
    client = sdk_client(emulator, session_id="text-turn")
    async with client.aio.live.connect(model=model, config=live_config(exam)) as session:
        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text="Please begin.")]), turn_complete=True)
        turn = await receive_turn(session)
    assert turn.turn_complete and turn.audio > 0
    assert turn.text == "Hello, I am your examiner. Where do you live?"


async def test_initial_history_is_not_answered_and_pipecats_blank_text_is_one_turn_not_two(emulator):
    # Pipecat on 3.x: historyConfig, the seed with turnComplete, then " " to start inference;
    # later a client turn and " " again. Each must give exactly one examiner turn.
    seeded = setup("gemini-3.8-live", historyConfig={"initialHistoryInClientContent": True})
    seed = {"clientContent": {"turns": [{"role": "user", "parts": [{"text": "Begin the exam."}]}],
                              "turnComplete": True}}
    async with RawClient(emulator, headers={"x-viva-session-id": "pipecat-like"}) as client:
        await client.send(seeded)
        assert await client.recv() == {"setupComplete": {}}
        await client.send(seed)
        await client.send({"realtimeInput": {"text": " "}})
        first = await client.recv_until(turn_complete)
        await client.send(seed)
        await client.send({"realtimeInput": {"text": " "}})
        second = await client.recv_until(turn_complete)
        await client.send({"realtimeInput": {"text": "Hello?"}})  # not blank: a turn of its own
        third = await client.recv_until(turn_complete)
    assert spoken(first) == "Hello, I am your examiner. Where do you live?"
    assert spoken(second).startswith("Let me say that again.")
    assert spoken(third).startswith("Let me say that again.")
    replies = [r for r in emulator.sessions["pipecat-like"].journal.records if r["kind"] == "reply"]
    assert [r["trigger"] for r in replies] == ["text", "client_content", "text"]


# ---- item 2: TEXT replies where the model writes, and the service's refusal where it cannot


async def test_a_half_cascade_model_answers_text_in_text_parts(emulator, exam):
    client = sdk_client(emulator, session_id="text-out")
    config = live_config(exam).model_copy(update={"response_modalities": ["TEXT"], "output_audio_transcription": None})
    async with client.aio.live.connect(model="gemini-live-2.5-flash-preview", config=config) as session:
        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text="Please begin.")]), turn_complete=True)
        text, audio = "", 0
        async for message in session.receive():
            text += message.text or ""
            audio += len(message.data or b"")
    assert text == "Hello, I am your examiner. Where do you live?"
    assert audio == 0


@pytest.mark.parametrize("model, code, reason", [
    ("gemini-2.5-flash-native-audio-preview-12-2025", 1007, "Cannot extract voices from a non-audio request."),
    ("gemini-3.1-flash-live-preview", 1011, "Internal error encountered."),
    ("gemini-3.8-live", 1007, "Cannot extract voices from a non-audio request."),
])
async def test_text_replies_are_refused_where_the_model_only_speaks(emulator, model, code, reason):
    assert await refusal(emulator, setup(model, generationConfig={"responseModalities": ["TEXT"]})) == (code, reason)


# ---- item 3: model names are read as the service reads them


@pytest.mark.parametrize("model, path, generation", [
    ("gemini-live-2.5-flash-preview", LIVE_PATH, "2.5 half-cascade"),
    ("publishers/google/models/gemini-live-2.5-flash-native-audio", VERTEX_PATH, "2.5 native audio"),
    ("gemini-3.8-live", LIVE_PATH, "3.8 live"),
])
async def test_2_5_names_are_2_5_and_answer_a_text_turn(emulator, model, path, generation):
    message = setup(model)
    message["setup"]["model"] = model if model.startswith("publishers/") else f"models/{model}"
    async with RawClient(emulator, path=path, headers={"x-viva-session-id": "names"}) as client:
        await client.send(message)
        assert await client.recv() == {"setupComplete": {}}
        await client.send({"clientContent": {"turns": [{"role": "user", "parts": [{"text": "Hi"}]}],
                                             "turnComplete": True}})
        answer = await client.recv_until(turn_complete)
    assert generation_of(emulator, "names") == generation
    assert spoken(answer).startswith("Hello, I am your examiner.")


def test_every_model_id_names_one_generation_whatever_its_prefix():
    ids = [model for generation in GENERATIONS for model in generation.models]
    assert len(ids) == len(set(ids))
    assert model_for("projects/p/locations/us-central1/publishers/google/models/gemini-3.8-live").name == "3.8 live"
    assert model_for("gemini-2.0-flash-live-001").name == "2.5 half-cascade"


# ---- item 4: fields a newer SDK sends are accepted; names nobody knows are still refused


async def test_a_3_6_setup_with_proactive_video_is_accepted(emulator):
    # Exactly what google-genai 3.6.1 writes for ProactivityConfig(proactive_audio=True, proactive_video=True).
    message = setup("gemini-3.8-live", proactivity={"proactive_audio": True, "proactive_video": True})
    async with RawClient(emulator, headers={"x-viva-session-id": "newer"}) as client:
        await client.send(message)
        assert await client.recv() == {"setupComplete": {}}
    record = next(r for r in emulator.sessions["newer"].journal.records if r["kind"] == "setup")
    assert record["newer_fields"] == ["setup.proactivity.proactive_video"]


async def test_a_newer_part_field_is_checked_name_by_name(emulator):
    async with RawClient(emulator, headers={"x-viva-session-id": "newer-part"}) as client:
        await client.send(setup("gemini-3.8-live"))
        await client.recv()
        part = {"text": "hi", "audioMetadata": {"startOffset": "1s", "endOffset": "2s"}}
        await client.send({"clientContent": {"turns": [{"role": "user", "parts": [part]}], "turnComplete": True}})
        assert spoken(await client.recv_until(turn_complete))
    code, reason = await refusal(emulator, setup("gemini-3.8-live", proactivity={"proactiveSmell": True}))
    assert (code, reason) == (1007, "Invalid JSON payload received. Unknown name \"proactiveSmell\" at "
                                    "'setup.proactivity': Cannot find field.")


@pytest.mark.parametrize("fields, path, refused", [
    ({"toolConfig": {"functionCallingConfig": {"mode": "ANY"}}}, LIVE_PATH, "toolConfig"),
    ({"sessionResumption": {"transparent": True}}, LIVE_PATH, "transparent"),
    ({"explicitVadSignal": True}, LIVE_PATH, "explicitVadSignal"),
    ({"sessionResumption": {"transparent": True}}, VERTEX_PATH, None),
    ({"explicitVadSignal": True}, VERTEX_PATH, None),
])
async def test_what_the_service_documents_it_refuses_stays_refused(emulator, fields, path, refused):
    message = setup("gemini-3.8-live", **fields)
    if refused is None:
        async with RawClient(emulator, path=path) as client:
            await client.send(message)
            assert await client.recv() == {"setupComplete": {}}
        return
    code, reason = await refusal(emulator, message, path)
    assert code == 1007 and f'Unknown name "{refused}"' in reason


# ---- item 5: a model the service does not serve is refused


async def test_an_unknown_model_is_refused_1008_through_the_sdk(emulator, exam):
    client = sdk_client(emulator)
    with pytest.raises(errors.APIError) as refused:
        async with client.aio.live.connect(model="gemini-9.9-imaginary-live", config=live_config(exam)):
            pass
    assert refused.value.code == 1008
    assert "models/gemini-9.9-imaginary-live is not found for API version v1beta" in str(refused.value)


def test_the_refusal_names_the_api_version_of_the_path():
    with pytest.raises(ProtocolError) as refused:
        model_for("models/gemini-live-2.5-flash-native-audio-latest-x", api_version="v1alpha")
    assert refused.value.code == 1008 and "for API version v1alpha" in refused.value.reason
    assert len(refused.value.reason.encode()) <= 123  # a close reason's limit


# ---- item 7: gemini-3.8-live


@pytest.mark.parametrize("model, fields, code", [
    ("gemini-3.8-live", {"generationConfig": {"responseModalities": ["AUDIO"],
                                              "thinkingConfig": {"thinkingLevel": "LOW"}}}, 1007),
    ("gemini-3.8-live", {"proactivity": {"proactiveAudio": False}}, 1007),
    ("gemini-3.8-live", {"generationConfig": {"responseModalities": ["AUDIO"], "enableAffectiveDialog": True}}, 1007),
    ("gemini-3.1-flash-live-preview", {"proactivity": {"proactiveAudio": True}}, 1007),
    ("gemini-3.8-live-extended-thinking", {"generationConfig": {"responseModalities": ["AUDIO"],
                                                                "thinkingConfig": {"thinkingLevel": "MINIMAL"}}}, 1007),
    ("gemini-3.8-live-extended-thinking", {"tools": [{"functionDeclarations": [{**TOOL, "behavior": "BLOCKING"}]}]},
     1007),
])
async def test_setups_a_generation_refuses(emulator, model, fields, code):
    assert (await refusal(emulator, setup(model, **fields)))[0] == code


@pytest.mark.parametrize("model, fields", [
    ("gemini-3.1-flash-live-preview", {"generationConfig": {"responseModalities": ["AUDIO"],
                                                            "thinkingConfig": {"thinkingLevel": "MINIMAL"}}}),
    ("gemini-3.8-live", {"proactivity": {"proactiveAudio": True}}),
    ("gemini-2.5-flash-native-audio-preview-09-2025", {"proactivity": {"proactiveAudio": True},
                                                       "generationConfig": {"enableAffectiveDialog": True}}),
])
async def test_setups_a_generation_accepts(emulator, model, fields):
    async with RawClient(emulator) as client:
        await client.send(setup(model, **fields))
        assert await client.recv() == {"setupComplete": {}}


async def to_the_tool_call(client: RawClient, tools: list[dict]) -> list[dict]:
    """Greeting, two answers: the examiner then calls the tool. Returns what followed the last answer."""
    await client.send({"realtimeInput": {"text": "Hello"}})
    await client.recv_until(turn_complete)
    answer = None
    for _ in range(2):
        await client.send({"realtimeInput": {"activityStart": {}}})
        for i in range(0, len(SPEECH), 3200):
            await client.send({"realtimeInput": {"audio": {"data": __import__("base64").b64encode(
                SPEECH[i:i + 3200]).decode(), "mimeType": "audio/pcm;rate=16000"}}})
        await client.send({"realtimeInput": {"activityEnd": {}}})
        answer = await client.recv_until(lambda m: turn_complete(m) or "toolCall" in m)
    return answer


async def test_on_3_8_a_call_is_non_blocking_by_default_and_its_result_is_said_when_idle(emulator):
    async with RawClient(emulator, headers={"x-viva-session-id": "async"}) as client:
        await client.send(setup("gemini-3.8-live", tools=[{"functionDeclarations": [TOOL]}]))
        await client.recv()
        calls = await to_the_tool_call(client, [TOOL])
        call = calls[-1]["toolCall"]["functionCalls"][0]
        after_call = await client.recv_until(turn_complete)  # the model does not wait: its turn ends
        assert turn_complete(after_call[-1]) and after_call[-1]["serverContent"]["interactionStatus"] == "IDLE"
        await client.send({"toolResponse": {"functionResponses": [
            {"id": call["id"], "name": call["name"], "response": {"status": "recorded"}, "scheduling": "WHEN_IDLE"}]}})
        closing = await client.recv_until(turn_complete)
    assert spoken(closing) == "Thank you. That is the end of the Speaking test."


async def test_on_3_8_a_silent_result_is_taken_and_not_answered(emulator):
    async with RawClient(emulator, headers={"x-viva-session-id": "silent"}) as client:
        await client.send(setup("gemini-3.8-live", tools=[{"functionDeclarations": [TOOL]}]))
        await client.recv()
        call = (await to_the_tool_call(client, [TOOL]))[-1]["toolCall"]["functionCalls"][0]
        await client.recv_until(turn_complete)
        await client.send({"toolResponse": {"functionResponses": [
            {"id": call["id"], "name": call["name"], "response": {"ok": True}, "scheduling": "SILENT"}]}})
        await client.send({"realtimeInput": {"text": "Are we done?"}})  # the next input is answered; nothing before
        after = await client.recv_until(turn_complete)
    kinds = [r["kind"] for r in emulator.sessions["silent"].journal.records]
    assert "tool_result_silent" in kinds
    assert spoken(after) == ""  # the examiner, done, says nothing more: the closing was never spoken


async def test_on_3_8_new_input_cancels_a_pending_blocking_call(emulator):
    async with RawClient(emulator, headers={"x-viva-session-id": "blocking"}) as client:
        await client.send(setup("gemini-3.8-live", tools=[{"functionDeclarations": [{**TOOL, "behavior": "BLOCKING"}]}]))
        await client.recv()
        call = (await to_the_tool_call(client, [TOOL]))[-1]["toolCall"]["functionCalls"][0]
        await client.send({"realtimeInput": {"activityStart": {}}})
        cancelled = await client.recv_until(lambda m: "toolCallCancellation" in m)
    assert cancelled[-1]["toolCallCancellation"]["ids"] == [call["id"]]


async def test_on_3_1_a_call_blocks_whatever_it_is_declared_and_input_does_not_cancel_it(emulator):
    async with RawClient(emulator, headers={"x-viva-session-id": "sync"}) as client:
        await client.send(setup("gemini-3.1-flash-live-preview",
                                tools=[{"functionDeclarations": [{**TOOL, "behavior": "NON_BLOCKING"}]}]))
        await client.recv()
        call = (await to_the_tool_call(client, [TOOL]))[-1]["toolCall"]["functionCalls"][0]
        await client.send({"toolResponse": {"functionResponses": [
            {"id": call["id"], "name": call["name"], "response": {"ok": True}}]}})
        closing = await client.recv_until(turn_complete)
    assert spoken(closing) == "Thank you. That is the end of the Speaking test."
    out = [r["kind"] for r in emulator.sessions["sync"].journal.records if r.get("dir") == "out"]
    tool_call = out.index("tool_call")
    assert "turn_complete" not in out[tool_call:out.index("speak", tool_call)]  # it waited for the result


async def test_gemini_3_8_live_runs_an_exam_through_the_sdk(emulator, exam):
    client = sdk_client(emulator, session_id="sdk-3.8")
    config = live_config(exam)
    for declaration in config.tools[0].function_declarations:
        declaration.behavior = types.Behavior.BLOCKING  # as Pipecat declares a synchronous tool on 3.8
    async with client.aio.live.connect(model="gemini-3.8-live", config=config) as session:
        await session.send_realtime_input(text="Hello")
        assert (await receive_turn(session)).text.startswith("Hello, I am your examiner.")
        await send_answer(session, SPEECH)
        await receive_turn(session)
        await send_answer(session, SPEECH)
        call = (await receive_turn(session)).tool_calls[0]
        await session.send_tool_response(function_responses=[
            types.FunctionResponse(id=call.id, name=call.name, response={"status": "recorded"})])
        closing = await receive_turn(session)
    assert closing.text == exam.closing_phrase
    assert closing.messages[-1].server_content.interaction_status is not None
    assert emulator.sessions["sdk-3.8"].validation_failures == []
