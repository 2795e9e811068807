"""viva's bot started as Pipecat Cloud's base image starts it (issue 17).

The base image answers the start endpoint's POST /bot with `bot(DailySessionArguments(
session_id, room_url, token, body))` (pipecatcloud.agent, the real package). Here:
- the model is the emulator, reached the way google-genai is redirected without a code
  change (GOOGLE_GEMINI_BASE_URL, SSL_CERT_FILE): the bot itself only knows Gemini;
- the room is Daily's real transport with its CallClient answered offline (the same
  boundary as tests/transports/test_daily.py), and the candidate's microphone is fed
  through daily-python's audio renderer callback, as Daily delivers it: real recorded
  answers, paced in real time, after each examiner turn;
- the record goes to a real S3-compatible server (moto), the result to a local webhook
  that refuses its first two deliveries.
Then a process delivering a result is killed (SIGKILL) while its POST is in flight; the
next bot start delivers it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import types
import uuid
import wave

import pytest
from aiohttp import web
from pipecat.transports.daily import transport as daily_transport_module
from pipecatcloud.agent import DailySessionArguments

from emulator.server import EmulatorServer
from emulator.session import SessionSettings
from emulator.voice import ExaminerVoice
from tests.conftest import ROOT
from tests.transports.test_daily import OfflineCallClient
from tests.viva.test_storage import moto_endpoint, s3  # noqa: F401 (fixtures)
from viva.errors import BadInput
from viva.webhook import verify_signature

SECRET = "team-shared-secret"
# moto keeps one store per process: a bucket of this module's own, whatever other tests left.
BUCKET = "bot-exam-records"
ANSWERS = ["audio/speech__cmu_arctic_aew_a0001.wav", "audio/speech__librivox_sense_and_sensibility_0870.wav",
           "audio/speech__cmu_arctic_aew_a0002.wav", "audio/speech__ljspeech_LJ050-0131.wav"]
CANDIDATE = {"id": str(uuid.uuid4()), "info": {"userName": "candidate", "isLocal": False, "isOwner": False}}
FRAME = 320  # 20 ms at 16 kHz


class Webhook:
    """The team's endpoint: refuses the first `refuse` deliveries with 503, stores the rest by Idempotency-Key."""

    def __init__(self, refuse: int):
        self.refuse = refuse
        self.attempts: list[dict] = []
        self.stored: dict[str, dict] = {}
        self.on_request = None  # (session id) -> True to cut the request off unanswered and unstored
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        assert verify_signature(body, request.headers, SECRET.encode())
        payload = json.loads(body)
        self.attempts.append(payload)
        if self.on_request and self.on_request(payload["session_id"]):
            return web.Response(status=503)  # nobody is left to hear it
        if len(self.attempts) <= self.refuse:
            return web.Response(status=503)
        assert request.headers["Idempotency-Key"] == payload["session_id"]
        self.stored[payload["session_id"]] = payload
        self.arrived.set()
        return web.Response(status=200)


@pytest.fixture
async def webhook():
    hook = Webhook(refuse=2)
    app = web.Application()
    app.router.add_post("/results", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/results"
    yield hook
    await runner.cleanup()


@pytest.fixture
def bucket(request):
    """The team's bucket on the local S3 server (the moto fixtures of tests/viva/test_storage.py); its client."""
    client = request.getfixturevalue("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
async def deployment(monkeypatch, tmp_path, bucket):
    """The instance's environment (the secret set and the image's folders), the model at the emulator."""
    monkeypatch.chdir(ROOT)  # the image's /app: configs/ beside bot.py
    monkeypatch.setenv("VIVA_CONFIG_DIR", str(ROOT / "tests" / "data" / "configs"))  # one question: a short exam
    monkeypatch.setenv("VIVA_OUT", str(tmp_path / "sessions"))
    monkeypatch.setenv("VIVA_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.setenv("VIVA_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("VIVA_WEBHOOK_FIRST_RETRY_S", "0.05")
    monkeypatch.setenv("VIVA_DELIVERY_WAIT_S", "30")
    monkeypatch.setenv("GOOGLE_API_KEY", "key-of-the-secret-set")
    async with EmulatorServer(log_dir=tmp_path / "emulator", settings=SessionSettings(voice=ExaminerVoice())) as emu:
        for name, value in emu.environment().items():
            monkeypatch.setenv(name, value)
        yield tmp_path


class CandidateInTheRoom(OfflineCallClient):
    """The offline CallClient, with the candidate's microphone delivered through the audio renderer
    Pipecat registers (daily-python calls it from its own thread, every 20 ms)."""

    renderer = None
    subscribed = threading.Event()

    def update_subscriptions(self, participant_settings=None, profile_settings=None, completion=None):
        if completion:
            threading.Thread(target=completion, args=(None,)).start()

    def set_audio_renderer(self, participant_id, callback, audio_source="microphone", sample_rate=16000,
                           callback_interval_ms=20):
        CandidateInTheRoom.renderer = (participant_id, callback, audio_source)
        CandidateInTheRoom.subscribed.set()


def samples_of(path) -> bytes:
    with wave.open(str(ROOT / path)) as wav:
        assert wav.getframerate() == 16000 and wav.getnchannels() == 1
        return wav.readframes(wav.getnframes())


def speak_when_asked(record_folder, stop: threading.Event) -> None:
    """The candidate: silence, and after each examiner turn (the record's examiner_audio_end) the next
    recorded answer, 0.8 s later; every 20 ms a frame, as a microphone delivers it."""
    CandidateInTheRoom.subscribed.wait(60)
    participant, callback, source = CandidateInTheRoom.renderer
    pending, answered, reply_at = b"", 0, None
    next_frame = time.monotonic()
    while not stop.is_set():
        if not pending:
            try:
                events = json.loads((record_folder / "session.json").read_text())["events"]
            except (OSError, ValueError, KeyError):  # not written yet, or being written
                events = []
            turns = sum(1 for e in events if e["type"] == "examiner_audio_end")
            if turns > answered and answered < len(ANSWERS) and reply_at is None:
                reply_at = time.monotonic() + 0.8
            if reply_at is not None and time.monotonic() >= reply_at:
                pending, answered, reply_at = samples_of(ANSWERS[answered]), answered + 1, None
        chunk, pending = (pending[: 2 * FRAME], pending[2 * FRAME:]) if pending else (bytes(2 * FRAME), b"")
        chunk = chunk.ljust(2 * FRAME, b"\0")
        callback(participant, types.SimpleNamespace(audio_frames=chunk, sample_rate=16000, num_channels=1), source)
        next_frame += FRAME / 16000
        time.sleep(max(0.0, next_frame - time.monotonic()))


def start_body(webhook_url: str, candidate_id: str = "cand-0042") -> dict:
    return {"config": "ielts_tiny", "candidate_id": candidate_id,
            "results": {"store": f"s3://{BUCKET}/viva", "webhook": webhook_url}}


async def test_a_started_bot_runs_the_exam_stores_the_record_and_delivers_the_result(
        deployment, webhook, bucket, monkeypatch):
    from viva.bot import bot

    monkeypatch.setattr(OfflineCallClient, "instances", [])  # every offline client lists itself there
    monkeypatch.setattr(OfflineCallClient, "join_error", None)
    monkeypatch.setattr(CandidateInTheRoom, "subscribed", threading.Event())
    monkeypatch.setattr(daily_transport_module, "CallClient", CandidateInTheRoom)
    session_id = str(uuid.uuid4())
    args = DailySessionArguments(session_id=session_id, room_url="https://viva.daily.co/exam-room",
                                 token="bot-token", body=start_body(webhook.url))
    stop = threading.Event()
    candidate = threading.Thread(target=speak_when_asked, args=(deployment / "sessions" / session_id, stop),
                                 daemon=True)

    async def join_when_the_bot_is_in():
        while not OfflineCallClient.instances or not OfflineCallClient.instances[0].joined.is_set():
            await asyncio.sleep(0.05)
        await OfflineCallClient.instances[0].participant_joined(CANDIDATE)

    candidate.start()
    joining = asyncio.ensure_future(join_when_the_bot_is_in())
    try:
        result = await bot(args)
    finally:
        stop.set()
        joining.cancel()
    assert result.data["outcome"] == "completed" and result.data["result"], result.data["end_reason"]
    assert OfflineCallClient.instances[0].joins[0]["url"] == "https://viva.daily.co/exam-room"

    stored = {o["Key"]: o for o in bucket.list_objects_v2(Bucket=BUCKET)["Contents"]}
    prefix = f"viva/{session_id}/"
    assert {prefix + name for name in ("session.json", "recording.wav", "report.html")} <= set(stored)
    record = json.loads(bucket.get_object(Bucket=BUCKET, Key=prefix + "session.json")["Body"].read())
    assert record["outcome"] == "completed" and record["session_id"] == session_id

    assert len(webhook.attempts) == 3  # two refused, then stored
    delivered = webhook.stored[session_id]
    assert delivered["candidate_id"] == "cand-0042" and delivered["result"] == record["result"]
    assert delivered["record"] == f"s3://{BUCKET}/{prefix}" and delivered["outcome"] == "completed"
    assert not list((deployment / "outbox").glob("*/*.json"))  # nothing left to deliver


async def test_a_result_cut_off_by_kill_9_is_delivered_on_the_next_start(deployment, webhook, monkeypatch, tmp_path):
    """A process delivering a finished session's result (viva.bot.deliver_result, what the bot does
    once the exam is over) is killed while its first POST is in flight; the next start delivers it."""
    from viva.bot import bot

    webhook.refuse = 0
    finished = tmp_path / "finished"
    _write_record(finished)
    script = (
        "import asyncio, json, sys, time\n"
        "from pathlib import Path\n"
        "from viva.bot import StartBody, deliver_result\n"
        "from viva.exam_session import RunResult\n"
        "folder = Path(sys.argv[1]); body = StartBody.model_validate(json.loads(sys.argv[2]))\n"
        "result = RunResult(folder, json.loads((folder / 'session.json').read_text()))\n"
        "asyncio.run(deliver_result(result, body=body, webhook=body.results.webhook, until=time.time() + 30))\n")
    body = start_body(webhook.url) | {"results": {"store": str(tmp_path / "records"), "webhook": webhook.url}}
    child = subprocess.Popen([sys.executable, "-c", script, str(finished), json.dumps(body)], cwd=ROOT,
                             env=os.environ.copy())
    killed = asyncio.Event()

    def kill_the_deliverer(session_id: str) -> bool:
        if session_id == "20261203-090000-dead" and not killed.is_set():
            os.kill(child.pid, signal.SIGKILL)  # the POST is cut off: it never arrives, nor its answer
            killed.set()
            return True
        return False

    webhook.on_request = kill_the_deliverer
    assert await asyncio.to_thread(child.wait, 60) == -signal.SIGKILL
    assert killed.is_set() and "20261203-090000-dead" not in webhook.stored
    (waiting,) = (deployment / "outbox").glob("*/20261203-090000-dead.json")

    # The next start: an exam whose room refuses the bot (it ends `failed` at once); the result
    # left by the killed process goes out first, then this session's own.
    monkeypatch.setattr(OfflineCallClient, "instances", [])
    monkeypatch.setattr(OfflineCallClient, "join_error", "room not found")
    monkeypatch.setattr(daily_transport_module, "CallClient", OfflineCallClient)
    webhook.on_request = None
    next_id = str(uuid.uuid4())
    result = await bot(DailySessionArguments(session_id=next_id, room_url="https://viva.daily.co/gone",
                                             token="t", body=start_body(webhook.url, "cand-0043")))
    assert result.data["outcome"] == "failed"
    assert webhook.stored["20261203-090000-dead"]["candidate_id"] == "cand-0042"
    assert webhook.stored[next_id]["candidate_id"] == "cand-0043" and webhook.stored[next_id]["outcome"] == "failed"
    assert not waiting.exists()


def _write_record(folder) -> None:
    folder.mkdir(parents=True)
    (folder / "session.json").write_text(json.dumps({
        "session_id": "20261203-090000-dead", "exam": "IELTS Speaking (short)", "outcome": "completed",
        "end_reason": "closing_phrase", "result": {"fluency_and_coherence": 6}, "result_source": "tool_call",
        "events": []}))
    (folder / "recording.wav").write_bytes(b"RIFF")
    (folder / "report.html").write_text("<p>report</p>")


@pytest.mark.parametrize("body, expected", [
    (None, r"start body: config: Field required"),
    ({"config": "ielts_tiny"}, r"start body: candidate_id: Field required"),
    ({"config": "../secrets", "candidate_id": "c"}, r"start body: config: no config '../secrets'; expected one of: .*"
                                                     r"ielts_tiny"),
    ({"config": "ielts_tiny", "candidate_id": "c", "results": {"webhook": "ftp://x"}},
     r"ftp://x: expected the webhook's http:// or https:// URL"),
    ({"config": "ielts_tiny", "candidate_id": "c", "results": {"bucket": "x"}},
     r"start body: results.bucket: Extra inputs are not permitted"),
])
async def test_a_bad_start_body_is_one_clear_line_before_anything_runs(body, expected, deployment, monkeypatch):
    from viva.bot import bot

    monkeypatch.setattr(daily_transport_module, "CallClient", None)  # nothing may reach the room
    with pytest.raises(BadInput, match=expected):
        await bot(DailySessionArguments(session_id="s", room_url="https://viva.daily.co/r", token="t", body=body))
