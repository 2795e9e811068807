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


SAME_POINTS = """      draw: 2
      cue_cards:
        - {topic: Describe a trip., points: [where, when]}
        - {topic: Describe a friend., points: [where, when]}
        - {topic: Describe a book., points: [where, when]}
"""


def test_cards_offered_to_choose_from_are_read_out_numbered_with_their_points_once(tmp_path):
    exam = config(tmp_path, SAME_POINTS).exam
    lines = {card_line(exam.drawn(seed)) for seed in range(40)}
    assert len(lines) == 6  # every ordered pair of the three cards can be offered
    for line in lines:
        offered = [topic for topic in ("Describe a trip.", "Describe a friend.", "Describe a book.") if topic in line]
        assert len(offered) == 2 and line.count("where; when") == 1
        assert line.startswith("Here are 2 topics. Choose one of them. Topic 1: Describe a ")
        assert "Topic 2: Describe a " in line and line.endswith("Whichever you choose, you should say: where; when.")
    drawn = exam.drawn(3).parts[1]
    assert drawn.cue_card == drawn.offered[0] and len(drawn.offered) == 2  # the first offered stands for the card
    assert card_line(exam.drawn(3)) == card_line(exam.drawn(3))


def test_the_plan_says_how_many_cards_are_offered(tmp_path):
    from viva.commands.plan import plan_text

    text = plan_text(config(tmp_path, SAME_POINTS))
    assert "2 cards are drawn for each session (seeded, recorded) from: Describe a trip. | Describe a friend. | " \
           "Describe a book.; the first 2 shown" in text
    assert "Topic 1: Describe a trip. Topic 2: Describe a friend." in text


@pytest.mark.parametrize("cards, refusal", [
    ("      draw: 4\n" + CARDS.replace("Describe a book.}", "Describe a book., points: [where, when]}"),
     r"part 'Part 2': draw 4 needs at least 4 cards in cue_cards; expected more cards, or a smaller draw"),
    ("      draw: 2\n" + CARDS, r"part 'Part 2': draw 2 offers cards with different points; expected the same points "
                                r"on every card of cue_cards"),
    ("      draw: 2\n      cue_card: {topic: Describe a town.}\n",
     r"part 'Part 2': draw 2 needs at least 2 cards in cue_cards"),
])
def test_a_draw_that_cannot_be_offered_is_refused(tmp_path, cards, refusal):
    with pytest.raises(BadInput, match=r"c.yaml:\d+: exam.parts\[1\]: " + refusal):
        config(tmp_path, cards)


def test_a_session_offering_cards_records_the_ones_offered(tmp_path, emulator):
    cfg = config(tmp_path, SAME_POINTS)
    transport = SimulatedCandidateTransport(candidate=load_candidate(ROOT / "candidates/b2_steady.yaml"))
    session = ExamSession(config=cfg, transport=transport, llm=emulator_target(emulator, session_id="offer"),
                          out_dir=tmp_path / "out", draw_seed=5)
    offered = [card.topic for card in cfg.exam.drawn(5).parts[1].offered]
    (event,) = [e for e in session.record.data["events"] if e["type"] == "cards_drawn"]
    assert event["offered"] == {"Part 2": offered} and event["cards"] == {"Part 2": offered[0]}
