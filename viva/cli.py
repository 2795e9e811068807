"""The `viva` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from viva.errors import BadInput


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="viva", description="Spoken examinations with an AI examiner.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log everything (debug level)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    emulator = commands.add_parser("emulator", help="serve the Gemini Live API emulator on its own")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8765)
    emulator.add_argument("--log-dir", type=Path, default=Path("emulator-logs"),
                          help="each session's emulator.jsonl goes to LOG_DIR/<session id>/")
    emulator.add_argument("--pace", type=float, default=1.25,
                          help="how many times faster than real time examiner audio is streamed")
    emulator.add_argument("--lifetime-s", type=float, default=None,
                          help="close each connection after this long, with a goAway first")
    emulator.add_argument("--seed", type=int, default=0)
    emulator.add_argument("--faults", type=Path, metavar="FILE", help="make the model misbehave (SPEC §4)")

    simulate = commands.add_parser("simulate", help="simulated candidate sessions through the full pipeline")
    simulate.add_argument("config", type=Path, metavar="CONFIG")
    simulate.add_argument("--candidate", type=Path, required=True, metavar="FILE", help="a candidate file (YAML)")
    simulate.add_argument("--faults", type=Path, metavar="FILE", help="make the emulated model misbehave (SPEC §4)")
    simulate.add_argument("--runs", type=int, default=1, help="how many sessions, run in parallel")
    simulate.add_argument("--llm", choices=["emulator", "gemini"], default="emulator")
    simulate.add_argument("--out", type=Path, default=Path("sessions"), help="where session records go")

    run = commands.add_parser("run", help="a live session with a real person")
    run.add_argument("config", type=Path, metavar="CONFIG")
    run.add_argument("--transport", choices=["local", "daily", "webrtc"], default="webrtc")
    run.add_argument("--llm", choices=["emulator", "gemini"], help="default: gemini (GOOGLE_API_KEY)")
    run.add_argument("--out", type=Path, default=Path("sessions"), help="where session records go")
    run.add_argument("--headphones", action="store_true",
                     help="local: the candidate wears headphones (no echo): barge-in stays on")
    run.add_argument("--room", metavar="URL", help="daily: join this room instead of creating one")
    run.add_argument("--token", help="daily: the bot's meeting token for --room")
    run.add_argument("--host", default="localhost", help="webrtc: where the browser page is served")
    run.add_argument("--port", type=int, default=7860, help="webrtc: its port")

    report = commands.add_parser("report", help="render a session record's report.html again, or each record's "
                                                "in a folder of records and its index.html")
    report.add_argument("record_dir", type=Path, metavar="DIR",
                        help="a record's folder (with session.json), or a folder of such folders")

    validate = commands.add_parser("validate", help="check configs (and simulated candidate files)")
    validate.add_argument("configs", nargs="*", type=Path, metavar="CONFIG")
    validate.add_argument("--candidate", type=Path, action="append", default=[], metavar="FILE",
                          help="a simulated candidate file to check too (repeatable), without running a session")

    plan = commands.add_parser("plan", help="print the exam as the candidate will hear it, step by step with "
                                            "every timer")
    plan.add_argument("config", type=Path, metavar="CONFIG")

    commands.add_parser("schema", help="print the JSON Schema of a config file (editors check configs with it; "
                                       "docs/viva-config.schema.json holds it)")
    return parser


def _configure_logging(verbose: bool) -> None:
    """loguru to stderr: warnings only by default, so a user sees just what matters."""
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="DEBUG" if verbose else "WARNING", filter=_not_misleading)


def _not_misleading(record) -> bool:
    # Pipecat warns that a Live service with local turn detection emits no turn frames;
    # in viva the turn gate emits them, so the warning would only mislead.
    # Pipecat's SmallWebRTC warns of a missing screen-video transceiver on every browser
    # connection, though viva asks for audio only.
    return (record["function"] != "_warn_if_realtime_service_emits_no_turn_frames"
            and "No screen video transceiver" not in record["message"])


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_logging(args.verbose)
    try:
        if args.command == "emulator":
            from viva.commands.emulator import run_emulator

            return asyncio.run(run_emulator(args))
        if args.command == "simulate":
            from viva.commands.simulate import run_simulate

            return asyncio.run(run_simulate(args))
        if args.command == "run":
            from viva.commands.run import run_live

            return asyncio.run(run_live(args))
        if args.command == "report":
            from viva.report import write_reports

            print(write_reports(args.record_dir))
            return 0
        if args.command == "validate":
            from viva.config import load_config

            if not args.configs and not args.candidate:
                raise BadInput("validate: expected a config, or --candidate FILE")
            for path in args.configs:
                load_config(path)
                print(f"{path}: ok")
            if args.candidate:
                from viva.harness.candidate import load_candidate

                for path in args.candidate:
                    load_candidate(path)
                    print(f"{path}: ok")
            return 0
        if args.command == "plan":
            from viva.commands.plan import plan_text
            from viva.config import load_config

            print(plan_text(load_config(args.config)))
            return 0
        if args.command == "schema":
            from viva.config_schema import schema_text

            sys.stdout.write(schema_text())
            return 0
    except BadInput as e:
        print(f"viva: {e}", file=sys.stderr)
        return BadInput.exit_code
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
