"""The stages a config's `pipeline:` list may name: each with its parameters, summary and check.

Every stage's parameters are defined once, here: a pydantic model with each field's default
and description, validated when the config is loaded (so a typo is caught before anything
runs); each class's docstring names the processor it configures, and that processor takes
the object (it restates no default). Each stage's builder, `build(params, context)`, is in
its processor's module (`Stage.module`), imported only when a pipeline is built
(`Stage.build`, `build_stage`). This module imports only pydantic: loading a config
(viva.config reads this registry) imports neither Pipecat nor a processor, and the
processors, which read viva.config, import their parameters from here without a cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

if TYPE_CHECKING:
    from pipecat.processors.frame_processor import FrameProcessor

    from viva.pipelines.context import StageContext


class StageParams(BaseModel):
    """A stage's parameters: every key a config may give it (an unknown key is an error)."""

    model_config = ConfigDict(extra="forbid")


class SileroVadParams(StageParams):
    """The `silero_vad` stage: configures VoicingVADProcessor (viva/processors/voicing_vad.py),
    Pipecat's Silero VAD (these are its VADParams); each frame is also marked with its confidence
    and volume."""

    confidence: float = Field(default=0.7, ge=0, le=1)
    start_secs: float = Field(default=0.2, ge=0)
    stop_secs: float = Field(default=0.3, ge=0, description="silence before a pause begins (the turn gate "
                             "decides whether the pause ends the turn)")
    min_volume: float = Field(default=0.6, ge=0, le=1)


EndOfTurn = Literal["silence", "smart_turn"]


class GateSettings(StageParams):
    """How the turn gate decides: configures TurnGate (viva/processors/turn_gate.py). The `turn_gate`
    stage's parameters but its timed answers and part overrides (TurnGateParams adds those), with
    the stage's defaults."""

    model_config = ConfigDict(frozen=True)

    preroll_s: float = Field(default=0.5, ge=0, le=2, description="audio before the VAD's start sent inside the window")
    confirm_s: float = Field(default=0.4, ge=0, le=3,
                             description="voiced audio (at confidence and min_volume) that opens a window")
    confirm_gap_s: float = Field(default=0.8, gt=0, le=3, description="a stop this long before the window "
                                 "opens ends the attempt (a noise burst); shorter ones keep counting")
    confidence: float = Field(default=0.7, ge=0, le=1, description="Silero confidence for a frame to count as voiced")
    min_volume: float = Field(default=0.6, ge=0, le=1, description="volume for a frame to count as voiced")
    pause_tolerance_s: float = Field(default=1.5, gt=0, le=30,
                                     description="silence inside an answer that does not end it")
    end_of_turn: EndOfTurn = Field(
        default="smart_turn", description="silence: close at pause_tolerance_s; smart_turn: also ask Pipecat's "
        "Smart Turn model at each pause, and close at end_silence_s when it calls the turn complete")
    # 1.0 s and 2.5 s: the point of docs/gate_corpus.md's trade-off curve that splits no answer of
    # the corpus (audio/), with 0.2 s to spare over the longest pause Smart Turn called complete.
    end_silence_s: float = Field(default=1.0, gt=0, le=30,
                                 description="silence that ends a turn Smart Turn called complete")
    smart_turn_threshold: float = Field(default=0.5, ge=0, le=1)
    min_answer_s: float = Field(default=2.5, ge=0, le=30, description="voiced audio an answer needs before Smart "
                                "Turn may end it (an opening phrase sounds finished); before, pauses wait "
                                "pause_tolerance_s")
    # Measured with Silero on audio/ (tests/processors/test_turn_gate_audio.py): a clatter with
    # a word from another room counts up to 0.6 s, up to 1.1 s over the examiner's echo at -20 dB
    # (the echo is voiced, the noise loud); a sentence over the examiner reaches 1.2 s 1.2-1.7 s
    # after its onset. Without the gap rule the echo through 2 s of kitchen clatter counted 1.5 s.
    barge_in_confirm_s: float = Field(default=1.2, ge=0, le=3,
                                      description="voiced audio (at barge_in_min_volume, without a gap of "
                                      "barge_in_gap_s) that opens a window while the examiner speaks")
    barge_in_min_volume: float = Field(default=0.75, ge=0, le=1,
                                       description="volume that counts while the examiner speaks (its echo is quieter)")
    barge_in_gap_s: float = Field(default=0.3, gt=0, le=3, description="while the examiner speaks, audio this long "
                                  "without a counted frame starts the count again (a word and a clatter do not add up)")
    half_duplex: bool = Field(default=False, description="no window while the examiner speaks (local audio without AEC)")
    echo_tail_s: float = Field(default=0.3, ge=0, le=2, description="the examiner counts as audible this long after")


def _unset_or(name: str) -> tuple:
    """GateSettings's field `name` as an override: None (unset) or a value it takes."""
    field = GateSettings.model_fields[name]
    kind = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    return kind | None, Field(default=None, description=field.description)


GatePartParams = create_model(
    "GatePartParams", __base__=StageParams, __module__=__name__,
    __doc__="What an exam part changes in the turn gate (`turn_gate.parts`; TurnGateProcessor, "
            "viva/processors/turn_gate.py, applies it in that part; unset: the stage's value).",
    **{name: _unset_or(name) for name in ("confirm_s", "pause_tolerance_s", "end_of_turn", "end_silence_s",
                                          "min_answer_s", "barge_in_confirm_s", "half_duplex")})


class TurnGateParams(GateSettings):
    """The `turn_gate` stage: configures TurnGateProcessor (viva/processors/turn_gate.py): activity
    windows around confirmed speech, nothing outside them."""

    timed_end_silence_s: float = Field(default=4.0, gt=0, le=60, description="a timed answer (an answer limit, a "
                                       "long turn) runs to its limit; only this much silence ends it earlier")
    parts: dict[str, GatePartParams] = Field(default_factory=dict, description="overrides by exam part name (never "
                                             "needed: the gate follows the step being answered)")

    def settings(self, part: str | None = None, answer: str = "open") -> GateSettings:
        """The gate's settings: the stage's, then the answer's (a timed one ends on silence, at
        timed_end_silence_s at least), then the part's overrides, which win."""
        values = self.model_dump(include=set(GateSettings.model_fields))
        if answer == "timed":
            values |= {"end_of_turn": "silence",
                       "pause_tolerance_s": max(values["pause_tolerance_s"], self.timed_end_silence_s)}
        if part is not None and part in self.parts:
            values |= self.parts[part].model_dump(exclude_none=True)
        return GateSettings(**values)


class GeminiLiveParams(StageParams):
    """The `gemini_live` stage: configures the Live service (viva/pipelines/gemini.py:
    ExamGeminiLiveService, or Pipecat's GeminiLiveLLMService) and its ReconnectPolicy; model
    settings come from the config's `llm:`."""

    end_on_tool_result: bool = Field(
        default=False,
        description="Pipecat's own way to finish: end the pipeline once the result is in "
        "(the service holds the end until the examiner's turn is over)",
    )
    validate_tool_args: bool = Field(
        default=True, description="answer arguments that break the schema with the error (False: take them)")
    resilient: bool = Field(default=True, description="viva's connection handling (viva/pipelines/gemini.py): backoff, "
                            "resumption, goAway, nothing lost; False: Pipecat's own")
    reconnect_schedule_s: list[float] = Field(default=[1.0, 2.0, 4.0], min_length=1,
                                              description="waits before reconnect attempts 1, 2, 3...")
    reconnect_jitter: float = Field(default=0.2, ge=0, le=1)
    reconnect_budget_s: float = Field(default=30.0, gt=0, description="no attempt later than this after a drop")
    go_away_margin_s: float = Field(default=5.0, ge=0, description="reconnect at the latest this long before a "
                                    "goAway's time runs out")
    ping_timeout_s: float = Field(default=60.0, gt=0, description="keepalive: pongs may be this slow (8 to 30 s seen)")


class PipecatUserTurnsParams(StageParams):
    """The `pipecat_user_turns` stage: configures Pipecat's own user-turn handling
    (viva/pipelines/pipecat_user_turns.py): its user aggregator with Silero VAD (and Smart Turn)."""

    confidence: float = Field(default=0.7, ge=0, le=1)
    start_secs: float = Field(default=0.2, ge=0)
    stop_secs: float = Field(default=0.2, ge=0)
    min_volume: float = Field(default=0.6, ge=0, le=1)
    smart_turn: bool = Field(default=True, description="Pipecat's default end-of-turn model")


class StallWatchdogParams(StageParams):
    """The `stall_watchdog` stage: configures StallWatchdog and StallWatchdogProcessor
    (viva/processors/stall_watchdog.py): nudges a model that stays silent after an answer (then
    reconnects as a last resort)."""

    deadline_s: float = Field(default=3.0, gt=0, le=60, description="silence after an answer before the first nudge")
    retry_s: float = Field(default=0.25, gt=0, le=60, description="wait before the next nudge, doubled each time")
    max_nudges: int = Field(default=4, ge=0, le=20)
    reconnect: bool = Field(default=True, description="reconnect once the nudges are spent")
    nudge_text: str = Field(default="(The candidate has finished answering. Please continue with the exam.)",
                            min_length=1)


class ClosingGuardParams(StageParams):
    """The `closing_guard` stage: configures ClosingGuardProcessor (viva/processors/closing_guard.py):
    the candidate hears the closing phrase once, later examiner audio is cut."""

    gap_s: float = Field(default=0.2, gt=0, le=2, description="quiet after the phrase that ends its audio")


class ExamDirectorParams(StageParams):
    """The `exam_director` stage: configures the ExamController (viva/exam/controller.py) that
    ExamDirectorProcessor (viva/processors/exam_director.py) carries out: each step cued when due,
    checked, timed (the plan is the config's exam)."""

    silence_reask_s: float = Field(default=10.0, gt=0, le=120, description="a candidate silent this long after a "
                                   "question is asked it again, once; then given the next one")
    match: float = Field(default=0.5, gt=0, le=1, description="share of a question's content words the examiner "
                         "must have said for it to count as asked")


class ExamEndParams(StageParams):
    """The `exam_end` stage: configures ExamEndProcessor (viva/processors/exam_end.py): ends the
    session once the closing phrase has been heard; a result never called for is extracted from
    the examiner's transcript on the way out."""

    drain_s: float = Field(default=0.5, ge=0, description="wait after the examiner's audio stops")
    closing_wait_s: float = Field(default=5.0, gt=0, le=60, description="quiet after the result before the model "
                                  "is asked for the closing phrase it never said")
    # As long as the exam director gives a cue to answer at once (its REPLY_WAIT_S): the model
    # begins within a second or two; once it speaks, nothing is decided until it stops.
    cue_wait_s: float = Field(default=4.0, gt=0, le=60, description="after that cue, how long the model has to "
                              "begin saying the phrase before viva says it itself")
    result_wait_s: float = Field(default=10.0, gt=0, le=120, description="after viva has said the closing "
                                 "because the model was saying marks aloud, how long the result is waited for "
                                 "once the model has fallen quiet")
    say_closing: bool = Field(default=True, description="when the model does not say the closing phrase, ask it "
                              "to (if the Live service takes cues), then say it in the examiner's voice (Gemini TTS, "
                              "llm.tts_model)")
    extraction: Literal["model_then_parser", "parser", "none"] = Field(
        default="model_then_parser", description="how a result the model only spoke is taken from its transcript")


@dataclass(frozen=True)
class Stage:
    name: str
    params: type[StageParams]
    module: str  # the processor's module, which defines build(params, context)
    summary: str
    check: Callable[[Any, Any], list[tuple[tuple, str]]] | None = None  # against the whole config
    speaks: bool = False  # its output is the examiner's words (the closing finder follows it)

    @property
    def build(self) -> Callable[[Any, StageContext | None], FrameProcessor]:
        """The stage's builder (imports its module, and with it Pipecat)."""
        return import_module(self.module).build


def _turn_gate_check(params: TurnGateParams, config) -> list[tuple[tuple, str]]:
    names = [part.name for part in config.exam.parts]
    return [(("parts", name), f"no exam part is called {name!r}; expected one of: {', '.join(names)}")
            for name in params.parts if name not in names]


def live_takes_cues(config) -> bool:
    """Whether the model can be cued (ExamCueFrame): only viva's Live service (a gemini_live stage with
    resilient: true, the default) sends cues; Pipecat's own would let one pass unsent."""
    live = [stage for stage in config.pipeline if stage.get("stage") == "gemini_live"]
    return bool(live) and live[0].get("resilient", True) is not False


def _exam_director_check(params: ExamDirectorParams, config) -> list[tuple[tuple, str]]:
    if not live_takes_cues(config):
        return [((), "the exam director cues the model through viva's Live service: it needs a gemini_live stage "
                     "with resilient: true")]
    return []


STAGES: dict[str, Stage] = {
    stage.name: stage
    for stage in [
        Stage("silero_vad", SileroVadParams, "viva.processors.voicing_vad",
              "Pipecat's Silero VAD on the candidate's audio"),
        Stage("turn_gate", TurnGateParams, "viva.processors.turn_gate",
              "activity windows around confirmed speech; no audio outside them", _turn_gate_check),
        Stage("gemini_live", GeminiLiveParams, "viva.pipelines.gemini",
              "the Gemini Live service (or the emulator)", speaks=True),
        Stage("exam_director", ExamDirectorParams, "viva.processors.exam_director",
              "conducts the exam: cues each step when due, checks it was asked, holds the preparation, cuts the "
              "long turn", _exam_director_check),
        Stage("stall_watchdog", StallWatchdogParams, "viva.processors.stall_watchdog",
              "nudges a model silent after an answer; reconnects as a last resort"),
        Stage("closing_guard", ClosingGuardParams, "viva.processors.closing_guard",
              "the closing phrase heard once: the examiner's audio after it is cut"),
        Stage("exam_end", ExamEndParams, "viva.processors.exam_end",
              "ends the session after the closing and the result"),
        Stage("pipecat_user_turns", PipecatUserTurnsParams, "viva.pipelines.pipecat_user_turns",
              "Pipecat's own user turns (its user aggregator with VAD): the baseline"),
    ]
}


def build_stage(name: str, params, context: StageContext | None) -> FrameProcessor:
    """The processor of stage `name` with its validated parameters (context None: a stage that needs no session)."""
    return STAGES[name].build(params, context)
