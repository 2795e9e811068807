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
    X-Viva-Signature: sha256=<hex>         HMAC-SHA256, keyed with the shared secret, of the
                                           timestamp, a line feed, the Idempotency-Key, a
                                           line feed, then the body's exact bytes

The body (UTF-8 JSON) is the same bytes on every attempt; the timestamp, and so the
signature, are new each attempt, so a receiver can refuse old requests. The
Idempotency-Key is signed too: a receiver that deduplicates by it can trust it. To
verify, in any language:

    expected = "sha256=" + hex(HMAC_SHA256(key=secret,
                                           msg=timestamp + "\n" + idempotency_key + "\n" + raw_body))
    accept if constant_time_equal(expected, X-Viva-Signature)
           and abs(now - int(timestamp)) <= 300 seconds

(A line feed, not a "." as between the timestamp and the body before: a session id may
hold a ".", a header value never a line feed, so no bytes can move between the key and
the body without changing the signature.)

Verify the raw bytes as received, before any JSON parsing. `verify_signature` does it
(and says False, never raises, for a request with missing or malformed headers).

Delivery is at least once: a result can arrive twice (the answer to the first was
lost), so store it by its Idempotency-Key. Answer 2xx once it is stored. Answers
408, 429 and 5xx, network errors and timeouts are retried with exponential backoff,
or when a Retry-After header says; any other answer (400, 401, 404, a redirect...)
means retrying will not help, and the delivery is given up at once. So is a
destination the connector refuses (DestinationRefused: see viva.destinations, which
refuses a host resolving to a non-public address).

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
deliveries already waiting. A file that is not a delivery (not JSON, times that are not
finite numbers, a session id that is not a plain name, a folder named *.json) is moved
to dead/ with a warning, once: it never stops the others, nor spins the loop.

The outbox's folders are 0700 and its files 0600 (less if the umask says so): a
delivery holds a candidate's result.

On Pipecat Cloud the disk goes with the instance: run_until_empty(until=...) before
the bot exits, or keep the outbox on a volume that outlives it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import random
import stat
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import aiohttp
from loguru import logger
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from viva.errors import BadInput
from viva.input_files import MAX_JSON_BYTES, read_bytes
from viva.storage import (
    check_session_id,
    fsync_folder,
    make_private_folders,
    write_atomic,
)

SIGNATURE_HEADER = "X-Viva-Signature"
TIMESTAMP_HEADER = "X-Viva-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SIGNATURE_TOLERANCE_S = 300.0

RETRIED_STATUSES = frozenset({408, 429})  # and every 5xx
# A Unix time in whole seconds has 10 digits until the year 2286; a longer stamp is no time
# at all (and int() of thousands of digits raises).
_MAX_STAMP_DIGITS = 15

ConnectorFactory = Callable[[], aiohttp.BaseConnector]


class DestinationRefused(OSError):
    """Raised by a connector's resolver (see viva.destinations) that refuses where a URL leads:
    the attempt is not made, and not retried."""


# -- the signature


def signature(body: bytes, secret: bytes, timestamp: int, idempotency_key: str) -> str:
    """The X-Viva-Signature value: "sha256=" and the hex HMAC-SHA256 of
    b"<timestamp>\n<idempotency key>\n" + body."""
    if "\n" in idempotency_key or "\r" in idempotency_key:
        raise ValueError("an Idempotency-Key is one header value: no line breaks")
    message = f"{timestamp}\n{idempotency_key}\n".encode() + body
    return f"sha256={hmac.new(secret, message, hashlib.sha256).hexdigest()}"


def signed_headers(body: bytes, secret: bytes, session_id: str, timestamp: int) -> dict[str, str]:
    """Every header of one attempt; the session id is the Idempotency-Key."""
    return {
        "Content-Type": "application/json",
        IDEMPOTENCY_HEADER: session_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(body, secret, timestamp, session_id),
    }


def verify_signature(body: bytes, headers: Mapping[str, str], secret: bytes, *,
                     tolerance_s: float = SIGNATURE_TOLERANCE_S, now: float | None = None) -> bool:
    """For the receiver: True if headers sign exactly body and the Idempotency-Key with secret,
    sent within tolerance_s of now. False, never an exception, for anything else, however
    malformed (a missing header, a stamp that is no number, a header that is no text).

    headers: any mapping (aiohttp's, a plain dict); names are matched in any case.
    """
    try:
        lowered = {name.lower(): value for name, value in headers.items() if isinstance(name, str)}
        stamp = lowered.get(TIMESTAMP_HEADER.lower())
        given = lowered.get(SIGNATURE_HEADER.lower())
        key = lowered.get(IDEMPOTENCY_HEADER.lower())
        if not all(isinstance(value, str) for value in (stamp, given, key)):
            return False
        if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= _MAX_STAMP_DIGITS):
            return False
        now = time.time() if now is None else now
        # Written so that a NaN now or tolerance refuses rather than accepts.
        if not abs(now - int(stamp)) <= tolerance_s:
            return False  # a request captured and played again later
        expected = signature(bytes(body), bytes(secret), int(stamp), key).encode()
        return hmac.compare_digest(expected, given.encode("utf-8", "replace"))
    except (TypeError, ValueError, OverflowError, UnicodeError, AttributeError):
        return False


# -- what an attempt came to, and what follows


@dataclass(frozen=True)
class Answer:
    """What one POST came to: an HTTP status (with its Retry-After), or a network error."""

    status: int | None = None
    retry_after: str | None = None  # the header as sent
    error: str | None = None  # no HTTP answer: refused, reset, timed out...
    detail: str = ""  # the start of the response body, for the record
    refused: str | None = None  # not sent: the connector refused the destination (why)

    def __str__(self) -> str:
        if self.refused is not None:
            return f"destination refused: {self.refused}"
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
    """Whether trying again can help: no answer at all, 408, 429 or 5xx (a refused destination: no)."""
    if answer.refused is not None:
        return False
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

    # A NaN next_attempt_at is never due and never later than a deadline: the loop would spin.
    model_config = ConfigDict(allow_inf_nan=False)

    version: Literal[1] = 1
    session_id: str
    body: str  # the request body as UTF-8 text: its bytes are what is sent, every time
    created_at: float
    attempts: int = 0
    next_attempt_at: float
    last_error: str | None = None
    gave_up_at: float | None = None

    @field_validator("session_id")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        # It is the Idempotency-Key header: a CR or LF there would make every attempt fail.
        return check_session_id(value)

    @field_validator("body")
    @classmethod
    def _sendable(cls, value: str) -> str:
        value.encode("utf-8")  # a lone surrogate: UnicodeEncodeError, a ValueError, so not a delivery
        return value


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
        url: the team's webhook (http or https); surrounding whitespace is not part of it.
        secret: the shared secret the requests are signed with.
        schedule: when to retry; by default a DeliverySchedule on this outbox's clock.
        clock: wall time in seconds (injected for tests).
        timeout_s: an attempt without a whole answer by then is a network error (and retried).
        connector: makes the aiohttp connector of each round of attempts (None: aiohttp's
            default); viva.destinations gives one that refuses non-public addresses.
    """

    def __init__(self, folder: Path, url: str, secret: bytes | str, *, schedule: DeliverySchedule | None = None,
                 clock: Callable[[], float] = time.time, timeout_s: float = 15.0,
                 connector: ConnectorFactory | None = None):
        url = url.strip()
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
        self._connector = connector
        self.schedule = schedule or DeliverySchedule(clock=clock)
        self._reported: set[tuple[Path, str]] = set()  # files already warned about: once each
        try:
            make_private_folders(self.dead_folder)
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
        _write_delivery(path, Delivery(session_id=session_id, body=body, created_at=now, next_attempt_at=now))
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
        try:
            paths = sorted(folder.glob("[!.]*.json"))
        except OSError as e:
            self._warn_once(folder, f"webhook: cannot list {folder}: {_one_line(e)}")
            return []
        for path in paths:
            try:
                found = os.stat(path)
            except FileNotFoundError:
                continue  # delivered or given up meanwhile (another process on the same outbox)
            except OSError as e:
                self._warn_once(path, f"webhook: cannot read {path}, left where it is: {_one_line(e)}")
                continue
            if not stat.S_ISREG(found.st_mode):
                self._set_aside(path, "not a file")  # a FIFO would hang every later start
                continue
            if found.st_size > MAX_JSON_BYTES:
                self._set_aside(path, f"over {MAX_JSON_BYTES} bytes")
                continue
            try:
                data = read_bytes(path, max_bytes=MAX_JSON_BYTES)  # bounded, should it have grown since
            except BadInput as e:
                if os.path.lexists(path):
                    self._warn_once(path, f"webhook: cannot read {path}, left where it is: {e}")
                continue
            try:
                loaded.append((path, Delivery.model_validate_json(data)))
            except ValidationError as e:
                self._set_aside(path, _validation_line(e))
        return sorted(loaded, key=lambda item: (item[1].created_at, item[1].session_id))

    def _set_aside(self, path: Path, why: str) -> None:
        """A file (or folder) that is not a delivery: unreadable now is unreadable on every
        retry, so out of the way into dead/, kept for a person. In dead/ itself, or if it
        cannot be moved, it stays; either way it is reported once, never read as a delivery."""
        if path.parent == self.dead_folder:
            self._warn_once(path, f"webhook: {path} is not a delivery: {why}")
            return
        target = self.dead_folder / path.name
        for number in range(1, 100):
            if not os.path.lexists(target):
                break
            # Never over a delivery given up and kept there (a session's result by the same name).
            target = self.dead_folder / f"{path.stem}-{number}{path.suffix}"
        try:
            os.replace(path, target)
        except FileNotFoundError:
            return  # gone meanwhile
        except OSError as e:
            self._warn_once(path, f"webhook: {path} is not a delivery ({why}) and cannot be moved to "
                                  f"{self.dead_folder}: {_one_line(e)}; skipped")
            return
        logger.warning(f"webhook: {path} is not a delivery, moved to {target}: {why}")

    def _warn_once(self, path: Path, message: str) -> None:
        # pending() is read before every round of attempts: the same warning each time would
        # bury the log.
        if (path, message) not in self._reported:
            self._reported.add((path, message))
            logger.warning(message)

    # -- sending

    async def deliver_pending(self) -> list[DeliveryAttempt]:
        """One attempt for every delivery that is due, oldest first; what came of each."""
        now = self._clock()
        due = [(path, delivery) for path, delivery in self._load(self.folder) if delivery.next_attempt_at <= now]
        if not due:
            return []
        attempts = []
        connector = self._connector() if self._connector is not None else None
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                                         connector=connector) as http:
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
        except aiohttp.ClientConnectorError as e:
            if isinstance(e.os_error, DestinationRefused):
                return Answer(refused=_one_line(e.os_error))
            return Answer(error=_one_line(e))
        except aiohttp.ClientError as e:
            return Answer(error=_one_line(e))

    def _settle(self, path: Path, delivery: Delivery, answer: Answer) -> DeliveryAttempt:
        """Records what the attempt came to in the outbox: the file deleted, rewritten or moved to dead/."""
        number = delivery.attempts + 1
        action = self.schedule.after(answer, attempts=number, created_at=delivery.created_at)
        sid = delivery.session_id
        if isinstance(action, Delivered):
            path.unlink(missing_ok=True)
            fsync_folder(path.parent)
            logger.info(f"webhook: result of {sid} delivered (HTTP {action.status}, attempt {number})")
        elif isinstance(action, RetryAt):
            _write_delivery(path, delivery.model_copy(update=dict(
                attempts=number, next_attempt_at=action.at, last_error=str(answer))))
            logger.warning(f"webhook: result of {sid}: {answer}; attempt {number + 1} in {action.wait_s:.1f} s")
        else:
            # Into dead/ first, then out of the outbox: a crash between the two repeats the
            # delivery rather than losing it.
            _write_delivery(self.dead_folder / path.name, delivery.model_copy(update=dict(
                attempts=number, last_error=action.reason, gave_up_at=self._clock())))
            path.unlink(missing_ok=True)
            fsync_folder(path.parent)
            logger.error(f"webhook: result of {sid} given up: {action.reason}; kept in {self.dead_folder}")
        return DeliveryAttempt(session_id=sid, number=number, answer=answer, action=action)


def _write_delivery(path: Path, delivery: Delivery) -> None:
    write_atomic(path, delivery.model_dump_json(indent=1).encode("utf-8"))


def _validation_line(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "the file"
    return _one_line(f"{where}: {first['msg']} ({error.error_count()} error(s))")


def _one_line(error: object) -> str:
    # Whitespace runs (line breaks included) become one space, other unprintable characters
    # are escaped: what a receiver or a file says cannot forge a log line.
    text = " ".join(str(error).split()) or type(error).__name__
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
