"""Processors that stand in for the rest of a pipeline in `run_test` tests of one processor."""

from __future__ import annotations

from dataclasses import dataclass

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    DataFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from tests.helpers import VirtualTime


@dataclass
class TimePasses(DataFrame):
    """Seconds of the test's clock, once every frame sent before it has been through the processor under test."""

    seconds: float


class Clockwork(FrameProcessor):
    """After the processor under test: moves the virtual clock on at each TimePasses."""

    def __init__(self, time: VirtualTime):
        super().__init__()
        self._time = time

    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        if isinstance(frame, TimePasses):
            await self._time.advance(frame.seconds)
        else:
            await self.push_frame(frame, direction)


class Loudspeaker(FrameProcessor):
    """Says upstream that the examiner's audio started and stopped with its turn, as the output transport does."""

    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, TTSStartedFrame):
            await self.push_frame(BotStartedSpeakingFrame(), FrameDirection.UPSTREAM)
        elif isinstance(frame, TTSStoppedFrame):
            await self.push_frame(BotStoppedSpeakingFrame(), FrameDirection.UPSTREAM)
