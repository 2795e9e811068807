"""The webhook outbox against a local receiving server, its retry schedule, and a kill -9."""

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest
from aiohttp import web

from viva.errors import BadInput
from viva import webhook
from viva.webhook import (
    Answer,
    Delivered,
    DeliverySchedule,
    GiveUp,
    Outbox,
    RetryAt,
    signature,
    signed_headers,
    verify_signature,
)

ROOT = Path(__file__).resolve().parents[2]
SECRET = b"shared-secret"
START = 1_750_000_000.0  # a wall-clock time: the outbox's files hold wall-clock times
RESULT = {"session_id": "s1", "band": 7.5, "candidate": "Zoë", "parts": [{"name": "Part 1", "score": 7}]}


class FakeClock:
    def __init__(self, t: float = START):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock():
    return FakeClock()


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    signed: bool  # the signature verified, against the raw body


class Receiver:
    """The team's webhook: answers as scripted (then 200), checks every request's signature,
    and stores results by Idempotency-Key, as a team should."""

    def __init__(self, now):
        self.now = now
        self.script: list = []  # a status, (status, Retry-After), "drop" (stored, answer lost) or "hang"
        self.requests: list[Received] = []
        self.stored: dict[str, bytes] = {}
        self.release = asyncio.Event()  # lets a hung request finish
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(Received(dict(request.headers), body,
                                      verify_signature(body, request.headers, SECRET, now=self.now())))
        answer = self.script.pop(0) if self.script else 200
        if answer == "hang":
            await self.release.wait()
            return web.Response(status=200)
        if answer == "drop" or answer == 200:
            self.stored[request.headers["Idempotency-Key"]] = body
        if answer == "drop":
            request.transport.abort()  # stored, but the sender never hears so
            return web.Response(status=200)
        if answer == 302:
            raise web.HTTPFound("/elsewhere")
        status, retry_after = answer if isinstance(answer, tuple) else (answer, None)
        headers = {"Retry-After": retry_after} if retry_after else {}
        return web.Response(status=status, text="missing field: band" if status == 400 else "busy", headers=headers)


@pytest.fixture
async def receiver(clock):
    team = Receiver(now=clock)
    app = web.Application()
    app.router.add_post("/hook", team.handle)
    app.router.add_route("*", "/elsewhere", team.handle)  # where a followed redirect would land
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    team.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield team
    team.release.set()
    await runner.cleanup()


def no_jitter(clock, **kwargs) -> DeliverySchedule:
    return DeliverySchedule(first_wait_s=5, factor=2, max_wait_s=60, jitter=0.0, clock=clock, **kwargs)


def outbox_for(tmp_path, receiver, clock, **kwargs) -> Outbox:
    kwargs.setdefault("schedule", no_jitter(clock))
    return Outbox(tmp_path / "outbox", receiver.url, SECRET, clock=clock, **kwargs)


def clock_sleep(clock, waits: list[float]):
    """A sleep that moves the fake clock instead of waiting."""
    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.t += seconds
    return sleep


def on_disk(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))




def bounded_sleep(clock, limit: int = 50):
    """A sleep that moves the fake clock, and fails the test if the loop keeps sleeping: a spin
    shows as an error, not as a test that never ends."""
    calls = []

    async def sleep(seconds: float) -> None:
        calls.append(seconds)
        if len(calls) > limit:
            raise AssertionError(f"run_until_empty slept {limit} times: spinning ({calls[-3:]})")
        clock.t += seconds
    return sleep


def delivery_file(session_id: str = "s1", **fields) -> dict:
    return {"version": 1, "session_id": session_id, "body": json.dumps(RESULT), "created_at": START,
            "attempts": 0, "next_attempt_at": START, "last_error": None, "gave_up_at": None} | fields


# -- the outbox, against the receiving server


async def test_a_delivery_is_on_disk_before_any_attempt(tmp_path, receiver, clock):
    outbox = outbox_for(tmp_path, receiver, clock)
    path = outbox.enqueue("s1", RESULT)
    assert path == tmp_path / "outbox" / "s1.json"
    saved = on_disk(path)
    assert saved == {"version": 1, "session_id": "s1", "body": saved["body"], "created_at": START, "attempts": 0,
                     "next_attempt_at": START, "last_error": None, "gave_up_at": None}
    assert json.loads(saved["body"]) == RESULT
    assert receiver.requests == []
    assert sorted(p.name for p in path.parent.iterdir()) == ["dead", "s1.json"]  # no temp file left


async def test_delivered_after_two_refusals_with_the_same_key_and_body(tmp_path, receiver, clock):
    receiver.script = [503, 503]
    outbox = outbox_for(tmp_path, receiver, clock)
    path = outbox.enqueue("s1", RESULT)
    body = on_disk(path)["body"].encode("utf-8")

    [first] = await outbox.deliver_pending()
    assert (first.number, first.answer.status, first.action) == (1, 503, RetryAt(START + 5, 5, "HTTP 503: busy"))
    saved = on_disk(path)
    assert (saved["attempts"], saved["next_attempt_at"], saved["last_error"]) == (1, START + 5, "HTTP 503: busy")
    assert await outbox.deliver_pending() == [] and len(receiver.requests) == 1  # not due yet: nothing sent

    waits = []
    made = await outbox.run_until_empty(sleep=clock_sleep(clock, waits))
    assert [(a.number, type(a.action)) for a in made] == [(2, RetryAt), (3, Delivered)]
    assert waits == [5, 10]
    assert not path.exists() and outbox.pending() == [] and outbox.dead() == []

    assert len(receiver.requests) == 3
    for request in receiver.requests:
        assert request.signed and request.body == body
        assert request.headers["Idempotency-Key"] == "s1"
        assert request.headers["Content-Type"] == "application/json"
    stamps = [int(r.headers["X-Viva-Timestamp"]) for r in receiver.requests]
    assert stamps == [START, START + 5, START + 15]  # each attempt signed when it is sent
    assert receiver.stored == {"s1": body}


async def test_a_lost_answer_means_a_duplicate_with_the_same_key(tmp_path, receiver, clock):
    receiver.script = ["drop"]
    outbox = outbox_for(tmp_path, receiver, clock)
    outbox.enqueue("s1", RESULT)
    made = await outbox.run_until_empty(sleep=clock_sleep(clock, []))
    assert made[0].answer.status is None and "Server disconnected" in made[0].answer.error
    assert isinstance(made[0].action, RetryAt) and isinstance(made[1].action, Delivered)
    first, second = receiver.requests
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] == "s1"
    assert first.body == second.body and first.signed and second.signed
    assert first.headers["X-Viva-Signature"] != second.headers["X-Viva-Signature"]  # a new timestamp each time
    assert list(receiver.stored) == ["s1"]  # the team keeps one result per key


async def test_a_400_is_given_up_at_once_into_dead(tmp_path, receiver, clock):
    receiver.script = [400]
    outbox = outbox_for(tmp_path, receiver, clock)
    outbox.enqueue("s1", RESULT)
    waits = []
    made = await outbox.run_until_empty(sleep=clock_sleep(clock, waits))
    assert [type(a.action) for a in made] == [GiveUp] and waits == [] and len(receiver.requests) == 1
    assert not (tmp_path / "outbox" / "s1.json").exists() and outbox.pending() == []
    dead = on_disk(tmp_path / "outbox" / "dead" / "s1.json")
    assert dead["last_error"] == "HTTP 400: missing field: band (not retried)"
    assert (dead["attempts"], dead["gave_up_at"]) == (1, START)
    assert json.loads(dead["body"]) == RESULT  # kept whole, to send again by hand


async def test_a_redirect_is_not_followed_and_is_given_up(tmp_path, receiver, clock):
    receiver.script = [302]
    outbox = outbox_for(tmp_path, receiver, clock)
    outbox.enqueue("s1", RESULT)
    [made] = await outbox.deliver_pending()
    assert made.answer.status == 302 and isinstance(made.action, GiveUp)
    assert len(receiver.requests) == 1 and receiver.stored == {}  # /elsewhere would have said 200
    assert [d.session_id for d in outbox.dead()] == ["s1"]


async def test_a_429_waits_as_long_as_retry_after_says(tmp_path, receiver, clock):
    receiver.script = [(429, "120")]
    outbox = outbox_for(tmp_path, receiver, clock)
    outbox.enqueue("s1", RESULT)
    waits = []
    await outbox.run_until_empty(sleep=clock_sleep(clock, waits))
    assert waits == [120] and len(receiver.requests) == 2 and outbox.pending() == []


async def test_an_attempt_without_an_answer_times_out_and_is_retried(tmp_path, receiver, clock):
    receiver.script = ["hang"]  # never answers: the timeout is the only way out, however slow the machine
    outbox = outbox_for(tmp_path, receiver, clock, timeout_s=0.2)
    path = outbox.enqueue("s1", RESULT)
    [made] = await outbox.deliver_pending()
    assert made.answer.error == "no answer within 0.2 s" and isinstance(made.action, RetryAt)
    assert on_disk(path)["last_error"] == "network error: no answer within 0.2 s"


async def test_a_refused_connection_is_retried(tmp_path, clock):
    with socket.socket() as probe:  # a port nobody listens on once this is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outbox = Outbox(tmp_path / "outbox", f"http://127.0.0.1:{port}/hook", SECRET, clock=clock,
                    schedule=no_jitter(clock))
    path = outbox.enqueue("s1", RESULT)
    [made] = await outbox.deliver_pending()
    assert made.answer.status is None and isinstance(made.action, RetryAt)
    assert on_disk(path)["last_error"].startswith("network error: ") and on_disk(path)["attempts"] == 1


async def test_the_oldest_delivery_goes_first(tmp_path, receiver, clock):
    outbox = outbox_for(tmp_path, receiver, clock)
    for session_id in ("zz-first", "mm-second", "aa-third"):  # names sort the other way round
        outbox.enqueue(session_id, {"session_id": session_id})
        clock.t += 1
    made = await outbox.deliver_pending()
    assert [a.session_id for a in made] == ["zz-first", "mm-second", "aa-third"]
    assert [r.headers["Idempotency-Key"] for r in receiver.requests] == ["zz-first", "mm-second", "aa-third"]


async def test_run_until_empty_stops_at_its_deadline_and_keeps_the_rest(tmp_path, receiver, clock):
    receiver.script = [503, 503, 503]
    outbox = outbox_for(tmp_path, receiver, clock)
    outbox.enqueue("s1", RESULT)
    waits = []
    made = await outbox.run_until_empty(until=START + 12, sleep=clock_sleep(clock, waits))
    assert waits == [5] and len(made) == 2  # the third attempt would be at START + 15
    [waiting] = outbox.pending()
    assert (waiting.attempts, waiting.next_attempt_at) == (2, START + 15)


async def test_a_temp_file_left_by_a_crash_is_ignored_and_a_corrupt_file_moved_aside(tmp_path, receiver, clock):
    outbox = outbox_for(tmp_path, receiver, clock)
    (tmp_path / "outbox" / ".s0-abc.tmp").write_text('{"version": 1, "sess')  # cut short by a kill
    (tmp_path / "outbox" / "broken.json").write_text("not json")
    outbox.enqueue("s1", RESULT)
    made = await outbox.deliver_pending()
    assert [a.session_id for a in made] == ["s1"] and len(receiver.requests) == 1
    assert (tmp_path / "outbox" / "dead" / "broken.json").read_text() == "not json"
    assert not (tmp_path / "outbox" / "broken.json").exists()


async def test_a_delivery_survives_kill_9_right_after_enqueue(tmp_path, receiver):
    folder = tmp_path / "outbox"
    child = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from viva.webhook import Outbox\n"
        "outbox = Outbox(Path(sys.argv[1]), sys.argv[2], sys.argv[3].encode())\n"
        "outbox.enqueue('crashed-session', {'band': 6.5, 'candidate': 'Zoë'})\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
        "print('still alive')\n"
    )
    done = subprocess.run([sys.executable, "-c", child, str(folder), receiver.url, SECRET.decode()],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert "still alive" not in done.stdout and receiver.requests == []

    receiver.now = time.time  # the child stamped its file with the real clock
    restarted = Outbox(folder, receiver.url, SECRET)
    made = await restarted.deliver_pending()
    assert [(a.session_id, type(a.action)) for a in made] == [("crashed-session", Delivered)]
    [request] = receiver.requests
    assert request.signed and request.headers["Idempotency-Key"] == "crashed-session"
    assert json.loads(request.body) == {"band": 6.5, "candidate": "Zoë"}
    assert restarted.pending() == []


def test_the_outbox_refuses_a_bad_url_or_an_empty_secret(tmp_path):
    for url in ("ftp://example.com/hook", "example.com/hook", "https://"):
        with pytest.raises(BadInput, match="expected the webhook's http:// or https:// URL"):
            Outbox(tmp_path, url, SECRET)
    with pytest.raises(BadInput, match="the webhook secret is empty"):
        Outbox(tmp_path, "https://example.com/hook", b"")


def test_the_url_is_taken_without_surrounding_whitespace(tmp_path):
    outbox = Outbox(tmp_path, "  https://example.com/hook\n", SECRET)
    assert outbox.url == "https://example.com/hook"


async def test_a_delivery_whose_times_are_not_finite_is_set_aside_not_spun(tmp_path, receiver, clock,
                                                                          warnings_logged):
    # NaN is never due and never after the deadline: the old loop slept 0 s forever.
    outbox = outbox_for(tmp_path, receiver, clock)
    folder = tmp_path / "outbox"
    for name, fields in {"nan": {"next_attempt_at": float("nan")}, "inf": {"next_attempt_at": float("inf")},
                         "text": {"created_at": "soon"}, "none": {"next_attempt_at": None}}.items():
        (folder / f"{name}.json").write_text(json.dumps(delivery_file(name, **fields)))
    outbox.enqueue("good", RESULT)
    made = await outbox.run_until_empty(until=START + 100, sleep=bounded_sleep(clock))
    assert [(a.session_id, type(a.action)) for a in made] == [("good", Delivered)]
    assert sorted(p.name for p in (folder / "dead").iterdir()) == ["inf.json", "nan.json", "none.json", "text.json"]
    assert outbox.pending() == []
    set_aside = [m for m in warnings_logged if "is not a delivery, moved to" in m]
    assert len(set_aside) == 4 and "next_attempt_at" in " ".join(set_aside)


async def test_a_folder_named_json_and_a_crlf_session_id_are_set_aside(tmp_path, receiver, clock, warnings_logged):
    outbox = outbox_for(tmp_path, receiver, clock)
    folder = tmp_path / "outbox"
    (folder / "x.json").mkdir()
    (folder / "x.json" / "inside").write_text("kept")
    (folder / "forged.json").write_text(json.dumps(delivery_file("s9\r\nX-Forged: 1")))
    (folder / "slash.json").write_text(json.dumps(delivery_file("../s9")))
    outbox.enqueue("good", RESULT)
    made = await outbox.deliver_pending()
    assert [a.session_id for a in made] == ["good"]
    assert [r.headers["Idempotency-Key"] for r in receiver.requests] == ["good"]
    dead = folder / "dead"
    assert (dead / "x.json" / "inside").read_text() == "kept"  # moved whole, for a person to look at
    assert sorted(p.name for p in dead.iterdir()) == ["forged.json", "slash.json", "x.json"]
    assert all("\n" not in m and "\r" not in m for m in warnings_logged)
    assert len([m for m in warnings_logged if "is not a delivery" in m]) == 3


async def test_a_fifo_and_an_oversized_entry_are_set_aside_without_reading_them(tmp_path, receiver, clock,
                                                                                 warnings_logged, monkeypatch):
    # Read before: a FIFO named *.json hung every later start, waiting for a writer; a huge
    # entry was read whole into memory.
    monkeypatch.setattr(webhook, "MAX_JSON_BYTES", 4096)
    outbox = outbox_for(tmp_path, receiver, clock)
    folder = tmp_path / "outbox"
    os.mkfifo(folder / "fifo.json")
    (folder / "huge.json").write_text(json.dumps({**delivery_file("s8"), "body": "x" * 5000}))
    outbox.enqueue("good", RESULT)
    made = await outbox.deliver_pending()
    assert [a.session_id for a in made] == ["good"]
    assert sorted(p.name for p in (folder / "dead").iterdir()) == ["fifo.json", "huge.json"]
    assert any("huge.json" in m and "over 4096 bytes" in m for m in warnings_logged)


async def test_a_file_that_cannot_be_moved_aside_is_reported_once(tmp_path, receiver, clock, warnings_logged):
    outbox = outbox_for(tmp_path, receiver, clock)
    folder = tmp_path / "outbox"
    (folder / "dead").rmdir()
    (folder / "dead").write_text("a file where the dead/ folder should be")
    (folder / "stuck.json").write_text("not json")
    for _ in range(3):
        assert outbox.pending() == []
    assert len([m for m in warnings_logged if "stuck.json" in m and "cannot be moved" in m]) == 1
    assert (folder / "stuck.json").read_text() == "not json"


async def test_a_file_set_aside_never_replaces_a_delivery_kept_in_dead(tmp_path, receiver, clock):
    receiver.script = [400]
    outbox = outbox_for(tmp_path, receiver, clock)
    outbox.enqueue("s1", RESULT)
    await outbox.deliver_pending()
    kept = (tmp_path / "outbox" / "dead" / "s1.json").read_bytes()
    (tmp_path / "outbox" / "s1.json").write_text("cut short by a full disk")
    assert outbox.pending() == []
    assert (tmp_path / "outbox" / "dead" / "s1.json").read_bytes() == kept
    assert (tmp_path / "outbox" / "dead" / "s1-1.json").read_text() == "cut short by a full disk"


@pytest.fixture
def usual_umask():
    before = os.umask(0o022)
    yield
    os.umask(before)


def test_the_outbox_is_owner_only(tmp_path, clock, usual_umask):
    # Under the usual umask 022 a plain mkdir or write_text is readable by every user.
    outbox = Outbox(tmp_path / "root" / "outbox", "https://example.com/hook", SECRET, clock=clock)
    path = outbox.enqueue("s1", RESULT)
    assert (path.stat().st_mode & 0o777) == 0o600
    for folder in (tmp_path / "root", tmp_path / "root" / "outbox", outbox.dead_folder):
        assert (folder.stat().st_mode & 0o777) == 0o700, folder


def test_a_session_id_must_be_a_plain_name(tmp_path, clock):
    outbox = Outbox(tmp_path, "https://example.com/hook", SECRET, clock=clock)
    with pytest.raises(ValueError, match="session id"):
        outbox.enqueue("../../etc/x", RESULT)


# -- the signature


def test_the_signature_is_hmac_sha256_of_timestamp_key_and_body_on_lines():
    import hashlib
    import hmac

    body = b'{"band":7}'
    # The scheme as the module's docstring gives it to receivers in any language.
    expected = hmac.new(SECRET, b"1750000000\ns1\n" + body, hashlib.sha256).hexdigest()
    assert signature(body, SECRET, 1750000000, "s1") == f"sha256={expected}"
    headers = signed_headers(body, SECRET, "s1", 1750000000)
    assert headers == {"Content-Type": "application/json", "Idempotency-Key": "s1",
                       "X-Viva-Timestamp": "1750000000", "X-Viva-Signature": f"sha256={expected}"}


def test_the_idempotency_key_is_signed():
    # A receiver deduplicates by the key: one changed on the way (a result filed under another
    # session's key) must not verify.
    body = b'{"band":7}'
    headers = signed_headers(body, SECRET, "s1", 1750000000)
    assert verify_signature(body, headers, SECRET, now=1750000000)
    for key in ("s2", "s1 ", "", "S1"):
        assert not verify_signature(body, dict(headers, **{"Idempotency-Key": key}), SECRET, now=1750000000)
    without_key = {k: v for k, v in headers.items() if k != "Idempotency-Key"}
    assert not verify_signature(body, without_key, SECRET, now=1750000000)


def test_no_bytes_move_between_the_key_and_the_body_unnoticed():
    # A session id may hold a "."; with "." between key and body, key "s.1" and body "{..}"
    # would sign the same bytes as key "s" and body "1.{..}".
    headers = signed_headers(b'{"band":7}', SECRET, "s.1", 1750000000)
    moved = dict(headers, **{"Idempotency-Key": "s"})
    assert not verify_signature(b'1.{"band":7}', moved, SECRET, now=1750000000)
    assert not verify_signature(b'{"band":7}', dict(headers, **{"Idempotency-Key": "s.1\n"}), SECRET,
                                now=1750000000)


@pytest.mark.parametrize("change", [
    {"X-Viva-Timestamp": "9" * 5000},  # int() of it raises ValueError (and a float overflows)
    {"X-Viva-Timestamp": "1" * 40},
    {"X-Viva-Timestamp": "１７５００００００００"},  # full-width digits: isdigit() says yes
    {"X-Viva-Timestamp": "-1750000000"},
    {"X-Viva-Timestamp": None},
    {"X-Viva-Timestamp": 1750000000},
    {"X-Viva-Signature": b"sha256=00"},
    {"X-Viva-Signature": "sha256=\udcff"},
    {"Idempotency-Key": 7},
    {"Idempotency-Key": "s1\udcff"},
    {b"X-Viva-Timestamp": "1750000000"},
    {7: "x"},
])
def test_verify_says_false_for_a_malformed_header_never_raises(change):
    body = b'{"band":7}'
    headers = signed_headers(body, SECRET, "s1", 1750000000)
    if any(not isinstance(name, str) for name in change):
        headers.pop("X-Viva-Timestamp")
    headers.update(change)
    assert verify_signature(body, headers, SECRET, now=1750000000) is False


def test_verify_refuses_when_now_is_not_a_number():
    body = b'{"band":7}'
    headers = signed_headers(body, SECRET, "s1", 1750000000)
    assert not verify_signature(body, headers, SECRET, now=float("nan"))
    assert not verify_signature(body, headers, SECRET, now=1750000000, tolerance_s=float("nan"))


def test_verify_refuses_a_changed_body_a_wrong_secret_and_an_old_request():
    body = b'{"band":7}'
    headers = signed_headers(body, SECRET, "s1", 1750000000)
    assert verify_signature(body, headers, SECRET, now=1750000000)
    assert verify_signature(body, {k.lower(): v for k, v in headers.items()}, SECRET, now=1750000100)
    assert not verify_signature(b'{"band":9}', headers, SECRET, now=1750000000)
    assert not verify_signature(body, headers, b"other secret", now=1750000000)
    assert not verify_signature(body, headers, SECRET, now=1750000000 + 301)  # replayed later
    moved = dict(headers, **{"X-Viva-Timestamp": "1750000200"})  # a fresh stamp on an old signature
    assert not verify_signature(body, moved, SECRET, now=1750000200)
    assert not verify_signature(body, {"X-Viva-Signature": headers["X-Viva-Signature"]}, SECRET, now=1750000000)


# -- the schedule, directly


def test_2xx_is_delivered(clock):
    for status in (200, 201, 202, 204):
        assert no_jitter(clock).after(Answer(status=status), attempts=1, created_at=START) == Delivered(status)


def test_waits_double_up_to_the_cap_within_the_jitter(clock):
    schedule = DeliverySchedule(first_wait_s=5, factor=2, max_wait_s=60, jitter=0.25, rng=random.Random(3),
                                clock=clock)
    waits = []
    for attempts, step in zip(range(1, 8), [5, 10, 20, 40, 60, 60, 60], strict=True):
        action = schedule.after(Answer(status=503), attempts=attempts, created_at=START)
        assert isinstance(action, RetryAt) and action.at == clock.t + action.wait_s
        assert step * 0.75 <= action.wait_s <= step
        waits.append(action.wait_s)
    assert len(set(waits)) == 7  # jittered: no two alike


def test_no_answer_408_429_and_5xx_are_retried(clock):
    for answer in (Answer(error="Server disconnected"), Answer(status=408), Answer(status=429), Answer(status=500),
                   Answer(status=502), Answer(status=503), Answer(status=504)):
        action = no_jitter(clock).after(answer, attempts=2, created_at=START)
        assert action == RetryAt(START + 10, 10, str(answer)), answer


def test_other_answers_are_given_up_at_once(clock):
    for status in (301, 302, 400, 401, 403, 404, 410, 413, 422):
        action = no_jitter(clock).after(Answer(status=status, detail="no"), attempts=1, created_at=START)
        assert action == GiveUp(f"HTTP {status}: no (not retried)")


def test_retry_after_in_seconds_or_as_a_date_sets_the_wait(clock):
    schedule = no_jitter(clock)
    assert schedule.after(Answer(status=429, retry_after="30"), attempts=1, created_at=START).at == START + 30
    date = format_datetime(datetime.fromtimestamp(START + 90, timezone.utc), usegmt=True)
    assert schedule.after(Answer(status=503, retry_after=date), attempts=1, created_at=START).at == START + 90
    # An unreadable one is ignored: the usual backoff.
    assert schedule.after(Answer(status=503, retry_after="soon"), attempts=1, created_at=START).at == START + 5


def test_given_up_after_the_last_attempt(clock):
    schedule = no_jitter(clock, max_attempts=4)
    assert isinstance(schedule.after(Answer(status=503), attempts=3, created_at=START), RetryAt)
    assert schedule.after(Answer(status=503), attempts=4, created_at=START) == GiveUp("HTTP 503 (after 4 attempts)")


def test_given_up_rather_than_retried_past_the_max_age(clock):
    schedule = no_jitter(clock, max_age_s=100)
    clock.t = START + 94
    assert isinstance(schedule.after(Answer(status=503), attempts=1, created_at=START), RetryAt)  # at START + 99
    clock.t = START + 96
    action = schedule.after(Answer(status=503), attempts=1, created_at=START)
    assert action == GiveUp("HTTP 503 (still failing 96 s after it was enqueued)")
    # A Retry-After past the max age is not waited for either.
    clock.t = START
    assert isinstance(schedule.after(Answer(status=429, retry_after="3600"), attempts=1, created_at=START), GiveUp)
