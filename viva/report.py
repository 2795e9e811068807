"""report.html: one page for a session record (its session.json); index.html for a folder of them.

The page works offline and alone (inline CSS, one inline SVG, one inline script, nothing
fetched), so it can be mailed or archived with its record. The one thing it refers to is
the record's own recording.wav, by a relative link, played by an <audio> element; without
that file the page says so. It shows the header, the model's marks (the result) beside the
derived scores, the timeline of who was speaking when (with the exam's parts, the
preparation and the long turn, and markers for point events), the metrics and the
transcript. Clicking a transcript line or a timeline mark plays the recording from there.
A record of a crashed (or older) session may lack any field; the page then says what is
missing instead of failing.

Timeline geometry (stable, for anyone reading the SVG): time t seconds is drawn at
x = PLOT_LEFT + t / span * PLOT_WIDTH, where span is the latest time in the record
(events and transcript). Examiner intervals are `rect.examiner`, candidate activity
windows `rect.candidate`, both with data-start/data-end in seconds; parts are `rect.part`
(data-part), the preparation `rect.preparation` and the long turn `rect.long_turn`; point
events are `g.marker` with data-type and data-t and a <title> naming the type. Whatever
can be clicked (those, and transcript rows) has data-t: where the recording plays from,
in seconds of recording.wav (`audio_time`).

`write_reports(DIR)` is `viva report DIR`: one record's report, or, for a folder of
records, each one's report and an index.html listing them.
"""

from __future__ import annotations

import html
import json
import os
import pathlib
import stat
import tempfile
import urllib.parse

from viva.errors import BadInput
from viva.input_files import load_json

SVG_WIDTH = 1000
SVG_HEIGHT = 192
PLOT_LEFT = 100
PLOT_WIDTH = 880
LANE_HEIGHT = 26
LANE_Y = {"examiner": 24, "candidate": 58, "timers": 92, "events": 126}
PARTS_TOP = 4  # part bands run from here to the axis; their names sit in the strip above the lanes
AXIS_Y = 160

RECORDING = "recording.wav"
_WAV_HEADER_BYTES = 44  # a recording.wav no longer than its header holds no audio
# recording.wav's sample 0 is the StereoRecorder's creation (viva/recording.py), t_s 0 the
# SessionRecord's (viva/record.py). ExamSession.__init__ (viva/exam_session.py) creates the
# two one after the other on the same clock, time.monotonic (well under a millisecond
# apart), and the recorder lays each chunk of audio where it arrived on that clock, gaps
# kept. So a record time is the same second in the recording: the offset is 0. It stays a
# named constant because it is the one thing to change if the recorder ever starts later.
RECORDING_OFFSET_S = 0.0

# Lane name: (start event, end event).
INTERVALS = {
    "examiner": ("examiner_audio_start", "examiner_audio_end"),
    "candidate": ("activity_start", "activity_end"),
}
# Marker colour group: the point events it covers (also the legend's rows).
MARKER_GROUPS = {
    "noise": ("noise_rejected",),
    "stall": ("stall_detected", "nudge_sent", "stall_given_up"),
    "tool": ("tool_call", "tool_result", "tool_fallback"),
    "closing": ("closing_phrase", "closing_trimmed", "closing_from_config"),
    "connection": ("disconnect", "reconnect", "go_away"),
    "exam": ("cue", "step_not_asked", "long_turn_cut", "silence_reask", "no_answer", "examiner_withheld",
             "two_questions", "cue_read_aloud"),
    "end": ("session_end",),
}
MARKER_GROUP = {kind: group for group, kinds in MARKER_GROUPS.items() for kind in kinds}

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto 2em; max-width: 1100px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; margin: 1em 0 .2em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; } th, td { text-align: left; vertical-align: top; padding: 3px 10px; border-bottom: 1px solid #e3e3e3; }
th { font-weight: 600; color: #555; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.depth1 th { padding-left: 2em; font-weight: normal; } tr.depth2 th { padding-left: 3.5em; font-weight: normal; }
tr.depth3 th { padding-left: 5em; font-weight: normal; }
.missing { color: #a33; font-style: italic; }
.player { position: sticky; top: 0; z-index: 1; background: #fff; padding: .6em 0; border-bottom: 1px solid #ddd;
  display: flex; align-items: center; gap: 1em; flex-wrap: wrap; }
.player audio { width: 480px; max-width: 100%; } .hint { color: #666; font-size: 12px; }
.marks { display: flex; flex-wrap: wrap; gap: 0 3em; align-items: flex-start; } .marks > section { flex: 1 1 420px; }
.official { color: #2e7d4b; font-weight: 600; } .approximate { color: #a86a00; font-weight: 600; }
.scores td.source, .scores td.of { color: #555; font-size: 12px; max-width: 320px; }
.transcript td.text { white-space: pre-wrap; max-width: 700px; }
tr.examiner td.role { color: #2f5f9e; } tr.candidate td.role { color: #2e7d4b; }
body.playable [data-t] { cursor: pointer; } body.playable .transcript tr[data-t]:hover { background: #f3f6fb; }
.transcript tr.current { background: #fff6d6; }
svg.timeline { width: 100%; height: auto; border: 1px solid #ddd; background: #fcfcfc; }
svg text { font: 11px system-ui, sans-serif; fill: #444; pointer-events: none; }
rect.examiner { fill: #4a7fc1; } rect.candidate { fill: #48a86b; } rect.unfinished { opacity: .55; }
line.axis, line.tick { stroke: #888; } line.grid { stroke: #e6e6e6; }
line.axis, line.tick, line.grid { pointer-events: none; }
line.playhead { stroke: #d00; stroke-width: 1.5; pointer-events: none; }
.marker line { stroke-width: 1.5; }
.m-noise { fill: #8a8a8a; stroke: #8a8a8a; } .m-stall { fill: #d98a00; stroke: #d98a00; }
.m-tool { fill: #7b4bb7; stroke: #7b4bb7; } .m-closing { fill: #138a8a; stroke: #138a8a; }
.m-connection { fill: #c0392b; stroke: #c0392b; } .m-end { fill: #222; stroke: #222; }
.legend { display: flex; flex-wrap: wrap; gap: .4em 1.4em; margin: .5em 0; font-size: 12px; color: #444; }
.swatch { display: inline-block; width: 14px; height: 10px; margin-right: 4px; vertical-align: middle; }
.swatch.examiner { background: #4a7fc1; } .swatch.candidate { background: #48a86b; }
.swatch.marker { width: 3px; height: 12px; }
.swatch.m-noise { background: #8a8a8a; } .swatch.m-stall { background: #d98a00; } .swatch.m-tool { background: #7b4bb7; }
.swatch.m-closing { background: #138a8a; } .swatch.m-connection { background: #c0392b; } .swatch.m-end { background: #222; }
.m-exam { fill: #b5487f; stroke: #b5487f; } .swatch.m-exam { background: #b5487f; }
rect.part { fill: #f1f1f6; } rect.part.odd { fill: #e7e9f2; } text.part { fill: #556; font-weight: 600; }
rect.preparation { fill: #eaf6ee; stroke: #48a86b; stroke-dasharray: 4 3; }
rect.long_turn { fill: #fbeef4; stroke: #b5487f; } text.timer { fill: #333; }
.swatch.preparation { border: 1px dashed #48a86b; background: #eaf6ee; } .swatch.part { background: #e7e9f2; }
.swatch.long_turn { border: 1px solid #b5487f; background: #fbeef4; }
"""

# Plain, inline: whatever has data-t plays the recording from there (see the module's docstring).
_SCRIPT = """
(function () {
  var audio = document.getElementById("recording");
  if (!audio) return;
  document.body.classList.add("playable");
  var svg = document.querySelector("svg.timeline");
  var head = svg && svg.querySelector("line.playhead");
  var span = svg ? parseFloat(svg.getAttribute("data-span")) : 0;
  var offset = parseFloat(audio.getAttribute("data-offset")) || 0;
  var rows = Array.prototype.slice.call(document.querySelectorAll(".transcript tr[data-t]"));
  function playFrom(el) {
    var t = parseFloat(el.getAttribute("data-t"));
    if (!(t >= 0)) return;
    audio.currentTime = t;
    var playing = audio.play();
    if (playing && playing.catch) playing.catch(function () {});
  }
  document.addEventListener("click", function (e) {
    var el = e.target.closest ? e.target.closest("[data-t]") : null;
    if (el) playFrom(el);
  });
  document.addEventListener("keydown", function (e) {
    if ((e.key === "Enter" || e.key === " ") && e.target.matches && e.target.matches("tr[data-t]")) {
      e.preventDefault();
      playFrom(e.target);
    }
  });
  audio.addEventListener("timeupdate", function () {
    var now = audio.currentTime;
    if (head && span > 0) {
      var x = %(left)s + (now + offset) / span * %(width)s;
      head.setAttribute("x1", x); head.setAttribute("x2", x); head.style.display = "";
    }
    var best = null;
    rows.forEach(function (row) {
      var t = parseFloat(row.getAttribute("data-t"));
      if (t <= now + 0.01 && (!best || t >= parseFloat(best.getAttribute("data-t")))) best = row;
    });
    rows.forEach(function (row) { row.classList.toggle("current", row === best); });
  });
})();
""" % {"left": PLOT_LEFT, "width": PLOT_WIDTH}


def audio_time(t: float) -> float:
    """Where record time t (an event's t_s, a transcript line's start_s) is in recording.wav."""
    return max(0.0, t - RECORDING_OFFSET_S)


def _data_t(t: float) -> str:
    return f'data-t="{audio_time(t):.3f}"'


def _plain(value) -> str:
    """Display text of a JSON value: strings as they are, the rest in JSON spelling."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _esc(value) -> str:
    return html.escape(_plain(value), quote=True)


def _seconds(value) -> float | None:
    """A time in seconds, or None for anything that is not a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        seconds = float(value)
    except OverflowError:  # an integer of hundreds of digits: JSON has no bound on them
        return None
    # The chained comparison is False for NaN and infinity too: json.loads accepts both.
    return seconds if 0 <= seconds < float("inf") else None


def _as_list(value) -> list:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _timed_events(record: dict) -> list[tuple[float, dict]]:
    """Events with a usable time and type, in time order (stable, so ties keep file order)."""
    timed = []
    for event in _as_list(record.get("events")):
        t = _seconds(event.get("t_s"))
        if t is not None and isinstance(event.get("type"), str):
            timed.append((t, event))
    return sorted(timed, key=lambda pair: pair[0])


def _span(events: list[tuple[float, dict]], transcript: list[dict]) -> float:
    """The session's end on the time axis: the latest time anywhere in the record."""
    times = [t for t, _ in events]
    times += [t for line in transcript for t in (_seconds(line.get("start_s")), _seconds(line.get("end_s"))) if t is not None]
    return max(times, default=0.0)


def _intervals(events: list[tuple[float, dict]], *, start: str, end: str, span: float) -> list[tuple[float, float, bool]]:
    """(start, end, unfinished) pairs; a start with no end runs to the end of the session."""
    found, opened = [], None
    for t, event in events:
        if event["type"] == start and opened is None:
            opened = t
        elif event["type"] == end and opened is not None:
            found.append((opened, t, False))
            opened = None
        # A repeated start keeps the first one open, an end with no start is dropped:
        # either means a lost event, and the earlier time is the better guess.
    if opened is not None:
        found.append((opened, span, True))
    return found


def _x(t: float, *, span: float) -> float:
    return PLOT_LEFT + (t / span * PLOT_WIDTH if span > 0 else 0.0)


def _tick_step(span: float) -> float:
    """A round tick spacing that gives at most about ten ticks."""
    for step in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if span / step <= 10:
            return step
    return span / 10


def _label(*texts: str, x: float, width: float, y: float, cls: str) -> str:
    """A span's name inside it: the first of texts that fits, none if none does (its title has it)."""
    for text in texts:
        if width >= 6.5 * len(text) + 6:
            return f'<text class="{cls}" x="{x + 3:.2f}" y="{y:.2f}">{html.escape(text)}</text>'
    return ""


def _marker(t: float, event: dict, *, span: float) -> str:
    kind = event["type"]
    x = _x(t, span=span)
    top = LANE_Y["events"]
    extras = [f"{key}: {_plain(value)}" for key, value in event.items() if key not in ("t_s", "type")]
    tip = " · ".join([f"{kind} at {t:.2f} s", *extras])
    return (
        f'<g class="marker m-{MARKER_GROUP[kind]}" data-type="{html.escape(kind)}" {_data_t(t)}>'
        f"<title>{html.escape(tip)}</title>"
        f'<line x1="{x:.2f}" y1="{top + 6}" x2="{x:.2f}" y2="{top + LANE_HEIGHT}"/>'
        f'<path d="M{x - 4:.2f},{top} L{x + 4:.2f},{top} L{x:.2f},{top + 7} Z"/></g>'
    )


def _parts(record: dict, events: list[tuple[float, dict]], *, span: float) -> list[tuple[str, float, float]]:
    """(name, start, end) of each exam part: from the plan the exam director keeps, else from its
    exam_part events (a part runs until the next one begins, the last to the session's end)."""
    found = []
    for entry in _as_list(record.get("plan")):
        a, b = _seconds(entry.get("start_s")), _seconds(entry.get("end_s"))
        if entry.get("kind") == "part" and a is not None:
            found.append((_plain(entry.get("step", "")), a, span if b is None else b))
    if found:
        return found
    starts = [(_plain(event.get("name", "")), t) for t, event in events if event["type"] == "exam_part"]
    return [(name, a, starts[i + 1][1] if i + 1 < len(starts) else span) for i, (name, a) in enumerate(starts)]


def _part_bands(record: dict, events: list[tuple[float, dict]], *, span: float) -> list[str]:
    """The exam's parts as bands behind the lanes, named in the strip above them."""
    out = []
    for i, (name, a, b) in enumerate(_parts(record, events, span=span)):
        x, width = _x(a, span=span), _x(b, span=span) - _x(a, span=span)
        escaped = html.escape(name)
        out.append(f'<rect class="part{" odd" if i % 2 else ""}" x="{x:.2f}" y="{PARTS_TOP}" '
                   f'width="{width:.2f}" height="{AXIS_Y - PARTS_TOP}" data-part="{escaped}" {_data_t(a)}>'
                   f"<title>{escaped} {a:.2f}–{b:.2f} s</title></rect>")
        out.append(_label(name, name.rsplit(" ", 1)[-1], x=x, width=width, y=PARTS_TOP + 12, cls="part"))
    return out


def _timer_spans(record: dict, events: list[tuple[float, dict]], *, span: float) -> list[tuple]:
    """(class, labels (long, short), start, end, tooltip) of the spans the exam director times:
    the preparation (its preparation_started/_ended events) and the long turn (the answer
    windows of the plan's long-turn step, the one a limit cuts: viva/processors/exam_director.py)."""
    found = []
    for a, b, unfinished in _intervals(events, start="preparation_started", end="preparation_ended", span=span):
        tip = f"preparation {a:.2f}–{b:.2f} s ({b - a:.1f} s, held in silence)"
        found.append(("preparation", ("preparation", "prep"), a, b, tip + (" (no end recorded)" if unfinished else "")))
    cut = {event.get("step") for _, event in events if event["type"] == "long_turn_cut"}
    for entry in _as_list(record.get("plan")):
        if entry.get("kind") != "long_turn" and "long_turn_s" not in entry:
            continue
        windows = entry.get("answered_s") if isinstance(entry.get("answered_s"), list) else []
        for window in windows:
            if not isinstance(window, list) or len(window) != 2 or _seconds(window[0]) is None:
                continue
            a = _seconds(window[0])
            b = _seconds(window[1])
            tip = f"long turn ({_plain(entry.get('step'))}) {a:.2f}–{(span if b is None else b):.2f} s"
            if entry.get("step") in cut:
                tip += ", cut at its limit"
            found.append(("long_turn", ("long turn", "long"), a, span if b is None else b, tip))
    return found


def _timeline(record: dict) -> str:
    """The inline SVG: parts, axis, examiner lane, candidate lane, timers, event markers; then the legend."""
    transcript = _as_list(record.get("transcript"))
    events = _timed_events(record)
    span = _span(events, transcript)
    parts = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SVG_WIDTH} {SVG_HEIGHT}" '
        f'data-span="{span:.3f}" role="img" aria-label="session timeline">'
    ]
    parts += [band for band in _part_bands(record, events, span=span) if band]
    step = _tick_step(span) if span > 0 else 1
    ticks = [i * step for i in range(int(span / step) + 1)] if span > 0 else [0.0]
    for tick in ticks:
        x = _x(tick, span=span)
        parts.append(f'<line class="grid" x1="{x:.2f}" y1="{LANE_Y["examiner"]}" x2="{x:.2f}" y2="{AXIS_Y}"/>')
        parts.append(f'<line class="tick" x1="{x:.2f}" y1="{AXIS_Y}" x2="{x:.2f}" y2="{AXIS_Y + 4}"/>')
        parts.append(f'<text x="{x:.2f}" y="{AXIS_Y + 16}" text-anchor="middle">{tick:g}</text>')
    parts.append(f'<line class="axis" x1="{PLOT_LEFT}" y1="{AXIS_Y}" x2="{PLOT_LEFT + PLOT_WIDTH}" y2="{AXIS_Y}"/>')
    parts.append(f'<text x="{PLOT_LEFT - 8}" y="{AXIS_Y + 16}" text-anchor="end">seconds</text>')
    parts.append(f'<text x="{PLOT_LEFT - 8}" y="{PARTS_TOP + 12}" text-anchor="end">parts</text>')
    for lane in LANE_Y:
        parts.append(f'<text x="{PLOT_LEFT - 8}" y="{LANE_Y[lane] + LANE_HEIGHT / 2 + 4}" text-anchor="end">{lane}</text>')
    for lane, (start, end) in INTERVALS.items():
        for a, b, unfinished in _intervals(events, start=start, end=end, span=span):
            x = _x(a, span=span)
            width = _x(b, span=span) - x
            tip = f"{lane} {a:.2f}–{b:.2f} s" + (" (no end recorded: runs to the end of the session)" if unfinished else "")
            parts.append(
                f'<rect class="{lane}{" unfinished" if unfinished else ""}" x="{x:.2f}" y="{LANE_Y[lane]}" '
                f'width="{width:.2f}" height="{LANE_HEIGHT}" data-start="{a:.2f}" data-end="{b:.2f}" {_data_t(a)}>'
                f"<title>{html.escape(tip)}</title></rect>"
            )
    for kind, labels, a, b, tip in _timer_spans(record, events, span=span):
        x, width = _x(a, span=span), _x(b, span=span) - _x(a, span=span)
        parts.append(f'<rect class="{kind}" x="{x:.2f}" y="{LANE_Y["timers"]}" width="{width:.2f}" '
                     f'height="{LANE_HEIGHT}" data-start="{a:.2f}" data-end="{b:.2f}" {_data_t(a)}>'
                     f"<title>{html.escape(tip)}</title></rect>")
        parts.append(_label(*labels, x=x, width=width, y=LANE_Y["timers"] + LANE_HEIGHT / 2 + 4, cls="timer"))
    for t, event in events:
        if event["type"] in MARKER_GROUP:
            parts.append(_marker(t, event, span=span))
    if not events:
        parts.append(f'<text x="{PLOT_LEFT + 8}" y="{LANE_Y["candidate"] + 17}">no events recorded</text>')
    # Where the recording is playing (the page's script moves it; hidden until then).
    parts.append(f'<line class="playhead" x1="{PLOT_LEFT}" y1="{PARTS_TOP}" x2="{PLOT_LEFT}" y2="{AXIS_Y}" '
                 f'style="display: none"/>')
    parts.append("</svg>")

    legend = ['<div class="legend">', '<span><span class="swatch examiner"></span>examiner speaking</span>',
              '<span><span class="swatch candidate"></span>candidate activity window</span>',
              '<span><span class="swatch part"></span>exam parts</span>',
              '<span><span class="swatch preparation"></span>preparation (held in silence)</span>',
              '<span><span class="swatch long_turn"></span>long turn (timed)</span>']
    for group, kinds in MARKER_GROUPS.items():
        legend.append(f'<span><span class="swatch marker m-{group}"></span>{", ".join(kinds)}</span>')
    legend.append("</div>")
    return "\n".join([part for part in parts if part] + legend)


def _rows(mapping: dict, *, depth: int = 0) -> list[str]:
    """Table rows for a dict; a nested dict becomes a heading row with its keys indented below."""
    rows = []
    for key, value in mapping.items():
        if isinstance(value, dict):
            rows.append(f'<tr class="depth{depth}"><th>{_esc(key)}</th><td></td></tr>')
            rows += _rows(value, depth=min(depth + 1, 3))
        else:
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            rows.append(f'<tr class="depth{depth}"><th>{_esc(key)}</th><td{" class=num" if numeric else ""}>{_esc(value)}</td></tr>')
    return rows


def _header(record: dict) -> str:
    ended = record.get("ended_at")
    fields = [
        ("Exam", _esc(record.get("exam"))),
        ("Session", _esc(record.get("session_id"))),
        ("Config", _esc(record.get("config"))),
        ("LLM", _esc(record.get("llm"))),
        ("Started", _esc(record.get("started_at"))),
        ("Ended", _esc(ended) if ended else '<span class="missing">still running / unfinished</span>'),
        ("Outcome", _esc(record.get("outcome"))),
        ("End reason", _esc(record.get("end_reason"))),
    ]
    rows = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in fields)
    return f'<table class="meta">{rows}</table>'


def _player(recording: bool) -> str:
    if not recording:
        return (f'<div class="player"><p class="missing no-recording">No recording: there is no {RECORDING} '
                f"(with audio) next to this record's session.json.</p></div>")
    return (f'<div class="player"><audio id="recording" controls preload="metadata" src="{RECORDING}" '
            f'data-offset="{RECORDING_OFFSET_S:.3f}"></audio>'
            f'<span class="hint">{RECORDING}: the candidate left, the examiner right. '
            f"Click a transcript line or a timeline mark to play from there.</span></div>")


def _result(record: dict) -> str:
    result = record.get("result")
    source = f'<p>Result source: {_esc(record.get("result_source"))}</p>'
    if isinstance(result, dict) and result:
        return f'<table class="result">{"".join(_rows(result))}</table>{_unused(record, result)}{source}'
    if result not in (None, {}):
        # Not the dict a result should be; shown as it is, so nothing is hidden.
        return f'<p class="result">{_esc(result)}</p>{source}'
    return f'<p class="missing">no result</p>{source}'


def _unused(record: dict, result: dict) -> str:
    """A number the model gave that no score rule reads (its own overall band, say): said to be
    set aside, since a derived score is viva's arithmetic, never the model's."""
    scores = record.get("scores")
    if not isinstance(scores, list) or not scores:
        return ""
    read = {key for score in scores if isinstance(score, dict) and isinstance(score.get("of"), dict)
            for key in score["of"]}
    unused = [key for key, value in result.items()
              if isinstance(value, (int, float)) and not isinstance(value, bool) and key not in read]
    if not unused:
        return ""
    given = ", ".join(f"{_plain(key)} {_plain(result[key])}" for key in unused)
    return (f'<p class="unused">The model also gave {html.escape(given)}: not used. The scores beside are '
            f"viva's, by rule.</p>")


def _status(score: dict) -> tuple[str, str]:
    """(css class, words) for whether a score's rule is the official one."""
    official = score.get("official")
    if official is True:
        return "official", "official"
    if official is False:
        return "approximate", "approximate"
    return "missing", "not stated"


def _score_value(score: dict) -> str:
    value = score.get("value")
    if value is None:
        missing = score.get("missing")
        why = f": missing {', '.join(_plain(m) for m in missing)}" if isinstance(missing, list) and missing else ""
        return f'<span class="missing">no value{html.escape(why)}</span>'
    position = score.get("position")
    return _esc(value) + (f" (position {_esc(position)})" if position is not None else "")


def _of(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{_plain(key)} {_plain(mark)}" for key, mark in value.items())
    if isinstance(value, list):
        return ", ".join(_plain(item) for item in value)
    return "" if value is None else _plain(value)


def _scores(record: dict) -> str:
    """The derived scores (session.json's `scores`, computed from the result by fixed rules)."""
    scores = record.get("scores")
    if scores is None:
        return '<p class="missing">no derived scores in this record</p>'
    if not isinstance(scores, list):
        return f'<p class="scores">{_esc(scores)}</p>'  # not the list it should be: shown as it is
    entries = _as_list(scores)
    if not entries:
        return '<p class="missing">no derived scores</p>'
    rows = []
    for score in entries:
        cls, words = _status(score)
        rows.append(
            f'<tr data-score="{_esc(score.get("name"))}"><th>{_esc(score.get("label") or score.get("name"))}</th>'
            f'<td class="num value">{_score_value(score)}</td><td class="rule">{_esc(score.get("rule"))}</td>'
            f'<td class="status"><span class="{cls}">{words}</span></td>'
            f'<td class="of">{html.escape(_of(score.get("of")))}</td><td class="source">{_esc(score.get("source"))}</td></tr>'
        )
    head = "<tr><th>score</th><th>value</th><th>rule</th><th>rule is</th><th>from</th><th>source</th></tr>"
    return f'<table class="scores">{head}{"".join(rows)}</table>'


def _metrics(record: dict) -> str:
    metrics = record.get("metrics")
    if isinstance(metrics, dict) and metrics:
        return f'<table class="metrics">{"".join(_rows(metrics))}</table>'
    return '<p class="missing">no metrics</p>'


def _transcript(record: dict) -> str:
    lines = _as_list(record.get("transcript"))
    if not lines:
        return '<p class="missing">no transcript</p>'

    def when(value) -> str:
        t = _seconds(value)
        return f"{t:.2f}" if t is not None else _esc(value)

    rows = []
    for line in lines:
        start = _seconds(line.get("start_s"))
        seek = f' {_data_t(start)} tabindex="0"' if start is not None else ""
        rows.append(
            f'<tr class="{_esc(line.get("role"))}"{seek}><td class="role">{_esc(line.get("role"))}</td>'
            f'<td class="num">{when(line.get("start_s"))}</td><td class="num">{when(line.get("end_s"))}</td>'
            f'<td class="text">{html.escape(str(line.get("text") or ""))}</td></tr>'
        )
    head = "<tr><th>role</th><th>start s</th><th>end s</th><th>text</th></tr>"
    return f'<table class="transcript">{head}{"".join(rows)}</table>'


def render_report(record: dict, *, recording: bool = False) -> str:
    """The whole report.html for a session record (as loaded from session.json).

    recording: the record's folder has recording.wav (with audio) next to session.json.
    """
    if not isinstance(record, dict):
        record = {}
    title = f"{_plain(record.get('exam') or 'viva session')} — {_plain(record.get('session_id'))}"
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        _header(record),
        _player(recording),
        '<div class="marks"><section class="model-marks"><h2>Result (the model\'s marks)</h2>', _result(record),
        '</section><section class="derived"><h2>Scores</h2>', _scores(record), "</section></div>",
        "<h2>Timeline</h2>", _timeline(record),
        "<h2>Metrics</h2>", _metrics(record),
        "<h2>Transcript</h2>", _transcript(record),
        f"<script>{_SCRIPT}</script>",
        "</body></html>",
        "",
    ])


def load_record(record_dir: pathlib.Path) -> dict:
    """record_dir/session.json as a dict; BadInput (one line) if it is missing, corrupt or past
    the limits of viva/input_files.py (a regular file of at most 16 MB, nested at most 64 deep)."""
    source = pathlib.Path(record_dir) / "session.json"
    record = load_json(source)
    if not isinstance(record, dict):
        raise BadInput(f"{source}: expected a JSON object at the top level")
    return record


def has_recording(record_dir: pathlib.Path) -> bool:
    path = pathlib.Path(record_dir) / RECORDING
    try:
        return path.is_file() and path.stat().st_size > _WAV_HEADER_BYTES
    except OSError:
        return False


def _write_atomic(target: pathlib.Path, text: str) -> None:
    # A temp file in the same folder, then os.replace: a reader never sees half a page.
    try:
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}-", suffix=".tmp")
    except OSError as e:
        raise BadInput(f"{target}: cannot write: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temp, target)  # private (mkstemp's 0600), as the record it shows
    except BaseException as e:
        os.unlink(temp)
        if isinstance(e, OSError):
            raise BadInput(f"{target}: cannot write: {e.strerror or e}") from None
        raise


def write_report(record_dir: pathlib.Path) -> pathlib.Path:
    """Reads record_dir/session.json, writes record_dir/report.html atomically, returns its path."""
    record_dir = pathlib.Path(record_dir)
    record = load_record(record_dir)
    target = record_dir / "report.html"
    _write_atomic(target, render_report(record, recording=has_recording(record_dir)))
    return target


# -- a folder of records: index.html

_INDEX_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 1300px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } table { border-collapse: collapse; }
th, td { text-align: left; vertical-align: top; padding: 4px 10px; border-bottom: 1px solid #e3e3e3; }
th { font-weight: 600; color: #555; } .missing { color: #a33; font-style: italic; }
.official { color: #2e7d4b; } .approximate { color: #a86a00; } td.scores span, td.id { white-space: nowrap; }
"""


def _compact_scores(record: dict) -> str:
    scores = record.get("scores")
    if not isinstance(scores, list):
        return '<span class="missing">none</span>' if scores is None else _esc(scores)
    items = []
    for score in _as_list(scores):
        cls, words = _status(score)
        value = score.get("value")
        shown = _esc(value) if value is not None else '<span class="missing">—</span>'
        mark = "" if cls == "official" else " ≈" if cls == "approximate" else " ?"
        tip = f"{_plain(score.get('rule'))}; {words}; {_plain(score.get('source'))}"
        items.append(f'<span class="{cls}" title="{html.escape(tip)}">'
                     f"{_esc(score.get('label') or score.get('name'))} {shown}{mark}</span>")
    return "<br>".join(items) if items else '<span class="missing">none</span>'


def render_index(rows: list[tuple[str, dict | None, str | None]], *, title: str) -> str:
    """index.html for a folder of records. rows: (subfolder name, its record, None), or
    (subfolder name, None, the one-line error that left it without a report)."""
    head = ("<tr><th>session</th><th>exam</th><th>config</th><th>started</th><th>outcome</th>"
            "<th>end reason</th><th>scores (≈ approximate)</th><th>result source</th><th>report</th></tr>")
    body = []
    for name, record, error in rows:
        link = urllib.parse.quote(name) + "/report.html"
        if record is None:
            body.append(f'<tr class="no-report" data-folder="{html.escape(name)}"><td>{html.escape(name)}</td>'
                        f'<td colspan="8" class="missing">no report: {html.escape(error or "")}</td></tr>')
            continue
        body.append(
            f'<tr data-folder="{html.escape(name)}"><td class="id">{_esc(record.get("session_id") or name)}</td>'
            f'<td>{_esc(record.get("exam"))}</td><td>{_esc(record.get("config"))}</td>'
            f'<td>{_esc(record.get("started_at"))}</td><td>{_esc(record.get("outcome"))}</td>'
            f'<td>{_esc(record.get("end_reason"))}</td><td class="scores">{_compact_scores(record)}</td>'
            f'<td>{_esc(record.get("result_source"))}</td><td><a href="{html.escape(link)}">report</a></td></tr>'
        )
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_INDEX_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{len(rows)} session record{'s' if len(rows) != 1 else ''}.</p>",
        f'<table class="index">{head}{"".join(body)}</table>',
        "</body></html>",
        "",
    ])


def record_folders(directory: pathlib.Path) -> list[pathlib.Path]:
    """The subfolders of directory that hold a session.json, by name (session ids sort by time)."""
    try:
        # lexists: a session.json that is no regular file (a FIFO, a dangling link) is listed
        # and reported as unreadable, not passed over in silence.
        return sorted((sub for sub in directory.iterdir() if sub.is_dir() and os.path.lexists(sub / "session.json")),
                      key=lambda sub: sub.name)
    except OSError as e:
        raise BadInput(f"{directory}: cannot read: {e.strerror or e}") from None


def write_reports(directory: pathlib.Path) -> pathlib.Path:
    """`viva report DIR`: DIR is one record (it holds session.json): its report.html, whose path
    is returned; or a folder of records: each one's report.html, then DIR/index.html, returned.

    BadInput for a missing folder, one with no records, or any unreadable session.json; in a
    folder of records the readable ones still get their reports and the index (which lists the
    unreadable ones as such) before it is raised.
    """
    directory = pathlib.Path(directory)
    try:
        mode = directory.stat().st_mode
    except FileNotFoundError:
        raise BadInput(f"{directory}: no such folder") from None
    except OSError as e:  # a name too long, a symlink loop...
        raise BadInput(f"{directory}: cannot read: {e.strerror or e}") from None
    if not stat.S_ISDIR(mode):
        raise BadInput(f"{directory}: not a folder (give a record's folder, or a folder of records)")
    if os.path.lexists(directory / "session.json"):
        return write_report(directory)
    folders = record_folders(directory)
    if not folders:
        raise BadInput(f"{directory}: no session records (no session.json in it or in any folder in it)")
    rows, errors = [], []
    for folder in folders:
        try:
            record = load_record(folder)
            _write_atomic(folder / "report.html", render_report(record, recording=has_recording(folder)))
            rows.append((folder.name, record, None))
        except BadInput as e:
            errors.append(str(e))
            rows.append((folder.name, None, str(e)))
    index = directory / "index.html"
    _write_atomic(index, render_index(rows, title=f"viva sessions — {directory.resolve().name}"))
    if errors:
        more = f" (and {len(errors) - 1} more unreadable)" if len(errors) > 1 else ""
        raise BadInput(f"{errors[0]}{more}; the other records' reports and {index} were written")
    return index
