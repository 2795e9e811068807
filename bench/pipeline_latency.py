"""The latency viva's pipeline adds, measured on simulated sessions against the emulator.

1. End of speech: from the true end of the candidate's speech (the answer's start on
   the microphone plus the labelled end of speech in the recording, audio/manifest.json)
   to the activityEnd the emulator receives; of that, the turn gate's own wait (the
   silence it needs, or Smart Turn's verdict), and what the pipeline adds after the
   gate decided (its window_closed event) until the emulator has the activityEnd.
2. Examiner audio: from the emulator sending the first audio of a turn to that audio
   starting to play at the output transport.

Everything runs in one process on one clock (time.monotonic). Goal: under 30 ms at p95 for
what the pipeline adds (the gate's wait is a choice: docs/gate_corpus.md).

    uv run python bench/pipeline_latency.py            # 3 sessions of the short config at once
    uv run python bench/pipeline_latency.py --runs 6
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from pathlib import Path

from loguru import logger

from emulator.server import EmulatorServer
from emulator.session import SessionSettings
from emulator.voice import ExaminerVoice
from pipelines.context import LLMTarget
from viva.audio import RATE
from viva.candidate import load_candidate
from viva.config import load_config
from viva.simulation import simulate_session

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = {e["name"]: e for e in json.loads((ROOT / "audio/manifest.json").read_text())}


def speech_end_s(source: Path) -> float:
    return MANIFEST[source.name]["speech_segments"][-1][1]


def first_after(times: list[float], t: float) -> float | None:
    return next((x for x in sorted(times) if x >= t), None)


def describe(name: str, values_ms: list[float]) -> str:
    values = sorted(values_ms)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return (f"{name:<44} n={len(values):>3}  p50 {statistics.median(values):6.1f} ms  "
            f"p95 {p95:6.1f} ms  max {values[-1]:6.1f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--config", default="configs/ielts_speaking_short.yaml")
    parser.add_argument("--candidate", default="candidates/b2_steady.yaml")
    args = parser.parse_args()
    logger.remove()

    config = load_config(ROOT / args.config)
    candidate = load_candidate(ROOT / args.candidate)
    stop_secs = next(s.params.stop_secs for s in config.stages if s.name == "silero_vad")
    out = Path(tempfile.mkdtemp(prefix="viva-latency-"))
    async with EmulatorServer(log_dir=out, settings=SessionSettings(voice=ExaminerVoice())) as emulator:
        async def one(i: int):
            session_id = f"latency-{i}"
            llm = LLMTarget("emulator", "bench", emulator.http_options(session_id=session_id))
            return session_id, await simulate_session(config=config, candidate=candidate, llm=llm,
                                                      out_dir=out, session_id=session_id)

        runs = await asyncio.gather(*(one(i) for i in range(args.runs)))

        end_of_speech, gate_wait, gate_to_server, examiner_audio = [], [], [], []
        for session_id, run in runs:
            journal = emulator.sessions[session_id].journal
            t0 = run.transport.clock.at(0)
            activity_ends, audio_starts = (
                [journal.started_at + e["t_s"] for e in journal.records if e["kind"] == kind]
                for kind in ("activity_end", "audio_start")
            )
            gate_closes = [run.started_at + e["t_s"] for e in run.data["events"] if e["type"] == "window_closed"]
            for position, answer in run.transport.behavior.answer_starts:
                true_end = t0 + position / RATE + speech_end_s(answer.source)
                sent, decided = first_after(activity_ends, true_end), first_after(gate_closes, true_end)
                if sent is not None and decided is not None:
                    end_of_speech.append(1000 * (sent - true_end))
                    gate_wait.append(1000 * (decided - true_end))
                    gate_to_server.append(1000 * (sent - decided))
            plays = [t0 + start / RATE for start in run.transport.speaker.burst_starts]
            for sent in audio_starts:
                played = first_after(plays, sent)
                if played is not None:
                    examiner_audio.append(1000 * (played - sent))
            print(f"{session_id}: {run.data['outcome']}, {len(activity_ends)} answers, {len(audio_starts)} examiner turns")

    print(f"VAD stop time (stop_secs): {stop_secs * 1000:.0f} ms, inside the gate's wait")
    print(describe("true end of speech -> activityEnd at server", end_of_speech))
    print(describe("  of which: the turn gate's wait (its decision)", gate_wait))
    print(describe("  of which: gate decision -> activityEnd at server", gate_to_server))
    print(describe("emulator first audio -> output transport", examiner_audio))
    print("goal: under 30 ms at p95 for what the pipeline adds (decision -> server, first audio -> output)")


if __name__ == "__main__":
    asyncio.run(main())
