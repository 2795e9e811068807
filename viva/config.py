"""viva's config format: one YAML file per exam format.

This module holds the exam part (what an examiner, real or emulated, needs to run
the exam) and the model settings.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from viva import languages
from viva.errors import BadInput
from viva.exam.plan import asks
from viva.scoring import ScoreRule, check_scores
from viva.input_files import Places, format_key_path, read_document, validate


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExamWording(Strict):
    """viva's own words around the config's lines: the `exam` section of the table of the exam's
    language (viva/languages/), or a config's `exam.wording`, whose keys take the table's place."""

    cue_card: str | None = Field(default=None, description="a cue card without points as it is read out: "
                                 "{topic} stands for its topic")
    cue_card_with_points: str | None = Field(default=None, description="a cue card with points as it is read "
                                             "out: {topic}, and {points}, the points joined by points_separator")
    points_separator: str | None = Field(default=None, description="what joins a cue card's points")
    start_line: str | None = Field(default=None, description="said when a preparation is over and the timed "
                                   "answer begins (a part's start_line comes first)")
    time_up_line: str | None = Field(default=None, description="said in front of the next step when a timed "
                                     "answer is cut at its limit (a part's time_up_line comes first)")
    role_closing_line: str | None = Field(default=None, description="said when a role-play's time is up (a "
                                          "role's closing_line comes first)")
    cue_card_choice: str | None = Field(default=None, description="the cards a part offers (`draw` above 1) as "
                                        "read out: {count}, and {topics}, each card's cue_card_option")
    cue_card_choice_with_points: str | None = Field(default=None, description="the same for cards with points: "
                                                    "{count}, {topics}, and {points} (the cards' points, said once)")
    cue_card_option: str | None = Field(default=None, description="one card offered: {number} (1, 2...) and "
                                        "{topic}")

    @field_validator("cue_card", "cue_card_with_points", "cue_card_choice", "cue_card_choice_with_points",
                     "cue_card_option")
    @classmethod
    def _names_the_topic(cls, value: str | None, info) -> str | None:
        fields = {"cue_card": {"topic"}, "cue_card_with_points": {"topic", "points"},
                  "cue_card_choice": {"count", "topics"}, "cue_card_choice_with_points": {"count", "topics", "points"},
                  "cue_card_option": {"number", "topic"}}[info.field_name]
        if value is not None:
            found = set(_PLACEHOLDER.findall(value))
            if found != fields:
                raise ValueError(f"expected {' and '.join('{' + f + '}' for f in sorted(fields))} in the line, "
                                 f"and nothing else in braces")
        return value

    def over(self, base: "ExamWording") -> "ExamWording":
        """These words, each one left out taken from `base`."""
        return base.model_copy(update=self.model_dump(exclude_none=True))


_PLACEHOLDER = re.compile(r"\{(\w*)\}")


class CueCard(Strict):
    """IELTS Part 2 style task card: a topic and the points to cover."""

    topic: str
    points: list[str] = Field(default_factory=list)

    def spoken(self, words: ExamWording) -> str:
        """The card as the examiner reads it out, in the exam's words."""
        if not self.points:
            return words.cue_card.format(topic=self.topic)
        return words.cue_card_with_points.format(topic=self.topic, points=words.points_separator.join(self.points))


class Role(Strict):
    """A part in which the examiner model plays someone the candidate talks to (a patient,
    a shopkeeper) from a brief, for a set time; the candidate leads."""

    brief: str = Field(description="who the model plays, in the second person; it answers from this")
    opening_line: str = Field(description="what the role says first")
    time_s: float = Field(gt=0, description="how long the role-play runs from the opening line")
    closing_line: str | None = Field(default=None, description="said, in front of the next step, when the time "
                                     "is up (default: the exam's role_closing_line)")

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
    cue_cards: list[CueCard] | None = Field(default=None, min_length=2, description="instead of cue_card: the "
                                            "cards one is drawn from for each session (seeded; the record says "
                                            "which, and the seed)")
    draw: int = Field(default=1, ge=1, description="how many cards of cue_cards are drawn; above 1, the examiner "
                      "offers them all (cue_card_choice) and the candidate chooses one, as the DELF's two topics")
    prep_s: float = Field(default=0, ge=0, description="silent preparation after the cue card, or, without one, "
                          "after the part's intro (before its questions or role-play)")
    long_turn_s: float | None = Field(default=None, gt=0, description="time allowed for the long turn")
    questions: list[str] = Field(default_factory=list)
    duration_min: tuple[float, float] | None = Field(default=None, description="planned minutes, low and high; "
                                                     "past the high one the exam moves to the next part")
    start_line: str | None = Field(default=None, description="said when the preparation is over and the timed "
                                   "answer begins (default: the exam's start_line)")
    time_up_line: str | None = Field(default=None, description="said when a timed answer is cut at its limit "
                                     "(default: the exam's time_up_line)")
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

    @model_validator(mode="after")
    def _one_card_or_cards_to_draw(self) -> "ExamPart":
        if self.cue_cards and self.cue_card is not None and self.cue_card not in self.cue_cards:
            raise ValueError(f"part {self.name!r}: cue_card and cue_cards both given; expected one card, or the "
                             "cards one is drawn from")
        if self.cue_cards and self.cue_card is None:
            # The first card stands for the drawn one until a session draws (ExamConfig.drawn).
            self.cue_card = self.cue_cards[0]
        if self.draw > 1:
            if len(self.cue_cards or []) < self.draw:
                raise ValueError(f"part {self.name!r}: draw {self.draw} needs at least {self.draw} cards in "
                                 f"cue_cards; expected more cards, or a smaller draw")
            if len({tuple(card.points) for card in self.cue_cards}) > 1:
                raise ValueError(f"part {self.name!r}: draw {self.draw} offers cards with different points; "
                                 "expected the same points on every card of cue_cards (they are said once, "
                                 "after the topics)")
        return self

    # The cards a session drew to offer (draw above 1), set by drawn(); None: not drawn yet.
    _offered: list[CueCard] | None = PrivateAttr(default=None)

    @property
    def offered(self) -> list[CueCard]:
        """The cards the candidate is given: the drawn ones, or (not drawn yet) the first `draw`."""
        if self._offered is not None:
            return self._offered
        return (self.cue_cards or [self.cue_card])[: self.draw] if self.cue_card else []

    def drawn(self, rng: random.Random) -> "ExamPart":
        """This part with its card drawn from its cue_cards, or `draw` cards to offer (itself when it
        has none to draw)."""
        if not self.cue_cards:
            return self
        offered = rng.sample(self.cue_cards, self.draw) if self.draw > 1 else [rng.choice(self.cue_cards)]
        part = self.model_copy(update={"cue_card": offered[0]})
        part._offered = offered
        return part

    def card_line(self, words: ExamWording) -> str:
        """The cue card as the examiner reads it out, or the cards offered to choose from."""
        offered = self.offered
        if len(offered) == 1:
            return self.cue_card.spoken(words)
        topics = " ".join(words.cue_card_option.format(number=number, topic=card.topic)
                          for number, card in enumerate(offered, 1))
        if not offered[0].points:
            return words.cue_card_choice.format(count=len(offered), topics=topics)
        return words.cue_card_choice_with_points.format(count=len(offered), topics=topics,
                                                        points=words.points_separator.join(offered[0].points))

    @model_validator(mode="after")
    def _every_key_does_something(self) -> "ExamPart":
        """A key that this part would ignore is refused: the exam would not be the one written."""
        card, timed_questions = self.cue_card is not None, self.questions and self.answer_s is not None
        unused = {
            "long_turn_s": self.long_turn_s is not None and not card,
            "prep_s": self.prep_s > 0 and not card and not self.intro,
            "answer_s": self.answer_s is not None and not self.questions,
            "question_prep_s": self.question_prep_s > 0 and not self.questions,
            "start_line": self.start_line is not None and not self.starts_timed_answer,
            "time_up_line": self.time_up_line is not None and not (self.long_turn_s is not None or timed_questions),
            "if_cut": self.if_cut is not None and not (self.long_turn_s is not None or timed_questions),
            "if_no_answer": self.if_no_answer is not None and not (self.questions or card),
            "next": self.next is not None and self.judge is not None,
        }
        needs = {"long_turn_s": "a cue_card", "prep_s": "a cue_card or an intro to say before it",
                 "answer_s": "questions", "question_prep_s": "questions",
                 "start_line": "a preparation before a timed answer (prep_s and long_turn_s after a cue_card, or "
                                "question_prep_s)",
                 "time_up_line": "a timed answer (long_turn_s, or answer_s)",
                 "if_cut": "a timed answer (long_turn_s, or answer_s)", "if_no_answer": "questions or a cue_card",
                 "next": "a judge (the judgement's choice names the next part)"}
        for key, ignored in unused.items():
            if ignored:
                without = "beside" if key == "next" else "without"
                raise ValueError(f"part {self.name!r}: {key} does nothing {without} {needs[key]}")
        if self.prep_s > 0 and not card and self.intro and asks(self.intro) and (self.questions or self.role):
            raise ValueError(f"part {self.name!r}: prep_s after an intro that asks something: its answer comes "
                             "first, and no line is left to say before the preparation; expected an intro that "
                             "does not end with a question")
        if self.duration_min and not 0 < self.duration_min[0] <= self.duration_min[1]:
            raise ValueError(f"part {self.name!r}: duration_min {list(self.duration_min)}: expected [low, high] "
                             "minutes, above 0, low not above high")
        fixed_s = self.fixed_s
        if self.duration_min and fixed_s > self.duration_min[1] * 60:
            raise ValueError(f"part {self.name!r}: its timers alone take {fixed_s:g} s, more than its duration_min "
                             f"allows ({self.duration_min[1]:g} min, preparation included): the part would be cut "
                             f"before its end; expected a higher bound")
        return self

    @property
    def starts_timed_answer(self) -> bool:
        """A start line is said: after the cue card's preparation, or each question's."""
        return (self.cue_card is not None and self.prep_s > 0 and self.long_turn_s is not None) \
            or (bool(self.questions) and self.question_prep_s > 0)

    @property
    def fixed_s(self) -> float:
        """The seconds the part's own timers take whatever the candidate does (its duration_min counts
        them: the part's clock runs from its first step)."""
        per_question = self.question_prep_s if self.questions else 0
        return self.prep_s + len(self.questions) * per_question + (self.role.time_s if self.role else 0)

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
    wording: ExamWording = Field(default_factory=ExamWording, description="viva's own words around the "
                                 "config's lines, in place of the language table's (viva/languages/)")
    # The exam's language (BCP-47): the config's llm.language, set by VivaConfig.
    _language: str = PrivateAttr(default="en-GB")

    @property
    def language(self) -> str:
        return self._language

    @property
    def words(self) -> ExamWording:
        """viva's own words for this exam: the config's wording over its language's table."""
        return self.wording.over(ExamWording(**languages.table(self._language).get("exam", {})))

    def words_of(self, part: ExamPart) -> ExamWording:
        """viva's words for one part: its own start_line, time_up_line and role closing_line (even an
        empty one: nothing is said) over the exam's."""
        own = {"start_line": part.start_line, "time_up_line": part.time_up_line,
               "role_closing_line": part.role.closing_line if part.role else None}
        return self.words.model_copy(update={key: line for key, line in own.items() if line is not None})

    def drawn(self, seed: int) -> "ExamConfig":
        """The exam one session runs: a card drawn for each part that has cue_cards (the same seed,
        the same cards)."""
        rng = random.Random(seed)
        exam = self.model_copy(update={"parts": [part.drawn(rng) for part in self.parts]})
        exam._language = self._language
        return exam

    def unworded(self) -> list[tuple[tuple, str]]:
        """(key path, wording key) of each line this exam needs that neither the config nor its
        language's table says."""
        words, missing = self.words, []
        for i, part in enumerate(self.parts):
            needed = []
            if part.draw > 1:  # the cards offered to choose from: their points said once
                with_points = bool(part.cue_cards[0].points)
                needed += ["cue_card_option", *(["cue_card_choice_with_points", "points_separator"] if with_points
                                                else ["cue_card_choice"])]
            else:
                for card in part.cue_cards or ([part.cue_card] if part.cue_card else []):
                    needed += ["cue_card_with_points", "points_separator"] if card.points else ["cue_card"]
            if part.starts_timed_answer and part.start_line is None:
                needed.append("start_line")
            if (part.long_turn_s is not None or part.answer_s is not None) and part.time_up_line is None:
                needed.append("time_up_line")
            if part.role and part.role.closing_line is None:
                needed.append("role_closing_line")
            missing += [(("exam", "parts", i), key) for key in dict.fromkeys(needed) if getattr(words, key) is None]
        return missing

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
        if "end" in names:
            raise ValueError("a part is named 'end', the name that means the assessment in next, choices and "
                             "outcomes; expected another name")
        judged = Counter(part.judge.tool for part in self.parts if part.judge)
        if shared := sorted(tool for tool, count in judged.items() if count > 1):
            raise ValueError(f"two judgements call the same function {shared}; expected a function of its own for "
                             "each (its choices are declared with it)")
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


# The Live models viva runs on (docs/models.md); a name the service does not know would only
# show at the session's start, as a 1008 on every connect.
LIVE_MODELS = ("gemini-3.8-live", "gemini-3.8-live-extended-thinking", "gemini-3.1-flash-live-preview")
# The prebuilt voices of Gemini's speech models, Live and TTS alike (Google's speech generation
# guide, "Voice options").
VOICES = ("Achernar", "Achird", "Algenib", "Algieba", "Alnilam", "Aoede", "Autonoe", "Callirrhoe", "Charon",
          "Despina", "Enceladus", "Erinome", "Fenrir", "Gacrux", "Iapetus", "Kore", "Laomedeia", "Leda", "Orus",
          "Puck", "Pulcherrima", "Rasalgethi", "Sadachbia", "Sadaltager", "Schedar", "Sulafat", "Umbriel",
          "Vindemiatrix", "Zephyr", "Zubenelgenubi")


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

    @field_validator("model")
    @classmethod
    def _a_live_model(cls, value: str) -> str:
        if value.removeprefix("models/") not in LIVE_MODELS:
            raise ValueError(f"unknown Live model {value!r}; expected one of: {', '.join(LIVE_MODELS)}")
        return value

    @field_validator("voice")
    @classmethod
    def _a_prebuilt_voice(cls, value: str) -> str:
        if value not in VOICES:
            raise ValueError(f"unknown voice {value!r}; expected one of Gemini's prebuilt voices: {', '.join(VOICES)}")
        return value

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

    @model_validator(mode="after")
    def _exam_in_the_models_language(self) -> "VivaConfig":
        self.exam._language = self.llm.language
        return self


def _check_wording(config: VivaConfig, places: Places) -> None:
    """Every line the exam needs is said by the config or by its language's table."""
    for loc, key in config.exam.unworded()[:1]:
        shipped = ", ".join(languages.shipped())
        own = "" if key.startswith(("cue_card", "points")) else " (or the part's own line)"
        raise BadInput(f"{places.where(loc)}: {format_key_path(loc)}: needs exam.wording.{key}{own}: viva has no words of its own in {config.llm.language!r} (it has: {shipped}); "
                       f"expected that line in the exam's language")


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
    _check_wording(config, places)
    config.stages = _stages(config, places)
    return config
