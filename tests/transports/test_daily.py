"""`viva run --transport daily`: the room and tokens viva asks Daily's REST API for (a local
server speaking that API), and a whole session through Pipecat's real DailyTransport.

Daily's servers cannot be reached from here, so daily-python's CallClient cannot join a
real call. The session tests replace it at that boundary only: `OfflineCallClient` wraps
the real CallClient (audio tracks, the speaker, subscriptions stay daily-python's own),
answers `join`, `leave` and `send_app_message` (Pipecat's RTVI messages to the room,
sent over Daily's signalling) as Daily would, without the network, and delivers participant
events by calling the transport client's daily-python callbacks from another thread, as
daily-python does. From there on everything is Pipecat's: DailyTransportClient queues the
event, DailyTransport raises `on_first_participant_joined` / `on_participant_left`, and
viva's handlers start and end the exam.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from pathlib import Path

import pytest
from daily import CallClient
from pipecat.transports.daily import transport as daily_transport_module

from tests.transports.daily_rest_server import DailyRESTServer
from viva.cli import main
from viva.config import load_config
from viva.errors import BadInput
from viva.harness.targets import emulator_targets
from viva.transports import daily

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs" / "ielts_speaking_short.yaml"
CANDIDATE = {"id": str(uuid.uuid4()), "info": {"userName": "candidate", "isLocal": False, "isOwner": False}}


@pytest.fixture
def config():
    return load_config(CONFIG)


@pytest.fixture
async def daily_api(monkeypatch):
    """The local Daily REST API, with viva's environment pointing at it."""
    async with DailyRESTServer() as server:
        monkeypatch.setenv("DAILY_API_KEY", server.api_key)
        monkeypatch.setenv("DAILY_API_URL", server.api_url)
        yield server


class OfflineCallClient:
    """daily-python's CallClient with the network calls (join, leave, app messages) answered here."""

    instances: list[OfflineCallClient] = []
    join_error: str | None = None  # what a refused join reports; None: joined

    def __init__(self, event_handler=None):
        self._real = CallClient(event_handler=event_handler)
        self.event_handler = event_handler  # Pipecat's DailyTransportClient
        self.user_name: str | None = None
        self.joins: list[dict] = []
        self.joined = threading.Event()
        self.left = threading.Event()
        self.app_messages: list = []
        OfflineCallClient.instances.append(self)

    def __getattr__(self, name):
        return getattr(self._real, name)

    def set_user_name(self, user_name):
        self.user_name = user_name
        self._real.set_user_name(user_name)

    def join(self, meeting_url, meeting_token=None, client_settings=None, completion=None):
        self.joins.append({"url": meeting_url, "token": meeting_token, "client_settings": client_settings})
        if self.join_error:
            answer = (None, self.join_error)
        else:
            answer = ({"participants": {"local": {"id": str(uuid.uuid4()), "info": {"isLocal": True}}},
                       "meetingSession": {"id": str(uuid.uuid4())}}, None)
        # daily-python answers from its own thread.
        threading.Thread(target=self._answer, args=(completion, *answer)).start()

    def _answer(self, completion, *args):
        completion(*args)
        if args[-1] is None:
            self.joined.set()

    def leave(self, completion=None):
        self.left.set()
        threading.Thread(target=completion, args=(None,)).start()

    def send_app_message(self, message, participant_id=None, serialize_none=True, completion=None):
        self.app_messages.append(message)
        if completion:
            threading.Thread(target=completion, args=(None,)).start()

    async def participant_joined(self, participant):
        await asyncio.to_thread(self.event_handler.on_participant_joined, participant)

    async def participant_left(self, participant, reason="leftCall"):
        await asyncio.to_thread(self.event_handler.on_participant_left, participant, reason)


@pytest.fixture
def call_clients(monkeypatch):
    """Every CallClient Pipecat's Daily transport makes is an OfflineCallClient."""
    OfflineCallClient.instances = []
    monkeypatch.setattr(OfflineCallClient, "join_error", None)
    monkeypatch.setattr(daily_transport_module, "CallClient", OfflineCallClient)
    return OfflineCallClient


class HandledRoomEvents:
    """Which of viva's room event handlers (`follow_candidate`) have returned, with their arguments:
    what viva decided on an event is done by then, so a check needs no slack."""

    def __init__(self):
        self.returned: list[tuple[str, tuple]] = []
        self._changed = asyncio.Event()

    def event_handler(self, transport, name: str):
        """Registers viva's handler on the transport as it is, noting when it has returned."""
        def register(handler):
            async def noted(transport, *args):
                try:
                    await handler(transport, *args)
                finally:
                    self.returned.append((name, args))
                    self._changed.set()

            transport.add_event_handler(name, noted)
            return handler

        return register

    async def until(self, name: str, *args, timeout: float = 30) -> None:
        async with asyncio.timeout(timeout):  # the bound only stops a broken run hanging
            while not any(n == name and a[: len(args)] == args for n, a in self.returned):
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
def handled(monkeypatch):
    """viva's room event handlers, registered as viva registers them and noted once returned."""
    events, follow_candidate = HandledRoomEvents(), daily.follow_candidate

    class Registering:
        def __init__(self, transport):
            self._transport = transport

        def event_handler(self, name):
            return events.event_handler(self._transport, name)

    def follow(*, transport, session):
        follow_candidate(transport=Registering(transport), session=session)

    monkeypatch.setattr(daily, "follow_candidate", follow)
    return events


@contextlib.asynccontextmanager
async def _running(coroutine):
    """The session as a task; one a failed test leaves running is cancelled, not left to hang."""
    task = asyncio.create_task(coroutine)
    try:
        yield task
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        # daily-python's audio source answers the examiner's last audio write up to a frame
        # (20 ms) after the pipeline stopped waiting for it, and Pipecat's completion callback
        # then needs the event loop still open (else "Event loop is closed" in Daily's thread).
        await asyncio.sleep(0.1)


async def _until(predicate, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def _journal(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _prompts(journal: list[dict]) -> list[dict]:
    """What the emulator received that asks the model to speak: context turns, or text."""
    return [r for r in journal if r.get("dir") == "in" and r["kind"] in ("client_content", "text")]


def _events(record_dir: Path) -> list[str]:
    path = record_dir / "session.json"
    return [e["type"] for e in json.loads(path.read_text())["events"]] if path.exists() else []


# ---- the REST decisions, without a network ----------------------------------------------


def test_the_room_is_private_expires_after_the_session_and_ejects_then(config):
    params = daily.room_params(config, session_id="20260101-120000-abcd", now=1_000_000.0)
    assert params.name == "viva-20260101-120000-abcd"
    assert params.privacy == "private"
    assert params.properties.exp == 1_000_000 + config.session.max_s + daily.ROOM_MARGIN_S
    assert params.properties.eject_at_room_exp is True
    assert params.properties.max_participants == 2


def test_only_the_bot_token_owns_the_room_and_both_expire_with_it(config):
    candidate, bot = daily.candidate_token_request(config), daily.bot_token_request(config)
    assert candidate["owner"] is False and bot["owner"] is True
    for request in (candidate, bot):
        assert request["expiry_time"] == daily.room_lifetime_s(config)
        assert request["eject_at_token_exp"] is True
    assert bot["params"].properties.user_name == "viva examiner"
    assert daily.join_link("https://x.daily.co/r", "T") == "https://x.daily.co/r?t=T"


# ---- the REST calls, against the local Daily API ----------------------------------------


async def test_viva_asks_daily_for_a_private_room_a_candidate_token_and_an_owner_token(config, daily_api):
    before = time.time()
    async with daily.exam_room(config, session_id="s1", room_url=None, token=None) as room:
        after = time.time()
        assert "viva-s1" in daily_api.rooms
    lifetime = config.session.max_s + daily.ROOM_MARGIN_S

    assert all(r.authorization == f"Bearer {daily_api.api_key}" for r in daily_api.requests)
    [create] = daily_api.sent("POST", "/v1/rooms")
    assert create.body["name"] == "viva-s1" and create.body["privacy"] == "private"
    properties = create.body["properties"]
    assert before + lifetime - 1 <= properties["exp"] <= after + lifetime + 1
    assert properties["eject_at_room_exp"] is True and properties["max_participants"] == 2

    candidate, bot = (r.body["properties"] for r in daily_api.sent("POST", "/v1/meeting-tokens"))
    for token in (candidate, bot):
        assert token["room_name"] == "viva-s1"
        assert before + lifetime - 1 <= token["exp"] <= after + lifetime + 1
        assert token["eject_at_token_exp"] is True
    assert candidate["is_owner"] is False and bot["is_owner"] is True

    assert room.url == "https://viva-test.daily.co/viva-s1"
    link_token = room.candidate_link.removeprefix(room.url + "?t=")
    assert daily_api.tokens[link_token]["is_owner"] is False
    assert daily_api.tokens[room.bot_token]["is_owner"] is True
    # The room was the session's: deleted once it is over.
    assert len(daily_api.sent("DELETE", "/v1/rooms/viva-s1")) == 1 and not daily_api.rooms


async def test_a_given_room_is_joined_as_given_and_nothing_is_created(config, daily_api):
    async with daily.exam_room(config, session_id="s2", room_url="https://x.daily.co/mine", token="BOT") as room:
        assert room == daily.DailyRoom(url="https://x.daily.co/mine", bot_token="BOT")
    assert daily_api.requests == []


async def test_a_wrong_api_key_is_one_clear_line_and_exit_2(daily_api, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DAILY_API_KEY", "not-the-key")
    code = await asyncio.to_thread(
        main, ["run", str(CONFIG), "--transport", "daily", "--llm", "emulator", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert "401" in err and "DAILY_API_KEY" in err and daily_api.api_url in err
    assert daily_api.rooms == {} and not list(tmp_path.iterdir())


async def test_no_api_key_and_no_room_is_one_clear_line(config, monkeypatch, tmp_path):
    monkeypatch.delenv("DAILY_API_KEY", raising=False)
    with pytest.raises(BadInput, match="DAILY_API_KEY.*--room"):
        await daily.run_daily(config, targets=emulator_targets, out=tmp_path, room_url=None, token=None)
    code = await asyncio.to_thread(
        main, ["run", str(CONFIG), "--transport", "daily", "--llm", "emulator", "--out", str(tmp_path)])
    assert code == 2


# ---- a session through Pipecat's DailyTransport -----------------------------------------


async def _bot_in_room(call_clients) -> OfflineCallClient:
    await _until(lambda: call_clients.instances and call_clients.instances[0].joined.is_set(),
                 timeout=30, what="the bot to join")
    return call_clients.instances[0]


async def test_the_candidate_joining_starts_the_exam_and_leaving_ends_it_aborted(
        config, daily_api, call_clients, handled, tmp_path, capsys):
    async with _running(daily.run_daily(config, targets=emulator_targets, out=tmp_path, room_url=None, token=None)) as run:
        client = await _bot_in_room(call_clients)

        # The bot joined the room viva created, as its owner, audio only; the candidate got the link.
        [room] = daily_api.rooms.values()
        [join] = client.joins
        assert join["url"] == room["url"]
        bot_token = daily_api.tokens[join["token"]]
        assert (bot_token["is_owner"], bot_token["room_name"]) == (True, room["name"])
        assert client.user_name == "viva examiner"
        inputs = join["client_settings"]["inputs"]
        assert inputs["microphone"]["isEnabled"] is True and inputs["camera"]["isEnabled"] is False
        printed = capsys.readouterr().out
        link = next(word for word in printed.split() if word.startswith(room["url"] + "?t="))
        candidate_token = link.removeprefix(room["url"] + "?t=")
        assert daily_api.tokens[candidate_token]["is_owner"] is False
        assert daily_api.tokens[candidate_token]["room_name"] == room["name"]

        # Nobody there yet: the Live session is up and the bot's join handled, but no exam.
        record_dir = tmp_path / room["name"].removeprefix("viva-")
        journal_path = record_dir / "emulator.jsonl"
        await _until(lambda: any(r["kind"] == "setup_complete" for r in _journal(journal_path)),
                     timeout=30, what="the Live session to be set up")
        await handled.until("on_joined")
        assert "exam_started" not in _events(record_dir)
        assert not _prompts(_journal(journal_path))

        # The candidate joins: the model is prompted, and its voice goes out through Daily.
        await client.participant_joined(CANDIDATE)
        await _until(lambda: any(r["kind"] == "speak" for r in _journal(journal_path))
                     and "examiner_audio_start" in _events(record_dir), timeout=30,
                     what="the examiner to speak through the Daily output")
        journal = _journal(journal_path)
        assert _prompts(journal)  # the exam's opening went to the model (as Pipecat sends a context)
        assert any(r["kind"] == "speak" and config.exam.greeting in r["text"] for r in journal), journal
        assert "exam_started" in _events(record_dir)
        assert not run.done()

        # The candidate leaves: the session ends aborted, its record complete; the room is gone.
        await client.participant_left(CANDIDATE)
        result = await asyncio.wait_for(run, 30)

    data = json.loads((record_dir / "session.json").read_text())
    assert result.record_dir == record_dir
    assert (data["outcome"], data["end_reason"]) == ("aborted", "candidate_left")
    assert data["ended_at"] is not None
    assert (record_dir / "report.html").exists() and (record_dir / "recording.wav").exists()
    assert client.left.is_set()  # the bot left the room
    assert daily_api.sent("DELETE", f"/v1/rooms/{room['name']}") and not daily_api.rooms


async def test_someone_else_leaving_does_not_end_the_exam(config, call_clients, handled, tmp_path):
    given = "https://viva-test.daily.co/given"
    async with _running(daily.run_daily(config, targets=emulator_targets, out=tmp_path, room_url=given, token="BOT")) as run:
        client = await _bot_in_room(call_clients)
        assert (client.joins[0]["url"], client.joins[0]["token"]) == (given, "BOT")
        [record_dir] = tmp_path.iterdir()

        await client.participant_joined(CANDIDATE)
        await _until(lambda: "exam_started" in _events(record_dir), timeout=30, what="the exam to start")
        observer = {"id": str(uuid.uuid4()), "info": {"userName": "observer"}}
        await client.participant_left(observer)
        await handled.until("on_participant_left", observer)  # viva has decided about it
        assert "session_end" not in _events(record_dir) and not run.done()

        await client.participant_left(CANDIDATE)
        result = await asyncio.wait_for(run, 30)
    assert (result.data["outcome"], result.data["end_reason"]) == ("aborted", "candidate_left")


async def test_a_refused_join_ends_the_session_failed_with_dailys_error(config, call_clients, tmp_path):
    call_clients.join_error = "not-allowed: the meeting token is not valid"
    async with _running(daily.run_daily(config, targets=emulator_targets, out=tmp_path,
                                        room_url="https://viva-test.daily.co/given", token="BAD")) as run:
        result = await asyncio.wait_for(run, 30)
    assert result.data["outcome"] == "failed"
    assert "the meeting token is not valid" in result.data["end_reason"]
    assert result.data["ended_at"] is not None and (result.record_dir / "report.html").exists()
