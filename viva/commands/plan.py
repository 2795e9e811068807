"""`viva plan CONFIG`: the exam as the candidate will hear it, step by step, with every timer.

Everything printed is read from what conducts the exam: the plan's steps
(viva.exam.plan.exam_plan: the words the examiner is cued to say, how each answer is taken,
where it leads), the parts' and the session's limits, and the parameters of the pipeline's
exam director and turn gate. Nothing here imports Pipecat or touches audio, so the answer
is immediate. Each line that quotes words holds one quotation: what is said, exactly.
"""

from __future__ import annotations

from itertools import groupby

from viva.config import ExamConfig, VivaConfig
from viva.exam.plan import Answer, Plan, Step, StepKind, asks, exam_plan

STEP = "  "  # a step's heading, under its part's
DETAIL = "    "  # what a step says and how its answer is taken
KINDS = {StepKind.QUESTION: "question", StepKind.CUE_CARD: "cue card", StepKind.LONG_TURN: "start line",
         StepKind.ROLE: "role-play", StepKind.JUDGE: "judgement", StepKind.ASSESSMENT: "assessment",
         StepKind.CLOSING: "closing"}
OUTCOMES = {"no_answer": "if unanswered", "cut": "if cut at its limit"}


def plan_text(config: VivaConfig) -> str:
    """The exam's plan as plain text: its limits, then each part's steps in plan order, then its end."""
    exam, plan = config.exam, exam_plan(config.exam)
    params = {stage.name: stage.params for stage in config.stages}
    listed_next = {step.key: after.key for step, after in zip(plan.steps, plan.steps[1:])}
    lines = _header(config, plan, params)
    for part, steps in groupby(plan.steps, key=_section):
        lines += ["", _part_heading(exam, part) if part else "End"]
        for step in steps:
            lines += _step(step, exam, listed_next.get(step.key), params)
    return "\n".join(lines)


def exam_limit_s(exam: ExamConfig) -> float | None:
    """The exam's own limit (past it, the assessment): its parts' upper bounds added up, when every
    part has one (the rule of viva.exam.controller.controller_for)."""
    bounds = [part.duration_min[1] * 60 for part in exam.parts if part.duration_min]
    return sum(bounds) if len(bounds) == len(exam.parts) else None


# -- the header: the limits and the greeting


def _header(config: VivaConfig, plan: Plan, params: dict) -> list[str]:
    exam = config.exam
    lines = [f"{exam.name} ({config.path})" if config.path else exam.name]
    if "exam_director" not in params:
        lines.append("No exam_director stage: viva neither cues nor times these steps; the model is given the "
                     "whole script at once and conducts it itself.")
    lines.append(f"Session limit: {_s(config.session.max_s)} (session.max_s); a session still running then ends, "
                 "failed.")
    if (director := params.get("exam_director")) and (limit := exam_limit_s(exam)) is not None:
        lines.append(f"Exam limit: {_s(limit)}, the parts' upper bounds added up; past it the exam goes to the "
                     f"{'assessment' if plan.steps[-1].kind is StepKind.ASSESSMENT else 'closing'}.")
    if director:
        lines.append(f"Silence: a candidate silent for {_s(director.silence_reask_s)} after a step is asked it "
                     "once more (unless the step says it is said once), then given the next step "
                     "(exam_director.silence_reask_s).")
    if gate := params.get("turn_gate"):
        lines.append(f"A timed answer runs to its limit; only {_s(gate.timed_end_silence_s)} of silence ends it "
                     "earlier (turn_gate.timed_end_silence_s).")
    lines.append(_greeting(exam, plan))
    return lines


def _greeting(exam: ExamConfig, plan: Plan) -> str:
    """Which greeting lines are turns of their own (each that asks) and which lead into the next step."""
    said = exam.greeting_lines
    asking = [i for i, line in enumerate(said) if asks(line)]
    turns = plan.steps[:len(asking)]
    leading = len(said) - (asking[-1] + 1 if asking else 0)
    parts = [f"Greeting: {_count(len(said), 'line')}"]
    if turns:
        own = "a turn of its own" if len(turns) == 1 else "turns of their own"
        parts.append(f"asked in {own}: {', '.join(_ref(s.key) for s in turns)}")
    if leading:
        which = f"the last {_count(leading, 'line')}" if turns else "all"
        parts.append(f"{which} said in front of {_ref(plan.steps[len(turns)].key)}")
    return "; ".join(parts) + "."


# -- parts and steps


def _section(step: Step) -> str | None:
    """The part a step is listed under; None: the end (the assessment, or the closing)."""
    return None if step.kind in (StepKind.ASSESSMENT, StepKind.CLOSING) else step.part


def _part_heading(exam: ExamConfig, name: str) -> str:
    part = next(part for part in exam.parts if part.name == name)
    if not part.duration_min:
        return name
    low, high = part.duration_min
    cut = f"; past {high:g} min its questions not yet asked are left out" if part.questions else ""
    return f"{name}: planned {low:g} to {high:g} min from its first step{cut}"


def _step(step: Step, exam: ExamConfig, listed_next: str | None, params: dict) -> list[str]:
    """The step's lines: what is said, how the answer is taken, where it leads (unless to the next listed)."""
    lines = [f"{STEP}{_ref(step.key)} {KINDS[step.kind]}"]
    if step.kind is StepKind.JUDGE:
        return lines + _judgement(step)
    if step.kind is StepKind.ASSESSMENT:
        return lines + [f"{DETAIL}calls {' and '.join(step.tools)} silently: the result, never said aloud",
                        f"{DETAIL}answer: none",
                        f'{DETAIL}then says the closing phrase: "{exam.closing_phrase}"']
    if step.kind is StepKind.ROLE:
        lines.append(f"{DETAIL}plays: {step.brief}")
    lines.append(f'{DETAIL}says: "{step.line}"')
    part = next((part for part in exam.parts if part.name == step.part), None)
    if step.kind is StepKind.CUE_CARD and part is not None and part.cue_cards:
        drawn = "the card is drawn" if part.draw == 1 else f"{part.draw} cards are drawn"
        shown = "the first shown" if part.draw == 1 else f"the first {part.draw} shown"
        lines.append(f"{DETAIL}{drawn} for each session (seeded, recorded) from: "
                     f"{' | '.join(card.topic for card in part.cue_cards)}; {shown}")
    if step.kind is StepKind.CLOSING:
        return lines + [f"{DETAIL}then the exam ends"]
    lines += _answer(step, params)
    lines += [f"{DETAIL}{OUTCOMES.get(outcome, outcome)}: {_ref(key)}" for outcome, key in step.outcomes.items()]
    if step.then is not None and step.then != listed_next:
        lines.append(f"{DETAIL}next: {_ref(step.then)}")
    return lines


def _answer(step: Step, params: dict) -> list[str]:
    """How the candidate's answer to the step is taken, with its timers."""
    if step.answer is Answer.SILENT:
        silent = f"silent preparation, {_s(step.prep_s)} from the end of this line (the candidate is not heard)"
        return [f"{DETAIL}answer: {silent}"]
    if step.answer is Answer.ROLE:
        role = f"role-play, {_s(step.limit_s)} from the opening line; the candidate leads, the examiner answers in role"
        closing = f'says: "{step.closing}"' if step.closing else "the next step follows"
        return [f"{DETAIL}answer: {role}", f"{DETAIL}when the time is up, {closing}"]
    once = "" if step.reask else "; said once: not asked again if unanswered"
    if step.answer is Answer.TIMED and step.limit_s:
        cut = (f'{DETAIL}cut at {_s(step.limit_s)}: says "{step.time_up}" before the next step'
               if step.time_up else f"{DETAIL}cut at {_s(step.limit_s)}: nothing is said")
        gate = params.get("turn_gate")
        silence = gate.settings(step.part, "timed").pause_tolerance_s if gate else None
        own = (f"; {_s(silence)} of silence ends it earlier here (turn_gate.parts)"
               if gate and silence != gate.timed_end_silence_s else "")
        return [f"{DETAIL}answer: timed, {_s(step.limit_s)} from the candidate's first word{own}{once}", cut]
    if step.answer is Answer.TIMED:
        gate = params.get("turn_gate")
        ends = f"{_s(gate.settings(step.part, 'timed').pause_tolerance_s)} of silence" if gate else "a long silence"
        return [f"{DETAIL}answer: timed, no limit: ends after {ends}{once}"]
    return [f"{DETAIL}answer: open, ends with the candidate's turn{once}"]


def _judgement(step: Step) -> list[str]:
    return [f"{DETAIL}calls {step.tools[0]} silently: {step.question}", f"{DETAIL}answer: none",
            *(f"{DETAIL}{choice}: {_ref(key)}" for choice, key in step.choices.items())]


# -- wording


def _ref(key: str) -> str:
    return f"[{key}]"


def _s(seconds: float | None) -> str:
    return f"{seconds:g} s"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
