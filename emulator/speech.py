"""Whether an activity window holds speech, decided by Silero on the audio received.

A real model transcribes noise as nothing and answers it with nothing; the emulator
decides the same way with Pipecat's bundled Silero model, so a door knock sent as its
own window is an empty window here too.
"""

from __future__ import annotations

import threading
from importlib import resources

import numpy as np
import soxr
from pipecat.audio.vad.silero import SileroOnnxModel

SAMPLE_RATE = 16000
CHUNK_SAMPLES = 512  # what Silero takes at 16 kHz: 32 ms
CHUNK_S = CHUNK_SAMPLES / SAMPLE_RATE

_model_lock = threading.Lock()
_shared_model: SileroOnnxModel | None = None


def _shared_onnx_session():
    """One ONNX session for the process: each detector keeps only its own recurrent state."""
    global _shared_model
    with _model_lock:
        if _shared_model is None:
            path = resources.files("pipecat.audio.vad.data").joinpath("silero_vad.onnx")
            _shared_model = SileroOnnxModel(str(path), force_onnx_cpu=True)
        return _shared_model.session


class _WindowModel(SileroOnnxModel):
    """Pipecat's Silero wrapper over the shared session.

    Pipecat's wrapper loads its own ONNX session per instance (tens of milliseconds and
    megabytes each); the emulator needs one detector per activity window, many at once.
    """

    def __init__(self):  # noqa: D107 - deliberately skips the parent's model loading
        self.session = _shared_onnx_session()
        self.sample_rates = [8000, SAMPLE_RATE]
        self.reset_states()


class SpeechDetector:
    """Accumulates one window's audio and measures how much of it is voiced.

    Args:
        threshold: Silero probability above which a 32 ms chunk counts as voiced.
        min_speech_s: voiced seconds a window needs to count as speech. A real model
            transcribes nothing from a single faint word amid clatter; about half a second
            of clear voicing (a short answer has a second or more) is what it takes here.
    """

    def __init__(self, *, threshold: float = 0.5, min_speech_s: float = 0.5):
        self._threshold = threshold
        self._min_speech_s = min_speech_s
        self._model = _WindowModel()
        self._pending = np.zeros(0, dtype=np.float32)
        self._voiced_chunks = 0
        self._chunks = 0

    def feed(self, pcm: bytes, sample_rate: int = SAMPLE_RATE) -> list[bool]:
        """Adds 16-bit mono PCM at any rate; scores every complete 32 ms chunk.

        Returns whether each chunk scored in this call was voiced, in order.
        """
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float32) / 32768
        if sample_rate != SAMPLE_RATE and len(samples):
            samples = soxr.resample(samples, sample_rate, SAMPLE_RATE).astype(np.float32)
        pending = np.concatenate((self._pending, samples))
        whole = len(pending) // CHUNK_SAMPLES * CHUNK_SAMPLES
        voiced = []
        for start in range(0, whole, CHUNK_SAMPLES):
            probability = float(self._model(pending[start : start + CHUNK_SAMPLES], SAMPLE_RATE)[0][0])
            self._chunks += 1
            voiced.append(probability >= self._threshold)
            self._voiced_chunks += voiced[-1]
        self._pending = pending[whole:]
        return voiced

    @property
    def voiced_s(self) -> float:
        return self._voiced_chunks * CHUNK_S

    @property
    def audio_s(self) -> float:
        return (self._chunks * CHUNK_SAMPLES + len(self._pending)) / SAMPLE_RATE

    @property
    def has_speech(self) -> bool:
        return self.voiced_s >= self._min_speech_s
