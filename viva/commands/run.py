"""`viva run`: a live session with a real person, in a Daily room, a browser or at this desk.

The session is the simulated one's (viva/exam_session.py): the same pipeline, record and
report; only the transport and the moment the exam starts differ.
"""

from __future__ import annotations

import argparse

from viva.config import load_config
from viva.exam_session import ExamSession, RunResult, api_key_from_environment
from viva.harness.targets import targets_for
from viva.pipelines.context import TargetFactory
from viva.record import new_session_id


async def run_live(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    llm = args.llm or "gemini"
    if llm == "gemini":
        api_key_from_environment()  # a missing key is one line now, before a room or a page is made
    targets = targets_for(llm)
    if args.transport == "local":
        result = await run_local(config, targets=targets, out=args.out, headphones=args.headphones)
    elif args.transport == "daily":
        from viva.transports.daily import run_daily

        result = await run_daily(config, targets=targets, out=args.out, room_url=args.room, token=args.token)
    else:
        from viva.transports.webrtc import run_webrtc

        result = await run_webrtc(config, targets=targets, out=args.out, host=args.host, port=args.port)
    if result is None:
        return 0
    print(f"{result.data['outcome']} ({result.data['end_reason']}); record in {result.record_dir}")
    return 0 if result.ok else 1


async def run_local(config, *, targets: TargetFactory, out, headphones: bool) -> RunResult:
    """The candidate is at this machine: the exam starts at once and ends with the exam
    (or Ctrl-C: `aborted`, the record complete)."""
    from viva.transports.local import local_transport, with_half_duplex

    config = with_half_duplex(config, not headphones)
    transport = local_transport()
    session_id = new_session_id()
    async with targets(config=config, out=out, session_id=session_id) as target:
        session = ExamSession(config=config, transport=transport, llm=target, out_dir=out, session_id=session_id)

        @session.worker.event_handler("on_pipeline_started")
        async def begin(worker, frame):
            await session.start_exam()

        print(f"viva: the exam starts now on this machine's microphone and loudspeaker "
              f"({'headphones: barge-in on' if headphones else 'half-duplex: wait for the examiner to finish'}); "
              "Ctrl-C ends it", flush=True)
        return await session.run()
