"""The emulator's REST side: `generateContent`, on the Live API's port (emulator/server.py
routes every request off the Live paths here), as the real service answers both on one host.

It serves what viva needs of the REST API: google-genai's
`client.aio.models.generate_content(...)`, which POSTs JSON to
`{base_url}/v1beta/models/{model}:generateContent`, and `generate_content_stream(...)`,
the same body to `:streamGenerateContent?alt=sse`, answered as server-sent events.

The request body is walked along google-genai's own types, as the Live messages are
(emulator/wire.py): either spelling of every field, an unknown one answered 400 with
the name. The emulated model reads the transcript it is sent, and only that
(emulator/reading.py): asked for JSON against a schema, it answers with what the text
states for the schema's properties; with nothing stated, with the empty value the
schema's type allows ("{}" for an object), inventing nothing, so a client's validation
fails and it falls back to its own parser. A request that names a Live session it
served (the `x-viva-session-id` header) is a `generate_content` line in that session's
emulator.jsonl; the name changes nothing in the answer.

The TTS models (SPEECH_MODELS: what Pipecat's GeminiTTSService asks through google-genai)
answer `responseModalities: [AUDIO]` with the text of the request said in the examiner's
voice (emulator/voice.py), whichever prebuilt voice is named:
`candidates[0].content.parts[0].inlineData` holds `audio/L16;codec=pcm;rate=24000`
(headerless 16-bit mono PCM) or, from the 3.8 models, `audio/wav`; streamed, the audio is
split over events (the last with `finishReason` and the usage). A request that names a
language (`generationConfig.speechConfig.languageCode`, where Pipecat's GeminiTTSService
sends its `language`) is said in espeak-ng's voice for it (emulator/voice.py), as a Live
session in that language speaks; one that names none, in the examiner's default voice.
Refused as the service refuses: a TTS model the API does not serve (404), another modality
than AUDIO and an unknown voice (400). Each is a `generate_speech` line in the named
session's journal (with the language named and the espeak-ng voice that said it).
Sources: [D] Google's speech generation guide (models, voices, WAV from 3.8), [T] field
reports quoted beside each rule, [U] our reading where nothing says.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pydantic
from aiohttp import web
from google.genai import _common
from google.genai import types
from loguru import logger

from emulator import wire
from emulator.caller import SESSION_HEADER, api_key
from emulator.language import speech_language
from emulator.reading import read_result
from emulator.session import AUDIO_TOKENS_PER_S, ExamSession
from emulator.toolargs import declared_json_schema, schema_errors
from emulator.voice import GEMINI_VOICES, OUTPUT_RATE, ExaminerVoice, wav_file

_PATH = re.compile(r"^/(v1\w*)/models/([^/:]+):(generateContent|streamGenerateContent)$")
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           405: "METHOD_NOT_ALLOWED", 500: "INTERNAL"}
_NO_KEY = ("Method doesn't allow unregistered callers (callers without established identity). "
           "Please use API Key or other form of API consumer identity to call this API.")
NOT_FOUND_TEXT = "I could not find an exam result stated in the transcript."
INVALID_ARGUMENT = "Request contains an invalid argument."  # the service's message when it names nothing


@dataclass(frozen=True)
class SpeechModel:
    """How one TTS model of the Gemini API answers.

    wav: the audio is a WAV file (audio/wav), else headerless PCM (audio/L16) [D: 3.8 TTS
        returns WAV by default; S: Pipecat strips a RIFF header from 3.8 models only].
    needs_voice: a request naming no voice is refused, else a default voice speaks [T:
        genkit #5489, 3.1 answers 400 without speechConfig where 2.5 does not].
    stream_s: seconds of audio per streamed event (None: the whole audio in one event) [T:
        js-genai #615, 2.5 streams it in one chunk; U: 3.x in pieces of this size].
    """

    wav: bool
    needs_voice: bool
    stream_s: float | None


# The Gemini API's TTS models (Cloud Text-to-Speech's names, such as gemini-2.5-flash-tts, are not
# among them) [D: speech generation guide; S: Pipecat's GeminiTTSService docstring].
SPEECH_MODELS = {
    "gemini-3.8-flash-tts": SpeechModel(wav=True, needs_voice=True, stream_s=1.0),
    "gemini-3.8-flash-lite-tts": SpeechModel(wav=True, needs_voice=True, stream_s=1.0),
    "gemini-3.1-flash-tts-preview": SpeechModel(wav=False, needs_voice=True, stream_s=1.0),
    "gemini-2.5-flash-preview-tts": SpeechModel(wav=False, needs_voice=False, stream_s=None),
    "gemini-2.5-pro-preview-tts": SpeechModel(wav=False, needs_voice=False, stream_s=None),
}
DEFAULT_SPEECH_VOICE = "Kore"  # [U] which voice 2.5 picks when none is named
PCM_MIME = f"audio/L16;codec=pcm;rate={OUTPUT_RATE}"


class WireGenerationConfig(types.GenerationConfig):
    """generationConfig as google-genai sends it: GenerationConfig plus the image options
    its converter also puts there."""

    image_config: types.ImageConfig | None = None


class WireGenerateContentRequest(_common.BaseModel):
    """The body of models.generateContent (Developer API), as google-genai's converter
    (`_GenerateContentParameters_to_mldev`) builds it."""

    contents: list[types.Content] | None = None
    system_instruction: types.Content | None = None
    generation_config: WireGenerationConfig | None = None
    tools: list[types.Tool] | None = None
    tool_config: types.ToolConfig | None = None
    safety_settings: list[types.SafetySetting] | None = None
    labels: dict[str, str] | None = None
    cached_content: str | None = None
    service_tier: types.ServiceTier | None = None
    store: bool | None = None


class RestError(Exception):
    """A request the real service answers with an error status."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status} {message}")
        self.status, self.message = status, message

    def response(self) -> web.Response:
        body = {"error": {"code": self.status, "message": self.message, "status": _STATUS.get(self.status, "UNKNOWN")}}
        return web.json_response(body, status=self.status)


def parse_generate_content(raw: bytes) -> WireGenerateContentRequest:
    """Parses a generateContent body into google-genai's types, or raises RestError (400)."""
    try:
        data = wire.loads(raw)  # as a Live message: syntax, NaN, huge numbers, depth refused alike
    except wire.ProtocolError as e:
        raise RestError(400, e.reason) from None
    if not isinstance(data, dict):
        raise RestError(400, "Invalid JSON payload received. Expected an object.")
    fields = WireGenerateContentRequest.model_fields
    normalized = {}
    try:
        for key, item in data.items():
            name = wire.snake_case(key)
            if name not in fields:
                raise RestError(400, f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.')
            # Nested names go through the Live messages' walk: either spelling, unknown ones refused by name.
            normalized[name] = wire.normalize_field(item, fields[name].annotation, name)
        request = WireGenerateContentRequest.model_validate(normalized)
    except wire.ProtocolError as e:  # its reason is cut to a close frame's size; the message is whole
        raise RestError(400, str(e).partition(" ")[2]) from None
    except pydantic.ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RestError(400, f"Invalid value at '{where}': {first['msg']}") from None
    if not request.contents:
        raise RestError(400, "* GenerateContentRequest.contents: contents is not specified")
    return request


def request_text(request: WireGenerateContentRequest) -> str:
    """All the text of the request's contents (the system instruction aside)."""
    return "\n".join(part.text for content in request.contents or [] for part in content.parts or [] if part.text)


def response_schema(request: WireGenerateContentRequest) -> dict | None:
    """The JSON schema the answer must follow: responseJsonSchema, or responseSchema turned into one."""
    config = request.generation_config
    if config is None:
        return None
    if isinstance(config.response_json_schema, dict):
        return config.response_json_schema
    if config.response_schema is not None:
        return declared_json_schema(types.FunctionDeclaration(name="response", parameters=config.response_schema))
    return None


def empty_value(schema: dict | None) -> Any:
    """The value of schema's type that says nothing: {} for an object, [] for an array, else null."""
    kind = (schema or {}).get("type", "object" if "properties" in (schema or {}) else None)
    kinds = [str(k).lower() for k in (kind if isinstance(kind, list) else [kind])]
    if "object" in kinds or schema is None:
        return {}
    if "array" in kinds:
        return []
    return None


def model_not_found(model: str, method: str, version: str = "v1beta") -> RestError:
    """[T] the service's answer to a model it does not serve (e.g. a Cloud TTS name on the Gemini API)."""
    return RestError(404, f"models/{model} is not found for API version {version}, or is not supported for "
                          f"{method}. Call ListModels to see the list of available models and their supported methods.")


def modalities_refused(model: str, asked: list[str], accepted: str) -> RestError:
    """[T] the service's answer to response modalities the model does not produce."""
    return RestError(400, f"The requested combination of response modalities ({', '.join(asked) or 'TEXT'}) is not "
                          f"supported by the model. models/{model} accepts the following combination of response "
                          f"modalities:\n* {accepted}\n")


def response_modalities(request: WireGenerateContentRequest) -> list[str]:
    config = request.generation_config
    return [str(getattr(m, "value", m)).upper() for m in (config.response_modalities or [])] if config else []


def speech_voices(request: WireGenerateContentRequest) -> list[str]:
    """The voices a request names: its prebuilt voice (or the voice library's name), or each speaker's."""
    speech = request.generation_config.speech_config if request.generation_config else None
    if speech is None:
        return []
    configs = [speech.voice_config] if speech.voice_config else []
    if speech.multi_speaker_voice_config:
        speakers = speech.multi_speaker_voice_config.speaker_voice_configs or []
        configs += [speaker.voice_config for speaker in speakers if speaker.voice_config]
    names = []
    for config in configs:
        prebuilt = config.prebuilt_voice_config
        names.append(prebuilt.voice_name if prebuilt and prebuilt.voice_name else config.voice)
    return names


class RestApi:
    """generateContent over HTTPS, answering from what the Live sessions said.

    Args:
        sessions: the Live server's sessions by id (read at each request).
        voice: what the TTS models speak in (default: the examiner's espeak-ng voice).
    """

    def __init__(self, *, sessions: Mapping[str, ExamSession], voice: ExaminerVoice | None = None):
        self._sessions = sessions
        self._voice = voice or ExaminerVoice()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Any request off the Live paths: an answer, or the service's error JSON; never an exception."""
        try:
            return await self._generate_content(request)
        except RestError as e:
            return e.response()
        except Exception:  # a client must get an answer it can read, as from the real service
            # The traceback as text: a logger that shows local values could show a request's key.
            logger.error(f"emulator: REST request failed\n{traceback.format_exc()}")
            return RestError(500, "Internal error encountered.").response()

    async def _generate_content(self, request: web.Request) -> web.StreamResponse:
        path = re.sub(r"/{2,}", "/", request.path)
        match = _PATH.match(path)
        if match is None:
            raise RestError(404, f"Method not found: {request.method} {request.path}")
        model, method = match.group(2), match.group(3)
        if request.method != "POST":
            raise RestError(405, f"Method {request.method} is not allowed; {method} takes POST.")
        if not api_key(request.headers, request.query):
            raise RestError(403, _NO_KEY)
        speech = SPEECH_MODELS.get(model)
        if speech is None and "-tts" in model:
            raise model_not_found(model, method, match.group(1))
        body = parse_generate_content(await request.read())
        session = self._sessions.get(request.headers.get(SESSION_HEADER, ""))
        if speech is not None:
            events = await self._speak(body, model=model, speech=speech, session=session,
                                       stream=method == "streamGenerateContent")
        else:
            if "AUDIO" in response_modalities(body):
                raise modalities_refused(model, response_modalities(body), "TEXT")
            events = [self._answer(body, model=model, session=session)]
        if method == "generateContent":
            return web.json_response(events[0])
        return await self._server_sent(request, events)

    @staticmethod
    async def _server_sent(request: web.Request, events: list[dict]) -> web.StreamResponse:
        """A streamed answer as google-genai reads it with alt=sse: one `data:` line per event."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for event in events:
            await response.write(f"data: {json.dumps(event)}\r\n\r\n".encode())
        await response.write_eof()
        return response

    async def _speak(self, request: WireGenerateContentRequest, *, model: str, speech: SpeechModel,
                     session: ExamSession | None, stream: bool) -> list[dict]:
        """The request's text said aloud: the response (or, streamed, its events) with the audio."""
        asked = response_modalities(request)
        if asked != ["AUDIO"]:
            raise modalities_refused(model, asked, "AUDIO")
        voices = speech_voices(request)
        if not voices and speech.needs_voice:
            raise RestError(400, INVALID_ARGUMENT)
        if any(name not in GEMINI_VOICES for name in voices):
            raise RestError(400, INVALID_ARGUMENT)  # [U] the service's wording for an unknown voice
        text = request_text(request)
        if not text.strip():
            raise RestError(400, INVALID_ARGUMENT)
        language = speech_language(request.generation_config)
        espeak_voice = self._voice.voice_for(language)
        pcm = await self._voice.synthesize(text, voice=espeak_voice)
        audio_s = len(pcm) / 2 / OUTPUT_RATE
        if session is not None:
            session.journal.write(dir="in", kind="generate_speech", model=model,
                                  voice=(voices or [DEFAULT_SPEECH_VOICE])[0], text=text, stream=stream,
                                  audio_s=round(audio_s, 2), language=language, espeak_voice=espeak_voice)
            if session.connection is None:
                session.journal.close()  # as for generate_content
        data, mime = (wav_file(pcm), "audio/wav") if speech.wav else (pcm, PCM_MIME)
        step = len(data) if not stream or speech.stream_s is None else int(speech.stream_s * OUTPUT_RATE) * 2
        pieces = [data[i : i + step] for i in range(0, len(data), step)]
        prompt_tokens, audio_tokens = max(1, len(text) // 4), max(1, int(audio_s * AUDIO_TOKENS_PER_S))
        response_id = secrets.token_urlsafe(12)
        events = []
        for i, piece in enumerate(pieces):
            candidate = {"content": {"role": "model", "parts": [
                {"inlineData": {"mimeType": mime, "data": base64.b64encode(piece).decode()}}]}, "index": 0}
            event = {"candidates": [candidate], "modelVersion": model, "responseId": response_id}
            if i == len(pieces) - 1:
                candidate["finishReason"] = "STOP"
                event["usageMetadata"] = {
                    "promptTokenCount": prompt_tokens,
                    "candidatesTokenCount": audio_tokens,
                    "totalTokenCount": prompt_tokens + audio_tokens,
                    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
                    "candidatesTokensDetails": [{"modality": "AUDIO", "tokenCount": audio_tokens}],
                }
            events.append(event)
        return events

    def _answer(self, request: WireGenerateContentRequest, *, model: str, session: ExamSession | None) -> dict:
        """What the emulated model says: what the text states, or nothing invented."""
        text = request_text(request)
        schema = response_schema(request)
        found = read_result(text, schema) if schema is not None else {}
        config = request.generation_config
        as_json = config is not None and (config.response_mime_type or "").startswith("application/json")
        if found:
            answer = json.dumps(found)
        elif as_json or schema is not None:
            answer = json.dumps(empty_value(schema))
        else:
            answer = NOT_FOUND_TEXT
        if session is not None:
            session.journal.write(
                dir="in", kind="generate_content", model=model, found=bool(found), text_chars=len(text),
                answer=answer, schema_errors=schema_errors(schema, found) if found and schema else [],
            )
            if session.connection is None:
                session.journal.close()  # no socket open: release the file, as a closing socket does
        prompt_tokens, answer_tokens = max(1, len(text) // 4), max(1, len(answer) // 4)
        return {
            "candidates": [{
                "content": {"role": "model", "parts": [{"text": answer}]},
                "finishReason": "STOP",
                "index": 0,
            }],
            "usageMetadata": {
                "promptTokenCount": prompt_tokens,
                "candidatesTokenCount": answer_tokens,
                "totalTokenCount": prompt_tokens + answer_tokens,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
            },
            "modelVersion": model,
            "responseId": secrets.token_urlsafe(12),
        }
