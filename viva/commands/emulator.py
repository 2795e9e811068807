"""`viva emulator`: the Live API emulator on its own, until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import shlex

from viva.errors import BadInput
from viva.harness.faults import load_faults


async def run_emulator(args: argparse.Namespace) -> int:
    faults = load_faults(args.faults) if args.faults else None
    if args.pace <= 0:
        raise BadInput(f"--pace {args.pace}: expected a number above 0")
    if not 0 <= args.port <= 65535:
        raise BadInput(f"--port {args.port}: expected a port number from 0 to 65535 (0: any free port)")
    if args.lifetime_s is not None and args.lifetime_s <= 0:
        raise BadInput(f"--lifetime-s {args.lifetime_s}: expected a number of seconds above 0")
    # The server's modules load once the options are known to be good (bad ones are told at once).
    from emulator.server import EmulatorServer
    from emulator.session import SessionSettings
    from emulator.voice import ExaminerVoice

    voice = ExaminerVoice()
    settings = SessionSettings(voice=voice, pace=args.pace, connection_lifetime_s=args.lifetime_s, seed=args.seed)
    server = EmulatorServer(host=args.host, port=args.port, log_dir=args.log_dir, settings=settings,
                            faults=faults)
    try:
        await server.start()
    except OSError as e:
        raise BadInput(f"--host {args.host} --port {args.port}: cannot listen: {e.strerror or e}") from None
    environment = " ".join(f"{k}={shlex.quote(v)}" for k, v in server.environment().items())
    print(f"viva emulator: the Gemini Live API and its REST API (text, TTS) at {server.base_url} "
          f"(voice: {voice.engine}; its examiner knows only what a client sends)")
    print(f"  CA file a client must trust: {server.ca_file}")
    print(f"  in code:  HttpOptions(base_url={server.base_url!r}, client_args={{'verify': ctx}}, "
          "async_client_args={'ssl': ctx, 'verify': ctx}), ctx an SSLContext trusting the CA file")
    print(f"  or set:   export {environment}")
    print(f"  session logs: {args.log_dir}/<session id>/emulator.jsonl; Ctrl-C stops", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()
    return 0
