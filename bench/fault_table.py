"""The comparison table: configs under each fault of faults/, N seeded runs each, offline.

Each (config, fault) cell runs N simulated sessions at once through `viva simulate`'s
own code (the same candidates, the same emulator, run i drawing seeded stream i), then
summarizes them the way `viva simulate` does. Writes a Markdown table.

    uv run python bench/fault_table.py --configs configs/baseline_pipecat.yaml --runs 10 --out docs/baseline.md
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from loguru import logger

from viva.harness.faults import load_faults
from viva.commands.simulate import simulate_runs
from viva.config import load_config
from viva.harness.candidate import load_candidate
from viva.harness.summary import aggregate, reconnect_schedule, run_row

ROOT = Path(__file__).resolve().parent.parent
# The production sequence (field-reports.md §1) needs its noise burst; the rest a steady candidate.
CANDIDATES = {"stall_after_empty_window": "candidates/production_noise_burst.yaml"}
DEFAULT_CANDIDATE = "candidates/b2_steady.yaml"
COLUMNS = ["completed", "results (source)", "schema-valid results", "stalls > 5 s", "longest silence after a turn",
           "closings heard per session", "reconnects", "tool results lost", "audio bytes outside windows"]
CONNECTION_COLUMNS = ["shortest speech window", "reconnect waits (attempt: s)", "waits on schedule"]
DIRECTOR_COLUMNS = ["every step heard in order", "steps heard once"]
MARKS_COLUMNS = ["examiner audio before the closing"]


async def cell(config_path: str, fault_path: Path, runs: int, out: Path, *, rerun: bool = True) -> dict[str, str]:
    """One cell: runs sessions into out/<config>/<fault>/ (rerun=False: summarizes the records already there)."""
    config = load_config(ROOT / config_path)
    fault = fault_path.stem
    folder = out / Path(config_path).stem / fault
    if rerun:
        candidate = load_candidate(ROOT / CANDIDATES.get(fault, DEFAULT_CANDIDATE))
        results = await simulate_runs(config=config, candidate=candidate, faults=load_faults(fault_path), runs=runs,
                                      llm="emulator", out=folder)
        record_dirs = [r.record_dir for r in results]
    else:
        record_dirs = sorted(p.parent for p in folder.glob("*/session.json"))
    schedule = reconnect_schedule(config)
    return aggregate([run_row(d, config.exam.tools, schedule) for d in record_dirs])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=["configs/baseline_pipecat.yaml"])
    parser.add_argument("--faults", nargs="*", help="fault files (default: every file in faults/)")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--out", type=Path, help="Markdown file to write (default: print only)")
    parser.add_argument("--connection", action="store_true", help="add the reconnect waits and their check")
    parser.add_argument("--director", action="store_true", help="add the exam director's columns (steps asked "
                        "in order, at the first cue)")
    parser.add_argument("--marks", action="store_true", help="add the examiner audio played between the last "
                        "answer and the closing (marks read aloud), from recording.wav")
    parser.add_argument("--records", type=Path, help="summarize the records of an earlier run here instead of running")
    args = parser.parse_args()
    logger.remove()

    fault_paths = [Path(f) for f in args.faults] if args.faults else sorted((ROOT / "faults").glob("*.yaml"))
    records = args.records or Path(tempfile.mkdtemp(prefix="viva-fault-table-"))
    columns = COLUMNS + (CONNECTION_COLUMNS if args.connection else []) + (DIRECTOR_COLUMNS if args.director else []) \
        + (MARKS_COLUMNS if args.marks else [])
    lines = ["| config | fault | " + " | ".join(columns) + " |", "|" + "---|" * (len(columns) + 2)]
    started = time.monotonic()
    for fault_path in fault_paths:
        for config_path in args.configs:
            summary = await cell(config_path, fault_path, args.runs, records, rerun=args.records is None)
            line = f"| {Path(config_path).stem} | {fault_path.stem} | " + " | ".join(summary[c] for c in columns) + " |"
            lines.append(line)
            print(line, flush=True)
    command = ("uv run python bench/fault_table.py --configs " + " ".join(args.configs)
               + (" --faults " + " ".join(args.faults) if args.faults else "")
               + f" --runs {args.runs}" + (" --connection" if args.connection else "")
               + (" --director" if args.director else "") + (" --marks" if args.marks else "")
               + (f" --out {args.out}" if args.out else ""))
    print(f"{time.monotonic() - started:.0f} s; records in {records}")
    if args.out:
        table = "\n".join(lines)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        marker = "<!-- table -->"
        text = args.out.read_text() if args.out.exists() else f"{marker}\n{marker}\n"
        before, _, rest = text.partition(marker)
        _, _, after = rest.partition(marker)
        args.out.write_text(f"{before}{marker}\nRegenerate: `{command}`\n\n{table}\n{marker}{after}")


if __name__ == "__main__":
    asyncio.run(main())
