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

Every label is in the record's language (session.json's `language`, BCP-47; English for a
record without one): the `report` section of its table in viva/languages/, English for any
label a table lacks. The record's own data (transcript, the model's marks and evidence, event
names, metrics) is shown as recorded. A mark whose function's JSON Schema (session.json's
`result_schemas`) gives a `maximum` is shown with it ("6.5 / 9"), and so is a derived score
whose maximum follows from its marks' (a sum's, or a mean's of marks sharing one maximum).
The page's styles and script are files of their own in viva/report_templates/, inlined.

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
import math
import os
import pathlib
import re
import stat
import tempfile
import urllib.parse
from fractions import Fraction
from functools import cache
from importlib import resources

from viva import languages
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


@cache
def _asset(name: str) -> str:
    """A file of viva/report_templates/ (the pages' styles and script), inlined into a page."""
    return (resources.files("viva") / "report_templates" / name).read_text(encoding="utf-8")


# -- the labels, in the record's language

ENGLISH = "en"
# A BCP-47 tag as a config gives it ("fr-FR", "en", "zh-Hant-TW"); anything else in a record's
# `language` is not looked up (it names a file) and the page is in English.
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8}){0,7}")


def page_language(language: object) -> str:
    """The page's language (its <html lang>): the record's if it is a BCP-47 tag, else English."""
    return language if isinstance(language, str) and _LANGUAGE_TAG.fullmatch(language) else ENGLISH


def _filled(english: dict, own: object) -> dict:
    """own's labels where it has them, English's for the rest (nested mappings too)."""
    own = own if isinstance(own, dict) else {}
    return {key: _filled(value, own.get(key)) if isinstance(value, dict)
            else own[key] if isinstance(own.get(key), str) else value
            for key, value in english.items()}


def report_words(language: object) -> dict:
    """The labels of the report and index in language (a BCP-47 tag): its table's `report`
    section, English for a language without a table and for any label a table lacks."""
    return _words(languages.table_name(page_language(language)))


@cache
def _words(table_name: str) -> dict:
    return _filled(languages.table(ENGLISH)["report"], languages.table(table_name).get("report"))


def _say(template: str, **fields: str) -> str:
    """A label as markup: its text escaped, then its {fields} filled in (each already markup)."""
    return html.escape(template).format_map(fields)


# -- marks with their maxima, from the JSON Schemas of the functions that hand in the result

Scale = tuple[int | float | None, int | float]  # (minimum or None, maximum): what a mark's schema allows


def _is_number(value) -> bool:
    """A finite JSON number (an int is always finite: math.isfinite overflows on a huge one)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) or math.isfinite(value)


def _schema_scales(schema: object, path: tuple = ()) -> dict[tuple, Scale]:
    """path of each property (nested objects' too) -> its scale, for those with a `maximum`."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return {}
    found = {}
    for name, prop in properties.items():
        if not isinstance(prop, dict):
            continue
        if _is_number(prop.get("maximum")):
            found[(*path, name)] = (prop["minimum"] if _is_number(prop.get("minimum")) else None, prop["maximum"])
        found.update(_schema_scales(prop, (*path, name)))
    return found


def _result_schemas(record: dict) -> dict[str, dict]:
    schemas = record.get("result_schemas")
    return {name: schema for name, schema in schemas.items() if isinstance(schema, dict)} \
        if isinstance(schemas, dict) else {}


def mark_scales(record: dict) -> dict[tuple, Scale]:
    """The scale of each of the result's marks that has one: its path in `result` -> (min, max).
    An older record, without `result_schemas`, has none."""
    schemas, result = _result_schemas(record), record.get("result")
    if not schemas or not isinstance(result, dict) or not result:
        return {}
    # Several required functions: the result holds each one's arguments under its name
    # (viva/results.py); one: the result is its arguments.
    if len(schemas) > 1 and all(name in schemas and isinstance(args, dict) for name, args in result.items()):
        return {(name, *path): scale for name in result for path, scale in _schema_scales(schemas[name]).items()}

    def declared(schema: dict) -> int:
        properties = schema.get("properties")
        return len(result.keys() & properties.keys()) if isinstance(properties, dict) else 0

    return _schema_scales(max(schemas.values(), key=declared))


def score_scales(record: dict) -> dict[str, Scale]:
    """The scale of each name a derived score can read: the functions' top-level marks (the
    first function declaring a name, as viva/scoring.py's check does), then each score whose
    maximum follows from its marks': a sum's is their sum, a mean's their one shared maximum."""
    known: dict[str, Scale] = {}
    for schema in _result_schemas(record).values():
        for path, scale in _schema_scales(schema).items():
            if len(path) == 1:
                known.setdefault(path[0], scale)
    for score in _as_list(record.get("scores")):
        name, of, rule = score.get("name"), score.get("of"), _plain(score.get("rule"))
        if not isinstance(name, str) or not isinstance(of, dict) or not of or name in known:
            continue
        scales = [known.get(mark) for mark in of]
        if None in scales:
            continue
        if rule == "sum":
            minima = [low for low, _ in scales]
            known[name] = (None if None in minima else _exact_sum(minima), _exact_sum([high for _, high in scales]))
        elif rule.split(",")[0] == "mean" and len(set(scales)) == 1:
            known[name] = scales[0]
    return known


def _exact_sum(numbers: list) -> int | float:
    # Summed as the decimals they were written as (viva/scoring.py does the same): 0.1 + 0.2 is 0.3.
    total = sum(Fraction(repr(n)) if isinstance(n, float) else Fraction(n) for n in numbers)
    return int(total) if all(isinstance(n, int) for n in numbers) else float(total)


def _with_maximum(shown: str, scale: Scale | None, words: dict) -> str:
    """shown (a number's markup) with its scale's maximum, and the whole range as its title."""
    if scale is None:
        return shown
    low, high = scale
    span = words["scale"].format(minimum=_plain(low), maximum=_plain(high)) if low is not None \
        else words["scale_up_to"].format(maximum=_plain(high))
    return f'<span class="mark" title="{html.escape(span)}">{_say(words["mark_of_maximum"], value=shown, maximum=_esc(high))}</span>'


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


def _marker(t: float, event: dict, *, span: float, words: dict) -> str:
    kind = event["type"]
    x = _x(t, span=span)
    top = LANE_Y["events"]
    extras = [f"{key}: {_plain(value)}" for key, value in event.items() if key not in ("t_s", "type")]
    tip = " · ".join([words["marker_tip"].format(type=kind, t=f"{t:.2f}"), *extras])
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


def _timer_spans(record: dict, events: list[tuple[float, dict]], *, span: float, words: dict) -> list[tuple]:
    """(class, labels (long, short), start, end, tooltip) of the spans the exam director times:
    the preparation (its preparation_started/_ended events) and the long turn (the answer
    windows of the plan's long-turn step, the one a limit cuts: viva/processors/exam_director.py)."""
    found = []
    for a, b, unfinished in _intervals(events, start="preparation_started", end="preparation_ended", span=span):
        tip = words["preparation_tip"].format(start=f"{a:.2f}", end=f"{b:.2f}", duration=f"{b - a:.1f}")
        found.append(("preparation", (words["preparation"], words["preparation_short"]), a, b,
                      f"{tip} {words['no_end_recorded']}" if unfinished else tip))
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
            b = span if b is None else b
            tip = words["long_turn_tip"].format(step=_plain(entry.get("step")), start=f"{a:.2f}", end=f"{b:.2f}")
            if entry.get("step") in cut:
                tip += f", {words['cut_at_limit']}"
            found.append(("long_turn", (words["long_turn"], words["long_turn_short"]), a, b, tip))
    return found


def _timeline(record: dict, words: dict) -> str:
    """The inline SVG: parts, axis, examiner lane, candidate lane, timers, event markers; then the legend."""
    transcript = _as_list(record.get("transcript"))
    events = _timed_events(record)
    span = _span(events, transcript)
    lanes = words["lanes"]
    parts = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SVG_WIDTH} {SVG_HEIGHT}" '
        f'data-span="{span:.3f}" data-plot-left="{PLOT_LEFT}" data-plot-width="{PLOT_WIDTH}" role="img" '
        f'aria-label="{html.escape(words["timeline_label"])}">'
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
    parts.append(f'<text x="{PLOT_LEFT - 8}" y="{AXIS_Y + 16}" text-anchor="end">{html.escape(words["seconds"])}</text>')
    parts.append(f'<text class="lane" data-lane="parts" x="{PLOT_LEFT - 8}" y="{PARTS_TOP + 12}" '
                 f'text-anchor="end">{html.escape(lanes["parts"])}</text>')
    for lane in LANE_Y:
        parts.append(f'<text class="lane" data-lane="{lane}" x="{PLOT_LEFT - 8}" y="{LANE_Y[lane] + LANE_HEIGHT / 2 + 4}" '
                     f'text-anchor="end">{html.escape(lanes[lane])}</text>')
    for lane, (start, end) in INTERVALS.items():
        for a, b, unfinished in _intervals(events, start=start, end=end, span=span):
            x = _x(a, span=span)
            width = _x(b, span=span) - x
            tip = words["interval_tip"].format(lane=lanes[lane], start=f"{a:.2f}", end=f"{b:.2f}")
            if unfinished:
                tip += f" {words['runs_to_the_end']}"
            parts.append(
                f'<rect class="{lane}{" unfinished" if unfinished else ""}" x="{x:.2f}" y="{LANE_Y[lane]}" '
                f'width="{width:.2f}" height="{LANE_HEIGHT}" data-start="{a:.2f}" data-end="{b:.2f}" {_data_t(a)}>'
                f"<title>{html.escape(tip)}</title></rect>"
            )
    for kind, labels, a, b, tip in _timer_spans(record, events, span=span, words=words):
        x, width = _x(a, span=span), _x(b, span=span) - _x(a, span=span)
        parts.append(f'<rect class="{kind}" x="{x:.2f}" y="{LANE_Y["timers"]}" width="{width:.2f}" '
                     f'height="{LANE_HEIGHT}" data-start="{a:.2f}" data-end="{b:.2f}" {_data_t(a)}>'
                     f"<title>{html.escape(tip)}</title></rect>")
        parts.append(_label(*labels, x=x, width=width, y=LANE_Y["timers"] + LANE_HEIGHT / 2 + 4, cls="timer"))
    for t, event in events:
        if event["type"] in MARKER_GROUP:
            parts.append(_marker(t, event, span=span, words=words))
    if not events:
        parts.append(f'<text x="{PLOT_LEFT + 8}" y="{LANE_Y["candidate"] + 17}">{html.escape(words["no_events"])}</text>')
    # Where the recording is playing (the page's script moves it; hidden until then).
    parts.append(f'<line class="playhead" x1="{PLOT_LEFT}" y1="{PARTS_TOP}" x2="{PLOT_LEFT}" y2="{AXIS_Y}" '
                 f'style="display: none"/>')
    parts.append("</svg>")

    legend = ['<div class="legend">']
    for swatch in ("examiner", "candidate", "parts", "preparation", "long_turn"):
        legend.append(f'<span><span class="swatch {"part" if swatch == "parts" else swatch}"></span>'
                      f'{html.escape(words["legend"][swatch])}</span>')
    # Event types are the record's own names (session.json's `type`), shown as recorded.
    for group, kinds in MARKER_GROUPS.items():
        legend.append(f'<span><span class="swatch marker m-{group}"></span>{", ".join(kinds)}</span>')
    legend.append("</div>")
    return "\n".join([part for part in parts if part] + legend)


def _rows(mapping: dict, *, words: dict, scales: dict[tuple, Scale] | None = None, path: tuple = (),
          depth: int = 0) -> list[str]:
    """Table rows for a dict; a nested dict becomes a heading row with its keys indented below.
    scales: the scale of each number by its path of keys, shown with it."""
    rows = []
    for key, value in mapping.items():
        if isinstance(value, dict):
            rows.append(f'<tr class="depth{depth}"><th>{_esc(key)}</th><td></td></tr>')
            rows += _rows(value, words=words, scales=scales, path=(*path, key), depth=min(depth + 1, 3))
        elif _is_number(value):
            shown = _with_maximum(_esc(value), (scales or {}).get((*path, key)), words)
            rows.append(f'<tr class="depth{depth}"><th>{_esc(key)}</th><td class=num>{shown}</td></tr>')
        else:
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)  # an infinity, a NaN
            rows.append(f'<tr class="depth{depth}"><th>{_esc(key)}</th><td{" class=num" if numeric else ""}>{_esc(value)}</td></tr>')
    return rows


def _word(words: dict, group: str, value: object) -> str:
    """value (a code of the record's: an outcome, a role) in words, titled with the code itself;
    one the table has no word for is shown as recorded."""
    word = words[group].get(value) if isinstance(value, str) else None
    return f'<span title="{_esc(value)}">{html.escape(word)}</span>' if word else _esc(value)


def _header(record: dict, words: dict) -> str:
    ended = record.get("ended_at")
    fields = [
        ("exam", _esc(record.get("exam"))),
        ("session", _esc(record.get("session_id"))),
        ("config", _esc(record.get("config"))),
        ("llm", _esc(record.get("llm"))),
        ("language", _esc(record.get("language"))),
        ("started", _esc(record.get("started_at"))),
        ("ended", _esc(ended) if ended else f'<span class="missing">{html.escape(words["unfinished"])}</span>'),
        ("outcome", _word(words, "outcomes", record.get("outcome"))),
        ("end_reason", _esc(record.get("end_reason"))),
    ]
    rows = "".join(f'<tr data-field="{name}"><th>{html.escape(words[name])}</th><td>{value}</td></tr>'
                   for name, value in fields)
    return f'<table class="meta">{rows}</table>'


def _player(recording: bool, words: dict) -> str:
    if not recording:
        return (f'<div class="player"><p class="missing no-recording">'
                f'{_say(words["no_recording"], recording=RECORDING)}</p></div>')
    return (f'<div class="player"><audio id="recording" controls preload="metadata" src="{RECORDING}" '
            f'data-offset="{RECORDING_OFFSET_S:.3f}"></audio>'
            f'<span class="hint">{_say(words["player_hint"], recording=RECORDING)}</span></div>')


def _result(record: dict, words: dict) -> str:
    result = record.get("result")
    source = f'<p class="result-source">{_say(words["result_source"], source=_esc(record.get("result_source")))}</p>'
    if isinstance(result, dict) and result:
        rows = _rows(result, words=words, scales=mark_scales(record))
        return f'<table class="result">{"".join(rows)}</table>{_unused(record, result, words)}{source}'
    if result not in (None, {}):
        # Not the dict a result should be; shown as it is, so nothing is hidden.
        return f'<p class="result">{_esc(result)}</p>{source}'
    return f'<p class="missing">{html.escape(words["no_result"])}</p>{source}'


def _unused(record: dict, result: dict, words: dict) -> str:
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
    return f'<p class="unused">{_say(words["unused_marks"], given=html.escape(given))}</p>'


def _status(score: dict, words: dict) -> tuple[str, str]:
    """(css class, words) for whether a score's rule is the official one."""
    official = score.get("official")
    if official is True:
        return "official", words["status"]["official"]
    if official is False:
        return "approximate", words["status"]["approximate"]
    return "missing", words["status"]["not_stated"]


def _score_value(score: dict, scales: dict[str, Scale], words: dict) -> str:
    value = score.get("value")
    if value is None:
        missing = score.get("missing")
        if isinstance(missing, list) and missing:
            why = _say(words["no_value_missing"], marks=html.escape(", ".join(_plain(m) for m in missing)))
        else:
            why = html.escape(words["no_value"])
        return f'<span class="missing">{why}</span>'
    name = score.get("name")
    shown = _with_maximum(_esc(value), scales.get(name) if isinstance(name, str) and _is_number(value) else None, words)
    position = score.get("position")
    return shown if position is None else _say(words["with_position"], value=shown, position=_esc(position))


def _of(value, scales: dict[str, Scale], words: dict) -> str:
    """The marks (or earlier scores) a score was computed from, as markup, each with its maximum."""
    if isinstance(value, dict):
        return ", ".join(f"{_esc(key)} {_with_maximum(_esc(mark), scales.get(key) if _is_number(mark) else None, words)}"
                         for key, mark in value.items())
    if isinstance(value, list):
        return html.escape(", ".join(_plain(item) for item in value))
    return "" if value is None else _esc(value)


def _scores(record: dict, words: dict) -> str:
    """The derived scores (session.json's `scores`, computed from the result by fixed rules)."""
    scores = record.get("scores")
    if scores is None:
        return f'<p class="missing">{html.escape(words["no_scores_in_record"])}</p>'
    if not isinstance(scores, list):
        return f'<p class="scores">{_esc(scores)}</p>'  # not the list it should be: shown as it is
    entries = _as_list(scores)
    if not entries:
        return f'<p class="missing">{html.escape(words["no_scores"])}</p>'
    scales = score_scales(record)
    rows = []
    for score in entries:
        cls, status = _status(score, words)
        rows.append(
            f'<tr data-score="{_esc(score.get("name"))}"><th>{_esc(score.get("label") or score.get("name"))}</th>'
            f'<td class="num value">{_score_value(score, scales, words)}</td><td class="rule">{_esc(score.get("rule"))}</td>'
            f'<td class="status"><span class="{cls}">{html.escape(status)}</span></td>'
            f'<td class="of">{_of(score.get("of"), scales, words)}</td><td class="source">{_esc(score.get("source"))}</td></tr>'
        )
    columns = words["scores_columns"]
    head = "".join(f"<th>{html.escape(columns[key])}</th>" for key in ("score", "value", "rule", "status", "of", "source"))
    return f'<table class="scores"><tr>{head}</tr>{"".join(rows)}</table>'


def _metrics(record: dict, words: dict) -> str:
    metrics = record.get("metrics")
    if isinstance(metrics, dict) and metrics:
        return f'<table class="metrics">{"".join(_rows(metrics, words=words))}</table>'
    return f'<p class="missing">{html.escape(words["no_metrics"])}</p>'


def _transcript(record: dict, words: dict) -> str:
    lines = _as_list(record.get("transcript"))
    if not lines:
        return f'<p class="missing">{html.escape(words["no_transcript"])}</p>'

    def when(value) -> str:
        t = _seconds(value)
        return f"{t:.2f}" if t is not None else _esc(value)

    rows = []
    for line in lines:
        start = _seconds(line.get("start_s"))
        seek = f' {_data_t(start)} tabindex="0"' if start is not None else ""
        rows.append(
            f'<tr class="{_esc(line.get("role"))}"{seek}><td class="role">{_word(words, "roles", line.get("role"))}</td>'
            f'<td class="num">{when(line.get("start_s"))}</td><td class="num">{when(line.get("end_s"))}</td>'
            f'<td class="text">{html.escape(str(line.get("text") or ""))}</td></tr>'
        )
    columns = words["transcript_columns"]
    head = "".join(f"<th>{html.escape(columns[key])}</th>" for key in ("role", "start", "end", "text"))
    return f'<table class="transcript"><tr>{head}</tr>{"".join(rows)}</table>'


def render_report(record: dict, *, recording: bool = False) -> str:
    """The whole report.html for a session record (as loaded from session.json), its labels in
    the record's language.

    recording: the record's folder has recording.wav (with audio) next to session.json.
    """
    if not isinstance(record, dict):
        record = {}
    lang = page_language(record.get("language"))
    words = report_words(lang)
    title = f"{_plain(record.get('exam') or words['untitled'])} — {_plain(record.get('session_id'))}"

    def heading(key: str) -> str:
        return f"<h2>{html.escape(words[key])}</h2>"

    return "\n".join([
        "<!DOCTYPE html>",
        f'<html lang="{html.escape(lang)}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_asset('report.css')}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        _header(record, words),
        _player(recording, words),
        '<div class="marks"><section class="model-marks">', heading("result_heading"), _result(record, words),
        '</section><section class="derived">', heading("scores_heading"), _scores(record, words), "</section></div>",
        heading("timeline_heading"), _timeline(record, words),
        heading("metrics_heading"), _metrics(record, words),
        heading("transcript_heading"), _transcript(record, words),
        f"<script>{_asset('report.js')}</script>",
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

def _compact_scores(record: dict, words: dict) -> str:
    scores = record.get("scores")
    none = f'<span class="missing">{html.escape(words["none"])}</span>'
    if not isinstance(scores, list):
        return none if scores is None else _esc(scores)
    scales = score_scales(record)
    items = []
    for score in _as_list(scores):
        cls, status = _status(score, words)
        value, name = score.get("value"), score.get("name")
        if value is None:
            shown = '<span class="missing">—</span>'
        else:
            shown = _with_maximum(_esc(value), scales.get(name) if isinstance(name, str) and _is_number(value) else None,
                                  words)
        mark = "" if cls == "official" else " ≈" if cls == "approximate" else " ?"
        tip = f"{_plain(score.get('rule'))}; {status}; {_plain(score.get('source'))}"
        items.append(f'<span class="{cls}" title="{html.escape(tip)}">'
                     f"{_esc(score.get('label') or name)} {shown}{mark}</span>")
    return "<br>".join(items) if items else none


def index_language(records: list[dict]) -> str:
    """The index's language: its records' one language (by primary subtag when only the regions
    differ: fr-FR and fr-CA are French), else English; a record without one is English."""
    tags = {page_language(record.get("language")) for record in records}
    if len(tags) == 1:
        return tags.pop()
    names = {languages.table_name(tag) for tag in tags}
    return names.pop() if len(names) == 1 else ENGLISH


INDEX_COLUMNS = ("session", "exam", "config", "started", "outcome", "end_reason", "scores", "result_source", "report")


def render_index(rows: list[tuple[str, dict | None, str | None]], *, folder: str) -> str:
    """index.html for a folder of records (folder: its name, in the title). rows: (subfolder name,
    its record, None), or (subfolder name, None, the one-line error that left it without a report)."""
    lang = index_language([record for _, record, _ in rows if record is not None])
    words = report_words(lang)
    columns = words["index_columns"]
    head = "<tr>" + "".join(f"<th>{html.escape(columns[key])}</th>" for key in INDEX_COLUMNS) + "</tr>"
    body = []
    for name, record, error in rows:
        link = urllib.parse.quote(name) + "/report.html"
        if record is None:
            body.append(f'<tr class="no-report" data-folder="{html.escape(name)}"><td>{html.escape(name)}</td>'
                        f'<td colspan="{len(INDEX_COLUMNS) - 1}" class="missing">'
                        f'{_say(words["no_report"], error=html.escape(error or ""))}</td></tr>')
            continue
        body.append(
            f'<tr data-folder="{html.escape(name)}"><td class="id">{_esc(record.get("session_id") or name)}</td>'
            f'<td class="exam">{_esc(record.get("exam"))}</td><td class="config">{_esc(record.get("config"))}</td>'
            f'<td>{_esc(record.get("started_at"))}</td><td>{_word(words, "outcomes", record.get("outcome"))}</td>'
            f'<td class="end-reason">{_esc(record.get("end_reason"))}</td>'
            f'<td class="scores">{_compact_scores(record, words)}</td>'
            f'<td class="source">{_esc(record.get("result_source"))}</td>'
            f'<td><a href="{html.escape(link)}">{html.escape(words["report_link"])}</a></td></tr>'
        )
    title = words["index_title"].format(folder=folder)
    count = words["records_one" if len(rows) == 1 else "records_other"].format(count=len(rows))
    return "\n".join([
        "<!DOCTYPE html>",
        f'<html lang="{html.escape(lang)}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_asset('index.css')}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="count">{html.escape(count)}</p>',
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
    _write_atomic(index, render_index(rows, folder=directory.resolve().name))
    if errors:
        more = f" (and {len(errors) - 1} more unreadable)" if len(errors) > 1 else ""
        raise BadInput(f"{errors[0]}{more}; the other records' reports and {index} were written")
    return index
