"""Ends the session when the exam is over: the closing phrase heard, its audio played out.

`ClosingDetector` (viva/processors/closing_guard.py) finds the configured closing phrase in
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
    FunctionCallResultFrame,
    LLMTextFrame,
    StartFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from viva.processors.closing_guard import ClosingDetector
from viva.processors.exam_frames import CandidateHoldFrame, ExaminerWithheldFrame
from viva.processors.live_link import LiveLinkFrame


class ExamEnd:
    """When to end: after the closing phrase, once the examiner's audio has stopped.

    If the examiner never says the closing phrase, the exam still ends at the end of its
    script: once the result is in (called, or spoken in full) and the examiner has been
    quiet for `closing_wait_s` without the phrase, it is time to say it from the config
    ("say_closing", once); the end follows once that audio has played ("closing_from_config").
    Once the result is in, a lost Live link is not waited for: all that is left is the
    closing, and a reconnect would have the model say it again from the start, after a
    pause the candidate may fill. viva says it as soon as the examiner's audio stops.

    Once the examiner has been withheld in the assessment (marks said aloud,
    viva/processors/marks_gate.py), the model is saying what the candidate must not hear and
    may believe it has closed the exam: viva says the closing at once, then waits for the
    result (the call, or the withheld words in full to extract it from) for as long as
    the model goes on, and `result_wait_s` after it falls quiet.

    Args:
        drain_s: wait this long after the examiner's audio stops (the tail of the words).
        closing_wait_s: quiet after the result before viva says the closing itself.
        result_wait_s: after viva's closing for withheld marks, the model's quiet that ends the wait.
        clock: seconds, monotonic.
    """

    def __init__(self, *, drain_s: float, closing_wait_s: float = 5.0, result_wait_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic):
        self._drain_s = drain_s
        self._closing_wait_s = closing_wait_s
        self._result_wait_s = result_wait_s
        self._clock = clock
        self.closing_heard = False
        self.result_ready = False
        self.said_closing = False
        self.examiner_speaking = False
        self.link_down = False
        self.examiner_withheld = False
        self._withheld_at = 0.0  # the model's latest withheld words
        self._stopped_at: float | None = None
        self._ready_at: float | None = None

    def on_closing(self) -> None:
        self.closing_heard = True

    def on_result_ready(self) -> None:
        if not self.result_ready:
            self.result_ready, self._ready_at = True, self._clock()

    def on_saying_closing(self) -> None:
        """viva is saying the phrase: the end waits for its audio to start and stop."""
        self.said_closing = True
        self._stopped_at = None

    def on_examiner_withheld(self) -> None:
        """Examiner words in the assessment were kept from the candidate (the model goes on)."""
        self.examiner_withheld = True
        self._withheld_at = self._clock()

    def on_link(self, up: bool) -> None:
        self.link_down = not up

    def on_examiner_audio(self, speaking: bool) -> None:
        self.examiner_speaking = speaking
        self._stopped_at = None if speaking else self._clock()

    def due(self) -> str | None:
        """What to do now: "closing_phrase" or "closing_from_config" (end), "say_closing", or None."""
        now = self._clock()
        if self.examiner_speaking:
            return None
        quiet_since = max(self._stopped_at or 0.0, self._ready_at or 0.0)
        if (self.closing_heard or self.said_closing) and self._stopped_at is not None:
            if now - self._stopped_at < self._drain_s:
                return None
            if self.closing_heard:
                return "closing_phrase"
            quiet_since = max(self._stopped_at, self._withheld_at)
            if self.result_ready or not self.examiner_withheld or now - quiet_since >= self._result_wait_s:
                return "closing_from_config"
            return None
        if self.said_closing or self.closing_heard:
            return None
        if self.examiner_withheld:
            return "say_closing"
        if self.result_ready and (self.link_down or now - quiet_since >= self._closing_wait_s):
            return "say_closing"
        return None


class ExamEndProcessor(FrameProcessor):
    """Ends the pipeline (gracefully, with EndWorkerFrame) when ExamEnd says so.

    On the way out, a result the model never called for is extracted from the examiner's
    transcript (ToolFallback); the record says where the result came from. Once viva says
    the closing itself, it is the last thing the candidate hears: the model's audio and
    words after it are dropped.

    Args:
        closing_phrase: from the exam config.
        results: the ResultCollector (its result decides the outcome).
        record: the SessionRecord (told the end reason, outcome, result and fallback).
        fallback: the ToolFallback (None: no extraction).
        drain_s, closing_wait_s: see ExamEnd.
        say: (text) -> 24 kHz 16-bit mono PCM of the phrase, for the closing from config.
    """

    def __init__(self, *, closing_phrase: str, results, record, drain_s: float, fallback=None,
                 closing_wait_s: float = 5.0, result_wait_s: float = 10.0, say: Callable[[str], bytes] | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self._phrase = closing_phrase
        self._closing = ClosingDetector(closing_phrase)
        self._limits = {"drain_s": drain_s, "closing_wait_s": closing_wait_s, "result_wait_s": result_wait_s}
        self._end: ExamEnd | None = None
        self._results = results
        self._record = record
        self._fallback = fallback
        self._say = say
        self._watch: asyncio.Task | None = None
        self._ended = False
        self._held = False

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        end = self._end
        downstream = direction == FrameDirection.DOWNSTREAM
        if isinstance(frame, StartFrame) and self._watch is None:
            self._end = ExamEnd(**self._limits)  # the session's clock starts with the pipeline
            self._watch = self.create_task(self._watch_loop(), "exam-end")
        elif end is None:
            pass
        elif isinstance(frame, LiveLinkFrame):
            end.on_link(frame.up)
        elif isinstance(frame, ExaminerWithheldFrame):
            if self._fallback is not None:
                self._fallback.on_examiner_text(frame.text)
            end.on_examiner_withheld()
            return  # nothing for the output
        elif isinstance(frame, TTSTextFrame) and downstream:
            if self._fallback is not None:
                self._fallback.on_examiner_text(frame.text)
            if not end.said_closing and self._closing.feed(frame.text):
                end.on_closing()
                await self._hold_candidate()
        elif isinstance(frame, (TTSStartedFrame, TTSStoppedFrame)) and downstream:
            self._closing.end_turn()
            if isinstance(frame, TTSStoppedFrame) and self._fallback is not None and not self._results.complete:
                if self._fallback.spoken():
                    end.on_result_ready()  # said aloud in full: the script is over; a call may still win
        elif isinstance(frame, FunctionCallResultFrame) and self._results.complete:
            end.on_result_ready()
        elif isinstance(frame, BotStartedSpeakingFrame) and direction == FrameDirection.UPSTREAM:
            end.on_examiner_audio(True)
        elif isinstance(frame, BotStoppedSpeakingFrame) and direction == FrameDirection.UPSTREAM:
            end.on_examiner_audio(False)
        if end is not None and end.said_closing and downstream and isinstance(
                frame, (TTSAudioRawFrame, TTSTextFrame, LLMTextFrame, TTSStartedFrame, TTSStoppedFrame)):
            return  # the model again, after viva's closing (its own frames are pushed, not processed)
        await self.push_frame(frame, direction)

    async def _watch_loop(self):
        while not self._ended:
            await asyncio.sleep(0.1)
            action = self._end.due()
            if action == "say_closing":
                self._end.on_saying_closing()
                await self._say_closing()
            elif action:
                await self._finish(action)

    async def _hold_candidate(self) -> None:
        """The exam is over for the candidate: nothing they say now reaches the model (a reply
        to the closing would interrupt what the model is still doing, the marks it is saying
        and the result still to be had from them)."""
        if not self._held:
            self._held = True
            await self.push_frame(CandidateHoldFrame(hold=True, reason="closing"), FrameDirection.UPSTREAM)

    async def _say_closing(self) -> None:
        await self._hold_candidate()
        self._record.event("closing_from_config", text=self._phrase)
        if self._say is None:  # nothing to play: end as if it had been said
            self._end.on_examiner_audio(False)
            return
        audio = await asyncio.get_running_loop().run_in_executor(None, self._say, self._phrase)
        await self.push_frame(TTSStartedFrame())
        await self.push_frame(TTSTextFrame(text=self._phrase, text_type="sentence"))
        chunk = 24000 * 2 // 25  # 40 ms
        for i in range(0, len(audio), chunk):
            await self.push_frame(TTSAudioRawFrame(audio=audio[i : i + chunk], sample_rate=24000, num_channels=1))
        await self.push_frame(TTSStoppedFrame())

    async def _finish(self, reason: str) -> None:
        self._ended = True
        if not self._results.complete and self._fallback is not None:
            attempts = await self._fallback.extract()
            for tool in dict.fromkeys(attempt.tool for attempt in attempts):
                tried = [attempt for attempt in attempts if attempt.tool == tool]
                self._record.event("tool_fallback", tool=tool, method=tried[-1].method, valid=tried[-1].valid,
                                   tried=[{"method": a.method, "valid": a.valid, "errors": a.errors[:5]} for a in tried])
            if self._results.complete:
                self._record.set_result(self._results.result(), "transcript_extraction")
        complete = self._results.complete
        self._record.end(outcome="completed" if complete else "failed", end_reason=reason)
        await self.push_frame(EndWorkerFrame(reason=reason))

    async def cleanup(self):
        await super().cleanup()
        if self._watch is not None:
            await self.cancel_task(self._watch)
