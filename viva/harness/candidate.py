"""The simulated candidate: its file (SPEC §3), its sounds, and what it does when.

`CandidateBehavior` decides, from the examiner's audio as played, what the candidate's
microphone hears at each moment: answers after the examiner stops and the reply
delay passes, sounds after an answer, background, the examiner's own voice leaking
back (echo), and "Hello?" when the examiner stays silent. It is a plain class on a
sample clock; the simulated transport drives it in real time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from emulator.voice import espeak_voices, render_speech
from viva.audio import RATE, gain, read_wav
from viva.input_files import format_key_path, read_document, validate

# Bounds on what a file may ask for: an hour of silence or delay is longer than any session,
# and a gain past them is no longer a level; beyond them the numbers only overflow (an
# infinite delay) or fill the memory (years of silence, hours of speech to synthesise).
MAX_SECONDS = 3600.0
MIN_GAIN_DB, MAX_GAIN_DB = -120.0, 60.0
MAX_SPOKEN_CHARACTERS = 50_000  # about an hour of espeak-ng speech in all (some 100 MB of audio)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _seconds(default, *, gt: float | None = None, ge: float | None = None, description: str | None = None):
    return Field(default=default, gt=gt, ge=ge, le=MAX_SECONDS, description=description)


def _gain_db(default: float):
    return Field(default=default, ge=MIN_GAIN_DB, le=MAX_GAIN_DB)


class SoundAfter(_Strict):
    noise: Path
    after_s: float = _seconds(0.0, ge=0)
    gain_db: float = _gain_db(0.0)
    seconds: float | None = _seconds(None, gt=0, description="play only the first seconds of it")


class AnswerItem(_Strict):
    """One answer: recorded audio, words for espeak-ng, silence, or preparing in silence;
    then sounds after it."""

    audio: Path | None = None
    say: str | None = None
    silence_s: float | None = _seconds(None, ge=0)
    prepare: Literal[True] | None = Field(
        default=None, description="silent until the examiner's next turn, however long (a preparation time)")
    then: list[SoundAfter] = Field(default_factory=list)
    barge_in_s: float | None = _seconds(
        None, ge=0, description="speak over the examiner: start this long after its turn begins")

    @model_validator(mode="after")
    def _one_kind(self) -> "AnswerItem":
        if sum(x is not None for x in (self.audio, self.say, self.silence_s, self.prepare)) != 1:
            raise ValueError("an answer is exactly one of audio, say, silence_s or prepare")
        return self


class Background(_Strict):
    audio: Path
    gain_db: float = _gain_db(-25.0)


class Echo(_Strict):
    gain_db: float = _gain_db(-20.0)
    delay_ms: float = Field(default=150.0, ge=0, le=MAX_SECONDS * 1000)


class OnExaminerSilence(_Strict):
    after_s: float = _seconds(6.0, gt=0)
    say: str = Field(default="Hello?", max_length=1000)
    max: int = Field(default=2, ge=0)


class CandidateFile(_Strict):
    name: str
    voice: str = "en-gb"
    reply_delay_s: float = _seconds(0.8, ge=0)
    answers: list[AnswerItem] = Field(min_length=1)
    background: Background | None = None
    echo: Echo | None = None
    on_examiner_silence: OnExaminerSilence | None = None

    @field_validator("voice")
    @classmethod
    def _a_voice_espeak_has(cls, voice: str) -> str:
        """espeak-ng given a voice it does not know says nothing: the candidate would be mute."""
        known = espeak_voices()  # () without espeak-ng: the candidate speaks in a tone, any voice will do
        base = voice.split("+", 1)[0].lower()  # "en-gb+f3": a voice and a variant
        names = {v.language for v in known} | {v.file for v in known} | {v.file.rsplit("/", 1)[-1] for v in known}
        if known and base not in names:
            shown = ", ".join(sorted({v.language for v in known})[:12])
            raise ValueError(f"espeak-ng has no voice {voice!r}; expected a language it speaks, such as {shown}, ... "
                             "(`espeak-ng --voices` lists them)")
        return voice

    @field_validator("answers")
    @classmethod
    def _speech_bounded(cls, answers: list[AnswerItem]) -> list[AnswerItem]:
        if sum(len(item.say or "") for item in answers) > MAX_SPOKEN_CHARACTERS:
            raise ValueError(f"more than {MAX_SPOKEN_CHARACTERS} characters to say in all; expected at most that "
                             "(about an hour of speech)")
        return answers


@dataclass
class Answer:
    audio: np.ndarray  # int16 at 16 kHz; silence_s answers are zeros
    then: list[tuple[float, np.ndarray]]  # (after_s, sound)
    speech_s: float  # seconds of the candidate's own voice (0 for silence)
    source: Path | None = None  # the recording it came from, if any
    barge_in_s: float | None = None  # starts this long into the examiner's turn, over it
    prepare: bool = False  # silent until the examiner's next turn, however long


@dataclass
class Candidate:
    """A candidate file with every sound loaded at 16 kHz."""

    name: str
    path: Path
    reply_delay_s: float
    answers: list[Answer]
    background: np.ndarray | None = None
    echo_gain_db: float | None = None
    echo_delay_s: float = 0.15
    hello: np.ndarray | None = None
    hello_after_s: float = 6.0
    hello_max: int = 0


def load_candidate(path: Path) -> Candidate:
    """Reads a candidate file and its sounds; BadInput naming file, line and key on any problem."""
    path = Path(path)
    data, places = read_document(path)
    spec = validate(CandidateFile, data, places)

    def wav(relative: Path, loc: tuple) -> np.ndarray:
        return read_wav(path.parent / relative, what=f"{places.where(loc)}: {format_key_path(loc)}")

    def speech(text: str) -> np.ndarray:
        return np.frombuffer(render_speech(text, voice=spec.voice, rate=RATE), dtype="<i2").copy()

    answers = []
    for i, item in enumerate(spec.answers):
        if item.audio is not None:
            audio = wav(item.audio, ("answers", i, "audio"))
        elif item.say is not None:
            audio = speech(item.say)
        else:  # silence_s, or prepare: nothing to play
            # A read-only view of one zero sample: the silence's length costs no memory.
            audio = np.broadcast_to(np.int16(0), (int((item.silence_s or 0) * RATE),))
        then = [(s.after_s, gain(wav(s.noise, ("answers", i, "then", j, "noise")), s.gain_db)[
                    : int(s.seconds * RATE) if s.seconds else None])
                for j, s in enumerate(item.then)]
        spoken = item.audio is not None or item.say is not None
        answers.append(Answer(audio=audio, then=then, speech_s=len(audio) / RATE if spoken else 0.0,
                              source=path.parent / item.audio if item.audio else None, barge_in_s=item.barge_in_s,
                              prepare=bool(item.prepare)))
    candidate = Candidate(name=spec.name, path=path, reply_delay_s=spec.reply_delay_s, answers=answers)
    if spec.background:
        candidate.background = gain(wav(spec.background.audio, ("background", "audio")), spec.background.gain_db)
    if spec.echo:
        candidate.echo_gain_db, candidate.echo_delay_s = spec.echo.gain_db, spec.echo.delay_ms / 1000
    if spec.on_examiner_silence and spec.on_examiner_silence.max:
        silence = spec.on_examiner_silence
        candidate.hello, candidate.hello_after_s, candidate.hello_max = speech(silence.say), silence.after_s, silence.max
    return candidate


@dataclass
class _Sound:
    start: int  # sample position on the microphone's clock
    samples: np.ndarray
    kind: str  # "answer", "then", "hello"

    @property
    def end(self) -> int:
        return self.start + len(self.samples)


@dataclass
class CandidateBehavior:
    """What the candidate does, decided on the microphone's sample clock (16 kHz).

    Args:
        candidate: the loaded candidate.
        examiner_gap_s: examiner audio that resumes within this gap is the same turn.
    """

    candidate: Candidate
    examiner_gap_s: float = 0.4
    sounds: list[_Sound] = field(default_factory=list)
    examiner_turns: int = 0
    answers_started: int = 0
    hellos: int = 0
    _examiner_active: bool = False
    _reply: _Sound | None = None  # scheduled, not yet started
    _last_answer_end: int | None = None
    _barged_in: bool = False  # this examiner turn's answer already started over it
    log: list[tuple[float, str]] = field(default_factory=list)
    answer_starts: list[tuple[int, Answer]] = field(default_factory=list)  # (sample position, answer)

    def step(self, now: int, *, examiner_playing_until: int | None) -> None:
        """Decides at sample position now, given when the examiner's audio (as played) ends."""
        speaking = examiner_playing_until is not None and now < examiner_playing_until + self.examiner_gap_s * RATE
        if speaking and not self._examiner_active:
            self._examiner_active = True
            if self._reply is not None and self._reply.start > now:
                # The examiner went on after a pause: the same turn, so the answer waits.
                self._unschedule(self._reply)
            elif self._next_answer().barge_in_s is not None and not self._barged_in:
                self._barged_in = True
                self._schedule_answer(now + int(self._next_answer().barge_in_s * RATE))
        elif not speaking and self._examiner_active:
            self._examiner_active = False
            self.examiner_turns += 1
            if self._barged_in:
                self._barged_in = False  # the answer to this turn was given over it
            else:
                self._schedule_answer(examiner_playing_until + int(self.candidate.reply_delay_s * RATE))
        self._maybe_say_hello(now)
        if self._reply is not None and now >= self._reply.start:
            self._reply = None
        self.sounds = [s for s in self.sounds if s.end > now - RATE]

    def _next_answer(self) -> Answer:
        answers = self.candidate.answers
        return answers[min(self.answers_started, len(answers) - 1)]

    def _schedule_answer(self, start: int) -> None:
        answer = self._next_answer()
        self.answers_started += 1
        self._reply = _Sound(start, answer.audio, "answer" if answer.speech_s else "silence")
        self.sounds.append(self._reply)
        end = self._reply.end
        for after_s, sound in answer.then:
            self.sounds.append(_Sound(end + int(after_s * RATE), sound, "then"))
        # Preparing, the candidate waits for the examiner however long it takes: no "Hello?".
        self._last_answer_end = None if answer.prepare else end
        self.hellos = 0
        self.answer_starts.append((start, answer))
        self.log.append((start / RATE, f"{'prepare' if answer.prepare else 'answer'} {self.answers_started}"))

    def _unschedule(self, reply: _Sound) -> None:
        self.sounds = [s for s in self.sounds if not (s is reply or (s.kind == "then" and s.start >= reply.end))]
        self._reply = None
        self.answers_started -= 1
        self.examiner_turns -= 1
        self.answer_starts.pop()
        self._last_answer_end = None
        self.log.append((reply.start / RATE, "answer withdrawn"))

    def _maybe_say_hello(self, now: int) -> None:
        c = self.candidate
        if c.hello is None or self._examiner_active or self._last_answer_end is None or self.hellos >= c.hello_max:
            return
        if now >= self._last_answer_end + int(c.hello_after_s * RATE):
            hello = _Sound(now, c.hello, "hello")
            self.sounds.append(hello)
            self._last_answer_end = hello.end
            self.hellos += 1
            self.log.append((now / RATE, "hello"))

    def render(self, start: int, count: int, *, examiner: np.ndarray | None = None) -> np.ndarray:
        """The microphone's samples [start, start+count): the candidate's sounds, background and echo.

        examiner: the examiner's audio as played over the same span delayed by the echo
        delay (the caller keeps the speaker's history), or None.
        """
        mix = np.zeros(count, dtype=np.float32)
        for sound in self.sounds:
            lo, hi = max(start, sound.start), min(start + count, sound.end)
            if lo < hi:
                mix[lo - start : hi - start] += sound.samples[lo - sound.start : hi - sound.start]
        background = self.candidate.background
        if background is not None and len(background):
            index = (np.arange(start, start + count)) % len(background)
            mix += background[index]
        if examiner is not None and self.candidate.echo_gain_db is not None:
            mix += examiner.astype(np.float32) * 10 ** (self.candidate.echo_gain_db / 20)
        return np.clip(mix, -32768, 32767).astype(np.int16)

    def candidate_speaking(self, now: int) -> bool:
        return any(s.kind in ("answer", "hello") and s.start <= now < s.end for s in self.sounds)
