"""The Live session as Pipecat's service sees it, across reconnects: nothing sent is lost.

Pipecat's service sends through `self._session` and drops what it cannot send while
reconnecting (field-reports.md §4). `ResilientSession` stands in for google-genai's
AsyncSession: while the link is down, every send is kept in order and goes out on the
next link; a send that fails is kept too, and never raised (the receive side sees the
close and reconnects). The server restores a resumed session to its last resumable
point, so what was sent since that point is sent again after a resume: the answer in
progress arrives whole, in one window. Tool responses are not sent again: a resumed
model has not made that call yet and asks again; a fresh session gets only the window
in progress (its history is seeded separately).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loguru import logger


@dataclass
class _Send:
    method: str  # "send_realtime_input", "send_client_content", "send_tool_response"
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def opens_window(self) -> bool:
        return self.method == "send_realtime_input" and self.kwargs.get("activity_start") is not None

    @property
    def closes_window(self) -> bool:
        return self.method == "send_realtime_input" and self.kwargs.get("activity_end") is not None

    @property
    def audio_bytes(self) -> int:
        audio = self.kwargs.get("audio") if self.method == "send_realtime_input" else None
        return len(audio.data) if audio is not None and audio.data else 0


class ResilientSession:
    """A stand-in for the AsyncSession that survives the link under it."""

    def __init__(self):
        self._session = None
        self._since_resumable: list[_Send] = []  # sent since the last resumable point
        self._queue: list[_Send] = []  # not sent yet (the link was down)
        self.kept_while_down = 0  # sends kept for the next link, all told

    @property
    def connected(self) -> bool:
        return self._session is not None

    def on_resumable_point(self, *, keep_window: bool = False) -> None:
        """A resumable sessionResumptionUpdate: a resume starts from here.

        keep_window: a window is open, or closed and not answered yet. The server may have
        made the handle before that window reached it (right after a reconnect, the setup's
        handle arrives after the window sent again), so the window stays, from its start,
        until a handle after its answer."""
        starts = [i for i, send in enumerate(self._since_resumable) if send.opens_window]
        if keep_window and starts:
            del self._since_resumable[: starts[-1]]
        else:
            self._since_resumable.clear()

    def detach(self):
        """The link is down: sends are kept from now on. Returns the session it was on."""
        session, self._session = self._session, None
        return session

    def attach(self, session, *, resumed: bool) -> list[_Send]:
        """A new link: sends go to it from now on. Returns what the server must hear again
        and what was kept, for `flush` (after the service has set the session up)."""
        if resumed:
            pending = [s for s in self._since_resumable if s.method != "send_tool_response"] + self._queue
        else:
            pending = self._window_in_progress()
        self._since_resumable, self._queue = [], []
        self._session = session
        return pending

    async def flush(self, pending: list[_Send]) -> int:
        for send in pending:
            await self._send(send)
        return len(pending)

    def _window_in_progress(self) -> list[_Send]:
        """For a fresh session, which has none of it: the realtime input from the last window's
        activityStart on (or, with no window since, what was kept: a nudge)."""
        sent = self._since_resumable + self._queue
        starts = [i for i, s in enumerate(sent) if s.opens_window]
        tail = sent[starts[-1]:] if starts else self._queue
        return [s for s in tail if s.method == "send_realtime_input"]

    # -- the AsyncSession's sends

    async def send_realtime_input(self, **kwargs) -> None:
        await self._send(_Send("send_realtime_input", kwargs))

    async def send_client_content(self, **kwargs) -> None:
        await self._send(_Send("send_client_content", kwargs))

    async def send_tool_response(self, **kwargs) -> None:
        await self._send(_Send("send_tool_response", kwargs))

    async def _send(self, send: _Send) -> None:
        if self._session is None:
            self._queue.append(send)
            self.kept_while_down += 1
            return
        try:
            await getattr(self._session, send.method)(**send.kwargs)
        except Exception as e:  # the link went down under us: keep it for the next one
            logger.info(f"Live send failed ({e}); kept for the next connection")
            self._session = None
            self._queue.append(send)
            self.kept_while_down += 1
            return
        self._since_resumable.append(send)

    # -- the rest of the AsyncSession

    def receive(self):
        return self._session.receive()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
