"""The `pipecat_user_turns` stage: Pipecat's own user-turn handling, the baseline the turn gate is
measured against (its user aggregator with Silero VAD, and Smart Turn unless turned off).

Its builder (`build`) is here (the processor is Pipecat's); its parameters (`PipecatUserTurnsParams`)
are in viva/pipelines/registry.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair, LLMUserAggregatorParams
from pipecat.turns.user_stop.speech_timeout_user_turn_stop_strategy import SpeechTimeoutUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies

from viva.pipelines.registry import PipecatUserTurnsParams

if TYPE_CHECKING:
    from pipecat.processors.frame_processor import FrameProcessor

    from viva.pipelines.context import StageContext


def build(params: PipecatUserTurnsParams, context: StageContext | None) -> FrameProcessor:
    """Pipecat's user aggregator (it needs no session); False smart_turn: a speech timeout ends the turn."""
    vad = VADParams(confidence=params.confidence, start_secs=params.start_secs,
                    stop_secs=params.stop_secs, min_volume=params.min_volume)
    strategies = None if params.smart_turn else UserTurnStrategies(stop=[SpeechTimeoutUserTurnStopStrategy()])
    pair = LLMContextAggregatorPair(LLMContext(), user_params=LLMUserAggregatorParams(
        vad_analyzer=SileroVADAnalyzer(params=vad), user_turn_strategies=strategies))
    return pair.user()
