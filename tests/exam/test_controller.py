"""The exam controller on a fake clock: the greeting's turn, what the candidate heard, the
scripted lines before the assessment, the answer policy each step gives the gate, branches."""

import pytest

from tests.helpers import FakeClock
from viva.config import ExamConfig, load_config
from viva.exam.controller import Cue, HoldCandidate, Listen, Note, SealMarks, controller_for
from viva.exam.plan import Answer, exam_plan
from viva.pipelines.registry import ExamDirectorParams

from tests.conftest import ROOT

TOOL = [{"name": "record_assessment", "description": "marks",
         "parameters": {"type": "object", "properties": {"mark": {"type": "integer"}}}}]


def exam_of(*parts, greeting="Hello.", tools=True) -> ExamConfig:
    return ExamConfig.model_validate({"name": "t", "greeting": greeting, "system_prompt": "Examiner.",
                                      "closing_phrase": "That is the end of the test.", "parts": list(parts),
                                      "tools": TOOL if tools else []})


@pytest.fixture
def clock():
    return FakeClock(0.0)


def controller(exam, clock, **overrides):
    return controller_for(exam, ExamDirectorParams(**overrides), clock=clock)


def cues(actions) -> list[Cue]:
    return [a for a in actions if isinstance(a, Cue)]


def notes(actions) -> list[str]:
    return [a.kind for a in actions if isinstance(a, Note)]


def answer(c, clock, seconds=5.0) -> list:
    clock.t += 1
    actions = c.on_window(True)
    clock.t += seconds
    return actions + c.on_window(False)


QUESTIONS = {"name": "Interview", "intro": "Now some questions about you.",
             "questions": ["Where do you live?", "What do you do in your free time?"]}


def test_a_greeting_that_asks_is_answered_before_anything_else_is_said(clock):
    c = controller(exam_of(QUESTIONS, greeting="Good morning. Could you tell me your full name, please?"), clock)
    (first,) = cues(c.start())
    assert first.step == "greeting" and first.respond_now
    assert "full name" in first.text and "Where do you live" not in first.text  # one prompt per turn
    actions = c.on_examiner_turn("Good morning. Could you tell me your full name, please?")
    assert Listen("greeting", "Interview", Answer.OPEN) in actions
    (placed,) = cues(actions)
    # The first part's intro and question wait for the answer to the greeting.
    assert placed.step == "Interview q1" and not placed.respond_now and "Now some questions" in placed.text
    answer(c, clock)
    c.on_examiner_turn("Now some questions about you. Where do you live?")
    plan = {e["step"]: e for e in c.plan_entries()}
    assert plan["greeting"]["heard"] and plan["greeting"]["answered_s"]
    assert plan["Interview q1"]["heard"]


def test_the_ielts_opening_takes_the_name_then_the_identification_then_part_1(clock):
    exam = load_config(ROOT / "configs/ielts_speaking.yaml").exam
    c = controller(exam, clock)
    said = []
    (cue,) = cues(c.start())
    for _ in range(3):
        line = c.steps[c.cued].line
        said.append(line)
        c.on_examiner_turn(line)
        answer(c, clock)
    assert "full name" in said[0] and "?" not in said[0].split("full name")[1].rstrip("?, please")
    assert "identification" in said[1] and "full name" not in said[1]
    assert said[2].startswith("Thank you, that's fine. Now, in this first part") and said[2].endswith(
        exam.parts[0].questions[0])


def test_a_turn_the_candidate_talked_over_is_said_again_once_after_their_answer(clock):
    c = controller(exam_of(QUESTIONS), clock)
    c.start()
    c.on_examiner_turn("Hello. Now some questions about you. Where do you live?")
    c.on_window(True)
    clock.t += 3
    c.on_window(False)
    # The candidate talks over the next question: what they heard of it is not the question.
    actions = c.on_examiner_turn("What do you", interrupted=True)
    assert notes(actions) == ["step_interrupted"]
    # Whoever talks over the examiner may go on after a pause: their turn ends at a long silence.
    assert Listen("Interview q2", "Interview", Answer.TIMED, None) in actions
    (again,) = cues(actions)
    # No "you did not say what you were told": the model did; the candidate talked over it.
    assert again.step == "Interview q2" and not again.respond_now and "did not say" not in again.text
    answer(c, clock)
    actions = c.on_examiner_turn("What do you do in your free time?")
    assert "step_asked" in notes(actions)
    plan = {e["step"]: e for e in c.plan_entries()}
    assert plan["Interview q2"]["said"] == 2 and plan["Interview q2"]["interrupted"] == 1
    assert plan["Interview q2"]["heard"]


def test_a_step_is_said_at_most_twice_then_the_exam_goes_on_and_the_record_says_it_was_not_heard(clock):
    c = controller(exam_of(QUESTIONS, {"name": "Discussion", "questions": ["Why do people travel?"]}), clock)
    c.start()
    c.on_examiner_turn("Hello. Now some questions about you. Where do you live?")
    answer(c, clock)
    c.on_examiner_turn("What do", interrupted=True)
    answer(c, clock)
    actions = c.on_examiner_turn("What", interrupted=True)
    assert notes(actions) == ["step_interrupted", "step_not_heard"]
    (following,) = cues(actions)
    assert following.step == "Discussion q1"  # heard within one turn of the cut
    answer(c, clock)
    assert "step_asked" in notes(c.on_examiner_turn("Why do people travel?"))
    plan = {e["step"]: e for e in c.plan_entries()}
    assert plan["Interview q2"]["said"] == 2 and not plan["Interview q2"]["heard"]
    assert plan["Interview q2"]["skipped"] == "not heard"


def test_a_model_that_keeps_saying_something_else_does_not_hold_the_exam_on_one_step(clock):
    """Each turn of the model says something other than the step (a nudge's reply, say): the
    step is cued again, but not without end; then the next step is cued and the record says so."""
    c = controller(exam_of(QUESTIONS, {"name": "Discussion", "questions": ["Why do people travel?"]}), clock)
    c.start()
    c.on_examiner_turn("Hello. Now some questions about you. Where do you live?")
    steps = []
    for _ in range(12):
        answer(c, clock)
        actions = c.on_examiner_turn("Let me say that again. Can you tell me more?")
        steps += [cue.step for cue in cues(actions)]
        if "step_not_heard" in notes(actions):
            break
    assert steps[-1] == "Discussion q1" and steps.count("Interview q2") <= 4
    entry = {e["step"]: e for e in c.plan_entries()}["Interview q2"]
    assert entry["skipped"] == "not said" and not entry["heard"]


def test_silence_is_not_counted_while_the_candidate_is_speaking(clock):
    """The candidate starts talking before the examiner's turn they talked over has ended: no
    re-cue the moment their answer ends (the end of their window has the model say the step)."""
    c = controller(exam_of(QUESTIONS), clock, silence_reask_s=8.0)
    c.start()
    c.on_examiner_turn("Hello. Now some questions about you. Where do you live?")
    answer(c, clock)
    c.on_window(True)  # talking over the next question, before its turn has ended
    c.on_examiner_turn("What do you", interrupted=True)
    clock.t += 15  # a long answer, longer than the silence wait
    c.tick()
    c.on_window(False)
    assert cues(c.tick()) == []  # nothing at once: the placed cue is the model's to say now
    clock.t += 8.5
    c.on_examiner_turn("What do you do in your free time?")
    assert {e["step"]: e for e in c.plan_entries()}["Interview q2"]["heard"]


def test_a_turn_talked_over_after_the_question_was_heard_counts_as_asked(clock):
    c = controller(exam_of(QUESTIONS), clock)
    c.start()
    actions = c.on_examiner_turn("Hello. Now some questions about you. Where do you live?", interrupted=True)
    assert "step_asked" in notes(actions) and cues(actions)[0].step == "Interview q2"


def test_each_heard_step_gives_the_gate_its_answer_policy(clock):
    exam = exam_of({"name": "Task", "questions": ["Which do you prefer?"], "answer_s": 45},
                   {"name": "Card", "cue_card": {"topic": "A trip."}, "prep_s": 10, "long_turn_s": 60})
    c = controller(exam, clock)
    c.start()
    actions = c.on_examiner_turn("Hello. Which do you prefer?")
    assert Listen("Task q1", "Task", Answer.TIMED, 45) in actions
    answer(c, clock)
    actions = c.on_examiner_turn("Your topic is: A trip.")
    assert Listen("Card cue card", "Card", Answer.SILENT, None) in actions
    clock.t += 10
    c.tick()
    actions = c.on_examiner_turn(exam.words.start_line)
    assert Listen("Card long turn", "Card", Answer.TIMED, 60) in actions


def cut_at_limit(c, clock, limit_s):
    c.on_window(True)
    clock.t += limit_s + 0.05
    return c.tick()


def test_after_an_answer_cut_at_its_limit_the_next_answer_ends_only_at_a_long_silence(clock):
    """Cut off mid-answer, a candidate may go on after a pause: the next (open) answer is taken as
    a timed one with no limit, so the examiner does not start over them; the one after is open."""
    exam = exam_of({"name": "Talk", "questions": ["Tell me about a trip."], "answer_s": 20},
                   {"name": "Chat", "questions": ["Do you travel often?", "Why?"]})
    c = controller(exam, clock)
    c.start()
    c.on_examiner_turn("Hello. Tell me about a trip.")
    cut_at_limit(c, clock, 20)
    c.on_window(False)
    assert Listen("Chat q1", "Chat", Answer.TIMED, None) in c.on_examiner_turn("Thank you. Do you travel often?")
    answer(c, clock)
    assert Listen("Chat q2", "Chat", Answer.OPEN, None) in c.on_examiner_turn("Why?")


def test_the_time_up_line_is_said_before_the_assessment_in_a_turn_of_its_own(clock):
    exam = exam_of({"name": "Task", "questions": ["Which do you prefer?"], "answer_s": 20,
                    "time_up_line": "Thank you, that is the time."})
    c = controller(exam, clock)
    c.start()
    c.on_examiner_turn("Hello. Which do you prefer?")
    actions = cut_at_limit(c, clock, 20)
    (line,) = cues(actions)
    assert 'say exactly "Thank you, that is the time."' in line.text and "call" not in line.text
    assert not any(isinstance(a, SealMarks) and a.sealed for a in actions)  # the line is heard
    c.on_window(False)
    actions = c.on_examiner_turn("Thank you, that is the time.")
    (assessment,) = cues(actions)
    assert assessment.respond_now and "call record_assessment" in assessment.text
    assert SealMarks(True) in actions


def test_a_role_plays_closing_line_is_said_at_its_time_even_when_the_assessment_follows(clock):
    exam = exam_of({"name": "Shop", "role": {"brief": "You sell shoes.", "opening_line": "Hello, can I help?",
                                             "time_s": 30, "closing_line": "Thank you, let's stop there."}})
    c = controller(exam, clock)
    c.start()
    c.on_examiner_turn("Hello. Hello, can I help?")
    clock.t += 30
    assert c.tick() == [HoldCandidate(True, "role_time_up")]
    (line,) = cues(c.on_candidate_held(False))
    assert line.respond_now and "Thank you, let's stop there." in line.text and "call" not in line.text
    actions = c.on_examiner_turn("Thank you, let's stop there.")
    assert "call record_assessment" in cues(actions)[0].text


BRANCHING = [
    {"name": "Check", "questions": ["Tell me about your town."],
     "judge": {"tool": "judge_level", "question": "Did the candidate sustain the level?",
               "choices": {"sustained": "Probe", "broke_down": "Easier"}}},
    {"name": "Easier", "questions": ["What is your favourite food?"], "next": "Wind-down"},
    {"name": "Probe", "questions": ["What would you change in your town, and why?"]},
    {"name": "Wind-down", "questions": ["What will you do this weekend?"]},
]


def run_branch(clock, choice: str | None, *, spoken: int = 0) -> tuple[list[str], object]:
    c = controller(exam_of(*BRANCHING), clock)
    c.start()
    c.on_examiner_turn("Hello. Tell me about your town.")
    answer(c, clock)
    assert c.judging and "call judge_level" in next(a.text for a in cues(c._placed and [c._placed]))
    for _ in range(spoken):
        c.on_examiner_turn("Thank you. Let's go on.")
    if choice is not None:
        c.on_judgement("judge_level", choice)
    heard = []
    while (step := c.steps[c.cued]).kind.value == "question":
        heard.append(step.key)
        c.on_examiner_turn(step.line)
        answer(c, clock)
    return heard, c


def test_the_examiners_judgement_chooses_the_part_that_follows(clock):
    assert run_branch(clock, "sustained")[0] == ["Probe q1", "Wind-down q1"]
    assert run_branch(clock, "broke_down")[0] == ["Easier q1", "Wind-down q1"]
    heard, c = run_branch(clock, "broke_down")
    plan = {e["step"]: e for e in c.plan_entries()}
    assert plan["Check judgement"]["choice"] == "broke_down" and not plan["Probe q1"]["heard"]
    assert plan["Probe q1"]["skipped"] == "branch not taken" and "skipped" not in plan["Easier q1"]


def test_a_judgement_never_called_is_asked_for_once_more_then_the_first_choice_is_taken(clock):
    heard, c = run_branch(clock, None, spoken=2)
    assert heard == ["Probe q1", "Wind-down q1"]
    assert {e["step"]: e for e in c.plan_entries()}["Check judgement"]["choice"] == "sustained"


def test_the_plan_links_each_part_to_the_next_and_a_judgement_to_its_choices():
    plan = exam_plan(exam_of(*BRANCHING))
    steps = {s.key: s for s in plan.steps}
    assert steps["Check judgement"].choices == {"sustained": "Probe q1", "broke_down": "Easier q1"}
    assert steps["Easier q1"].then == "Wind-down q1" and steps["Probe q1"].then == "Wind-down q1"
    assert steps["Wind-down q1"].then == "assessment"


OUTCOMES = [
    {"name": "Talk", "questions": ["Tell me about a trip you took."], "answer_s": 40, "reask": False,
     "if_no_answer": "Support", "if_cut": "Harder"},
    {"name": "Middle", "questions": ["What do you like about travelling?"], "next": "Wind-down"},
    {"name": "Support", "questions": ["Do you like trains?"], "next": "Wind-down"},
    {"name": "Harder", "questions": ["Should air travel be taxed more?"]},
    {"name": "Wind-down", "questions": ["What will you do this weekend?"]},
]


def test_the_plan_links_an_answers_outcomes_to_the_parts_its_part_names():
    steps = {s.key: s for s in exam_plan(exam_of(*OUTCOMES)).steps}
    assert steps["Talk q1"].outcomes == {"no_answer": "Support q1", "cut": "Harder q1"}
    assert steps["Talk q1"].then == "Middle q1" and not steps["Middle q1"].outcomes


def taken(c, clock) -> list[str]:
    """The questions the controller cues from here on, each said and answered briefly."""
    heard = []
    while (step := c.steps[c.cued]).kind.value == "question":
        heard.append(step.key)
        c.on_examiner_turn(step.line)
        answer(c, clock)
    return heard


def test_what_happened_to_an_answer_chooses_the_part_that_follows(clock):
    # Answered in time: the next part as listed.
    c = controller(exam_of(*OUTCOMES), clock, silence_reask_s=10)
    c.start()
    c.on_examiner_turn("Hello. Tell me about a trip you took.")
    answer(c, clock)
    assert taken(c, clock) == ["Middle q1", "Wind-down q1"]
    # Left unanswered: the part named for that.
    c = controller(exam_of(*OUTCOMES), clock, silence_reask_s=10)
    c.start()
    c.on_examiner_turn("Hello. Tell me about a trip you took.")
    clock.t += 10.1
    actions = c.tick()
    assert "no_answer" in notes(actions) and cues(actions)[0].step == "Support q1"
    assert taken(c, clock) == ["Support q1", "Wind-down q1"]
    plan = {e["step"]: e for e in c.plan_entries()}
    assert plan["Talk q1"]["outcome"] == "no_answer"
    assert plan["Middle q1"]["skipped"] == plan["Harder q1"]["skipped"] == "branch not taken"
    assert "skipped" not in plan["Support q1"] and "skipped" not in plan["Wind-down q1"]
    # Cut at its limit: the part named for that, with the time-up line in front.
    c = controller(exam_of(*OUTCOMES), clock, silence_reask_s=10)
    c.start()
    c.on_examiner_turn("Hello. Tell me about a trip you took.")
    clock.t += 1
    c.on_window(True)
    clock.t += 40.1
    actions = c.tick()
    assert "long_turn_cut" in notes(actions) and cues(actions)[0].step == "Harder q1"
    c.on_window(False)
    assert taken(c, clock) == ["Harder q1", "Wind-down q1"]
    assert {e["step"]: e for e in c.plan_entries()}["Middle q1"]["skipped"] == "branch not taken"


def test_an_outcome_that_names_no_part_or_leads_back_is_refused():
    with pytest.raises(ValueError, match="leads to 'Nowhere'"):
        exam_of({**OUTCOMES[0], "if_cut": "Nowhere"}, *OUTCOMES[1:])
    with pytest.raises(ValueError, match="(?i)loop|back|more than once"):
        exam_of(*OUTCOMES[:4], {**OUTCOMES[4], "if_no_answer": "Talk"})


def test_an_intro_that_quotes_a_question_but_ends_by_leading_on_is_said_with_the_first_step():
    """Only a line that ends with a question waits for an answer; a question quoted inside an
    intro ("the question: how effective might these ideas be? First ...") leads on."""
    quoting = {"name": "Task", "intro": "Here is the question: what might help? First, some time to think.",
               "cue_card": {"topic": "Ways to help", "points": ["one", "two"]}, "prep_s": 10, "long_turn_s": 60,
               "start_line": "Please begin."}
    asking = {**quoting, "intro": "Before we start, is the task clear?"}
    assert [s.key for s in exam_plan(exam_of(quoting)).steps][:2] == ["Task cue card", "Task long turn"]
    assert [s.key for s in exam_plan(exam_of(asking)).steps][:2] == ["Task intro", "Task cue card"]


# -- what the candidate heard of a turn, in the director's processor


def test_what_was_heard_is_the_words_whose_audio_has_played_not_the_words_received():
    from viva.processors.exam_director import HeardSoFar

    heard = HeardSoFar()
    assert heard.heard(5.0) == ""  # nothing has played yet
    heard.on_text("Your topic is: ")
    heard.on_audio(1.5)
    heard.on_text("Describe a place ")
    heard.on_audio(1.5)
    heard.on_text("you like to visit.")
    heard.on_audio(2.0)  # all of it generated, well ahead of playback
    heard.on_playing(10.0)
    assert heard.heard(10.0) == ""
    assert heard.heard(11.6) == "Your topic is: Describe a place "
    assert heard.heard(20.0) == "Your topic is: Describe a place you like to visit."
    heard.turn_start()
    assert heard.heard(20.0) == ""


async def test_the_processor_takes_a_turn_the_candidate_cut_into_as_interrupted_not_as_another_line():
    from pipecat.frames.frames import (
        BotStartedSpeakingFrame,
        BotStoppedSpeakingFrame,
        LLMFullResponseEndFrame,
        LLMFullResponseStartFrame,
        TTSAudioRawFrame,
        TTSTextFrame,
        UserStartedSpeakingFrame,
    )
    from pipecat.tests.utils import run_test

    from viva.processors.exam_director import ExamDirectorProcessor

    exam = exam_of(QUESTIONS)
    clock = FakeClock(0.0)
    c = controller(exam, clock)
    events = []
    processor = ExamDirectorProcessor(director=c, closing_phrase=exam.closing_phrase,
                                      on_event=lambda kind, **f: events.append((kind, f)))
    processor.opening()
    c.on_examiner_turn(c.steps[0].line)
    answer(c, clock)
    second = c.steps[1].line
    audio = TTSAudioRawFrame(audio=b"\0" * 48000, sample_rate=24000, num_channels=1)
    await run_test(processor, frames_to_send=[
        LLMFullResponseStartFrame(), TTSTextFrame(text=second, aggregated_by="word"), audio,
        BotStartedSpeakingFrame(), UserStartedSpeakingFrame(), LLMFullResponseEndFrame(), BotStoppedSpeakingFrame()],
        expected_down_frames=None)
    kinds = [kind for kind, _ in events]
    # The words arrived whole, but the candidate's voice cut in before any of them played.
    assert "step_interrupted" in kinds and "step_not_asked" not in kinds
    (again,) = [f for kind, f in events if kind == "cue" and f["step"] == "Interview q2"][-1:]
    assert "did not say" not in again["text"] and not again["respond_now"]
