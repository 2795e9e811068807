"""The emulator's REST side: `generateContent` on a TLS port of its own.

The websockets server of the Live API cannot take a POST with a body, so this one
runs on aiohttp, with the Live server's certificate (trusted through the same CA).
It serves what viva needs of the text API: google-genai's
`client.aio.models.generate_content(...)`, which POSTs JSON to
`{base_url}/v1beta/models/{model}:generateContent`.

The request body is walked along google-genai's own types, as the Live messages are
(emulator/wire.py): either spelling of every field, an unknown one answered 400 with
the name. The emulated model reads the transcript it is sent, and only that
(emulator/reading.py): asked for JSON against a schema, it answers with what the text
states for the schema's properties; with nothing stated, with the empty value the
schema's type allows ("{}" for an object), inventing nothing, so a client's validation
fails and it falls back to its own parser. A request that names a Live session it
served (the `x-viva-session-id` header) is a `generate_content` line in that session's
emulator.jsonl; the name changes nothing in the answer.
"""

from __future__ import annotations

import json
import re
import secrets
import ssl
from collections.abc import Mapping
from typing import Any

import pydantic
from aiohttp import web
from google.genai import _common
from google.genai import types
from loguru import logger

from emulator import wire
from emulator.reading import read_result
from emulator.session import ExamSession
from emulator.toolargs import declared_json_schema, schema_errors

SESSION_HEADER = "x-viva-session-id"  # the same header names Live sessions (emulator/server.py)
_PATH = re.compile(r"^/(v1\w*)/models/([^/:]+):generateContent$")
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           405: "METHOD_NOT_ALLOWED", 500: "INTERNAL"}
_NO_KEY = ("Method doesn't allow unregistered callers (callers without established identity). "
           "Please use API Key or other form of API consumer identity to call this API.")
NOT_FOUND_TEXT = "I could not find an exam result stated in the transcript."


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
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise RestError(400, "Invalid JSON payload received. Unexpected token.") from None
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


def api_key(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The caller's key, from any of the places clients put it (as for the Live socket)."""
    if headers.get("x-goog-api-key"):
        return headers["x-goog-api-key"]
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme in ("Token", "Bearer") and token and " " not in token:
        return token
    return query.get("key") or query.get("access_token") or None


class RestServer:
    """generateContent over HTTPS, answering from what the Live sessions said.

    Args:
        sessions: the Live server's sessions by id (read at each request).
        host, port: where to listen (port 0: any free port).
        ssl_context: the server context (the Live server's certificate).
    """

    def __init__(self, *, sessions: Mapping[str, ExamSession], host: str, port: int, ssl_context: ssl.SSLContext):
        self._sessions = sessions
        self._host, self._port = host, port
        self._ssl_context = ssl_context
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    async def start(self) -> "RestServer":
        app = web.Application(client_max_size=16 * 2**20)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self._host, self._port, ssl_context=self._ssl_context)
        await self._site.start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = self._site = None

    @property
    def port(self) -> int:
        return self._runner.addresses[0][1]

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            return await self._generate_content(request)
        except RestError as e:
            return e.response()
        except Exception:  # a client must get an answer it can read, as from the real service
            logger.exception("emulator: REST request failed")
            return RestError(500, "Internal error encountered.").response()

    async def _generate_content(self, request: web.Request) -> web.Response:
        path = re.sub(r"/{2,}", "/", request.path)
        match = _PATH.match(path)
        if match is None:
            raise RestError(404, f"Method not found: {request.method} {request.path}")
        if request.method != "POST":
            raise RestError(405, f"Method {request.method} is not allowed; generateContent takes POST.")
        if not api_key(request.headers, request.query):
            raise RestError(403, _NO_KEY)
        body = parse_generate_content(await request.read())
        session = self._sessions.get(request.headers.get(SESSION_HEADER, ""))
        return web.json_response(self._answer(body, model=match.group(2), session=session))

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
