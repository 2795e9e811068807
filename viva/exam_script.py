"""What the examiner model is told of the exam: the system instruction, composed from the config.

The model knows only what is sent on the wire, so the script (greeting, each part's
intro, the cue card, every question) and the closing phrase go in the system
instruction, after the config's role and rules: one numbered line per examiner turn,
in order, in the words it is to say.
"""

from __future__ import annotations

from viva.config import ExamConfig


def examiner_lines(exam: ExamConfig) -> list[str]:
    """The examiner's turns in order: the greeting and each part's intro lead into the next question."""
    lines: list[str] = []
    lead = [exam.greeting]
    for part in exam.parts:
        if part.intro:
            lead.append(part.intro)
        for said in ([part.cue_card.spoken()] if part.cue_card else []) + part.questions:
            lines.append(" ".join([*lead, said]))
            lead = []
    if lead:  # an intro with nothing to ask after it is still said
        lines.append(" ".join(lead))
    return lines


def system_instruction(exam: ExamConfig) -> str:
    """The config's system prompt, then the script, the tools to call and the closing phrase."""
    numbered = "\n".join(f"{i}. {line}" for i, line in enumerate(examiner_lines(exam), 1))
    text = [exam.system_prompt.strip(), "",
            "The exam script. Say each numbered line below as one turn of yours, word for word and in order, "
            "and wait for the candidate's answer after each:", numbered, ""]
    tools = [tool.name for tool in exam.required_tools]
    if tools:
        text.append(f"When the candidate has answered the last line, call {' and '.join(tools)} once, silently.")
    text.append(f'After the function result, say exactly "{exam.closing_phrase}" once, and nothing else.')
    return "\n".join(text)
