"""`viva emulator`: the Live API emulator on its own, until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import signal
import traceback

from loguru import logger

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
    with _stop_signals() as stopped:
        await _serve(args, faults, stopped)
    return 0


async def _serve(args: argparse.Namespace, faults, stopped: asyncio.Event) -> None:
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
    await stopped.wait()
    await _stop(server)


# How long stopping may take: open sockets get CLOSE_WAIT_S for the client's close frame and
# a REST request under way the runner's shutdown timeout, well inside this.
STOP_S = 20.0


@contextlib.contextmanager
def _stop_signals():
    """An event set on Ctrl-C or SIGTERM, from before the banner says Ctrl-C stops. Both are
    handled here, not left to asyncio.run: a process started in the background by a
    non-interactive shell inherits SIGINT ignored, and Python then installs no
    KeyboardInterrupt handler at all."""
    loop, stopped = asyncio.get_running_loop(), asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, stopped.set)
    try:
        yield stopped
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


async def _stop(server) -> None:
    """The server stopped within STOP_S, then every task it left cancelled; a task that will
    not end is named with its stack on stderr and the process exits without it (asyncio.run
    would wait for it forever)."""
    try:
        await asyncio.wait_for(server.stop(), STOP_S)
    except TimeoutError:
        logger.error(f"viva emulator: the server had not stopped after {STOP_S:.0f} s")
    left = asyncio.all_tasks() - {asyncio.current_task()}
    for task in left:
        task.cancel()
    if not left:
        return
    _, stuck = await asyncio.wait(left, timeout=STOP_S)
    if stuck:
        stacks = "\n".join(f"{task.get_name()}:\n{''.join(traceback.format_list(_frames(task)))}" for task in stuck)
        logger.error(f"viva emulator: {len(stuck)} task(s) would not end when cancelled:\n{stacks}")
        os._exit(1)


def _frames(task: asyncio.Task) -> traceback.StackSummary:
    return traceback.StackSummary.extract((frame, frame.f_lineno) for frame in task.get_stack())
