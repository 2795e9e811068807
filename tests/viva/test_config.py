"""Configs: extends, the pipeline's stages, and one clear line for every mistake."""

import inspect
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from viva.config import load_config
from viva.errors import BadInput
from viva.pipelines.registry import STAGES, GatePartParams, StageParams, TurnGateParams


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
    ("llm:\n  thinking_level: low\n", r"c.yaml:2: llm: gemini-3.8-live takes no thinking level"),
    ("exam:\n  tools:\n    - name: t\n      description: d\n      parameters: {type: array}\n",
     r"c.yaml:6: exam.tools\[0\].parameters: a tool's parameters must be a JSON schema of type object"),
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


def test_every_named_stage_has_its_parameters_here_and_its_builder_beside_its_processor():
    """The parameters are the registry's (loading a config needs nothing else); each builder is in
    its stage's module and takes that stage's parameters."""
    for name, stage in STAGES.items():
        assert issubclass(stage.params, StageParams) and stage.params.__module__ == "viva.pipelines.registry", name
        assert callable(stage.build) and stage.build.__module__ == stage.module, name
        assert inspect.signature(stage.build).parameters["params"].annotation in (stage.params,
                                                                                   stage.params.__name__), name


def test_loading_a_config_imports_neither_pipecat_nor_the_model_clients():
    """`viva validate` and every command's bad input stay quick: the stages' modules (and Pipecat,
    google-genai, Silero's runtime) are imported only when a pipeline is built."""
    code = ("import sys; from viva.config import load_config; load_config('configs/ielts_speaking.yaml'); "
            "heavy = [m for m in sys.modules if m.startswith(('pipecat', 'google.genai', 'onnxruntime'))]; "
            "assert not heavy, sorted(heavy)[:10]")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


async def test_the_gate_follows_the_step_being_answered_and_a_part_override_comes_last():
    """No config need name its parts for the gate: a timed answer (the long turn) ends only at
    its limit or after timed_end_silence_s, never at a pause; `turn_gate.parts` still overrides."""
    from pipecat.tests.utils import run_test

    from viva.pipelines.registry import build_stage
    from viva.processors.exam_frames import ExamPartFrame, ExamStepFrame

    config = load_config(ROOT / "configs/ielts_speaking.yaml")
    (params,) = [s.params for s in config.stages if s.name == "turn_gate"]
    assert params.parts == {}
    gate = build_stage("turn_gate", params, None)
    assert gate.settings_now() == params.settings()
    await run_test(gate, frames_to_send=[ExamPartFrame(part="Part 2"),
                                         ExamStepFrame(step="Part 2 long turn", part="Part 2", answer="timed",
                                                       limit_s=120)], expected_down_frames=None)
    timed = gate.gate.settings
    assert timed.end_of_turn == "silence" and timed.pause_tolerance_s == params.timed_end_silence_s == 4.0
    assert timed.confirm_s == params.confirm_s  # what the answer leaves alone is the stage's
    await run_test(gate, frames_to_send=[ExamStepFrame(step="Part 2 q1", part="Part 2", answer="open")],
                   expected_down_frames=None)
    assert gate.gate.settings == params.settings()
    overridden = params.model_copy(update={"parts": {"Part 2": GatePartParams(pause_tolerance_s=6.0)}})
    gate = build_stage("turn_gate", overridden, None)
    await run_test(gate, frames_to_send=[ExamStepFrame(step="Part 2 long turn", part="Part 2", answer="timed")],
                   expected_down_frames=None)
    assert gate.gate.settings.pause_tolerance_s == 6.0 and gate.gate.settings.end_of_turn == "silence"


def test_thousands_of_parts_load_and_a_loop_through_them_is_one_line(tmp_path):
    """Parts are followed with a stack of their own: 3000 of them was a RecursionError out of the validator."""
    head = f"extends: {ROOT / 'configs/ielts_speaking_short.yaml'}\npipeline: []\nexam:\n  parts:\n"
    parts = "".join(f"    - {{name: p{i}}}\n" for i in range(3000))
    (tmp_path / "c.yaml").write_text(head + parts)
    assert [part.name for part in load_config(tmp_path / "c.yaml").exam.parts] == [f"p{i}" for i in range(3000)]
    (tmp_path / "c.yaml").write_text(head + parts + "    - {name: back, next: p1}\n")
    with pytest.raises(BadInput) as error:
        load_config(tmp_path / "c.yaml")
    path = " -> ".join(f"p{i}" for i in range(3000))
    assert str(error.value) == (f"{tmp_path / 'c.yaml'}:3: exam: parts lead back to themselves: "
                                f"{path} -> back -> p1; expected each part reached at most once")
