"""The simulated candidate: its file, and what its microphone hears when (sample clock)."""

import numpy as np
import pytest

from tests.conftest import ROOT, read_pcm
from viva.audio import RATE
from viva.errors import BadInput
from viva.harness.candidate import Answer, Candidate, CandidateBehavior, load_candidate

S = RATE  # samples per second


def candidate(**overrides) -> Candidate:
    answers = [Answer(audio=np.full(2 * S, 1000, np.int16), then=[], speech_s=2.0),
               Answer(audio=np.full(1 * S, 2000, np.int16), then=[(0.5, np.full(S // 2, 300, np.int16))], speech_s=1.0)]
    values = dict(name="t", path=ROOT, reply_delay_s=0.8, answers=answers)
    values.update(overrides)
    return Candidate(**values)


def run(behavior: CandidateBehavior, examiner_until, seconds: float, step: int = 320) -> np.ndarray:
    """Steps the behavior like the transport does; returns the microphone signal."""
    out = []
    for position in range(0, int(seconds * S), step):
        until = examiner_until(position) if callable(examiner_until) else examiner_until
        behavior.step(position, examiner_playing_until=until)
        out.append(behavior.render(position, step))
    return np.concatenate(out)


def test_the_answer_comes_after_the_examiner_stops_and_the_reply_delay():
    behavior = CandidateBehavior(candidate())
    mic = run(behavior, lambda p: 3 * S if p >= int(0.5 * S) else None, 8)
    first = np.flatnonzero(mic == 1000)
    assert first[0] == 3 * S + int(0.8 * S)  # to the sample: the end of the examiner's audio + reply_delay_s
    assert len(first) == 2 * S
    assert behavior.examiner_turns == 1 and behavior.answers_started == 1


def test_answers_follow_examiner_turns_in_order_and_the_last_repeats():
    behavior = CandidateBehavior(candidate())
    turns = [(0.0, 1.0), (5.0, 6.0), (9.0, 10.0), (13.0, 14.0)]

    def examiner(position):
        played = [end * S for start, end in turns if start * S <= position]
        return int(played[-1]) if played else None

    mic = run(behavior, examiner, 17)
    assert behavior.answers_started == 4
    assert (mic == 2000).sum() == 3 * S  # answers 2, 3 and 4 are the last item
    assert (mic == 300).sum() == 3 * (S // 2)  # its sound after, each time


def test_examiner_speaking_again_cancels_a_reply_not_yet_started():
    behavior = CandidateBehavior(candidate(reply_delay_s=2.0))
    mic = run(behavior, lambda p: 1 * S if p < int(1.6 * S) else 3 * S, 7)
    first = np.flatnonzero(mic == 1000)
    assert first[0] >= 5 * S  # answered after the second burst, not the first
    assert behavior.answers_started == 1 and behavior.examiner_turns == 1
    assert (mic == 1000).sum() == 2 * S and (mic == 2000).sum() == 0


def test_a_barge_in_answer_starts_over_the_examiner_and_is_not_repeated_after_it():
    answers = [Answer(audio=np.full(1 * S, 1000, np.int16), then=[], speech_s=1.0, barge_in_s=1.5),
               Answer(audio=np.full(1 * S, 2000, np.int16), then=[], speech_s=1.0)]
    behavior = CandidateBehavior(candidate(answers=answers))
    # the examiner speaks from 1 s to 6 s, then again from 9 s
    mic = run(behavior, lambda p: None if p < S else (6 * S if p < 9 * S else 11 * S), 14)
    first = np.flatnonzero(mic == 1000)
    assert first[0] == pytest.approx(2.5 * S, abs=0.03 * S)  # 1.5 s into the examiner's turn
    assert len(first) == S  # once: the end of that turn does not start another answer
    second = np.flatnonzero(mic == 2000)
    assert second[0] == 11 * S + int(0.8 * S)  # the next answer waits as usual: the examiner's end + reply_delay_s
    assert behavior.answers_started == 2


def test_hello_when_the_examiner_stays_silent_at_most_max_times():
    hello = np.full(S // 2, 777, np.int16)
    behavior = CandidateBehavior(candidate(hello=hello, hello_after_s=2.0, hello_max=2))
    mic = run(behavior, S, 14)
    assert behavior.hellos == 2
    starts = np.flatnonzero(np.diff((mic == 777).astype(int)) == 1) + 1
    answer_end = np.flatnonzero(mic == 1000)[-1]
    assert starts[0] - answer_end == pytest.approx(2 * S, abs=400)
    assert starts[1] - starts[0] == pytest.approx(2.5 * S, abs=400)  # after the first hello ended


def test_echo_and_background_are_mixed_in():
    background = np.full(S, 10, np.int16)
    behavior = CandidateBehavior(candidate(background=background, echo_gain_db=-20.0))
    mic = behavior.render(0, 320, examiner=np.full(320, 10000, np.int16))
    assert np.all(mic == 10 + 1000)


def test_the_shipped_candidate_loads_real_speech():
    loaded = load_candidate(ROOT / "candidates/b2_steady.yaml")
    assert len(loaded.answers) == 8
    assert np.array_equal(loaded.answers[0].audio, np.frombuffer(read_pcm("speech__cmu_arctic_aew_a0001.wav"), "<i2"))


def test_say_items_are_spoken_and_wavs_of_other_rates_are_converted(tmp_path):
    import wave

    stereo = tmp_path / "stereo48k.wav"
    with wave.open(str(stereo), "wb") as wav:
        wav.setnchannels(2), wav.setsampwidth(2), wav.setframerate(48000)
        wav.writeframes(np.zeros(48000 * 2, "<i2").tobytes())
    (tmp_path / "c.yaml").write_text("name: c\nanswers:\n  - say: I live in a small town.\n  - audio: stereo48k.wav\n")
    loaded = load_candidate(tmp_path / "c.yaml")
    assert loaded.answers[0].speech_s > 1.0 and np.abs(loaded.answers[0].audio).max() > 1000
    assert len(loaded.answers[1].audio) == RATE


@pytest.mark.parametrize("text, expected", [
    ("name: c\nanswers:\n  - audio: nowhere.wav\n", r"c.yaml:3: answers\[0\].audio: .*nowhere.wav: no such file"),
    ("name: c\nanswers:\n  - audio: corrupt.wav\n", r"c.yaml:3: answers\[0\].audio: .*corrupt.wav: not a readable PCM WAV"),
    ("name: c\nanswers:\n  - say: hi\n    audio: x.wav\n", r"c.yaml:3: answers\[0\]: an answer is exactly one"),
    ("name: c\nanswers: []\n", r"c.yaml:2: answers: List should have at least 1 item"),
    ("name: c\nanswers:\n  - silence_s: 2\nmood: calm\n", r"c.yaml:4: mood: unknown key; expected one of: name, voice"),
    # Numbers past what a candidate can mean: a MemoryError (1e12 s of silence) or an OverflowError
    # (an infinite silence, a gain of 10^(1e10/20)) before they were bounded.
    ("name: c\nanswers:\n  - silence_s: 1e12\n", r"c.yaml:3: answers\[0\].silence_s: Input should be less than or "
     r"equal to 3600"),
    ("name: c\nanswers:\n  - silence_s: .inf\n", r"c.yaml:3: answers\[0\].silence_s: Input should be less than or "
     r"equal to 3600"),
    ("name: c\nanswers:\n  - silence_s: 1\nbackground: {audio: corrupt.wav, gain_db: 1e10}\n",
     r"c.yaml:4: background.gain_db: Input should be less than or equal to 60"),
    ("name: c\nanswers:\n" + "  - say: " + "la " * 10_000 + "\n" + "  - say: " + "la " * 10_000 + "\n",
     r"c.yaml:2: answers: more than 50000 characters to say in all"),
    ("name: c\nanswers: &a [{silence_s: 1}, {silence_s: 1}, {silence_s: 1}, {silence_s: 1}]\n"
     "more: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "most: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
     "all: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
     r"c.yaml:5: aliases expand past 100000 values"),
])
def test_a_bad_candidate_file_is_one_clear_line(tmp_path, text, expected):
    import re

    (tmp_path / "corrupt.wav").write_bytes(b"RIFF1234WAVEnot really")
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(BadInput) as error:
        load_candidate(tmp_path / "c.yaml")
    assert re.search(expected, str(error.value)), str(error.value)


def test_a_fifo_for_an_answers_wav_is_refused_without_waiting_for_a_writer(tmp_path):
    import os

    os.mkfifo(tmp_path / "answer.wav")
    (tmp_path / "c.yaml").write_text("name: c\nanswers:\n  - audio: answer.wav\n")
    with pytest.raises(BadInput, match=r"c.yaml:3: answers\[0\].audio: .*answer.wav: not a regular file"):
        load_candidate(tmp_path / "c.yaml")


def test_a_preparing_candidate_is_silent_until_the_examiners_next_turn_and_says_no_hello():
    prepare = Answer(audio=np.zeros(0, np.int16), then=[], speech_s=0.0, prepare=True)
    answer = Answer(audio=np.full(1 * S, 2000, np.int16), then=[], speech_s=1.0)
    behavior = CandidateBehavior(candidate(answers=[prepare, answer], hello=np.full(S // 2, 700, np.int16),
                                           hello_after_s=2.0, hello_max=2))
    turns = [(0.0, 1.0), (31.0, 32.0)]  # the cue card, then 30 s later "please start now"

    def examiner(position):
        played = [end * S for start, end in turns if start * S <= position]
        return int(played[-1]) if played else None

    mic = run(behavior, examiner, 35)
    assert not mic[: 32 * S].any()  # 31 s of silence, however long: no answer, no "Hello?"
    spoken = np.flatnonzero(mic == 2000)
    assert spoken[0] == 32 * S + int(0.8 * S) and len(spoken) == S  # the answer follows the start cue
    assert behavior.hellos == 0


def test_prepare_in_a_candidate_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: p\nanswers:\n  - prepare: true\n  - silence_s: 1\n")
    loaded = load_candidate(path)
    assert [a.prepare for a in loaded.answers] == [True, False]
    assert loaded.answers[0].speech_s == 0 and len(loaded.answers[0].audio) == 0
    path.write_text("name: p\nanswers:\n  - prepare: true\n    silence_s: 1\n")
    with pytest.raises(BadInput, match="exactly one of audio, say, silence_s or prepare"):
        load_candidate(path)


def test_a_voice_espeak_does_not_have_is_refused_rather_than_a_mute_candidate(tmp_path, monkeypatch):
    from emulator.voice import parse_voices
    from viva.harness import candidate

    # The voices as `espeak-ng --voices` lists them, fixed here so the test does not depend on the install.
    listing = ("Pty Language       Age/Gender VoiceName          File                 Other Languages\n"
               " 5  en-gb           --/M      English_(Great_Britain) gmw/en\n"
               " 5  fr-fr           --/M      French_(France)    roa/fr\n")
    monkeypatch.setattr(candidate, "espeak_voices", lambda: parse_voices(listing))
    (tmp_path / "c.yaml").write_text("name: c\nvoice: klingon\nanswers:\n  - say: hi\n")
    with pytest.raises(BadInput, match=r"c.yaml:2: voice: espeak-ng has no voice 'klingon'; expected a language it "
                                       r"speaks, such as en-gb, fr-fr"):
        load_candidate(tmp_path / "c.yaml")
    for voice in ("fr-fr+f3", "en", "gmw/en"):  # a language with a variant, a file's name, a file
        (tmp_path / "c.yaml").write_text(f"name: c\nvoice: {voice}\nanswers:\n  - say: bonjour\n")
        load_candidate(tmp_path / "c.yaml")
