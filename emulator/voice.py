"""The examiner's voice: espeak-ng speech where it is installed, else a tone as long as the words.

Output is what the Live API sends: 16-bit little-endian mono PCM at 24 kHz. The TTS
models (emulator/rest.py) speak in the same voice, whichever prebuilt voice is asked for,
as headerless PCM or, for the 3.8 models, a WAV file (`wav_file`).
"""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
import wave

import numpy as np
import soxr

OUTPUT_RATE = 24000
WORDS_PER_SECOND = 2.6  # an examiner's unhurried pace, used for the tone fallback
# The prebuilt voices of Gemini's speech models, Live and TTS alike (Google's speech
# generation guide, "Voice options"); the emulator says every one in its examiner's voice.
GEMINI_VOICES = frozenset({
    "Achernar", "Achird", "Algenib", "Algieba", "Alnilam", "Aoede", "Autonoe", "Callirrhoe", "Charon",
    "Despina", "Enceladus", "Erinome", "Fenrir", "Gacrux", "Iapetus", "Kore", "Laomedeia", "Leda", "Orus",
    "Puck", "Pulcherrima", "Rasalgethi", "Sadachbia", "Sadaltager", "Schedar", "Sulafat", "Umbriel",
    "Vindemiatrix", "Zephyr", "Zubenelgenubi",
})


def tone_for(text: str, rate: int = OUTPUT_RATE) -> bytes:
    """A soft 220 Hz tone lasting as long as the words would take to say."""
    duration = max(0.5, len(text.split()) / WORDS_PER_SECOND)
    t = np.arange(int(duration * rate)) / rate
    envelope = np.minimum(1.0, np.minimum(t, duration - t) / 0.02)
    samples = 0.2 * np.sin(2 * np.pi * 220 * t) * envelope
    return (samples * 32767).astype("<i2").tobytes()


def _wav_to_pcm(data: bytes, rate: int) -> bytes:
    with wave.open(io.BytesIO(data)) as wav:
        source_rate = wav.getframerate()
        frames = wav.readframes(wav.getnframes())
        channels = wav.getnchannels()
    samples = np.frombuffer(frames, dtype="<i2")
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1).astype("<i2")
    if source_rate != rate:
        resampled = soxr.resample(samples.astype(np.float32) / 32768, source_rate, rate)
        samples = (np.clip(resampled, -1, 1) * 32767).astype("<i2")
    return samples.tobytes()


def wav_file(pcm: bytes, rate: int = OUTPUT_RATE) -> bytes:
    """16-bit mono PCM in a WAV file: the 44-byte RIFF header, then the samples."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return out.getvalue()


def render_speech(text: str, *, voice: str = "en-gb", words_per_minute: int = 160, rate: int = OUTPUT_RATE,
                  use_espeak: bool = True) -> bytes:
    """16-bit mono PCM of text at rate: espeak-ng speech, or the tone where it is missing or fails."""
    espeak = shutil.which("espeak-ng") if use_espeak else None
    if espeak:
        result = subprocess.run([espeak, "-v", voice, "-s", str(words_per_minute), "--stdout", text],
                                capture_output=True, timeout=60)
        if result.returncode == 0 and result.stdout:
            return _wav_to_pcm(result.stdout, rate)
    return tone_for(text, rate)


class ExaminerVoice:
    """Synthesizes examiner lines, once per distinct line per process.

    Args:
        voice: espeak-ng voice name.
        words_per_minute: espeak-ng speaking rate.
        use_espeak: False forces the tone (None: espeak-ng when installed).
    """

    def __init__(self, *, voice: str = "en-gb", words_per_minute: int = 160, use_espeak: bool | None = None):
        self._voice = voice
        self._wpm = words_per_minute
        self._espeak = shutil.which("espeak-ng") if use_espeak in (None, True) else None
        self._cache: dict[str, asyncio.Future[bytes]] = {}

    @property
    def engine(self) -> str:
        return "espeak-ng" if self._espeak else "tone"

    async def synthesize(self, text: str) -> bytes:
        """PCM at 24 kHz for the line; concurrent requests for one line share the work."""
        future = self._cache.get(text)
        if future is None or (future.done() and future.exception()):
            future = asyncio.get_running_loop().create_future()
            self._cache[text] = future
            try:
                future.set_result(await self._render(text))
            except Exception as e:  # surfaced to every waiter, and retried next time
                future.set_exception(e)
        return await asyncio.shield(future)

    async def _render(self, text: str) -> bytes:
        return await asyncio.to_thread(
            render_speech, text, voice=self._voice, words_per_minute=self._wpm, use_espeak=bool(self._espeak)
        )
