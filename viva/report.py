"""report.html: one self-contained page for a session record (its session.json).

The page works offline and alone (inline CSS and one inline SVG, nothing fetched), so it
can be mailed or archived next to the record. It shows the header, the result, the
metrics, the transcript and a timeline of who was speaking when, with markers for the
point events. A record of a crashed session may lack any field; the page then says what
is missing instead of failing.

Timeline geometry (stable, for anyone reading the SVG): time t seconds is drawn at
x = PLOT_LEFT + t / span * PLOT_WIDTH, where span is the latest time in the record
(events and transcript). Examiner intervals are `rect.examiner`, candidate activity
windows `rect.candidate`, both with data-start/data-end in seconds; point events are
`g.marker` with data-type and data-t and a <title> naming the type.
"""

from __future__ import annotations

import html
import json
import os
import pathlib
import tempfile

from viva.errors import BadInput

SVG_WIDTH = 1000
SVG_HEIGHT = 150
PLOT_LEFT = 100
PLOT_WIDTH = 880
LANE_HEIGHT = 26
LANE_Y = {"examiner": 10, "candidate": 46, "events": 82}
AXIS_Y = 118

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
# Spans drawn in a lane besides who spoke: lane: (class, start event, end event).
SPANS = {"candidate": ("preparation", "preparation_started", "preparation_ended")}
MARKER_GROUP = {kind: group for group, kinds in MARKER_GROUPS.items() for kind in kinds}

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; } th, td { text-align: left; vertical-align: top; padding: 3px 10px; border-bottom: 1px solid #e3e3e3; }
th { font-weight: 600; color: #555; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.depth1 th { padding-left: 2em; font-weight: normal; } tr.depth2 th { padding-left: 3.5em; font-weight: normal; }
tr.depth3 th { padding-left: 5em; font-weight: normal; }
.missing { color: #a33; font-style: italic; }
.transcript td.text { white-space: pre-wrap; max-width: 700px; }
tr.examiner td.role { color: #2f5f9e; } tr.candidate td.role { color: #2e7d4b; }
svg.timeline { width: 100%; height: auto; border: 1px solid #ddd; background: #fcfcfc; }
svg text { font: 11px system-ui, sans-serif; fill: #444; }
rect.examiner { fill: #4a7fc1; } rect.candidate { fill: #48a86b; } rect.unfinished { opacity: .55; }
line.axis, line.tick { stroke: #888; } line.grid { stroke: #eee; }
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
rect.part { fill: #f1f1f6; } rect.part.odd { fill: #e7e9f2; } text.part { fill: #667; }
rect.preparation { fill: none; stroke: #48a86b; stroke-dasharray: 4 3; }
.swatch.preparation { border: 1px dashed #48a86b; } .swatch.part { background: #e7e9f2; }
"""


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
    # The chained comparison is False for NaN and infinity too: json.loads accepts both.
    return float(value) if 0 <= value < float("inf") else None


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


def _marker(t: float, event: dict, *, span: float) -> str:
    kind = event["type"]
    x = _x(t, span=span)
    top = LANE_Y["events"]
    extras = [f"{key}: {_plain(value)}" for key, value in event.items() if key not in ("t_s", "type")]
    tip = " · ".join([f"{kind} at {t:.2f} s", *extras])
    return (
        f'<g class="marker m-{MARKER_GROUP[kind]}" data-type="{html.escape(kind)}" data-t="{t:.2f}">'
        f"<title>{html.escape(tip)}</title>"
        f'<line x1="{x:.2f}" y1="{top + 6}" x2="{x:.2f}" y2="{top + LANE_HEIGHT}"/>'
        f'<path d="M{x - 4:.2f},{top} L{x + 4:.2f},{top} L{x:.2f},{top + 7} Z"/></g>'
    )


def _part_bands(record: dict, *, span: float) -> list[str]:
    """The exam's parts, from the plan the exam director kept, as bands behind the lanes."""
    out = []
    parts = [e for e in _as_list(record.get("plan")) if isinstance(e, dict) and e.get("kind") == "part"]
    for i, part in enumerate(parts):
        a = _seconds(part.get("start_s"))
        b = _seconds(part.get("end_s"))
        if a is None:
            continue
        b = span if b is None else b
        x = _x(a, span=span)
        name = html.escape(str(part.get("step", "")))
        out.append(f'<rect class="part{" odd" if i % 2 else ""}" x="{x:.2f}" y="{LANE_Y["examiner"] - 6}" '
                   f'width="{_x(b, span=span) - x:.2f}" height="{AXIS_Y - LANE_Y["examiner"] + 6}" '
                   f'data-part="{name}"><title>{name} {a:.2f}–{b:.2f} s</title></rect>')
        out.append(f'<text class="part" x="{x + 3:.2f}" y="{AXIS_Y - 3}">{name}</text>')
    return out


def _timeline(record: dict) -> str:
    """The inline SVG: axis, examiner lane, candidate lane, event markers; then the legend."""
    transcript = _as_list(record.get("transcript"))
    events = _timed_events(record)
    span = _span(events, transcript)
    parts = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SVG_WIDTH} {SVG_HEIGHT}" '
        f'data-span="{span:.2f}" role="img" aria-label="session timeline">'
    ]
    step = _tick_step(span) if span > 0 else 1
    ticks = [i * step for i in range(int(span / step) + 1)] if span > 0 else [0.0]
    for tick in ticks:
        x = _x(tick, span=span)
        parts.append(f'<line class="grid" x1="{x:.2f}" y1="{LANE_Y["examiner"]}" x2="{x:.2f}" y2="{AXIS_Y}"/>')
        parts.append(f'<line class="tick" x1="{x:.2f}" y1="{AXIS_Y}" x2="{x:.2f}" y2="{AXIS_Y + 4}"/>')
        parts.append(f'<text x="{x:.2f}" y="{AXIS_Y + 16}" text-anchor="middle">{tick:g}</text>')
    parts += _part_bands(record, span=span)
    parts.append(f'<line class="axis" x1="{PLOT_LEFT}" y1="{AXIS_Y}" x2="{PLOT_LEFT + PLOT_WIDTH}" y2="{AXIS_Y}"/>')
    parts.append(f'<text x="{PLOT_LEFT - 8}" y="{AXIS_Y + 16}" text-anchor="end">seconds</text>')
    for lane, label in (("examiner", "examiner"), ("candidate", "candidate"), ("events", "events")):
        parts.append(f'<text x="{PLOT_LEFT - 8}" y="{LANE_Y[lane] + LANE_HEIGHT / 2 + 4}" text-anchor="end">{label}</text>')
    for lane, (start, end) in INTERVALS.items():
        for a, b, unfinished in _intervals(events, start=start, end=end, span=span):
            x = _x(a, span=span)
            width = _x(b, span=span) - x
            tip = f"{lane} {a:.2f}–{b:.2f} s" + (" (no end recorded: runs to the end of the session)" if unfinished else "")
            parts.append(
                f'<rect class="{lane}{" unfinished" if unfinished else ""}" x="{x:.2f}" y="{LANE_Y[lane]}" '
                f'width="{width:.2f}" height="{LANE_HEIGHT}" data-start="{a:.2f}" data-end="{b:.2f}">'
                f"<title>{html.escape(tip)}</title></rect>"
            )
    for lane, (kind, start, end) in SPANS.items():
        for a, b, unfinished in _intervals(events, start=start, end=end, span=span):
            x = _x(a, span=span)
            parts.append(f'<rect class="{kind}" x="{x:.2f}" y="{LANE_Y[lane]}" width="{_x(b, span=span) - x:.2f}" '
                         f'height="{LANE_HEIGHT}" data-start="{a:.2f}" data-end="{b:.2f}">'
                         f"<title>{kind} {a:.2f}–{b:.2f} s</title></rect>")
    for t, event in events:
        if event["type"] in MARKER_GROUP:
            parts.append(_marker(t, event, span=span))
    if not events:
        parts.append(f'<text x="{PLOT_LEFT + 8}" y="{LANE_Y["candidate"] + 17}">no events recorded</text>')
    parts.append("</svg>")

    legend = ['<div class="legend">', '<span><span class="swatch examiner"></span>examiner speaking</span>',
              '<span><span class="swatch candidate"></span>candidate activity window</span>',
              '<span><span class="swatch preparation"></span>preparation (held in silence)</span>',
              '<span><span class="swatch part"></span>exam parts</span>']
    for group, kinds in MARKER_GROUPS.items():
        legend.append(f'<span><span class="swatch marker m-{group}"></span>{", ".join(kinds)}</span>')
    legend.append("</div>")
    return "\n".join(parts + legend)


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


def _result(record: dict) -> str:
    result = record.get("result")
    source = f'<p>Result source: {_esc(record.get("result_source"))}</p>'
    if isinstance(result, dict) and result:
        return f'<table class="result">{"".join(_rows(result))}</table>{source}'
    if result not in (None, {}):
        # Not the dict a result should be; shown as it is, so nothing is hidden.
        return f'<p class="result">{_esc(result)}</p>{source}'
    return f'<p class="missing">no result</p>{source}'


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

    rows = [
        f'<tr class="{_esc(line.get("role"))}"><td class="role">{_esc(line.get("role"))}</td>'
        f'<td class="num">{when(line.get("start_s"))}</td><td class="num">{when(line.get("end_s"))}</td>'
        f'<td class="text">{html.escape(str(line.get("text") or ""))}</td></tr>'
        for line in lines
    ]
    head = "<tr><th>role</th><th>start s</th><th>end s</th><th>text</th></tr>"
    return f'<table class="transcript">{head}{"".join(rows)}</table>'


def render_report(record: dict) -> str:
    """The whole report.html for a session record (as loaded from session.json)."""
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
        "<h2>Result</h2>", _result(record),
        "<h2>Timeline</h2>", _timeline(record),
        "<h2>Metrics</h2>", _metrics(record),
        "<h2>Transcript</h2>", _transcript(record),
        "</body></html>",
        "",
    ])


def write_report(record_dir: pathlib.Path) -> pathlib.Path:
    """Reads record_dir/session.json, writes record_dir/report.html atomically, returns its path."""
    record_dir = pathlib.Path(record_dir)
    source = record_dir / "session.json"
    try:
        record = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"{source}: no such file") from None
    except json.JSONDecodeError as e:
        raise BadInput(f"{source}: not valid JSON: {e.msg} at line {e.lineno}") from None
    except UnicodeDecodeError as e:
        raise BadInput(f"{source}: not valid UTF-8: byte {e.start}") from None
    except OSError as e:
        raise BadInput(f"{source}: cannot read: {e.strerror or e}") from None
    if not isinstance(record, dict):
        raise BadInput(f"{source}: expected a JSON object at the top level")

    target = record_dir / "report.html"
    # A temp file in the same folder, then os.replace: a reader never sees half a report.
    fd, temp = tempfile.mkstemp(dir=record_dir, prefix=".report-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(render_report(record))
        os.chmod(temp, 0o644)  # mkstemp makes it private; a report is meant to be read
        os.replace(temp, target)
    except BaseException:
        os.unlink(temp)
        raise
    return target
