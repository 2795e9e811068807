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
    emulator.add_argument("--config", type=Path, help="exam config the emulated examiner follows")
    emulator.add_argument("--log-dir", type=Path, default=Path("emulator-logs"),
                          help="each session's emulator.jsonl goes to LOG_DIR/<session id>/")
    emulator.add_argument("--pace", type=float, default=1.25,
                          help="how many times faster than real time examiner audio is streamed")
    emulator.add_argument("--lifetime-s", type=float, default=None,
                          help="close each connection after this long, with a goAway first")
    emulator.add_argument("--seed", type=int, default=0)

    validate = commands.add_parser("validate", help="check configs")
    validate.add_argument("configs", nargs="+", type=Path, metavar="CONFIG")
    return parser


def _configure_logging(verbose: bool) -> None:
    """loguru to stderr: warnings only by default, so a user sees just what matters."""
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="DEBUG" if verbose else "WARNING")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_logging(args.verbose)
    try:
        if args.command == "emulator":
            from viva.commands.emulator import run_emulator

            return asyncio.run(run_emulator(args))
        if args.command == "validate":
            from viva.config import load_config

            for path in args.configs:
                load_config(path)
                print(f"{path}: ok")
            return 0
    except BadInput as e:
        print(f"viva: {e}", file=sys.stderr)
        return BadInput.exit_code
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
