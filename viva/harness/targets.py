"""Where a command's sessions send the model's traffic: the real Live API, or the emulator."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from emulator.server import EmulatorServer
from emulator.session import SessionSettings
from emulator.voice import ExaminerVoice
from viva.exam_session import gemini_targets
from viva.pipelines.context import LLMTarget, TargetFactory


def emulator_server(*, out: Path, faults=None) -> EmulatorServer:
    """An emulator that knows only what viva sends it; journals under out (use as `async with`)."""
    return EmulatorServer(log_dir=out, settings=SessionSettings(voice=ExaminerVoice()),
                          faults=faults)


def emulator_target(emulator: EmulatorServer, *, session_id: str, run: int = 0) -> LLMTarget:
    return LLMTarget(kind="emulator", api_key="emulator",
                     http_options=emulator.http_options(session_id=session_id, run=run))


@asynccontextmanager
async def emulator_targets(*, config, out: Path, session_id: str):
    """A TargetFactory (viva/pipelines/context.py): an emulator served while the session runs."""
    async with emulator_server(out=out) as emulator:
        yield emulator_target(emulator, session_id=session_id)


def targets_for(kind: str) -> TargetFactory:
    """The TargetFactory that `--llm KIND` names: "gemini" or "emulator"."""
    return gemini_targets if kind == "gemini" else emulator_targets
