"""The session record (SPEC §5): session.json, written as the session goes.

Every event rewrites session.json atomically (a temporary file, then a rename), so a
crash loses at most the event being written and never leaves a half-written file.
`SessionObserver` is a Pipecat observer that turns frames into events and transcript.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    TranscriptionFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.observers.base_observer import BaseObserver, FrameProcessed, FramePushed
from pipecat.processors.frame_processor import FrameDirection
from pipecat.transports.base_output import BaseOutputTransport

from viva.processors.exam_frames import ClosingPhraseFrame
from viva.scoring import ScoreRule, compute_scores
from viva.storage import make_private_folders

_COUNTED = {
    "stalls": "stall_detected",
    "nudges": "nudge_sent",
    "noise_windows_rejected": "noise_rejected",
    "disconnects": "disconnect",
    "reconnect_attempts": "reconnect_attempt",
    "reconnects": "reconnect",
    "go_aways": "go_away",
    "tool_calls": "tool_call",
    "tool_fallbacks": "tool_fallback",
    "closing_phrases_heard": "closing_phrase",
}


def new_session_id() -> str:
    return f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def _utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def completed(data: dict) -> bool:
    """Whether a session.json's exam completed with what it had to hand in: its result, when the
    exam has result functions (`result_schemas`; a record from before them always had one)."""
    needs_result = data.get("result_schemas", True)
    return data.get("outcome") == "completed" and (data.get("result") is not None or not needs_result)


class SessionRecord:
    """One session's record folder and its session.json.

    Args:
        directory: the session's folder (created).
        session_id, config, exam, llm, language: as in session.json.
        result_schemas: the JSON Schema of each function that hands in a result, by name
            (a mark's maximum is read from it).
        clock: seconds, monotonic; t_s counts from the record's creation.
        scores: the exam's score rules (`exam.scores`); `scores` in session.json is computed by
            them from every result set, so a derived score is never the model's arithmetic.
    """

    def __init__(self, *, directory: Path, session_id: str, config: str, exam: str, llm: str,
                 language: str = "en-GB", result_schemas: dict[str, dict] | None = None, clock: Callable[[], float] = time.monotonic, scores: list[ScoreRule] | None = None):
        self.directory = directory
        make_private_folders(directory)  # a candidate's voice and words: owner-only
        self._clock = clock
        self._t0 = clock()
        self.started_at = self._t0  # on the clock given: event t_s counts from here
        self._turn_ended: set[str] = set()  # roles whose last turn ended (end_words)
        self._score_rules = list(scores or [])
        self.data: dict[str, Any] = {
            "session_id": session_id, "config": config, "exam": exam, "llm": llm,
            "language": language, "result_schemas": dict(result_schemas or {}),
            "started_at": _utc(datetime.now()), "ended_at": None,
            "outcome": None, "end_reason": None, "result": None, "result_source": None, "scores": [],
            "transcript": [], "events": [], "metrics": {},
        }
        self.write()

    @property
    def path(self) -> Path:
        return self.directory / "session.json"

    def now(self) -> float:
        return round(self._clock() - self._t0, 3)

    def event(self, type: str, **fields: Any) -> None:
        t_s = self.now()
        self.data["events"].append({"t_s": t_s, "type": type, **fields})
        if type == "activity_start":
            self.data["transcript"].append({"role": "candidate", "start_s": t_s, "end_s": None, "text": ""})
        elif type == "activity_end":
            entry = self._last("candidate")
            if entry is not None and entry["end_s"] is None:
                entry["end_s"] = t_s
        elif type == "examiner_audio_start":
            entry = self._last("examiner")
            if entry is None or entry["end_s"] is not None:
                self.data["transcript"].append({"role": "examiner", "start_s": t_s, "end_s": None, "text": ""})
        elif type == "examiner_audio_end":
            entry = self._last("examiner")
            if entry is not None and entry["end_s"] is None:
                entry["end_s"] = t_s
        self.write()

    def text(self, role: str, text: str) -> None:
        """Transcript text of role, added to that role's latest entry (opening one if none is open)."""
        entry = self._last(role)
        ended = entry is not None and entry["end_s"] is not None
        if entry is None or (ended and (role in self._turn_ended or self.now() - entry["end_s"] > 2.0)):
            entry = {"role": role, "start_s": self.now(), "end_s": None, "text": ""}
            self.data["transcript"].append(entry)
        self._turn_ended.discard(role)
        entry["text"] += text

    def end_words(self, role: str) -> None:
        """A turn of role's words ended (or was cut): the next words do not run into the last."""
        entry = self._last(role)
        if entry is not None and entry["text"] and not entry["text"][-1].isspace():
            entry["text"] += " "
        self._turn_ended.add(role)  # its next words open an entry of their own once this one's audio ended

    def _last(self, role: str) -> dict | None:
        return next((e for e in reversed(self.data["transcript"]) if e["role"] == role), None)

    def set_plan(self, entries: list[dict]) -> None:
        """The exam as conducted so far (the exam director's steps, preparation, long turn, parts)."""
        self.data["plan"] = entries
        self.write()

    def set_result(self, result: dict | None, source: str | None, marks: dict | None = None) -> None:
        """The result as the model gave it (kept untouched) and viva's scores computed from its marks
        (`marks`: each mark by name, however many functions gave them; default: the result itself)."""
        self.data["result"], self.data["result_source"] = result, source
        self.data["scores"] = compute_scores(self._score_rules, result if marks is None else marks)
        self.write()

    def end(self, *, outcome: str, end_reason: str) -> None:
        """The first decision about how the session ended stands."""
        if self.data["outcome"] is None:
            self.data["outcome"], self.data["end_reason"] = outcome, end_reason
            self.event("session_end", outcome=outcome, reason=end_reason)

    def finish(self, **metrics: Any) -> dict:
        """Completes the record: end time, metrics (counted from events, plus metrics given)."""
        if self.data["outcome"] is None:
            self.end(outcome="aborted", end_reason="stopped")
        self.data["ended_at"] = _utc(datetime.now())
        for entry in self.data["transcript"]:
            entry["text"] = entry["text"].strip()
            if entry["end_s"] is None:
                entry["end_s"] = self.now()
        self.data["metrics"] = {**self.metrics(), **metrics}
        self.write()
        return self.data

    def metrics(self) -> dict[str, Any]:
        events = self.data["events"]
        counts = {name: sum(1 for e in events if e["type"] == kind) for name, kind in _COUNTED.items()}
        link_down_s = round(sum(e.get("after_s", 0.0) for e in events if e["type"] == "reconnect"), 3)
        return {"turns": sum(1 for e in events if e["type"] == "activity_end"), **counts,
                "link_down_s": link_down_s, "response_latency_ms": response_latency_ms(events)}

    def write(self) -> None:
        descriptor, temporary = tempfile.mkstemp(dir=self.directory, prefix=".session-", suffix=".json")
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(self.data, file, indent=1)
        os.replace(temporary, self.path)  # mkstemp's 0600, less what the umask takes


def response_latency_ms(events: list[dict]) -> dict[str, float] | None:
    """From the true end of each answer to the first examiner audio after it: p50, p95 and
    max in milliseconds. The true end is activity_end minus the silence the turn gate
    waited (its window_closed event's silence_s), or minus the VAD's stop time without one."""
    latencies = []
    ordered = sorted(events, key=lambda e: e["t_s"])
    waited = None
    for i, event in enumerate(ordered):
        if event["type"] == "window_closed":
            waited = event.get("silence_s")
        if event["type"] != "activity_end":
            continue
        true_end = event["t_s"] - (waited if waited is not None else event.get("vad_stop_secs", 0.0))
        waited = None
        following = next((e for e in ordered[i + 1 :] if e["type"] in ("examiner_audio_start", "activity_start")), None)
        if following is not None and following["type"] == "examiner_audio_start":
            latencies.append(1000 * (following["t_s"] - true_end))
    if not latencies:
        return None
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    return {"p50": round(statistics.median(latencies)), "p95": round(p95), "max": round(latencies[-1])}


class SessionObserver(BaseObserver):
    """Events and transcript from the frames, whatever the pipeline's stages are:
    activity windows (the user-turn frames the Live service acts on), examiner audio as
    played, transcript text of both sides, and each closing phrase the candidate hears (the
    closing finder's findings that reach the output transport)."""

    def __init__(self, record: SessionRecord):
        super().__init__(observe_every_push=False)
        self._record = record
        self._vad_stop_secs = 0.0

    async def on_process_frame(self, data: FrameProcessed):
        # The examiner's words as the output transport takes them: what the candidate
        # hears (a guard before it may cut the rest).
        if not isinstance(data.processor, BaseOutputTransport) or data.direction != FrameDirection.DOWNSTREAM:
            return
        if isinstance(data.frame, (TTSStartedFrame, TTSStoppedFrame)):
            self._record.end_words("examiner")
        elif isinstance(data.frame, TTSTextFrame):
            self._record.text("examiner", data.frame.text)
        elif isinstance(data.frame, ClosingPhraseFrame):
            # words_before: where in the examiner's turn the phrase began (marks said before
            # the closing in the same turn are told apart from the closing by it).
            self._record.event("closing_phrase", words_before=data.frame.words_before)


    async def on_push_frame(self, data: FramePushed):
        frame, direction = data.frame, data.direction
        if isinstance(frame, VADUserStoppedSpeakingFrame):
            self._vad_stop_secs = frame.stop_secs
        elif direction != FrameDirection.DOWNSTREAM and isinstance(frame, (UserStartedSpeakingFrame, UserStoppedSpeakingFrame)):
            pass  # the upstream twin of a broadcast
        elif isinstance(frame, UserStartedSpeakingFrame):
            self._record.event("activity_start")
        elif isinstance(frame, UserStoppedSpeakingFrame):
            self._record.event("activity_end", vad_stop_secs=self._vad_stop_secs)
        elif isinstance(frame, BotStartedSpeakingFrame) and direction == FrameDirection.DOWNSTREAM:
            self._record.event("examiner_audio_start")
        elif isinstance(frame, BotStoppedSpeakingFrame) and direction == FrameDirection.DOWNSTREAM:
            self._record.event("examiner_audio_end")
        elif isinstance(frame, TranscriptionFrame):
            self._record.text("candidate", frame.text)
