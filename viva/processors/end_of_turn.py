"""Pipecat's bundled Smart Turn model, as a plain function of a turn's audio.

Pipecat's analyzer (BaseSmartTurn) keeps its own copy of the audio stamped with the wall
clock and ends turns on its own silence timer. The turn gate already holds the turn's
audio on the audio clock and decides on silence itself, so only the model's prediction
is used: `SmartTurnModel(audio, sample_rate)` is the probability that the turn is over.
"""

from __future__ import annotations

import functools
import threading

import numpy as np
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3


class SmartTurnModel(LocalSmartTurnAnalyzerV3):
    """The smart-turn-v3 ONNX model Pipecat ships, called on 16-bit mono PCM."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._lock = threading.Lock()  # one model for many sessions; the sample rate is per call

    def __call__(self, audio: bytes, sample_rate: int) -> float:
        samples = np.frombuffer(audio, np.int16).astype(np.float32) / 32768.0
        if samples.size == 0:
            return 0.0
        with self._lock:
            self.set_sample_rate(sample_rate)
            return float(self._predict_endpoint(samples)["probability"])


@functools.cache
def smart_turn_model() -> SmartTurnModel:
    """One model per process: loading it takes longer than a judgement."""
    return SmartTurnModel()
