"""Capacity: CPU per session-minute of viva's pipeline and of stock Pipecat's, and how
many concurrent sessions 2 cores hold in real time, with the pipeline measured alone.

Three kinds of process, each on its own:

- the emulator (`viva emulator`, as a user starts it), the model's side;
- the candidates (bench/candidate_client.py): viva's CandidateBehavior at real-time
  pace, one WebSocket per session;
- the pipelines, measured: each a `worker` of this file running one or more
  `ExamSession`s around Pipecat's stock `SingleClientWebsocketServerTransport`
  (ProtobufFrameSerializer), one port per session.

CPU is the pipeline process's own (time.process_time: every thread of it) from its first
candidate's connection to its last session's end, model loading and imports excluded;
a session-minute is one session's wall time from connection to end.

Real time, per level (all must hold):
- every session completed with its result;
- event-loop lag (a probe task in each pipeline process sleeping 10 ms and measuring the
  overshoot) p99 within LAG_P99_MS;
- the examiner's audio reaches the candidate in time: holes inside an examiner turn
  (audio arriving after all before it has played, past the player's 100 ms jitter
  buffer; bench/candidate_client.py) at most HOLE_SHARE of the examiner's audio;
- the microphone consumed without a backlog: each 20 ms frame's arrival at the
  pipeline against the candidate's 20 ms schedule (relative to the session's earliest
  frame), p99 within MIC_P99_MS.

    uv run python bench/capacity.py                                 # the whole table (about 15 min)
    uv run python bench/capacity.py --cpu-sessions 3 --levels 1 5 --modes processes
    uv run python bench/capacity.py --profile /tmp/viva.txt        # one viva session sampled by py-spy
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LAG_P99_MS = 50.0
MIC_P99_MS = 100.0
HOLE_SHARE = 0.005  # examiner audio heard as holes, of all examiner audio
PROBE_S = 0.01
PRIORITY = -5  # nice of the emulator and candidate processes
CONFIGS = {"viva": "configs/ielts_speaking_short.yaml", "stock": "configs/baseline_pipecat.yaml"}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


# ---- the pipeline process (worker) -------------------------------------------------------

def _bench_transport_class():
    from pipecat.transports.websocket.server import (
        SingleClientWebsocketServerInputTransport,
        SingleClientWebsocketServerTransport,
    )

    class TimedInput(SingleClientWebsocketServerInputTransport):
        """Pipecat's input, noting when each microphone frame reached the pipeline's loop."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.arrivals: list[float] = []

        async def push_audio_frame(self, frame):
            self.arrivals.append(time.monotonic())
            await super().push_audio_frame(frame)

    class BenchTransport(SingleClientWebsocketServerTransport):
        def input(self):
            if not self._input:
                self._input = TimedInput(self, self._host, self._port, self._params, self._callbacks,
                                         name=self._input_name)
            return self._input

    return BenchTransport


async def worker(args: argparse.Namespace) -> None:
    from google.genai import types
    from loguru import logger
    from pipecat.serializers.protobuf import ProtobufFrameSerializer
    from pipecat.transports.websocket.server import SingleClientWebsocketServerParams

    from emulator.server import SESSION_HEADER
    from viva.audio import RATE
    from viva.config import load_config
    from viva.exam_session import ExamSession
    from viva.pipelines.context import LLMTarget

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    config = load_config(ROOT / args.config)
    ca = ssl.create_default_context(cafile=args.ca_file)
    transport_class = _bench_transport_class()
    loop = asyncio.get_running_loop()
    sessions, transports, ready = [], [], asyncio.Event()
    connected: dict[int, float] = {}
    ended: dict[int, float] = {}
    ready_count = 0
    for i, port in enumerate(args.ports):
        session_id = f"{args.label}-{port}"
        headers = {SESSION_HEADER: session_id}
        llm = LLMTarget(kind="emulator", api_key="bench",
                        http_options=types.HttpOptions(base_url=args.base_url, headers=headers,
                                                       client_args={"verify": ca},
                                                       async_client_args={"ssl": ca, "verify": ca}))
        params = SingleClientWebsocketServerParams(
            serializer=ProtobufFrameSerializer(), audio_in_enabled=True, audio_in_sample_rate=RATE,
            audio_out_enabled=True, allowed_origins=[])
        transport = transport_class(params=params, host="127.0.0.1", port=port)
        session = ExamSession(config=config, transport=transport, llm=llm, out_dir=Path(args.out),
                              session_id=session_id)

        def handlers(i=i, transport=transport, session=session):
            @transport.event_handler("on_websocket_ready")
            async def on_ready(transport):
                nonlocal ready_count
                ready_count += 1
                if ready_count == len(args.ports):
                    ready.set()

            @transport.event_handler("on_client_connected")
            async def on_connected(transport, websocket):
                connected.setdefault(i, time.monotonic())
                await session.start_exam()

            @transport.event_handler("on_client_disconnected")
            async def on_disconnected(transport, websocket):
                await session.candidate_left()

        handlers()
        sessions.append(session)
        transports.append(transport)

    lags: list[float] = []
    queue_max = 0

    async def probe():
        nonlocal queue_max
        while True:
            t = loop.time()
            await asyncio.sleep(PROBE_S)
            if connected:
                lags.append(loop.time() - t - PROBE_S)
                for transport in transports:
                    queue = getattr(transport.input(), "_audio_in_queue", None)
                    if queue is not None:
                        queue_max = max(queue_max, queue.qsize())

    cpu_at_first = None
    times_at_first = [0.0, 0.0]

    async def run(i: int, session):
        result = await session.run()
        ended[i] = time.monotonic()
        return result

    async def announce():
        nonlocal cpu_at_first
        await ready.wait()
        print("ready", flush=True)
        while not connected:
            await asyncio.sleep(0.005)
        cpu_at_first = time.process_time()
        times_at_first[:] = os.times()[:2]

    prober = asyncio.create_task(probe())
    announcer = asyncio.create_task(announce())
    results = await asyncio.gather(*(run(i, s) for i, s in enumerate(sessions)))
    cpu_end, wall_end, times_end = time.process_time(), time.monotonic(), os.times()
    prober.cancel()
    announcer.cancel()

    mic_p99, mic_max = [], []
    session_rows = []
    for i, (transport, result) in enumerate(zip(transports, results)):
        arrivals = transport.input().arrivals
        if arrivals:
            raw = [t - k * 0.02 for k, t in enumerate(arrivals)]
            base = min(raw)
            late = [1000 * (x - base) for x in raw]
            mic_p99.append(percentile(late, 99))
            mic_max.append(max(late))
        session_rows.append({
            "outcome": result.data["outcome"], "end_reason": result.data.get("end_reason"), "ok": result.ok,
            "wall_s": (ended.get(i, wall_end) - connected[i]) if i in connected else 0.0,
            "mic_frames": len(arrivals),
        })
    first = min(connected.values()) if connected else wall_end
    import threading as _threading
    names = {t.native_id: t.name.split("_")[0] for t in _threading.enumerate()}
    threads = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            name = names.get(int(task.name), "native (not a Python thread)")
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        threads[name] = threads.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    out = {
        "label": args.label, "pid": os.getpid(), "ports": args.ports, "sessions": session_rows,
        "cpu_s": cpu_end - (cpu_at_first if cpu_at_first is not None else cpu_end),
        "window_s": wall_end - first,
        "cpu_user_s": times_end[0] - times_at_first[0], "cpu_system_s": times_end[1] - times_at_first[1],
        "lag_p99_ms": 1000 * percentile(lags, 99), "lag_max_ms": 1000 * max(lags, default=0.0),
        "mic_p99_ms": max(mic_p99, default=0.0), "mic_max_ms": max(mic_max, default=0.0),
        "audio_in_queue_max": queue_max,
        "threads_cpu_s": dict(sorted(threads.items(), key=lambda kv: -kv[1])[:8]),  # since the process began
    }
    Path(args.result).write_text(json.dumps(out, indent=1))


# ---- the orchestrator ----------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def free_ports(n: int) -> list[int]:
    sockets, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
        ports.append(s.getsockname()[1])
    for s in sockets:
        s.close()
    return ports


def _priority() -> None:
    """The emulator and the candidates stand for the other ends of the line, on machines of
    their own: they run ahead of the pipelines (nice -5, when allowed), so that a starved
    candidate is not read as a late pipeline. They still use the same 2 cores."""
    try:
        os.nice(PRIORITY)
    except OSError:
        pass


def _drain(stream) -> None:
    for _ in stream:
        pass


class Emulator:
    def __init__(self, log_dir: Path):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "viva.cli", "emulator", "--port", "0", "--log-dir", str(log_dir)],
            cwd=ROOT, stdout=subprocess.PIPE, text=True, preexec_fn=_priority)
        banner = [self.process.stdout.readline() for _ in range(3)]
        self.base_url = banner[0].split(" at ")[1].split()[0]
        self.ca_file = banner[1].split(": ", 1)[1].strip()
        threading.Thread(target=_drain, args=(self.process.stdout,), daemon=True).start()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


def run_level(emulator: Emulator, groups: list[tuple[str, str, int]], mode: str, out: Path,
              candidate: str, timeout_s: float = 400.0, uvloop: bool = False) -> dict:
    """groups: (label, config, sessions); mode "processes" (a process per session) or "one"
    (a process per group holding all its sessions). Returns workers' and candidates' results."""
    out.mkdir(parents=True, exist_ok=True)
    plan = []  # (label, config, ports)
    for label, config, n in groups:
        ports = free_ports(n)
        if mode == "processes":
            plan += [(label, config, [p]) for p in ports]
        else:
            plan.append((label, config, ports))
    workers = []
    for k, (label, config, ports) in enumerate(plan):
        result = out / f"worker-{k}.json"
        command = [sys.executable, str(Path(__file__).resolve()), "worker", "--label", label, "--config", config,
                   "--ports", *map(str, ports), "--base-url", emulator.base_url,
                   "--ca-file", emulator.ca_file, "--out", str(out / "records"), "--result", str(result)]
        if uvloop or label.endswith("+uvloop"):
            command.append("--uvloop")
        log = open(out / f"worker-{k}.log", "w")
        workers.append((subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True),
                        result, log))
    deadline = time.monotonic() + 300
    for process, _, _ in workers:  # every pipeline listening before any candidate arrives
        line = process.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"worker {process.pid} did not start (see {out})")
        if time.monotonic() > deadline:
            raise RuntimeError("workers took too long to start")
    all_ports = [p for _, _, ports in plan for p in ports]
    emulator_cpu0, load_before = cpu_seconds(emulator.process.pid), loadavg()
    started = time.monotonic()
    candidates = subprocess.Popen(
        [sys.executable, str(ROOT / "bench/candidate_client.py"), "--candidate", candidate,
         "--ports", *map(str, all_ports), "--result", str(out / "candidates.json")], cwd=ROOT,
        preexec_fn=_priority)
    candidates.wait(timeout=timeout_s)
    for process, _, log in workers:
        process.wait(timeout=60)
        log.close()
    wall = time.monotonic() - started
    emulator_cpu = cpu_seconds(emulator.process.pid) - emulator_cpu0
    return {
        "workers": [json.loads(result.read_text()) for _, result, _ in workers],
        "candidates": json.loads((out / "candidates.json").read_text()),
        "emulator_cpu_s": emulator_cpu, "wall_s": wall, "load_before": load_before, "load_after": loadavg(),
    }


def summarize(level: dict, label: str | None = None) -> dict:
    workers = [w for w in level["workers"] if label is None or w["label"] == label]
    sessions = [s for w in workers for s in w["sessions"]]
    cpu = sum(w["cpu_s"] for w in workers)
    minutes = sum(s["wall_s"] for s in sessions) / 60
    ports = {p for w in workers for p in w["ports"]}
    clients = [c for c in level["candidates"]["sessions"] if int(c["url"].rsplit(":", 1)[1]) in ports]
    return {
        "sessions": len(sessions), "completed": sum(s["ok"] for s in sessions),
        "cpu_s": cpu, "session_min": minutes, "cpu_per_min": cpu / minutes if minutes else float("nan"),
        "lag_p99_ms": max((w["lag_p99_ms"] for w in workers), default=0.0),
        "lag_max_ms": max((w["lag_max_ms"] for w in workers), default=0.0),
        "mic_p99_ms": max((w["mic_p99_ms"] for w in workers), default=0.0),
        "queue_max": max((w["audio_in_queue_max"] for w in workers), default=0),
        "underruns": sum(c.get("underruns", 0) for c in clients),
        "hole_share": (sum(c.get("underrun_s", 0.0) for c in clients)
                       / max(1e-9, sum(c.get("examiner_audio_s", 0.0) for c in clients))),
        "worst_underrun_ms": max((c.get("worst_underrun_ms", 0.0) for c in clients), default=0.0),
        "client_errors": sum(1 for c in clients if c.get("error")),
        "client_send_p99_ms": max((c.get("send_lateness_p99_ms", 0.0) for c in clients), default=0.0),
    }


def holds(row: dict) -> bool:
    return (row["completed"] == row["sessions"] and row["lag_p99_ms"] <= LAG_P99_MS
            and row["hole_share"] <= HOLE_SHARE and row["mic_p99_ms"] <= MIC_P99_MS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    w = sub.add_parser("worker", help="(internal) one pipeline process")
    w.add_argument("--label", required=True)
    w.add_argument("--config", required=True)
    w.add_argument("--ports", type=int, nargs="+", required=True)
    w.add_argument("--base-url", required=True)
    w.add_argument("--ca-file", required=True)
    w.add_argument("--out", required=True)
    w.add_argument("--result", required=True)
    w.add_argument("--uvloop", action="store_true")
    parser.add_argument("--candidate", default="candidates/b2_steady.yaml")
    parser.add_argument("--cpu-sessions", type=int, default=3, help="sessions of each config in the CPU run")
    parser.add_argument("--cpu-rounds", type=int, default=2)
    parser.add_argument("--cpu-labels", nargs="+", default=["viva", "stock"],
                        help="configs side by side in the CPU table (viva, stock; X+uvloop: X on uvloop)")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 5, 7, 10, 15, 20, 30, 50])
    parser.add_argument("--modes", nargs="+", choices=["processes", "one"], default=["processes", "one"])
    parser.add_argument("--profile", help="instead: one session sampled by py-spy, raw stacks to this file")
    parser.add_argument("--profile-config", choices=sorted(CONFIGS), default="viva")
    parser.add_argument("--uvloop", action="store_true", help="pipeline processes on uvloop's event loop")
    parser.add_argument("--only", choices=["cpu", "concurrency"], help="one of the two tables")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.command == "worker":
        if args.uvloop:
            import uvloop
            uvloop.run(worker(args))
        else:
            asyncio.run(worker(args))
        return

    out = args.out or Path(tempfile.mkdtemp(prefix="viva-capacity-"))
    emulator = Emulator(out / "emulator-logs")
    print(f"# bench/capacity.py: {os.cpu_count()} cores; candidate {args.candidate}; emulator pid "
          f"{emulator.process.pid}; records under {out}", flush=True)
    try:
        if args.profile:
            profile(emulator, out, args)
            return
        if args.only in (None, "cpu"):
            cpu_table(emulator, out, args)
        if args.only in (None, "concurrency"):
            concurrency_table(emulator, out, args)
    finally:
        emulator.stop()


def profile(emulator: Emulator, out: Path, args) -> None:
    """One session of args.profile_config sampled by py-spy (CPU only: idle stacks left out)."""
    ports = free_ports(1)
    result = out / "profile-worker.json"
    command = [sys.executable, str(Path(__file__).resolve()), "worker", "--label", "profile", "--config",
               CONFIGS[args.profile_config], "--ports", str(ports[0]), "--base-url", emulator.base_url,
               "--ca-file", emulator.ca_file, "--out", str(out / "records"),
               "--result", str(result)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    spy = subprocess.Popen(["uvx", "py-spy", "record", "-p", str(process.pid), "-o", args.profile, "-f", "raw", "--gil",
                            "-r", "250"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    subprocess.run([sys.executable, str(ROOT / "bench/candidate_client.py"), "--candidate", args.candidate,
                    "--ports", str(ports[0]), "--result", str(out / "profile-candidates.json")], cwd=ROOT, check=True)
    process.wait(timeout=60)
    spy.wait(timeout=60)
    worker_result = json.loads(result.read_text())
    print(f"{args.profile_config}: pipeline CPU {worker_result['cpu_s']:.1f} s over "
          f"{worker_result['sessions'][0]['wall_s']:.1f} s; load avg {loadavg()}")
    print_profile(Path(args.profile))


def print_profile(path: Path, top: int = 25) -> None:
    """Self and inclusive share of py-spy's samples per function (file:function)."""
    own, inclusive, total = {}, {}, 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = [f.split(" (")[0] + " " + f.split(" (")[1].rsplit(":", 1)[0].replace(str(ROOT) + "/", "")
                  .split("site-packages/")[-1] if " (" in f else f for f in stack.split(";")]
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for f in set(frames):
            inclusive[f] = inclusive.get(f, 0) + n
    print(f"\n{total} samples (CPU only). Self time:")
    for f, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {100 * n / total:5.1f}%  {f}")
    print("Inclusive:")
    for f, n in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top * 2]:
        print(f"  {100 * n / total:5.1f}%  {f}")


def cpu_table(emulator: Emulator, out: Path, args) -> None:
    """Each label's sessions at once, a process each, in the same level: the machine's other
    load falls on all alike. A label "X+uvloop" runs config X on uvloop's event loop."""
    n, labels = args.cpu_sessions, args.cpu_labels
    print(f"\n## CPU per session-minute: {n} sessions each of {', '.join(labels)} at once, a process each, "
          f"{args.cpu_rounds} rounds\n")
    print("| round | config | sessions completed | session-min | pipeline CPU s | CPU s per session-min | "
          "loop lag p99 ms | holes | load avg before / after |")
    print("|---|---|---|---|---|---|---|---|---|")
    totals = {label: [0.0, 0.0] for label in labels}
    for r in range(args.cpu_rounds):
        level = run_level(emulator, [(label, CONFIGS[label.split("+")[0]], n) for label in labels], "processes",
                          out / f"cpu-{r}", args.candidate, uvloop=args.uvloop)
        for label in labels:
            row = summarize(level, label)
            totals[label][0] += row["cpu_s"]
            totals[label][1] += row["session_min"]
            print(f"| {r + 1} | {label} | {row['completed']}/{row['sessions']} | {row['session_min']:.2f} | "
                  f"{row['cpu_s']:.1f} | {row['cpu_per_min']:.2f} | {row['lag_p99_ms']:.1f} | "
                  f"{row['underruns']} | {level['load_before']} / {level['load_after']} |", flush=True)
    per_min = {label: totals[label][0] / totals[label][1] for label in labels}
    print("\nAll rounds: " + ", ".join(f"{label} {v:.2f}" for label, v in per_min.items())
          + " CPU s per session-minute" + (f"; viva / stock = {per_min['viva'] / per_min['stock']:.2f}"
                                            if "viva" in per_min and "stock" in per_min else ""), flush=True)


def concurrency_table(emulator: Emulator, out: Path, args) -> None:
    print(f"\n## Concurrent viva sessions on {os.cpu_count()} cores (real time: all completed, loop lag p99 "
          f"<= {LAG_P99_MS:.0f} ms, examiner-audio holes <= {100 * HOLE_SHARE:.1f}% of it, "
          f"mic p99 <= {MIC_P99_MS:.0f} ms)\n")
    print("| mode | sessions | completed | CPU s per session-min | pipeline CPU (cores) | emulator CPU (cores) | "
          "candidates CPU (cores) | loop lag p99 / max ms | mic p99 ms (candidates' own send p99) | holes: count (worst ms, share) | real time | "
          "load avg before / after |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    held = {}
    for mode in args.modes:
        held[mode] = 0
        for n in args.levels:
            level = run_level(emulator, [("viva", CONFIGS["viva"], n)], mode, out / f"{mode}-{n}", args.candidate,
                              uvloop=args.uvloop)
            row = summarize(level)
            window = max(w["window_s"] for w in level["workers"])
            ok = holds(row)
            cand_cpu = level["candidates"].get("cpu_s", float("nan"))
            print(f"| {'a process per session' if mode == 'processes' else 'one process'} | {n} | "
                  f"{row['completed']}/{row['sessions']} | {row['cpu_per_min']:.2f} | {row['cpu_s'] / window:.2f} | "
                  f"{level['emulator_cpu_s'] / level['wall_s']:.2f} | {cand_cpu / level['wall_s']:.2f} | "
                  f"{row['lag_p99_ms']:.0f} / {row['lag_max_ms']:.0f} | {row['mic_p99_ms']:.0f} "
                  f"({row['client_send_p99_ms']:.0f}) | "
                  f"{row['underruns']} ({row['worst_underrun_ms']:.0f}, {100 * row['hole_share']:.2f}%) | "
                  f"{'yes' if ok else 'no'} | "
                  f"{level['load_before']} / {level['load_after']} |", flush=True)
            if not ok:
                break
            held[mode] = n
    print("\nSessions held in real time: " + "; ".join(
        f"{'a process per session' if m == 'processes' else 'one process'}: {n}" for m, n in held.items()), flush=True)


if __name__ == "__main__":
    main()
