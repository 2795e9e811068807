"""The turn gate on the recorded corpus (audio/): windows, onset clipping, end-of-turn delay.

Each file is played through the config's VAD and turn gate stages (Pipecat's
VADProcessor and viva's gate, driven by Pipecat's test runner, as fast as they go),
between 1.5 s of silence before and 3 s after. For each file it prints how many
windows opened, how much of the labelled speech onset the first window missed, and
how long after the labelled end of speech the last window closed
(audio/manifest.json has the labels, +-0.1 s).

    uv run python bench/gate_corpus.py [--config configs/ielts_speaking.yaml] [--out docs/gate_corpus.md]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from pathlib import Path

import numpy as np
from loguru import logger
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.tests.utils import run_test

from pipelines.registry import STAGES
from viva.audio import RATE, read_wav
from viva.config import load_config

ROOT = Path(__file__).resolve().parent.parent
FRAME = 320  # 20 ms
LEAD_S, TAIL_S = 1.5, 3.0


class Numbering(FrameProcessor):
    """Remembers each audio frame's position (seconds into the file) as it enters the gate."""

    def __init__(self, positions: dict[int, float]):
        super().__init__()
        self._positions = positions
        self.seen = 0.0

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self.seen = frame.pts / 1e9 if frame.pts else self.seen
            self._positions[id(frame)] = self.seen
        await self.push_frame(frame, direction)


class Observer(FrameProcessor):
    """After the gate: window starts and ends, the audio sent, each stamped with file time."""

    def __init__(self, numbering: Numbering, positions: dict[int, float]):
        super().__init__()
        self._numbering, self._positions = numbering, positions
        self.events: list[tuple[str, float]] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM:
            if isinstance(frame, UserStartedSpeakingFrame):
                self.events.append(("start", self._numbering.seen))
            elif isinstance(frame, UserStoppedSpeakingFrame):
                self.events.append(("stop", self._numbering.seen))
            elif isinstance(frame, InputAudioRawFrame):
                self.events.append(("audio", self._positions.get(id(frame), -1.0)))
        await self.push_frame(frame, direction)


async def measure(samples: np.ndarray, config) -> list[tuple[str, float]]:
    stages = [STAGES[s.name].build(s.params, None) for s in config.stages if s.name in ("silero_vad", "turn_gate")]
    positions: dict[int, float] = {}
    numbering = Numbering(positions)
    observer = Observer(numbering, positions)
    frames = []
    for i in range(0, len(samples) - FRAME + 1, FRAME):
        frame = InputAudioRawFrame(audio=samples[i : i + FRAME].tobytes(), sample_rate=RATE, num_channels=1)
        frame.pts = int((i + FRAME) / RATE * 1e9) - int(LEAD_S * 1e9)  # end of the frame, in file time
        frames.append(frame)
    await run_test(Pipeline([stages[0], numbering, *stages[1:], observer]), frames_to_send=frames,
                   expected_down_frames=None)
    return observer.events


def windows_of(events) -> list[dict]:
    windows, current = [], None
    for kind, t in events:
        if kind == "start":
            current = {"first_audio": None, "end": None}
            windows.append(current)
        elif kind == "audio" and current is not None and current["first_audio"] is None:
            current["first_audio"] = t - FRAME / RATE  # frames are stamped with their end
        elif kind == "stop" and current is not None:
            current["end"] = t
            current = None
    return windows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/ielts_speaking.yaml")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    logger.remove()
    config = load_config(ROOT / args.config)
    manifest = json.loads((ROOT / "audio/manifest.json").read_text())
    rows, delays, clips = [], [], []
    for entry in manifest:
        samples = read_wav(ROOT / "audio" / entry["name"])
        padded = np.concatenate([np.zeros(int(LEAD_S * RATE), np.int16), samples, np.zeros(int(TAIL_S * RATE), np.int16)])
        windows = windows_of(await measure(padded, config))
        segments = entry.get("speech_segments") or []
        kind = entry["kind"].split()[0]
        clip = delay = None
        if segments and windows:
            clip = max(0.0, windows[0]["first_audio"] - segments[0][0]) * 1000
            if windows[-1]["end"] is not None:
                delay = (windows[-1]["end"] - segments[-1][1]) * 1000
        if kind in ("speech", "synthetic") and clip is not None:
            clips.append(clip)
            if delay is not None:
                delays.append(delay)
        rows.append((entry["name"], kind, len(segments), len(windows), clip, delay))
    stop = next(s.params.stop_secs for s in config.stages if s.name == "silero_vad")
    lines = [f"Turn gate on the corpus, config `{args.config}` (VAD stop_secs {stop:.2f} s). "
             f"Regenerate: `uv run python bench/gate_corpus.py --config {args.config}`", "",
             "| file | kind | labelled segments | windows | onset clipped ms | end-of-turn delay ms |", "|---|---|---|---|---|---|"]
    for name, kind, segments, windows, clip, delay in rows:
        lines.append(f"| {name} | {kind} | {segments} | {windows} | "
                     f"{'-' if clip is None else f'{clip:.0f}'} | {'-' if delay is None else f'{delay:.0f}'} |")
    p95 = sorted(delays)[min(len(delays) - 1, round(0.95 * (len(delays) - 1)))] if delays else float("nan")
    lines += ["", f"speech and synthetic files: onset clipped max {max(clips):.0f} ms; end-of-turn delay "
                  f"p50 {statistics.median(delays):.0f} ms, p95 {p95:.0f} ms"]
    noise_windows = sum(r[3] for r in rows if r[1] == "noise")
    lines.append(f"noise files: {noise_windows} windows opened")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    asyncio.run(main())
