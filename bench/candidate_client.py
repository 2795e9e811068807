"""Simulated candidates in a process of their own, each over a WebSocket to a pipeline.

The pipeline side is Pipecat's stock `SingleClientWebsocketServerTransport` with its
`ProtobufFrameSerializer` (bench/capacity.py builds it); this process is its client: the
candidate's microphone and loudspeaker, driven by viva's own `CandidateBehavior` exactly
as `viva/harness/simulated_transport.py` drives it in-process:

- the microphone: a 20 ms frame of 16 kHz audio every 20 ms at real-time pace, what
  CandidateBehavior renders at that moment (answers, sounds, background, echo);
- the loudspeaker: examiner audio played at real time, a turn starting JITTER_S after
  its first audio arrives (a player's jitter buffer; a chunk that arrives while earlier
  audio still plays is queued after it), which is how the candidate knows when the
  examiner has stopped.

What it measures (the pipeline's audio as the candidate gets it):

- holes: examiner audio arriving after everything before it has played, within the
  same examiner turn: the listener hears a hole, and the buffer fills again. Pipecat's
  output transport paces audio at real time one 40 ms chunk ahead, so a pipeline late
  by more than the jitter buffer leaves one. A gap of HOLE_MAX_S or more (and under
  the candidate's turn gap, 0.4 s) is counted apart, as the model's own pause: the
  emulated examiner pauses about 0.38 s inside some turns, whatever the load. A
  pipeline that late fails bench/capacity.py's event-loop lag limit anyway.
- its own send lateness (how late this process sent a microphone frame against its
  20 ms schedule), to tell a late candidate process from a late pipeline.

    uv run python bench/candidate_client.py --candidate candidates/b2_steady.yaml --ports 9001 9002 --result out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import numpy as np
import pipecat.frames.protobufs.frames_pb2 as frame_protos
import websockets

from viva.audio import RATE
from viva.harness.candidate import Candidate, CandidateBehavior, load_candidate
from viva.harness.simulated_transport import FRAME_SAMPLES, _Speaker

ROOT = Path(__file__).resolve().parent.parent
JITTER_S = 0.1  # the player's jitter buffer: a turn starts playing this long after its first audio
HOLE_MAX_S = 0.25  # a longer gap inside a turn is the model's own pause (the emulator makes ~0.38 s ones)


def mic_message(samples: np.ndarray) -> bytes:
    """One microphone frame as Pipecat's ProtobufFrameSerializer reads it (an InputAudioRawFrame)."""
    return frame_protos.Frame(audio=frame_protos.AudioRawFrame(
        audio=samples.tobytes(), sample_rate=RATE, num_channels=1)).SerializeToString()


class Loudspeaker:
    """Examiner audio played at real time from its arrival, on the microphone's 16 kHz clock."""

    def __init__(self, turn_gap_s: float, jitter_s: float = JITTER_S, hole_max_s: float = HOLE_MAX_S):
        self._jitter = int(jitter_s * RATE)
        self._hole_max = int(hole_max_s * RATE)
        self.pauses = 0  # gaps inside a turn too long to be a hole
        self.speaker = _Speaker()
        self._turn_gap = int(turn_gap_s * RATE)
        self.underruns: list[float] = []  # seconds of each hole inside a turn
        self.audio_s = 0.0
        self.chunks = 0

    def receive(self, samples_16k: np.ndarray, now: int) -> None:
        until = self.speaker.playing_until
        if until is None or now - until >= self._turn_gap:  # a new turn: buffer before playing
            self.speaker.play(samples_16k, now + self._jitter)
        elif now > until:  # a hole inside the turn (or the model's pause): the buffer fills again
            if now - until < self._hole_max:
                self.underruns.append((now - until) / RATE)
            else:
                self.pauses += 1
            self.speaker.play(samples_16k, now + self._jitter)
        else:
            self.speaker.play(samples_16k, now)
        self.audio_s += len(samples_16k) / RATE
        self.chunks += 1

    def interrupt(self, now: int) -> None:
        """The pipeline interrupted the examiner: what is queued is dropped."""
        if self.speaker.playing_until is not None and self.speaker.playing_until > now:
            self.speaker.playing_until = now


async def run_candidate(url: str, candidate: Candidate, *, delay_s: float = 0.0) -> dict:
    """One candidate session over url until the pipeline closes the connection."""
    await asyncio.sleep(delay_s)
    behavior = CandidateBehavior(candidate)
    loudspeaker = Loudspeaker(behavior.examiner_gap_s)
    speaker = loudspeaker.speaker
    echo_delay = int(candidate.echo_delay_s * RATE)
    loop = asyncio.get_running_loop()
    send_lateness: list[float] = []
    result = {"url": url, "error": None}
    async with websockets.connect(url, compression=None, max_size=2**22) as ws:
        t0 = loop.time()

        def now() -> int:
            return int((loop.time() - t0) * RATE)

        async def microphone():
            position = 0
            while True:
                due = t0 + (position + FRAME_SAMPLES) / RATE
                await asyncio.sleep(max(0.0, due - loop.time()))
                send_lateness.append(loop.time() - due)
                behavior.step(position, examiner_playing_until=speaker.playing_until)
                echo = (speaker.window(position - echo_delay, FRAME_SAMPLES)
                        if candidate.echo_gain_db is not None else None)
                await ws.send(mic_message(behavior.render(position, FRAME_SAMPLES, examiner=echo)))
                position += FRAME_SAMPLES

        mic = asyncio.create_task(microphone())
        try:
            async for message in ws:
                if not isinstance(message, bytes):
                    continue
                frame = frame_protos.Frame.FromString(message)
                kind = frame.WhichOneof("frame")
                if kind == "audio":
                    audio = np.frombuffer(frame.audio.audio, dtype="<i2")
                    channels = max(1, frame.audio.num_channels)
                    count = len(audio) // channels * RATE // (frame.audio.sample_rate or RATE)
                    if candidate.echo_gain_db is None:
                        samples = np.zeros(count, dtype=np.int16)  # only its timing matters
                    else:  # the echo needs the voice: nearest-sample resampling is enough for a leak
                        mono = audio.reshape(-1, channels).mean(axis=1)
                        samples = mono[(np.arange(count) * len(mono)) // max(1, count)].astype(np.int16)
                    loudspeaker.receive(samples, now())
                elif kind == "interruption":
                    loudspeaker.interrupt(now())
        except websockets.ConnectionClosed:
            pass
        except Exception as e:  # noqa: BLE001 - reported, not lost
            result["error"] = f"{type(e).__name__}: {e}"
        finally:
            mic.cancel()
            try:
                await mic
            except (asyncio.CancelledError, websockets.ConnectionClosed):
                pass
            except Exception as e:  # noqa: BLE001
                result["error"] = result["error"] or f"{type(e).__name__}: {e}"
        result.update(
            wall_s=loop.time() - t0,
            examiner_audio_s=loudspeaker.audio_s,
            examiner_chunks=loudspeaker.chunks,
            examiner_turns=behavior.examiner_turns,
            answers_started=behavior.answers_started,
            underruns=len(loudspeaker.underruns),
            model_pauses=loudspeaker.pauses,
            underrun_s=sum(loudspeaker.underruns),
            worst_underrun_ms=1000 * max(loudspeaker.underruns, default=0.0),
            mic_frames=len(send_lateness),
            send_lateness_p99_ms=1000 * float(np.percentile(send_lateness, 99)) if send_lateness else 0.0,
            send_lateness_max_ms=1000 * max(send_lateness, default=0.0),
        )
    return result


async def run_all(ports: list[int], candidate: Candidate, stagger_s: float) -> list[dict]:
    async def one(i: int, port: int) -> dict:
        url = f"ws://127.0.0.1:{port}"
        try:
            return await run_candidate(url, candidate, delay_s=i * stagger_s / max(1, len(ports)))
        except Exception as e:  # noqa: BLE001 - a refused connection is a result too
            return {"url": url, "error": f"{type(e).__name__}: {e}"}

    return await asyncio.gather(*(one(i, port) for i, port in enumerate(ports)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidate", type=Path, default=ROOT / "candidates/b2_steady.yaml")
    parser.add_argument("--ports", type=int, nargs="+", required=True)
    parser.add_argument("--stagger-s", type=float, default=2.0, help="arrivals spread over this long")
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args()
    candidate = load_candidate(args.candidate)
    started, cpu0 = time.monotonic(), time.process_time()
    results = asyncio.run(run_all(args.ports, candidate, args.stagger_s))
    args.result.write_text(json.dumps({"wall_s": time.monotonic() - started, "cpu_s": time.process_time() - cpu0,
                                       "sessions": results}, indent=1))


if __name__ == "__main__":
    main()
