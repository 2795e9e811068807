"""A part may draw its cue card from a list: each session one card, by a seed the record keeps."""

import pytest

from tests.conftest import ROOT
from viva.config import load_config
from viva.errors import BadInput
from viva.exam.plan import exam_plan
from viva.exam_session import ExamSession
from viva.harness.candidate import load_candidate
from viva.harness.simulated_transport import SimulatedCandidateTransport
from viva.harness.targets import emulator_target

CARDS = """      cue_cards:
        - {topic: Describe a trip., points: [where, when]}
        - {topic: Describe a friend., points: [who, why]}
        - {topic: Describe a book.}
"""


def config(tmp_path, cards: str = CARDS):
    path = tmp_path / "c.yaml"
    path.write_text(f"extends: {ROOT / 'configs/ielts_speaking_short.yaml'}\nexam:\n  parts:\n"
                    "    - name: Part 1\n      questions: [Do you work?]\n"
                    "    - name: Part 2\n" + cards + "      prep_s: 10\n      long_turn_s: 30\n")
    return load_config(path)


def card_line(exam) -> str:
    return next(step.line for step in exam_plan(exam).steps if step.key == "Part 2 cue card")


def test_the_seed_draws_the_card_and_every_card_can_be_drawn(tmp_path):
    exam = config(tmp_path).exam
    assert card_line(exam.drawn(7)) == card_line(exam.drawn(7))
    topics = {exam.drawn(seed).parts[1].cue_card.topic for seed in range(40)}
    assert topics == {"Describe a trip.", "Describe a friend.", "Describe a book."}
    assert any("You should say: who; why." in card_line(exam.drawn(seed)) for seed in range(40))


def test_the_plan_names_the_cards_a_session_draws_from(tmp_path):
    from viva.commands.plan import plan_text

    text = plan_text(config(tmp_path))
    assert "drawn for each session (seeded, recorded) from: Describe a trip. | Describe a friend. | Describe a book." \
        in text


def test_a_single_card_beside_cards_to_draw_from_is_refused(tmp_path):
    with pytest.raises(BadInput, match=r"c.yaml:\d+: exam.parts\[1\]: part 'Part 2': cue_card and cue_cards both "
                                       r"given; expected one card, or the cards one is drawn from"):
        config(tmp_path, CARDS + "      cue_card: {topic: Describe a town.}\n")
    with pytest.raises(BadInput, match=r"exam.parts\[1\].cue_cards: .*at least 2"):
        config(tmp_path, "      cue_cards:\n        - {topic: Describe a trip.}\n")


def test_a_session_runs_the_card_its_seed_draws_and_its_record_says_which(tmp_path, emulator):
    cfg = config(tmp_path)
    transport = SimulatedCandidateTransport(candidate=load_candidate(ROOT / "candidates/b2_steady.yaml"))
    session = ExamSession(config=cfg, transport=transport, llm=emulator_target(emulator, session_id="draw"),
                          out_dir=tmp_path / "out", draw_seed=11)
    drawn = cfg.exam.drawn(11).parts[1].cue_card.topic
    assert session.config.exam.parts[1].cue_card.topic == drawn
    (event,) = [e for e in session.record.data["events"] if e["type"] == "cards_drawn"]
    assert event["seed"] == 11 and event["cards"] == {"Part 2": drawn}
