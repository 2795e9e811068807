"""Pipecat's Silero VAD, with each audio frame marked with how voiced it was.

Pipecat's VADProcessor says only when speech starts and stops. The turn gate needs
more: how much of what followed a start was voiced, and how loud, to tell a word from
a clatter and the candidate from the examiner's echo. So this analyzer keeps the
confidence and volume Silero and Pipecat computed for each chunk (no second model run),
and the processor marks every audio frame with them (`frame.metadata["voicing"]`).

The processor analyses a frame before passing it on (Pipecat's passes it on first):
the mark must be on the frame before the next processor can read it.

The `silero_vad` stage's builder (`build`) is here; its parameters (`SileroVadParams`) are in
viva/pipelines/registry.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams, VADState
from pipecat.frames.frames import Frame, InputAudioRawFrame
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from viva.pipelines.registry import SileroVadParams

if TYPE_CHECKING:
    from viva.pipelines.context import StageContext

VOICING = "voicing"


@dataclass(frozen=True)
class Voicing:
    """Silero's confidence and Pipecat's smoothed volume (0..1) for a frame's audio."""

    confidence: float
    volume: float


SILENT = Voicing(0.0, 0.0)


class VoicingSileroAnalyzer(SileroVADAnalyzer):
    """SileroVADAnalyzer that remembers each chunk's confidence and volume.

    It hooks the two per-chunk calls of VADAnalyzer's analysis loop; if Pipecat renames
    them, tests/processors/test_voicing_vad.py fails (frames go unmarked).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._chunks: list[Voicing] = []
        self._confidence = 0.0
        self._last = SILENT

    async def analyze_audio(self, buffer: bytes) -> VADState:
        """Analyses on the event loop, not in Pipecat's executor thread: most 20 ms frames only
        fill the 32 ms buffer, and a thread hop per frame cost more CPU than Silero itself
        (bench/capacity.py, docs/performance.md)."""
        return self._run_analyzer(buffer)

    def voice_confidence(self, buffer: bytes) -> float:
        confidence = super().voice_confidence(buffer)
        self._confidence = float(getattr(confidence, "item", lambda: confidence)())
        return confidence

    def _get_smoothed_volume(self, audio: bytes) -> float:
        volume = super()._get_smoothed_volume(audio)
        self._chunks.append(Voicing(self._confidence, float(volume)))
        return volume

    def take(self) -> Voicing:
        """The most voiced chunk analysed since the last call (or the last one, if none)."""
        if self._chunks:
            self._last = max(self._chunks, key=lambda v: (v.confidence, v.volume))
            self._chunks.clear()
        return self._last


class VoicingVADProcessor(VADProcessor):
    """Pipecat's VADProcessor, marking each audio frame with its Voicing before passing it on.

    Args:
        vad_analyzer: a VoicingSileroAnalyzer.
        **kwargs: VADProcessor's.
    """

    def __init__(self, *, vad_analyzer: VoicingSileroAnalyzer, **kwargs):
        super().__init__(vad_analyzer=vad_analyzer, **kwargs)
        self._voicing = vad_analyzer

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        if not isinstance(frame, InputAudioRawFrame):
            await super().process_frame(frame, direction)
            return
        await FrameProcessor.process_frame(self, frame, direction)
        await self._vad_controller.process_frame(frame)
        frame.metadata[VOICING] = self._voicing.take()
        await self.push_frame(frame, direction)


def build(params: SileroVadParams, context: StageContext | None) -> VoicingVADProcessor:
    """The `silero_vad` stage (it needs no session)."""
    return VoicingVADProcessor(vad_analyzer=VoicingSileroAnalyzer(params=VADParams(**params.model_dump())))
