"""The exam director with a fake clock, then its processor with Pipecat's test helper."""

from pathlib import Path

import pytest
from pipecat.frames.frames import (
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.tests.utils import run_test

from tests.helpers import FakeClock
from viva.config import load_config
from viva.exam.controller import (
    Cue,
    ExamController,
    HoldCandidate,
    Note,
    PartBegins,
    SealMarks,
    WithholdExaminer,
    controller_for,
)
from viva.exam.phrases import asked
from viva.exam.plan import Answer, StepKind, exam_plan
from viva.pipelines.registry import ExamDirectorParams
from viva.processors.exam_director import ExamDirectorProcessor
from viva.processors.exam_frames import (
    CandidateHoldFrame,
    ExamCueFrame,
    ExaminerWithheldFrame,
    ExamPartFrame,
    ExamStepFrame,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ielts_config():
    return load_config(ROOT / "configs/ielts_speaking.yaml").exam


@pytest.fixture(scope="module")
def ielts(ielts_config):
    """The IELTS exam with a greeting that asks nothing (it leads into the first question)."""
    return ielts_config.model_copy(update={"greeting": "Good morning. This is the Speaking test."})


@pytest.fixture
def clock():
    return FakeClock(0.0)


def director(exam, clock, **overrides) -> ExamController:
    params = ExamDirectorParams(**overrides)
    return controller_for(exam, params, clock=clock)


def cues(actions) -> list[Cue]:
    return [a for a in actions if isinstance(a, Cue)]


def notes(actions) -> list[str]:
    return [a.kind for a in actions if isinstance(a, Note)]


def said_line(d: ExamController, index: int) -> str:
    return d.steps[index].line


def ask_through(d: ExamController, clock: FakeClock, upto: str) -> None:
    """The examiner says each cued step, the candidate answers each, until the step `upto` is cued."""
    while d.steps[d.cued].key != upto:
        step = d.steps[d.cued]
        d.on_examiner_turn(step.line)
        if step.prep_s:  # the preparation passes, then the start line is cued
            clock.t += step.prep_s
            d.tick()
            continue
        clock.t += 1
        d.on_window(True)
        clock.t += 5
        d.on_window(False)
        clock.t += 1


def test_the_plan_is_the_config_in_order(ielts_config):
    ielts = ielts_config
    steps = exam_plan(ielts).steps
    keys = [s.key for s in steps]
    # The greeting's lines that ask are turns of their own (the name, then the identification).
    assert keys[:2] == ["greeting", "greeting 2"]
    assert steps[0].line == ielts.greeting_lines[0] and steps[1].line == ielts.greeting_lines[1]
    assert keys[2:11] == [f"Part 1 q{i}" for i in range(1, 9)] + ["Part 2 cue card"]
    assert keys[11:] == ["Part 2 long turn", "Part 2 q1", "Part 2 q2"] + [f"Part 3 q{i}" for i in range(1, 6)] + [
        "assessment"]
    # What follows the last asking line leads into the first step, with the part's intro.
    assert steps[2].line.startswith(ielts.greeting_lines[2]) and steps[2].line.endswith(ielts.parts[0].questions[0])
    card = steps[10]
    assert card.kind is StepKind.CUE_CARD and card.prep_s == 60 and card.line.startswith(ielts.parts[1].intro)
    assert card.answer is Answer.SILENT
    assert steps[11].kind is StepKind.LONG_TURN and steps[11].limit_s == 120 and steps[11].answer is Answer.TIMED
    assert steps[14].line.startswith(ielts.parts[2].intro)
    assert steps[-1].tools == ("record_assessment",)
    assert [s.then for s in steps[:-1]] == keys[1:] and steps[-1].then is None


def test_asked_is_tolerant_of_rewording_but_not_of_another_question():
    question = "What do you usually do at the weekend?"
    assert asked(question, "Tell me, what do you normally do at the weekend?")
    assert asked(question, "what do you usually do at weekends")
    assert not asked(question, "Let's move on. What is your favourite kind of food?")
    assert not asked(question, "Can you tell me more about that?")


def test_the_first_step_is_cued_at_once_and_the_next_is_in_place_before_the_answer_ends(ielts, clock):
    d = director(ielts, clock)
    first = d.start()
    assert [a for a in first if isinstance(a, PartBegins)] == [PartBegins("Part 1")]
    (cue,) = cues(first)
    assert cue.respond_now and cue.step == "Part 1 q1" and f'say exactly "{d.steps[0].line}"' in cue.text
    clock.t = 6
    after = d.on_examiner_turn(d.steps[0].line, began=2)
    (placed,) = cues(after)
    assert not placed.respond_now and placed.step == "Part 1 q2" and d.steps[1].line in placed.text
    assert "step_asked" in notes(after)
    plan = {entry["step"]: entry for entry in d.plan_entries()}
    assert plan["Part 1 q1"]["cued_s"] == 0 and plan["Part 1 q1"]["asked_s"] == 2 and plan["Part 1 q1"]["cues"] == 1
    clock.t = 8
    assert d.on_window(True) == []  # the cue is in place: nothing is sent at the answer
    clock.t = 12
    assert d.on_window(False) == []
    assert {e["step"]: e for e in d.plan_entries()}["Part 1 q1"]["answered_s"] == [[8, 12]]


def test_a_step_not_asked_is_cued_again_and_the_exam_never_moves_past_it(ielts, clock):
    d = director(ielts, clock)
    d.start()
    d.on_examiner_turn(d.steps[0].line)
    for _ in range(3):
        actions = d.on_examiner_turn("Can you tell me more about that?")
        assert "step_not_asked" in notes(actions)
        (cue,) = cues(actions)
        assert cue.step == "Part 1 q2" and not cue.respond_now and "did not say what you were told" in cue.text
    actions = d.on_examiner_turn("So, " + d.steps[1].line)
    assert cues(actions)[0].step == "Part 1 q3"
    assert {e["step"]: e for e in d.plan_entries()}["Part 1 q2"]["cues"] == 4


def test_two_questions_and_a_cue_read_aloud_are_recorded(ielts, clock):
    d = director(ielts, clock)
    (cue,) = cues(d.start())
    actions = d.on_examiner_turn(d.steps[0].line + " And where do you live?")
    assert "two_questions" in notes(actions) and cues(actions)[0].step == "Part 1 q2"
    actions = d.on_examiner_turn(cues(actions)[0].text)
    assert "cue_read_aloud" in notes(actions) and cues(actions)[0].step == "Part 1 q3"


def test_the_preparation_is_held_in_silence_then_the_start_is_cued(ielts, clock):
    d = director(ielts, clock)
    d.start()
    ask_through(d, clock, "Part 2 cue card")
    assert d.steps[d.cued].key == "Part 2 cue card"
    actions = d.on_examiner_turn(d.steps[d.cued].line)
    assert HoldCandidate(True, "preparation") in actions and WithholdExaminer(True) in actions
    assert cues(actions) == []  # nothing is cued during the minute
    started = clock.t
    clock.t += 10
    assert notes(d.on_examiner_turn("Take your time.")) == ["examiner_withheld"]
    while clock.t < started + 59.9:
        assert d.tick() == []
        clock.t += 0.1
    clock.t = started + 60
    actions = d.tick()
    assert WithholdExaminer(False) in actions and HoldCandidate(True, "start_line") in actions
    (start,) = cues(actions)
    assert start.respond_now and start.step == "Part 2 long turn"
    actions = d.on_examiner_turn(d.steps[9].line)
    assert HoldCandidate(False, "examiner_spoke") in actions
    assert {e["step"]: e for e in d.plan_entries()}["Part 2 cue card"]["prep_s"] == 60


def test_the_long_turn_is_cut_at_its_limit_and_the_examiner_thanks_the_candidate(ielts, clock):
    d = director(ielts, clock)
    d.start()
    ask_through(d, clock, "Part 2 cue card")
    d.on_examiner_turn(d.steps[8].line)
    clock.t += 60
    d.tick()
    d.on_examiner_turn(d.steps[9].line)
    clock.t += 1.5
    d.on_window(True)
    opened = clock.t
    while clock.t < opened + 119.9:
        assert d.tick() == []
        clock.t += 0.1
    clock.t = opened + 120
    actions = d.tick()
    assert "long_turn_cut" in notes(actions)
    assert actions[-1] == HoldCandidate(True, "long_turn_limit", cut=True)  # after the cue is in place
    (cue,) = cues(actions)
    assert cue.step == "Part 2 q1" and 'say exactly "Thank you. Would other people' in cue.text
    assert "did not say" not in cue.text
    d.on_window(False)
    assert {e["step"]: e for e in d.plan_entries()}["Part 2 long turn"]["long_turn_s"] == 120


def test_a_silent_candidate_is_asked_again_once_then_given_the_next_question(ielts, clock):
    d = director(ielts, clock, silence_reask_s=10)
    d.start()
    d.on_examiner_turn(d.steps[0].line)
    clock.t += 9.9
    assert d.tick() == []
    clock.t += 0.2
    actions = d.tick()
    assert "silence_reask" in notes(actions)
    (again,) = cues(actions)
    assert again.respond_now and again.step == "Part 1 q1" and ielts.parts[0].questions[0] in again.text
    actions = d.on_examiner_turn(ielts.parts[0].questions[0])
    assert cues(actions)[0].step == "Part 1 q2" and not cues(actions)[0].respond_now
    clock.t += 10.1
    actions = d.tick()
    assert "no_answer" in notes(actions)
    (next_,) = cues(actions)
    assert next_.respond_now and next_.step == "Part 1 q2"
    assert {e["step"]: e for e in d.plan_entries()}["Part 1 q1"]["skipped"] == "no answer"


def test_an_answer_to_a_line_that_was_not_the_step_is_not_taken_for_silence(ielts, clock):
    """The model said something else; the candidate answers it and the model replies: no cue
    to answer now reaches it then (it would cut the reply off), and none for the silence."""
    d = director(ielts, clock, silence_reask_s=10)
    d.start()
    actions = d.on_examiner_turn("Why do you think that is?")
    assert "step_not_asked" in notes(actions)
    clock.t += 2
    d.on_window(True)
    clock.t += 7
    d.on_window(False)
    d.on_examiner_began()  # the model replies to the answer
    clock.t += 2  # 11 s since the line that was not the step
    assert d.tick() == []
    clock.t += 20
    assert d.tick() == []  # still speaking (a long reply): nothing cut
    actions = d.on_examiner_turn(d.steps[0].line)
    assert "step_asked" in notes(actions)


def test_the_silence_timer_waits_while_the_model_speaks(ielts, clock):
    d = director(ielts, clock, silence_reask_s=10)
    d.start()
    d.on_examiner_turn("Why do you think that is?")  # not the step: it is to be asked after 10 s of silence
    clock.t += 9
    d.on_examiner_began()  # the model speaks up on its own
    clock.t += 5
    assert d.tick() == []


def test_a_cue_to_answer_at_once_that_gets_no_turn_is_sent_again(ielts, clock):
    d = director(ielts, clock)
    (first,) = cues(d.start())
    clock.t = 3.9
    assert d.tick() == []
    clock.t = 4.1
    actions = d.tick()
    assert "cue_unanswered" in notes(actions) and cues(actions)[0].text == first.text
    clock.t = 8.2
    assert d.tick() == []  # the wait doubles
    clock.t = 12.2
    assert cues(d.tick())
    d.on_examiner_began()  # the model answers at last
    clock.t = 40
    assert d.tick() == []


def test_a_cue_to_answer_at_once_is_not_sent_again_while_the_candidate_speaks(ielts, clock):
    d = director(ielts, clock)
    d.start()
    clock.t = 4.1
    d.on_window(True)  # the candidate speaks before the model has begun
    assert d.tick() == []
    d.on_window(False)
    assert "cue_unanswered" in notes(d.tick())


def test_a_part_past_its_upper_bound_gives_way_to_the_next_part(ielts, clock):
    d = director(ielts, clock)
    d.start()
    d.on_examiner_turn(d.steps[0].line)
    clock.t = 5 * 60 + 1  # Part 1's five minutes are over when q2 has been asked
    actions = d.on_examiner_turn(d.steps[1].line)
    (cue,) = cues(actions)
    # Part 2 begins when its card is said: Part 1's last answer keeps Part 1's gate settings.
    assert cue.step == "Part 2 cue card" and not [a for a in actions if isinstance(a, PartBegins)]
    assert PartBegins("Part 2") in d.on_examiner_turn(d.steps[8].line)
    plan = {e["step"]: e for e in d.plan_entries()}
    assert plan["Part 1 q3"]["skipped"] == "part_time_up" and plan["Part 1 q8"]["skipped"] == "part_time_up"


def test_an_answer_that_starts_after_the_part_ran_out_replaces_the_cue_in_place(ielts, clock):
    d = director(ielts, clock)
    d.start()
    d.on_examiner_turn(d.steps[0].line)  # q2 cued, in place
    clock.t = 5 * 60 + 1
    (cue,) = cues(d.on_window(True))
    assert cue.step == "Part 2 cue card" and not cue.respond_now


def test_past_the_exam_limit_the_next_step_is_the_assessment(ielts, clock):
    d = director(ielts, clock)
    d.start()
    d.on_examiner_turn(d.steps[0].line)
    clock.t = 14 * 60 + 1
    actions = d.on_window(True)
    assert any(c.step == "assessment" and "call record_assessment" in c.text for c in cues(actions))


# -- the processor


def processor_of(exam) -> tuple[FakeClock, ExamController, ExamDirectorProcessor, list]:
    """A director on a fake clock inside its processor, and the events the processor records."""
    clock = FakeClock(0.0)
    d = director(exam, clock)
    events = []
    processor = ExamDirectorProcessor(director=d, closing_phrase=exam.closing_phrase,
                                      on_event=lambda kind, **f: events.append((kind, f)))
    return clock, d, processor, events


async def test_the_processor_cues_upstream_and_withholds_the_examiner_during_the_preparation(ielts):
    clock, d, processor, events = processor_of(ielts)
    opening = processor.opening()
    assert opening.startswith("[Exam system] Now:") and d.steps[0].line in opening
    ask_through(d, clock, "Part 2 cue card")

    def turn(text):
        return [LLMFullResponseStartFrame(), TTSTextFrame(text=text, aggregated_by="word"),
                LLMFullResponseEndFrame()]

    card = d.steps[8].line
    audio = TTSAudioRawFrame(audio=b"\0" * 960, sample_rate=24000, num_channels=1)
    down, up = await run_test(
        processor,
        frames_to_send=[*turn(card), audio, *turn("Take your time.")],
        expected_down_frames=[LLMFullResponseStartFrame, TTSTextFrame, LLMFullResponseEndFrame,
                              LLMFullResponseStartFrame, TTSTextFrame, LLMFullResponseEndFrame],  # no audio
        expected_up_frames=[ExamPartFrame, ExamPartFrame, ExamStepFrame, CandidateHoldFrame],
    )
    assert up[0].part == "Part 1"  # the opening's, once the pipeline runs
    assert up[1].part == "Part 2"  # when the card is said
    assert up[2].step == "Part 2 cue card" and up[2].answer == "silent"  # the gate: a preparation
    assert up[3].hold and up[3].reason == "preparation"
    kinds = [kind for kind, _ in events]
    assert "examiner_withheld" in kinds and kinds.count("cue") == 1  # only the opening


async def test_the_processor_places_the_next_cue_when_the_examiner_turn_has_ended(ielts):
    clock = FakeClock(0.0)
    d = director(ielts, clock)
    processor = ExamDirectorProcessor(director=d, closing_phrase=ielts.closing_phrase)
    processor.opening()
    down, up = await run_test(
        processor,
        frames_to_send=[LLMFullResponseStartFrame(), TTSTextFrame(text=d.steps[0].line, aggregated_by="word"),
                        LLMFullResponseEndFrame()],
        expected_down_frames=[LLMFullResponseStartFrame, TTSTextFrame, LLMFullResponseEndFrame],
        expected_up_frames=[ExamPartFrame, ExamStepFrame, ExamCueFrame],
    )
    assert up[1].step == "Part 1 q1" and up[1].answer == "open"
    assert not up[2].respond_now and d.steps[1].line in up[2].text


def test_a_silence_after_the_last_question_asks_it_again_then_the_assessment_is_cued_again(ielts, clock):
    d = director(ielts, clock, silence_reask_s=10)
    d.start()
    ask_through(d, clock, "Part 3 q5")
    actions = d.on_examiner_turn(d.steps[d.cued].line)
    assert cues(actions)[0].step == "assessment"
    clock.t += 10.1
    (again,) = cues(d.tick())
    assert again.step == "Part 3 q5" and again.respond_now
    actions = d.on_examiner_turn(ielts.parts[2].questions[4])
    assert [c.step for c in cues(actions)] == ["assessment"]  # the exam goes on to its end


def seals(actions) -> list[bool]:
    return [a.sealed for a in actions if isinstance(a, SealMarks)]


def test_the_assessment_cue_seals_the_examiner_and_a_reask_opens_it_again(ielts, clock):
    d = director(ielts, clock, silence_reask_s=10)
    d.start()
    ask_through(d, clock, "Part 3 q5")
    actions = d.on_examiner_turn(d.steps[d.cued].line)
    assert cues(actions)[0].step == "assessment" and seals(actions) == [True]
    clock.t += 10.1
    actions = d.tick()  # the candidate said nothing: the question is asked again, and heard
    assert cues(actions)[0].step == "Part 3 q5" and seals(actions) == [False]
    actions = d.on_examiner_turn(ielts.parts[2].questions[4])
    assert seals(actions) == [True]


async def test_the_processor_lets_only_the_closing_through_once_the_assessment_is_cued(ielts):
    clock, d, processor, events = processor_of(ielts)
    processor.opening()
    ask_through(d, clock, "Part 3 q5")
    await processor._act(d.on_examiner_turn(d.steps[d.cued].line))  # the assessment is cued: sealed
    assert processor.marks_gate.sealed

    def audio():
        return TTSAudioRawFrame(audio=b"\1" * 960, sample_rate=24000, num_channels=1)

    marks = [TTSStartedFrame(), audio(), TTSTextFrame(text="Fluency and coherence six,", aggregated_by="word"),
             audio(), TTSTextFrame(text=" pronunciation seven.", aggregated_by="word"), TTSStoppedFrame()]
    closing = [TTSStartedFrame(), audio(), TTSTextFrame(text="Thank you.", aggregated_by="word"), audio(),
               TTSTextFrame(text=" That is the end of the Speaking test.", aggregated_by="word"), TTSStoppedFrame()]
    down, _ = await run_test(
        processor,
        frames_to_send=[*marks, *closing],
        expected_down_frames=[TTSStartedFrame, ExaminerWithheldFrame, ExaminerWithheldFrame, TTSStoppedFrame,
                              TTSStartedFrame, TTSAudioRawFrame, TTSTextFrame, TTSAudioRawFrame, TTSTextFrame,
                              TTSStoppedFrame],
        expected_up_frames=[ExamPartFrame],
    )
    assert down[1].first and down[1].text + down[2].text == "Fluency and coherence six, pronunciation seven."
    withheld = [f for kind, f in events if kind == "examiner_withheld"]
    assert withheld == [{"reason": "assessment", "text": "Fluency and coherence six, pronunciation seven."}]


# -- timed answers, items said once, role-play (other formats, from the config alone)


def exam_of(*parts, tools=True):
    from viva.config import ExamConfig

    tool = [{"name": "record_assessment", "description": "marks",
             "parameters": {"type": "object", "properties": {"mark": {"type": "integer"}}}}]
    return ExamConfig.model_validate({"name": "t", "greeting": "Hello.", "system_prompt": "Examiner.",
                                      "closing_phrase": "That is the end of the test.", "parts": list(parts),
                                      "tools": tool if tools else []})


def test_a_question_with_preparation_is_held_silent_then_started_and_its_answer_cut_at_the_limit(clock):
    exam = exam_of({"name": "Task", "questions": ["Which do you prefer, cities or towns?"],
                    "question_prep_s": 15, "answer_s": 45, "start_line": "Begin speaking now."})
    d = director(exam, clock)
    assert [s.key for s in d.steps] == ["Task q1", "Task q1 answer", "assessment"]
    d.start()
    actions = d.on_examiner_turn("Hello. Which do you prefer, cities or towns?")
    assert HoldCandidate(True, "preparation") in actions and not cues(actions)
    clock.t += 15
    (start,) = cues(d.tick())
    assert start.step == "Task q1 answer" and start.respond_now and "Begin speaking now." in start.text
    d.on_examiner_turn("Begin speaking now.")
    d.on_window(True)
    clock.t += 44.9
    assert not cues(d.tick())
    clock.t += 0.2
    actions = d.tick()
    assert "long_turn_cut" in notes(actions) and HoldCandidate(True, "long_turn_limit", cut=True) in actions
    assert cues(actions)[0].step == "assessment"


def test_an_item_said_once_is_not_asked_again_when_the_candidate_is_silent(clock):
    exam = exam_of({"name": "Repeat", "questions": ["The library opens at nine.", "Bring your student card."],
                    "answer_s": 12, "reask": False})
    d = director(exam, clock, silence_reask_s=10)
    d.start()
    d.on_examiner_turn("Hello. The library opens at nine.")
    clock.t += 10.1
    actions = d.tick()
    assert notes(actions) == ["no_answer"] and cues(actions)[0].step == "Repeat q2"


ROLE = {"brief": "You are Mr Jones, 58. You have had chest pain for three days.",
        "opening_line": "Hello, doctor.", "time_s": 60, "closing_line": "Thank you, that is the time."}


def role_exam():
    return exam_of({"name": "Consultation", "intro": "You have five minutes to read the scenario.", "prep_s": 300,
                    "role": ROLE},
                   {"name": "Questions", "questions": ["What is your most likely diagnosis?"]})


def test_a_role_play_is_cued_with_its_brief_after_the_reading_time_and_the_candidate_leads(clock):
    d = director(role_exam(), clock)
    assert [s.key for s in d.steps] == ["Consultation intro", "Consultation role", "Questions q1", "assessment"]
    d.start()
    actions = d.on_examiner_turn("Hello. You have five minutes to read the scenario.")
    assert HoldCandidate(True, "preparation") in actions
    clock.t += 300
    (cue,) = cues(d.tick())
    assert cue.respond_now and "play this role" in cue.text and ROLE["brief"] in cue.text
    assert 'Start by saying exactly "Hello, doctor."' in cue.text
    d.on_examiner_began()
    actions = d.on_examiner_turn("Hello, doctor.")
    assert "role_started" in notes(actions) and not cues(actions)
    for _ in range(5):  # the candidate asks, the patient answers: nothing is cued meanwhile
        d.on_window(True)
        clock.t += 4
        d.on_window(False)
        d.on_examiner_began()
        clock.t += 3
        assert not cues(d.tick())
        assert d.on_examiner_turn("It started three days ago.") == []
    assert d.phase.value == "role"


def in_role(clock) -> ExamController:
    """A director whose role-play has just begun (the reading time over, the opening line said)."""
    d = director(role_exam(), clock)
    d.start()
    d.on_examiner_turn("Hello. You have five minutes to read the scenario.")
    clock.t += 300
    d.tick()
    d.on_examiner_turn("Hello, doctor.")
    return d


def test_the_role_play_ends_at_its_time_at_once_when_quiet_and_never_over_the_examiner(clock):
    d = in_role(clock)
    clock.t += 59
    d.on_examiner_began()  # the patient is answering when the time comes
    clock.t += 2
    assert not cues(d.tick())
    d.on_examiner_turn("No, nothing else.")
    # The candidate is held first (they may be just starting to speak); the gate's answer that no
    # window had opened before the hold has the examiner say it at once.
    assert d.tick() == [HoldCandidate(True, "role_time_up")] and d.holding_candidate
    clock.t += 0.1
    assert d.tick() == []
    actions = d.on_candidate_held(False)
    (cue,) = cues(actions)
    assert "role_ended" in notes(actions) and cue.step == "Questions q1" and cue.respond_now
    assert '"Thank you, that is the time. What is your most likely diagnosis?"' in cue.text
    assert d.records[1].role_s == 61.1 and d.holding_candidate  # let go once it is said
    actions = d.on_examiner_turn("Thank you, that is the time. What is your most likely diagnosis?")
    assert HoldCandidate(False, "examiner_spoke") in actions and not d.holding_candidate


def test_a_role_play_whose_time_ends_as_the_candidate_begins_to_speak_is_closed_at_their_answer(clock):
    """The gate had opened their window before the hold reached it; the director had not heard yet."""
    d = in_role(clock)
    clock.t += 61
    assert d.tick() == [HoldCandidate(True, "role_time_up")]
    actions = d.on_candidate_held(True)
    (cue,) = cues(actions)
    assert cue.step == "Questions q1" and not cue.respond_now  # for the end of what they are saying
    assert HoldCandidate(False, "speaking") in actions and not d.holding_candidate
    d.on_window(True)
    assert not cues(d.tick())


def test_a_role_play_time_up_no_gate_answers_goes_on_as_quiet(clock):
    d = in_role(clock)
    clock.t += 61
    assert d.tick() == [HoldCandidate(True, "role_time_up")]
    clock.t += 0.9
    assert d.tick() == []
    clock.t += 0.1
    (cue,) = cues(d.tick())
    assert cue.respond_now and d.holding_candidate
    assert d.on_candidate_held(False) == []  # a late answer changes nothing


def test_a_role_play_whose_time_ends_while_the_candidate_speaks_is_closed_at_their_answer(clock):
    d = in_role(clock)
    d.on_window(True)
    clock.t += 61
    (cue,) = cues(d.tick())
    assert cue.step == "Questions q1" and not cue.respond_now  # for the end of what they are saying
