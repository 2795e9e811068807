"""The closing finder: where the examiner's words complete the closing phrase, found once.

`ClosingDetector` (viva/exam/phrases.py) reads the examiner's output transcript as the Live
service gives it. For each occurrence `ClosingFinderProcessor` pushes a `ClosingPhraseFrame`
just before the transcript piece that completes it, so that every processor downstream (the
closing guard, the marks gate, exam end) and the record at the output transport read the
same finding in the order of the words, and none matches the phrase again. It is not a
stage: `build_pipeline` puts it straight after the Live service in every pipeline, the
baseline's included, so that the record counts the closings heard whatever the stages are.
"""

from __future__ import annotations

from pipecat.frames.frames import Frame, TTSStartedFrame, TTSStoppedFrame, TTSTextFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from viva.exam.phrases import ClosingDetector
from viva.processors.exam_frames import ClosingPhraseFrame


class ClosingFinderProcessor(FrameProcessor):
    """Pushes a ClosingPhraseFrame before each transcript piece that completes the closing phrase.

    Args:
        closing_phrase: the exam config's.
    """

    def __init__(self, closing_phrase: str, **kwargs):
        super().__init__(**kwargs)
        self._detector = ClosingDetector(closing_phrase)
        self._turn_first_word = 0  # the detector's word count when the examiner's turn began

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM:
            detector = self._detector
            if isinstance(frame, (TTSStartedFrame, TTSStoppedFrame)):
                detector.end_turn()
                self._turn_first_word = detector.words_seen
            elif isinstance(frame, TTSTextFrame):
                detector.feed(frame.text)
                for start in detector.starts:
                    await self.push_frame(ClosingPhraseFrame(words_before=max(0, start - self._turn_first_word)))
        await self.push_frame(frame, direction)
