"""The per-run summary: silences after turns, stalls, and what the emulator's log shows."""

import json

from tests.conftest import ROOT
from viva.config import load_config
from viva.harness.summary import aggregate, reconnect_schedule, run_row, silences_after_turns, waits_off_schedule

TOOLS = load_config(ROOT / "configs/ielts_speaking.yaml").exam.tools
GOOD = {"fluency_coherence": 6.5, "lexical_resource": 6, "grammatical_range_accuracy": 7, "pronunciation": 6.5,
        "overall_band": 6.5, "evidence": {k: "n" for k in ("fluency_coherence", "lexical_resource",
                                                          "grammatical_range_accuracy", "pronunciation")}}


def test_silence_runs_from_each_turn_to_the_next_examiner_audio_or_the_end():
    events = [{"t_s": 1, "type": "activity_end"}, {"t_s": 2.5, "type": "examiner_audio_start"},
              {"t_s": 10, "type": "activity_end"}, {"t_s": 12, "type": "activity_end"},
              {"t_s": 19, "type": "examiner_audio_start"}, {"t_s": 30, "type": "activity_end"},
              {"t_s": 31, "type": "session_end"}]
    assert silences_after_turns(events) == [1.5, 9, 7, 1]


def write_record(directory, *, events, result, journal):
    directory.mkdir()
    (directory / "session.json").write_text(json.dumps({
        "session_id": directory.name, "outcome": "completed", "result": result, "result_source": "tool_call",
        "events": events, "metrics": {"closing_phrases_heard": 2}}))
    (directory / "emulator.jsonl").write_text("\n".join(json.dumps(e) for e in journal))


def test_a_row_counts_stalls_reconnects_lost_results_and_audio_outside(tmp_path):
    events = [{"t_s": 1, "type": "activity_end"}, {"t_s": 8, "type": "examiner_audio_start"},
              {"t_s": 9, "type": "tool_call"}, {"t_s": 9.1, "type": "tool_call"}]
    journal = [{"kind": "setup", "dir": "in"}, {"kind": "setup", "dir": "in"},
               {"kind": "audio", "dir": "in", "audio_bytes": 640, "window_open": False},
               {"kind": "audio", "dir": "in", "audio_bytes": 640, "window_open": True},
               {"kind": "tool_response", "dir": "in", "ids": ["fc_1"]}]
    write_record(tmp_path / "r1", events=events, result=GOOD, journal=journal)
    row = run_row(tmp_path / "r1", TOOLS)
    assert (row.stalls_over_5s, row.longest_silence_s, row.reconnects) == (1, 7.0, 1)
    assert (row.tool_results_lost, row.audio_bytes_outside, row.result_valid) == (1, 640, True)
    write_record(tmp_path / "r2", events=events[:2], result={**GOOD, "pronunciation": 11}, journal=journal[:1])
    second = run_row(tmp_path / "r2", TOOLS)
    assert second.result_valid is False and second.reconnects == 0
    summary = aggregate([row, second])
    assert summary["completed"] == "2/2" and summary["schema-valid results"] == "1"
    assert summary["stalls > 5 s"] == "2" and summary["closings heard per session"] == "2x: 2"


def attempt(n, base, delay, waited):
    return {"t_s": 1, "type": "reconnect_attempt", "attempt": n, "base_s": base, "delay_s": delay, "waited_s": waited}


def test_reconnect_waits_are_checked_against_the_configured_schedule():
    schedule = ([1.0, 2.0, 4.0], 0.2)
    good = [attempt(1, 1.0, 0.81, 0.812), attempt(2, 2.0, 2.39, 2.4), attempt(3, 4.0, 4.0, 4.0), attempt(4, 4.0, 3.3, 3.3)]
    assert waits_off_schedule(good, schedule) == 0
    bad = [attempt(1, 2.0, 2.0, 2.0),  # the second wait for the first attempt
           attempt(2, 2.0, 2.5, 2.5),  # jitter beyond 20 %
           attempt(3, 4.0, 4.0, 3.0),  # not waited out
           attempt(1, 1.0, 1.0, 1.0)]
    assert waits_off_schedule(bad, schedule) == 3


def test_the_schedule_comes_from_vivas_live_stage_and_stock_pipecat_has_none():
    assert reconnect_schedule(load_config(ROOT / "configs/ielts_speaking_short.yaml")) == ([1.0, 2.0, 4.0], 0.2)
    assert reconnect_schedule(load_config(ROOT / "configs/baseline_pipecat.yaml")) is None


def test_the_table_shows_waits_by_attempt_and_how_many_kept_the_schedule(tmp_path):
    events = [attempt(1, 1.0, 0.9, 0.91), attempt(2, 2.0, 2.2, 2.21)]
    write_record(tmp_path / "r1", events=events, result=GOOD, journal=[])
    write_record(tmp_path / "r2", events=[attempt(1, 1.0, 1.1, 1.12)], result=GOOD, journal=[])
    rows = [run_row(tmp_path / name, TOOLS, ([1.0, 2.0, 4.0], 0.2)) for name in ("r1", "r2")]
    summary = aggregate(rows)
    assert summary["reconnect waits (attempt: s)"] == "1: 0.91-1.12; 2: 2.21-2.21"
    assert summary["waits on schedule"] == "3/3"
    assert aggregate([run_row(tmp_path / "r1", TOOLS)])["waits on schedule"] == "-"


def test_the_shortest_speech_window_shows_an_answer_cut_in_two(tmp_path):
    whole = [{"kind": "window", "speech": True, "audio_s": 6.5}, {"kind": "window", "speech": False, "audio_s": 0.4}]
    cut = [{"kind": "window", "speech": True, "audio_s": 2.1}, {"kind": "window", "speech": True, "audio_s": 4.4}]
    write_record(tmp_path / "r1", events=[], result=GOOD, journal=whole)
    write_record(tmp_path / "r2", events=[], result=GOOD, journal=cut)
    assert run_row(tmp_path / "r1", TOOLS).shortest_window_s == 6.5  # a window without speech is not an answer
    rows = [run_row(tmp_path / name, TOOLS) for name in ("r1", "r2")]
    assert aggregate(rows)["shortest speech window"] == "2.1 s"


def test_right_after_a_refused_handle_the_fresh_session_waits_nothing():
    schedule = ([1.0, 2.0, 4.0], 0.2)
    fresh = {**attempt(2, 0.0, 0.0, 0.001), "after_refusal": True}
    assert waits_off_schedule([attempt(1, 1.0, 1.1, 1.1), fresh], schedule) == 0
    assert waits_off_schedule([{**attempt(2, 0.0, 0.0, 0.0)}], schedule) == 1  # not after a refusal: off


def test_adherence_counts_the_steps_heard_once_and_those_said_again_or_never_heard():
    from viva.harness.summary import adherence

    plan = [{"step": "q1", "asked_s": 1}, {"step": "q2", "asked_s": 9}, {"step": "q3", "asked_s": None},
            {"step": "Part 1", "kind": "part"}]
    events = [{"t_s": 5, "type": "step_not_asked", "step": "q2"}, {"t_s": 6, "type": "cue", "step": "q2"}]
    # q2 needed a second cue; q3 was never heard: neither was heard once.
    assert adherence({"plan": plan, "events": events}) == (1, 2)
    # A step said twice (the candidate talked over it) was not heard once; one on a branch not
    # taken, or skipped for time, is not on the exam's path.
    plan += [{"step": "q4", "asked_s": 12, "said": 2}, {"step": "p1", "asked_s": None, "skipped": "branch not taken"},
             {"step": "q5", "asked_s": None, "skipped": "part_time_up"}, {"step": "j", "kind": "judge"}]
    assert adherence({"plan": plan, "events": events}) == (1, 3)
    assert adherence({"events": events}) is None  # not directed (the baseline)
    rows = [run_row_like(3, 1), run_row_like(2, 0)]
    assert aggregate(rows)["steps heard once"] == "5/6 (said again or not heard: 1)"


def run_row_like(first: int, again: int):
    from viva.harness.summary import RunRow

    return RunRow(session_id="s", outcome="completed", completed=True, result_source="tool_call", result_valid=True,
                  stalls_over_5s=0, longest_silence_s=0.0, closing_phrases_heard=1, reconnects=0,
                  tool_results_lost=0, audio_bytes_outside=0, steps_first_cue=first, steps_cued_again=again)


def test_every_step_asked_in_order_reads_the_plan():
    from viva.harness.summary import asked_in_order

    plan = [{"step": "q1", "kind": "question", "asked_s": 1}, {"step": "card", "kind": "cue_card", "asked_s": 9},
            {"step": "q2", "kind": "question", "asked_s": None, "skipped": "part_time_up"},
            {"step": "assessment", "kind": "assessment", "asked_s": None}, {"step": "Part 1", "kind": "part"}]
    assert asked_in_order({"plan": plan}) is True
    plan[2]["skipped"] = None
    assert asked_in_order({"plan": plan}) is False  # never asked
    plan[2]["asked_s"] = 5
    assert asked_in_order({"plan": plan}) is False  # asked before the card that comes first
    plan[2].update(asked_s=None, skipped="branch not taken")
    assert asked_in_order({"plan": plan}) is True  # not on the exam's path
    plan[2].update(skipped="not heard")
    assert asked_in_order({"plan": plan}) is False  # said twice, never heard
    assert asked_in_order({}) is None


def test_steps_skipped_for_time_are_counted_apart_from_those_on_a_branch_not_taken(tmp_path):
    from viva.harness.summary import skipped_for_time

    plan = [{"step": "q1", "kind": "question", "asked_s": 1},
            {"step": "card", "kind": "cue_card", "asked_s": None, "skipped": "exam_time_up"},
            {"step": "q2", "kind": "question", "asked_s": None, "skipped": "part_time_up"},
            {"step": "q3", "kind": "question", "asked_s": None, "skipped": "branch not taken"},
            {"step": "assessment", "kind": "assessment", "asked_s": None}]
    assert skipped_for_time({"plan": plan}) == 2
    assert skipped_for_time({}) is None
    rows = [run_row_like(1, 0), run_row_like(1, 0)]
    rows[0].steps_skipped_for_time, rows[1].steps_skipped_for_time = 2, 0
    assert aggregate(rows)["steps skipped for time"] == "2"


def _stereo(path, seconds: float, voiced: list[tuple[float, float]], rate: int = 16000):
    """A two-channel recording whose examiner (right) channel holds a tone over `voiced`."""
    import wave

    import numpy as np

    examiner = np.zeros(int(seconds * rate), dtype=np.float32)
    for start, end in voiced:
        t = np.arange(int(start * rate), int(end * rate))
        examiner[t] = 0.3 * np.sin(2 * np.pi * 220 * t / rate)
    frames = np.stack([np.zeros_like(examiner), examiner], axis=1)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2), wav.setsampwidth(2), wav.setframerate(rate)
        wav.writeframes((frames * 32767).astype("<i2").tobytes())


def test_marks_said_before_the_closing_in_the_same_turn_count_and_the_closing_itself_does_not(tmp_path):
    from viva.harness.summary import examiner_before_closing_s

    # One examiner turn from 10 s to 20 s: 15 words of marks, then the 10-word closing (given
    # as words_before), the whole turn voiced.
    marks = "fluency six lexical resource six grammar six pronunciation six and that is my assessment today"
    closing = "Thank you. That is the end of the Speaking test."
    data = {"events": [{"t_s": 9.5, "type": "activity_end"}, {"t_s": 10.0, "type": "examiner_audio_start"},
                       {"t_s": 12.0, "type": "closing_phrase", "words_before": 15}],
            "transcript": [{"role": "examiner", "start_s": 10.0, "end_s": 20.0, "text": f"{marks}. {closing}"}]}
    _stereo(tmp_path / "recording.wav", 21, [(10.0, 20.0)])
    assert abs(examiner_before_closing_s(data, tmp_path / "recording.wav") - 10 * 15 / 25) <= 0.05
    # A candidate who goes on talking after the closing does not move "the last answer".
    data["events"].append({"t_s": 20.5, "type": "activity_end"})
    assert abs(examiner_before_closing_s(data, tmp_path / "recording.wav") - 10 * 15 / 25) <= 0.05
    # The closing alone in its turn: nothing before it.
    data["events"][2]["words_before"] = 0
    assert examiner_before_closing_s(data, tmp_path / "recording.wav") == 0


def test_an_exam_without_result_functions_completes_without_a_result():
    from viva.record import completed

    assert completed({"outcome": "completed", "result": None, "result_schemas": {}})
    assert not completed({"outcome": "completed", "result": None, "result_schemas": {"submit": {}}})
    assert not completed({"outcome": "completed", "result": None})  # a record from before result_schemas
    assert completed({"outcome": "completed", "result": {"band": 7}, "result_schemas": {"submit": {}}})
    assert not completed({"outcome": "failed", "result": {"band": 7}, "result_schemas": {"submit": {}}})
