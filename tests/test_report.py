"""report.html: escaping, the timeline's geometry, partial records, write_report and its errors."""

import json
import re

import pytest

from viva.errors import BadInput
from viva.report import PLOT_LEFT, PLOT_WIDTH, render_report, write_report

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
    assert "<script>" not in page
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


def test_report_is_self_contained():
    page = render_report(full_record())
    assert "<svg" in page and "<style>" in page
    assert not re.search(r'<(script|link|img)\b', page)
    assert not re.search(r'(src|href)=', page)
    assert "url(" not in page and "@import" not in page


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
