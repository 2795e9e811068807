"""A Daily room: Pipecat's DailyTransport, the room and tokens made with Pipecat's Daily REST helpers.

`viva run CONFIG --transport daily`:

- with DAILY_API_KEY (and no --room): viva creates a private room for the session,
  named after it, through Daily's REST API (DAILY_API_URL, default
  https://api.daily.co/v1). The room expires a margin after the session's `max_s` and
  ejects whoever is left; only the examiner and the candidate fit in it. viva prints
  the candidate's join link (the room URL with a candidate token: not an owner, valid
  for that room only, expiring with it), joins as the examiner bot with an owner token
  of its own, and deletes the room once the session is over.
- with --room URL [--token T]: viva joins that room with T as the bot's token and
  creates nothing.

The exam starts when the candidate joins (the transport's `on_first_participant_joined`)
and is recorded as any session is; when the candidate leaves (`on_participant_left`)
the session ends `aborted`, its record and report complete. A join Daily refuses ends
the session `failed`, with Daily's error as the reason.

Echo: the candidate is in a browser (or Daily's app), whose WebRTC audio processing
cancels echo, so the examiner's voice from their loudspeaker does not come back in
their microphone. The turn gate's barge-in therefore stays on (the config's turn gate
is used as written; `half_duplex` is false unless the config says otherwise), unlike
local audio without headphones.
"""

from __future__ import annotations

import os
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from loguru import logger
from pipecat.transports.daily.transport import DailyParams, DailyTransport
from pipecat.transports.daily.utils import (
    DailyMeetingTokenParams,
    DailyMeetingTokenProperties,
    DailyRESTHelper,
    DailyRoomParams,
    DailyRoomProperties,
)

from viva.config import VivaConfig
from viva.errors import BadInput
from viva.exam_session import ExamSession, RunResult
from viva.pipelines.context import TargetFactory
from viva.record import new_session_id

DEFAULT_API_URL = "https://api.daily.co/v1"
BOT_NAME = "viva examiner"
CANDIDATE_NAME = "candidate"
# The room outlives the session's own limit by this much: the candidate may take a few
# minutes to open the link, and the session's clock starts when the bot joins.
ROOM_MARGIN_S = 600


@dataclass(frozen=True)
class DailyRoom:
    """Where the session runs.

    Args:
        url: the room's URL.
        bot_token: the examiner bot's meeting token (None: join without one).
        candidate_link: the link the candidate opens (only for a room viva created).
    """

    url: str
    bot_token: str | None
    candidate_link: str | None = None


# ---- the REST decisions: plain functions, checked without a network ---------------------


def api_url() -> str:
    """Daily's REST API base URL: env DAILY_API_URL (a test's local server), else Daily's."""
    return os.environ.get("DAILY_API_URL") or DEFAULT_API_URL


def room_lifetime_s(config: VivaConfig) -> float:
    """How long the room, and every token for it, stays valid."""
    return config.session.max_s + ROOM_MARGIN_S


def room_params(config: VivaConfig, *, session_id: str, now: float) -> DailyRoomParams:
    """The room of one session: private (only a token opens it), expiring, and small."""
    return DailyRoomParams(
        name=f"viva-{session_id}",  # the room names the session record it belongs to
        privacy="private",
        properties=DailyRoomProperties(
            exp=round(now + room_lifetime_s(config)),
            eject_at_room_exp=True,  # nobody stays on in a room whose exam is long over
            # The bot hears every participant's microphone; a third person would be heard
            # by the examiner as the candidate.
            max_participants=2,
            enable_prejoin_ui=True,  # the candidate checks their microphone before joining
            start_video_off=True,  # a spoken exam: no camera is needed
        ),
    )


def token_request(*, owner: bool, user_name: str, lifetime_s: float) -> dict:
    """Keyword arguments of DailyRESTHelper.get_token for one participant's token.

    get_token sets the token's room (from the URL it is given), expiry, ejection and
    ownership from its own arguments, so those are decided here, not in the params.
    """
    return {
        "expiry_time": lifetime_s,
        "eject_at_token_exp": True,
        "owner": owner,
        "params": DailyMeetingTokenParams(properties=DailyMeetingTokenProperties(user_name=user_name)),
    }


def candidate_token_request(config: VivaConfig) -> dict:
    """The candidate's token: not an owner (cannot eject the examiner or change the room)."""
    return token_request(owner=False, user_name=CANDIDATE_NAME, lifetime_s=room_lifetime_s(config))


def bot_token_request(config: VivaConfig) -> dict:
    """The examiner bot's token: the room's owner."""
    return token_request(owner=True, user_name=BOT_NAME, lifetime_s=room_lifetime_s(config))


def join_link(room_url: str, token: str) -> str:
    """The link a candidate opens: Daily's prebuilt page takes the token as `t`."""
    return f"{room_url}?t={token}"


# ---- the REST calls ---------------------------------------------------------------------


async def create_room(helper: DailyRESTHelper, *, config: VivaConfig, session_id: str) -> DailyRoom:
    """Creates the session's room and both tokens. Daily refusing, or unreachable, is
    BadInput: one line naming the API and Daily's answer (a wrong key is the usual cause)."""
    try:
        room = await helper.create_room(room_params(config, session_id=session_id, now=time.time()))
        candidate_token = await helper.get_token(room.url, **candidate_token_request(config))
        bot_token = await helper.get_token(room.url, **bot_token_request(config))
    except aiohttp.ClientError as e:
        raise BadInput(f"--transport daily: cannot reach Daily's REST API at {helper.daily_api_url}: {e}") from None
    except Exception as e:  # DailyRESTHelper raises plain Exceptions with Daily's status and answer
        answer = " ".join(str(e).split())
        raise BadInput(f"--transport daily: Daily's REST API at {helper.daily_api_url} refused: {answer} "
                       "(check DAILY_API_KEY)") from None
    return DailyRoom(url=room.url, bot_token=bot_token, candidate_link=join_link(room.url, candidate_token))


async def delete_room(helper: DailyRESTHelper, room_url: str) -> None:
    """Deletes a room viva created; a failure is a warning: the room expires anyway."""
    try:
        await helper.delete_room_by_url(room_url)
    except Exception as e:  # the session's record is already complete; nothing else depends on this
        logger.warning(f"could not delete the Daily room {room_url} (it expires on its own): {e}")


@asynccontextmanager
async def exam_room(config: VivaConfig, *, session_id: str, room_url: str | None, token: str | None):
    """The session's DailyRoom: the one given, or one created for it and deleted after."""
    if room_url:
        yield DailyRoom(url=room_url, bot_token=token)
        return
    if token:
        raise BadInput("--transport daily: --token is the bot's token for --room URL; give --room too")
    api_key = os.environ.get("DAILY_API_KEY")
    if not api_key:
        raise BadInput("--transport daily needs DAILY_API_KEY (to create a room) or --room URL [--token T]")
    async with aiohttp.ClientSession() as http:
        helper = DailyRESTHelper(daily_api_key=api_key, daily_api_url=api_url(), aiohttp_session=http)
        room = await create_room(helper, config=config, session_id=session_id)
        try:
            yield room
        finally:
            await delete_room(helper, room.url)


# ---- the transport and the session ------------------------------------------------------


def daily_params() -> DailyParams:
    """Audio only: the candidate's microphone at 16 kHz (what the Live API takes), the
    examiner at 24 kHz (what it speaks). VAD and turns are the pipeline's own stages."""
    return DailyParams(
        audio_in_enabled=True, audio_in_sample_rate=16000,
        audio_out_enabled=True, audio_out_sample_rate=24000,
        video_in_enabled=False, video_out_enabled=False, camera_out_enabled=False,
    )


def daily_transport(*, room: DailyRoom) -> DailyTransport:
    """The examiner bot in the room (it joins when the pipeline starts)."""
    return DailyTransport(room.url, room.bot_token, BOT_NAME, params=daily_params())


def follow_candidate(*, transport: DailyTransport, session: ExamSession) -> None:
    """Ties the session to the room's events: the first participant to join is the
    candidate and starts the exam; that participant leaving ends it `aborted`; a join
    that fails (no room, a refused token) ends it `failed`."""
    candidate: str | None = None
    joined = False

    @transport.event_handler("on_joined")
    async def bot_joined(transport, data):
        nonlocal joined
        joined = True

    @transport.event_handler("on_error")
    async def daily_error(transport, message):
        # Before the bot is in the room, every error is the join failing: nobody can
        # ever join this session, so it ends now rather than at max_s.
        if not joined:
            session.record.end(outcome="failed", end_reason=f"error: {message}")
            await session.worker.cancel()

    @transport.event_handler("on_first_participant_joined")
    async def candidate_joined(transport, participant):
        nonlocal candidate
        candidate = participant["id"]
        await session.start_exam()

    @transport.event_handler("on_participant_left")
    async def participant_left(transport, participant, reason):
        if participant["id"] == candidate:
            await session.candidate_left()


async def run_daily(config: VivaConfig, *, targets: TargetFactory, out: Path, room_url: str | None,
                    token: str | None) -> RunResult:
    """One exam in a Daily room (see the module's docstring): runs until the exam ends,
    the candidate leaves or `max_s` passes."""
    session_id = new_session_id()
    # The model's side first: a missing GOOGLE_API_KEY is reported before a room is made.
    async with targets(config=config, out=out, session_id=session_id) as target:
        async with exam_room(config, session_id=session_id, room_url=room_url, token=token) as room:
            transport = daily_transport(room=room)
            session = ExamSession(config=config, transport=transport, llm=target, out_dir=out,
                                  session_id=session_id)
            follow_candidate(transport=transport, session=session)
            if room.candidate_link:
                print(f"viva: the candidate joins at {room.candidate_link}", flush=True)
            print(f"viva: the examiner joins {room.url}; the exam starts when the candidate joins, "
                  "and ends (aborted) if they leave; Ctrl-C ends it", flush=True)
            return await session.run()
