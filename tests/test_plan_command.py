"""`viva plan CONFIG`: the exam as the candidate will hear it, read from the plan the exam
controller conducts, at once (no Pipecat), and bad input as `viva validate` reports it."""

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.helpers import FakeClock
from viva.commands.plan import exam_limit_s, plan_text
from viva.config import load_config
from viva.exam import wording
from viva.exam.controller import Cue, Phase, controller_for

SHIPPED = sorted(path.relative_to(ROOT).as_posix() for path in (ROOT / "configs").glob("*.yaml"))
DIRECTED = [name for name in SHIPPED if "exam_director" in {s.name for s in load_config(ROOT / name).stages}]
HEAVY = ("pipecat", "google.genai", "onnxruntime")


def viva(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "viva.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_the_shipped_configs_are_all_here():
    # Every config has an exam (one without is refused); the baseline runs without the exam director.
    assert len(SHIPPED) >= 10 and len(DIRECTED) >= 9 and "configs/baseline_pipecat.yaml" not in DIRECTED


@pytest.mark.parametrize("config", SHIPPED)
def test_viva_plan_prints_every_shipped_config(config):
    result = viva("plan", config)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    exam = load_config(ROOT / config).exam
    assert result.stdout.startswith(exam.name) and "[assessment] assessment" in result.stdout


def test_viva_plan_imports_neither_pipecat_nor_the_model_clients():
    """The plan of every shipped config is built in one process that never imports Pipecat (or
    google-genai, Silero's runtime): it answers at once, audio never starts."""
    code = ("import contextlib, io, sys; from viva.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    codes = [main(['plan', path]) for path in {SHIPPED!r}]\n"
            "assert codes == [0] * len(codes), codes\n"
            f"heavy = sorted(m for m in sys.modules if m.startswith({HEAVY!r}))\n"
            "assert not heavy, heavy[:10]")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name, text", [
    ("unknown_key", "extends: {short}\nexam:\n  colour: red\n"),
    ("broken_yaml", "exam: [broken\n"),
    ("unknown_stage", "extends: {short}\npipeline:\n  - stage: silero_vad\n  - stage: shouting_gate\n"),
])
def test_bad_input_is_the_line_viva_validate_gives_and_exit_2(tmp_path, name, text):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text.format(short=ROOT / "configs/ielts_speaking_short.yaml"))
    planned, validated = viva("plan", path), viva("validate", path)
    assert planned.returncode == validated.returncode == 2
    assert planned.stdout == "" and len(planned.stderr.splitlines()) == 1
    assert planned.stderr == validated.stderr and re.match(rf"viva: {re.escape(str(path))}:\d+: ", planned.stderr)


def test_a_missing_config_is_one_line_and_exit_2(tmp_path):
    result = viva("plan", tmp_path / "nowhere.yaml")
    assert result.returncode == 2 and result.stderr == f"viva: {tmp_path / 'nowhere.yaml'}: no such file\n"


def test_the_plan_shows_every_timer_of_the_ielts_test():
    text = plan_text(load_config(ROOT / "configs/ielts_speaking.yaml"))
    for shown in ["Session limit: 1200 s", "Exam limit: 840 s", "silent for 10 s",
                  "only 4 s of silence", "Part 1: planned 4 to 5 min", "Part 2: planned 3 to 4 min",
                  "past 5 min its questions not yet asked are left out", "silent preparation, 60 s",
                  "timed, 120 s from the candidate's first word", 'cut at 120 s: says "Thank you."',
                  "[greeting] question", "[greeting 2] question", "calls record_assessment silently",
                  'the closing phrase: "Thank you. That is the end of the Speaking test."']:
        assert shown in text, shown


def test_the_plan_shows_where_each_branch_goes():
    text = plan_text(load_config(ROOT / "configs/actfl_opi.yaml"))
    judgement = text.split("[Intermediate level check judgement] judgement\n")[1].split("\n\n")[0]
    assert "calls judge_intermediate silently: " in judgement
    assert "    sustained: [Advanced probe q1]" in judgement and "    broke_down: [Novice level check q1]" in judgement
    assert "    next: [Role-play role]" in text  # the Novice check skips the probes
    role = text.split("[Role-play role] role-play\n")[1].split("\n\n")[0]
    assert "role-play, 120 s from the opening line" in role and "plays: You are the evening receptionist" in role


OUTCOMES = """\
exam:
  name: Branches on answers
  greeting: Hello.
  system_prompt: You are an examiner.
  closing_phrase: That is the end of the test.
  parts:
    - name: Talk
      questions: [Tell me about a trip you took.]
      answer_s: 40
      reask: false
      if_no_answer: Support
      if_cut: Harder
    - {name: Middle, questions: [What do you like about travelling?], next: Wind-down}
    - {name: Support, questions: [Do you like trains?], next: Wind-down}
    - {name: Harder, questions: [Should air travel be taxed more?]}
    - {name: Wind-down, questions: [What will you do this weekend?]}
"""


def test_the_plan_shows_where_an_unanswered_or_cut_answer_leads_and_a_closing_without_tools(tmp_path):
    (tmp_path / "c.yaml").write_text(OUTCOMES)
    config = load_config(tmp_path / "c.yaml")
    text = plan_text(config)
    talk = text.split("[Talk q1] question\n")[1].split("\n\n")[0]
    assert "said once: not asked again if unanswered" in talk
    assert "    if unanswered: [Support q1]" in talk and "    if cut at its limit: [Harder q1]" in talk
    assert "    next: [Wind-down q1]" in text.split("[Support q1] question\n")[1]
    assert text.endswith('[closing] closing\n    says: "That is the end of the test."\n    then the exam ends')
    in_order(conduct(config, first_choice)[0], quotations(text))


@pytest.mark.parametrize("config", DIRECTED)
def test_the_exam_limit_shown_is_the_controllers(config):
    exam = load_config(ROOT / config).exam
    from viva.pipelines.registry import ExamDirectorParams

    # The controller keeps its limit private; the plan states the same rule (see exam_limit_s).
    assert exam_limit_s(exam) == controller_for(exam, ExamDirectorParams())._exam_max_s


# -- one source of truth: what the controller cues is what the plan says


LINE, ANY = "LINEtoSAY", "ANYthing"


def _said_pattern(template: str) -> re.Pattern:
    """A cue's wording (viva.exam.wording) with the line to say as the group, anything for the rest."""
    return re.compile(re.escape(template).replace(LINE, "(.*)").replace(ANY, ".*"))


SAY = _said_pattern(wording.say(LINE))
PLAY = _said_pattern(wording.play_role(ANY, LINE))


def words_to_say(cue: Cue) -> str | None:
    """The words the examiner is told to say exactly (None: a call, not words)."""
    found = PLAY.search(cue.text) or SAY.search(cue.text)
    return found.group(1) if found else None


def conduct(config, choose) -> tuple[list[str], set[Phase]]:
    """Every line the controller cues, in order, for an examiner who says each cue word for word
    and a candidate who answers each step at once; judgements by `choose(step)`."""
    clock = FakeClock(0.0)
    (director,) = [stage.params for stage in config.stages if stage.name == "exam_director"]
    c = controller_for(config.exam, director, clock=clock)
    cued: list[str] = []
    phases: set[Phase] = set()
    placed: Cue | None = None
    actions = c.start()
    for _ in range(1000):
        for cue in (a for a in actions if isinstance(a, Cue)):
            placed = cue
            cued += [line] if (line := words_to_say(cue)) is not None else []
        phases.add(c.phase)
        step = c.steps[c.cued]
        if c.phase is Phase.DONE:
            return cued, phases
        if c.phase is Phase.JUDGING:
            actions = c.on_judgement(step.tools[0], choose(step))
        elif c.phase is Phase.PREPARING:
            clock.t += step.prep_s
            actions = c.tick()
        elif c.phase is Phase.ROLE:
            role = c.steps[c.answering]
            actions = answer(c, clock)
            clock.t += role.limit_s
            actions += c.tick()
            actions += c.on_candidate_held(False)
        else:
            said = c.cued
            actions = c.on_examiner_turn(words_to_say(placed))
            if c.phase is Phase.CUED and c.answering == said:
                actions += answer(c, clock)
    raise AssertionError(f"the exam did not end: {cued[-3:]}")


def answer(c, clock) -> list:
    clock.t += 1
    actions = c.on_window(True)
    clock.t += 3
    return actions + c.on_window(False)


def quotations(text: str) -> list[str]:
    """What the plan says is said: one quotation per line, in order."""
    return [m.group(1) for line in text.splitlines() if (m := re.search(r'"(.*)"', line))]


def in_order(cued: list[str], quoted: list[str]) -> None:
    """Each cued line is a quotation of the plan, after the last one matched; a scripted line said in
    front of a step (a role's closing line) is its quotation followed by the step's."""
    at = 0
    for line in cued:
        for k in range(at, len(quoted)):
            if quoted[k] == line:
                at = k + 1
                break
            if k + 1 < len(quoted) and f"{quoted[k]} {quoted[k + 1]}" == line:
                at = k + 2
                break
        else:
            raise AssertionError(f"cued but not in the plan after quotation {at}: {line!r}")


def first_choice(step) -> str:
    return next(iter(step.choices))


def last_choice(step) -> str:
    return list(step.choices)[-1]


@pytest.mark.parametrize("config", [*DIRECTED, "tests/data/configs/new_format.yaml"])
@pytest.mark.parametrize("choose", [first_choice, last_choice])
def test_every_line_the_controller_cues_is_in_the_plan_in_order(config, choose):
    loaded = load_config(ROOT / config)
    cued, _ = conduct(loaded, choose)
    assert len(cued) >= len(loaded.exam.parts)
    in_order(cued, quotations(plan_text(loaded)))


@pytest.mark.parametrize("config, phase", [("configs/osce_history_taking.yaml", Phase.ROLE),
                                           ("configs/osce_history_taking.yaml", Phase.PREPARING),
                                           ("configs/actfl_opi.yaml", Phase.JUDGING),
                                           ("configs/ielts_speaking_short_prep.yaml", Phase.PREPARING),
                                           ("configs/toefl_independent.yaml", Phase.PREPARING)])
def test_the_conducted_exams_include_a_role_play_a_preparation_and_a_judgement(config, phase):
    assert phase in conduct(load_config(ROOT / config), first_choice)[1]


def test_a_role_plays_closing_line_is_cued_in_front_of_the_step_after_it():
    cued, _ = conduct(load_config(ROOT / "configs/osce_history_taking.yaml"), first_choice)
    assert "Thank you. That is the end of the consultation. What is your most likely diagnosis, and why?" in cued


def test_a_parts_own_silence_for_timed_answers_is_the_one_printed():
    """turn_gate.parts wins over timed_end_silence_s where it is set (TOEFL's interview: 3 s), and
    the plan says so where it applies, from the settings the gate itself takes."""
    text = plan_text(load_config(ROOT / "configs/toefl_2026.yaml"))
    assert "3 s of silence ends it earlier here (turn_gate.parts)" in text
    (params,) = [s.params for s in load_config(ROOT / "configs/toefl_2026.yaml").stages if s.name == "turn_gate"]
    overridden = next(name for name, part in params.parts.items() if part.pause_tolerance_s is not None)
    assert params.settings(overridden, "timed").pause_tolerance_s == params.parts[overridden].pause_tolerance_s
    assert params.settings(None, "timed").pause_tolerance_s == params.timed_end_silence_s


def test_a_card_prepared_first_and_presented_last_is_conducted_as_planned(tmp_path):
    """The DELF's order: a card and its preparation first, other parts, then a question asks for
    the presentation. The controller goes from the preparation to the next part's question."""
    (tmp_path / "c.yaml").write_text(
        f"extends: {ROOT / 'configs/ielts_speaking_short.yaml'}\nexam:\n  parts:\n"
        "    - {name: Preparation, intro: Here is your topic., cue_card: {topic: Cities without cars.}, prep_s: 60}\n"
        "    - {name: Interview, questions: [Where do you live?]}\n"
        "    - {name: Presentation, questions: [Present your view on your topic.], answer_s: 120}\n")
    config = load_config(tmp_path / "c.yaml")
    text = plan_text(config)
    cued, phases = conduct(config, first_choice)
    in_order(cued, quotations(text))
    assert Phase.PREPARING in phases
    where = [next(i for i, line in enumerate(cued) if said in line)
             for said in ("Cities without cars", "Where do you live", "Present your view")]
    assert where == sorted(where)
