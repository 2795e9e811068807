"""What a stage factory gets to build its processor."""

from __future__ import annotations

from dataclasses import dataclass

from google.genai import types

from viva.config import VivaConfig
from viva.record import SessionRecord
from viva.results import ResultCollector


@dataclass
class LLMTarget:
    """Where the Live service connects: the real API, or an emulator."""

    kind: str  # "gemini" or "emulator"
    api_key: str
    http_options: types.HttpOptions | None = None


@dataclass
class StageContext:
    config: VivaConfig
    record: SessionRecord
    results: ResultCollector
    llm: LLMTarget
