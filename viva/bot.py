"""viva on Pipecat Cloud: `bot(runner_args)`, called by the base image (dailyco/pipecat-base)
once per session, in an instance of its own.

The team's product starts an exam through Pipecat Cloud's start endpoint; the `body` of
that request reaches `runner_args.body` and says which exam, for whom, and where the
result goes:

    {"config": "ielts_speaking_short",        a config in the image's configs/ folder, by name
     "candidate_id": "c-1234",                the team's id (printable: no line breaks), returned with the result
     "results": {"store": "s3://bucket/viva", where the record goes (default VIVA_RESULTS_STORE, else sessions/)
                 "webhook": "https://..."}}   where the result is POSTed (default VIVA_WEBHOOK_URL)

The start endpoint takes Pipecat Cloud's public key, so `results` may only choose among
what the operator allows (VIVA_ALLOWED_WEBHOOKS, VIVA_ALLOWED_STORES; none by default):
see viva.destinations. The whole body, the store and the webhook included, is checked
before anything runs; a bad one is BadInput, one line naming the field.

The secret set supplies GOOGLE_API_KEY, VIVA_WEBHOOK_SECRET and, for S3, the AWS_*
variables (AWS_ENDPOINT_URL for a store that is not AWS). Optional: VIVA_CONFIG_DIR
(configs), VIVA_OUT (sessions: the record as it is written), VIVA_OUTBOX (outbox),
VIVA_DELIVERY_WAIT_S (60: how long the bot keeps retrying the webhook before it exits),
VIVA_WEBHOOK_FIRST_RETRY_S (5), and the settings of viva.destinations.

After the exam, the record is stored, then the result is queued in the outbox on disk and
delivered with retries. Whatever the outbox still holds (a delivery that outlived its
instance's wait, or a process killed between the exam and the delivery) is delivered when
the next bot starts on the same disk, if its webhook is still allowed.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import time
from pathlib import Path

from loguru import logger
from pipecat.runner.types import (
    DailyRunnerArguments,
    RunnerArguments,
    SmallWebRTCRunnerArguments,
)
from pipecat.runner.utils import create_transport
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from viva.config import VivaConfig, load_config
from viva.destinations import Destinations, webhook_key
from viva.errors import BadInput
from viva.input_files import read_text
from viva.exam_session import ExamSession, RunResult, gemini_target
from viva.record import new_session_id
from viva.storage import RecordStore, StoreFailed, check_session_id, write_atomic
from viva.transports.daily import daily_params, follow_candidate
from viva.transports.webrtc import follow_the_client, webrtc_params
from viva.webhook import DeliverySchedule, Outbox

_CONFIG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_URL_FILE = "url"  # in each outbox folder: the webhook its deliveries go to
MAX_URL_FILE_BYTES = 8192


class ResultsTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store: str | None = Field(default=None, description="a folder or s3://bucket/prefix the operator allows")
    webhook: str | None = Field(default=None, description="an https:// endpoint the operator allows")


class StartBody(BaseModel):
    """The start request's body."""

    model_config = ConfigDict(extra="forbid")

    config: str = Field(min_length=1, max_length=100, description="the name of a config in the image's configs folder")
    candidate_id: str = Field(min_length=1, max_length=200)
    results: ResultsTarget = Field(default_factory=ResultsTarget)

    @field_validator("candidate_id")
    @classmethod
    def _printable(cls, value: str) -> str:
        # It goes into log lines and the result: a line break there could forge either.
        if not value.isprintable():
            raise PydanticCustomError("printable", "expected printable characters only (no line breaks or control "
                                                   "characters)")
        return value


def start_body(body) -> StartBody:
    """The body, checked; BadInput (one line: the key path and what was expected) otherwise."""
    try:
        return StartBody.model_validate(body if body is not None else {})
    except ValidationError as e:
        error = e.errors()[0]
        where = ".".join(_printable(str(p)) for p in error["loc"]) or "(the body)"
        raise BadInput(f"start body: {where}: {_printable(error['msg'])}") from None


def exam_config(name: str) -> VivaConfig:
    """A config of the image, by name (a body cannot make the bot read any other file)."""
    folder = Path(os.environ.get("VIVA_CONFIG_DIR", "configs"))
    path = folder / f"{name}.yaml"
    if not _CONFIG_NAME.fullmatch(name) or ".." in name or not _is_file(path):
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        raise BadInput(f"start body: config: no config {name!r}; expected one of: {', '.join(known)}")
    return load_config(path)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long for the filesystem names no config
        return False


class ResultsRoute:
    """Where one exam's record and result go, checked (and the outbox made) before the exam starts."""

    def __init__(self, store: RecordStore, outbox: Outbox | None):
        self.store = store
        self.outbox = outbox  # None: no webhook, the record only


async def results_route(body: StartBody, destinations: Destinations | None = None) -> ResultsRoute:
    """The store and the webhook this body asks for, checked against what the operator allows
    (viva.destinations); BadInput, one line, if either is refused. Nothing is written for a
    refused body: the outbox folder is made only once both are accepted."""
    destinations = destinations or Destinations.from_environment()
    store = destinations.store(body.results.store)
    # The webhook's host is resolved to check its addresses: getaddrinfo blocks.
    webhook = await asyncio.to_thread(destinations.webhook, body.results.webhook)
    outbox = outbox_for(webhook, destinations) if webhook is not None else None
    return ResultsRoute(store, outbox)


def outbox_for(url: str, destinations: Destinations) -> Outbox:
    """The outbox of one webhook URL: its own folder (named from the URL as it is sent to), with
    the URL beside the deliveries, so a later start can deliver them whatever its own body names."""
    url = webhook_key(url)
    folder = _outbox_root() / hashlib.sha256(url.encode()).hexdigest()[:16]
    outbox = _outbox(folder, url, destinations)
    # Atomic: a kill while it is written leaves the old file or the new one, never an empty one.
    write_atomic(folder / _URL_FILE, url.encode("utf-8"))
    return outbox


def _outbox(folder: Path, url: str, destinations: Destinations) -> Outbox:
    return Outbox(folder, url, _webhook_secret(), connector=destinations.connector(url), schedule=DeliverySchedule(
        first_wait_s=float(os.environ.get("VIVA_WEBHOOK_FIRST_RETRY_S", "5"))))


def _outbox_root() -> Path:
    return Path(os.environ.get("VIVA_OUTBOX", "outbox"))


def _webhook_secret() -> str:
    secret = os.environ.get("VIVA_WEBHOOK_SECRET", "")
    if not secret:
        raise BadInput("VIVA_WEBHOOK_SECRET is not set: the team verifies the result's signature with it "
                       "(put it in the agent's secret set)")
    return secret


def waiting_outboxes(destinations: Destinations) -> list[Outbox]:
    """Every outbox on this disk that still holds deliveries to a webhook still allowed. One that
    cannot be read (an empty or unreadable url file, a URL no longer allowed) is left as it is,
    with a warning: it never stops the others."""
    root = _outbox_root()
    try:
        folders = sorted(path for path in root.iterdir() if path.is_dir())
    except FileNotFoundError:
        return []
    except OSError as e:
        logger.warning(f"webhook: cannot list the outbox {root}: {_one_line(e)}")
        return []
    found = []
    for folder in folders:
        outbox = _waiting_outbox(folder, destinations)
        if outbox is not None and outbox.pending():
            found.append(outbox)
    return found


def _waiting_outbox(folder: Path, destinations: Destinations) -> Outbox | None:
    url_file = folder / _URL_FILE
    try:
        url = read_text(url_file, max_bytes=MAX_URL_FILE_BYTES).strip()  # bounded; a FIFO is refused unread
    except BadInput as e:
        logger.warning(f"webhook: {e}; what {folder} holds stays there")
        return None
    if not url:
        logger.warning(f"webhook: {url_file} is empty; what {folder} holds stays there")
        return None
    why = destinations.refusal(url)
    if why is not None:
        logger.warning(f"webhook: {folder} holds deliveries to {url!r}, which this deployment does not allow "
                       f"({why}); they stay there")
        return None
    try:
        return _outbox(folder, url, destinations)  # the folder as found, whatever URL spelling named it
    except BadInput as e:
        logger.warning(f"webhook: what {folder} holds stays there: {e}")
        return None


async def deliver_waiting(until: float, destinations: Destinations) -> None:
    """Delivers what earlier sessions left in the outbox (until the wall-clock time `until`).
    A failure in one outbox is logged, and the next one is tried."""
    for outbox in waiting_outboxes(destinations):
        try:
            logger.info(f"webhook: delivering {len(outbox.pending())} result(s) left by an earlier session")
            await outbox.run_until_empty(until=until)
        except Exception as e:
            logger.opt(exception=e).error(f"webhook: delivering what {outbox.folder} holds failed: {_one_line(e)}")


def _log_failure(task: asyncio.Task) -> None:
    # A background task's exception is otherwise only "Task exception was never retrieved",
    # when (and if) the task is collected.
    if not task.cancelled() and task.exception() is not None:
        logger.opt(exception=task.exception()).error(
            f"webhook: delivering earlier sessions' results failed: {_one_line(task.exception())}")


def result_payload(result: RunResult, *, body: StartBody, stored: str | None, store_error: str | None) -> dict:
    data = result.data
    return {"session_id": data["session_id"], "candidate_id": body.candidate_id, "config": body.config,
            "exam": data.get("exam"), "outcome": data["outcome"], "end_reason": data["end_reason"],
            "result": data["result"], "result_source": data.get("result_source"), "record": stored,
            "record_error": store_error}


async def deliver_result(result: RunResult, *, body: StartBody, route: ResultsRoute, until: float) -> None:
    """The record to its store, then the result to the webhook (queued on disk first); both
    where results_route() said, before the exam."""
    stored, store_error = None, None
    try:
        stored = await route.store.put_async(result.record_dir, result.data["session_id"])
        logger.info(f"record stored at {stored}")
    except (StoreFailed, BadInput) as e:  # the result still goes out, saying where the record is not
        store_error = str(e)
        logger.error(f"record not stored: {e}")
    if route.outbox is None:
        return
    route.outbox.enqueue(result.data["session_id"], result_payload(result, body=body, stored=stored,
                                                                   store_error=store_error))
    await route.outbox.run_until_empty(until=until)


def transport_params() -> dict:
    return {"daily": daily_params, "webrtc": webrtc_params}


async def bot(runner_args: RunnerArguments) -> RunResult:
    """One exam for one candidate (Pipecat Cloud's entry point; see the module's docstring)."""
    wait_s = float(os.environ.get("VIVA_DELIVERY_WAIT_S", "60"))
    body = start_body(runner_args.body)
    config = exam_config(body.config)
    session_id = runner_args.session_id or new_session_id()
    try:
        check_session_id(session_id)  # a folder name and the Idempotency-Key: refused now, not after the exam
    except ValueError as e:
        raise BadInput(f"start: {e}") from None
    destinations = Destinations.from_environment()
    # The store, the webhook and the secret: one line now, not after the exam.
    route = await results_route(body, destinations)
    # What earlier sessions on this disk left undelivered goes out while this exam runs.
    earlier = asyncio.ensure_future(deliver_waiting(until=time.time() + config.session.max_s + wait_s,
                                                    destinations=destinations))
    earlier.add_done_callback(_log_failure)
    try:
        transport = await create_transport(runner_args, transport_params())
        session = ExamSession(config=config, transport=transport, llm=gemini_target(),
                              out_dir=Path(os.environ.get("VIVA_OUT", "sessions")), session_id=session_id)
        if isinstance(runner_args, DailyRunnerArguments):
            follow_candidate(transport=transport, session=session)
        elif isinstance(runner_args, SmallWebRTCRunnerArguments):
            follow_the_client(session, transport=transport)
        logger.info(f"session {session_id}: {body.config} for candidate {body.candidate_id}")
        result = await session.run()
    except BaseException:
        earlier.cancel()  # a delivery cut here stays in the outbox for the next start
        raise
    # One delivery loop per outbox at a time: the earlier ones finish (or stop) first.
    until = time.time() + wait_s
    if not (await asyncio.wait({earlier}, timeout=wait_s))[0]:
        earlier.cancel()
    await deliver_result(result, body=body, route=route, until=until)
    return result


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _one_line(error: object) -> str:
    return _printable(" ".join(str(error).split()) or type(error).__name__)
