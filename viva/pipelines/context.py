"""What a stage factory gets to build its processor."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from google import genai
from google.genai import types

from viva.config import VivaConfig
from viva.record import SessionRecord
from viva.results import ResultCollector


@dataclass
class LLMTarget:
    """Where the model's traffic goes: the real API, or an emulator. http_options serve the Live
    service and the REST requests (text extraction, the TTS of the closing viva says itself)
    alike: one host answers both, the emulator as the real service."""

    kind: str  # "gemini" or "emulator"
    api_key: str
    http_options: types.HttpOptions | None = None

    def model_extract(self, model: str):
        """async (transcript, tool) -> arguments or None, by a text model request to this target."""
        from viva.extraction import extract_with_model

        async def extract(transcript: str, tool):
            client = genai.Client(api_key=self.api_key, http_options=self.http_options)
            return await extract_with_model(transcript=transcript, tool=tool, client=client, model=model)

        return extract


class TargetFactory(Protocol):
    """The LLMTarget of one session, held while the session runs (`async with`): the real API's
    is just a value; a stand-in for it (viva/harness/targets.py) is served for the session."""

    def __call__(self, *, config: VivaConfig, out: Path, session_id: str) -> AbstractAsyncContextManager[LLMTarget]: ...


@dataclass
class StageContext:
    config: VivaConfig
    record: SessionRecord
    results: ResultCollector
    llm: LLMTarget
    # The text that starts the examiner; the exam director's stage sets it to its first cue.
    opening: Callable[[], str] | None = None
    # The examiner's judgement (function name, choice) -> the next step's cue; the exam director's stage sets it.
    judge: Callable[[str, str], Awaitable[str | None]] | None = None

    @property
    def directed(self) -> bool:
        """Whether viva conducts the exam step by step (the exam_director stage)."""
        return any(spec.name == "exam_director" for spec in self.config.stages)
