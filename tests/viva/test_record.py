"""session.json as the session goes, the latency figure, the stereo recording, the result."""

import json
import os
import stat
import wave

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.helpers import FakeClock
from viva.config import load_config
from viva.record import SessionRecord, response_latency_ms
from viva.recording import LEFT, RIGHT, StereoRecorder
from viva.results import ResultCollector


def new_record(tmp_path, clock=None) -> SessionRecord:
    return SessionRecord(directory=tmp_path / "s1", session_id="s1", config="c.yaml", exam="E", llm="emulator",
                         clock=clock or FakeClock(50.0))


def test_every_event_is_on_disk_at_once_and_the_file_is_always_whole(tmp_path):
    clock = FakeClock(50.0)
    record = new_record(tmp_path, clock)
    clock.t += 1.5
    record.event("activity_start")
    on_disk = json.loads(record.path.read_text())
    assert on_disk["events"] == [{"t_s": 1.5, "type": "activity_start"}]
    assert on_disk["outcome"] is None and on_disk["transcript"][0]["role"] == "candidate"
    assert [p.name for p in record.directory.iterdir()] == ["session.json"]  # no temporary left behind


def test_finish_counts_metrics_from_events_and_closes_the_transcript(tmp_path):
    clock = FakeClock(50.0)
    record = new_record(tmp_path, clock)
    for t, kind, fields in [(0.3, "examiner_audio_start", {}), (3.0, "examiner_audio_end", {}),
                            (4.0, "activity_start", {}), (8.0, "activity_end", {"vad_stop_secs": 0.8}),
                            (7.9, "tool_call", {}), (8.6, "examiner_audio_start", {}), (9.0, "closing_phrase", {})]:
        clock.t = 50 + t
        record.event(kind, **fields)
    record.text("examiner", "Thank you.")
    record.end(outcome="completed", end_reason="closing_phrase")
    record.end(outcome="failed", end_reason="timeout")  # the first decision stands
    data = record.finish(audio_bytes_outside_activity=0)
    assert data["outcome"] == "completed" and data["ended_at"]
    metrics = data["metrics"]
    assert metrics["turns"] == 1 and metrics["tool_calls"] == 1 and metrics["closing_phrases_heard"] == 1
    assert metrics["response_latency_ms"] == {"p50": 1400, "p95": 1400, "max": 1400}
    assert all(entry["end_s"] is not None for entry in data["transcript"])
    assert data["transcript"][-1] == {"role": "examiner", "start_s": 8.6, "end_s": 9.0, "text": "Thank you."}


def test_latency_skips_answers_the_examiner_never_answered():
    events = [{"t_s": 5, "type": "activity_end", "vad_stop_secs": 1}, {"t_s": 6, "type": "activity_start"},
              {"t_s": 9, "type": "activity_end", "vad_stop_secs": 1}, {"t_s": 9.5, "type": "examiner_audio_start"}]
    assert response_latency_ms(events) == {"p50": 1500, "p95": 1500, "max": 1500}
    assert response_latency_ms(events[:2]) is None


def test_the_recording_puts_both_sides_on_one_time_axis(tmp_path):
    clock = FakeClock(50.0)
    recorder = StereoRecorder(tmp_path / "r.wav", clock=clock)
    second = np.full(16000, 1000, np.int16)
    clock.t += 1.0
    recorder.add(LEFT, second)  # the microphone's first second
    clock.t += 2.0
    recorder.add(RIGHT, np.full(8000, -500, np.int16))  # the examiner, 2.5 s to 3.0 s
    clock.t += 1.0
    recorder.add(LEFT, second[:8000])  # microphone audio after a gap: 3.5 s to 4.0 s
    recorder.close()
    with wave.open(str(tmp_path / "r.wav")) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (2, 16000, 2)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)
    left, right = frames[:, 0], frames[:, 1]
    assert np.flatnonzero(left)[0] == 0 and (left == 1000).sum() == 24000
    assert np.flatnonzero(left[16000:] == 1000)[0] + 16000 == pytest.approx(56000, abs=10)
    assert np.flatnonzero(right)[0] == pytest.approx(40000, abs=10) and (right == -500).sum() == 8000


def test_results_are_checked_against_the_full_schema_and_kept_once(tmp_path):
    tool = load_config(ROOT / "configs/ielts_speaking.yaml").exam.tools[0]
    events = []
    results = ResultCollector(tools=[tool], on_event=lambda kind, **f: events.append((kind, f)))
    good = {"fluency_coherence": 6.5, "lexical_resource": 6, "grammatical_range_accuracy": 7, "pronunciation": 6.5,
            "overall_band": 6.5, "evidence": {k: "note" for k in ("fluency_coherence", "lexical_resource",
                                                                 "grammatical_range_accuracy", "pronunciation")}}
    bad = {**good, "pronunciation": 6.3}
    assert "multiple of 0.5" in results.on_tool_call("record_assessment", bad)["error"]
    assert not results.complete and results.result() is None
    assert results.on_tool_call("record_assessment", good) == {"status": "recorded"}
    assert results.on_tool_call("record_assessment", {**good, "pronunciation": 9}) == {"status": "already recorded"}
    assert results.result() == good and results.calls == 3
    assert results.on_tool_call("unknown_tool", {}) == {"error": "unknown function unknown_tool"}
    assert [kind for kind, _ in events].count("tool_result") == 2


def test_latency_counts_from_the_end_of_speech_the_turn_gate_measured():
    events = [{"t_s": 8.9, "type": "window_closed", "silence_s": 0.9},
              {"t_s": 9.0, "type": "activity_end", "vad_stop_secs": 0.3},
              {"t_s": 9.5, "type": "examiner_audio_start"},
              {"t_s": 12.0, "type": "activity_end", "vad_stop_secs": 0.3},  # no gate: the VAD's stop time
              {"t_s": 12.2, "type": "examiner_audio_start"}]
    assert response_latency_ms(events) == {"p50": 950, "p95": 1400, "max": 1400}  # 1.4 s and 0.5 s


def test_a_new_turns_words_neither_run_into_nor_join_the_last_turn(tmp_path):
    clock = FakeClock(50.0)
    record = new_record(tmp_path, clock)
    record.event("examiner_audio_start")
    record.text("examiner", "Thank you. That is")  # cut by a dropped link
    record.end_words("examiner")
    clock.t += 0.4
    record.event("examiner_audio_end")
    clock.t += 0.1  # the next turn's words come before its audio, well within 2 s
    record.text("examiner", "Thank you. That is the end of the Speaking test.")
    record.event("examiner_audio_start")
    texts = [e["text"] for e in record.finish()["transcript"]]
    assert texts == ["Thank you. That is", "Thank you. That is the end of the Speaking test."]


def test_words_of_one_turn_across_an_audio_gap_stay_one_entry(tmp_path):
    clock = FakeClock(50.0)
    record = new_record(tmp_path, clock)
    record.event("examiner_audio_start")
    record.text("examiner", "Your topic is:")
    record.event("examiner_audio_end")
    clock.t += 0.5  # a pause inside the turn
    record.text("examiner", " a place you like.")
    assert [e["text"] for e in record.finish()["transcript"]] == ["Your topic is: a place you like."]


def test_the_connection_totals_are_in_the_metrics(tmp_path):
    record = new_record(tmp_path)
    for kind, fields in [("disconnect", {"code": 1011}), ("reconnect_attempt", {"attempt": 1}),
                         ("reconnect", {"after_s": 1.05}), ("go_away", {"time_left_s": 50}),
                         ("disconnect", {"code": None}), ("reconnect", {"after_s": 0.05})]:
        record.event(kind, **fields)
    metrics = record.finish()["metrics"]
    assert (metrics["disconnects"], metrics["reconnect_attempts"], metrics["reconnects"], metrics["go_aways"]) == (
        2, 1, 2, 1)
    assert metrics["link_down_s"] == 1.1


def test_a_record_is_owner_only_whatever_the_usual_umask_lets_everyone_read(tmp_path):
    # Before, session.json and report.html were forced 0644 and the folder and recording
    # followed the umask (0755, 0644 under the usual 022): a candidate's voice and words,
    # readable by every user of the machine.
    from viva.report import write_report

    old = os.umask(0o022)
    try:
        record = SessionRecord(directory=tmp_path / "sessions" / "s1", session_id="s1", config="c", exam="e",
                               llm="emulator")
        record.event("activity_start")
        recorder = StereoRecorder(record.directory / "recording.wav", clock=FakeClock(0.0))
        recorder.add(LEFT, np.zeros(160, np.int16))
        recorder.close()
        write_report(record.directory)
    finally:
        os.umask(old)
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in record.directory.iterdir()}
    assert modes == {"session.json": 0o600, "recording.wav": 0o600, "report.html": 0o600}
    assert stat.S_IMODE(record.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "sessions").stat().st_mode) == 0o700
