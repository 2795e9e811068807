"""When and how the Live session reconnects: a plain policy with an injected clock.

Pipecat's service reconnects at once, gives up after three failures and ignores goAway
(field-reports.md §4). The production team's recipe is a reconnect by the last
resumption handle with backoff (1 s, 2 s, 4 s); a refused or missing handle means a
fresh session, seeded with the exam so far (at once after a refusal: it is an answer,
not a failure); a goAway means reconnecting early, between
turns, before the time left runs out. `ReconnectPolicy` makes those decisions; the
service (viva/pipelines/gemini.py) carries them out.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

REFUSED = 1008  # the server refused the handle (unknown or expired) or the key


@dataclass(frozen=True)
class Attempt:
    number: int  # 1-based, within this outage
    base_s: float  # the schedule's wait for this attempt (0 right after a refused handle)
    delay_s: float  # the wait before it: base_s with jitter
    handle: str | None  # resume by this handle; None: a fresh session seeded with the exam so far
    after_refusal: bool = False  # the server refused the handle: the fresh session goes at once


class Moment(Enum):
    """Where the exchange is, for a planned reconnect."""

    BETWEEN_TURNS = "between_turns"  # after a resumable point, before the candidate's next window
    CANDIDATE_SPEAKING = "candidate_speaking"  # a window is open: its audio is kept and sent again whole
    EXAMINER_TURN = "examiner_turn"  # a reply is owed or playing, or a call pending: never cut


class ReconnectPolicy:
    """Decides each reconnect attempt after a drop, and when a goAway's planned reconnect is due.

    Args (the gemini_live stage's reconnect_* and go_away_margin_s, viva/pipelines/registry.py):
        schedule_s: the wait before attempt 1, 2, 3, ...; the last repeats.
        jitter: each wait is scaled by a random factor in [1 - jitter, 1 + jitter].
        budget_s: no attempt starts later than this after the drop.
        go_away_margin_s: a planned reconnect happens at the latest this long before the
            goAway's time runs out, even if the session is never between turns.
        rng, clock: injected for tests.
    """

    def __init__(self, *, schedule_s: Sequence[float], jitter: float, budget_s: float, go_away_margin_s: float,
                 rng: random.Random | None = None, clock: Callable[[], float] = time.monotonic):
        self._schedule = list(schedule_s)
        self._jitter = jitter
        self._budget_s = budget_s
        self._margin_s = go_away_margin_s
        self._rng = rng or random.Random()
        self._clock = clock
        self.handle: str | None = None  # the last resumable handle
        self._attempts = 0
        self._dropped_at: float | None = None
        self._go_away_until: float | None = None

    # -- the session's state

    def on_handle(self, handle: str | None, resumable: bool) -> None:
        """A sessionResumptionUpdate: only a resumable one replaces the handle."""
        if resumable and handle:
            self.handle = handle

    def on_connected(self) -> None:
        """A (re)connection is set up: the outage, and any goAway, are over."""
        self._attempts, self._dropped_at, self._go_away_until = 0, None, None

    @property
    def reconnecting(self) -> bool:
        return self._dropped_at is not None

    # -- drops

    def on_disconnect(self, code: int | None = None) -> Attempt | None:
        """The link dropped (or an attempt failed): the next attempt, or None when the budget is spent."""
        now = self._clock()
        if self._dropped_at is None:
            self._dropped_at = now
        self._attempts += 1
        if code == REFUSED and self.handle is not None:
            # The server answered: the handle is gone, and waiting will not bring it back.
            # The fresh session goes at once; a refused fresh session backs off as usual.
            self.handle = None
            return Attempt(number=self._attempts, base_s=0.0, delay_s=0.0, handle=None, after_refusal=True)
        if code == REFUSED:
            # A fresh session refused: the key, the model or the setup is wrong, and no wait mends it.
            return None
        base = self._schedule[min(self._attempts, len(self._schedule)) - 1]
        delay = base * (1 + self._jitter * (2 * self._rng.random() - 1))
        if now + delay - self._dropped_at > self._budget_s:
            return None
        return Attempt(number=self._attempts, base_s=base, delay_s=round(delay, 3), handle=self.handle)

    # -- goAway

    def on_go_away(self, time_left_s: float) -> None:
        self._go_away_until = self._clock() + time_left_s

    @property
    def go_away_deadline(self) -> float | None:
        """When, after a goAway, a planned reconnect stops waiting for a moment between turns."""
        return None if self._go_away_until is None else self._go_away_until - self._margin_s

    def planned_reconnect_due(self, moment: Moment) -> bool:
        """After a goAway: reconnect now? At the first moment between turns; once the deadline
        (go_away_margin_s before the time runs out) has passed, also while the candidate
        speaks, since the answer so far is sent again whole. Never in the examiner's turn:
        cutting it would have the candidate hear it twice."""
        if self._go_away_until is None:
            return False
        if moment is Moment.BETWEEN_TURNS:
            return True
        return moment is Moment.CANDIDATE_SPEAKING and self._clock() >= self.go_away_deadline
