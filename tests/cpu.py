"""How much of the machine's CPU is idle: real-time simulated sessions start only when it can
carry them. A session that gets less CPU than its audio needs falls behind it, and every
timing it is judged on drifts with it (two CPU-bound processes per core beside the suite
put the sessions hundreds of seconds behind their audio)."""

from __future__ import annotations

import os
import time
from collections import deque
from pathlib import Path

_STAT = Path("/proc/stat")


def _idle_ticks() -> int | None:
    """Idle and iowait ticks of all CPUs together since boot (Linux); None elsewhere."""
    try:
        fields = _STAT.read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    return int(fields[4]) + int(fields[5])  # "cpu user nice system idle iowait ..."


class IdleCores:
    """Idle CPU, in cores, over about the last `window_s` seconds: call sample() often, read cores()."""

    def __init__(self, window_s: float, *, clock=time.monotonic, ticks=_idle_ticks):
        self._window_s = window_s
        self._clock = clock
        self._ticks = ticks
        self._per_s = os.sysconf("SC_CLK_TCK")
        self._samples: deque[tuple[float, int]] = deque()

    def reset(self) -> None:
        """Forget what was seen: the next window begins now (a session just started)."""
        self._samples.clear()

    def sample(self) -> None:
        ticks = self._ticks()
        if ticks is None:
            return
        now = self._clock()
        self._samples.append((now, ticks))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self._window_s:
            self._samples.popleft()

    def cores(self) -> float | None:
        """None until a whole window has been seen (or where the machine does not say)."""
        if len(self._samples) < 2:
            return None
        (t0, idle0), (t1, idle1) = self._samples[0], self._samples[-1]
        if t1 - t0 < self._window_s:
            return None
        return (idle1 - idle0) / self._per_s / (t1 - t0)
