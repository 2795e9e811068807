"""Derived scores by the config's rules: each rule at its edges, the config's checks, the record."""

import json
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from viva.config import load_config
from viva.errors import BadInput
from viva.record import SessionRecord
from viva.scoring import ScoreRule, compute_score, compute_scores

CRITERIA = ["fluency_coherence", "lexical_resource", "grammatical_range_accuracy", "pronunciation"]
ACTFL = ["Novice Low", "Novice Mid", "Novice High", "Intermediate Low", "Intermediate Mid", "Intermediate High",
         "Advanced Low", "Advanced Mid", "Advanced High", "Superior"]
CEFR = [{"min": 8.5, "value": "C2"}, {"min": 7.0, "value": "C1"}, {"min": 5.5, "value": "B2"},
        {"min": 4.0, "value": "B1"}]


def rule(**fields) -> ScoreRule:
    return ScoreRule(**{"name": "s", "official": False, "source": "test", **fields})


def mean(marks: list, rounding: str):
    names = [f"m{i}" for i in range(len(marks))]
    return compute_score(rule(rule="mean", of=names, rounding=rounding), dict(zip(names, marks)))["value"]


@pytest.mark.parametrize("marks, band", [
    ([6, 6, 6, 6.5], 6.0),  # 6.125
    ([6, 6, 6.5, 6.5], 6.5),  # 6.25: up to the next half band
    ([6.5, 6.5, 6.5, 7], 6.5),  # 6.625
    ([6.5, 6.5, 7, 7], 7.0),  # 6.75: up to the next whole band
    ([6, 6, 6, 6], 6.0),
    ([5.5, 6, 6, 6], 6.0),  # 5.875
])
def test_half_band_up_is_the_ielts_overall_band_convention(marks, band):
    assert mean(marks, "half_band_up") == band


@pytest.mark.parametrize("marks, band", [
    ([6.5, 6.5, 7, 7], 6.5),  # 6.75 down
    ([6, 7, 6.5, 6.5], 6.5),  # 6.5 stays
    ([6, 6, 6.5, 6.5], 6.0),  # 6.25 down
    ([7, 7, 7, 6.5], 6.5),  # 6.875 down
    ([7, 7, 7, 7], 7.0),
])
def test_floor_half_never_rounds_up(marks, band):
    assert mean(marks, "floor_half") == band


def test_boundaries_are_exact_not_binary_floating_point():
    # In floats (2.3 + 6.1 + 6.6) / 3 is 4.999999999999999, whose floor to a half band is 4.5.
    assert mean([2.3, 6.1, 6.6], "floor_half") == 5.0
    assert compute_score(rule(rule="sum", of=["a", "b"]), {"a": 0.1, "b": 0.2})["value"] == 0.3
    lookup = rule(rule="lookup", of=["x"], table=[{"min": 0.8, "value": "pass"}, {"min": 0, "value": "fail"}])
    assert compute_score(lookup, {"x": 0.7 + 0.1})["value"] == "fail"  # 0.7999999999999999 as written
    assert compute_score(rule(rule="sum", of=["a", "b"]), {"a": 0.7, "b": 0.1})["value"] == 0.8


@pytest.mark.parametrize("marks, value", [([2, 3], 3), ([3, 4], 4), ([2, 2, 3], 2), ([2, 3, 3], 3), ([0, 0], 0)])
def test_nearest_is_a_whole_number_with_halves_up(marks, value):
    result = mean(marks, "nearest")
    assert result == value and type(result) is int


def test_a_mean_without_rounding_is_the_exact_mean():
    assert mean([6, 6, 6, 6.5], "none") == 6.125


def test_sum_keeps_whole_marks_whole():
    paces = rule(rule="sum", of=["c", "d", "e", "f", "g"])
    entry = compute_score(paces, {"c": 2, "d": 1, "e": 0, "f": 2, "g": 2})
    assert entry["value"] == 7 and type(entry["value"]) is int and entry["rule"] == "sum"
    assert compute_score(paces, {"c": 2, "d": 1.5, "e": 0, "f": 2, "g": 2})["value"] == 7.5


def test_ordinal_gives_the_label_and_its_position():
    opi = rule(rule="ordinal", of=["rating"], scale=ACTFL)
    assert compute_score(opi, {"rating": "Intermediate Mid"}) | {"of": None} == {
        "name": "s", "label": "s", "value": "Intermediate Mid", "position": 5, "rule": "ordinal", "of": None,
        "official": False, "source": "test"}
    assert compute_score(opi, {"rating": "Superior"})["position"] == 10
    assert compute_score(opi, {"rating": "Novice Low"})["position"] == 1
    for off_scale in ("Intermediate", "superior", 5, None):
        entry = compute_score(opi, {"rating": off_scale})
        assert entry["value"] is None and entry["missing"] == ["rating"] and "position" not in entry


@pytest.mark.parametrize("band, level", [(9, "C2"), (8.5, "C2"), (8.0, "C1"), (7.0, "C1"), (6.5, "B2"), (5.5, "B2"),
                                         (5.0, "B1"), (4.0, "B1"), (3.5, None), (0, None)])
def test_lookup_takes_the_first_row_whose_min_is_reached(band, level):
    entry = compute_score(rule(rule="lookup", of=["band"], table=CEFR), {"band": band})
    assert entry["value"] == level and "missing" not in entry and entry["of"] == {"band": band}


def test_a_score_of_a_score_and_what_is_missing_carries_on():
    rules = [rule(name="band", label="Speaking band", rule="mean", of=CRITERIA, rounding="half_band_up"),
             rule(name="cefr", rule="lookup", of=["band"], table=CEFR)]
    marks = dict(zip(CRITERIA, [7, 7, 7, 6.5]))  # 6.875 -> 7.0 -> C1
    band, cefr = compute_scores(rules, marks)
    assert band == {"name": "band", "label": "Speaking band", "value": 7.0, "rule": "mean, half_band_up",
                    "of": marks, "official": False, "source": "test"}
    assert cefr["value"] == "C1" and cefr["of"] == {"band": 7.0} and cefr["label"] == "cefr"

    partial = {**marks, "pronunciation": "seven", "lexical_resource": True}
    del partial["fluency_coherence"]
    band, cefr = compute_scores(rules, partial)
    assert band["value"] is None and band["missing"] == ["fluency_coherence", "lexical_resource", "pronunciation"]
    assert band["of"]["fluency_coherence"] is None and band["of"]["pronunciation"] == "seven"
    assert cefr["value"] is None and cefr["missing"] == ["band"]


def test_no_result_or_no_rules_is_no_scores():
    rules = [rule(rule="sum", of=["a"])]
    assert compute_scores(rules, None) == [] and compute_scores([], {"a": 1}) == []
    result = {"a": 1}
    compute_scores(rules + [rule(name="a2", rule="sum", of=["a", "s"])], result)
    assert result == {"a": 1}  # the result is only read


def test_the_ielts_tool_asks_for_criteria_only_and_viva_derives_the_band():
    exam = load_config(ROOT / "configs/ielts_speaking.yaml").exam
    (tool,) = exam.tools
    assert sorted(tool.parameters["properties"]) == sorted([*CRITERIA, "evidence"])
    assert "overall" not in (tool.description + exam.system_prompt).lower()
    band, cefr = exam.scores
    assert (band.name, band.rule, band.of, band.rounding, band.official) == (
        "speaking_band", "mean", CRITERIA, "floor_half", False)
    assert (cefr.rule, cefr.of, cefr.official) == ("lookup", ["speaking_band"], False)
    for name in ("ielts_speaking_short", "ielts_speaking_short_prep"):
        assert load_config(ROOT / f"configs/{name}.yaml").exam.scores == exam.scores


def test_the_record_keeps_the_model_s_marks_and_adds_viva_s_scores(tmp_path):
    scores = load_config(ROOT / "configs/ielts_speaking.yaml").exam.scores
    record = SessionRecord(directory=tmp_path / "s1", session_id="s1", config="c.yaml", exam="E", llm="emulator",
                           scores=scores)
    assert json.loads(record.path.read_text())["scores"] == []
    # An older schema asked the model for an overall band; it said 8.0 for marks whose mean is 6.125.
    result = {**dict(zip(CRITERIA, [6, 6, 6, 6.5])), "overall_band": 8.0,
              "evidence": {name: "note" for name in CRITERIA}}
    record.set_result(result, "tool_call")
    on_disk = json.loads(record.path.read_text())
    assert on_disk["result"] == result and on_disk["result"]["overall_band"] == 8.0
    band, cefr = on_disk["scores"]
    assert band == {"name": "speaking_band", "label": "Speaking band (estimated)", "value": 6.0,
                    "rule": "mean, floor_half", "of": dict(zip(CRITERIA, [6, 6, 6, 6.5])), "official": False,
                    "source": scores[0].source}
    assert cefr["name"] == "cefr" and cefr["value"] == "B2" and cefr["of"] == {"speaking_band": 6.0}

    # A result extracted from the transcript without a criterion: no band, and says why.
    record.set_result({k: v for k, v in result.items() if k != "pronunciation"}, "transcript_extraction")
    band, cefr = json.loads(record.path.read_text())["scores"]
    assert band["value"] is None and band["missing"] == ["pronunciation"] and cefr["value"] is None
    record.set_result(None, None)
    assert json.loads(record.path.read_text())["scores"] == []


def test_a_record_without_rules_has_empty_scores(tmp_path):
    record = SessionRecord(directory=tmp_path / "s1", session_id="s1", config="c.yaml", exam="E", llm="emulator")
    record.set_result({"fluency_coherence": 6}, "tool_call")
    assert json.loads(record.path.read_text())["scores"] == []


# A whole exam of its own (an extending file's lines would mix with its base's): the
# scores come first, so the score rules start on line 4.
BASE = "exam:\n  name: x\n  scores:\n"
REST = ("  greeting: g\n  system_prompt: s\n  closing_phrase: c\n  parts: [{name: p}]\n  tools:\n"
        "    - name: record_assessment\n      description: d\n      parameters:\n        type: object\n"
        "        properties:\n" + "".join(f"          {name}: {{type: number}}\n" for name in CRITERIA)
        + "          evidence: {type: object}\n")
BAND = ("    - name: band\n      rule: mean\n      of: [fluency_coherence, lexical_resource]\n"
        "      rounding: floor_half\n      official: false\n      source: s\n")  # lines 4-9


@pytest.mark.parametrize("scores, expected", [
    ("    - name: band\n      rule: mean\n      of: [fluency_coherence, fluency]\n      rounding: floor_half\n"
     "      official: false\n      source: s\n",
     r"c.yaml:6: exam.scores\[0\].of\[1\]: 'fluency' is neither a tool's property nor an earlier score; "
     r"expected one of: fluency_coherence, lexical_resource"),
    ("    - name: band\n      rule: mean\n      of: [pronunciation]\n      official: false\n      source: s\n",
     r"c.yaml:4: exam.scores\[0\]: rule mean needs `rounding`$"),
    (BAND + "    - name: cefr\n      rule: lookup\n      of: [band]\n      rounding: nearest\n      table: [{min: 1, value: x}]\n"
     "      official: false\n      source: s\n",
     r"c.yaml:13: exam.scores\[1\].rounding: rule lookup takes no `rounding`$"),
    (BAND + "    - name: cefr\n      rule: lookup\n      of: [band]\n      official: false\n      source: s\n",
     r"c.yaml:10: exam.scores\[1\]: rule lookup needs `table`$"),
    (BAND + "    - name: cefr\n      rule: lookup\n      of: [band]\n"
     "      table: [{min: 4, value: B1}, {min: 5.5, value: B2}]\n      official: false\n      source: s\n",
     r"c.yaml:13: exam.scores\[1\].table: rows must go from the highest min down"),
    ("    - name: level\n      rule: ordinal\n      of: [pronunciation]\n      scale: [low, high]\n"
     "      official: false\n      source: s\n",
     r"c.yaml:6: exam.scores\[0\].of\[0\]: rule ordinal needs a label; 'pronunciation' is a number"),
    ("    - name: total\n      rule: sum\n      of: [evidence]\n      official: false\n      source: s\n",
     r"c.yaml:6: exam.scores\[0\].of\[0\]: rule sum needs a number; 'evidence' is of type object"),
    ("    - name: cefr\n      rule: lookup\n      of: [band]\n      table: [{min: 1, value: x}]\n"
     "      official: false\n      source: s\n" + BAND,  # a score named before it is defined
     r"c.yaml:6: exam.scores\[0\].of\[0\]: 'band' is neither a tool's property nor an earlier score"),
    (BAND.replace("name: band", "name: pronunciation"),
     r"c.yaml:4: exam.scores\[0\].name: 'pronunciation' is already a mark of the exam's tools"),
    (BAND + BAND.replace("[fluency_coherence, lexical_resource]", "[band]"),
     r"c.yaml:10: exam.scores\[1\].name: a score named 'band' is defined earlier"),
    (BAND.replace("floor_half", "nearest_half"),
     r"c.yaml:7: exam.scores\[0\].rounding: Input should be 'half_band_up', 'floor_half', 'nearest' or 'none'"),
    (BAND.replace("rule: mean", "rule: median"),
     r"c.yaml:5: exam.scores\[0\].rule: Input should be 'mean', 'sum', 'ordinal' or 'lookup'"),
    (BAND.replace("      official: false\n", ""), r"c.yaml:4: exam.scores\[0\].official: required key is missing"),
    (BAND + "      weights: [1, 2]\n",
     r"c.yaml:10: exam.scores\[0\].weights: unknown key; expected one of: name, label, rule, of, rounding, table"),
])
def test_a_bad_score_rule_is_one_line_at_its_key(tmp_path, scores, expected):
    (tmp_path / "c.yaml").write_text(BASE + scores + REST)
    with pytest.raises(BadInput) as error:
        load_config(tmp_path / "c.yaml")
    assert re.search(expected, str(error.value)) and "\n" not in str(error.value), str(error.value)


@pytest.mark.parametrize("scores, expected", [
    ("    - name: band\n      rule: mean\n      of: [fluency_coherence, fluency]\n      rounding: floor_half\n"
     "      official: false\n      source: s\n",
     r"^viva: .*c.yaml:6: exam.scores\[0\].of\[1\]: 'fluency' is neither a tool's property nor an earlier score"),
    (BAND + "      scale: [low, high]\n", r"^viva: .*c.yaml:10: exam.scores\[0\].scale: rule mean takes no `scale`$"),
])
def test_viva_validate_refuses_a_bad_score_rule_in_one_line_with_exit_2(tmp_path, scores, expected):
    (tmp_path / "c.yaml").write_text(BASE + scores + REST)
    result = subprocess.run([sys.executable, "-m", "viva.cli", "validate", str(tmp_path / "c.yaml")],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and re.search(expected, lines[0]), result.stderr


def test_viva_validate_accepts_rules_of_every_kind(tmp_path):
    (tmp_path / "c.yaml").write_text(
        BASE + BAND
        + "    - name: total\n      rule: sum\n      of: [fluency_coherence, band]\n      official: true\n      source: s\n"
        + "    - name: cefr\n      rule: lookup\n      of: [band]\n      table: [{min: 7, value: C1}, {min: 0, value: B2}]\n"
          "      official: false\n      source: s\n"
        + "    - name: cefr_rank\n      rule: ordinal\n      of: [cefr]\n      scale: [B2, C1]\n"
          "      official: false\n      source: s\n" + REST)
    result = subprocess.run([sys.executable, "-m", "viva.cli", "validate", str(tmp_path / "c.yaml")],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    scores = load_config(tmp_path / "c.yaml").exam.scores
    entries = compute_scores(scores, {"fluency_coherence": 7, "lexical_resource": 8})
    assert [e["value"] for e in entries] == [7.5, 14.5, "C1", "C1"] and entries[-1]["position"] == 2


async def test_an_exam_session_s_record_scores_by_its_config(tmp_path):
    from viva.exam_session import ExamSession
    from viva.harness.candidate import load_candidate
    from viva.harness.simulated_transport import SimulatedCandidateTransport
    from viva.pipelines.context import LLMTarget

    config = load_config(ROOT / "configs/ielts_speaking_short.yaml")
    transport = SimulatedCandidateTransport(candidate=load_candidate(ROOT / "candidates/b2_steady.yaml"))
    session = ExamSession(config=config, transport=transport, llm=LLMTarget(kind="gemini", api_key="unused"),
                          out_dir=tmp_path)  # built, never run: nothing connects
    session.record.set_result(dict(zip(CRITERIA, [7, 7, 7, 6.5])), "tool_call")
    band, cefr = json.loads(session.record.path.read_text())["scores"]
    assert (band["name"], band["value"], cefr["value"]) == ("speaking_band", 6.5, "B2")  # 6.875, floored


def test_scores_read_marks_whichever_of_several_functions_gave_them(tmp_path):
    from viva.config import ToolSpec
    from viva.results import ResultCollector

    def tool(name, mark):
        return ToolSpec(name=name, description=name, parameters={
            "type": "object", "properties": {mark: {"type": "number"}}, "required": [mark]})

    results = ResultCollector(tools=[tool("speaking", "fluency"), tool("listening", "comprehension")])
    results.on_tool_call("speaking", {"fluency": 4})
    results.on_tool_call("listening", {"comprehension": 3})
    record = SessionRecord(directory=tmp_path / "s", session_id="s", config="c.yaml", exam="e", llm="emulator",
                           scores=[ScoreRule(name="total", rule="sum", of=["fluency", "comprehension"],
                                                     official=False, source="test")])
    record.set_result(results.result(), "tool_call", results.marks())
    assert record.data["result"] == {"speaking": {"fluency": 4}, "listening": {"comprehension": 3}}
    assert record.data["scores"][0]["value"] == 7
    record.set_result(results.result(), "tool_call")  # the result itself: its keys are the functions
    assert record.data["scores"][0]["missing"] == ["fluency", "comprehension"]
