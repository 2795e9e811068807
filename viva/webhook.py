"""A session's result, POSTed to the team's webhook: signed, at least once, surviving crashes.

    outbox = Outbox(Path("outbox"), "https://exams.example.com/viva", secret)
    outbox.enqueue(session_id, result)       # on disk before any attempt
    await outbox.run_until_empty(until=time.time() + 60)

The request
-----------
Every attempt is

    POST <url>
    Content-Type: application/json
    Idempotency-Key: <session id>          the same on every attempt: a repeat is a duplicate
    X-Viva-Timestamp: <unix time, whole seconds, when this attempt was sent>
    X-Viva-Signature: sha256=<hex>         HMAC-SHA256, keyed with the shared secret, of
                                           the timestamp, a ".", then the body's exact bytes

The body (UTF-8 JSON) is the same bytes on every attempt; the timestamp, and so the
signature, are new each attempt, so a receiver can refuse old requests. To verify,
in any language:

    expected = "sha256=" + hex(HMAC_SHA256(key=secret, msg=timestamp + "." + raw_body))
    accept if constant_time_equal(expected, X-Viva-Signature)
           and abs(now - int(timestamp)) <= 300 seconds

Verify the raw bytes as received, before any JSON parsing. `verify_signature` does it.

Delivery is at least once: a result can arrive twice (the answer to the first was
lost), so store it by its Idempotency-Key. Answer 2xx once it is stored. Answers
408, 429 and 5xx, network errors and timeouts are retried with exponential backoff,
or when a Retry-After header says; any other answer (400, 401, 404, a redirect...)
means retrying will not help, and the delivery is given up at once.

The outbox
----------
enqueue() writes the delivery to <outbox>/<session id>.json (a temp file, fsync,
os.replace) before any attempt, so a kill -9 at any moment loses nothing; a new Outbox
over the same folder picks it up. Enqueueing a session again replaces its pending
delivery (a session has one result). The file:

    {"version": 1, "session_id": "...", "body": "<the request body, as text>",
     "created_at": <unix time>, "attempts": 0, "next_attempt_at": <unix time>,
     "last_error": null, "gave_up_at": null}

After each failed attempt the file is rewritten (attempts, next_attempt_at, last_error);
a delivered one is deleted; a given-up one moves to <outbox>/dead/ with last_error and
gave_up_at set. Times are wall-clock, so a schedule survives a restart. The secret and
the URL are not in the file: they come from the Outbox, so a changed URL applies to
deliveries already waiting.

On Pipecat Cloud the disk goes with the instance: run_until_empty(until=...) before
the bot exits, or keep the outbox on a volume that outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import random
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import aiohttp
from loguru import logger
from pydantic import BaseModel, ValidationError

from viva.errors import BadInput
from viva.storage import check_session_id

SIGNATURE_HEADER = "X-Viva-Signature"
TIMESTAMP_HEADER = "X-Viva-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SIGNATURE_TOLERANCE_S = 300.0

RETRIED_STATUSES = frozenset({408, 429})  # and every 5xx


# -- the signature


def signature(body: bytes, secret: bytes, timestamp: int) -> str:
    """The X-Viva-Signature value: "sha256=" and the hex HMAC-SHA256 of b"<timestamp>." + body."""
    digest = hmac.new(secret, f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_headers(body: bytes, secret: bytes, session_id: str, timestamp: int) -> dict[str, str]:
    """Every header of one attempt."""
    return {
        "Content-Type": "application/json",
        IDEMPOTENCY_HEADER: session_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(body, secret, timestamp),
    }


def verify_signature(body: bytes, headers: Mapping[str, str], secret: bytes, *,
                     tolerance_s: float = SIGNATURE_TOLERANCE_S, now: float | None = None) -> bool:
    """For the receiver: True if headers sign exactly body with secret, sent within tolerance_s of now.

    headers: any mapping (aiohttp's, a plain dict); names are matched in any case.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    stamp, given = lowered.get(TIMESTAMP_HEADER.lower()), lowered.get(SIGNATURE_HEADER.lower())
    if stamp is None or given is None or not stamp.isascii() or not stamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(stamp)) > tolerance_s:
        return False  # a request captured and played again later
    return hmac.compare_digest(signature(body, secret, int(stamp)).encode(), given.encode("utf-8", "replace"))


# -- what an attempt came to, and what follows


@dataclass(frozen=True)
class Answer:
    """What one POST came to: an HTTP status (with its Retry-After), or a network error."""

    status: int | None = None
    retry_after: str | None = None  # the header as sent
    error: str | None = None  # no HTTP answer: refused, reset, timed out...
    detail: str = ""  # the start of the response body, for the record

    def __str__(self) -> str:
        if self.status is None:
            return f"network error: {self.error}"
        return f"HTTP {self.status}" + (f": {self.detail}" if self.detail else "")


@dataclass(frozen=True)
class Delivered:
    status: int


@dataclass(frozen=True)
class RetryAt:
    at: float  # wall clock
    wait_s: float
    reason: str


@dataclass(frozen=True)
class GiveUp:
    reason: str


Action = Delivered | RetryAt | GiveUp


class DeliverySchedule:
    """After an attempt, decides: delivered, retry at a time, or give up.

    Args:
        first_wait_s: the wait after the first failed attempt; each next one is factor times longer,
            up to max_wait_s.
        jitter: each wait is scaled by a random factor in [1 - jitter, 1], so instances that failed
            together (the team's server was down) do not all come back at once, and no wait
            exceeds max_wait_s.
        max_attempts: give up after this many attempts.
        max_age_s: give up rather than retry later than this after the delivery was enqueued.
        rng, clock: injected for tests; clock is wall time (seconds), like the outbox's files.
    """

    def __init__(self, *, first_wait_s: float = 5.0, factor: float = 2.0, max_wait_s: float = 3600.0,
                 jitter: float = 0.25, max_attempts: int = 30, max_age_s: float = 3 * 24 * 3600.0,
                 rng: random.Random | None = None, clock: Callable[[], float] = time.time):
        self.first_wait_s, self.factor, self.max_wait_s = first_wait_s, factor, max_wait_s
        self.jitter, self.max_attempts, self.max_age_s = jitter, max_attempts, max_age_s
        self._rng = rng or random.Random()
        self._clock = clock

    def after(self, answer: Answer, *, attempts: int, created_at: float) -> Action:
        """attempts: how many have been made, this one included; created_at: when enqueued."""
        if answer.status is not None and 200 <= answer.status < 300:
            return Delivered(answer.status)
        if not retried(answer):
            return GiveUp(f"{answer} (not retried)")
        if attempts >= self.max_attempts:
            return GiveUp(f"{answer} (after {attempts} attempts)")
        now = self._clock()
        wait = retry_after_s(answer.retry_after, now)
        if wait is None:
            wait = self.backoff_s(attempts)
        if now + wait > created_at + self.max_age_s:
            return GiveUp(f"{answer} (still failing {now - created_at:.0f} s after it was enqueued)")
        return RetryAt(at=now + wait, wait_s=wait, reason=str(answer))

    def backoff_s(self, attempts: int) -> float:
        # The exponent is bounded so a large attempt count cannot overflow a float.
        step = min(self.max_wait_s, self.first_wait_s * self.factor ** min(attempts - 1, 64))
        return step * (1 - self.jitter * self._rng.random())


def retried(answer: Answer) -> bool:
    """Whether trying again can help: no answer at all, 408, 429 or 5xx."""
    return answer.status is None or answer.status in RETRIED_STATUSES or 500 <= answer.status < 600


def retry_after_s(value: str | None, now: float) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) as a wait from now; None if absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None  # HTTP dates are GMT; one without a zone is not one
    return max(0.0, moment.timestamp() - now)


# -- the outbox


class Delivery(BaseModel):
    """One delivery's file in the outbox (see the module docstring)."""

    version: Literal[1] = 1
    session_id: str
    body: str  # the request body as UTF-8 text: its bytes are what is sent, every time
    created_at: float
    attempts: int = 0
    next_attempt_at: float
    last_error: str | None = None
    gave_up_at: float | None = None


@dataclass(frozen=True)
class DeliveryAttempt:
    """What deliver_pending did with one delivery."""

    session_id: str
    number: int  # 1 for the first attempt
    answer: Answer
    action: Action


class Outbox:
    """Deliveries to one webhook URL, kept as files in folder until they succeed or are given up.

    Args:
        folder: the outbox; given-up deliveries go to folder/dead/.
        url: the team's webhook (http or https).
        secret: the shared secret the requests are signed with.
        schedule: when to retry; by default a DeliverySchedule on this outbox's clock.
        clock: wall time in seconds (injected for tests).
        timeout_s: an attempt without a whole answer by then is a network error (and retried).
    """

    def __init__(self, folder: Path, url: str, secret: bytes | str, *, schedule: DeliverySchedule | None = None,
                 clock: Callable[[], float] = time.time, timeout_s: float = 15.0):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadInput(f"{url}: expected the webhook's http:// or https:// URL")
        self.secret = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if not self.secret:
            raise BadInput("the webhook secret is empty: the team needs one to verify what it receives")
        self.folder = Path(folder)
        self.dead_folder = self.folder / "dead"
        self.url = url
        self.timeout_s = timeout_s
        self._clock = clock
        self.schedule = schedule or DeliverySchedule(clock=clock)
        try:
            self.dead_folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise BadInput(f"{self.dead_folder}: cannot create the outbox folder: {e.strerror or e}") from None

    # -- the files

    def path(self, session_id: str) -> Path:
        return self.folder / f"{check_session_id(session_id)}.json"

    def enqueue(self, session_id: str, payload: dict) -> Path:
        """Writes the delivery to its file, due now; returns the file. Nothing is sent here."""
        path = self.path(session_id)
        # allow_nan=False: NaN is not JSON, and a receiver's parser would refuse the body.
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        body.encode("utf-8")  # a lone surrogate fails here, to the caller, not at every attempt
        now = self._clock()
        _write_atomic(path, Delivery(session_id=session_id, body=body, created_at=now, next_attempt_at=now))
        logger.info(f"webhook: result of {session_id} queued in {path}")
        return path

    def pending(self) -> list[Delivery]:
        """Every delivery waiting in the outbox, oldest first."""
        return [delivery for _, delivery in self._load(self.folder)]

    def dead(self) -> list[Delivery]:
        """Every delivery given up, oldest first."""
        return [delivery for _, delivery in self._load(self.dead_folder)]

    def next_attempt_at(self) -> float | None:
        """When the earliest pending delivery is due; None when the outbox is empty."""
        return min((delivery.next_attempt_at for delivery in self.pending()), default=None)

    def _load(self, folder: Path) -> list[tuple[Path, Delivery]]:
        loaded = []
        # Temp files start with "." and are never read: one left by a crash mid-write was
        # never enqueued (enqueue had not returned).
        for path in folder.glob("[!.]*.json"):
            try:
                loaded.append((path, Delivery.model_validate_json(path.read_bytes())))
            except FileNotFoundError:
                continue  # delivered or given up meanwhile (another process on the same outbox)
            except (ValidationError, UnicodeDecodeError) as e:
                if folder == self.dead_folder:
                    logger.error(f"webhook: {path} is not a delivery: {_one_line(e)}")
                    continue
                # Unreadable now is unreadable on every retry: out of the way, kept for a person.
                os.replace(path, self.dead_folder / path.name)
                logger.error(f"webhook: {path} is not a delivery, moved to {self.dead_folder}: {_one_line(e)}")
        return sorted(loaded, key=lambda item: (item[1].created_at, item[1].session_id))

    # -- sending

    async def deliver_pending(self) -> list[DeliveryAttempt]:
        """One attempt for every delivery that is due, oldest first; what came of each."""
        now = self._clock()
        due = [(path, delivery) for path, delivery in self._load(self.folder) if delivery.next_attempt_at <= now]
        if not due:
            return []
        attempts = []
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as http:
            for path, delivery in due:
                answer = await self._post(http, delivery)
                attempts.append(self._settle(path, delivery, answer))
        return attempts

    async def run_until_empty(self, *, until: float | None = None,
                              sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> list[DeliveryAttempt]:
        """Delivers, waiting for each retry's time, until the outbox is empty or the next
        attempt would be after until (wall time); every attempt made.

        sleep: injected for tests, which move their clock instead of waiting.
        """
        made: list[DeliveryAttempt] = []
        while True:
            made += await self.deliver_pending()
            next_at = self.next_attempt_at()
            if next_at is None:
                return made
            if until is not None and next_at > until:
                logger.warning(f"webhook: {len(self.pending())} deliveries still waiting in {self.folder}")
                return made
            await sleep(max(0.0, next_at - self._clock()))

    async def _post(self, http: aiohttp.ClientSession, delivery: Delivery) -> Answer:
        body = delivery.body.encode("utf-8")
        headers = signed_headers(body, self.secret, delivery.session_id, int(self._clock()))
        try:
            # No redirects: aiohttp would follow a 301 or 302 with a GET and drop the body.
            async with http.post(self.url, data=body, headers=headers, allow_redirects=False) as response:
                detail = await response.content.read(200)
                return Answer(status=response.status, retry_after=response.headers.get("Retry-After"),
                              detail=_one_line(detail.decode("utf-8", "replace")))
        except TimeoutError:
            return Answer(error=f"no answer within {self.timeout_s:g} s")
        except aiohttp.ClientError as e:
            return Answer(error=_one_line(e))

    def _settle(self, path: Path, delivery: Delivery, answer: Answer) -> DeliveryAttempt:
        """Records what the attempt came to in the outbox: the file deleted, rewritten or moved to dead/."""
        number = delivery.attempts + 1
        action = self.schedule.after(answer, attempts=number, created_at=delivery.created_at)
        sid = delivery.session_id
        if isinstance(action, Delivered):
            path.unlink(missing_ok=True)
            _fsync_folder(path.parent)
            logger.info(f"webhook: result of {sid} delivered (HTTP {action.status}, attempt {number})")
        elif isinstance(action, RetryAt):
            _write_atomic(path, delivery.model_copy(update=dict(
                attempts=number, next_attempt_at=action.at, last_error=str(answer))))
            logger.warning(f"webhook: result of {sid}: {answer}; attempt {number + 1} in {action.wait_s:.1f} s")
        else:
            # Into dead/ first, then out of the outbox: a crash between the two repeats the
            # delivery rather than losing it.
            _write_atomic(self.dead_folder / path.name, delivery.model_copy(update=dict(
                attempts=number, last_error=action.reason, gave_up_at=self._clock())))
            path.unlink(missing_ok=True)
            _fsync_folder(path.parent)
            logger.error(f"webhook: result of {sid} given up: {action.reason}; kept in {self.dead_folder}")
        return DeliveryAttempt(session_id=sid, number=number, answer=answer, action=action)


def _write_atomic(path: Path, delivery: Delivery) -> None:
    """The whole file or the old one, even after a kill -9 or a power cut: temp file, fsync, os.replace."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(delivery.model_dump_json(indent=1).encode("utf-8"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    # The rename (or unlink) itself is in the folder's entry, which needs its own fsync to
    # survive a power cut; some filesystems cannot open a folder for it, and that is fine.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _one_line(error: object) -> str:
    return " ".join(str(error).split()) or type(error).__name__
