"""The Live API's JSON on the wire: parsing what clients send, shaping what we send.

Clients send proto3-JSON: field names in camelCase or snake_case at any depth, bytes
in either base64 alphabet, enums in any case. We walk each message along
google-genai's own pydantic types, so the set of accepted field names is exactly the
SDK's, and an unknown name is rejected the way the real server rejects it (1007 with
the name as sent and the proto path). Free-form values (function arguments and
responses, JSON schemas) are left untouched: their keys are the user's, not ours.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import types as pytypes
import typing
from importlib import resources
from typing import Any

import pydantic
from google.genai import _live_converters
from google.genai import types

# Close codes, as the real service uses them (protocol reference §6).
INVALID_ARGUMENT = 1007
POLICY = 1008
INTERNAL = 1011

# [U] Deeper than any message a client builds; a bound keeps every walk of a message (ours,
# pydantic's, the journal's) within Python's recursion limit.
MAX_DEPTH = 100
# The widest integer a proto field holds (uint64 and int64); a larger one is out of any
# field's range, and would overflow where the emulator divides it (a silence duration).
_INTEGER_RANGE = (-(2**63), 2**64 - 1)
INVALID_JSON = "Invalid JSON payload received."

# Fields google-genai knows but the Developer API rejects (Vertex-only; the protocol
# reference §3.1: the real Developer API closes 1007 on `transparent`).
_DEVELOPER_API_REJECTS = {
    ("setup", "session_resumption", "transparent"),
    ("setup", "explicit_vad_signal"),
}


@functools.cache
def newest_sdk_fields() -> dict:
    """The field table of the newest google-genai's client messages (emulator/sdk_fields.json,
    made by scripts/sdk_fields.py): names a newer client may send that the pinned SDK's
    types lack. Such a field is checked name by name against the table, then set aside."""
    return json.loads(resources.files("emulator").joinpath("sdk_fields.json").read_text())



class WireSetup(types.LiveClientSetup):
    """The setup message as clients send it.

    google-genai's LiveClientSetup lacks `realtimeInputConfig`, although its own
    converter puts that field into every setup built from a LiveConnectConfig.
    """

    realtime_input_config: types.RealtimeInputConfig | None = None


class WireClientMessage(types.LiveClientMessage):
    """A client frame: LiveClientMessage with the complete setup."""

    setup: WireSetup | None = None
    _newer_fields: list[str] = pydantic.PrivateAttr(default_factory=list)

    @property
    def newer_fields(self) -> list[str]:
        """Paths of fields only a newer SDK knows, accepted and set aside."""
        return self._newer_fields


# The tools field is annotated as a bare list behind a validator in the SDK.
_FIELD_OVERRIDES: dict[tuple[type, str], Any] = {
    (WireSetup, "tools"): list[types.Tool],
}

# The SDK's names of our subclasses, for the newest SDK's field table.
_SDK_NAMES = {WireSetup: "LiveClientSetup", WireClientMessage: "LiveClientMessage"}

SERVER_ONEOF = {
    "setupComplete",
    "serverContent",
    "toolCall",
    "toolCallCancellation",
    "goAway",
    "sessionResumptionUpdate",
}
SERVER_SIDECARS = {"usageMetadata", "voiceActivity", "voiceActivityDetectionSignal"}


class ProtocolError(Exception):
    """A client message the real service would answer by closing the socket."""

    def __init__(self, code: int, reason: str):
        super().__init__(f"{code} {reason}")
        self.code = code
        # The WebSocket close reason is limited to 123 bytes; the real server truncates.
        self.reason = reason.encode()[:123].decode(errors="ignore")


def snake_case(name: str) -> str:
    """Proto field name of a JSON key: `turnComplete` -> `turn_complete`."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def decode_base64(text: str) -> bytes:
    """Decodes standard or URL-safe base64, padded or not, as proto3-JSON allows."""
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ProtocolError(INVALID_ARGUMENT, "Request contains an invalid argument.") from e


def _unknown(name: str, path: str) -> ProtocolError:
    return ProtocolError(
        INVALID_ARGUMENT,
        f"Invalid JSON payload received. Unknown name \"{name}\" at '{path}': Cannot find field.",
    )


def _unwrap(annotation: Any) -> Any:
    """Strips Optional and Annotated."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, pytypes.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel)


class _Parse:
    """What one frame's walk needs besides the value: the path's API, and what it set aside."""

    def __init__(self, *, vertex: bool):
        self.vertex = vertex
        self.newer_fields: list[str] = []


def _normalize(value: Any, annotation: Any, path: str, proto_path: tuple[str, ...], parse: _Parse) -> Any:
    annotation = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    if annotation is int and type(value) is int and not _INTEGER_RANGE[0] <= value <= _INTEGER_RANGE[1]:
        raise ProtocolError(INVALID_ARGUMENT, f"Invalid value at '{path}': {str(value)[:40]}... is out of range")
    if _is_model(annotation):
        if not isinstance(value, dict):
            return value  # let pydantic report the type error
        return _normalize_model(value, annotation, path, proto_path, parse)
    if origin in (typing.Union, pytypes.UnionType):
        options = [_unwrap(a) for a in typing.get_args(annotation) if a is not type(None)]
        if isinstance(value, dict):
            first_error = None
            for option in options:
                if _is_model(option):
                    try:
                        return _normalize_model(value, option, path, proto_path, parse)
                    except ProtocolError as e:
                        first_error = first_error or e
            if first_error:
                raise first_error
        if isinstance(value, list):
            for option in options:
                if typing.get_origin(option) is list:
                    return _normalize(value, option, path, proto_path, parse)
        return value
    if origin is list and isinstance(value, list):
        (item_type,) = typing.get_args(annotation) or (Any,)
        return [
            _normalize(item, item_type, f"{path}[{i}]", proto_path, parse) for i, item in enumerate(value)
        ]
    if origin is dict and isinstance(value, dict):
        args = typing.get_args(annotation)
        item_type = args[1] if len(args) == 2 else Any
        if _is_model(_unwrap(item_type)):
            # Keys of such maps (schema property names) are the user's: kept as sent.
            return {
                key: _normalize(item, item_type, f"{path}[{key}]", proto_path, parse)
                for key, item in value.items()
            }
        return value
    if annotation is bytes and isinstance(value, str):
        return decode_base64(value)
    return value


def _normalize_model(
    value: dict, model: type[pydantic.BaseModel], path: str, proto_path: tuple[str, ...], parse: _Parse
) -> dict:
    fields = model.model_fields
    result = {}
    for key, item in value.items():
        name = snake_case(key)
        if (*proto_path, name) in _DEVELOPER_API_REJECTS and not parse.vertex:
            raise _unknown(key, path)
        if name not in fields:
            newer = newest_sdk_fields()["types"].get(_SDK_NAMES.get(model, model.__name__), {}).get(name)
            if newer is None:
                raise _unknown(key, path)
            _check_newer(item, newer, f"{path}.{name}")
            parse.newer_fields.append(f"{path}.{name}")
            continue
        annotation = _FIELD_OVERRIDES.get((model, name), fields[name].annotation)
        result[name] = _normalize(item, annotation, f"{path}.{name}", (*proto_path, name), parse)
    return result


def normalize_field(value: Any, annotation: Any, name: str) -> Any:
    """One top-level field of a request, walked as client frames are: either spelling of
    every nested name, bytes decoded, an unknown name refused (ProtocolError)."""
    return _normalize(value, annotation, name, (name,), _Parse(vertex=False))


def _check_newer(value: Any, kind: str, path: str) -> None:
    """Checks a field the pinned SDK lacks against the newest SDK's table: every name must exist there."""
    table = newest_sdk_fields()["types"]
    container, _, type_name = kind.rpartition(" ")
    if type_name not in table:
        return  # a plain value: anything the field's type allows
    if container == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            _check_newer(item, type_name, f"{path}[{i}]")
    elif container == "map" and isinstance(value, dict):
        for key, item in value.items():
            _check_newer(item, type_name, f"{path}[{key}]")
    elif not container and isinstance(value, dict):
        for key, item in value.items():
            name = snake_case(key)
            if name not in table[type_name]:
                raise _unknown(key, path)
            _check_newer(item, table[type_name][name], f"{path}.{name}")


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")  # Python's json reads NaN and Infinity; JSON has neither


def loads(raw: str | bytes) -> Any:
    """A client's JSON, or ProtocolError (1007) for anything that is not plain JSON of at most
    MAX_DEPTH levels: bad syntax or UTF-8, NaN or Infinity, a number Python will not read (an
    integer of over 4300 digits), nesting too deep for the parser."""
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as e:
        raise ProtocolError(INVALID_ARGUMENT, f"{INVALID_JSON} Unexpected token.") from e
    except RecursionError:
        raise ProtocolError(INVALID_ARGUMENT, f"{INVALID_JSON} Nested too deep.") from None
    # Measured without recursion: levels of containers, breadth first.
    level, depth = [data], 0
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            raise ProtocolError(INVALID_ARGUMENT, f"{INVALID_JSON} Nested too deep.")
        level = [item for value in level if isinstance(value, (dict, list))
                 for item in (value.values() if isinstance(value, dict) else value)
                 if isinstance(item, (dict, list))]
    return data


def parse_client_message(raw: str | bytes, *, vertex: bool = False) -> WireClientMessage:
    """Parses one client frame into the SDK's types, or raises ProtocolError.

    vertex: the frame came on the Vertex path, where Vertex-only fields are known.
    Fields only a newer SDK knows are set aside: `.newer_fields` of the result names them.
    """
    parse = _Parse(vertex=vertex)
    data = loads(raw)
    if not isinstance(data, dict):
        raise ProtocolError(INVALID_ARGUMENT, INVALID_JSON)
    normalized = {}
    for key, item in data.items():
        name = snake_case(key)
        if name not in WireClientMessage.model_fields:
            raise ProtocolError(
                INVALID_ARGUMENT,
                f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.',
            )
        annotation = WireClientMessage.model_fields[name].annotation
        normalized[name] = _normalize(item, annotation, name, (name,), parse)
    if len([v for v in normalized.values() if v is not None]) != 1:
        raise ProtocolError(INVALID_ARGUMENT, "Request contains an invalid argument.")
    try:
        message = WireClientMessage.model_validate(normalized)
    except pydantic.ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ProtocolError(
            INVALID_ARGUMENT, f"Invalid value at '{where}': {first['msg']}"
        ) from e
    message._newer_fields = parse.newer_fields
    return message


def validate_server_message(message: dict) -> types.LiveServerMessage:
    """The strict check of protocol reference §8: what the SDK would parse, nothing extra."""
    extra = set(message) - SERVER_ONEOF - SERVER_SIDECARS
    if extra:
        raise ValueError(f"unknown or snake_case top-level key(s): {sorted(extra)}")
    if len(set(message) & SERVER_ONEOF) > 1:
        raise ValueError("more than one oneof member")
    converted = _live_converters._LiveServerMessage_from_mldev(message)
    return types.LiveServerMessage.model_validate(converted)


def encode_server_message(message: dict) -> bytes:
    """Server messages go out as binary frames of UTF-8 JSON, as the real server sends them."""
    return json.dumps(message, separators=(",", ":")).encode()


# Builders for what the emulator sends. camelCase throughout, one part per modelTurn.


def setup_complete() -> dict:
    return {"setupComplete": {}}


def audio_chunk(pcm: bytes, rate: int = 24000) -> dict:
    data = base64.b64encode(pcm).decode()
    part = {"inlineData": {"mimeType": f"audio/pcm;rate={rate}", "data": data}}
    return {"serverContent": {"modelTurn": {"parts": [part]}}}


def text_part(text: str) -> dict:
    """A TEXT-modality reply's part."""
    return {"serverContent": {"modelTurn": {"parts": [{"text": text}]}}}


def output_transcription(text: str) -> dict:
    return {"serverContent": {"outputTranscription": {"text": text}}}


def input_transcription(text: str) -> dict:
    return {"serverContent": {"inputTranscription": {"text": text}}}


def generation_complete() -> dict:
    return {"serverContent": {"generationComplete": True}}


def interrupted() -> dict:
    return {"serverContent": {"interrupted": True}}


def turn_complete(prompt_tokens: int, response_tokens: int) -> dict:
    usage = {
        "promptTokenCount": prompt_tokens,
        "responseTokenCount": response_tokens,
        "totalTokenCount": prompt_tokens + response_tokens,
    }
    if prompt_tokens:
        usage["promptTokensDetails"] = [{"modality": "AUDIO", "tokenCount": prompt_tokens}]
    if response_tokens:
        usage["responseTokensDetails"] = [{"modality": "AUDIO", "tokenCount": response_tokens}]
    return {"serverContent": {"turnComplete": True}, "usageMetadata": usage}


def tool_call(calls: list[dict]) -> dict:
    return {"toolCall": {"functionCalls": calls}}


def tool_call_cancellation(ids: list[str]) -> dict:
    return {"toolCallCancellation": {"ids": ids}}


def resumption_update(handle: str | None) -> dict:
    if handle:
        return {"sessionResumptionUpdate": {"newHandle": handle, "resumable": True}}
    return {"sessionResumptionUpdate": {"resumable": False}}


def go_away(time_left_s: float) -> dict:
    return {"goAway": {"timeLeft": format_duration(time_left_s)}}


def format_duration(seconds: float) -> str:
    """google.protobuf.Duration in JSON: integer seconds carry no decimals."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{seconds:.3f}".rstrip("0") + "s"
