"""The summary of simulated runs: what each session did, from its record and the emulator's log."""

from __future__ import annotations

import json
import wave
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from viva.input_files import load_json
from viva.record import completed
from viva.schema import schema_errors
from viva.exam.phrases import words_of

STALL_S = 5.0  # a silence after a candidate turn longer than this is a stall


@dataclass
class RunRow:
    session_id: str
    outcome: str
    completed: bool  # completed, with its required result
    result_source: str | None
    result_valid: bool | None  # against the exam's full schema (None: no result)
    stalls_over_5s: int
    longest_silence_s: float
    closing_phrases_heard: int
    reconnects: int | None
    tool_results_lost: int | None
    audio_bytes_outside: int | None
    shortest_window_s: float | None = None  # the shortest speech window the emulator saw (a cut answer shows here)
    reconnect_waits: list[tuple[int, float]] = field(default_factory=list)  # (attempt, seconds waited)
    waits_off_schedule: int | None = None  # None: no schedule to check against (Pipecat's own reconnect)
    # The prompts on the exam's path the candidate heard at the first cue, said once, and the
    # others (cued again, said twice, never heard): the model's adherence. None: not directed.
    steps_first_cue: int | None = None
    steps_cued_again: int | None = None
    steps_in_order: bool | None = None  # every step on the exam's path heard, in order (None: not directed)
    # The steps a part's or the exam's time ran out on: never asked (the exam was not all given).
    steps_skipped_for_time: int | None = None
    # Seconds of examiner audio played between the last answer and the closing (marks read
    # aloud would show here), from recording.wav. None: no recording.
    examiner_before_closing_s: float | None = None


def closing_started_s(data: dict) -> float | None:
    """When the closing the candidate heard began: viva's own, or where the phrase began in
    the examiner's turn that said it (words said before it in that turn, such as marks,
    are not the closing: its start is placed in proportion to the words before it).
    None: no closing."""
    events = sorted(data["events"], key=lambda e: e["t_s"])
    for i, event in enumerate(events):
        if event["type"] == "closing_from_config":
            return event["t_s"]
        if event["type"] == "closing_phrase":
            starts = [e["t_s"] for e in events[:i] if e["type"] == "examiner_audio_start"]
            began = starts[-1] if starts else event["t_s"]
            turn = next((entry for entry in reversed(data.get("transcript", []))
                         if entry["role"] == "examiner" and entry["start_s"] <= event["t_s"]), None)
            before = event.get("words_before", 0)
            if turn is None or not before or turn["end_s"] is None:
                return began
            words = len(words_of(turn["text"])) or 1
            return round(turn["start_s"] + (turn["end_s"] - turn["start_s"]) * min(before, words) / words, 3)
    return None


def examiner_before_closing_s(data: dict, recording: Path, *, frame_s: float = 0.02,
                              level: float = 0.01) -> float | None:
    """Seconds of voiced examiner audio (the recording's right channel, what was played,
    above `level` of full scale) between the end of the last answer and the closing."""
    if not recording.exists():
        return None
    ends = [e["t_s"] for e in data["events"] if e["type"] == "activity_end"]
    if not ends:
        return None
    with wave.open(str(recording)) as wav:
        rate, channels = wav.getframerate(), wav.getnchannels()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    if channels != 2:
        return None
    examiner = samples.reshape(-1, 2)[:, 1].astype(np.float32) / 32768
    closing = closing_started_s(data)
    # The last answer before the closing (a candidate may go on talking after it).
    ends = [t for t in ends if closing is None or t <= closing] or ends
    start = int(max(ends) * rate)
    stop = len(examiner) if closing is None else int(closing * rate)
    step = int(frame_s * rate)
    voiced = 0
    for i in range(start, max(start, stop - step + 1), step):
        voiced += float(np.sqrt(np.mean(examiner[i : i + step] ** 2))) > level
    return round(voiced * frame_s, 2)


PROMPTS = ("part", "assessment", "closing", "judge")  # plan entries the candidate is not asked


def _reached(data: dict) -> list[dict]:
    """The plan's prompts on the exam's path: not on a branch not taken, not skipped for time."""
    return [e for e in data["plan"] if e.get("kind") not in PROMPTS
            and not str(e.get("skipped", "")).endswith(("time_up", "branch not taken"))]


def asked_in_order(data: dict) -> bool | None:
    """Whether every prompt on the exam's path was heard by the candidate, in order (a step
    a part's or the exam's time skipped counts as taken; a step said twice and never heard,
    or never said, does not)."""
    if "plan" not in data:
        return None
    times = [e["asked_s"] for e in _reached(data)]
    return None not in times and times == sorted(times)


def skipped_for_time(data: dict) -> int | None:
    """How many steps on the exam's path were never asked because a part's or the exam's time
    ran out (None: not directed). Such a session completed, but not as the config describes."""
    if "plan" not in data:
        return None
    return sum(str(e.get("skipped", "")).endswith("time_up") for e in data["plan"] if e.get("kind") not in PROMPTS)


def adherence(data: dict) -> tuple[int, int] | None:
    """(prompts heard at the first cue and said once, prompts that needed more or were never
    heard) on the exam's path, from the record's plan and events."""
    if "plan" not in data:
        return None
    again = {e["step"] for e in data["events"] if e["type"] in ("step_not_asked", "cue_unanswered",
                                                                    "step_interrupted")}
    reached = _reached(data)
    once = [e for e in reached if e.get("asked_s") is not None and e.get("said", 1) <= 1 and e["step"] not in again]
    return len(once), len(reached) - len(once)


def reconnect_schedule(config) -> tuple[list[float], float] | None:
    """The config's reconnect waits (schedule, jitter), if its Live stage is viva's."""
    for stage in config.stages:
        if stage.name == "gemini_live" and getattr(stage.params, "resilient", False):
            return list(stage.params.reconnect_schedule_s), stage.params.reconnect_jitter
    return None


def waits_off_schedule(events: list[dict], schedule: tuple[list[float], float]) -> int:
    """Reconnect attempts whose wait broke the configured schedule: not the schedule's wait
    for its attempt number (the last repeating; none right after a refused handle),
    jittered beyond the bound, or not waited out."""
    waits, jitter = schedule
    off = 0
    for e in events:
        if e["type"] != "reconnect_attempt":
            continue
        base = 0.0 if e.get("after_refusal") else waits[min(e["attempt"], len(waits)) - 1]
        jittered = base * (1 - jitter) - 1e-3 <= e["delay_s"] <= base * (1 + jitter) + 1e-3
        off += not (e["base_s"] == base and jittered and e["waited_s"] >= e["delay_s"] - 1e-3)
    return off


def silences_after_turns(events: list[dict]) -> list[float]:
    """For each candidate turn (activity_end): seconds until the examiner's audio next starts
    (or until the session ended, if it never did)."""
    ordered = sorted(events, key=lambda e: e["t_s"])
    end = ordered[-1]["t_s"] if ordered else 0.0
    silences = []
    for i, event in enumerate(ordered):
        if event["type"] == "activity_end":
            following = next((e["t_s"] for e in ordered[i + 1 :] if e["type"] == "examiner_audio_start"), end)
            silences.append(following - event["t_s"])
    return silences


def run_row(record_dir: Path, tools=None, schedule: tuple[list[float], float] | None = None) -> RunRow:
    """tools: the exam's tools, to check the result against (None: not checked);
    schedule: the configured reconnect waits, to check the waits against (reconnect_schedule)."""
    data = load_json(record_dir / "session.json")
    valid = None
    if data["result"] is not None and tools:
        required = [t for t in tools if t.required]
        valid = len(required) == 1 and not schema_errors(required[0].parameters, data["result"])
    silences = silences_after_turns(data["events"])
    journal_path = record_dir / "emulator.jsonl"
    reconnects = lost = outside = shortest = None
    if journal_path.exists():
        # A fresh session the emulator opened for the same client (after a refused
        # handle) keeps its journal beside it, as "<session id>-2".
        paths = [journal_path, *sorted(record_dir.parent.glob(f"{record_dir.name}-*/emulator.jsonl"))]
        journal = [json.loads(line) for path in paths for line in path.read_text().splitlines()]
        # A fresh session after a refused handle keeps a journal of its own: the record counts it.
        reconnects = max(sum(1 for e in journal if e["kind"] == "setup") - 1,
                         sum(1 for e in data["events"] if e["type"] == "reconnect"), 0)
        received = sum(len(e.get("ids", [])) for e in journal if e["kind"] == "tool_response")
        answered = sum(1 for e in data["events"] if e["type"] == "tool_call")
        lost = max(0, answered - received)
        outside = sum(e.get("audio_bytes", 0) for e in journal
                      if e["kind"] == "audio" and e.get("dir") == "in" and not e.get("window_open"))
        shortest = min((e["audio_s"] for e in journal if e["kind"] == "window" and e.get("speech")), default=None)
    return RunRow(
        session_id=data["session_id"],
        outcome=str(data["outcome"]),
        completed=completed(data),
        result_source=data["result_source"],
        result_valid=valid,
        stalls_over_5s=sum(1 for s in silences if s > STALL_S),
        longest_silence_s=round(max(silences, default=0.0), 1),
        closing_phrases_heard=data["metrics"].get("closing_phrases_heard", 0),
        reconnects=reconnects,
        tool_results_lost=lost,
        audio_bytes_outside=outside,
        shortest_window_s=shortest,
        reconnect_waits=[(e["attempt"], e["waited_s"]) for e in data["events"] if e["type"] == "reconnect_attempt"],
        waits_off_schedule=None if schedule is None else waits_off_schedule(data["events"], schedule),
        steps_first_cue=(followed := adherence(data)) and followed[0],
        steps_cued_again=followed and followed[1],
        steps_in_order=asked_in_order(data),
        steps_skipped_for_time=skipped_for_time(data),
        examiner_before_closing_s=examiner_before_closing_s(data, record_dir / "recording.wav"),
    )


def _total(rows: list[RunRow], field: str) -> str:
    values = [getattr(r, field) for r in rows]
    return "-" if any(v is None for v in values) else str(sum(values))


def aggregate(rows: list[RunRow]) -> dict[str, str]:
    """One line per config: the columns of the comparison table."""
    sources = Counter(r.result_source or "none" for r in rows)
    closings = Counter(r.closing_phrases_heard for r in rows)
    return {
        "runs": str(len(rows)),
        "completed": f"{sum(r.completed for r in rows)}/{len(rows)}",
        "results (source)": ", ".join(f"{k} {v}" for k, v in sorted(sources.items())),
        "schema-valid results": str(sum(1 for r in rows if r.result_valid)),
        "stalls > 5 s": str(sum(r.stalls_over_5s for r in rows)),
        "longest silence after a turn": f"{max((r.longest_silence_s for r in rows), default=0):.1f} s",
        "closings heard per session": ", ".join(f"{k}x: {v}" for k, v in sorted(closings.items())),
        "reconnects": _total(rows, "reconnects"),
        "tool results lost": _total(rows, "tool_results_lost"),
        "audio bytes outside windows": _total(rows, "audio_bytes_outside"),
        "shortest speech window": _shortest(rows),
        "reconnect waits (attempt: s)": _waits(rows),
        "waits on schedule": _on_schedule(rows),
        "steps heard once": _adherence(rows),
        "every step heard in order": _in_order(rows),
        "steps skipped for time": _skipped(rows),
        "examiner audio before the closing": _before_closing(rows),
    }


def _before_closing(rows: list[RunRow]) -> str:
    values = [r.examiner_before_closing_s for r in rows if r.examiner_before_closing_s is not None]
    return f"{max(values):.2f} s at most" if values else "-"


def _skipped(rows: list[RunRow]) -> str:
    directed = [r.steps_skipped_for_time for r in rows if r.steps_skipped_for_time is not None]
    return str(sum(directed)) if directed else "-"


def _in_order(rows: list[RunRow]) -> str:
    directed = [r for r in rows if r.steps_in_order is not None]
    return f"{sum(r.steps_in_order for r in directed)}/{len(directed)}" if directed else "-"


def _adherence(rows: list[RunRow]) -> str:
    directed = [r for r in rows if r.steps_first_cue is not None]
    if not directed:
        return "-"
    first = sum(r.steps_first_cue for r in directed)
    again = sum(r.steps_cued_again for r in directed)
    return f"{first}/{first + again} (said again or not heard: {again})"


def _row_adherence(row: RunRow) -> str:
    if row.steps_first_cue is None:
        return "-"
    return f"{row.steps_first_cue}/{row.steps_first_cue + row.steps_cued_again}"


def _shortest(rows: list[RunRow]) -> str:
    values = [r.shortest_window_s for r in rows if r.shortest_window_s is not None]
    return f"{min(values):.1f} s" if values else "-"


def _waits(rows: list[RunRow]) -> str:
    by_attempt: dict[int, list[float]] = {}
    for row in rows:
        for attempt, waited in row.reconnect_waits:
            by_attempt.setdefault(attempt, []).append(waited)
    return "; ".join(f"{n}: {min(w):.2f}-{max(w):.2f}" for n, w in sorted(by_attempt.items())) or "-"


def _on_schedule(rows: list[RunRow]) -> str:
    if any(r.waits_off_schedule is None for r in rows):
        return "-"
    attempts = sum(len(r.reconnect_waits) for r in rows)
    return f"{attempts - sum(r.waits_off_schedule for r in rows)}/{attempts}"


def print_summary(results, *, config: str, tools=None, schedule=None) -> None:
    rows = [run_row(r.record_dir, tools, schedule) for r in results]
    header = (f"{'session':<26} {'outcome':<10} {'result':<12} {'stalls>5s':>9} {'longest silence':>15} "
              f"{'closings':>8} {'reconnects':>10} {'lost results':>12} {'bytes outside':>13} {'heard once':>10}")
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row.session_id:<26} {row.outcome:<10} {str(row.result_source):<12} {row.stalls_over_5s:>9} "
              f"{row.longest_silence_s:>13.1f} s {row.closing_phrases_heard:>8} {str(row.reconnects):>10} "
              f"{str(row.tool_results_lost):>12} {str(row.audio_bytes_outside):>13} {_row_adherence(row):>10}")
    print()
    for key, value in aggregate(rows).items():
        print(f"  {key + ':':<30} {value}")
    done = sum(r.completed for r in rows)
    cut_short = sum(bool(r.steps_skipped_for_time) for r in rows if r.completed)
    short = f", {cut_short} of them with steps skipped for time (not the exam the config describes)" if cut_short else ""
    print(f"{done} of {len(rows)} completed with a result{short} ({config}); "
          f"records in {results[0].record_dir.parent}")
    (results[0].record_dir.parent / "summary.json").write_text(
        json.dumps({"config": config, "runs": [asdict(r) for r in rows], "aggregate": aggregate(rows)}, indent=1))
