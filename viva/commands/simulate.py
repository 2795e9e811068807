"""`viva simulate`: simulated candidate sessions through the full pipeline, with a summary."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from viva.config import load_config
from viva.errors import BadInput
from viva.harness.candidate import load_candidate
from viva.harness.faults import load_faults

if TYPE_CHECKING:
    from viva.harness.simulation import RunResult


async def run_simulate(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    candidate = load_candidate(args.candidate)
    faults = load_faults(args.faults) if args.faults else None
    if args.runs < 1:
        raise BadInput(f"--runs {args.runs}: expected 1 or more")
    if faults and args.llm == "gemini":
        raise BadInput("--faults: the real API cannot be made to misbehave; faults need --llm emulator")
    # The pipeline's modules (Pipecat, google-genai) load only once the input is known to be good:
    # bad input is told in a second, not after them.
    from viva.harness.summary import print_summary, reconnect_schedule

    results = await simulate_runs(config=config, candidate=candidate, faults=faults, runs=args.runs,
                                  llm=args.llm, out=args.out)
    print_summary(results, config=str(args.config), tools=config.exam.tools,
                  schedule=reconnect_schedule(config))
    return 0 if all(r.ok for r in results) else 1


async def simulate_runs(*, config, candidate, faults, runs: int, llm: str, out: Path) -> list[RunResult]:
    """runs sessions at once; run i draws fault number stream i, so a seeded table repeats."""
    from viva.exam_session import gemini_target
    from viva.harness.simulation import simulate_session
    from viva.harness.targets import emulator_server, emulator_target
    from viva.record import new_session_id

    if llm == "gemini":
        target = gemini_target()
        return list(await asyncio.gather(*(
            simulate_session(config=config, candidate=candidate, llm=target, out_dir=out) for _ in range(runs)
        )))
    async with emulator_server(out=out, faults=faults) as emulator:
        async def one(run: int) -> RunResult:
            session_id = f"{new_session_id()}-{run:03d}"
            return await simulate_session(config=config, candidate=candidate, out_dir=out, session_id=session_id,
                                          llm=emulator_target(emulator, session_id=session_id, run=run))

        return list(await asyncio.gather(*(one(run) for run in range(runs))))
