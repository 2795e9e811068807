"""The faults file (SPEC §4): the real service's misbehaviour, on demand, seeded and repeatable.

`FaultPlan` decides, for one session, whether a fault fires at a given point: a fault
with `turns` fires only on those candidate turns (1-based, counting windows that held
speech), with `probability` only when the session's own seeded draw says so, with
`times` at most that often; with none of them, every time it can.

The cue faults (ignores_cue, paraphrases, skips_question, two_questions, reads_cue_aloud)
change only turns whose words came from a client's cue (not script lines, the closing or
tool calls); at most one of them changes a turn, tried in CUED_SPEECH_FAULTS order.
speaks_during_preparation uses after_s as the client's silence it waits for (8.0 s unless
the entry sets after_s): the count starts when an examiner turn ends (turnComplete sent)
and the model is idle (no turn under way, no window open, no blocking call pending); any
client message but audio (audio outside a window is nothing to the model; speech the
server's own detection hears is something) stops it, and it starts again from that message
while the model is still idle. When it runs out the model says PREPARATION_LINE as a turn
of its own (emulator/misbehaviour.py), its pending cue left as it was.
tool_args makes the call of `tool` with `args` merged over the drawn arguments (objects key
by key), valid against the declared schema or not: a branch taken on demand.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FaultKind = Literal[
    "stall_after_empty_window", "stall", "speak_instead_of_tool_call", "tool_call_and_speak",
    "bad_tool_args", "repeat_closing", "disconnect", "go_away", "reject_audio_outside_activity",
    "slow_response", "ignores_cue", "paraphrases", "skips_question", "two_questions", "reads_cue_aloud",
    "speaks_during_preparation", "tool_args",
]
# Faults that change what a cued turn says (emulator/misbehaviour.py), tried in this order.
CUED_SPEECH_FAULTS = ("ignores_cue", "skips_question", "reads_cue_aloud", "paraphrases", "two_questions")
PREPARATION_IDLE_S = 8.0  # speaks_during_preparation: the client's silence it waits for, unless after_s says
# Moments of the examiner's side at which a disconnect can be timed (`during`).
DisconnectMoment = Literal["examiner_speech", "examiner_turn_end", "tool_call", "closing"]

# A day: far past any session, and a bound, so an infinite or huge time (.inf, 1e300) is refused
# when the file is read instead of reaching asyncio.sleep or int().
MAX_FAULT_S = 86400.0


class Fault(BaseModel):
    """One entry of the faults file."""

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    turns: list[int] | None = Field(default=None, description="1-based candidate turns it may fire on")
    probability: float | None = Field(default=None, ge=0, le=1)
    times: int | None = Field(default=None, ge=1)
    # stall, stall_after_empty_window
    ignores_nudges: int = Field(default=0, ge=0, le=1000, description="text nudges ignored before answering")
    answers_after: int = Field(default=3, ge=1, le=1000, description="stall_after_empty_window: the speech window that ends it")
    # repeat_closing
    extra_text: str = "Have a good day."
    # disconnect
    code: int = Field(default=1011, ge=1000, le=4999)
    reason: str = "Internal error encountered."
    at_s: float | None = Field(default=None, ge=0, le=MAX_FAULT_S)
    at_turn: int | None = Field(default=None, ge=1)
    resumable: bool = True
    during: DisconnectMoment | None = Field(
        default=None, description="examiner_speech, closing: after_s into its audio; examiner_turn_end: after "
                                  "generationComplete, before turnComplete; tool_call: just after the call")
    after_s: float = Field(
        default=1.0, ge=0, le=MAX_FAULT_S, description="disconnect during: seconds into the turn; speaks_during_preparation: "
                                       "seconds of client silence after an examiner turn (default 8.0)")
    # go_away
    time_left_s: float = Field(default=10.0, gt=0, le=MAX_FAULT_S)
    # slow_response
    delay_s: float = Field(default=3.0, ge=0, le=MAX_FAULT_S)
    # tool_args
    tool: str | None = Field(default=None, description="tool_args: the declared function whose call it forces")
    args: dict[str, Any] | None = Field(default=None, description="tool_args: merged over the drawn arguments")

    @model_validator(mode="after")
    def _timed_faults_have_a_time(self) -> "Fault":
        if self.kind == "speaks_during_preparation" and "after_s" not in self.model_fields_set:
            self.after_s = PREPARATION_IDLE_S
        if self.kind == "go_away" and self.at_s is None:
            raise ValueError("go_away needs at_s")
        if self.kind == "disconnect" and self.at_s is None and self.at_turn is None and self.during is None:
            raise ValueError("disconnect needs at_s, at_turn or during")
        if self.kind == "tool_args" and (not self.tool or self.args is None):
            raise ValueError("tool_args needs tool and args")
        if self.kind != "tool_args" and (self.tool is not None or self.args is not None):
            raise ValueError("tool and args are for tool_args only")
        return self


class FaultsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    faults: list[Fault] = Field(default_factory=list)


class FaultPlan:
    """Which faults fire in one session.

    Args:
        faults: the faults file.
        stream: distinguishes sessions (a run number): each draws its own seeded sequence.
    """

    def __init__(self, faults: FaultsFile | None, *, stream: str = "0"):
        self.faults = faults.faults if faults else []
        digest = hashlib.sha256(f"{faults.seed if faults else 0}:{stream}".encode()).hexdigest()
        self._rng = random.Random(int(digest[:16], 16))
        self._fired = [0] * len(self.faults)

    def of_kind(self, kind: str) -> list[Fault]:
        return [f for f in self.faults if f.kind == kind]

    def fires(self, kind: str, *, turn: int | None = None, tool: str | None = None) -> Fault | None:
        """The first fault of kind that fires at this candidate turn (counted as fired), or None.
        With tool, only faults naming that tool (a fault naming none applies to any).

        Faults timed with at_s or during never fire here: they fire through fire() when their
        time comes, or through fires_during().
        """
        return self._first_firing(kind, None, turn, tool)

    def fires_during(self, moment: str, *, turn: int) -> Fault | None:
        """The first disconnect fault timed `during` this moment that fires at this candidate turn."""
        return self._first_firing("disconnect", moment, turn)

    def _first_firing(self, kind: str, during: str | None, turn: int | None, tool: str | None = None) -> Fault | None:
        for fault in self.faults:
            if fault.kind != kind or fault.at_s is not None or fault.during != during:
                continue
            if tool is not None and fault.tool is not None and fault.tool != tool:
                continue
            if fault.turns is not None and turn not in fault.turns:
                continue
            if fault.at_turn is not None and turn != fault.at_turn:
                continue
            if self.fire(fault):
                return fault
        return None

    def could_fire(self, kind: str, *, turn: int | None = None) -> list[Fault]:
        """Faults of kind that may still fire at this candidate turn (turns, at_turn and times
        allow it; probability is not drawn): nothing is counted."""
        found = []
        for i, fault in enumerate(self.faults):
            if fault.kind != kind or fault.at_s is not None or fault.during is not None:
                continue
            if fault.turns is not None and turn not in fault.turns:
                continue
            if fault.at_turn is not None and turn != fault.at_turn:
                continue
            if fault.times is not None and self._fired[i] >= fault.times:
                continue
            if fault.at_turn is not None and self._fired[i]:
                continue
            found.append(fault)
        return found

    def timed(self) -> list[Fault]:
        """Faults that fire at a time (at_s) rather than at a turn."""
        return [f for f in self.faults if f.at_s is not None]

    def fire(self, fault: Fault) -> bool:
        """Whether this fault fires now, given its times and probability (counted if so)."""
        i = next(i for i, f in enumerate(self.faults) if f is fault)
        if fault.times is not None and self._fired[i] >= fault.times:
            return False
        if fault.at_s is not None or fault.at_turn is not None or fault.during is not None:
            if self._fired[i]:  # a fault at a moment happens once
                return False
        if fault.probability is not None and self._rng.random() >= fault.probability:
            return False
        self._fired[i] += 1
        return True
