"""`viva simulate`: simulated candidate sessions through the full pipeline, with a summary."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from emulator.server import EmulatorServer
from emulator.session import SessionSettings
from emulator.voice import ExaminerVoice
from pipelines.context import LLMTarget
from viva.candidate import load_candidate
from viva.config import load_config
from viva.errors import BadInput
from viva.simulation import RunResult, api_key_from_environment, simulate_session


async def run_simulate(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    candidate = load_candidate(args.candidate)
    if args.runs < 1:
        raise BadInput(f"--runs {args.runs}: expected 1 or more")
    out: Path = args.out
    if args.llm == "gemini":
        llm = LLMTarget(kind="gemini", api_key=api_key_from_environment())
        results = await asyncio.gather(*(
            simulate_session(config=config, candidate=candidate, llm=llm, out_dir=out) for _ in range(args.runs)
        ))
    else:
        settings = SessionSettings(voice=ExaminerVoice())
        async with EmulatorServer(exam=config.exam, log_dir=out, settings=settings) as emulator:
            results = await asyncio.gather(*(
                _on_emulator(emulator, config=config, candidate=candidate, out=out, run=i) for i in range(args.runs)
            ))
    print_summary(results)
    return 0 if all(r.ok for r in results) else 1


async def _on_emulator(emulator: EmulatorServer, *, config, candidate, out: Path, run: int) -> RunResult:
    from viva.record import new_session_id

    session_id = f"{new_session_id()}-{run:03d}"
    llm = LLMTarget(kind="emulator", api_key="emulator", http_options=emulator.http_options(session_id=session_id))
    return await simulate_session(config=config, candidate=candidate, llm=llm, out_dir=out, session_id=session_id)


def print_summary(results: list[RunResult]) -> None:
    header = f"{'session':<26} {'outcome':<10} {'end':<16} {'result':<12} {'turns':>5} {'latency p50/p95 ms':>19} {'closings':>8}"
    print(header)
    print("-" * len(header))
    for run in results:
        data, metrics = run.data, run.data["metrics"]
        latency = metrics.get("response_latency_ms") or {}
        latency_text = f"{latency.get('p50', '-')}/{latency.get('p95', '-')}"
        print(f"{data['session_id']:<26} {data['outcome']:<10} {str(data['end_reason'])[:16]:<16} "
              f"{str(data['result_source']):<12} {metrics.get('turns', 0):>5} {latency_text:>19} "
              f"{metrics.get('closing_phrases_heard', 0):>8}")
    completed = sum(1 for r in results if r.ok)
    print(f"{completed} of {len(results)} completed with a result; records in {results[0].record_dir.parent}")
