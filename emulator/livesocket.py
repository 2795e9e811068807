"""One accepted Live API WebSocket, as the Live handler (emulator/session.py) uses it.

The emulator answers the Live API and the REST API on one port, as the real service does
on one host, so both are served by aiohttp (emulator/server.py); this wraps aiohttp's
WebSocketResponse in what the handler needs: the handshake's path and headers, the
client's frames, send, close, and how the socket closed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from aiohttp import WSMsgType, web

# The codes the websockets library reports (the protocol reference §6: a drop with no close
# frame is 1006) for a close frame without a code, and for a connection that ended without one.
NO_STATUS = 1005
ABNORMAL_CLOSURE = 1006


class SocketClosed(Exception):
    """A send on a socket that has closed."""


class LiveSocket:
    """An accepted WebSocket of the Live API's paths.

    path: the request's path and query as sent (the query may hold a key: see
        emulator/caller.py before writing it down).
    headers, query: the handshake request's headers and query parameters.
    close_code, close_reason: how it closed (ours if the emulator closed it first, the
        client's if the client did, 1006 if the connection dropped); None while open.
    """

    def __init__(self, request: web.BaseRequest, ws: web.WebSocketResponse):
        self.path = request.raw_path
        self.headers: Mapping[str, str] = request.headers
        self.query: Mapping[str, str] = request.query
        self._ws = ws
        self.close_code: int | None = None
        self.close_reason: str | None = None

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[str | bytes]:
        """The client's text (str) and binary (bytes) frames until the socket closes."""
        while True:
            message = await self._ws.receive()
            if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                yield message.data
                continue
            if message.type is WSMsgType.CLOSE:  # aiohttp has answered the client's close
                self._closed(message.data or NO_STATUS, message.extra or "")
            elif message.type is WSMsgType.ERROR:  # a frame aiohttp refused; it closed with its code
                self._closed(getattr(message.data, "code", None) or ABNORMAL_CLOSURE, "")
            else:  # CLOSING or CLOSED: closed here, or the connection dropped
                self._closed(ABNORMAL_CLOSURE, "")
            return

    def _closed(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason

    async def send(self, data: bytes) -> None:
        """Sends one binary frame; raises SocketClosed once the socket has closed."""
        if self._ws.closed:
            raise SocketClosed()
        try:
            await self._ws.send_bytes(data)
        except ConnectionError as e:  # aiohttp: the transport is closing
            raise SocketClosed() from e

    async def close(self, code: int, reason: str) -> None:
        """Sends a close frame with code and reason (at most 123 bytes), and ends the connection."""
        self._closed(code, reason)
        await self._ws.close(code=code, message=reason.encode())
