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
    confirm_s: float = Field(default=0.2, ge=0, le=2,
                             description="how long the VAD's start must last before the window opens")


class GeminiLiveParams(StageParams):
    """Pipecat's GeminiLiveLLMService; model settings come from the config's `llm:`."""

    end_on_tool_result: bool = Field(
        default=False,
        description="Pipecat's own way to finish: end the pipeline once the result is in "
        "(the service holds the end until the examiner's turn is over)",
    )
    validate_tool_args: bool = Field(
        default=True, description="answer arguments that break the schema with the error (False: take them)")


class PipecatUserTurnsParams(StageParams):
    """Pipecat's own user-turn handling: its user aggregator with Silero VAD (and Smart Turn)."""

    confidence: float = Field(default=0.7, ge=0, le=1)
    start_secs: float = Field(default=0.2, ge=0)
    stop_secs: float = Field(default=0.2, ge=0)
    min_volume: float = Field(default=0.6, ge=0, le=1)
    smart_turn: bool = Field(default=True, description="Pipecat's default end-of-turn model")


class ExamEndParams(StageParams):
    """Ends the session once the closing phrase has been heard and the result is in."""

    drain_s: float = Field(default=0.5, ge=0, description="wait after the examiner's audio stops")


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

    record = context.record if context is not None else None
    return TurnGateProcessor(preroll_s=params.preroll_s, confirm_s=params.confirm_s,
                             on_event=record.event if record is not None else None)


def _pipecat_user_turns(params: PipecatUserTurnsParams, context: "StageContext"):
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.audio.vad.vad_analyzer import VADParams
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.aggregators.llm_response_universal import (
        LLMContextAggregatorPair,
        LLMUserAggregatorParams,
    )
    from pipecat.turns.user_stop.speech_timeout_user_turn_stop_strategy import SpeechTimeoutUserTurnStopStrategy
    from pipecat.turns.user_turn_strategies import UserTurnStrategies

    vad = VADParams(confidence=params.confidence, start_secs=params.start_secs,
                    stop_secs=params.stop_secs, min_volume=params.min_volume)
    strategies = None if params.smart_turn else UserTurnStrategies(stop=[SpeechTimeoutUserTurnStopStrategy()])
    pair = LLMContextAggregatorPair(LLMContext(), user_params=LLMUserAggregatorParams(
        vad_analyzer=SileroVADAnalyzer(params=vad), user_turn_strategies=strategies))
    return pair.user()


def _gemini_live(params: GeminiLiveParams, context: "StageContext"):
    from pipelines.gemini import gemini_live_service

    context.results.validate = params.validate_tool_args
    return gemini_live_service(context, end_on_tool_result=params.end_on_tool_result)


def _exam_end(params: ExamEndParams, context: "StageContext"):
    from processors.exam_end import ExamEndProcessor

    return ExamEndProcessor(
        closing_phrase=context.config.exam.closing_phrase,
        results=context.results,
        record=context.record,
        drain_s=params.drain_s,
    )


STAGES: dict[str, Stage] = {
    stage.name: stage
    for stage in [
        Stage("silero_vad", SileroVadParams, _silero_vad, "Pipecat's Silero VAD on the candidate's audio"),
        Stage("turn_gate", TurnGateParams, _turn_gate, "activity windows around speech; no audio outside them"),
        Stage("gemini_live", GeminiLiveParams, _gemini_live, "the Gemini Live service (or the emulator)"),
        Stage("exam_end", ExamEndParams, _exam_end, "ends the session after the closing and the result"),
        Stage("pipecat_user_turns", PipecatUserTurnsParams, _pipecat_user_turns,
              "Pipecat's own user turns (its user aggregator with VAD): the baseline"),
    ]
}
