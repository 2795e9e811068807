"""The turn gate's own cost per 20 ms audio frame, beyond Silero VAD.

The audio is a realistic stretch of the corpus (audio/), repeated: 1 s of silence, a
read sentence (LibriVox), 2 s of silence, 3 s of kitchen noise with a faint word in it,
"one, two, three", 2 s of silence. It is analysed once, frame by frame, by the VAD stage's analyzer
(VoicingSileroAnalyzer, with the silero_vad stage's default parameters): that gives each
frame its voicing mark and the VAD's speech starts and stops (as Pipecat's VADController
derives them from the VADState), and Silero's cost per frame (analyzer time / frames).

Then only the gate is timed: the precomputed frames and events are replayed into a fresh
TurnGate(GateSettings(end_of_turn="silence")) REPEATS times (perf_counter_ns around the
whole replay; the replay loop itself is counted as the gate's, so the figure errs high),
in three scenarios: plain; the examiner speaking throughout (barge-in thresholds); a
blocking tool call pending for the first half (the gate defers, then releases).
Goal: under 50 µs per frame.

    uv run python bench/gate_cost.py
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from pathlib import Path

import numpy as np
from loguru import logger
from pipecat.audio.vad.vad_analyzer import VADParams, VADState
from pipecat.frames.frames import InputAudioRawFrame

from viva.audio import RATE, gain, read_wav
from viva.pipelines.registry import GateSettings, SileroVadParams
from viva.processors.turn_gate import OpenWindow, Rejected, TurnGate
from viva.processors.voicing_vad import VOICING, VoicingSileroAnalyzer

ROOT = Path(__file__).resolve().parent.parent
FRAME = 320  # samples: 20 ms at 16 kHz
REPEATS = 20
BLOCKS = 3  # 3 x 17.85 s of audio
GOAL_US = 50.0
NONE, START, STOP = 0, 1, 2


def burst() -> np.ndarray:
    """3 s of kitchen clatter with a faint word in it (the production burst): the VAD starts on
    it and the gate must reject it."""
    noise = read_wav(ROOT / "audio/noise__kitchen_dishes_ambience_12s.wav")[: 3 * RATE].astype(np.int32)
    word = gain(read_wav(ROOT / "audio/speech__uberi_one_two_three.wav")[: int(0.6 * RATE)], -6)
    noise[RATE : RATE + len(word)] += word
    return np.clip(noise, -32768, 32767).astype(np.int16)


def sequence() -> tuple[np.ndarray, list[str]]:
    """The audio, and for each sample run a label (what it is), built from the corpus."""
    def silence(s: float) -> np.ndarray:
        return np.zeros(int(s * RATE), dtype=np.int16)

    parts = [("silence", silence(1)),
             ("speech", read_wav(ROOT / "audio/speech__librivox_sense_and_sensibility_0870.wav")),
             ("silence", silence(2)),
             ("noise", burst()),
             ("speech", read_wav(ROOT / "audio/speech__uberi_one_two_three.wav")),
             ("silence", silence(2))] * BLOCKS
    audio = np.concatenate([samples for _, samples in parts])
    labels = [label for label, samples in parts for _ in range(len(samples))]
    return audio, labels


def analyse(audio: np.ndarray) -> tuple[list[tuple[InputAudioRawFrame, int]], int]:
    """Each frame, marked with its voicing, with the VAD event before it; and Silero's total ns."""
    analyzer = VoicingSileroAnalyzer(params=VADParams(**SileroVadParams().model_dump()))
    analyzer.set_sample_rate(RATE)
    state, frames, silero_ns = VADState.QUIET, [], 0
    for i in range(0, len(audio) - FRAME + 1, FRAME):
        frame = InputAudioRawFrame(audio=audio[i : i + FRAME].tobytes(), sample_rate=RATE, num_channels=1)
        start = time.perf_counter_ns()
        new = analyzer._run_analyzer(frame.audio)
        frame.metadata[VOICING] = analyzer.take()
        silero_ns += time.perf_counter_ns() - start
        event = NONE  # as VADController: STARTING and STOPPING are no transitions
        if new != state and new in (VADState.SPEAKING, VADState.QUIET):
            event = START if new == VADState.SPEAKING else STOP
            state = new
        frames.append((frame, event))
    return frames, silero_ns


def replay(gate: TurnGate, frames, actions: list | None = None) -> None:
    """The VAD's event first (the VAD stage pushes it before the frame), then the frame."""
    for frame, event in frames:
        if event == START:
            out = gate.on_speech_start()
        elif event == STOP:
            out = gate.on_speech_stop()
        else:
            out = None
        if actions is not None and out:
            actions += [(a, gate.now_s) for a in out]
        out = gate.on_audio(frame)
        if actions is not None and out:
            actions += [(a, gate.now_s) for a in out]


def run(scenario: str, frames, actions: list | None = None) -> None:
    gate = TurnGate(GateSettings(end_of_turn="silence"))
    if scenario == "examiner speaking":
        gate.on_examiner(True)
    if scenario == "tool call, 1st half":
        half = len(frames) // 2
        gate.on_tool_call("c1", True)
        replay(gate, frames[:half], actions)
        released = gate.on_tool_call("c1", False)
        if actions is not None:
            actions += [(a, None) for a in released]  # no telling when they were decided
        replay(gate, frames[half:], actions)
    else:
        replay(gate, frames, actions)


def main() -> None:
    logger.remove()
    audio, labels = sequence()
    frames, silero_ns = analyse(audio)
    silero_us = silero_ns / len(frames) / 1000
    print(f"audio: {len(audio) / RATE:.1f} s, {len(frames)} frames of 20 ms; "
          f"VAD starts {sum(e == START for _, e in frames)}, stops {sum(e == STOP for _, e in frames)}")
    print(f"{'scenario':<22}{'frames':>7}{'gate µs/frame':>15}{'(best)':>8}{'Silero µs':>11}"
          f"{'gate/Silero':>12}{'rejected':>10}{'windows':>9} (opened in)")
    worst = 0.0
    for scenario in ("plain", "examiner speaking", "tool call, 1st half"):
        actions: list = []
        run(scenario, frames, actions)  # untimed: what the gate did
        kinds = Counter("deferred" if at is None else labels[min(len(labels), round(at * RATE)) - 1]
                        for a, at in actions if isinstance(a, OpenWindow))
        rejected = sum(isinstance(a, Rejected) for a, _ in actions)
        times = []
        for _ in range(REPEATS):
            start = time.perf_counter_ns()
            run(scenario, frames)
            times.append((time.perf_counter_ns() - start) / len(frames) / 1000)
        median, best = statistics.median(times), min(times)
        worst = max(worst, median)
        where = ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items()))
        print(f"{scenario:<22}{len(frames):>7}{median:>15.2f}{best:>8.2f}{silero_us:>11.1f}"
              f"{median / silero_us:>12.3f}{rejected:>10}{kinds.total():>9} ({where})")
    print(f"goal: < {GOAL_US:.0f} µs per frame: {'met' if worst < GOAL_US else 'not met'}"
          f" (worst median {worst:.2f} µs)")


if __name__ == "__main__":
    main()
