"""Clients for the emulator tests: google-genai's real SDK, and a raw socket to see frames."""

from __future__ import annotations

import asyncio
import heapq
import json

import websockets
from google import genai
from google.genai import types

from emulator.server import EmulatorServer
from viva.config import ExamConfig
from viva.exam.wording import system_instruction
from viva.tools import declarable_schema

LIVE_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
MODEL = "gemini-3.1-flash-live-preview"


def live_config(exam: ExamConfig, *, manual: bool = True, handle: str | None = None) -> types.LiveConnectConfig:
    """What a viva-like client asks for: audio out, both transcripts, tools, resumption."""
    declarations = [
        types.FunctionDeclaration(name=t.name, description=t.description, parameters=declarable_schema(t.parameters))
        for t in exam.tools
    ]
    return types.LiveConnectConfig(
        response_modalities=["AUDIO"],
        system_instruction=system_instruction(exam),
        tools=[types.Tool(function_declarations=declarations)] if declarations else None,
        input_audio_transcription=types.AudioTranscriptionConfig(),
        output_audio_transcription=types.AudioTranscriptionConfig(),
        realtime_input_config=types.RealtimeInputConfig(
            automatic_activity_detection=types.AutomaticActivityDetection(disabled=True)
        ) if manual else None,
        session_resumption=types.SessionResumptionConfig(handle=handle),
    )


def sdk_client(server: EmulatorServer, session_id: str | None = None) -> genai.Client:
    return genai.Client(api_key="test-key", http_options=server.http_options(session_id=session_id))


async def send_answer(session, pcm: bytes, *, chunk: int = 640) -> None:
    """One manual activity window holding pcm (16 kHz), in 20 ms messages."""
    await session.send_realtime_input(activity_start=types.ActivityStart())
    for i in range(0, len(pcm), chunk):
        await session.send_realtime_input(audio=types.Blob(data=pcm[i : i + chunk], mime_type="audio/pcm;rate=16000"))
    await session.send_realtime_input(activity_end=types.ActivityEnd())


class Turn:
    """What one receive() call gathered: audio bytes, transcripts, tool calls, handles."""

    def __init__(self):
        self.audio = 0
        self.output_text = ""
        self.input_text = ""
        self.tool_calls: list[types.FunctionCall] = []
        self.handles: list[str] = []
        self.messages: list[types.LiveServerMessage] = []
        self.turn_complete = False

    @property
    def text(self) -> str:
        return self.output_text.strip()


async def receive_turn(session) -> Turn:
    """Reads until turnComplete (or a tool call, which does not end a turn)."""
    turn = Turn()
    async for message in session.receive():
        turn.messages.append(message)
        content = message.server_content
        if message.data:
            turn.audio += len(message.data)
        if content and content.output_transcription and content.output_transcription.text:
            turn.output_text += content.output_transcription.text
        if content and content.input_transcription and content.input_transcription.text:
            turn.input_text += content.input_transcription.text
        if content and content.turn_complete:
            turn.turn_complete = True
        update = message.session_resumption_update
        if update and update.resumable and update.new_handle:
            turn.handles.append(update.new_handle)
        if message.tool_call:
            turn.tool_calls.extend(message.tool_call.function_calls)
            break
    return turn


class RawClient:
    """A bare WebSocket client that keeps every frame the emulator sends, as sent."""

    def __init__(self, server: EmulatorServer, path: str = LIVE_PATH, headers: dict | None = None):
        self._url = f"wss://localhost:{server.port}{path}"
        self._ssl = server.client_ssl_context()
        self._headers = {"x-goog-api-key": "test-key", **(headers or {})}
        self.frames: list[str | bytes] = []
        self.ws = None

    async def __aenter__(self):
        self.ws = await websockets.connect(self._url, ssl=self._ssl, additional_headers=self._headers)
        return self

    async def __aexit__(self, *exc):
        await self.ws.close()

    async def send(self, message: dict) -> None:
        await self.ws.send(json.dumps(message))

    async def recv(self, timeout: float = 10) -> dict:
        import asyncio

        frame = await asyncio.wait_for(self.ws.recv(), timeout)
        self.frames.append(frame)
        return json.loads(frame)

    async def recv_until(self, predicate, timeout: float = 20) -> list[dict]:
        received = []
        while True:
            message = await self.recv(timeout)
            received.append(message)
            if predicate(message):
                return received


class FakeClock:
    """A clock a test moves by hand (`clock.t += 1.5`); plain classes take it as their clock."""

    def __init__(self, t: float = 100.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


class VirtualTime(FakeClock):
    """A FakeClock that tasks can sleep on: `await time.sleep(s)` returns only when the test
    moves the clock past it (`await time.advance(s)`), so timers fire when the test says."""

    def __init__(self, t: float = 100.0):
        super().__init__(t)
        self._sleepers: list[tuple[float, int, asyncio.Future]] = []
        self._count = 0
        self._slept = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self._count += 1
        heapq.heappush(self._sleepers, (self.t + seconds, self._count, future))
        self._slept.set()
        await future

    async def advance(self, seconds: float) -> None:
        """Moves the clock on, waking each sleeper at its time in turn. A woken task (a timer
        loop) is waited for until it sleeps again: what it does at that time is done."""
        end = self.t + seconds
        while not self._sleepers:  # the timer's task has not begun yet
            self._slept.clear()
            await self._slept.wait()
        while self._sleepers and self._sleepers[0][0] <= end + 1e-9:
            due, _, future = heapq.heappop(self._sleepers)
            self.t = max(self.t, due)
            if future.done():  # its task was cancelled
                continue
            self._slept.clear()
            future.set_result(None)
            await self._slept.wait()
        self.t = end
