"""How many concurrent sessions one emulator process serves with every audio stream ahead
of real time.

The emulator runs as its own process (`viva emulator`, as a user would start it); the
sessions run in this process over raw TLS WebSockets, so the emulator's capacity is
measured, not the SDK's. Each session: setup, greeting, then answers of real recorded
speech streamed at real-time pace, each answered by the next question.

A stream is ahead of real time when every audio chunk arrives before a player that
started at the first chunk would need it: lead = chunk start in the audio - (arrival -
first arrival) > 0 for every later chunk of the turn.

    uv run python bench/emulator_capacity.py              # 10, 50, 100, 150 sessions
    uv run python bench/emulator_capacity.py --sessions 50 --turns 4
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import ssl
import statistics
import subprocess
import sys
import time
import wave
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parent.parent
PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
SETUP = {"setup": {
    "model": "models/gemini-3.1-flash-live-preview",
    "generationConfig": {"responseModalities": ["AUDIO"]},
    "realtimeInputConfig": {"automaticActivityDetection": {"disabled": True}},
    "outputAudioTranscription": {}, "inputAudioTranscription": {}, "sessionResumption": {},
}}


def read_speech() -> bytes:
    with wave.open(str(ROOT / "audio/speech__cmu_arctic_aew_a0001.wav")) as wav:
        return wav.readframes(wav.getnframes())


class Stream:
    """Leads of one session's examiner audio, chunk by chunk."""

    def __init__(self):
        self.leads: list[float] = []
        self.audio_s = 0.0

    def receive_turn_audio(self, chunks: list[tuple[float, float]]) -> None:
        if not chunks:
            return
        first_arrival = chunks[0][0]
        position = 0.0
        for k, (arrival, duration) in enumerate(chunks):
            if k:  # the first chunk starts the player: its lead is 0 by definition
                self.leads.append(position - (arrival - first_arrival))
            position += duration
        self.audio_s += position


async def session(url: str, context: ssl.SSLContext, speech: bytes, turns: int, stream: Stream) -> None:
    async with websockets.connect(url, ssl=context, additional_headers={"x-goog-api-key": "bench"},
                                  compression=None, max_size=2**22) as ws:
        await ws.send(json.dumps(SETUP))
        await ws.recv()
        await ws.send(json.dumps({"realtimeInput": {"text": "Hello"}}))
        for turn in range(turns):
            chunks = []
            while True:
                message = json.loads(await ws.recv())
                content = message.get("serverContent", {})
                if "modelTurn" in content:
                    data = content["modelTurn"]["parts"][0]["inlineData"]["data"]
                    chunks.append((time.monotonic(), len(base64.b64decode(data)) / 2 / 24000))
                if content.get("turnComplete"):
                    break
            stream.receive_turn_audio(chunks)
            if turn == turns - 1:
                break
            await asyncio.sleep(0.5)
            await ws.send(json.dumps({"realtimeInput": {"activityStart": {}}}))
            step = 3200  # 100 ms at 16 kHz, sent at real-time pace
            start = time.monotonic()
            for i in range(0, len(speech), step):
                piece = base64.b64encode(speech[i : i + step]).decode()
                await ws.send(json.dumps({"realtimeInput": {"audio": {"data": piece, "mimeType": "audio/pcm;rate=16000"}}}))
                await asyncio.sleep(max(0, start + (i + step) / 32000 - time.monotonic()))
            await ws.send(json.dumps({"realtimeInput": {"activityEnd": {}}}))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def level(url: str, context: ssl.SSLContext, pid: int, sessions: int, turns: int, speech: bytes) -> dict:
    streams = [Stream() for _ in range(sessions)]
    cpu_before, wall_before = cpu_seconds(pid), time.monotonic()

    async def staggered(i: int):
        await asyncio.sleep(i * 2.0 / sessions)  # arrivals spread over two seconds
        await session(url, context, speech, turns, streams[i])

    results = await asyncio.gather(*(staggered(i) for i in range(sessions)), return_exceptions=True)
    wall = time.monotonic() - wall_before
    errors = [r for r in results if isinstance(r, Exception)]
    minimum_leads = [min(s.leads) for s in streams if s.leads]
    ahead = sum(1 for s in streams if s.leads and min(s.leads) > 0)
    return {
        "sessions": sessions, "ahead": ahead, "errors": len(errors),
        "worst_lead_ms": 1000 * min(minimum_leads) if minimum_leads else float("nan"),
        "median_min_lead_ms": 1000 * statistics.median(minimum_leads) if minimum_leads else float("nan"),
        "audio_s": sum(s.audio_s for s in streams),
        "emulator_cpu": (cpu_seconds(pid) - cpu_before) / wall,
        "wall_s": wall,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, nargs="+", default=[10, 50, 100, 150])
    parser.add_argument("--turns", type=int, default=3)
    args = parser.parse_args()

    emulator = subprocess.Popen(
        [sys.executable, "-m", "viva.cli", "emulator", "--port", "0", "--config", "configs/ielts_speaking.yaml",
         "--log-dir", "/tmp/viva-bench-emulator-logs"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        banner = [emulator.stdout.readline() for _ in range(2)]
        base = banner[0].split(" at ")[1].split()[0]
        ca_file = banner[1].split(": ", 1)[1].strip()
        context = ssl.create_default_context(cafile=ca_file)
        url = base.replace("https://", "wss://") + PATH
        speech = read_speech()
        print(f"emulator pid {emulator.pid} at {base}; {os.cpu_count()} cores; {args.turns} examiner turns per session")
        print(f"{'sessions':>8} {'ahead':>6} {'errors':>6} {'worst lead':>11} {'median min lead':>16} "
              f"{'audio s':>8} {'emulator CPU':>13} {'wall s':>7}")
        capacity = 0
        for sessions in args.sessions:
            row = await level(url, context, emulator.pid, sessions, args.turns, speech)
            print(f"{row['sessions']:>8} {row['ahead']:>6} {row['errors']:>6} {row['worst_lead_ms']:>9.0f}ms "
                  f"{row['median_min_lead_ms']:>14.0f}ms {row['audio_s']:>8.0f} {row['emulator_cpu']:>12.0%} "
                  f"{row['wall_s']:>7.1f}", flush=True)
            if row["ahead"] == sessions and not row["errors"]:
                capacity = max(capacity, sessions)
        print(f"capacity: {capacity} concurrent sessions with every audio stream ahead of real time (goal: 50 or more)")
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)


if __name__ == "__main__":
    asyncio.run(main())
