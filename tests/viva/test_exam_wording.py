"""What the candidate hears is in the exam's language: viva's own words come from the config or
from the table of its language (viva/languages/), and a config that needs words viva has not
got in that language, or writes a key that would do nothing, is refused in one line."""

import re

import pytest

from tests.conftest import ROOT
from viva.config import load_config
from viva.errors import BadInput
from viva.exam.plan import Answer, StepKind, exam_plan
from viva.exam.wording import examiner_lines
from viva.languages import shipped, table

TOOL = """  tools:
    - name: submit
      description: the marks
      parameters: {type: object, properties: {mark: {type: integer, maximum: 5}}}
"""


def config(tmp_path, parts: str, *, language: str = "fr-FR", wording: str = "") -> str:
    """A config with the given parts (YAML under `parts:`, indented four spaces) in `language`."""
    path = tmp_path / "c.yaml"
    path.write_text("exam:\n  name: Oral\n  greeting: Bonjour.\n  system_prompt: Vous êtes examinateur.\n"
                    "  closing_phrase: C'est fini.\n" + TOOL + wording + "  parts:\n" + parts
                    + f"llm:\n  language: {language}\n")
    return str(path)


CARD_AND_ROLE = """    - name: Exposé
      cue_card: {topic: Les vacances., points: [où, quand]}
      prep_s: 30
      long_turn_s: 60
    - name: Interaction
      role: {brief: Vous êtes un vendeur., opening_line: Bonjour madame., time_s: 60}
"""


def test_a_french_exam_hears_viva_s_own_words_in_french(tmp_path):
    exam = load_config(config(tmp_path, CARD_AND_ROLE)).exam
    words = table("fr")["exam"]
    steps = {step.key: step for step in exam_plan(exam).steps}
    assert steps["Exposé cue card"].line == "Bonjour. Votre sujet : Les vacances. Vous devez parler de : où ; quand."
    assert steps["Exposé long turn"].line == words["start_line"]
    assert steps["Exposé long turn"].time_up == words["time_up_line"] == "Merci."
    assert steps["Interaction role"].closing == words["role_closing_line"]
    said = " ".join(examiner_lines(exam))
    assert not re.search(r"\b(Your|topic|should|Thank|role-play)\b", said), said


def test_the_configs_own_words_come_before_the_table(tmp_path):
    wording = "  wording:\n    cue_card_with_points: \"Sujet : {topic} Points : {points}.\"\n    time_up_line: Stop.\n"
    exam = load_config(config(tmp_path, CARD_AND_ROLE, wording=wording)).exam
    steps = {step.key: step for step in exam_plan(exam).steps}
    assert steps["Exposé cue card"].line == "Bonjour. Sujet : Les vacances. Points : où ; quand."
    assert steps["Exposé long turn"].time_up == "Stop."
    assert steps["Exposé long turn"].line == table("fr")["exam"]["start_line"]


def test_an_empty_line_of_a_part_says_nothing_rather_than_the_default(tmp_path):
    parts = CARD_AND_ROLE.replace("      long_turn_s: 60\n", "      long_turn_s: 60\n      time_up_line: \"\"\n")
    steps = {step.key: step for step in exam_plan(load_config(config(tmp_path, parts)).exam).steps}
    assert steps["Exposé long turn"].time_up == ""


def test_a_language_viva_has_no_words_in_needs_the_configs_own(tmp_path):
    with pytest.raises(BadInput, match=r"^.*c.yaml:\d+: exam.parts\[0\]: needs exam.wording.cue_card_with_points: .*"
                                       r"no words of its own in 'de-DE' \(it has: en, es, fr\)"):
        load_config(config(tmp_path, CARD_AND_ROLE, language="de-DE"))
    wording = ("  wording:\n    cue_card_with_points: \"Ihr Thema: {topic} Sagen Sie: {points}.\"\n"
               "    points_separator: \"; \"\n    start_line: Bitte beginnen Sie.\n    time_up_line: Danke.\n"
               "    role_closing_line: Danke, das Rollenspiel ist zu Ende.\n")
    exam = load_config(config(tmp_path, CARD_AND_ROLE, language="de-DE", wording=wording)).exam
    assert exam_plan(exam).steps[1].line == "Bitte beginnen Sie."


def test_a_cue_card_line_must_name_its_topic(tmp_path):
    wording = "  wording:\n    cue_card: \"Sujet : {sujet}\"\n"
    with pytest.raises(BadInput, match=r"exam.wording.cue_card: .*expected \{topic\} in the line"):
        load_config(config(tmp_path, CARD_AND_ROLE, wording=wording))


def test_every_shipped_table_says_every_line_english_says():
    english = set(table("en")["exam"])
    assert shipped() == ["en", "es", "fr"]
    for language in shipped():
        assert set(table(language)["exam"]) == english, language


@pytest.mark.parametrize("part, key, needs", [
    ("{name: P, questions: [Q?], long_turn_s: 30}", "long_turn_s", "a cue_card"),
    ("{name: P, questions: [Q?], prep_s: 30}", "prep_s", "a cue_card or an intro"),
    ("{name: P, intro: Hello., answer_s: 30}", "answer_s", "questions"),
    ("{name: P, intro: Hello., question_prep_s: 30}", "question_prep_s", "questions"),
    ("{name: P, questions: [Q?], start_line: Go.}", "start_line", "a preparation before a timed answer"),
    ("{name: P, cue_card: {topic: T.}, start_line: Go.}", "start_line", "a preparation before a timed answer"),
    ("{name: P, cue_card: {topic: T.}, prep_s: 60, start_line: Go.}", "start_line",
     "a preparation before a timed answer"),
    ("{name: P, questions: [Q?], time_up_line: Stop.}", "time_up_line", "a timed answer"),
    ("{name: P, questions: [Q?], if_cut: end}", "if_cut", "a timed answer"),
    ("{name: P, intro: Hello., if_no_answer: end}", "if_no_answer", "questions or a cue_card"),
])
def test_a_key_that_would_do_nothing_is_refused_in_one_line(tmp_path, part, key, needs):
    with pytest.raises(BadInput) as raised:
        load_config(config(tmp_path, f"    - {part}\n", language="en-GB"))
    message = str(raised.value)
    assert "\n" not in message
    assert re.match(rf"^.*c.yaml:\d+: exam.parts\[0\]: .*part 'P': {key} does nothing without {needs}", message), message


def test_a_preparation_after_an_intro_that_asks_is_refused(tmp_path):
    part = "    - {name: P, intro: Ready?, prep_s: 30, questions: [Why?]}\n"
    with pytest.raises(BadInput, match=r"part 'P': prep_s after an intro that asks something"):
        load_config(config(tmp_path, part, language="en-GB"))


def test_next_beside_a_judge_a_part_named_end_and_a_shared_judgement_function_are_refused(tmp_path):
    judge = "judge: {tool: decide, question: Good?, choices: {good: Q, poor: end}}"
    cases = [
        (f"    - {{name: P, questions: [A?], next: Q, {judge}}}\n    - {{name: Q, questions: [B?]}}\n",
         r"part 'P': next does nothing beside a judge"),
        ("    - {name: end, questions: [A?]}\n", r"a part is named 'end'"),
        (f"    - {{name: P, questions: [A?], {judge}}}\n    - {{name: Q, questions: [B?], {judge}}}\n",
         r"two judgements call the same function \['decide'\]"),
    ]
    for parts, expected in cases:
        with pytest.raises(BadInput, match=expected):
            load_config(config(tmp_path, parts, language="en-GB"))


@pytest.mark.parametrize("minutes", ["[5, 1]", "[0, 3]", "[-1, 3]"])
def test_a_parts_minutes_must_be_low_then_high_and_above_zero(tmp_path, minutes):
    with pytest.raises(BadInput, match=r"part 'P': duration_min .*: expected \[low, high\] minutes"):
        load_config(config(tmp_path, f"    - {{name: P, questions: [A?], duration_min: {minutes}}}\n",
                           language="en-GB"))


def test_timers_longer_than_the_parts_minutes_are_refused(tmp_path):
    part = "    - {name: P, intro: Préparez-vous., prep_s: 600, questions: [Q?], duration_min: [5, 8]}\n"
    with pytest.raises(BadInput, match=r"part 'P': its timers alone take 600 s, more than its duration_min allows "
                                       r"\(8 min, preparation included\)"):
        load_config(config(tmp_path, part))
    load_config(config(tmp_path, part.replace("[5, 8]", "[10, 14]")))


def test_a_preparation_may_stand_before_a_parts_questions_or_alone(tmp_path):
    parts = ("    - {name: Préparation, intro: Vous avez dix minutes pour préparer., prep_s: 600}\n"
             "    - {name: Entretien, intro: Parlons de vous., prep_s: 20, questions: [Où habitez-vous ?]}\n")
    steps = exam_plan(load_config(config(tmp_path, parts)).exam).steps
    assert [(s.key, s.kind, s.answer, s.prep_s) for s in steps[:3]] == [
        ("Préparation intro", StepKind.QUESTION, Answer.SILENT, 600),
        ("Entretien intro", StepKind.QUESTION, Answer.SILENT, 20),
        ("Entretien q1", StepKind.QUESTION, Answer.OPEN, 0)]
    assert steps[0].line == "Bonjour. Vous avez dix minutes pour préparer."


def test_a_colon_in_unquoted_text_says_to_quote_it(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("exam:\n  name: DELF\n  greeting: Vous êtes prêt : nous commençons.\n")
    with pytest.raises(BadInput, match=r"c.yaml:3: invalid YAML: mapping values are not allowed .*: put the text in "
                                       r"quotes"):
        load_config(path)


@pytest.mark.parametrize("llm, expected", [
    ("{model: gemini-3.8-lve}", r"llm.model: .*unknown Live model 'gemini-3.8-lve'; expected one of: gemini-3.8-live"),
    ("{voice: Marvin}", r"llm.voice: .*unknown voice 'Marvin'; expected one of Gemini's prebuilt voices: Achernar"),
])
def test_an_unknown_model_or_voice_is_refused_before_any_session(tmp_path, llm, expected):
    path = tmp_path / "c.yaml"
    path.write_text(f"extends: {ROOT / 'configs/ielts_speaking_short.yaml'}\nllm: {llm}\n")
    with pytest.raises(BadInput, match=expected):
        load_config(path)


def test_a_card_prepared_now_is_answered_in_a_later_part(tmp_path):
    """A card with a preparation and no long_turn_s: the preparation leads to the next part, whose
    question asks for what was prepared (the DELF's order: prepare first, present last)."""
    parts = ("    - {name: Préparation, cue_card: {topic: Faut-il travailler le dimanche ?}, prep_s: 600}\n"
             "    - {name: Entretien, questions: [Où habitez-vous ?]}\n"
             "    - {name: Exposé, questions: [Présentez votre point de vue sur votre sujet.], answer_s: 300}\n")
    steps = exam_plan(load_config(config(tmp_path, parts)).exam).steps
    assert [(s.key, s.answer, s.prep_s, s.then) for s in steps[:3]] == [
        ("Préparation cue card", Answer.SILENT, 600, "Entretien q1"),
        ("Entretien q1", Answer.OPEN, 0, "Exposé q1"),
        ("Exposé q1", Answer.TIMED, 0, "assessment")]
    assert steps[0].line == "Bonjour. Votre sujet : Faut-il travailler le dimanche ?"


@pytest.mark.parametrize("line, asking", [
    ("Vous êtes prêt ? »", True), ("你好吗？", True), ("هل أنت مستعد؟", True), ("Très bien.", False),
])
def test_a_question_in_any_script_is_a_turn_of_its_own(line, asking):
    from viva.exam.plan import asks

    assert asks(line) is asking
