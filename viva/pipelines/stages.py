"""How each stage of a config's `pipeline:` list is built into its processor.

The stages' names and parameters are in viva/pipelines/registry.py, which config loading
reads; building needs the session (StageContext) and Pipecat, so it is here, imported
only when a pipeline is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from viva.pipelines.registry import (
    ClosingGuardParams,
    ExamDirectorParams,
    ExamEndParams,
    GeminiLiveParams,
    PipecatUserTurnsParams,
    SileroVadParams,
    StallWatchdogParams,
    TurnGateParams,
    live_takes_cues,
)

if TYPE_CHECKING:
    from pipecat.processors.frame_processor import FrameProcessor

    from viva.pipelines.context import StageContext


def _silero_vad(params: SileroVadParams, context: "StageContext"):
    from pipecat.audio.vad.vad_analyzer import VADParams

    from viva.processors.voicing_vad import VoicingSileroAnalyzer, VoicingVADProcessor

    return VoicingVADProcessor(vad_analyzer=VoicingSileroAnalyzer(params=VADParams(**params.model_dump())))


def _turn_gate(params: TurnGateParams, context: "StageContext"):
    from viva.processors.turn_gate import TurnGateProcessor

    record = context.record if context is not None else None
    uses_model = "smart_turn" in {params.end_of_turn, *(p.end_of_turn for p in params.parts.values())}
    if uses_model:
        from viva.processors.end_of_turn import smart_turn_model
    return TurnGateProcessor(
        settings=params.settings(),
        part_overrides={name: part.model_dump(exclude_none=True) for name, part in params.parts.items()},
        timed_end_silence_s=params.timed_end_silence_s,
        end_of_turn_model=smart_turn_model() if uses_model else None,
        on_event=record.event if record is not None else None)


def _exam_director(params: ExamDirectorParams, context: "StageContext"):
    from viva.exam.controller import controller_for
    from viva.processors.exam_director import ExamDirectorProcessor

    record = context.record
    controller = controller_for(context.config.exam, params, origin=record.started_at)  # record's clock: monotonic
    processor = ExamDirectorProcessor(director=controller, closing_phrase=context.config.exam.closing_phrase,
                                      on_event=record.event, on_plan=record.set_plan)
    context.opening = processor.opening
    context.judge = processor.judge
    return processor


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
    from viva.pipelines.gemini import gemini_live_service

    context.results.validate = params.validate_tool_args
    return gemini_live_service(context, params)


def _stall_watchdog(params: StallWatchdogParams, context: "StageContext"):
    from viva.processors.stall_watchdog import StallWatchdogProcessor

    return StallWatchdogProcessor(
        nudge_text=params.nudge_text, on_event=context.record.event,
        deadline_s=params.deadline_s, retry_s=params.retry_s, max_nudges=params.max_nudges,
        reconnect=params.reconnect)


def _closing_guard(params: ClosingGuardParams, context: "StageContext"):
    from viva.processors.closing_guard import ClosingGuardProcessor

    return ClosingGuardProcessor(closing_phrase=context.config.exam.closing_phrase, gap_s=params.gap_s,
                                 on_event=context.record.event)


def _exam_end(params: ExamEndParams, context: "StageContext"):
    from viva.closing_voice import ClosingVoice
    from viva.processors.exam_end import ExamEndProcessor
    from viva.processors.tool_fallback import ToolFallback

    fallback = None
    if params.extraction != "none":
        model_extract = context.llm.model_extract(context.config.llm.extraction_model) \
            if params.extraction == "model_then_parser" else None
        fallback = ToolFallback(context.results, model_extract=model_extract)
    llm, target = context.config.llm, context.llm
    say = ClosingVoice(api_key=target.api_key, http_options=target.rest_http_options or target.http_options,
                       model=llm.tts_model, voice=llm.voice, language=llm.language) if params.say_closing else None
    takes_cues = live_takes_cues(context.config)

    return ExamEndProcessor(
        closing_phrase=context.config.exam.closing_phrase,
        results=context.results,
        record=context.record,
        drain_s=params.drain_s,
        closing_wait_s=params.closing_wait_s,
        result_wait_s=params.result_wait_s,
        cue_wait_s=params.cue_wait_s if params.say_closing and takes_cues else None,
        fallback=fallback,
        say=say,
    )


BUILDERS: dict[str, Callable[[Any, "StageContext"], "FrameProcessor"]] = {
    "silero_vad": _silero_vad,
    "turn_gate": _turn_gate,
    "gemini_live": _gemini_live,
    "exam_director": _exam_director,
    "stall_watchdog": _stall_watchdog,
    "closing_guard": _closing_guard,
    "exam_end": _exam_end,
    "pipecat_user_turns": _pipecat_user_turns,
}


def build_stage(name: str, params, context: "StageContext | None") -> "FrameProcessor":
    """The processor of stage `name` with its validated parameters (context None: a stage that needs no session)."""
    return BUILDERS[name](params, context)
