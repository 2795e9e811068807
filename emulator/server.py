"""The emulator's server: one TLS port on loopback that answers the Live API's WebSocket
paths and the REST API (emulator/rest.py), as the real service answers both on one host.

aiohttp serves the port: a WebSocket upgrade on a Live path goes to the Live handler
(emulator/session.py, through emulator/livesocket.py); every other request to the REST API,
which answers a path it does not serve with the service's 404 JSON.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
import ssl
import tempfile
import time
from pathlib import Path

from aiohttp import web
from google.genai import types

from emulator import wire
from emulator.caller import RUN_HEADER, SESSION_HEADER, api_key, redacted_path, session_name
from emulator.faults import FaultPlan, FaultsFile
from emulator.journal import Journal
from emulator.language import own_words_for, speech_language
from emulator.livesocket import LiveSocket
from emulator.misbehaviour import Misbehaviour
from emulator.rest import RestApi
from emulator.script import ScriptedExaminer, script_from_instruction
from emulator.session import ExamSession, LiveConnection, SessionSettings, Snapshot, new_handle
from emulator.tls import EmulatorTLS
from emulator.voice import ExaminerVoice

# Suffixes of the paths google-genai builds (protocol reference §1.1): Developer API,
# ephemeral-token (Constrained) and Vertex.
_LIVE_PATH = re.compile(
    r"/ws/google\.(ai\.generativelanguage\.v1\w*\.GenerativeService\.BidiGenerateContent(Constrained)?"
    r"|cloud\.aiplatform\.v1\w*\.LlmBidiService/BidiGenerateContent)$"
)
HANDLE_LIFETIME_S = 2 * 3600  # the real service keeps handles two hours
MAX_MESSAGE = 16 * 2**20  # a Live message or a REST body
GOING_AWAY = 1001  # the close of sockets still open when the emulator stops
CLOSE_WAIT_S = 2.0


class EmulatorServer:
    """A Gemini Live API emulator: many isolated sessions in one process. Its model knows
    only what each client sends: the examiner follows the script of the setup's system
    instruction (emulator/script.py). The same port answers REST requests (emulator/rest.py).

    Args:
        host, port: where to listen (port 0: any free port).
        log_dir: emulator.jsonl of each session goes to log_dir/<session id>/ (None: memory only).
        tls_dir: where the CA file is written (default: a temporary folder).
        settings: pacing, voice and lifetime of connections.
        faults: how the model misbehaves (SPEC §4); None: a well-behaved examiner.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_dir: Path | None = None,
        tls_dir: Path | None = None,
        settings: SessionSettings | None = None,
        faults: FaultsFile | None = None,
    ):
        self._host, self._port = host, port
        self._log_dir = log_dir
        self._tls_dir = tls_dir
        self.settings = settings or SessionSettings(voice=ExaminerVoice())
        self.faults = faults
        self.sessions: dict[str, ExamSession] = {}
        self._rest = RestApi(sessions=self.sessions)
        self._runner: web.AppRunner | None = None
        self._sockets: set[LiveSocket] = set()  # open Live sockets, closed when the emulator stops
        self._tls: EmulatorTLS | None = None
        self._tempdir: tempfile.TemporaryDirectory | None = None
        self._snapshots: dict[str, tuple[float, Snapshot]] = {}
        self._plans: dict[str, FaultPlan] = {}

    # ---- lifecycle -------------------------------------------------------------------

    async def start(self) -> "EmulatorServer":
        if self._tls_dir is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="viva-emulator-")
            self._tls_dir = Path(self._tempdir.name)
        self._tls = EmulatorTLS.create(self._tls_dir)
        app = web.Application(client_max_size=MAX_MESSAGE)
        app.router.add_route("*", "/{tail:.*}", self._route)
        # Handlers end once their sockets are closed (stop() closes them first); the timeout
        # bounds a REST request still under way.
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5.0)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, self._host, self._port, ssl_context=self._tls.server_context).start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def stop(self) -> None:
        await asyncio.gather(*(socket.close(GOING_AWAY, "") for socket in list(self._sockets)))
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for session in self.sessions.values():
            session.journal.close()
        if self._tempdir is not None:
            self._tempdir.cleanup()

    async def __aenter__(self) -> "EmulatorServer":
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._runner.addresses[0][1]

    @property
    def base_url(self) -> str:
        """Where a client reaches it, Live and REST alike."""
        return f"https://localhost:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self._tls.ca_file

    def client_ssl_context(self) -> ssl.SSLContext:
        return self._tls.client_context()

    def http_options(self, *, session_id: str | None = None, run: int | None = None) -> types.HttpOptions:
        """HttpOptions that point google-genai (or Pipecat's services) at this emulator: the Live
        API and the REST API (generate_content, sync or async).

        session_id names the session (x-viva-session-id): its journal's folder, and the Live
        session a REST request is about. run names the run (x-viva-run): seeded draws repeat.
        """
        headers = {SESSION_HEADER: session_id} if session_id else {}
        if run is not None:
            headers[RUN_HEADER] = str(run)
        context = self.client_ssl_context()
        return types.HttpOptions(
            base_url=self.base_url,
            headers=headers or None,
            client_args={"verify": context},  # the sync REST client (httpx)
            # websockets and aiohttp take ssl, httpx verify; google-genai hands each its own
            async_client_args={"ssl": context, "verify": context},
        )

    def environment(self) -> dict[str, str]:
        """Environment variables that redirect unmodified google-genai code here (Live and REST)."""
        return {
            "GOOGLE_GEMINI_BASE_URL": self.base_url,
            "SSL_CERT_FILE": str(self.ca_file),
            "NO_PROXY": "localhost,127.0.0.1",
        }

    # ---- requests --------------------------------------------------------------------

    async def _route(self, request: web.Request) -> web.StreamResponse:
        """A Live path to the Live handler, anything else to the REST API."""
        # Repeated slashes collapsed: the SDK's default base URL ends in "/" (protocol reference §1.1).
        if _LIVE_PATH.search(re.sub(r"/{2,}", "/", request.path)):
            return await self._live(request)
        return await self._rest.handle(request)

    async def _live(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(
            compress=False,  # base64 audio hardly compresses; spare the CPU for sessions
            max_msg_size=MAX_MESSAGE,
            # How long a close waits for the client's close frame: a client that reads answers in
            # milliseconds; one that does not (aiohttp's default 10 s) would hold stop() that long.
            timeout=CLOSE_WAIT_S,
        )
        if not ws.can_prepare(request).ok:
            return web.Response(status=426, text="Upgrade Required\n", headers={"Upgrade": "websocket"})
        await ws.prepare(request)
        socket = LiveSocket(request, ws)
        self._sockets.add(socket)
        try:
            await self._handle(socket)
        finally:
            self._sockets.discard(socket)
        return ws

    async def _handle(self, ws: LiveSocket) -> None:
        if not api_key(ws.headers, ws.query):
            await ws.close(
                wire.POLICY,
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API c",
            )
            return
        connection = LiveConnection(
            ws=ws,
            settings=self.settings,
            new_session=self._new_session,
            resume=self._resume,
            remember=self._remember,
        )
        await connection.serve()

    def _new_session(self, ws: LiveSocket, setup: wire.WireSetup) -> ExamSession:
        # The name becomes a folder of the log directory: an unsafe one is not used.
        requested = session_name(ws.headers.get(SESSION_HEADER))
        session_id = None
        if requested:
            # The same client again in a new session (its handle was refused): "<id>-2", ...
            session_id, n = requested, 1
            while session_id in self.sessions:
                n += 1
                session_id = f"{requested}-{n}"
        session_id = session_id or f"emu-{time.strftime('%Y%m%d-%H%M%S')}-{len(self.sessions):04d}"
        path = self._log_dir / session_id / "emulator.jsonl" if self._log_dir else None
        journal = Journal(path)
        journal.write(dir="event", kind="connect", path=redacted_path(ws.path), session_id=session_id)
        told = setup.system_instruction
        instruction = told if isinstance(told, str) else "\n".join(
            part.text or "" for part in (told.parts or [] if told is not None else []))
        # The language the client asked the model to speak: its voice, and the words it makes up itself.
        language = speech_language(setup.generation_config)
        own_words = own_words_for(language)
        lines, closing_phrase = script_from_instruction(instruction, own_words)
        examiner = ScriptedExaminer(lines=lines, closing_phrase=closing_phrase, own_words=own_words)
        # A client may name its run (x-viva-run) so that seeded draws repeat run for run.
        stream = ws.headers.get(RUN_HEADER) or str(len(self.sessions))
        # The faults file's seed varies the model's choices too (a judgement's enum value); seed 0,
        # like no file, keeps the draws seeded by settings and stream alone.
        faults_seed = self.faults.seed if self.faults else 0
        key = f"{self.settings.seed}:{stream}" + (f":{faults_seed}" if faults_seed else "")
        seed = int(hashlib.sha256(key.encode()).hexdigest()[:12], 16)
        session = ExamSession(session_id=session_id, examiner=examiner, journal=journal, rng=random.Random(seed),
                              language=language, espeak_voice=self.settings.voice.voice_for(language))
        # One plan per run: a fresh session the same client opens after a refused handle
        # goes on with the run's faults (a fault that fired `times` does not fire again).
        plan = self._plans.setdefault(stream, FaultPlan(self.faults, stream=stream))
        session.misbehaviour = Misbehaviour(
            examiner, plan,
            on_fault=lambda fault, **fields: journal.write(kind="fault", fault=fault, **fields),
            spoken_results=session.spoken_results,
        )
        self.sessions[session_id] = session
        return session

    def _remember(self, snapshot: Snapshot) -> str:
        now = time.monotonic()
        for old in [h for h, (at, _) in self._snapshots.items() if now - at > HANDLE_LIFETIME_S]:
            del self._snapshots[old]
        handle = new_handle(snapshot.session.session_id)
        self._snapshots[handle] = (now, snapshot)
        snapshot.session.handles.append(handle)
        return handle

    def _resume(self, handle: str) -> Snapshot | None:
        remembered = self._snapshots.get(handle)
        if remembered is None or time.monotonic() - remembered[0] > HANDLE_LIFETIME_S:
            return None
        if not remembered[1].session.resumable:
            return None
        return remembered[1]
