"""viva's config format: one YAML file per exam format.

This module holds the exam part (what an examiner, real or emulated, needs to run
the exam) and the model settings.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from viva.errors import BadInput
from viva.scoring import ScoreRule, check_scores
from viva.input_files import Places, format_key_path, read_document, validate


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CueCard(Strict):
    """IELTS Part 2 style task card: a topic and the points to cover."""

    topic: str
    points: list[str] = Field(default_factory=list)

    def spoken(self) -> str:
        """The card as the examiner reads it out."""
        if not self.points:
            return f"Your topic is: {self.topic}"
        return f"Your topic is: {self.topic} You should say: {'; '.join(self.points)}."


class Role(Strict):
    """A part in which the examiner model plays someone the candidate talks to (a patient,
    a shopkeeper) from a brief, for a set time; the candidate leads."""

    brief: str = Field(description="who the model plays, in the second person; it answers from this")
    opening_line: str = Field(description="what the role says first")
    time_s: float = Field(gt=0, description="how long the role-play runs from the opening line")
    closing_line: str = Field(default="Thank you. That is the end of the role-play.",
                              description="said, in front of the next step, when the time is up")

    @field_validator("brief")
    @classmethod
    def _no_double_quotes(cls, value: str) -> str:
        if '"' in value:
            raise ValueError("a role's brief may not contain double quotes (the cue quotes the opening line)")
        return " ".join(value.split())


class Judgement(Strict):
    """After a part's last answer the examiner judges, through a function it calls; the choice
    names the part that comes next (the exam branches on the examiner's judgement)."""

    tool: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", description="the function's name, declared to "
                      "the model; its one argument, `judgement`, is one of the choices")
    question: str = Field(min_length=1, description="what the examiner judges (the function's description)")
    choices: dict[str, str] = Field(min_length=2, description="each judgement -> the part that comes next "
                                    "(`end`: the assessment)")


class ExamPart(Strict):
    """One part of the exam, asked in order."""

    name: str
    intro: str | None = None
    cue_card: CueCard | None = None
    prep_s: float = Field(default=0, ge=0, description="silent preparation after the cue card, or reading "
                          "time after the intro of a part with a role")
    long_turn_s: float | None = Field(default=None, gt=0, description="time allowed for the long turn")
    questions: list[str] = Field(default_factory=list)
    duration_min: tuple[float, float] | None = Field(default=None, description="planned minutes, low and high; "
                                                     "past the high one the exam moves to the next part")
    start_line: str = Field(default="All right? Remember you have one to two minutes for this. Don't worry if I "
                            "stop you. I'll tell you when the time is up. Can you start speaking now, please?",
                            description="said when the preparation is over")
    time_up_line: str = Field(default="Thank you.", description="said when the long turn is cut at its limit")
    answer_s: float | None = Field(default=None, gt=0, description="each answer to a question of this part "
                                   "is cut at this limit (a hard cut; time_up_line leads the next step)")
    question_prep_s: float = Field(default=0, ge=0, description="silent preparation after each question; then "
                                   "start_line is said and the answer is timed")
    reask: bool = Field(default=True, description="a candidate silent after a question is asked it once more; "
                        "false: the next one follows (an item said once)")
    role: Role | None = Field(default=None, description="the examiner plays a role, after the part's questions")
    judge: Judgement | None = Field(default=None, description="after the part, the examiner's judgement chooses "
                                    "the next part")
    next: str | None = Field(default=None, description="the part after this one (default: the next listed; "
                             "`end`: the assessment)")
    if_no_answer: str | None = Field(default=None, description="the part that follows a question of this part the "
                                     "candidate leaves unanswered (after it is asked again), instead of the "
                                     "next step (`end`: the assessment)")
    if_cut: str | None = Field(default=None, description="the part that follows an answer of this part cut at its "
                               "limit, instead of the next step (`end`: the assessment)")

    @property
    def outcomes(self) -> dict[str, str]:
        """What happened to an answer of this part -> the part it leads to."""
        return {outcome: target for outcome, target in (("no_answer", self.if_no_answer), ("cut", self.if_cut))
                if target}


class ToolSpec(Strict):
    """A function the examiner model must call to hand in the result."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    description: str
    parameters: dict[str, Any]
    required: bool = True

    @field_validator("parameters")
    @classmethod
    def _is_json_schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            jsonschema.Draft202012Validator.check_schema(value)
        except jsonschema.SchemaError as e:
            raise ValueError(f"not a valid JSON schema: {e.message}") from None
        if value.get("type") != "object":
            raise ValueError("a tool's parameters must be a JSON schema of type object")
        return value


class ExamConfig(Strict):
    """The exam as the examiner runs it."""

    name: str
    greeting: str | list[str] = Field(description="said first; each line that asks something (has a \"?\") is a "
                                      "turn of its own, answered before anything else is said")
    system_prompt: str
    parts: list[ExamPart] = Field(min_length=1)
    closing_phrase: str
    tools: list[ToolSpec] = Field(default_factory=list)
    opening_prompt: str = Field(
        default="The candidate has joined and is ready. Please begin the exam.",
        description="the text that starts the examiner (sent once, when the session begins)",
    )
    scores: list[ScoreRule] = Field(default_factory=list, description="derived scores viva computes by rule "
                                    "from the tool's marks (viva/scoring.py)")

    @model_validator(mode="after")
    def _scores_name_known_marks(self) -> "ExamConfig":
        check_scores(self.scores, self.tools)
        return self

    @model_validator(mode="after")
    def _parts_lead_to_known_parts(self) -> "ExamConfig":
        names = [part.name for part in self.parts]
        repeated = sorted(name for name, count in Counter(names).items() if count > 1)
        if repeated:
            raise ValueError(f"two parts have the same name: {repeated}")
        known, tools = set(names), {tool.name for tool in self.tools}
        for part in self.parts:
            targets = [part.next] if part.next else []
            targets += list(part.judge.choices.values()) if part.judge else []
            targets += list(part.outcomes.values())
            for target in targets:
                if target != "end" and target not in known:
                    raise ValueError(f"part {part.name!r} leads to {target!r}: no part has that name "
                                     f"(expected one of: {', '.join([*names, 'end'])})")
            if part.judge and part.judge.tool in tools:
                raise ValueError(f"part {part.name!r}: judgement function {part.judge.tool!r} is also in tools")
        _no_loop(self.parts)
        return self

    @property
    def greeting_lines(self) -> list[str]:
        return [self.greeting] if isinstance(self.greeting, str) else list(self.greeting)

    @property
    def required_tools(self) -> list[ToolSpec]:
        return [tool for tool in self.tools if tool.required]

    @property
    def judgement_tools(self) -> list[ToolSpec]:
        """The functions the examiner calls with a judgement (never part of the result)."""
        return [ToolSpec(name=part.judge.tool, description=part.judge.question, required=False,
                         parameters={"type": "object", "required": ["judgement"], "properties": {
                             "judgement": {"type": "string", "enum": list(part.judge.choices),
                                           "description": part.judge.question}}})
                for part in self.parts if part.judge]

    @property
    def declared_tools(self) -> list[ToolSpec]:
        """Every function the model is declared: the result's and the judgements'."""
        return [*self.tools, *self.judgement_tools]


def _no_loop(parts: list[ExamPart]) -> None:
    """Each part is reached at most once: the parts' `next`, choices and outcomes never lead back."""
    names = [part.name for part in parts]
    after: dict[str, set[str]] = {}
    for i, part in enumerate(parts):
        default = part.next or (names[i + 1] if i + 1 < len(names) else "end")
        after[part.name] = (({default} if not part.judge else set(part.judge.choices.values()))
                            | set(part.outcomes.values())) - {"end"}
    # Depth-first, with a stack of its own rather than recursion: a file may list thousands of parts.
    done: set[str] = set()
    for first in names:
        if first in done:
            continue
        path, on_path = [first], {first}
        pending = [iter(sorted(after[first]))]
        while pending:
            target = next(pending[-1], None)
            if target is None:
                done.add(path[-1])
                on_path.discard(path.pop())
                pending.pop()
            elif target in on_path:
                raise ValueError(f"parts lead back to themselves: {' -> '.join([*path, target])}; "
                                 "expected each part reached at most once")
            elif target not in done:
                path.append(target)
                on_path.add(target)
                pending.append(iter(sorted(after[target])))


class LLMConfig(Strict):
    """The Live model and how it is asked to behave."""

    model: str = Field(default="gemini-3.8-live", description="gemini-3.8-live (Google's recommended Live model) or "
                       "gemini-3.1-flash-live-preview (a legacy preview)")
    thinking_level: str | None = Field(default=None, pattern="^(minimal|low|medium|high)$",
                                       description="3.1 only; none: the model's own default")
    voice: str = "Charon"
    language: str = "en-GB"
    extraction_model: str = Field(default="gemini-2.5-flash", description="the text model asked to extract a result "
                                  "the Live model only spoke (constrained to the tool's schema)")
    # Google's GA TTS model (3.1 and the 2.5 previews are to be shut down); it speaks the
    # Live voices by the same names, so the closing viva says sounds like the examiner.
    tts_model: str = Field(default="gemini-3.8-flash-tts", description="the Gemini API TTS model that says the closing "
                           "phrase in `voice` when the Live model never does (gemini-3.8-flash-lite-tts: faster)")

    @model_validator(mode="after")
    def _no_thinking_level_on_3_8_live(self) -> "LLMConfig":
        # Google's 3.8 Live migration notes: thinking_level is not supported; the service refuses the setup.
        if self.thinking_level and self.model.rpartition("/")[2] == "gemini-3.8-live":
            raise ValueError("gemini-3.8-live takes no thinking level: leave llm.thinking_level out")
        return self


class SessionLimits(Strict):
    """Bounds of one session, whatever the pipeline."""

    max_s: float = Field(default=1200, gt=0, le=86400, description="a session still running after this long ends, failed")


DEFAULT_PIPELINE = [{"stage": "silero_vad"}, {"stage": "turn_gate"}, {"stage": "gemini_live"},
                    {"stage": "stall_watchdog"}, {"stage": "closing_guard"}, {"stage": "exam_director"},
                    {"stage": "exam_end"}]


class StageSpec(BaseModel):
    """One stage of the pipeline: a registered name and its validated parameters."""

    name: str
    params: BaseModel


class VivaConfig(Strict):
    """A whole viva config file."""

    exam: ExamConfig
    llm: LLMConfig = Field(default_factory=LLMConfig)
    session: SessionLimits = Field(default_factory=SessionLimits)
    pipeline: list[dict[str, Any]] = Field(
        default_factory=lambda: [dict(stage) for stage in DEFAULT_PIPELINE],
        description="ordered stages between the transport's input and output",
    )
    path: Path | None = Field(default=None, exclude=True)
    stages: list[StageSpec] = Field(default_factory=list, exclude=True)


def _stages(config: VivaConfig, places: Places) -> list[StageSpec]:
    from viva.pipelines.registry import STAGES

    stages = []
    for i, entry in enumerate(config.pipeline):
        name = entry.get("stage")
        if name not in STAGES:
            loc = ("pipeline", i, "stage") if "stage" in entry else ("pipeline", i)
            found = f"unknown stage {name!r}" if name is not None else "a stage needs `stage: NAME`"
            raise BadInput(f"{places.where(loc)}: {format_key_path(loc)}: {found}; expected one of: {', '.join(STAGES)}")
        params = {k: v for k, v in entry.items() if k != "stage"}
        spec = StageSpec(name=name, params=validate(STAGES[name].params, params, places, prefix=("pipeline", i)))
        for loc, problem in STAGES[name].check(spec.params, config) if STAGES[name].check else []:
            loc = ("pipeline", i, *loc)
            raise BadInput(f"{places.where(loc)}: {format_key_path(loc)}: {problem}")
        stages.append(spec)
    return stages


def load_config(path: str | Path) -> VivaConfig:
    """Reads and validates a config (and what it extends); BadInput (one line, exit 2) on any problem."""
    path = Path(path)
    data, places = read_document(path)
    config = validate(VivaConfig, data, places)
    config.path = path
    config.stages = _stages(config, places)
    return config
