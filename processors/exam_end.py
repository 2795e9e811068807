"""Ends the session when the exam is over: the closing phrase heard, its audio played out.

`ClosingDetector` (processors/closing_guard.py) finds the configured closing phrase in
the examiner's output transcript. `ExamEnd` decides when to end
(plain, injected clock); `ExamEndProcessor` feeds it frames and ends the pipeline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    EndWorkerFrame,
    Frame,
    StartFrame,
    TTSTextFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from processors.closing_guard import ClosingDetector


class ExamEnd:
    """When to end: after the closing phrase, once the examiner's audio has stopped.

    Args:
        drain_s: wait this long after the examiner's audio stops (the tail of the words).
        clock: seconds, monotonic.
    """

    def __init__(self, *, drain_s: float, clock: Callable[[], float] = time.monotonic):
        self._drain_s = drain_s
        self._clock = clock
        self.closing_heard = False
        self.examiner_speaking = False
        self._stopped_at: float | None = None

    def on_closing(self) -> None:
        self.closing_heard = True

    def on_examiner_audio(self, speaking: bool) -> None:
        self.examiner_speaking = speaking
        self._stopped_at = None if speaking else self._clock()

    def due(self) -> str | None:
        """The reason to end now, or None."""
        now = self._clock()
        if self.closing_heard and not self.examiner_speaking and self._stopped_at is not None:
            if now - self._stopped_at >= self._drain_s:
                return "closing_phrase"
        return None


class ExamEndProcessor(FrameProcessor):
    """Ends the pipeline (gracefully, with EndWorkerFrame) when ExamEnd says so.

    Args:
        closing_phrase: from the exam config.
        results: the ResultCollector (its result decides the outcome).
        record: the SessionRecord (told the end reason and outcome).
        drain_s: see ExamEnd.
    """

    def __init__(self, *, closing_phrase: str, results, record, drain_s: float, **kwargs):
        super().__init__(**kwargs)
        self._closing = ClosingDetector(closing_phrase)
        self._limits = {"drain_s": drain_s}
        self._end: ExamEnd | None = None
        self._results = results
        self._record = record
        self._watch: asyncio.Task | None = None
        self._ended = False

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, StartFrame) and self._watch is None:
            self._end = ExamEnd(**self._limits)  # the session's clock starts with the pipeline
            self._watch = self.create_task(self._watch_loop(), "exam-end")
        elif self._end is None:
            pass
        elif isinstance(frame, TTSTextFrame) and self._closing.feed(frame.text):
            self._end.on_closing()
        elif isinstance(frame, BotStartedSpeakingFrame) and direction == FrameDirection.UPSTREAM:
            self._end.on_examiner_audio(True)
        elif isinstance(frame, BotStoppedSpeakingFrame) and direction == FrameDirection.UPSTREAM:
            self._end.on_examiner_audio(False)
        await self.push_frame(frame, direction)

    async def _watch_loop(self):
        while not self._ended:
            await asyncio.sleep(0.1)
            reason = self._end.due()
            if reason:
                await self._finish(reason)

    async def _finish(self, reason: str) -> None:
        self._ended = True
        complete = self._results.complete
        self._record.end(outcome="completed" if complete else "failed", end_reason=reason)
        await self.push_frame(EndWorkerFrame(reason=reason))

    async def cleanup(self):
        await super().cleanup()
        if self._watch is not None:
            await self.cancel_task(self._watch)
