"""The closing guard: the candidate hears the closing phrase once, and nothing after it.

Told to say the closing once, the model sometimes says it twice in one turn and adds
"Have a good day." (field-reports.md §3). The closing finder (viva/processors/closing_finder.py)
marks where the transcript completes the phrase (`ClosingPhraseFrame`). `ClosingGuard`
(plain) decides what passes: everything until that finding, then the piece that completes
the phrase and the phrase's own audio until the examiner pauses (`gap_s` of quiet) or says
a word beyond it, then nothing. `ClosingGuardProcessor` sits after the Live service and
drops what the guard cuts, audio, transcript and findings alike, so that what reaches the
output transport is what the candidate hears.

The `closing_guard` stage's builder (`build`) is here; its parameters (`ClosingGuardParams`) are in
viva/pipelines/registry.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from pipecat.frames.frames import Frame, TTSAudioRawFrame, TTSStoppedFrame, TTSTextFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from viva.exam.phrases import words_of
from viva.pipelines.registry import ClosingGuardParams
from viva.processors.exam_frames import ClosingPhraseFrame

if TYPE_CHECKING:
    from viva.pipelines.context import StageContext


class ClosingGuard:
    """Which examiner audio the candidate hears around the closing phrase.

    Args:
        gap_s: quiet in the examiner's audio that ends the phrase once it was said.
        quiet_rms: the level (0..1 of full scale) below which audio counts as quiet.
    """

    def __init__(self, *, gap_s: float, quiet_rms: float = 0.01):
        self._gap_s = gap_s
        self._quiet_rms = quiet_rms
        self.state = "listening"  # -> "closing" (phrase said, its audio playing) -> "closed"
        self._quiet_s = 0.0
        self.cut_audio_s = 0.0
        self.cut_voiced_s = 0.0  # of that, not quiet: words cut, not the tail of a pause
        self.cut_text = ""
        self._completing = False  # the next transcript piece completes the phrase

    def on_closing(self) -> bool:
        """The finder's finding: the next transcript piece completes the phrase. Returns whether
        the finding passes (with the words it marks)."""
        if self.state == "closed":
            return False
        self.state, self._completing = "closing", True
        return True

    def on_text(self, piece: str) -> bool:
        """Transcript text; returns whether it reaches the candidate."""
        if self.state == "closing" and not self._completing and words_of(piece):
            self.state = "closed"  # a word beyond the phrase: it starts here
        if self.state == "closed":
            self.cut_text += piece
            return False
        self._completing = False
        return True

    def on_audio(self, pcm: bytes, sample_rate: int) -> bool:
        """Examiner audio (16-bit mono); returns whether it is played."""
        seconds = len(pcm) / 2 / sample_rate
        if self.state == "listening":
            return True
        samples = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768.0
        quiet = (float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0) < self._quiet_rms
        if self.state == "closed":
            self.cut_audio_s += seconds
            self.cut_voiced_s += 0.0 if quiet else seconds
            return False
        if self.state == "closing":
            self._quiet_s = self._quiet_s + seconds if quiet else 0.0
            if self._quiet_s >= self._gap_s:
                self.state = "closed"
        return True

    def on_turn_end(self) -> None:
        if self.state == "closing":
            self.state = "closed"


class ClosingGuardProcessor(FrameProcessor):
    """Drops the examiner's audio and transcript after the closing phrase (see ClosingGuard).

    Args:
        params: the stage's (gap_s: see ClosingGuard).
        on_event: called with ("closing_trimmed", audio_s=..., text=...) once the cut
            part of the turn has ended.
    """

    def __init__(self, params: ClosingGuardParams, *, on_event: Callable[..., None] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.guard = ClosingGuard(gap_s=params.gap_s)
        self._on_event = on_event or (lambda *args, **fields: None)
        self._reported = 0.0

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM:
            if isinstance(frame, TTSAudioRawFrame) and not self.guard.on_audio(frame.audio, frame.sample_rate):
                return
            if isinstance(frame, TTSTextFrame) and not self.guard.on_text(frame.text):
                return
            if isinstance(frame, ClosingPhraseFrame) and not self.guard.on_closing():
                return
            if isinstance(frame, TTSStoppedFrame):
                self.guard.on_turn_end()
                self._report()
        await self.push_frame(frame, direction)

    def _report(self) -> None:
        guard = self.guard
        if guard.cut_voiced_s > self._reported or guard.cut_text.strip():  # words cut, not a quiet tail
            self._on_event("closing_trimmed", audio_s=round(guard.cut_voiced_s - self._reported, 2),
                           text=guard.cut_text.strip())
        self._reported = guard.cut_voiced_s
        guard.cut_text = ""


def build(params: ClosingGuardParams, context: StageContext) -> ClosingGuardProcessor:
    """The `closing_guard` stage."""
    return ClosingGuardProcessor(params, on_event=context.record.event)
