"""The latency viva's pipeline adds, measured on simulated sessions against the emulator.

1. End of speech: from the true end of the candidate's speech (the answer's start on
   the microphone plus the labelled end of speech in the recording, audio/manifest.json)
   to the activityEnd the emulator receives; of that, the turn gate's own wait (the
   silence it needs, or Smart Turn's verdict), and what the pipeline adds after the
   gate decided (its window_closed event) until the emulator has the activityEnd.
2. Examiner audio: from the emulator sending the first audio of a turn to that audio
   starting to play at the output transport.
3. The director's cues: from each activityEnd to the examiner's first audio at the
   emulator, viva's config beside a config without the director (stock Pipecat, no
   cues), and how many cues reached the emulator in between (viva places the next
   step's cue while the candidate answers, so none should).

Everything runs in one process on one clock (time.monotonic). Goal: under 30 ms at p95 for
what the pipeline adds (the gate's wait is a choice: docs/gate_corpus.md).

    uv run python bench/pipeline_latency.py            # 3 sessions of the short config at once
    uv run python bench/pipeline_latency.py --runs 6
    uv run python bench/pipeline_latency.py --baseline ''   # viva's config only
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
from viva.audio import RATE
from viva.config import load_config
from viva.harness.candidate import load_candidate
from viva.harness.simulation import simulate_session
from viva.harness.targets import emulator_target

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


async def measure(config_path: str, candidate_path: str, runs: int) -> dict[str, list[float]]:
    """`runs` sessions of a config at once against one emulator: the figures, in ms."""
    config = load_config(ROOT / config_path)
    candidate = load_candidate(ROOT / candidate_path)
    out = Path(tempfile.mkdtemp(prefix="viva-latency-"))
    figures: dict[str, list[float]] = {key: [] for key in (
        "end_of_speech", "gate_wait", "gate_to_server", "examiner_audio", "reply", "cues_late")}
    async with EmulatorServer(log_dir=out, settings=SessionSettings(voice=ExaminerVoice())) as emulator:
        async def one(i: int):
            session_id = f"latency-{i}"
            llm = emulator_target(emulator, session_id=session_id)
            return session_id, await simulate_session(config=config, candidate=candidate, llm=llm,
                                                      out_dir=out, session_id=session_id)

        runs_done = await asyncio.gather(*(one(i) for i in range(runs)))

        for session_id, run in runs_done:
            journal = emulator.sessions[session_id].journal
            t0 = run.transport.clock.at(0)
            activity_ends, audio_starts, contents = (
                [journal.started_at + e["t_s"] for e in journal.records if e["kind"] == kind]
                for kind in ("activity_end", "audio_start", "client_content")
            )
            gate_closes = [run.started_at + e["t_s"] for e in run.data["events"] if e["type"] == "window_closed"]
            for position, answer in run.transport.behavior.answer_starts:
                true_end = t0 + position / RATE + speech_end_s(answer.source)
                sent, decided = first_after(activity_ends, true_end), first_after(gate_closes, true_end)
                if sent is not None and decided is not None:
                    figures["end_of_speech"].append(1000 * (sent - true_end))
                    figures["gate_wait"].append(1000 * (decided - true_end))
                    figures["gate_to_server"].append(1000 * (sent - decided))
            # The examiner's reply to each answer: activityEnd to its first audio at the server, and
            # whether a cue (clientContent) came in between (the cue is meant to be there before).
            for end in activity_ends:
                reply = first_after(audio_starts, end)
                if reply is not None:
                    figures["reply"].append(1000 * (reply - end))
                    figures["cues_late"].append(sum(1 for t in contents if end <= t < reply))
            plays = [t0 + start / RATE for start in run.transport.speaker.burst_starts]
            for sent in audio_starts:
                played = first_after(plays, sent)
                if played is not None:
                    figures["examiner_audio"].append(1000 * (played - sent))
            print(f"{config_path} {session_id}: {run.data['outcome']}, {len(activity_ends)} answers, "
                  f"{len(audio_starts)} examiner turns")
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--config", default="configs/ielts_speaking_short.yaml")
    parser.add_argument("--baseline", default="configs/baseline_pipecat.yaml",
                        help="a config without the exam director (no cues), for the reply time beside viva's")
    parser.add_argument("--candidate", default="candidates/b2_steady.yaml")
    args = parser.parse_args()
    logger.remove()

    config = load_config(ROOT / args.config)
    stop_secs = next(s.params.stop_secs for s in config.stages if s.name == "silero_vad")
    figures = await measure(args.config, args.candidate, args.runs)
    baseline = await measure(args.baseline, args.candidate, args.runs) if args.baseline else None

    print(f"VAD stop time (stop_secs): {stop_secs * 1000:.0f} ms, inside the gate's wait")
    print(describe("true end of speech -> activityEnd at server", figures["end_of_speech"]))
    print(describe("  of which: the turn gate's wait (its decision)", figures["gate_wait"]))
    print(describe("  of which: gate decision -> activityEnd at server", figures["gate_to_server"]))
    print(describe("emulator first audio -> output transport", figures["examiner_audio"]))
    print(describe(f"activityEnd -> first examiner audio ({args.config})", figures["reply"]))
    print(f"  cues arriving between activityEnd and that audio: {sum(figures['cues_late'])} "
          f"of {len(figures['cues_late'])} replies")
    if baseline is not None:
        print(describe(f"activityEnd -> first examiner audio ({args.baseline}, no cues)", baseline["reply"]))
        added = statistics.median(figures["reply"]) - statistics.median(baseline["reply"])
        print(f"the cue's added latency (p50 difference): {added:+.1f} ms")
    print("goal: under 30 ms at p95 for what the pipeline adds (decision -> server, first audio -> output); "
          "no cue between activityEnd and the reply")


if __name__ == "__main__":
    asyncio.run(main())
