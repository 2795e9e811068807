"""viva on Pipecat Cloud: `bot(runner_args)`, called by the base image (dailyco/pipecat-base)
once per session, in an instance of its own.

The team's product starts an exam through Pipecat Cloud's start endpoint; the `body` of
that request reaches `runner_args.body` and says which exam, for whom, and where the
result goes:

    {"config": "ielts_speaking_short",        a config in the image's configs/ folder, by name
     "candidate_id": "c-1234",                the team's id, returned with the result
     "results": {"store": "s3://bucket/viva", where the record goes (default VIVA_RESULTS_STORE, else sessions/)
                 "webhook": "https://..."}}   where the result is POSTed (default VIVA_WEBHOOK_URL)

The secret set supplies GOOGLE_API_KEY, VIVA_WEBHOOK_SECRET and, for S3, the AWS_*
variables (AWS_ENDPOINT_URL for a store that is not AWS). Optional: VIVA_CONFIG_DIR
(configs), VIVA_OUT (sessions: the record as it is written), VIVA_OUTBOX (outbox),
VIVA_DELIVERY_WAIT_S (60: how long the bot keeps retrying the webhook before it exits),
VIVA_WEBHOOK_FIRST_RETRY_S (5).

After the exam, the record is stored, then the result is queued in the outbox on disk and
delivered with retries. Whatever the outbox still holds (a delivery that outlived its
instance's wait, or a process killed between the exam and the delivery) is delivered when
the next bot starts on the same disk.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import time
from pathlib import Path

from loguru import logger
from pipecat.runner.types import DailyRunnerArguments, RunnerArguments, SmallWebRTCRunnerArguments
from pipecat.runner.utils import create_transport
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from viva.config import VivaConfig, load_config
from viva.errors import BadInput
from viva.exam_session import ExamSession, RunResult, gemini_target
from viva.record import new_session_id
from viva.storage import StoreFailed, record_store
from viva.transports.daily import daily_params, follow_candidate
from viva.transports.webrtc import follow_the_client, webrtc_params
from viva.webhook import DeliverySchedule, Outbox

_CONFIG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_URL_FILE = "url"  # in each outbox folder: the webhook its deliveries go to


class ResultsTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store: str | None = Field(default=None, description="a folder or s3://bucket/prefix")
    webhook: str | None = Field(default=None, description="the team's https:// endpoint")


class StartBody(BaseModel):
    """The start request's body."""

    model_config = ConfigDict(extra="forbid")

    config: str = Field(description="the name of a config in the image's configs folder")
    candidate_id: str = Field(min_length=1, max_length=200)
    results: ResultsTarget = Field(default_factory=ResultsTarget)


def start_body(body) -> StartBody:
    """The body, checked; BadInput (one line: the key path and what was expected) otherwise."""
    try:
        return StartBody.model_validate(body if body is not None else {})
    except ValidationError as e:
        error = e.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "(the body)"
        raise BadInput(f"start body: {where}: {error['msg']}") from None


def exam_config(name: str) -> VivaConfig:
    """A config of the image, by name (a body cannot make the bot read any other file)."""
    folder = Path(os.environ.get("VIVA_CONFIG_DIR", "configs"))
    path = folder / f"{name}.yaml"
    if not _CONFIG_NAME.fullmatch(name) or ".." in name or not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        raise BadInput(f"start body: config: no config {name!r}; expected one of: {', '.join(known)}")
    return load_config(path)


def outbox_for(url: str) -> Outbox:
    """The outbox of one webhook URL: its own folder, with the URL beside the deliveries, so a
    later start can deliver them whatever URL its own body names."""
    root = Path(os.environ.get("VIVA_OUTBOX", "outbox"))
    folder = root / hashlib.sha256(url.encode()).hexdigest()[:16]
    outbox = Outbox(folder, url, _webhook_secret(), schedule=DeliverySchedule(
        first_wait_s=float(os.environ.get("VIVA_WEBHOOK_FIRST_RETRY_S", "5"))))
    (folder / _URL_FILE).write_text(url)
    return outbox


def _webhook_secret() -> str:
    secret = os.environ.get("VIVA_WEBHOOK_SECRET", "")
    if not secret:
        raise BadInput("VIVA_WEBHOOK_SECRET is not set: the team verifies the result's signature with it "
                       "(put it in the agent's secret set)")
    return secret


def waiting_outboxes() -> list[Outbox]:
    """Every outbox on this disk that still holds deliveries."""
    root = Path(os.environ.get("VIVA_OUTBOX", "outbox"))
    found = []
    for url_file in sorted(root.glob(f"*/{_URL_FILE}")):
        outbox = outbox_for(url_file.read_text().strip())
        if outbox.pending():
            found.append(outbox)
    return found


async def deliver_waiting(until: float) -> None:
    """Delivers what earlier sessions left in the outbox (until the wall-clock time `until`)."""
    for outbox in waiting_outboxes():
        logger.info(f"webhook: delivering {len(outbox.pending())} result(s) left by an earlier session")
        await outbox.run_until_empty(until=until)


def result_payload(result: RunResult, *, body: StartBody, stored: str | None, store_error: str | None) -> dict:
    data = result.data
    return {"session_id": data["session_id"], "candidate_id": body.candidate_id, "config": body.config,
            "exam": data.get("exam"), "outcome": data["outcome"], "end_reason": data["end_reason"],
            "result": data["result"], "result_source": data.get("result_source"), "record": stored,
            "record_error": store_error}


async def deliver_result(result: RunResult, *, body: StartBody, webhook: str | None, until: float) -> None:
    """The record to its store, then the result to the webhook (queued on disk first)."""
    store_url = body.results.store or os.environ.get("VIVA_RESULTS_STORE") or None
    stored, store_error = None, None
    try:
        stored = await record_store(store_url).put_async(result.record_dir, result.data["session_id"])
        logger.info(f"record stored at {stored}")
    except (StoreFailed, BadInput) as e:  # the result still goes out, saying where the record is not
        store_error = str(e)
        logger.error(f"record not stored: {e}")
    if webhook is None:
        return
    outbox = outbox_for(webhook)
    outbox.enqueue(result.data["session_id"], result_payload(result, body=body, stored=stored,
                                                             store_error=store_error))
    await outbox.run_until_empty(until=until)


def transport_params() -> dict:
    return {"daily": daily_params, "webrtc": webrtc_params}


async def bot(runner_args: RunnerArguments) -> RunResult:
    """One exam for one candidate (Pipecat Cloud's entry point; see the module's docstring)."""
    wait_s = float(os.environ.get("VIVA_DELIVERY_WAIT_S", "60"))
    body = start_body(runner_args.body)
    config = exam_config(body.config)
    webhook = body.results.webhook or os.environ.get("VIVA_WEBHOOK_URL") or None
    if webhook is not None:
        outbox_for(webhook)  # a bad URL or a missing secret is one line now, not after the exam
    # What earlier sessions on this disk left undelivered goes out while this exam runs.
    earlier = asyncio.ensure_future(deliver_waiting(until=time.time() + config.session.max_s + wait_s))
    try:
        session_id = runner_args.session_id or new_session_id()
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
    await deliver_result(result, body=body, webhook=webhook, until=until)
    return result
