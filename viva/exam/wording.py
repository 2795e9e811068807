"""What the examiner model is told: the system instruction, composed from the config, and
every cue viva sends it during the exam (the one module that words them).

The model knows only what is sent on the wire. Directed (the exam_director stage), the
instruction holds the examiner's role and rules (the config's system prompt), the exam's
structure, how viva's cues work, the tools and the closing phrase; each line is cued when
it is due (viva/exam/controller.py). Without a director (stock Pipecat's way, the
baseline), the whole script goes in the instruction: one numbered line per examiner turn,
in order, in the words it is to say.
"""

from __future__ import annotations

from viva.config import ExamConfig
from viva.exam.plan import asks

CUE_MARK = "[Exam system]"
PRIVATE = "This note is for you only: do not read it aloud."


def cue(what: str, *, now: bool, again: bool = False) -> str:
    """A note to the model: `what` to do, at once (now) or when the candidate has finished."""
    when = "Now:" if now else "When the candidate has finished:"
    firmer = " Your last turn did not say what you were told." if again else ""
    return f"{CUE_MARK}{firmer} {when} {what} {PRIVATE}"


def say(line: str) -> str:
    return f"say exactly \"{line}\""


def play_role(brief: str, opening_line: str) -> str:
    return (f"play this role until a note tells you to stop. Role: {brief} Start by saying exactly "
            f"\"{opening_line}\", then answer the candidate in role, briefly.")


def call_for_assessment(tools: tuple[str, ...] | list[str]) -> str:
    return f"the questions are over: call {' and '.join(tools)} once, silently, with your assessment."


def call_for_judgement(tool: str, question: str) -> str:
    return f"call {tool} once, silently, with your judgement: {question}"


def closing_cue(phrase: str) -> str:
    """Asks the model, at once, for the closing phrase it has not said."""
    return cue(say(phrase), now=True)

CUE_RULES = (
    "How this exam is conducted: the exam system keeps the script and the clock. Before each of your turns it "
    "sends you a note that begins \"[Exam system]\". A note is for you alone: never read it aloud and never "
    "mention it. Do what the latest note says, and nothing more, when the candidate has finished speaking (or "
    "at once, when the note says \"Now:\"). When it says: say exactly \"...\", say those words, word for word, "
    "as your whole turn. When it says: call a function, call it once, silently, and say nothing; when the "
    "function's response holds a note, do what that note says. When it says: "
    "play this role, say its first line, then answer the candidate as that person, briefly, until the next note. "
    "Never ask a question you were not given, never add a second question, and never speak while the candidate "
    "prepares."
)


def examiner_lines(exam: ExamConfig) -> list[str]:
    """The examiner's turns in order: the greeting (each line that asks, a turn of its own) and
    each part's intro lead into the next question."""
    lines: list[str] = []
    lead: list[str] = []
    for line in exam.greeting_lines:  # a greeting line that asks is a turn of its own
        lead.append(line)
        if asks(line):
            lines.append(" ".join(lead))
            lead = []
    words = exam.words
    for part in exam.parts:
        if part.intro:
            lead.append(part.intro)
        for said in ([part.card_line(words)] if part.cue_card else []) + part.questions:
            lines.append(" ".join([*lead, said]))
            lead = []
    if lead:  # an intro with nothing to ask after it is still said
        lines.append(" ".join(lead))
    return lines


def structure(exam: ExamConfig) -> str:
    """The exam's parts, in order, with their timings: no question is in it."""
    branches = any(part.judge for part in exam.parts)
    out = [f"The exam: {exam.name}, in {len(exam.parts)} part{'s' if len(exam.parts) > 1 else ''}"
           f"{' (not every part is reached: judgements choose)' if branches else ''}."]
    for part in exam.parts:
        said = []
        if part.duration_min:
            said.append(f"{part.duration_min[0]:g} to {part.duration_min[1]:g} minutes")
        if part.questions:
            said.append(f"{len(part.questions)} question{'s' if len(part.questions) > 1 else ''}")
        if part.cue_card:
            said.append(f"{part.draw} cue cards offered, the candidate chooses one" if part.draw > 1 else "a cue card")
        if part.prep_s:
            said.append(f"{part.prep_s:g} s of silent preparation")
        if part.long_turn_s:
            said.append(f"the candidate talks for up to {part.long_turn_s:g} s")
        if part.question_prep_s:
            said.append(f"{part.question_prep_s:g} s of silent preparation before each answer")
        if part.answer_s:
            said.append(f"each answer is stopped at {part.answer_s:g} s")
        if not part.reask:
            said.append("each item is said once")
        if part.role:
            said.append(f"a role-play of {part.role.time_s:g} s in which you play someone the candidate talks to")
        if part.judge:
            said.append(f"then you judge the candidate by calling {part.judge.tool}; your judgement chooses the part "
                        f"that follows ({', '.join(f'{k}: {v}' for k, v in part.judge.choices.items())})")
        elif part.next:
            said.append(f"then {part.next if part.next != 'end' else 'the assessment'}")
        out.append(f"- {part.name}: {', '.join(said) or 'as cued'}.")
    return "\n".join(out)


def system_instruction(exam: ExamConfig, *, cued: bool = False) -> str:
    """The config's system prompt, then the script (or the structure and the cue rules), the
    tools to call and the closing phrase."""
    text = [exam.system_prompt.strip(), ""]
    if cued:
        text += [structure(exam), "", CUE_RULES, ""]
    else:
        numbered = "\n".join(f"{i}. {line}" for i, line in enumerate(examiner_lines(exam), 1))
        text += ["The exam script. Say each numbered line below as one turn of yours, word for word and in order, "
                 "and wait for the candidate's answer after each:", numbered, ""]
        tools = [tool.name for tool in exam.required_tools]
        if tools:
            text.append(f"When the candidate has answered the last line, call {' and '.join(tools)} once, silently.")
    result = " and ".join(tool.name for tool in exam.required_tools)
    after = f"the result of {result}" if result and exam.judgement_tools else "the function result"
    text.append(f'After {after}, say exactly "{exam.closing_phrase}" once, and nothing else.')
    return "\n".join(text)
