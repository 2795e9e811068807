"""The examiner's voice: espeak-ng speech where it is installed, else a tone as long as the words.

Output is what the Live API sends: 16-bit little-endian mono PCM at 24 kHz. The TTS
models (emulator/rest.py) speak in the same voice, whichever prebuilt voice is asked for,
as headerless PCM or, for the 3.8 models, a WAV file (`wav_file`).

A session speaks the language its client named (emulator/language.py): voice_for_language()
picks espeak-ng's voice for the code (fr-FR -> fr-fr, de-DE -> de), English (en-gb) when
no code is named.
"""

from __future__ import annotations

import asyncio
import functools
import io
import shutil
import subprocess
import wave
from dataclasses import dataclass

import numpy as np
import soxr

OUTPUT_RATE = 24000
DEFAULT_VOICE = "en-gb"  # the examiner's voice when no language is named
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


# A language espeak-ng names otherwise: its Chinese is Mandarin's code (Gemini's zh is Mandarin too).
_ESPEAK_LANGUAGE = {"zh": "cmn"}


@dataclass(frozen=True)
class EspeakVoice:
    """One line of `espeak-ng --voices`: the voice's language (its name for -v) and its file."""

    language: str  # e.g. "fr-fr", "en-gb", "es", "es-419"
    file: str  # e.g. "roa/fr": the language's main voice has the file named for the language


@functools.cache
def espeak_voices() -> tuple[EspeakVoice, ...]:
    """The voices the installed espeak-ng has (asked once per process); () without espeak-ng."""
    espeak = shutil.which("espeak-ng")
    if not espeak:
        return ()
    try:
        listing = subprocess.run([espeak, "--voices"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return parse_voices(listing)


def parse_voices(listing: str) -> tuple[EspeakVoice, ...]:
    """`espeak-ng --voices` output: a header, then Pty, Language, Age/Gender, VoiceName, File, ..."""
    voices = []
    for line in listing.splitlines()[1:]:
        columns = line.split()
        if len(columns) >= 5:
            voices.append(EspeakVoice(language=columns[1].lower(), file=columns[4].lower()))
    return tuple(voices)


def voice_for_language(code: str, voices: tuple[EspeakVoice, ...] | None = None) -> str | None:
    """The espeak-ng voice that speaks a BCP-47 code, or None when espeak-ng has none for it.

    The voice of that language and region (fr-FR -> fr-fr, en-US -> en-us, pt-BR -> pt-br),
    else the language's main voice (fr-CA -> fr-fr, es-MX -> es, cmn-CN and zh-CN -> cmn),
    else any voice of the language.
    """
    voices = espeak_voices() if voices is None else voices
    subtags = code.strip().replace("_", "-").lower().split("-")
    language = _ESPEAK_LANGUAGE.get(subtags[0], subtags[0])
    # The region: the first two-letter or three-digit subtag after the language (a script such as Hant is skipped).
    region = next((s for s in subtags[1:] if len(s) == 2 or (len(s) == 3 and s.isdigit())), None)
    same_language = [v for v in voices if v.language == language or v.language.startswith(language + "-")]
    preferences = (
        lambda v: region is not None and v.language == f"{language}-{region}",
        lambda v: v.file.rsplit("/", 1)[-1] == language,
        lambda v: v.language == language,
        lambda v: True,
    )
    for preferred in preferences:
        chosen = next((v for v in same_language if preferred(v)), None)
        if chosen is not None:
            return chosen.language
    return None


def render_speech(text: str, *, voice: str = DEFAULT_VOICE, words_per_minute: int = 160, rate: int = OUTPUT_RATE,
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
    """Synthesizes examiner lines, once per distinct line and voice per process.

    Args:
        voice: espeak-ng voice name: the voice when no other is asked for.
        words_per_minute: espeak-ng speaking rate.
        use_espeak: False forces the tone (None: espeak-ng when installed).
    """

    def __init__(self, *, voice: str = DEFAULT_VOICE, words_per_minute: int = 160, use_espeak: bool | None = None):
        self._voice = voice
        self._wpm = words_per_minute
        self._espeak = shutil.which("espeak-ng") if use_espeak in (None, True) else None
        self._cache: dict[tuple[str, str], asyncio.Future[bytes]] = {}

    @property
    def engine(self) -> str:
        return "espeak-ng" if self._espeak else "tone"

    def voice_for(self, language: str | None) -> str | None:
        """The espeak-ng voice that speaks a language code: this voice's own when no code is
        named or espeak-ng has no voice for it; None when the voice is the tone (no words)."""
        if not self._espeak:
            return None
        return (voice_for_language(language) if language else None) or self._voice

    async def synthesize(self, text: str, *, voice: str | None = None) -> bytes:
        """PCM at 24 kHz for the line in a voice (None: the default one); concurrent requests
        for one line share the work."""
        key = (voice or self._voice, text)
        future = self._cache.get(key)
        if future is None or (future.done() and future.exception()):
            future = asyncio.get_running_loop().create_future()
            self._cache[key] = future
            try:
                future.set_result(await self._render(text, key[0]))
            except Exception as e:  # surfaced to every waiter, and retried next time
                future.set_exception(e)
        return await asyncio.shield(future)

    async def _render(self, text: str, voice: str) -> bytes:
        return await asyncio.to_thread(
            render_speech, text, voice=voice, words_per_minute=self._wpm, use_espeak=bool(self._espeak)
        )
