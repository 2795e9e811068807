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
  that refuses its first two deliveries; both named by the start body, inside what the
  deployment allows (VIVA_ALLOWED_STORES, VIVA_ALLOWED_WEBHOOKS, and the loopback webhook
  permitted by VIVA_WEBHOOK_PRIVATE_HOSTS, as only a test or an on-premises setup would).
Then a process delivering a result is killed (SIGKILL) while its POST is in flight; the
next bot start delivers it. A body naming anything else is refused before anything runs,
and what earlier sessions left in the outbox is delivered, whatever one folder holds.
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
from loguru import logger
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
async def deployment(monkeypatch, tmp_path, bucket, webhook):
    """The instance's environment (the secret set and the image's folders), the model at the emulator.
    A body may name the team's bucket (under viva/), the folder records/, and the local webhook."""
    monkeypatch.chdir(ROOT)  # the image's /app: configs/ beside bot.py
    monkeypatch.setenv("VIVA_CONFIG_DIR", str(ROOT / "tests" / "data" / "configs"))  # one question: a short exam
    monkeypatch.setenv("VIVA_OUT", str(tmp_path / "sessions"))
    monkeypatch.setenv("VIVA_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.setenv("VIVA_RESULTS_STORE", str(tmp_path / "operator-records"))
    monkeypatch.setenv("VIVA_ALLOWED_STORES", f"s3://{BUCKET}/viva {tmp_path / 'records'}")
    monkeypatch.setenv("VIVA_ALLOWED_WEBHOOKS", webhook.url)
    monkeypatch.setenv("VIVA_WEBHOOK_PRIVATE_HOSTS", "127.0.0.1")  # the local webhook: a test's setting
    for name in ("VIVA_WEBHOOK_URL",):
        monkeypatch.delenv(name, raising=False)
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
        "from viva.bot import StartBody, deliver_result, results_route\n"
        "from viva.exam_session import RunResult\n"
        "folder = Path(sys.argv[1]); body = StartBody.model_validate(json.loads(sys.argv[2]))\n"
        "result = RunResult(folder, json.loads((folder / 'session.json').read_text()))\n"
        "async def main():\n"
        "    route = await results_route(body)\n"
        "    await deliver_result(result, body=body, route=route, until=time.time() + 30)\n"
        "asyncio.run(main())\n")
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
    ({"config": "a" * 300, "candidate_id": "c"}, r"start body: config: String should have at most 100 characters"),
    ({"config": "ielts_tiny", "candidate_id": "c", "results": {"webhook": "ftp://x"}},
     r"start body: results.webhook: 'ftp://x': expected an https:// URL"),
    ({"config": "ielts_tiny", "candidate_id": "c\n2026-01-01 | INFO | forged"},
     r"start body: candidate_id: expected printable characters only"),
    ({"config": "ielts_tiny", "candidate_id": "c", "results": {"bucket": "x"}},
     r"start body: results.bucket: Extra inputs are not permitted"),
])
async def test_a_bad_start_body_is_one_clear_line_before_anything_runs(body, expected, deployment, monkeypatch):
    from viva.bot import bot

    monkeypatch.setattr(daily_transport_module, "CallClient", None)  # nothing may reach the room
    with pytest.raises(BadInput, match=expected):
        await bot(DailySessionArguments(session_id="s", room_url="https://viva.daily.co/r", token="t", body=body))


# -- what the start body may not choose


@pytest.fixture
def nothing_may_run(monkeypatch):
    """Fails the test if the bot goes as far as making the room's transport or the exam session."""
    import viva.bot

    reached = []

    async def create_transport(*args, **kwargs):
        reached.append("transport")
        raise AssertionError("the transport was made for a body that should have been refused")

    def exam_session(*args, **kwargs):
        reached.append("session")
        raise AssertionError("an exam session was made for a body that should have been refused")

    monkeypatch.setattr(viva.bot, "create_transport", create_transport)
    monkeypatch.setattr(viva.bot, "ExamSession", exam_session)
    monkeypatch.setattr(daily_transport_module, "CallClient", None)
    return reached


@pytest.mark.parametrize("results, refused", [
    ({"webhook": "http://169.254.169.254/latest/meta-data/"}, "results.webhook"),
    ({"webhook": "https://169.254.169.254/latest/meta-data/"}, "results.webhook"),
    ({"webhook": "http://127.0.0.1:22/"}, "results.webhook"),
    ({"webhook": "http://[::1]/"}, "results.webhook"),
    ({"webhook": "http://0x7f000001/"}, "results.webhook"),
    ({"webhook": "https://0x7f000001/"}, "results.webhook"),
    ({"webhook": "https://metadata.google.internal/computeMetadata/v1/"}, "results.webhook"),
    ({"webhook": "http://user:pw@127.0.0.1:{port}/results"}, "results.webhook"),  # the allowed one, with userinfo
    ({"webhook": "http://127.0.0.1:{port}/results/../admin"}, "results.webhook"),
    ({"store": "file:///etc"}, "results.store"),
    ({"store": "/proc/self"}, "results.store"),
    ({"store": "~"}, "results.store"),
    ({"store": "/dev/null"}, "results.store"),
    ({"store": "gs://bot-exam-records/viva"}, "results.store"),
    ({"store": "s3://other-bucket/viva"}, "results.store"),
    ({"store": f"s3://{BUCKET}/other"}, "results.store"),
    ({"store": f"s3://{BUCKET}/viva", "webhook": "https://metadata.google.internal/"}, "results.webhook"),
])
async def test_a_body_naming_a_destination_not_allowed_is_refused_before_anything_runs(
        results, refused, deployment, webhook, nothing_may_run):
    from viva.bot import bot

    port = webhook.url.split(":")[2].split("/")[0]
    results = {key: value.replace("{port}", port) for key, value in results.items()}
    body = {"config": "ielts_tiny", "candidate_id": "c-1", "results": results}
    with pytest.raises(BadInput) as bad:
        await bot(DailySessionArguments(session_id="s-refused", room_url="https://viva.daily.co/r", token="t",
                                        body=body))
    message = str(bad.value)
    assert message.startswith(f"start body: {refused}: ") and len(message.splitlines()) == 1, message
    assert nothing_may_run == []
    for made in ("outbox", "sessions", "records", "operator-records"):
        assert not (deployment / made).exists(), made
    assert webhook.attempts == []


async def test_without_an_allow_list_the_body_names_no_destination(deployment, webhook, monkeypatch, nothing_may_run):
    from viva.bot import bot

    monkeypatch.delenv("VIVA_ALLOWED_WEBHOOKS")
    monkeypatch.delenv("VIVA_ALLOWED_STORES")
    for results, says in [({"webhook": webhook.url}, "results.webhook: .*VIVA_ALLOWED_WEBHOOKS is not set"),
                          ({"store": str(deployment / "records")}, "results.store: .*VIVA_ALLOWED_STORES is not set")]:
        with pytest.raises(BadInput, match=f"^start body: {says}"):
            await bot(DailySessionArguments(session_id="s-x", room_url="https://viva.daily.co/r", token="t",
                                            body={"config": "ielts_tiny", "candidate_id": "c", "results": results}))
    assert nothing_may_run == [] and not (deployment / "outbox").exists()


async def test_a_bad_operator_store_is_refused_at_start_not_after_the_exam(deployment, monkeypatch, nothing_may_run):
    from viva.bot import bot

    monkeypatch.setenv("VIVA_RESULTS_STORE", "/dev/null")
    with pytest.raises(BadInput, match=r"^VIVA_RESULTS_STORE: /dev/null: not a folder$"):
        await bot(DailySessionArguments(session_id="s-x", room_url="https://viva.daily.co/r", token="t",
                                        body={"config": "ielts_tiny", "candidate_id": "c"}))
    assert nothing_may_run == []


# -- what earlier sessions left in the outbox




def left_waiting(url: str, session_id: str):
    """A result queued for url by an earlier session (its process gone before delivering)."""
    from viva.bot import outbox_for
    from viva.destinations import Destinations

    outbox = outbox_for(url, Destinations.from_environment())
    outbox.enqueue(session_id, {"session_id": session_id, "candidate_id": "earlier"})
    return outbox


async def test_an_empty_or_unreadable_url_file_stops_no_other_outbox(deployment, webhook, warnings_logged):
    from viva.bot import deliver_waiting
    from viva.destinations import Destinations

    webhook.refuse = 0
    left_waiting(webhook.url, "s-waiting")
    # Folders sorted before the good one: an empty url file (a kill -9 while the old code rewrote
    # it), one that is not UTF-8, one that is a folder.
    for name, make in [("0000-empty", lambda f: f.write_bytes(b"")),
                       ("0001-binary", lambda f: f.write_bytes(b"\xff\xfe\x00")),
                       ("0002-folder", lambda f: f.mkdir()),
                       ("0003-fifo", os.mkfifo)]:  # read_text waited for a writer: every later start hung
        (deployment / "outbox" / name).mkdir()
        make(deployment / "outbox" / name / "url")
        (deployment / "outbox" / name / "s-other.json").write_text("{}")
    await deliver_waiting(until=time.time() + 30, destinations=Destinations.from_environment())
    assert list(webhook.stored) == ["s-waiting"]
    for name in ("0000-empty", "0001-binary", "0002-folder", "0003-fifo"):
        assert (deployment / "outbox" / name / "s-other.json").exists()  # left for a person
        assert any(name in message and "stays there" in message for message in warnings_logged), (name, warnings_logged)


async def test_a_webhook_url_with_surrounding_whitespace_is_delivered_on_a_later_start(deployment, webhook):
    from viva.bot import deliver_waiting
    from viva.destinations import Destinations

    webhook.refuse = 0
    outbox = left_waiting(f"  {webhook.url}\n", "s-spaced")
    # The folder is named from the URL as it is sent to; the later start reads the same one back.
    assert (outbox.folder / "url").read_text() == webhook.url
    await deliver_waiting(until=time.time() + 30, destinations=Destinations.from_environment())
    assert list(webhook.stored) == ["s-spaced"] and outbox.pending() == []


async def test_a_waiting_delivery_to_a_webhook_no_longer_allowed_stays(deployment, webhook, monkeypatch, warnings_logged):
    from viva.bot import deliver_waiting
    from viva.destinations import Destinations

    outbox = left_waiting(webhook.url, "s-stale")
    monkeypatch.setenv("VIVA_ALLOWED_WEBHOOKS", "https://hooks.example.com/viva")
    await deliver_waiting(until=time.time() + 30, destinations=Destinations.from_environment())
    assert webhook.attempts == [] and [d.session_id for d in outbox.pending()] == ["s-stale"]
    assert any("does not allow" in message and "not under any URL" in message for message in warnings_logged)


async def test_a_failure_delivering_earlier_results_is_logged_not_lost(deployment, webhook, monkeypatch):
    """The delivery of what earlier sessions left runs in a background task: a failure there is in
    the log (with its traceback), not only "Task exception was never retrieved" at collection."""
    import viva.bot
    from viva.bot import bot

    errors = []
    handler = logger.add(lambda message: errors.append(message), level="ERROR")

    def broken(destinations):
        raise RuntimeError("the outbox disk went away")

    monkeypatch.setattr(viva.bot, "waiting_outboxes", broken)
    monkeypatch.setattr(OfflineCallClient, "instances", [])
    monkeypatch.setattr(OfflineCallClient, "join_error", "room not found")  # the exam ends at once, failed
    monkeypatch.setattr(daily_transport_module, "CallClient", OfflineCallClient)
    webhook.refuse = 0
    try:
        result = await bot(DailySessionArguments(session_id=str(uuid.uuid4()), room_url="https://viva.daily.co/gone",
                                                 token="t", body=start_body(webhook.url)))
    finally:
        logger.remove(handler)
    assert result.data["outcome"] == "failed" and list(webhook.stored) == [result.data["session_id"]]
    [failure] = [m for m in errors if "delivering earlier sessions' results failed" in m.record["message"]]
    assert "the outbox disk went away" in failure.record["message"] and failure.record["exception"] is not None


async def test_one_outbox_failing_does_not_stop_the_next(deployment, webhook, monkeypatch, warnings_logged):
    from viva.bot import deliver_waiting
    from viva.destinations import Destinations
    from viva.webhook import Outbox

    webhook.refuse = 0
    # Two outboxes (two spellings of the team's endpoint); whichever is tried first fails.
    left_waiting(webhook.url, "s-one")
    left_waiting(f"{webhook.url}?copy=2", "s-two")
    run, failed = Outbox.run_until_empty, []

    async def the_first_fails(self, **kwargs):
        if not failed:
            failed.append(self)
            raise OSError(28, "No space left on device")
        return await run(self, **kwargs)

    monkeypatch.setattr(Outbox, "run_until_empty", the_first_fails)
    await deliver_waiting(until=time.time() + 30, destinations=Destinations.from_environment())
    [first] = failed
    [left] = [d.session_id for d in first.pending()]
    assert list(webhook.stored) == [{"s-one": "s-two", "s-two": "s-one"}[left]]
    assert any(str(first.folder) in m and "No space left on device" in m for m in warnings_logged)


def test_a_config_name_too_long_for_the_filesystem_names_no_config(monkeypatch, tmp_path):
    # Before, Path.is_file raised OSError (File name too long): a traceback, not one line.
    from viva.bot import exam_config

    monkeypatch.setenv("VIVA_CONFIG_DIR", str(tmp_path))
    with pytest.raises(BadInput, match=r"^start body: config: no config 'aaa+'; expected one of: $"):
        exam_config("a" * 300)
