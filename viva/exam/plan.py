"""The exam's plan: the steps a config describes, as a graph.

Each step is one examiner turn (a question, a cue card, a start line, a role's opening, a
judgement, the assessment) and says how the candidate's answer to it is taken (`Answer`)
and which step follows it: the next of its part, the first of the part after it (a part's
`next`, else the next in the list), after a judgement the first step of the part its
choice names, and after an answer left unanswered or cut at its limit the first step of
the part its part names for that (`if_no_answer`, `if_cut`). Nothing here knows a format:
part names, wording and timings are the config's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

END = "end"  # a part's `next` or a choice that goes straight to the assessment


class StepKind(str, Enum):
    QUESTION = "question"
    CUE_CARD = "cue_card"
    LONG_TURN = "long_turn"  # the start line after a preparation: the candidate's timed answer begins
    ROLE = "role"  # the model plays a role from a brief; the candidate leads until the time is up
    JUDGE = "judge"  # the examiner calls a judgement function; its choice names the next part
    ASSESSMENT = "assessment"
    CLOSING = "closing"  # only when there is no tool to call first


class Answer(str, Enum):
    """How the candidate's answer to a step is taken (the turn gate follows it)."""

    OPEN = "open"  # ends at the end of the candidate's turn
    TIMED = "timed"  # runs to its limit (if it has one); ends early only after a long silence
    ROLE = "role"  # role-play turns: each ends at the end of the turn; the role's clock runs
    SILENT = "silent"  # a preparation: nothing the candidate says is heard
    NONE = "none"  # nothing is awaited (a judgement, the assessment, the closing)


@dataclass(frozen=True)
class Step:
    """One thing the examiner is cued to do.

    key: its name in the record ("Part 1 q2"). line: the words it is to say (with the
    part's intro in front when it leads). check: the words that show it was said (a
    question, a card's topic). prep_s: silent preparation after it is said. limit_s: the
    answer is cut this long after the window opens (a role: the role-play ends this long
    after its opening line). reask: a silent candidate is asked again once. brief, closing:
    a role's brief, and the line that ends it. time_up: said in front of the next step when
    the answer is cut at its limit. tools: what an assessment or a judgement calls.
    then: the key of the step after it (None: the last). choices: a judgement's value ->
    the key of the step it leads to. outcomes: what happened to its answer ("no_answer",
    "cut") -> the key of the step it leads to instead.
    """

    key: str
    part: str
    kind: StepKind
    line: str
    check: str
    answer: Answer = Answer.OPEN
    prep_s: float = 0.0
    limit_s: float | None = None
    tools: tuple[str, ...] = ()
    reask: bool = True
    brief: str = ""
    closing: str = ""
    time_up: str = ""
    question: str = ""  # a judgement's question (the function's description)
    then: str | None = None
    choices: dict[str, str] = field(default_factory=dict, hash=False)
    outcomes: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def scripted_lines(self) -> list[str]:
        """What viva may have the examiner say in front of the next step after this one's answer."""
        return [line for line in (self.time_up, self.closing) if line]


@dataclass(frozen=True)
class Plan:
    steps: list[Step]

    def index(self, key: str) -> int:
        return next(i for i, step in enumerate(self.steps) if step.key == key)

    def following(self, index: int, choice: str | None = None, outcome: str | None = None) -> int:
        """The step after steps[index] (a judgement's: the one its choice leads to; an answer's
        outcome: the one its part names for it)."""
        step = self.steps[index]
        key = step.choices.get(choice) if choice is not None and step.choices else None
        key = key or (step.outcomes.get(outcome) if outcome is not None else None)
        key = key or step.then
        return self.index(key) if key is not None else len(self.steps) - 1

    @property
    def last(self) -> int:
        return len(self.steps) - 1


def asks(text: str) -> bool:
    """Whether a scripted line asks the candidate something (then it is a turn of its own): it
    ends with a question. A question quoted inside it ("and the question: how effective
    might these ideas be? First you have some time ...") leaves it a line that leads on. Any
    script's question mark counts (Chinese "？", Arabic "؟"), and French spacing before closing
    quotes ("? »")."""
    return text.rstrip().rstrip("\"')\u201d\u2019\u00bb \u00a0\u202f").endswith(("?", "\uff1f", "\u061f"))


def _part_steps(part, lead: list[str], words) -> list[Step]:
    """The steps of one part, in order (`lead`: what is said in front of its first step;
    `words`: viva's words for the part, ExamConfig.words_of)."""
    steps: list[Step] = []
    time_up = words.time_up_line or ""
    lead = [*lead, *([part.intro] if part.intro else [])]
    name = part.name

    def take_lead() -> list[str]:
        nonlocal lead
        taken, lead = lead, []
        return taken

    if lead and any(asks(line) for line in lead) and (part.questions or part.cue_card or part.role):
        # An intro that asks something is answered before the part's first prompt.
        steps.append(Step(f"{name} intro", name, StepKind.QUESTION, " ".join(lead), check=lead[-1]))
        take_lead()
    if part.cue_card:
        card = part.card_line(words)
        prepared = part.prep_s > 0
        timed = part.long_turn_s is not None
        steps.append(Step(f"{name} cue card", name, StepKind.CUE_CARD, " ".join([*take_lead(), card]),
                          check=part.cue_card.topic, prep_s=part.prep_s,
                          answer=Answer.SILENT if prepared else (Answer.TIMED if timed else Answer.OPEN),
                          limit_s=None if prepared else part.long_turn_s, time_up=time_up))
        if prepared and timed:
            steps.append(_start(part, f"{name} long turn", part.long_turn_s, words, time_up))
        # Prepared and untimed: the card is prepared now and answered later (a question of a later
        # part asks for it), so the preparation leads straight to the next step.
    elif part.prep_s > 0 and lead:
        # A preparation without a card (reading time before a role-play, or before the part's
        # questions, or a part of its own): the intro is said, then the silence is held.
        steps.append(Step(f"{name} intro", name, StepKind.QUESTION, " ".join(take_lead()), check=part.intro or "",
                          answer=Answer.SILENT, prep_s=part.prep_s))
    for number, question in enumerate(part.questions, 1):
        key = f"{name} q{number}"
        prep_s = part.question_prep_s
        timed = part.answer_s is not None
        steps.append(Step(key, name, StepKind.QUESTION, " ".join([*take_lead(), question]), check=question,
                          prep_s=prep_s, limit_s=None if prep_s else part.answer_s, reask=part.reask,
                          answer=Answer.SILENT if prep_s else (Answer.TIMED if timed else Answer.OPEN),
                          time_up=time_up))
        if prep_s:
            steps.append(_start(part, f"{key} answer", part.answer_s, words, time_up))
    if part.role:
        role = part.role
        steps.append(Step(f"{name} role", name, StepKind.ROLE, " ".join([*take_lead(), role.opening_line]),
                          check=role.opening_line, answer=Answer.ROLE, limit_s=role.time_s, brief=role.brief,
                          closing=words.role_closing_line or ""))
    if lead:  # an intro with nothing after it is still said
        steps.append(Step(f"{name} intro", name, StepKind.QUESTION, " ".join(take_lead()), check=part.intro or ""))
    if part.judge:
        judge = part.judge
        steps.append(Step(f"{name} judgement", name, StepKind.JUDGE, "", check="", answer=Answer.NONE,
                          tools=(judge.tool,), question=judge.question))
    return steps


def _start(part, key: str, limit_s: float | None, words, time_up: str) -> Step:
    """The start line after a preparation: the candidate's timed answer begins."""
    line = words.start_line or ""
    return Step(key, part.name, StepKind.LONG_TURN, line, check=line, limit_s=limit_s,
                reask=part.reask, answer=Answer.TIMED if limit_s else Answer.OPEN, time_up=time_up)


def _linked(steps: list[Step], then: str | None, choices: dict[str, str] | None = None) -> list[Step]:
    """The part's steps, each leading to the next; the last to `then` (or by `choices`)."""
    out = []
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        out.append(Step(**{**step.__dict__, "then": then if last else steps[i + 1].key,
                           "choices": (choices or {}) if last else {}}))
    return out


def exam_plan(exam) -> Plan:
    """The plan of an ExamConfig: its greeting's turns, each part's steps, then the assessment
    (or the closing, when no tool is to be called)."""
    parts = exam.parts
    first = parts[0].name
    # Each greeting line that asks is a turn of its own; what follows the last one leads
    # into the first step.
    opening: list[Step] = []
    spoken: list[str] = []
    for line in exam.greeting_lines:
        spoken.append(line)
        if asks(line):
            opening.append(Step("greeting" if not opening else f"greeting {len(opening) + 1}", first,
                                StepKind.QUESTION, " ".join(spoken), check=line))
            spoken = []
    lead = spoken
    by_part = {part.name: _part_steps(part, lead if part.name == first else [], exam.words_of(part))
               for part in parts}
    tools = tuple(tool.name for tool in exam.required_tools)
    last_part = parts[-1].name
    if tools:
        final = Step("assessment", last_part, StepKind.ASSESSMENT, "", check="", answer=Answer.NONE, tools=tools)
    else:
        final = Step("closing", last_part, StepKind.CLOSING, exam.closing_phrase, check=exam.closing_phrase,
                     answer=Answer.NONE)

    def entry(part_name: str) -> str:
        """The key of the first step reached from a part (parts with no steps pass through)."""
        if part_name == END:
            return final.key
        index = next(i for i, part in enumerate(parts) if part.name == part_name)
        steps = by_part[part_name]
        return steps[0].key if steps else entry(_after(parts, index))

    steps = _linked(opening, entry(first)) if opening else []
    for index, part in enumerate(parts):
        own = by_part[part.name]
        if not own:
            continue
        choices = {value: entry(target) for value, target in part.judge.choices.items()} if part.judge else None
        outcomes = {outcome: entry(target) for outcome, target in part.outcomes.items()}
        steps += [Step(**{**step.__dict__, "outcomes": outcomes}) if step.answer in (Answer.OPEN, Answer.TIMED)
                  and outcomes else step for step in _linked(own, entry(_after(parts, index)), choices)]
    return Plan([*steps, final])


def _after(parts, index: int) -> str:
    """The part that follows parts[index]: its `next`, else the next listed (END after the last)."""
    part = parts[index]
    if part.next:
        return part.next
    return parts[index + 1].name if index + 1 < len(parts) else END
