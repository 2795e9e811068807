"""A local HTTP server that speaks the part of Daily's REST API viva uses, for the tests.

Daily's servers cannot be reached from here, so `viva run --transport daily` is pointed at
this one (env DAILY_API_URL). It answers as Daily documents (docs.daily.co/reference/rest-api):
`Authorization: Bearer <key>` on every request, else 401; POST /rooms, GET and DELETE
/rooms/{name}, POST /meeting-tokens; Daily-shaped JSON, errors as {"error", "info"}. Unknown
room or token properties are refused as Daily refuses them (400 invalid-request-error), so
a misspelt property fails a test instead of passing silently. Every request is kept
(`requests`) so a test can assert on what viva actually sent.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

DOMAIN = "https://viva-test.daily.co"

# The room and meeting-token properties Daily accepts (a subset, enough for viva and for
# what Pipecat's DailyRoomProperties / DailyMeetingTokenProperties send by default).
ROOM_PROPERTIES = {
    "nbf", "exp", "max_participants", "enable_people_ui", "enable_pip_ui", "enable_emoji_reactions",
    "enable_hand_raising", "enable_prejoin_ui", "enable_network_ui", "enable_noise_cancellation_ui",
    "enable_knocking", "enable_screenshare", "enable_chat", "start_video_off", "start_audio_off",
    "owner_only_broadcast", "enable_recording", "eject_at_room_exp", "eject_after_elapsed",
    "enable_dialout", "enable_transcription_storage", "geo", "lang", "sip", "sip_uri",
    "recordings_bucket", "transcription_bucket",
}
TOKEN_PROPERTIES = {
    "room_name", "eject_at_token_exp", "eject_after_elapsed", "nbf", "exp", "is_owner", "user_name",
    "user_id", "enable_screenshare", "start_video_off", "start_audio_off", "enable_recording",
    "enable_prejoin_ui", "start_cloud_recording", "permissions", "close_tab_on_exit", "lang",
}


@dataclass
class Request:
    """One request as the server received it."""

    method: str
    path: str
    authorization: str | None
    body: Any


@dataclass
class DailyRESTServer:
    """Serves Daily's REST API on 127.0.0.1 (use as `async with`); `api_url` is its base URL.

    Args:
        api_key: the only key it accepts.
    """

    api_key: str = "test-daily-key"
    requests: list[Request] = field(default_factory=list)
    rooms: dict[str, dict] = field(default_factory=dict)  # name -> the room object served
    tokens: dict[str, dict] = field(default_factory=dict)  # token -> its properties
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def sent(self, method: str, path: str) -> list[Request]:
        """The requests received with this method and path."""
        return [r for r in self.requests if r.method == method and r.path == path]

    async def __aenter__(self) -> DailyRESTServer:
        app = web.Application(middlewares=[self._keep_and_authorize])
        app.add_routes([
            web.post("/v1/rooms", self._create_room),
            web.get("/v1/rooms/{name}", self._get_room),
            web.delete("/v1/rooms/{name}", self._delete_room),
            web.post("/v1/meeting-tokens", self._create_token),
        ])
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc) -> None:
        await self._runner.cleanup()

    @web.middleware
    async def _keep_and_authorize(self, request: web.Request, handler):
        body = None
        if request.can_read_body:
            text = await request.text()
            try:
                body = json.loads(text)
            except json.JSONDecodeError:
                return _error(400, "invalid-request-error", "body is not valid JSON")
        authorization = request.headers.get("Authorization")
        self.requests.append(Request(request.method, request.path, authorization, body))
        if authorization != f"Bearer {self.api_key}":
            return _error(401, "authentication-error", "Unauthorized: the API key is not valid")
        return await handler(request)

    async def _create_room(self, request: web.Request) -> web.Response:
        body = await _body(request)
        name = body.get("name") or secrets.token_urlsafe(12)
        privacy = body.get("privacy", "public")
        properties = body.get("properties", {})
        if privacy not in ("public", "private"):
            return _error(400, "invalid-request-error", f"privacy must be public or private, not {privacy!r}")
        unknown = sorted(set(properties) - ROOM_PROPERTIES)
        if unknown:
            return _error(400, "invalid-request-error", f"unknown room properties: {', '.join(unknown)}")
        if name in self.rooms:
            return _error(400, "invalid-request-error", f"a room named {name} already exists")
        self.rooms[name] = {
            "id": str(uuid.uuid4()), "name": name, "api_created": True, "privacy": privacy,
            "url": f"{DOMAIN}/{name}", "created_at": _now(), "config": properties,
        }
        return web.json_response(self.rooms[name])

    async def _get_room(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.rooms:
            return _error(404, "not-found", f"room {name} was not found")
        return web.json_response(self.rooms[name])

    async def _delete_room(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if self.rooms.pop(name, None) is None:
            return _error(404, "not-found", f"room {name} was not found")
        return web.json_response({"deleted": True, "name": name})

    async def _create_token(self, request: web.Request) -> web.Response:
        properties = (await _body(request)).get("properties", {})
        unknown = sorted(set(properties) - TOKEN_PROPERTIES)
        if unknown:
            return _error(400, "invalid-request-error", f"unknown token properties: {', '.join(unknown)}")
        token = _unsigned_jwt(properties)
        self.tokens[token] = properties
        return web.json_response({"token": token})


async def _body(request: web.Request) -> dict:
    """The request's JSON body (aiohttp keeps what the middleware read), {} if none."""
    text = await request.text()
    return json.loads(text) if text else {}


def _error(status: int, error: str, info: str) -> web.Response:
    return web.json_response({"error": error, "info": info}, status=status)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _unsigned_jwt(properties: dict) -> str:
    """A token shaped like Daily's (a JWT; this one unsigned and unique)."""
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return ".".join([part({"alg": "none", "typ": "JWT"}), part({**properties, "jti": secrets.token_hex(8)}), "x"])
