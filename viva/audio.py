"""Audio files in and out: any PCM WAV read as 16 kHz mono, stereo WAVs written as a session goes."""

from __future__ import annotations

import os
import wave
from pathlib import Path

import numpy as np
import soxr

from viva.errors import BadInput
from viva.input_files import check_regular_file

RATE = 16000


def read_wav(path: Path, *, rate: int = RATE, what: str = "") -> np.ndarray:
    """A PCM WAV of any rate, width and channel count as int16 mono at rate.

    BadInput, naming `what` (e.g. the file and key that referred to it), when the file
    is missing or is not a PCM WAV.
    """
    prefix = f"{what}: " if what else ""
    check_regular_file(path, what=f"{prefix}{path}")  # a FIFO would hang wave.open
    # (the common case, 16-bit mono at the rate wanted, is passed through bit for bit)
    try:
        with wave.open(str(path)) as wav:
            width, channels, source_rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except FileNotFoundError:
        raise BadInput(f"{prefix}{path}: no such file") from None
    except (wave.Error, EOFError, OSError, RuntimeError) as e:
        raise BadInput(f"{prefix}{path}: not a readable PCM WAV file ({e})") from None
    if width == 2 and channels == 1 and source_rate == rate:
        if len(frames) % 2:
            raise BadInput(f"{prefix}{path}: truncated audio data")
        return np.frombuffer(frames, dtype="<i2").astype(np.int16)
    if width == 1:
        samples = (np.frombuffer(frames, dtype=np.uint8).astype(np.float32) - 128) / 128
    elif width == 3:
        raw = np.frombuffer(frames, dtype=np.uint8).reshape(-1, 3)
        ints = (raw[:, 0].astype(np.int32) | raw[:, 1].astype(np.int32) << 8 | raw[:, 2].astype(np.int32) << 16)
        samples = np.where(ints >= 1 << 23, ints - (1 << 24), ints).astype(np.float32) / (1 << 23)
    elif width in (2, 4):
        dtype = "<i2" if width == 2 else "<i4"
        samples = np.frombuffer(frames, dtype=dtype).astype(np.float32) / float(1 << (8 * width - 1))
    else:
        raise BadInput(f"{prefix}{path}: unsupported sample width of {width} bytes")
    if len(samples) % channels:
        raise BadInput(f"{prefix}{path}: truncated audio data")
    samples = samples.reshape(-1, channels).mean(axis=1)
    if source_rate != rate and len(samples):
        samples = soxr.resample(samples, source_rate, rate)
    return to_int16(samples)


def to_int16(samples: np.ndarray) -> np.ndarray:
    return (np.clip(samples, -1, 1) * 32767).astype(np.int16)


def gain(samples: np.ndarray, db: float) -> np.ndarray:
    """int16 samples scaled by db decibels (clipped)."""
    return to_int16(samples.astype(np.float32) / 32768 * 10 ** (db / 20))


class StereoWavWriter:
    """A stereo 16-bit WAV written as it comes: the header is finished when closed.

    A crash leaves the samples on disk with a header that understates the length,
    which audio tools still open.
    """

    def __init__(self, path: Path, *, rate: int = RATE):
        # The candidate's voice: created owner-only, as the rest of the record (the umask may
        # narrow it); wave then opens it itself, so it closes the file, even when collected unclosed.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        self._wav = wave.open(str(path), "wb")
        self._wav.setnchannels(2)
        self._wav.setsampwidth(2)
        self._wav.setframerate(rate)

    def write(self, left: np.ndarray, right: np.ndarray) -> None:
        frames = np.empty(len(left) * 2, dtype="<i2")
        frames[0::2], frames[1::2] = left, right
        self._wav.writeframes(frames.tobytes())

    def close(self) -> None:
        self._wav.close()
