"""The turn gate on the recorded corpus (audio/): windows, onset clipping, end-of-turn delay.

Each file is played through the config's VAD and turn gate stages (Pipecat's
VADProcessor and viva's gate, driven by Pipecat's test runner, as fast as they go),
between 1.5 s of silence before and 3 s after. For each file it prints how many
windows opened, how much of the labelled speech onset the first window missed, and
how long after the labelled end of speech the last window closed
(audio/manifest.json has the labels, +-0.1 s).

    uv run python bench/gate_corpus.py [--config configs/ielts_speaking.yaml] [--out docs/gate_corpus.md]
        [--curve 0.8,1.2,1.0/2.5]   # smart_turn points END_SILENCE_S[/MIN_ANSWER_S] (default: CURVE)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

import numpy as np
from loguru import logger
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.tests.utils import run_test

from viva.audio import RATE, read_wav
from viva.config import load_config
from viva.pipelines.registry import build_stage
from viva.processors.end_of_turn import smart_turn_model

ROOT = Path(__file__).resolve().parent.parent
FRAME = 320  # 20 ms
LEAD_S, TAIL_S = 1.5, 3.0


class Observer(FrameProcessor):
    """After the gate: the audio it sent, each frame stamped with its file time (its end)."""

    def __init__(self):
        super().__init__()
        self.sent: list[float] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM and isinstance(frame, InputAudioRawFrame):
            self.sent.append(frame.pts / 1e9)
        await self.push_frame(frame, direction)


async def measure(samples: np.ndarray, stages) -> list[dict]:
    """The windows the gate opened on these samples: when each opened and closed, its first audio."""
    windows: list[dict] = []

    def on_event(kind: str, at_s: float, **fields) -> None:
        if kind == "window_opened":
            windows.append({"opened": at_s - LEAD_S, "end": None})
        elif kind == "window_closed":
            windows[-1]["end"] = at_s - LEAD_S

    stages[1]._on_event = on_event
    observer = Observer()
    frames = []
    for i in range(0, len(samples) - FRAME + 1, FRAME):
        frame = InputAudioRawFrame(audio=samples[i : i + FRAME].tobytes(), sample_rate=RATE, num_channels=1)
        frame.pts = int((i + FRAME) / RATE * 1e9) - int(LEAD_S * 1e9)  # end of the frame, in file time
        frames.append(frame)
    await run_test(Pipeline([*stages, observer]), frames_to_send=frames, expected_down_frames=None)
    # Audio goes out in order and a window starts with its pre-roll: its first frame is the
    # first one sent after the previous window's last.
    sent = iter(observer.sent)
    for window in windows:
        window["first_audio"] = next(sent, window["opened"]) - FRAME / RATE
        for t in sent:
            if window["end"] is not None and t >= window["end"]:
                break
    return windows


def gate_stages(config, end_of_turn: str, **changes):
    """The config's VAD and turn gate, with the gate deciding ends of turn by `end_of_turn`."""
    specs = {s.name: s.params for s in config.stages}
    gate = specs["turn_gate"].model_copy(update={"end_of_turn": end_of_turn, **changes})
    return [build_stage("silero_vad", specs["silero_vad"], None), build_stage("turn_gate", gate, None)]


def expected_windows(entry) -> int:
    """One per answer: a speech file is one answer; in a scenario, each speaker's run is one."""
    segments = entry.get("speech_segments") or []
    if not segments:
        return 0
    speakers = [segment[2] if len(segment) > 2 else None for segment in segments]
    return 1 + sum(1 for a, b in zip(speakers, speakers[1:], strict=False) if a != b)


def percentile(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, round(q * (len(values) - 1)))] if values else float("nan")


class TimedModel:
    """The end-of-turn model, timing each judgement (compute the audio clock does not see)."""

    def __init__(self, model):
        self.model, self.times_ms = model, []

    def __call__(self, audio: bytes, sample_rate: int) -> float:
        start = time.perf_counter()
        try:
            return self.model(audio, sample_rate)
        finally:
            self.times_ms.append((time.perf_counter() - start) * 1000)


async def run_variant(config, manifest, end_of_turn: str, timed: TimedModel, **changes) -> list[dict]:
    rows = []
    for entry in manifest:
        samples = read_wav(ROOT / "audio" / entry["name"])
        padded = np.concatenate([np.zeros(int(LEAD_S * RATE), np.int16), samples, np.zeros(int(TAIL_S * RATE), np.int16)])
        stages = gate_stages(config, end_of_turn, **changes)
        verdicts: list[tuple[float, float]] = []  # (file time, probability) of each judgement
        if end_of_turn == "smart_turn":
            def judged(audio: bytes, sample_rate: int, gate=stages[1].gate) -> float:
                probability = timed(audio, sample_rate)
                verdicts.append((gate.now_s - LEAD_S, probability))
                return probability
            stages[1]._model = judged
        windows = await measure(padded, stages)
        segments = entry.get("speech_segments") or []
        clip = delay = None
        if segments and windows:
            clip = max(0.0, windows[0]["first_audio"] - segments[0][0]) * 1000
            if windows[-1]["end"] is not None:
                delay = (windows[-1]["end"] - segments[-1][1]) * 1000
        rows.append({"name": entry["name"], "kind": entry["kind"].split()[0], "segments": len(segments),
                     "expected": expected_windows(entry), "windows": len(windows), "clip": clip, "delay": delay,
                     "verdicts": [(p, "pause" if t < segments[-1][1] else "end") for t, p in verdicts]})
    return rows


def summary(rows: list[dict]) -> tuple[str, dict]:
    answers = [r for r in rows if r["kind"] in ("speech", "synthetic")]
    delays = [r["delay"] for r in answers if r["delay"] is not None]
    clips = [r["clip"] for r in answers if r["clip"] is not None]
    figures = {
        "right": sum(r["windows"] == r["expected"] for r in rows), "files": len(rows),
        "split": sum(r["windows"] > r["expected"] for r in answers), "answers": len(answers),
        "noise_windows": sum(r["windows"] for r in rows if r["kind"] == "noise"),
        "clip_max": max(clips), "p50": statistics.median(delays), "p95": percentile(delays, 0.95),
    }
    return (f"{figures['right']}/{figures['files']} files with the expected windows; answers split "
            f"{figures['split']}/{figures['answers']}; noise files opened {figures['noise_windows']}; onset clipped "
            f"at most {figures['clip_max']:.0f} ms; end-of-turn delay p50 {figures['p50']:.0f} ms, p95 "
            f"{figures['p95']:.0f} ms"), figures


def point(text: str) -> tuple[float, float, float]:
    """A point of the curve: "END_SILENCE_S[/MIN_ANSWER_S[/THRESHOLD]]"."""
    given = [float(x) for x in text.split("/")]
    end_silence, min_answer, threshold = given + [None, 0.0, 0.5][len(given):]  # defaults for the rest
    return end_silence, min_answer, threshold


# The trade-off curve: smart_turn's wait after a complete verdict (end_silence_s), how much of
# an answer must be voiced before Smart Turn may end it (min_answer_s), and how sure it must
# be (smart_turn_threshold).
CURVE = ["0.6", "0.8", "1.0", "1.1", "1.2", "1.3", "0.6/0/0.95", "0.8/0/0.95", "1.0/0/0.95",
         "0.6/2.5", "0.8/2.5", "0.9/2.5", "1.0/2.5"]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/ielts_speaking.yaml")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--curve", type=lambda text: [point(x) for x in text.split(",")],
                        default=[point(x) for x in CURVE],
                        help="smart_turn points: END_SILENCE_S[/MIN_ANSWER_S[/THRESHOLD]],... (default: CURVE)")
    args = parser.parse_args()
    logger.remove()
    config = load_config(ROOT / args.config)
    manifest = json.loads((ROOT / "audio/manifest.json").read_text())
    specs = {s.name: s.params for s in config.stages}
    gate, vad = specs["turn_gate"], specs["silero_vad"]
    timed = TimedModel(smart_turn_model())
    variants = {name: await run_variant(config, manifest, name, timed) for name in ("silence", "smart_turn")}
    chosen = gate.end_of_turn
    fmt = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
    lines = [
        f"The turn gate on the corpus (audio/, labels from audio/manifest.json), config `{args.config}`: "
        f"VAD stop_secs {vad.stop_secs:.2f} s, confirm_s {gate.confirm_s:.2f} s, pause_tolerance_s "
        f"{gate.pause_tolerance_s:.2f} s; smart_turn closes at end_silence_s {gate.end_silence_s:.2f} s when "
        f"Smart Turn calls the turn complete, once min_answer_s {gate.min_answer_s:.1f} s of the answer is voiced "
        f"(before, a pause waits pause_tolerance_s). The config uses `{chosen}`.",
        f"Regenerate: `uv run python bench/gate_corpus.py --config {args.config} --out docs/gate_corpus.md`", "",
        "Expected windows: one per answer (a speech file is one answer, pauses and all; a scenario has one per "
        "speaker's turn), none for noise. Onset clipped: labelled speech start to the first audio sent. Delay: "
        "labelled end of speech to activityEnd (last window's close).", "",
        "| file | kind | expected | windows (silence) | delay ms (silence) | windows (smart_turn) | delay ms (smart_turn) | onset clipped ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for silence, smart in zip(variants["silence"], variants["smart_turn"], strict=True):
        lines.append(f"| {silence['name']} | {silence['kind']} | {silence['expected']} | {silence['windows']} | "
                     f"{fmt(silence['delay'])} | {smart['windows']} | {fmt(smart['delay'])} | {fmt(silence['clip'])} |")
    lines.append("")
    for name, rows in variants.items():
        lines.append(f"- **{name}**: {summary(rows)[0]}")
    # Every pause put to Smart Turn (none closes a window early here): does its probability
    # tell a pause inside an answer from the answer's end?
    asked = await run_variant(config, manifest, "smart_turn", timed, end_silence_s=gate.pause_tolerance_s,
                              min_answer_s=0.0)
    for where in ("pause", "end"):
        probabilities = sorted(p for r in asked if r["kind"] in ("speech", "synthetic")
                               for p, kind in r["verdicts"] if kind == where)
        lines.append(f"- Smart Turn's probability at {'pauses inside answers' if where == 'pause' else 'the ends of answers'}"
                     f": {len(probabilities)} judgements, median {statistics.median(probabilities):.2f}, "
                     f"{sum(p >= 0.9 for p in probabilities)} at 0.9 or more, {sum(p <= 0.5 for p in probabilities)} "
                     f"at 0.5 or less")
    lines += ["", "The trade-off: smart_turn at other settings (every other parameter as the config's). An answer "
              "is split when it got more windows than it has answers.", "",
              "| end_silence_s | min_answer_s | smart_turn_threshold | end-of-turn p50 ms | p95 ms | answers split "
              "| which | noise windows |",
              "|---|---|---|---|---|---|---|---|"]
    for end_silence, min_answer, threshold in args.curve:
        rows = await run_variant(config, manifest, "smart_turn", timed, end_silence_s=end_silence,
                                 min_answer_s=min_answer, smart_turn_threshold=threshold)
        _, figures = summary(rows)
        split = ", ".join(r["name"].removesuffix(".wav") for r in rows
                          if r["kind"] in ("speech", "synthetic") and r["windows"] > r["expected"])
        is_config = (end_silence, min_answer, threshold) == (gate.end_silence_s, gate.min_answer_s,
                                                           gate.smart_turn_threshold)
        lines.append(f"| {end_silence:.2f}{' (config)' if is_config else ''} | {min_answer:.1f} | {threshold:.2f} | "
                     f"{figures['p50']:.0f} | {figures['p95']:.0f} | "
                     f"{figures['split']}/{figures['answers']} | {split or '-'} | {figures['noise_windows']} |")
    lines.append(f"Smart Turn judgements: {len(timed.times_ms)}, compute p50 {statistics.median(timed.times_ms):.0f} ms "
                 f"(run while the silence goes on, inside end_silence_s, so it adds nothing to the delay)")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    asyncio.run(main())
