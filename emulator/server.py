"""The emulator's server: TLS WebSocket on loopback, on the Live API's own paths."""

from __future__ import annotations

import asyncio
import hashlib
import http
import random
import re
import ssl
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs

from google.genai import types
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from emulator import wire
from emulator.faults import FaultPlan, FaultsFile
from emulator.journal import Journal
from emulator.misbehaviour import Misbehaviour
from emulator.rest import RestServer
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
SESSION_HEADER = "x-viva-session-id"
RUN_HEADER = "x-viva-run"
HANDLE_LIFETIME_S = 2 * 3600  # the real service keeps handles two hours
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,80}$")


class EmulatorServer:
    """A Gemini Live API emulator: many isolated sessions in one process. Its model knows
    only what each client sends: the examiner follows the script of the setup's system
    instruction (emulator/script.py).

    Args:
        host, port: where to listen (port 0: any free port).
        log_dir: emulator.jsonl of each session goes to log_dir/<session id>/ (None: memory only).
        tls_dir: where the CA file is written (default: a temporary folder).
        settings: pacing, voice and lifetime of connections.
        faults: how the model misbehaves (SPEC §4); None: a well-behaved examiner.
        rest_port: where the REST API (generateContent, emulator/rest.py) listens, on the
            same host and certificate (0: any free port).
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
        rest_port: int = 0,
    ):
        self._host, self._port = host, port
        self._log_dir = log_dir
        self._tls_dir = tls_dir
        self.settings = settings or SessionSettings(voice=ExaminerVoice())
        self.faults = faults
        self._server: Server | None = None
        self._rest_port = rest_port
        self._rest: RestServer | None = None
        self._tls: EmulatorTLS | None = None
        self._tempdir: tempfile.TemporaryDirectory | None = None
        self._snapshots: dict[str, tuple[float, Snapshot]] = {}
        self._plans: dict[str, FaultPlan] = {}
        self.sessions: dict[str, ExamSession] = {}
        self._connection_tasks: set[asyncio.Task] = set()

    # ---- lifecycle -------------------------------------------------------------------

    async def start(self) -> "EmulatorServer":
        if self._tls_dir is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="viva-emulator-")
            self._tls_dir = Path(self._tempdir.name)
        self._tls = EmulatorTLS.create(self._tls_dir)
        self._server = await serve(
            self._handle,
            self._host,
            self._port,
            ssl=self._tls.server_context,
            process_request=self._check_path,
            compression=None,  # base64 audio hardly compresses; spare the CPU for sessions
            max_size=16 * 2**20,
        )
        try:
            self._rest = await RestServer(
                sessions=self.sessions, host=self._host, port=self._rest_port, ssl_context=self._tls.server_context
            ).start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def stop(self) -> None:
        if self._rest is not None:
            await self._rest.stop()
            self._rest = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
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
        return self._server.sockets[0].getsockname()[1]

    @property
    def base_url(self) -> str:
        return f"https://localhost:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self._tls.ca_file

    def client_ssl_context(self) -> ssl.SSLContext:
        return self._tls.client_context()

    def http_options(self, *, session_id: str | None = None, run: int | None = None) -> types.HttpOptions:
        """HttpOptions that point google-genai (or Pipecat's service) at this emulator."""
        headers = {SESSION_HEADER: session_id} if session_id else {}
        if run is not None:
            headers[RUN_HEADER] = str(run)
        return types.HttpOptions(
            base_url=self.base_url,
            headers=headers or None,
            async_client_args={"ssl": self.client_ssl_context()},
        )

    @property
    def rest_port(self) -> int:
        return self._rest.port

    @property
    def rest_base_url(self) -> str:
        """The REST API's base URL (generateContent): a port of its own, the same CA."""
        return f"https://localhost:{self.rest_port}"

    def rest_http_options(self, *, session_id: str | None = None) -> types.HttpOptions:
        """HttpOptions that point google-genai's REST calls (models.generate_content) here.

        session_id names the Live session whose examiner's words the request is about.
        """
        context = self.client_ssl_context()
        return types.HttpOptions(
            base_url=self.rest_base_url,
            headers={SESSION_HEADER: session_id} if session_id else None,
            client_args={"verify": context},  # the sync client (httpx)
            async_client_args={"ssl": context, "verify": context},  # aiohttp takes ssl, httpx verify
        )

    def environment(self) -> dict[str, str]:
        """Environment variables that redirect unmodified google-genai code here."""
        return {
            "GOOGLE_GEMINI_BASE_URL": self.base_url,
            "SSL_CERT_FILE": str(self.ca_file),
            "NO_PROXY": "localhost,127.0.0.1",
        }

    # ---- connections -----------------------------------------------------------------

    def _check_path(self, connection: ServerConnection, request: Request) -> Response | None:
        # Not urlsplit: a path starting "//ws" would be read as a host name.
        path = re.sub(r"/{2,}", "/", request.path.split("?", 1)[0])
        if not _LIVE_PATH.search(path):
            return connection.respond(http.HTTPStatus.NOT_FOUND, "Not Found\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        if not _api_key(ws.request):
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

    def _new_session(self, ws: ServerConnection, setup: wire.WireSetup) -> ExamSession:
        requested = ws.request.headers.get(SESSION_HEADER, "")
        session_id = None
        if _SAFE_ID.match(requested):
            # The same client again in a new session (its handle was refused): "<id>-2", ...
            session_id, n = requested, 1
            while session_id in self.sessions:
                n += 1
                session_id = f"{requested}-{n}"
        session_id = session_id or f"emu-{time.strftime('%Y%m%d-%H%M%S')}-{len(self.sessions):04d}"
        path = self._log_dir / session_id / "emulator.jsonl" if self._log_dir else None
        journal = Journal(path)
        journal.write(dir="event", kind="connect", path=ws.request.path, session_id=session_id)
        told = setup.system_instruction
        instruction = told if isinstance(told, str) else "\n".join(
            part.text or "" for part in (told.parts or [] if told is not None else []))
        lines, closing_phrase = script_from_instruction(instruction)
        examiner = ScriptedExaminer(lines=lines, closing_phrase=closing_phrase)
        # A client may name its run (x-viva-run) so that seeded draws repeat run for run.
        stream = ws.request.headers.get(RUN_HEADER) or str(len(self.sessions))
        # The faults file's seed varies the model's choices too (a judgement's enum value); seed 0,
        # like no file, keeps the draws seeded by settings and stream alone.
        faults_seed = self.faults.seed if self.faults else 0
        key = f"{self.settings.seed}:{stream}" + (f":{faults_seed}" if faults_seed else "")
        seed = int(hashlib.sha256(key.encode()).hexdigest()[:12], 16)
        session = ExamSession(session_id=session_id, examiner=examiner, journal=journal, rng=random.Random(seed))
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


def _api_key(request: Request) -> str | None:
    """The caller's key, from any of the places clients put it (protocol reference §1.2)."""
    headers = request.headers
    if headers.get("x-goog-api-key"):
        return headers["x-goog-api-key"]
    authorization = headers.get("authorization", "")
    if authorization.split(" ")[0] in ("Token", "Bearer") and len(authorization.split(" ")) == 2:
        return authorization.split(" ")[1]
    query = parse_qs(request.path.partition("?")[2])
    for name in ("key", "access_token"):
        if query.get(name):
            return query[name][0]
    return None
