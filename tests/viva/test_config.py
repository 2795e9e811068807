"""Configs: extends, the pipeline's stages, and one clear line for every mistake."""

import re

import pytest

from tests.conftest import ROOT
from viva.config import load_config
from viva.errors import BadInput
from viva.pipelines.registry import STAGES, TurnGateParams


def test_the_short_config_extends_the_full_one():
    full, short = load_config(ROOT / "configs/ielts_speaking.yaml"), load_config(ROOT / "configs/ielts_speaking_short.yaml")
    assert short.exam.system_prompt == full.exam.system_prompt and short.exam.tools == full.exam.tools
    assert short.exam.closing_phrase == "Thank you. That is the end of the Speaking test."
    assert sum(len(p.questions) for p in short.exam.parts) < sum(len(p.questions) for p in full.exam.parts)
    assert short.llm.model == "gemini-3.8-live" and short.llm.thinking_level is None
    assert [s.name for s in short.stages] == ["silero_vad", "turn_gate", "gemini_live", "stall_watchdog", "closing_guard",
                                                "exam_director", "exam_end"]


def test_stages_get_their_validated_parameters(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "extends: " + str(ROOT / "configs/ielts_speaking_short.yaml") + "\n"
        "pipeline:\n  - stage: turn_gate\n    preroll_s: 0.3\n  - stage: gemini_live\n")
    config = load_config(tmp_path / "c.yaml")
    assert [s.name for s in config.stages] == ["turn_gate", "gemini_live"]
    assert config.stages[0].params == TurnGateParams(preroll_s=0.3)


BASE = "extends: {base}\n"


@pytest.mark.parametrize("text, expected", [
    ("pipeline:\n  - stage: silero_vad\n  - stage: tone_gate\n",
     r"c.yaml:4: pipeline\[1\].stage: unknown stage 'tone_gate'; expected one of: silero_vad, turn_gate"),
    ("pipeline:\n  - stage: turn_gate\n    pre_roll: 1\n",
     r"c.yaml:4: pipeline\[0\].pre_roll: unknown key; expected one of: preroll_s"),
    ("pipeline:\n  - stage: silero_vad\n    confidence: 3\n",
     r"c.yaml:4: pipeline\[0\].confidence: Input should be less than or equal to 1"),
    ("pipeline:\n  - {preroll_s: 1}\n", r"c.yaml:3: pipeline\[0\]: a stage needs `stage: NAME`"),
    ("pipeline:\n  - stage: turn_gate\n    parts:\n      Part 4: {pause_tolerance_s: 3}\n",
     r"c.yaml:5: pipeline\[0\].parts.Part 4: no exam part is called 'Part 4'; expected one of: Part 1, Part 2, Part 3"),
    ("pipeline:\n  - stage: turn_gate\n    parts:\n      Part 2: {end_of_turn: ai}\n",
     r"c.yaml:5: pipeline\[0\].parts.Part 2.end_of_turn: Input should be 'silence' or 'smart_turn'"),
    ("llm:\n  thinking_level: extreme\n", r"c.yaml:3: llm.thinking_level: String should match pattern"),
    ("llm:\n  thinking_level: low\n", r"c.yaml:2: llm: Value error, gemini-3.8-live takes no thinking level"),
    ("exam:\n  tools:\n    - name: t\n      description: d\n      parameters: {type: array}\n",
     r"c.yaml:6: exam.tools\[0\].parameters: Value error, a tool's parameters must be a JSON schema of type object"),
])
def test_mistakes_in_an_extending_file_point_at_its_own_lines(tmp_path, text, expected):
    (tmp_path / "c.yaml").write_text(BASE.format(base=ROOT / "configs/ielts_speaking_short.yaml") + text)
    with pytest.raises(BadInput) as error:
        load_config(tmp_path / "c.yaml")
    assert re.search(expected, str(error.value)), str(error.value)


def test_mistakes_inherited_from_the_base_point_at_the_base(tmp_path):
    (tmp_path / "base.yaml").write_text("exam:\n  name: x\n  colour: red\n")
    (tmp_path / "c.yaml").write_text("extends: base.yaml\nllm: {voice: Puck}\n")
    with pytest.raises(BadInput, match=r"base.yaml:3: exam.colour: unknown key"):
        load_config(tmp_path / "c.yaml")


def test_extends_loops_and_missing_bases_are_reported(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(BadInput, match="extends itself in a loop"):
        load_config(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("extends: nowhere.yaml\n")
    with pytest.raises(BadInput, match=r"c.yaml:1: extends: nowhere.yaml: no such file"):
        load_config(tmp_path / "c.yaml")


def test_every_stage_can_be_named_without_parameters(tmp_path):
    """`- stage: NAME` alone is a valid stage, with its own defaults (not the base file's)."""
    assert set(STAGES) >= {"silero_vad", "turn_gate", "gemini_live", "exam_end"}
    (tmp_path / "c.yaml").write_text("extends: " + str(ROOT / "configs/ielts_speaking_short.yaml") + "\npipeline:\n"
                                     + "".join(f"  - stage: {name}\n" for name in STAGES))
    config = load_config(tmp_path / "c.yaml")
    assert [s.name for s in config.stages] == list(STAGES)
    for stage in config.stages:
        assert stage.params == STAGES[stage.name].params()


def test_every_named_stage_can_be_built_and_nothing_else():
    from viva.pipelines.stages import BUILDERS

    assert set(BUILDERS) == set(STAGES)


def test_the_full_config_gives_part_2_its_own_turn_gate_settings():
    config = load_config(ROOT / "configs/ielts_speaking.yaml")
    (gate,) = [s.params for s in config.stages if s.name == "turn_gate"]
    assert gate.settings().end_of_turn == "smart_turn" and gate.settings().pause_tolerance_s == 1.5
    part2 = gate.settings("Part 2")
    assert part2.end_of_turn == "silence" and part2.pause_tolerance_s == 3.0
    assert part2.confirm_s == gate.confirm_s  # what the part leaves unset is the stage's
