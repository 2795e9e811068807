"""Where a command's sessions send the model's traffic: the real Live API, or the emulator."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from emulator.server import EmulatorServer
from emulator.session import SessionSettings
from emulator.voice import ExaminerVoice
from pipelines.context import LLMTarget
from viva.exam_session import api_key_from_environment


def gemini_target() -> LLMTarget:
    return LLMTarget(kind="gemini", api_key=api_key_from_environment())


def emulator_server(*, out: Path, faults=None) -> EmulatorServer:
    """An emulator that knows only what viva sends it; journals under out (use as `async with`)."""
    return EmulatorServer(log_dir=out, settings=SessionSettings(voice=ExaminerVoice()),
                          faults=faults)


def emulator_target(emulator: EmulatorServer, *, session_id: str, run: int = 0) -> LLMTarget:
    return LLMTarget(kind="emulator", api_key="emulator",
                     http_options=emulator.http_options(session_id=session_id, run=run),
                     rest_http_options=emulator.rest_http_options(session_id=session_id))


@asynccontextmanager
async def llm_target(kind: str, *, config, out: Path, session_id: str):
    """The LLMTarget of one session; with the emulator, served while the session runs."""
    if kind == "gemini":
        yield gemini_target()
        return
    async with emulator_server(out=out) as emulator:
        yield emulator_target(emulator, session_id=session_id)
