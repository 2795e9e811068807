"""The browser on this machine: Pipecat's SmallWebRTC transport and its prebuilt page.

`viva run CONFIG --transport webrtc` serves Pipecat's prebuilt client at
http://HOST:PORT/client; each browser that connects gets one exam (viva/exam_session.py)
that starts when its WebRTC connection is up and ends `aborted` if the browser leaves
first. The browser cancels the examiner's echo itself (getUserMedia's echo
cancellation), so the turn gate keeps barge-in on.

The bot keeps Pipecat's convention, `async def bot(runner_args)`, and builds its
transport with Pipecat's `create_transport`, so the same code runs under Pipecat's own
development runner (`VIVA_CONFIG=configs/x.yaml python -m viva.transports.webrtc -t webrtc`)
and its cloud.

Why viva serves the page itself instead of calling `pipecat.runner.run.main()`, while
keeping that runner's WebRTC routes (same paths, same request and response shapes, so
the prebuilt page works unchanged) and its public building blocks
(`SmallWebRTCRequestHandler`, `SmallWebRTCRunnerArguments`, `create_transport`):

- `main()` parses `sys.argv` itself: viva's own command line would be rejected.
- it finds the bot through `__main__`, then `import bot`, then by executing every `.py`
  file in the working directory: none of which is viva's bot.
- it calls `uvicorn.run`, which starts an event loop of its own (viva's commands already
  run in one), and resets loguru to DEBUG on stderr.
- it runs each bot as a background task of the HTTP offer's response, and uvicorn's
  graceful shutdown waits for those: Ctrl-C would wait for every exam in progress to
  finish, and a second Ctrl-C would leave their records unfinished. viva keeps its
  sessions as its own tasks and cancels them on shutdown, so each record is finished.
- importing `pipecat.runner.run` loads `.env` over the environment (`override=True`).

No ICE servers are offered: the browser is on this machine (or its network), where host
candidates connect, and there is no STUN server to reach offline. Browsers give a page
the microphone only in a secure context: http://localhost is one, http://<LAN address>
is not (that needs HTTPS in front, or the browser told to trust the origin).

The prebuilt page's SmallWebRTC client manages the microphone with Daily's device
manager, which loads a script from Daily's CDN (c.daily.co) when the page starts: the
browser (not viva) must reach it. tests/transports/test_webrtc.py, offline, gives the
page a plain getUserMedia one instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from loguru import logger
from pipecat.runner.types import SmallWebRTCRunnerArguments
from pipecat.runner.utils import create_transport
from pipecat.transports.base_transport import BaseTransport, TransportParams
from pipecat.transports.smallwebrtc.request_handler import (
    IceCandidate,
    SmallWebRTCPatchRequest,
    SmallWebRTCRequest,
    SmallWebRTCRequestHandler,
)

from viva.config import VivaConfig, load_config
from viva.errors import BadInput
from viva.exam_session import ExamSession, RunResult, gemini_targets
from viva.pipelines.context import TargetFactory
from viva.record import new_session_id


@dataclass(frozen=True)
class ExamSettings:
    """What every browser session runs: the exam, where the model is, where records go."""

    config: VivaConfig
    targets: TargetFactory
    out: Path


def settings_from_environment() -> ExamSettings:
    """The settings when Pipecat's own runner calls `bot`: VIVA_CONFIG (required), VIVA_OUT
    (default sessions); the model is the Live API (google-genai's GOOGLE_GEMINI_BASE_URL moves it)."""
    path = os.environ.get("VIVA_CONFIG")
    if not path:
        raise BadInput("set VIVA_CONFIG to the exam config the bot runs")
    return ExamSettings(config=load_config(path), targets=gemini_targets, out=Path(os.environ.get("VIVA_OUT", "sessions")))


def webrtc_params() -> TransportParams:
    """Audio only: the candidate's microphone at 16 kHz in, the examiner at 24 kHz out."""
    return TransportParams(audio_in_enabled=True, audio_out_enabled=True,
                           audio_in_sample_rate=16000, audio_out_sample_rate=24000)


async def bot(runner_args: SmallWebRTCRunnerArguments, *, settings: ExamSettings | None = None) -> RunResult:
    """One exam for one browser connection (Pipecat's bot convention).

    Args:
        runner_args: the runner's arguments, with the browser's WebRTC connection.
        settings: the exam to run; default: from the environment (settings_from_environment).
    """
    settings = settings or settings_from_environment()
    transport = await create_transport(runner_args, {"webrtc": webrtc_params})
    return await run_browser_exam(transport=transport, settings=settings)


async def run_browser_exam(*, transport: BaseTransport, settings: ExamSettings) -> RunResult:
    """Runs the exam over a SmallWebRTC transport; the record is finished whatever ends it."""
    session_id = new_session_id()
    async with settings.targets(config=settings.config, out=settings.out, session_id=session_id) as target:
        session = ExamSession(config=settings.config, transport=transport, llm=target, out_dir=settings.out,
                              session_id=session_id, rtvi=True)  # the prebuilt page's client speaks RTVI
        follow_the_client(session, transport=transport)
        result = await session.run()
    print(f"viva: session {session_id}: {result.data['outcome']} ({result.data['end_reason']}); "
          f"record in {result.record_dir}", flush=True)
    return result


def follow_the_client(session: ExamSession, *, transport: BaseTransport) -> None:
    """The exam starts when the browser's connection is up, and ends `aborted` when it goes first."""

    @transport.event_handler("on_client_connected")
    async def client_connected(transport, client):
        await session.start_exam()

    @transport.event_handler("on_client_disconnected")
    async def client_disconnected(transport, client):
        await session.candidate_left()


class SessionTasks:
    """The exams in progress, as tasks of the server rather than of an HTTP response: a
    failure is logged, and at shutdown they are cancelled, so that each record is finished
    `aborted` (viva/exam_session.py)."""

    def __init__(self):
        self._tasks: set[asyncio.Task] = set()

    def start(self, exam: Awaitable[object]) -> None:
        task = asyncio.ensure_future(exam)
        self._tasks.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.opt(exception=task.exception()).error("a browser session failed")

    async def cancel_all(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def webrtc_app(*, run_session: Callable[[SmallWebRTCRunnerArguments], Awaitable[object]]) -> FastAPI:
    """The runner's WebRTC app: the prebuilt page at /client, POST /start, and the WebRTC offer
    and ICE candidates at /api/offer and /sessions/{id}/api/offer; each connection runs `run_session`."""
    handler = SmallWebRTCRequestHandler()  # no ICE servers: see the module docstring
    sessions = SessionTasks()
    started: dict[str, dict] = {}  # /start's session id: the body the page sent with it

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        await sessions.cancel_all()
        await handler.close()

    app = FastAPI(lifespan=lifespan)
    app.mount("/client", _prebuilt_ui())

    @app.get("/", include_in_schema=False)
    async def root():
        return RedirectResponse(url="/client/")

    @app.post("/start")
    async def start(request: Request):
        # The page asks for a session first, then sends its offer under /sessions/<id>/.
        data = await _json(request)
        session_id = str(uuid.uuid4())
        started[session_id] = data.get("body") or {}
        return {"sessionId": session_id}

    @app.post("/api/offer")
    async def offer(request: SmallWebRTCRequest, session_id: str | None = None):
        async def connected(connection):
            runner_args = SmallWebRTCRunnerArguments(webrtc_connection=connection, body=request.request_data,
                                                     session_id=session_id or str(uuid.uuid4()))
            sessions.start(run_session(runner_args))

        return await handler.handle_web_request(request=request, webrtc_connection_callback=connected)

    @app.patch("/api/offer")
    async def candidates(request: SmallWebRTCPatchRequest):
        await handler.handle_patch_request(request)
        return {"status": "success"}

    @app.api_route("/sessions/{session_id}/{path:path}", methods=["POST", "PATCH"])
    async def session_route(session_id: str, path: str, request: Request):
        if session_id not in started or not path.endswith("api/offer"):
            return Response(content="unknown session or path", status_code=404)
        data = await _json(request)
        if request.method == "PATCH":
            return await candidates(SmallWebRTCPatchRequest(
                pc_id=data["pc_id"], candidates=[IceCandidate(**c) for c in data.get("candidates", [])]))
        return await offer(SmallWebRTCRequest(
            sdp=data["sdp"], type=data["type"], pc_id=data.get("pc_id"), restart_pc=data.get("restart_pc"),
            request_data=data.get("request_data") or data.get("requestData") or started[session_id]),
            session_id=session_id)

    return app


async def _json(request: Request) -> dict:
    try:
        data = await request.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _prebuilt_ui():
    # The package prints where it looked for its files on import; the user needs the URL only.
    with contextlib.redirect_stdout(io.StringIO()):
        from pipecat_ai_prebuilt.frontend import PipecatPrebuiltUI
    return PipecatPrebuiltUI


def listening_socket(*, host: str, port: int) -> socket.socket:
    """The server's socket, bound now: a port in use is one line (BadInput), not uvicorn's exit."""
    try:
        return socket.create_server((host, port))
    except OSError as e:
        reason = os.strerror(e.errno) if e.errno else str(e)
        raise BadInput(f"--host {host} --port {port}: cannot serve there ({reason})") from None


async def run_webrtc(config: VivaConfig, *, targets: TargetFactory, out: Path, host: str, port: int) -> RunResult | None:
    """Serves the prebuilt page until Ctrl-C (or SIGTERM); one exam per browser connection.

    Returns None: the sessions' outcomes are printed, and recorded, as each one ends.
    """
    import uvicorn

    settings = ExamSettings(config=config, targets=targets, out=Path(out))
    sock = listening_socket(host=host, port=port)

    async def exam(runner_args: SmallWebRTCRunnerArguments) -> RunResult:
        return await bot(runner_args, settings=settings)

    server = uvicorn.Server(uvicorn.Config(webrtc_app(run_session=exam), log_level="warning"))
    shown = "localhost" if host in ("", "0.0.0.0", "::") else host  # where a browser here finds it
    print(f"viva: open http://{shown}:{port}/client in a browser on this machine and press Connect: "
          f"each connection is one exam ({config.exam.name}); Ctrl-C stops the server", flush=True)
    logger.debug(f"serving the WebRTC page on {host}:{port}")
    # uvicorn handles SIGINT and SIGTERM itself: it stops serving, the app's shutdown cancels
    # the sessions in progress (their records finished), then it raises the signal again.
    await server.serve(sockets=[sock])
    return None


if __name__ == "__main__":
    # Pipecat's own development runner, which finds `bot` in __main__.
    from pipecat.runner.run import main

    main()
