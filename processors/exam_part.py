"""Which part of the exam the examiner is in, heard from what the examiner says.

The model leads the exam, so nothing tells the pipeline that Part 2's long turn has
begun; but the examiner reads each part's intro. `ExamPartTracker` (plain) matches the
examiner's output transcript against the intros of the parts still ahead, and
`ExamPartProcessor` (after the Live service) sends an `ExamPartFrame` upstream when a
new part begins, for the turn gate to take that part's settings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipecat.frames.frames import Frame, SystemFrame, TTSTextFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

KEY_WORDS = 12  # an intro is known by its first words
SPOKEN_CHARS = 300  # how much of what the examiner said is compared (about 50 words)


@dataclass
class ExamPartFrame(SystemFrame):
    """The examiner has begun the exam part called `part` (travels upstream; Frame has its own `name`)."""

    part: str = ""


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


class ExamPartTracker:
    """Follows the exam through its parts, forward only.

    Args:
        intros: (part name, intro text) in exam order; a part without an intro is never
            detected (its settings are the previous part's, or the defaults).
        match: the share of an intro's first words that must have been said.
    """

    def __init__(self, intros: Sequence[tuple[str, str]], *, match: float = 0.7):
        self._keys = [(name, set(_words(intro)[:KEY_WORDS])) for name, intro in intros if _words(intro)]
        self._match = match
        self._spoken = ""  # the transcript as it came: pieces may split a word
        self._next = 0
        self.current: str | None = None

    def on_examiner_text(self, text: str) -> str | None:
        """Feed what the examiner said; returns a part's name when that part has begun."""
        self._spoken = (self._spoken + text)[-SPOKEN_CHARS:]
        said = set(_words(self._spoken))
        for index in range(self._next, len(self._keys)):
            name, key = self._keys[index]
            if len(key & said) >= self._match * len(key):
                self._next, self.current = index + 1, name
                self._spoken = ""
                return name
        return None


class ExamPartProcessor(FrameProcessor):
    """Sends ExamPartFrame upstream when the examiner begins a new part.

    Args:
        intros: see ExamPartTracker.
        on_event: called with ("exam_part", name=...) when a part begins.
    """

    def __init__(self, *, intros: Sequence[tuple[str, str]],
                 on_event: Callable[..., None] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.tracker = ExamPartTracker(intros)
        self._on_event = on_event or (lambda *args, **fields: None)

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, TTSTextFrame) and direction == FrameDirection.DOWNSTREAM:
            part = self.tracker.on_examiner_text(frame.text)
            if part is not None:
                self._on_event("exam_part", name=part)
                await self.push_frame(ExamPartFrame(part=part), FrameDirection.UPSTREAM)
