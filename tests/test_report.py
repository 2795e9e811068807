"""report.html and index.html: escaping, the timeline's geometry, the player and its times, the
scores, partial records, write_report / write_reports and `viva report`'s errors; the labels in
the record's language and the marks with their maxima."""

import html
import json
import re
import string
import subprocess
import sys
import wave

import numpy as np
import pytest

from tests.conftest import ROOT
from viva import languages, report
from viva.config import load_config
from viva.errors import BadInput
from viva.scoring import compute_scores
from viva.report import (PLOT_LEFT, PLOT_WIDTH, RECORDING_OFFSET_S, audio_time, render_report, write_report,
                         write_reports)

POINT_TYPES = [
    "noise_rejected", "stall_detected", "nudge_sent", "tool_call", "tool_result", "tool_fallback",
    "closing_phrase", "closing_trimmed", "disconnect", "reconnect", "go_away", "session_end",
]


def full_record() -> dict:
    """A finished session; its latest time is session_end at 100 s, so x = PLOT_LEFT + t * PLOT_WIDTH / 100."""
    events = [
        {"t_s": 0.0, "type": "examiner_audio_start"},
        {"t_s": 10.0, "type": "examiner_audio_end"},
        {"t_s": 12.0, "type": "activity_start"},
        {"t_s": 30.0, "type": "activity_end"},
        {"t_s": 32.0, "type": "examiner_audio_start"},
        {"t_s": 40.0, "type": "examiner_audio_end"},
        {"t_s": 45.0, "type": "activity_start"},
        {"t_s": 70.0, "type": "activity_end"},
    ]
    events += [{"t_s": 50.0 + i, "type": kind} for i, kind in enumerate(POINT_TYPES[:-1])]
    events.append({"t_s": 100.0, "type": "session_end"})
    events.reverse()  # not sorted, as the format allows
    events[0:0] = [{"t_s": 75.0, "type": "tool_call", "name": "record_assessment"}]
    return {
        "session_id": "20261124-101500-ab12",
        "config": "configs/ielts_speaking.yaml",
        "exam": "IELTS Speaking",
        "llm": "emulator",
        "started_at": "2026-11-24T10:15:00Z",
        "ended_at": "2026-11-24T10:16:40Z",
        "outcome": "completed",
        "end_reason": "closing_phrase",
        "result": {"fluency_coherence": 6.5, "overall_band": 7.25, "evidence": {"fluency_coherence": "kept going & linked ideas"}},
        "result_source": "tool_call",
        "transcript": [
            {"role": "examiner", "start_s": 0.0, "end_s": 10.0, "text": "Tell me about <script>alert(1)</script>"},
            {"role": "candidate", "start_s": 12.0, "end_s": 30.0, "text": 'Fish & chips, "quoted" and \'single\''},
        ],
        "events": events,
        "metrics": {"turns": 14, "stalls": 1, "response_latency_ms": {"p50": 640, "p95": 910, "max": 1234}},
    }


def rects(page: str, lane: str) -> list[dict]:
    """Attributes of each rect of one lane, as floats where they are numbers."""
    found = []
    for tag in re.findall(r'<rect class="' + lane + r'[^"]*"[^>]*>', page):
        attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', tag))
        found.append({k: float(v) for k, v in attrs.items() if k in ("x", "width", "data-start", "data-end")})
    return found


def expected_x(t: float, span: float) -> float:
    return PLOT_LEFT + t / span * PLOT_WIDTH


def test_transcript_text_is_escaped():
    page = render_report(full_record())
    assert page.count("<script") == 1  # the page's own, at its end
    assert "alert(1)" not in page.split("<script>")[-1]
    assert "Tell me about &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Fish &amp; chips, &quot;quoted&quot; and &#x27;single&#x27;" in page


def test_header_result_and_metrics_are_shown():
    page = render_report(full_record())
    for text in ("IELTS Speaking", "20261124-101500-ab12", "configs/ielts_speaking.yaml", "emulator",
                 "2026-11-24T10:15:00Z", "2026-11-24T10:16:40Z", "completed", "closing_phrase"):
        assert text in page
    assert re.search(r"<th>overall_band</th><td[^>]*>7\.25</td>", page)
    # the nested evidence dict: a heading row, then its key indented one level
    assert re.search(r'<tr class="depth0"><th>evidence</th><td></td></tr>\s*'
                     r'<tr class="depth1"><th>fluency_coherence</th><td>kept going &amp; linked ideas</td>', page)
    assert "tool_call" in page.split("Result source:")[1].split("</p>")[0]
    assert re.search(r'<tr class="depth1"><th>max</th><td[^>]*>1234</td>', page)
    assert "no result" not in page and "still running" not in page


def test_examiner_and_candidate_rects_are_proportional_to_time():
    page = render_report(full_record())
    examiner, candidate = rects(page, "examiner"), rects(page, "candidate")
    assert [(r["data-start"], r["data-end"]) for r in examiner] == [(0, 10), (32, 40)]
    assert [(r["data-start"], r["data-end"]) for r in candidate] == [(12, 30), (45, 70)]
    for r in examiner + candidate:
        assert r["x"] == pytest.approx(expected_x(r["data-start"], 100), abs=0.01)
        assert r["width"] == pytest.approx((r["data-end"] - r["data-start"]) / 100 * PLOT_WIDTH, abs=0.02)


def test_unpaired_start_extends_to_the_session_end():
    record = full_record()
    record["events"] = [
        {"t_s": 2.0, "type": "examiner_audio_start"},
        {"t_s": 5.0, "type": "examiner_audio_end"},
        {"t_s": 80.0, "type": "disconnect"},
        {"t_s": 60.0, "type": "activity_start"},
    ]
    record["transcript"] = []
    page = render_report(record)
    [window] = rects(page, "candidate")
    assert (window["data-start"], window["data-end"]) == (60, 80)
    assert window["x"] + window["width"] == pytest.approx(PLOT_LEFT + PLOT_WIDTH, abs=0.02)
    assert '<rect class="candidate unfinished"' in page
    assert '<rect class="examiner unfinished"' not in page


def test_each_point_event_gets_a_marker_titled_with_its_type():
    record = full_record()
    page = render_report(record)
    markers = re.findall(r'<g class="marker [^"]*" data-type="([^"]+)" data-t="([^"]+)"><title>([^<]*)</title>'
                         r'<line x1="([^"]+)"', page)
    expected = sorted((e["type"], e["t_s"]) for e in record["events"] if e["type"] in POINT_TYPES)
    assert sorted((kind, float(t)) for kind, t, _, _ in markers) == expected
    for kind, t, title, x in markers:
        assert title.startswith(kind + " at ")
        assert float(x) == pytest.approx(expected_x(float(t), 100), abs=0.01)
    # extra keys of an event are in its tooltip
    assert any("name: record_assessment" in title for kind, t, title, _ in markers if float(t) == 75)
    # interval events are not markers
    assert not {"activity_start", "examiner_audio_end"} & {kind for kind, *_ in markers}


def test_report_is_self_contained_but_for_its_recording():
    for recording in (False, True):
        page = render_report(full_record(), recording=recording)
        assert "<svg" in page and "<style>" in page
        assert not re.search(r'<(link|img|iframe|object|embed)\b', page)
        assert re.findall(r"<script\b[^>]*>", page) == ["<script>"]  # inline, nothing loaded
        # the one reference: the record's own recording, relative
        assert re.findall(r'\b(src|href)=', page) == (["src"] if recording else [])
        assert "url(" not in page and "@import" not in page and "fetch(" not in page
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", page)


def test_partial_record_renders_and_says_what_is_missing():
    record = {"session_id": "x-1", "exam": "Crash <test>", "started_at": "2026-11-24T10:15:00Z",
              "events": [{"t_s": 3.0, "type": "examiner_audio_start"}, {"type": "stall_detected"}, {"t_s": "bad"}],
              "transcript": None, "result": None, "metrics": None, "ended_at": None}
    page = render_report(record)
    assert "no result" in page
    assert "still running / unfinished" in page
    assert "no metrics" in page and "no transcript" in page
    assert "Crash &lt;test&gt;" in page and "Crash <test>" not in page
    # the only interval starts at the latest known time, so it is there with zero width
    [speech] = rects(page, "examiner")
    assert speech["data-start"] == speech["data-end"] == 3.0
    assert "<g class=\"marker" not in page


def test_empty_record_renders():
    page = render_report({})
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "no result" in page and "no events recorded" in page


def test_write_report_writes_report_html(tmp_path):
    (tmp_path / "session.json").write_text(json.dumps(full_record()), encoding="utf-8")
    path = write_report(tmp_path)
    assert path == tmp_path / "report.html"
    assert path.read_text(encoding="utf-8") == render_report(full_record())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "session.json"]  # no temp file left


def test_write_report_without_session_json(tmp_path):
    with pytest.raises(BadInput) as caught:
        write_report(tmp_path)
    assert str(caught.value) == f"{tmp_path / 'session.json'}: no such file"
    assert not (tmp_path / "report.html").exists()


def test_write_report_with_corrupt_session_json(tmp_path):
    (tmp_path / "session.json").write_text('{"session_id": "x",\n "events": [', encoding="utf-8")
    with pytest.raises(BadInput) as caught:
        write_report(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'session.json'}: not valid JSON: ")
    assert message.endswith("at line 2") and "\n" not in message
    assert [p.name for p in tmp_path.iterdir()] == ["session.json"]


def test_the_timeline_shows_the_parts_and_the_preparation_from_the_plan():
    record = full_record()
    record["plan"] = [{"step": "Part 1 q1", "kind": "question", "cued_s": 0, "asked_s": 1, "answered_s": [], "cues": 1},
                      {"step": "Part 1", "kind": "part", "start_s": 0.0, "end_s": 40.0, "duration_s": 40.0},
                      {"step": "Part 2", "kind": "part", "start_s": 40.0, "end_s": None, "duration_s": None}]
    record["events"] += [{"t_s": 42.0, "type": "preparation_started"}, {"t_s": 44.0, "type": "preparation_ended"}]
    page = render_report(record)
    bands = rects(page, "part")
    assert [(b["x"], b["width"]) for b in bands] == [
        (pytest.approx(expected_x(0, 100)), pytest.approx(40 / 100 * PLOT_WIDTH)),
        (pytest.approx(expected_x(40, 100)), pytest.approx(60 / 100 * PLOT_WIDTH))]  # the last runs to the end
    assert 'data-part="Part 2"' in page
    (prep,) = rects(page, "preparation")
    assert (prep["data-start"], prep["data-end"]) == (42, 44)


# -- the recording: the player, and where each line and mark plays from


def write_wav(path, seconds: float, *, rate: int = 16000) -> None:
    """A stereo 16-bit WAV like recording.wav: a quiet tone, so it is real audio."""
    samples = (np.sin(np.arange(int(seconds * rate)) * 2 * np.pi * 440 / rate) * 3000).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.repeat(samples, 2).tobytes())


def seek_times(page: str, pattern: str) -> list[float]:
    return [float(t) for t in re.findall(pattern, page)]


def test_the_player_plays_the_records_own_recording(tmp_path):
    (tmp_path / "session.json").write_text(json.dumps(full_record()), encoding="utf-8")
    write_wav(tmp_path / "recording.wav", 1.0)
    page = write_report(tmp_path).read_text(encoding="utf-8")
    [audio] = re.findall(r"<audio\b[^>]*>", page)
    assert 'src="recording.wav"' in audio and " controls" in audio and 'id="recording"' in audio
    assert "No recording" not in page


@pytest.mark.parametrize("wav", [None, b"", b"RIFF"])
def test_without_a_recording_the_page_says_so_instead_of_a_player(tmp_path, wav):
    (tmp_path / "session.json").write_text(json.dumps(full_record()), encoding="utf-8")
    if wav is not None:
        (tmp_path / "recording.wav").write_bytes(wav)  # empty: a session that crashed at once
    page = write_report(tmp_path).read_text(encoding="utf-8")
    assert "<audio" not in page
    assert "No recording: there is no recording.wav" in page


def test_audio_time_is_the_record_time_less_the_recordings_offset():
    assert RECORDING_OFFSET_S == 0.0  # see viva/report.py: both clocks start together
    for t in (0.0, 1.234, 99.5):
        assert audio_time(t) == max(0.0, t - RECORDING_OFFSET_S)


def test_a_record_time_is_the_same_moment_in_the_recording(tmp_path):
    """What RECORDING_OFFSET_S = 0 rests on: a record and a recorder made at the same clock
    reading (as viva/exam_session.py makes them) put an event and the audio that arrived with
    it at the same second of recording.wav."""
    from viva.record import SessionRecord
    from viva.recording import LEFT, RIGHT, StereoRecorder

    now = [100.0]
    record = SessionRecord(directory=tmp_path, session_id="s", config="c", exam="e", llm="l", clock=lambda: now[0])
    recorder = StereoRecorder(tmp_path / "recording.wav", clock=lambda: now[0])
    rate, chunk = 16000, 320  # 20 ms
    for step in range(400):  # 8 s; the examiner speaks from 3.0 s for 1 s, the candidate from 5.5 s
        now[0] = 100.0 + (step + 1) * chunk / rate
        t = (step + 1) * chunk / rate
        recorder.add(RIGHT, np.full(chunk, 1000 if 3.0 < t <= 4.0 else 0, np.int16))
        recorder.add(LEFT, np.full(chunk, 1000 if 5.5 < t <= 6.5 else 0, np.int16))
        if abs(t - 3.0) < 1e-9:
            record.event("examiner_audio_start")
        if abs(t - 5.5) < 1e-9:
            record.event("activity_start")
    recorder.close()
    with wave.open(str(tmp_path / "recording.wav")) as wav:
        frames = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)
    for kind, channel in (("examiner_audio_start", RIGHT), ("activity_start", LEFT)):
        [t_s] = [e["t_s"] for e in record.data["events"] if e["type"] == kind]
        first = np.flatnonzero(frames[:, channel])[0] / rate
        assert audio_time(t_s) == pytest.approx(first, abs=0.001)


def test_transcript_lines_carry_their_start_on_the_recording():
    record = full_record()
    record["transcript"].append({"role": "candidate", "start_s": 45.123, "end_s": 70.0, "text": "later"})
    record["transcript"].append({"role": "candidate", "start_s": None, "end_s": None, "text": "no time"})
    page = render_report(record, recording=True)
    rows = re.findall(r'<tr class="(?:examiner|candidate)"([^>]*)><td class="role">', page)
    assert len(rows) == 4
    starts = [float(m.group(1)) if (m := re.search(r'data-t="([^"]+)"', attrs)) else None for attrs in rows]
    assert starts == [pytest.approx(audio_time(t)) if t is not None else None for t in (0.0, 12.0, 45.123, None)]


def test_every_timeline_mark_carries_its_time_on_the_recording():
    record = full_record()
    page = render_report(record, recording=True)
    for lane in ("examiner", "candidate"):
        for tag in re.findall(r'<rect class="' + lane + r'[^"]*"[^>]*>', page):
            start = float(re.search(r'data-start="([^"]+)"', tag).group(1))
            assert float(re.search(r'data-t="([^"]+)"', tag).group(1)) == pytest.approx(audio_time(start))
    marks = re.findall(r'<g class="marker [^"]*" data-type="[^"]+" data-t="([^"]+)">', page)
    expected = sorted(audio_time(e["t_s"]) for e in record["events"] if e["type"] in POINT_TYPES)
    assert sorted(float(t) for t in marks) == pytest.approx(expected)


def prep_record() -> dict:
    """A session with parts, a preparation and a long turn cut at its limit (as the exam director writes them)."""
    record = full_record()
    record["plan"] = [
        {"step": "Part 1 q1", "part": "Part 1", "kind": "question", "cued_s": 1.0, "asked_s": 1.5,
         "answered_s": [[12.0, 30.0]], "cues": 1},
        {"step": "Part 2 cue card", "part": "Part 2", "kind": "cue_card", "cued_s": 30.0, "asked_s": 32.0,
         "answered_s": [], "cues": 1, "prep_s": 12.0},
        {"step": "Part 2 long turn", "part": "Part 2", "kind": "long_turn", "cued_s": 40.0, "asked_s": 41.0,
         "answered_s": [[45.0, 70.0]], "cues": 1, "long_turn_s": 25.0},
        {"step": "Part 1", "kind": "part", "start_s": 1.0, "end_s": 30.0, "duration_s": 29.0},
        {"step": "Part 2", "kind": "part", "start_s": 30.0, "end_s": None, "duration_s": None},
    ]
    record["events"] += [
        {"t_s": 1.0, "type": "exam_part", "name": "Part 1"}, {"t_s": 30.0, "type": "exam_part", "name": "Part 2"},
        {"t_s": 32.5, "type": "preparation_started", "step": "Part 2 cue card", "prep_s": 12.0},
        {"t_s": 44.5, "type": "preparation_ended", "step": "Part 2 cue card", "prep_s": 12.0},
        {"t_s": 69.0, "type": "long_turn_cut", "step": "Part 2 long turn", "after_s": 24.0},
    ]
    return record


def test_parts_preparation_and_long_turn_are_labelled_spans():
    page = render_report(prep_record(), recording=True)
    [(part1, part2)] = [rects(page, "part")]
    assert (part1["x"], part1["width"]) == (pytest.approx(expected_x(1, 100)), pytest.approx(29 / 100 * PLOT_WIDTH))
    assert part2["x"] + part2["width"] == pytest.approx(expected_x(100, 100))  # the last runs to the end
    [prep] = rects(page, "preparation")
    [long_turn] = rects(page, "long_turn")
    assert (prep["data-start"], prep["data-end"]) == (32.5, 44.5)
    assert (long_turn["data-start"], long_turn["data-end"]) == (45, 70)
    assert long_turn["x"] == pytest.approx(expected_x(45, 100))
    for label in ("Part 1", "Part 2"):
        assert re.search(r'<text class="part"[^>]*>' + label + "</text>", page)
    for label in ("preparation", "long turn"):
        assert re.search(r'<text class="timer"[^>]*>' + label + "</text>", page)
    assert "long turn (Part 2 long turn) 45.00–70.00 s, cut at its limit" in page
    # a preparation too short for its name at this scale gets the short one
    record = prep_record()
    record["events"][-2]["t_s"] = 37.5
    assert re.search(r'<text class="timer"[^>]*>prep</text>', render_report(record))
    for kind, t in (("part", 1.0), ("part", 30.0), ("preparation", 32.5), ("long_turn", 45.0)):
        assert re.search(r'<rect class="' + kind + r'[^"]*"[^>]*data-t="' + f"{audio_time(t):.3f}" + '"', page)


def test_parts_come_from_exam_part_events_when_there_is_no_plan():
    record = prep_record()
    del record["plan"]
    bands = rects(render_report(record), "part")
    assert [(b["x"], b["width"]) for b in bands] == [
        (pytest.approx(expected_x(1, 100)), pytest.approx(29 / 100 * PLOT_WIDTH)),
        (pytest.approx(expected_x(30, 100)), pytest.approx(70 / 100 * PLOT_WIDTH))]


# -- derived scores beside the model's marks

SCORES = [
    {"name": "speaking_band", "label": "Speaking band", "value": 6.5, "rule": "mean, floor_half",
     "of": {"fluency_coherence": 6.5, "lexical_resource": 7}, "official": True,
     "source": "IELTS: the four criteria are equally weighted"},
    {"name": "cefr", "label": "CEFR level", "value": "B2", "position": 4, "rule": "band table",
     "of": {"speaking_band": 6.5}, "official": False, "source": "an approximate alignment of bands to CEFR"},
    {"name": "pronunciation_band", "label": "Pronunciation", "value": None, "rule": "as given",
     "of": {}, "official": False, "source": "the model's mark", "missing": ["pronunciation"]},
]


def test_scores_are_shown_with_rule_and_whether_it_is_official():
    record = full_record()
    record["scores"] = SCORES
    page = render_report(record)
    marks = page.split('<div class="marks">')[1].split("</div>")[0]
    assert "overall_band" in marks.split('<section class="derived">')[0]  # the model's marks, beside
    rows = dict(re.findall(r'<tr data-score="([^"]+)">(.*?)</tr>', marks))
    assert list(rows) == ["speaking_band", "cefr", "pronunciation_band"]
    assert "<th>Speaking band</th>" in rows["speaking_band"] and ">6.5<" in rows["speaking_band"]
    assert "mean, floor_half" in rows["speaking_band"] and '<span class="official">official</span>' in rows["speaking_band"]
    assert "IELTS: the four criteria are equally weighted" in rows["speaking_band"]
    assert "fluency_coherence 6.5, lexical_resource 7" in rows["speaking_band"]
    assert "B2 (position 4)" in rows["cefr"] and '<span class="approximate">approximate</span>' in rows["cefr"]
    assert "an approximate alignment of bands to CEFR" in rows["cefr"]
    assert "no value: missing pronunciation" in rows["pronunciation_band"]


def test_a_record_without_scores_still_renders():
    page = render_report(full_record())
    assert "no derived scores in this record" in page and "overall_band" in page
    assert "not a list" in render_report({**full_record(), "scores": "not a list"})


# -- a folder of records: index.html, and `viva report`


def records_folder(tmp_path) -> list[str]:
    """tmp_path/sessions with three records (one with scores and a recording) and a folder that is not one."""
    names = []
    for i, outcome in enumerate(("completed", "failed", "aborted")):
        record = full_record()
        record.update(session_id=f"2026112{i}-101500-ab1{i}", outcome=outcome, end_reason=f"reason {i}",
                      exam=f"Exam {i} & co", config=f"configs/exam_{i}.yaml", result_source=f"source_{i}")
        if i == 0:
            record["scores"] = SCORES
        folder = tmp_path / "sessions" / record["session_id"]
        folder.mkdir(parents=True)
        (folder / "session.json").write_text(json.dumps(record), encoding="utf-8")
        names.append(folder.name)
    write_wav(tmp_path / "sessions" / names[0] / "recording.wav", 0.5)
    (tmp_path / "sessions" / "emulator-logs").mkdir()
    return names


def test_a_folder_of_records_gets_each_report_and_an_index(tmp_path):
    names = records_folder(tmp_path)
    index = write_reports(tmp_path / "sessions")
    assert index == tmp_path / "sessions" / "index.html"
    page = index.read_text(encoding="utf-8")
    rows = re.findall(r'<tr data-folder="([^"]+)">(.*?)</tr>', page)
    assert [name for name, _ in rows] == names
    for i, (name, row) in enumerate(rows):
        assert f"Exam {i} &amp; co" in row and f"configs/exam_{i}.yaml" in row and f"reason {i}" in row
        assert f"source_{i}" in row and ("completed", "failed", "aborted")[i] in row
        [href] = re.findall(r'href="([^"]+)"', row)
        assert href == f"{name}/report.html"
        assert (index.parent / href).is_file()
    assert "Speaking band 6.5<" in rows[0][1] and "CEFR level B2 ≈" in rows[0][1]
    assert "none" in rows[1][1]
    assert "<audio" in (index.parent / names[0] / "report.html").read_text(encoding="utf-8")
    assert "<audio" not in (index.parent / names[1] / "report.html").read_text(encoding="utf-8")
    assert not (index.parent / "emulator-logs" / "report.html").exists()


def viva_report(path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "viva.cli", "report", str(path)], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


def test_viva_report_keeps_rendering_one_record(tmp_path):
    (tmp_path / "session.json").write_text(json.dumps(full_record()), encoding="utf-8")
    result = viva_report(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "report.html")
    assert not (tmp_path / "index.html").exists()


def test_viva_report_of_a_folder_writes_the_index(tmp_path):
    records_folder(tmp_path)
    result = viva_report(tmp_path / "sessions")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "sessions" / "index.html")


def one_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    return line


def test_viva_report_bad_input_is_one_line_and_exit_2(tmp_path):
    assert one_line(viva_report(tmp_path / "nowhere")) == f"viva: {tmp_path / 'nowhere'}: no such folder"
    (tmp_path / "empty" / "logs").mkdir(parents=True)
    assert one_line(viva_report(tmp_path / "empty")).startswith(f"viva: {tmp_path / 'empty'}: no session records")
    (tmp_path / "file.txt").write_text("x")
    assert "not a folder" in one_line(viva_report(tmp_path / "file.txt"))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "session.json").write_text('{"events": [', encoding="utf-8")
    assert one_line(viva_report(tmp_path / "bad")).startswith(f"viva: {tmp_path / 'bad' / 'session.json'}: not valid JSON")


def test_a_corrupt_record_in_a_folder_is_exit_2_and_the_rest_are_still_reported(tmp_path):
    names = records_folder(tmp_path)
    corrupt = tmp_path / "sessions" / names[1] / "session.json"
    corrupt.write_text('{"session_id": "x",\n "events": [', encoding="utf-8")
    (tmp_path / "sessions" / "listed").mkdir()
    (tmp_path / "sessions" / "listed" / "session.json").write_text("[1, 2]", encoding="utf-8")
    line = one_line(viva_report(tmp_path / "sessions"))
    assert line.startswith(f"viva: {corrupt}: not valid JSON")
    assert "(and 1 more unreadable)" in line and str(tmp_path / "sessions" / "index.html") in line
    page = (tmp_path / "sessions" / "index.html").read_text(encoding="utf-8")
    assert len(re.findall(r'<tr data-folder="', page)) == 2
    assert len(re.findall(r'<tr class="no-report" data-folder="', page)) == 2
    assert (tmp_path / "sessions" / names[0] / "report.html").exists()
    assert not (tmp_path / "sessions" / names[1] / "report.html").exists()


def test_a_band_the_model_gave_itself_is_set_aside_for_vivas_own():
    record = full_record()
    record["result"] = {"fluency_coherence": 6, "lexical_resource": 6, "grammatical_range_accuracy": 6,
                        "pronunciation": 6.5, "overall_band": 8.0, "evidence": {"fluency_coherence": "ok"}}
    record["scores"] = [{"name": "speaking_band", "label": "Speaking band (estimated)", "value": 6.0,
                         "rule": "mean, floor_half", "of": {k: record["result"][k] for k in (
                             "fluency_coherence", "lexical_resource", "grammatical_range_accuracy", "pronunciation")},
                         "official": False, "source": "an estimate"}]
    page = render_report(record)
    assert "The model also gave overall_band 8.0: not used." in page
    (row,) = re.findall(r'<tr data-score="speaking_band">(.*?)</tr>', page)
    assert ">6.0<" in row


# -- crafted records: each is one line, and in a folder the rest are still reported

CRAFTED = {
    # json.loads raised ValueError (Python's limit on converting long integers) and RecursionError.
    "huge_integer": ('{"session_id": "x", "events": [{"t_s": ' + "9" * 5000 + ', "type": "session_end"}]}',
                     "an integer of more than 4300 digits"),
    "deep": ('{"result": ' + "[" * 100_000 + "]" * 100_000 + "}", "nesting deeper than 64"),
    "deep_within_recursion": ('{"result": ' + "[" * 65 + "]" * 65 + "}", "nesting deeper than 64"),
}


@pytest.mark.parametrize("name", CRAFTED)
def test_a_crafted_record_is_one_line(tmp_path, name):
    text, problem = CRAFTED[name]
    (tmp_path / "session.json").write_text(text, encoding="utf-8")
    with pytest.raises(BadInput) as caught:
        write_report(tmp_path)
    assert str(caught.value) == f"{tmp_path / 'session.json'}: {problem}"


def test_a_record_whose_times_overflow_a_float_still_renders(tmp_path):
    record = full_record()
    record["events"].append({"t_s": int("9" * 4000), "type": "session_end"})  # within Python's 4300 digits
    record["transcript"].append({"role": "candidate", "start_s": int("9" * 400), "text": "late"})
    (tmp_path / "session.json").write_text(json.dumps(record), encoding="utf-8")
    page = write_report(tmp_path).read_text(encoding="utf-8")
    assert "late" in page and "<svg" in page


def test_marks_of_hundreds_of_digits_render_with_their_maxima():
    # math.isfinite raises OverflowError for an int too large for a float; such a mark is a number.
    record = {**full_record(), "result_schemas": {"f": {"properties": {"overall_band": {"maximum": int("9" * 400)}}}}}
    record["result"]["overall_band"] = int("9" * 400)
    page = render_report(record)
    assert f"{'9' * 400} / {'9' * 400}</span>" in page


def test_crafted_records_in_a_folder_are_listed_unreadable_and_the_rest_reported(tmp_path):
    import os

    names = records_folder(tmp_path)
    sessions = tmp_path / "sessions"
    for name, (text, _) in CRAFTED.items():
        (sessions / name).mkdir()
        (sessions / name / "session.json").write_text(text, encoding="utf-8")
    (sessions / "fifo").mkdir()
    os.mkfifo(sessions / "fifo" / "session.json")  # was passed over in silence (not is_file)
    line = one_line(viva_report(sessions))
    assert line.startswith(f"viva: {sessions / 'deep' / 'session.json'}: nesting deeper than 64 (and 3 more "
                           "unreadable)")
    page = (sessions / "index.html").read_text(encoding="utf-8")
    assert re.findall(r'<tr data-folder="([^"]+)"', page) == names
    unreadable = dict(re.findall(r'<tr class="no-report" data-folder="([^"]+)">.*?no report: ([^<]*)</td>', page))
    assert unreadable == {
        "deep": f"{sessions / 'deep' / 'session.json'}: nesting deeper than 64",
        "deep_within_recursion": f"{sessions / 'deep_within_recursion' / 'session.json'}: nesting deeper than 64",
        "fifo": f"{sessions / 'fifo' / 'session.json'}: not a regular file (a device, FIFO or socket); expected a file",
        "huge_integer": f"{sessions / 'huge_integer' / 'session.json'}: an integer of more than 4300 digits",
    }
    assert all((sessions / name / "report.html").is_file() for name in names)


def test_viva_report_of_a_name_over_255_characters_is_one_line(tmp_path):
    # Path.exists raised OSError (File name too long) for it.
    folder = tmp_path / ("s" * 300)
    assert one_line(viva_report(folder)) == f"viva: {folder}: cannot read: File name too long"


def test_a_session_json_over_the_size_limit_is_one_line(tmp_path):
    from viva.input_files import MAX_JSON_BYTES

    with (tmp_path / "session.json").open("wb") as file:
        file.truncate(MAX_JSON_BYTES + 1)  # sparse: nothing on disk
    with pytest.raises(BadInput) as caught:
        write_report(tmp_path)
    assert str(caught.value) == f"{tmp_path / 'session.json'}: over 16 MB, the most viva reads from such a file"


# -- the labels in the record's language, the marks with their maxima (issue 26)

FRENCH_RECORD = ROOT / "tests" / "data" / "report_fr"  # a French oral exam's record, made by hand


def french_record() -> dict:
    return json.loads((FRENCH_RECORD / "session.json").read_text(encoding="utf-8"))


def label_keys(labels: dict, prefix: str = "") -> dict[str, str]:
    """Each label of a `report` section by its dotted key."""
    found = {}
    for key, value in labels.items():
        if isinstance(value, dict):
            found.update(label_keys(value, f"{prefix}{key}."))
        else:
            found[prefix + key] = value
    return found


def fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


@pytest.mark.parametrize("language", languages.shipped())
def test_every_language_table_has_every_report_label_english_has(language):
    english = label_keys(languages.table("en")["report"])
    own = label_keys(languages.table(language)["report"])
    assert set(own) == set(english)
    for key, text in own.items():
        assert isinstance(text, str) and text.strip(), key
        assert fields(text) == fields(english[key]), key  # the same {fields}, so each fills in


def headings(page: str) -> list[str]:
    return [html.unescape(text) for text in re.findall(r"<h2>([^<]*)</h2>", page)]


def test_a_french_record_is_reported_in_french():
    words = languages.table("fr")["report"]
    page = render_report(french_record(), recording=True)
    assert '<html lang="fr-FR">' in page
    assert headings(page) == [words[key] for key in ("result_heading", "scores_heading", "timeline_heading",
                                                     "metrics_heading", "transcript_heading")]
    header = dict(re.findall(r'<tr data-field="([^"]+)"><th>([^<]*)</th>', page))
    assert {key: html.unescape(text) for key, text in header.items()} == {
        key: words[key] for key in ("exam", "session", "config", "llm", "language", "started", "ended", "outcome",
                                    "end_reason")}
    text = html.unescape(page)
    assert f'<span title="completed">{words["outcomes"]["completed"]}</span>' in text
    assert f'<td class="role"><span title="candidate">{words["roles"]["candidate"]}</span>' in text
    assert words["player_hint"].format(recording="recording.wav") in text
    assert words["result_source"].format(source="tool_call") in text
    assert f'<span class="approximate">{words["status"]["approximate"]}</span>' in text
    for key, lane in words["lanes"].items():
        assert re.search(rf'<text class="lane" data-lane="{key}"[^>]*>{re.escape(lane)}</text>', text), key
    for label in words["legend"].values():
        assert label in text
    assert words["long_turn_tip"].format(step="Partie 2 monologue", start="169.50", end="289.50") + ", " \
        + words["cut_at_limit"] in text
    assert words["marker_tip"].format(type="tool_call", t="332.40") in text
    for english in ("Result (the model's marks)", ">Transcript<", ">Timeline<", "End reason", "examiner speaking",
                    "the candidate left", "rule is", ">completed<", ">candidate<", "no events recorded"):
        assert english not in text
    # the record's own data is shown as recorded
    assert "Débit régulier, quelques hésitations dans le monologue." in text
    assert re.search(r"<th>etendue_lexicale</th>", page)


def test_marks_are_shown_with_their_maxima():
    page = html.unescape(render_report(french_record()))
    result = page.split('<table class="result">')[1].split("</table>")[0]
    rows = dict(re.findall(r'<tr class="depth0"><th>([^<]+)</th><td class=num>(.*?)</td></tr>', result))
    assert rows == {name: f'<span class="mark" title="de 0 à 5">{value} / 5</span>'
                    for name, value in (("aisance", "3.5"), ("etendue_lexicale", "4"),
                                        ("correction_grammaticale", "3"), ("prononciation", "4.5"))}
    # the derived total is a sum of four marks of 0 to 5: 0 to 20; the level is a label
    (total,) = re.findall(r'<tr data-score="total">(.*?)</tr>', page)
    assert '<span class="mark" title="de 0 à 20">15 / 20</span>' in total
    assert 'aisance <span class="mark" title="de 0 à 5">3.5 / 5</span>' in total  # what it was computed from
    (level,) = re.findall(r'<tr data-score="niveau">(.*?)</tr>', page)
    assert ">B2<" in level and 'total <span class="mark" title="de 0 à 20">15 / 20</span>' in level


def record_of(config: str, result: dict) -> dict:
    """A record as viva writes it for the config (viva/exam_session.py): its language, its
    functions' schemas, and the scores its rules derive from result."""
    loaded = load_config(ROOT / "configs" / config)
    return {**full_record(), "language": loaded.llm.language, "result": result,
            "result_schemas": {tool.name: tool.parameters for tool in loaded.exam.tools},
            "scores": compute_scores(loaded.exam.scores, result)}


def test_the_configs_marks_and_scores_get_their_maxima():
    ielts = {"fluency_coherence": 6.5, "lexical_resource": 7, "grammatical_range_accuracy": 6, "pronunciation": 6.5,
             "evidence": {"fluency_coherence": "a", "lexical_resource": "b", "grammatical_range_accuracy": "c",
                          "pronunciation": "d"}}
    page = render_report(record_of("ielts_speaking.yaml", ielts))
    assert '<html lang="en-GB">' in page and "<h2>Transcript</h2>" in page
    assert re.search(r'<th>lexical_resource</th><td class=num><span class="mark" title="0 to 9">7 / 9</span>', page)
    assert re.search(r'<tr class="depth1"><th>lexical_resource</th><td>b</td>', page)  # evidence: no maximum
    (band,) = re.findall(r'<tr data-score="speaking_band">(.*?)</tr>', page)
    assert '<td class="num value"><span class="mark" title="0 to 9">6.5 / 9</span></td>' in band  # a mean of 0-9 marks
    (cefr,) = re.findall(r'<tr data-score="cefr">(.*?)</tr>', page)
    assert '<td class="num value">B2</td>' in cefr

    page = render_report(record_of("toefl_independent.yaml", {"rating": 3, "evidence": {
        "delivery": "a", "language_use": "b", "topic_development": "c"}}))
    assert re.search(r'<th>rating</th><td class=num><span class="mark" title="0 to 4">3 / 4</span>', page)
    (scaled,) = re.findall(r'<tr data-score="scaled">(.*?)</tr>', page)
    assert '<td class="num value">23</td>' in scaled  # a lookup: its scale is in its label, not derived


def test_nested_marks_and_the_results_of_several_functions_get_their_maxima():
    grade = {"type": "integer", "minimum": 1, "maximum": 4}
    record = {**full_record(), "result_schemas": {
        "rate_task": {"type": "object", "properties": {
            "task": grade, "detail": {"type": "object", "properties": {"accuracy": {"type": "number", "maximum": 10}}}}},
        "rate_language": {"type": "object", "properties": {"range": grade}}}}
    record["result"] = {"rate_task": {"task": 3, "detail": {"accuracy": 7.5}}, "rate_language": {"range": 2}}
    page = render_report(record)
    assert re.search(r'<th>task</th><td class=num><span class="mark" title="1 to 4">3 / 4</span>', page)
    assert re.search(r'<th>accuracy</th><td class=num><span class="mark" title="up to 10">7.5 / 10</span>', page)
    assert re.search(r'<th>range</th><td class=num><span class="mark" title="1 to 4">2 / 4</span>', page)
    # one function's arguments, nested
    record["result"] = record["result"]["rate_task"]
    assert re.search(r'<th>accuracy</th><td class=num><span class="mark"[^>]*>7.5 / 10</span>', render_report(record))


@pytest.mark.parametrize("schemas", [None, [], "x", {"f": None}, {"f": {"properties": []}},
                                     {"f": {"properties": {"overall_band": {"maximum": "9"}}}},
                                     {"f": {"properties": {"overall_band": {"maximum": True}}}},
                                     {"f": {"properties": {"overall_band": {"maximum": float("nan")}}}}])
def test_unusable_schemas_show_the_marks_without_maxima(schemas):
    page = render_report({**full_record(), "result_schemas": schemas})
    assert re.search(r"<th>overall_band</th><td class=num>7\.25</td>", page)
    assert 'class="mark"' not in page


def test_an_old_record_without_language_or_schemas_renders_in_english_without_maxima():
    record = full_record()
    record["scores"] = SCORES
    assert "language" not in record and "result_schemas" not in record
    page = render_report(record)
    words = languages.table("en")["report"]
    assert '<html lang="en">' in page
    assert headings(page) == ["Result (the model's marks)", "Scores", "Timeline", "Metrics", "Transcript"]
    assert words["result_heading"] == "Result (the model's marks)"
    assert 'class="mark"' not in page and " / " not in page.split("<svg")[0]
    assert re.search(r"<th>overall_band</th><td class=num>7\.25</td>", page)
    assert '<span title="completed">completed</span>' in page


@pytest.mark.parametrize("language, lang", [("de-DE", "de-DE"), ("en-US", "en-US"), (None, "en"), (7, "en"),
                                            ("../../etc/passwd", "en"), ("x" * 5000, "en"), ("fr_FR", "en")])
def test_a_language_without_a_table_or_not_a_tag_is_english(language, lang):
    page = render_report({**full_record(), "language": language})
    assert f'<html lang="{lang}">' in page
    assert "<h2>Transcript</h2>" in page


def test_a_label_a_table_lacks_is_english(monkeypatch):
    shipped = languages.table

    def partial(language):
        if languages.table_name(language) == "xx":
            return {"report": {"transcript_heading": "Xscript", "lanes": {"examiner": "Xaminer"}, "outcomes": "?"}}
        return shipped(language)

    monkeypatch.setattr(report.languages, "table", partial)
    report._words.cache_clear()
    try:
        page = render_report({**full_record(), "language": "xx-YY"})
    finally:
        report._words.cache_clear()
    assert '<html lang="xx-YY">' in page
    assert "<h2>Xscript</h2>" in page and "<h2>Timeline</h2>" in page
    assert 'data-lane="examiner"' in page and ">Xaminer</text>" in page and ">candidate</text>" in page
    assert '<span title="completed">completed</span>' in page  # a table's broken group: English's


def write_records(folder, records: list[dict]) -> None:
    for record in records:
        (folder / record["session_id"]).mkdir(parents=True)
        (folder / record["session_id"] / "session.json").write_text(json.dumps(record), encoding="utf-8")


def test_the_index_of_french_records_is_in_french_with_maxima(tmp_path):
    words = languages.table("fr")["report"]
    second = {**french_record(), "session_id": "20261207-111500-fr02", "language": "fr-CA", "outcome": "aborted"}
    write_records(tmp_path / "sessions", [french_record(), second])
    page = html.unescape(write_reports(tmp_path / "sessions").read_text(encoding="utf-8"))
    assert '<html lang="fr">' in page  # fr-FR and fr-CA: French
    title = words["index_title"].format(folder="sessions")
    assert f"<title>{title}</title>" in page and f"<h1>{title}</h1>" in page
    assert words["records_other"].format(count=2) in page
    assert re.findall(r"<th>([^<]*)</th>", page) == list(words["index_columns"].values())
    rows = re.findall(r'<tr data-folder="[^"]+">(.*?)</tr>', page)
    assert f'<span title="completed">{words["outcomes"]["completed"]}</span>' in rows[0]
    assert f'<span title="aborted">{words["outcomes"]["aborted"]}</span>' in rows[1]
    assert 'Total (sur 20) <span class="mark" title="de 0 à 20">15 / 20</span> ≈' in rows[0]
    assert f'>{words["report_link"]}</a>' in rows[0]
    (only,) = [french_record()]
    one = tmp_path / "one"
    write_records(one, [only])
    assert words["records_one"].format(count=1) in html.unescape(write_reports(one).read_text(encoding="utf-8"))


def test_an_index_of_records_in_several_languages_is_in_english(tmp_path):
    write_records(tmp_path / "sessions", [french_record(), full_record()])  # full_record: an old record, English
    (tmp_path / "sessions" / "broken").mkdir()
    (tmp_path / "sessions" / "broken" / "session.json").write_text("{", encoding="utf-8")
    with pytest.raises(BadInput):
        write_reports(tmp_path / "sessions")
    page = (tmp_path / "sessions" / "index.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in page and "<th>end reason</th>" in page and "3 session records." in page
    assert "no report: " in page
    # each report is still in its own record's language
    assert '<html lang="fr-FR">' in (tmp_path / "sessions" / "20261207-101500-fr01" / "report.html").read_text()
