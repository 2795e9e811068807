"""Parsing client frames along google-genai's types; shaping and checking server frames."""

import base64
import json

import pytest

from emulator import wire

PCM = bytes(range(256)) * 3


@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode], ids=["standard", "urlsafe"])
@pytest.mark.parametrize("padded", [True, False])
def test_audio_decodes_from_either_alphabet_with_or_without_padding(encode, padded):
    data = encode(PCM[:301]).decode()
    data = data if padded else data.rstrip("=")
    message = wire.parse_client_message(json.dumps({"realtimeInput": {"audio": {"data": data, "mimeType": "audio/pcm"}}}))
    assert message.realtime_input.audio.data == PCM[:301]


def test_corrupt_base64_is_an_invalid_argument():
    with pytest.raises(wire.ProtocolError) as error:
        wire.parse_client_message('{"realtime_input": {"audio": {"data": "a$b", "mime_type": "audio/pcm"}}}')
    assert error.value.code == 1007


def test_mixed_spellings_at_every_depth_parse_to_the_same_message():
    camel = {"toolResponse": {"functionResponses": [{"id": "fc_1", "name": "f", "willContinue": False, "response": {"someKey": 1}}]}}
    snake = {"tool_response": {"function_responses": [{"id": "fc_1", "name": "f", "will_continue": False, "response": {"someKey": 1}}]}}
    assert wire.parse_client_message(json.dumps(camel)) == wire.parse_client_message(json.dumps(snake))


def test_free_form_values_keep_their_keys_as_sent():
    message = wire.parse_client_message(json.dumps({"toolResponse": {"functionResponses": [
        {"id": "fc_1", "name": "f", "response": {"overallBand": 6.5, "fluency_coherence": 6}}]}}))
    assert message.tool_response.function_responses[0].response == {"overallBand": 6.5, "fluency_coherence": 6}
    setup = wire.parse_client_message(json.dumps({"setup": {"model": "m", "tools": [{"functionDeclarations": [
        {"name": "f", "parameters": {"type": "OBJECT", "properties": {"camelName": {"type": "STRING"}}}}]}]}}))
    assert list(setup.setup.tools[0].function_declarations[0].parameters.properties) == ["camelName"]


def test_enums_are_case_insensitive():
    message = wire.parse_client_message(json.dumps({"setup": {"model": "m", "realtimeInputConfig": {
        "activity_handling": "no_interruption", "automaticActivityDetection": {"disabled": True}}}}))
    assert message.setup.realtime_input_config.activity_handling.value == "NO_INTERRUPTION"


def test_int64_as_number_or_string():
    for value in (25600, "25600"):
        message = wire.parse_client_message(json.dumps({"setup": {"model": "m", "contextWindowCompression": {"triggerTokens": value}}}))
        assert message.setup.context_window_compression.trigger_tokens == 25600


@pytest.mark.parametrize("frame, name, path", [
    ({"setup": {"model": "m", "toolConfig": {}}}, "toolConfig", "setup"),
    ({"setup": {"model": "m", "tool_config": {}}}, "tool_config", "setup"),
    ({"setup": {"model": "m", "sessionResumption": {"transparent": True}}}, "transparent", "setup.session_resumption"),
    ({"tool_response": {"functionResponses": [{"id": "a", "bogus": 1}]}}, "bogus", "tool_response.function_responses[0]"),
    ({"realtimeInput": {"audio": {"data": "", "sampleRate": 1}}}, "sampleRate", "realtime_input.audio"),
])
def test_unknown_fields_close_1007_naming_the_field_and_its_proto_path(frame, name, path):
    with pytest.raises(wire.ProtocolError) as error:
        wire.parse_client_message(json.dumps(frame))
    assert error.value.code == 1007
    assert error.value.reason == f"Invalid JSON payload received. Unknown name \"{name}\" at '{path}': Cannot find field."


@pytest.mark.parametrize("raw", ["not json", "[1]", '{"setup": {}, "realtimeInput": {"text": "x"}}', "{}"])
def test_malformed_frames_are_invalid_arguments(raw):
    with pytest.raises(wire.ProtocolError) as error:
        wire.parse_client_message(raw)
    assert error.value.code == 1007


def test_close_reasons_are_cut_to_the_websocket_limit():
    assert len(wire.ProtocolError(1007, "x" * 500).reason.encode()) == 123


@pytest.mark.parametrize("message", [
    wire.setup_complete(),
    wire.audio_chunk(PCM),
    wire.output_transcription("Hello"),
    wire.input_transcription("(speech, 1.0 s)."),
    wire.generation_complete(),
    wire.interrupted(),
    wire.turn_complete(120, 40),
    wire.turn_complete(0, 0),
    wire.tool_call([{"id": "fc_1", "name": "f", "args": {"a": 1}}]),
    wire.tool_call_cancellation(["fc_1"]),
    wire.resumption_update("h-1"),
    wire.resumption_update(None),
    wire.go_away(50),
])
def test_every_message_the_emulator_builds_passes_the_strict_validator(message):
    parsed = wire.validate_server_message(json.loads(wire.encode_server_message(message)))
    assert parsed.model_dump(exclude_none=True)


@pytest.mark.parametrize("message", [
    {"server_content": {"turnComplete": True}},
    {"serverContent": {"turnCompleted": True}},
    {"serverContent": {}, "toolCall": {"functionCalls": []}},
    {"serverContent": {"turnComplete": True}, "usageMetadata": {"candidatesTokenCount": 3}},
])
def test_the_validator_rejects_what_the_sdk_would_not_parse(message):
    with pytest.raises(ValueError):  # pydantic.ValidationError is a ValueError too
        wire.validate_server_message(message)


def test_durations_are_proto_json():
    assert wire.format_duration(50) == "50s"
    assert wire.format_duration(0.44) == "0.44s"
    assert wire.go_away(9.5) == {"goAway": {"timeLeft": "9.5s"}}
