"""Frames viva's processors tell each other by: the exam director's, upstream to the Live
service, the turn gate and the watchdog, and downstream what it withheld from the candidate;
the turn gate's answer to a hold; the closing finder's finding."""

from __future__ import annotations

from dataclasses import dataclass

from pipecat.frames.frames import DataFrame, SystemFrame


@dataclass
class ExamPartFrame(SystemFrame):
    """The exam part called `part` begins (Frame has its own `name`): the turn gate takes its settings."""

    part: str = ""


@dataclass
class ExamCueFrame(SystemFrame):
    """Tells the model its next step (the Live service sends it as client content).

    respond_now: the model answers it at once; else it waits in the model's context and
    the end of the candidate's answer makes the model act on it.
    """

    text: str = ""
    respond_now: bool = False


@dataclass
class CandidateHoldFrame(SystemFrame):
    """While held, no window opens and the candidate's audio reaches no one (the
    preparation, the end of a long turn); cut: a window open now is closed at once."""

    hold: bool = False
    cut: bool = False
    reason: str = ""  # "preparation": the model owes nothing meanwhile (the watchdog waits)


@dataclass
class CandidateHeldFrame(SystemFrame):
    """The turn gate's answer to a hold (downstream, to the exam director): whether the
    candidate's window was already open when the hold reached it (they began to speak as the
    director decided; the hold does not cut them)."""

    window_open: bool = False
    reason: str = ""


@dataclass
class ExaminerWithheldFrame(DataFrame):
    """Examiner words the candidate did not hear (marks said aloud in the assessment): for
    the result's extraction, never for the output. first: the first words of their turn."""

    text: str = ""
    first: bool = False


@dataclass
class ExamStepFrame(SystemFrame):
    """The candidate's answer to `step` (of `part`) is taken as `answer` says (viva/exam/plan.py
    Answer: open, timed, role, silent, none); the turn gate takes its settings for it."""

    step: str = ""
    part: str = ""
    answer: str = "open"
    limit_s: float | None = None


@dataclass
class ClosingPhraseFrame(DataFrame):
    """The examiner's words complete the closing phrase (the closing finder's finding, just
    before the transcript piece that completes it). The closing guard, the marks gate, exam
    end and the record read it; a processor that drops the piece drops the finding with it.
    words_before: the examiner's words in this turn before the phrase began."""

    words_before: int = 0
