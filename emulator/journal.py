"""emulator.jsonl: the emulator's own account of one session, kept apart from the client's.

One JSON object per line, flushed as it is written, so a crash loses at most the line
being written. t_s counts from the connection of the session's first socket.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


class Journal:
    """Appends records to path (None: keeps them in memory only)."""

    def __init__(self, path: Path | None, *, clock=time.monotonic):
        self._clock = clock
        self._t0 = clock()
        self.started_at = self._t0  # on the clock given (time.monotonic by default)
        self._file = None
        self.path = path
        self.records: list[dict[str, Any]] = []
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def elapsed(self) -> float:
        return self._clock() - self._t0

    def write(self, **record: Any) -> dict[str, Any]:
        entry = {"t_s": round(self.elapsed(), 4), **record}
        self.records.append(entry)
        if self.path is not None:
            if self._file is None:  # opened on demand: a resumed session writes on after a close
                self._file = self.path.open("a", encoding="utf-8", buffering=1)
            self._file.write(json.dumps(entry, separators=(",", ":")) + "\n")
        return entry

    def close(self) -> None:
        """Releases the file while the session has no socket; a later write reopens it."""
        if self._file is not None:
            self._file.close()
            self._file = None
