"""Frames the exam director sends upstream: to the Live service, the turn gate and the watchdog."""

from __future__ import annotations

from dataclasses import dataclass

from pipecat.frames.frames import SystemFrame


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
