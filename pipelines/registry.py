"""The stages a config's `pipeline:` list may name, with their parameters.

Each stage is a name, a pydantic model of its parameters (validated when the config is
loaded, so a typo is caught before anything runs) and a factory that builds its
processor. Factories import Pipecat lazily: validating a config stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from pipecat.processors.frame_processor import FrameProcessor

    from pipelines.context import StageContext


class StageParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SileroVadParams(StageParams):
    """Pipecat's Silero VAD (VADParams)."""

    confidence: float = Field(default=0.7, ge=0, le=1)
    start_secs: float = Field(default=0.2, ge=0)
    stop_secs: float = Field(default=0.8, ge=0)
    min_volume: float = Field(default=0.6, ge=0, le=1)


class TurnGateParams(StageParams):
    """The turn gate: activity windows from VAD speech, nothing outside them."""

    preroll_s: float = Field(default=0.5, ge=0, le=2, description="audio before the VAD's start sent inside the window")


class GeminiLiveParams(StageParams):
    """Pipecat's GeminiLiveLLMService; model settings come from the config's `llm:`."""


class ExamEndParams(StageParams):
    """Ends the session once the closing phrase has been heard and the result is in."""

    drain_s: float = Field(default=0.5, ge=0, description="wait after the examiner's audio stops")
    max_session_s: float = Field(default=1200, gt=0, description="end the session, failed, after this long")


@dataclass(frozen=True)
class Stage:
    name: str
    params: type[StageParams]
    build: Callable[[Any, "StageContext"], "FrameProcessor"]
    summary: str


def _silero_vad(params: SileroVadParams, context: "StageContext"):
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.audio.vad.vad_analyzer import VADParams
    from pipecat.processors.audio.vad_processor import VADProcessor

    analyzer = SileroVADAnalyzer(params=VADParams(**params.model_dump()))
    return VADProcessor(vad_analyzer=analyzer)


def _turn_gate(params: TurnGateParams, context: "StageContext"):
    from processors.turn_gate import TurnGateProcessor

    return TurnGateProcessor(preroll_s=params.preroll_s, on_event=context.record.event)


def _gemini_live(params: GeminiLiveParams, context: "StageContext"):
    from pipelines.gemini import gemini_live_service

    return gemini_live_service(context)


def _exam_end(params: ExamEndParams, context: "StageContext"):
    from processors.exam_end import ExamEndProcessor

    return ExamEndProcessor(
        closing_phrase=context.config.exam.closing_phrase,
        results=context.results,
        record=context.record,
        drain_s=params.drain_s,
        max_session_s=params.max_session_s,
    )


STAGES: dict[str, Stage] = {
    stage.name: stage
    for stage in [
        Stage("silero_vad", SileroVadParams, _silero_vad, "Pipecat's Silero VAD on the candidate's audio"),
        Stage("turn_gate", TurnGateParams, _turn_gate, "activity windows around speech; no audio outside them"),
        Stage("gemini_live", GeminiLiveParams, _gemini_live, "the Gemini Live service (or the emulator)"),
        Stage("exam_end", ExamEndParams, _exam_end, "ends the session after the closing and the result"),
    ]
}
