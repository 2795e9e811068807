"""Pipecat's GeminiLiveLLMService as the config asks for it, with the exam's tools answered.

The `gemini_live` stage's builder (`build`) is here; its parameters (`GeminiLiveParams`) are in
viva/pipelines/registry.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from google.genai import types
from google.genai.types import ThinkingConfig, ThinkingLevel
from loguru import logger
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import (
    CancelWorkerFrame,
    EndWorkerFrame,
    LLMFullResponseEndFrame,
    TTSStoppedFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.google.gemini_live.llm import GeminiLiveLLMService, GeminiVADParams

from viva.exam.wording import system_instruction
from viva.pipelines.context import StageContext
from viva.pipelines.reconnect_policy import REFUSED, Attempt, Moment, ReconnectPolicy
from viva.pipelines.registry import GeminiLiveParams
from viva.pipelines.resilient_session import ResilientSession
from viva.processors.exam_frames import ExamCueFrame
from viva.processors.live_link import LiveLinkFrame, ReconnectRequestFrame
from viva.tools import declarable_schema


def reconnect_policy(params: GeminiLiveParams, **injected) -> ReconnectPolicy:
    """The ReconnectPolicy the stage's parameters ask for (injected: its rng, clock)."""
    return ReconnectPolicy(schedule_s=params.reconnect_schedule_s, jitter=params.reconnect_jitter,
                           budget_s=params.reconnect_budget_s, go_away_margin_s=params.go_away_margin_s, **injected)


class ExamGeminiLiveService(GeminiLiveLLMService):
    """Pipecat's Live service, kept as it is for the exchange, changed for the connection.

    What Pipecat does, and what changes here (field-reports.md §4):
    - It reconnects at once and gives up after three failures: here ReconnectPolicy
      decides (backoff 1, 2, 4 s with jitter within a budget, by the last resumable
      handle; a refused handle means a fresh session seeded with the exam so far).
    - It drops what is sent while reconnecting and treats a send error as fatal: here
      every send goes through ResilientSession, which keeps it for the next link and
      sends again what a resumed session has lost.
    - It ignores goAway: here a goAway plans a reconnect at the next moment between
      turns; once the margin before the close is reached, also while the candidate
      speaks (the answer so far goes again, whole); never in the examiner's turn.
    - A drop in the examiner's turn leaves Pipecat's turn open, so the next turn's words
      ran into it: here the cut turn is ended as a turnComplete would end it. If the
      turn had arrived whole (generationComplete, no turnComplete yet), the resumed
      session's reply to the same answer is that turn again and is not played twice.
    - It reconnects on request too (ReconnectRequestFrame: the stall watchdog's last resort).
    Everything else (the exchange, transcripts, tool calls) is Pipecat's. The connection
    handler is replaced because Pipecat's catches errors only around receiving, not
    around connecting (a refused handle fails the connect itself).

    Args:
        policy: the ReconnectPolicy (reconnect_policy(params)).
        on_event: called with (kind, **fields): disconnect, reconnect, go_away.
        history: () -> [(role, text)] of the exam so far, to seed a fresh session.
        clock, sleep: injected for tests; the clock must be the policy's, whose goAway
            deadline the timer waits for.
    """

    def __init__(self, *, policy: ReconnectPolicy, on_event: Callable[..., None] | None = None,
                 on_given_up: Callable[[str], None] | None = None,
                 history: Callable[[], list[tuple[str, str]]] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, **kwargs):
        super().__init__(**kwargs)
        self._policy = policy
        self._clock = clock
        self._sleep = sleep
        self._on_event = on_event or (lambda *args, **fields: None)
        self._on_given_up = on_given_up or (lambda reason: None)
        self._history = history or (lambda: [])
        self._link = ResilientSession()
        self._dropped_at: float | None = None
        self._attempt: Attempt | None = None
        self._between_turns = True
        self._reconnect_task: asyncio.Task | None = None
        self._go_away_timer: asyncio.Task | None = None
        self._planned = False  # a planned reconnect (goAway, request) is under way
        self._turn_arrived_whole = False  # generationComplete seen, turnComplete not yet
        self._skip_repeated_turn = False
        self._transcribed_since_resumable = False  # the candidate's words came since the last handle
        self._awaiting_reply = False  # a closed window the model has not answered yet
        self._skip_repeated_transcription = False
        self._cue_in_wait: ExamCueFrame | None = None  # a cue the model has not acted on yet

    async def process_frame(self, frame, direction):
        if isinstance(frame, ReconnectRequestFrame):
            await FrameProcessor.process_frame(self, frame, direction)
            await self._planned_reconnect("requested")
            return
        if isinstance(frame, ExamCueFrame):
            await FrameProcessor.process_frame(self, frame, direction)
            await self._send_cue(frame)
            return
        if isinstance(frame, UserStartedSpeakingFrame):
            self._between_turns = False
        elif isinstance(frame, UserStoppedSpeakingFrame):
            self._awaiting_reply = True  # the window is closed; its answer is owed
        await super().process_frame(frame, direction)
        if isinstance(frame, UserStartedSpeakingFrame):
            self._reconnect_if_planned()  # past a goAway's deadline, the answer can go over

    async def _send_cue(self, cue: ExamCueFrame) -> None:
        """The exam director's cue, as client content: appended to the model's context in order,
        answered at once only when it asks to be (the way Pipecat appends messages, without its
        aggregator's turn bookkeeping). A 3.x model also wants a realtime input before it answers,
        as Pipecat's own turn completion sends."""
        self._cue_in_wait = None if cue.respond_now else cue
        turn = types.Content(role="user", parts=[types.Part(text=cue.text)])
        await self._link.send_client_content(turns=[turn], turn_complete=cue.respond_now)
        if cue.respond_now and self._is_gemini_3:
            await self._link.send_realtime_input(text=" ")

    async def cleanup(self):
        for task in (self._go_away_timer, self._reconnect_task):
            if task is not None and not task.done():
                await self.cancel_task(task)
        await super().cleanup()

    # -- the connection

    async def _connection_task_handler(self, config):
        try:
            async with self._client.aio.live.connect(model=self._settings.model, config=config) as session:
                self._connection_start_time = time.time()
                resumed = self._session_resumption_handle is not None
                pending = self._link.attach(session, resumed=resumed)
                await self._handle_session_ready(self._link)  # a fresh session gets its history here
                if not resumed and self._cue_in_wait is not None:
                    # A fresh session has not seen the cue waiting for the answer sent again below.
                    await self._send_cue(self._cue_in_wait)
                self._ready_for_realtime_input = True
                # A window that had ended and been transcribed before the drop is transcribed
                # again when it is sent again: the record has its words already.
                self._skip_repeated_transcription = (resumed and self._transcribed_since_resumable
                                                     and any(send.closes_window for send in pending))
                # Only a resumed session answers the same answer again; a fresh one goes on from its history.
                self._skip_repeated_turn = self._skip_repeated_turn and resumed
                self._connected(resumed=resumed, replayed=await self._link.flush(pending))
                while True:
                    async for message in session.receive():
                        if not self._repeats_what_was_received(message):
                            await self._handle_server_message(message)
                        await self._after_message(message)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            if not self._disconnecting:
                await self._link_lost(e)

    def _connected(self, *, resumed: bool, replayed: int) -> None:
        if self._dropped_at is not None:
            self.create_task(self.push_frame(LiveLinkFrame(up=True)), "live-link-up")
            self._on_event("reconnect", after_s=round(self._clock() - self._dropped_at, 3), resumed=resumed,
                           attempt=self._attempt.number if self._attempt else 0, replayed=replayed)
        self._dropped_at, self._attempt, self._planned = None, None, False
        self._policy.on_connected()

    async def _link_lost(self, error: Exception) -> None:
        logger.info(f"Live link lost: {error!r}")
        self._link.detach()
        # websockets' ConnectionClosed carries the close frame it received (its .code is deprecated).
        received = getattr(error, "rcvd", None)
        code = received.code if received is not None else getattr(error, "code", None)
        if self._dropped_at is None:
            self._dropped_at = self._clock()
            cut = "whole" if self._turn_arrived_whole else "partial" if self._bot_is_responding else None
            self._on_event("disconnect", code=code, reason=str(error)[:200], examiner_turn=cut)
            self._skip_repeated_turn = self._turn_arrived_whole
            await self._end_cut_turn()
            await self.push_frame(LiveLinkFrame(up=False))
        self._attempt = self._policy.on_disconnect(code if isinstance(code, int) else None)
        if self._attempt is None:
            await self._give_up(code, error)
            return
        self._reconnect_task = self.create_task(self._reconnect_after(self._attempt), "live-reconnect")

    async def _give_up(self, code, error: Exception) -> None:
        """No link, and none to be had: the session ends now, failed, with one line that says why
        (a refused fresh session is the key, the model or the setup: waiting changes nothing)."""
        if code == REFUSED:
            reason = f"live_refused: the Live service refused the session ({code}: {str(error)[:200]})"
        else:
            reason = f"live_lost: the Live connection was lost and not regained ({str(error)[:200]})"
        logger.error(reason)
        self._on_given_up(reason)
        await self.push_error(error_msg=reason, force_treat_as_permanent=True)
        await self.push_frame(CancelWorkerFrame(reason=reason), FrameDirection.UPSTREAM)

    async def _end_cut_turn(self) -> None:
        """The examiner's turn ends here, as Pipecat ends it at turnComplete."""
        self._turn_arrived_whole = False
        if self._bot_is_responding:
            self._bot_text_buffer = ""
            self._llm_output_buffer = ""
            await self._set_bot_is_responding(False)
            await self.push_frame(TTSStoppedFrame())
            await self.push_frame(LLMFullResponseEndFrame())

    def _repeats_what_was_received(self, message) -> bool:
        return self._repeats_a_transcription(message) or self._repeats_a_whole_turn(message)

    def _repeats_a_transcription(self, message) -> bool:
        """The candidate's words for a window sent again, up to the model's reply to it."""
        if not self._skip_repeated_transcription:
            return False
        sc = message.server_content
        if message.tool_call is not None or (sc is not None and (sc.model_turn or sc.turn_complete)):
            self._skip_repeated_transcription = False
            return False
        return sc is not None and sc.input_transcription is not None and not sc.output_transcription

    def _repeats_a_whole_turn(self, message) -> bool:
        """After a drop that came once the examiner's turn had arrived whole, the resumed
        session answers the answer sent again with that turn again: the candidate has it
        already. Its audio and words are skipped up to its end; a call is never skipped."""
        if not self._skip_repeated_turn:
            return False
        if message.tool_call is not None:
            self._skip_repeated_turn = False
            return False
        sc = message.server_content
        if sc is None:
            return False
        if sc.turn_complete or sc.interrupted:
            self._skip_repeated_turn = False
            self._on_event("repeated_turn_skipped")
            return True
        return bool(sc.model_turn or sc.output_transcription or sc.generation_complete)

    async def _reconnect_after(self, attempt: Attempt) -> None:
        logger.info(f"Live reconnect attempt {attempt}")
        started = self._clock()
        await self._sleep(attempt.delay_s)
        self._on_event("reconnect_attempt", attempt=attempt.number, base_s=attempt.base_s, delay_s=attempt.delay_s,
                       waited_s=round(self._clock() - started, 3), resume=attempt.handle is not None,
                       after_refusal=attempt.after_refusal)
        self._session = None
        self._session_resumption_handle = attempt.handle
        if attempt.handle is None:
            self._seed_fresh_session()
        await self._connect(session_resumption_handle=attempt.handle)

    def _seed_fresh_session(self) -> None:
        """A fresh session starts from the exam so far, not from the beginning."""
        turns = [{"role": "assistant" if role == "examiner" else "user", "content": text}
                 for role, text in self._history() if text]
        turns.append({"role": "user", "content": "(The connection was lost and is back. Continue the exam "
                                                 "exactly where it was; do not start again.)"})
        self._context = LLMContext(messages=turns)
        self._run_llm_when_session_ready = False

    async def _planned_reconnect(self, reason: str) -> None:
        """Close the link on purpose and reconnect at once (by the last handle). The old
        socket is closed first: the server refuses to resume a session still open."""
        if self._planned:
            return
        self._planned = True
        self._on_event("disconnect", code=None, reason=reason, moment=self._moment().value)
        self._dropped_at = self._clock()
        await self.push_frame(LiveLinkFrame(up=False))
        session = self._link.detach()
        task, self._connection_task = self._connection_task, None
        if task:
            await self.cancel_task(task, timeout=1.0)
        if session is not None:
            try:
                await session.close()
            except Exception as e:
                logger.info(f"closing the old Live socket: {e}")
        self._session = None
        self._session_resumption_handle = self._policy.handle
        await self._connect(session_resumption_handle=self._policy.handle)

    async def _after_message(self, message) -> None:
        sc = message.server_content
        if sc is not None and sc.model_turn is not None:
            self._between_turns = False  # the examiner is answering
        if message.tool_call is not None or (sc is not None and (sc.model_turn or sc.turn_complete)):
            self._awaiting_reply = False
        if message.tool_call is not None or (sc is not None and sc.model_turn):
            self._cue_in_wait = None  # the model is acting on it
        if sc is not None and (sc.generation_complete or sc.turn_complete or sc.interrupted):
            self._turn_arrived_whole = bool(sc.generation_complete)
        if sc is not None and sc.input_transcription is not None:
            self._transcribed_since_resumable = True
        update = message.session_resumption_update
        if update is not None:
            self._policy.on_handle(update.new_handle, bool(update.resumable))
            if update.resumable and update.new_handle:
                self._link.on_resumable_point(keep_window=self._user_is_speaking or self._awaiting_reply)
                self._transcribed_since_resumable = False
                self._between_turns = True  # the server says so: a point to resume from
        if message.go_away is not None:
            left = message.go_away.time_left
            seconds = left.total_seconds() if hasattr(left, "total_seconds") else float(str(left).rstrip("s") or 0)
            self._policy.on_go_away(seconds)
            self._on_event("go_away", time_left_s=seconds)
            if self._go_away_timer is None or self._go_away_timer.done():
                self._go_away_timer = self.create_task(self._at_go_away_deadline(), "live-go-away-deadline")
        self._reconnect_if_planned()

    def _moment(self) -> Moment:
        if self._user_is_speaking:
            return Moment.CANDIDATE_SPEAKING
        return Moment.BETWEEN_TURNS if self._between_turns else Moment.EXAMINER_TURN

    def _reconnect_if_planned(self) -> None:
        if not self._planned and self._policy.planned_reconnect_due(self._moment()):
            self.create_task(self._planned_reconnect("go_away"), "live-go-away")

    async def _at_go_away_deadline(self) -> None:
        """No message may come while the candidate speaks: the deadline is a timer too."""
        deadline = self._policy.go_away_deadline
        if deadline is not None:
            await self._sleep(max(0.0, deadline - self._clock()))
            self._reconnect_if_planned()


def build(params: GeminiLiveParams, context: StageContext) -> GeminiLiveLLMService:
    """The `gemini_live` stage (validate_tool_args tells the session's ResultCollector)."""
    context.results.validate = params.validate_tool_args
    return gemini_live_service(context, params)


def gemini_live_service(context: StageContext, params: GeminiLiveParams) -> GeminiLiveLLMService:
    """The Live service with client-side activity detection (automatic detection off).

    params: the gemini_live stage's (GeminiLiveParams). end_on_tool_result: finish
    the way a Pipecat app does when the result is in (push EndWorkerFrame; the service
    defers the EndFrame until the examiner's turn is over). resilient: viva's connection
    handling (ExamGeminiLiveService), else Pipecat's own (the baseline).
    """
    config = context.config
    schemas = []
    for tool in config.exam.declared_tools:
        parameters = declarable_schema(tool.parameters)
        schemas.append(FunctionSchema(
            name=tool.name, description=tool.description,
            properties=parameters.get("properties", {}), required=parameters.get("required", []),
        ))
    thinking = (
        ThinkingConfig(thinking_level=ThinkingLevel(config.llm.thinking_level.upper()))
        if config.llm.thinking_level else None
    )
    resilience = {}
    http_options = context.llm.http_options
    if params.resilient:
        resilience = dict(
            policy=reconnect_policy(params),
            on_event=context.record.event,
            on_given_up=lambda reason: context.record.end(outcome="failed", end_reason=reason),
            history=lambda: [(e["role"], e["text"]) for e in context.record.data["transcript"]],
        )
        # Keepalive: websockets' default 20 s pong timeout closes links whose pongs are
        # merely slow (8 to 30 s in the field); google-genai passes these to websockets.
        args = dict((http_options.async_client_args if http_options else None) or {})
        args.update(ping_interval=20.0, ping_timeout=params.ping_timeout_s)
        http_options = (http_options or types.HttpOptions()).model_copy(update={"async_client_args": args})
    service_class = ExamGeminiLiveService if params.resilient else GeminiLiveLLMService
    service = service_class(
        **resilience,
        api_key=context.llm.api_key,
        http_options=http_options,
        system_instruction=system_instruction(config.exam, cued=context.directed),
        tools=ToolsSchema(standard_tools=schemas) if schemas else None,
        settings=GeminiLiveLLMService.Settings(
            model=config.llm.model,
            voice=config.llm.voice,
            language=config.llm.language,
            vad=GeminiVADParams(disabled=True),
            thinking=thinking or {},
        ),
    )
    for tool in config.exam.tools:
        service.register_function(tool.name, _handler(context, params.end_on_tool_result))
    for tool in config.exam.judgement_tools:
        service.register_function(tool.name, _judgement_handler(context))
    return service


def _handler(context: StageContext, end_on_tool_result: bool):
    async def answer(params):
        response = context.results.on_tool_call(params.function_name, dict(params.arguments))
        newly_complete = context.results.complete and context.record.data["result"] is None
        if newly_complete:
            context.record.set_result(context.results.result(), "tool_call", context.results.marks())
        await params.result_callback(response)
        if newly_complete and end_on_tool_result:
            context.record.end(outcome="completed", end_reason="tool_result")
            await params.llm.push_frame(EndWorkerFrame(reason="result recorded"), FrameDirection.UPSTREAM)

    return answer


def _judgement_handler(context: StageContext):
    """A judgement's response carries the cue of the step its choice leads to (the exam
    controller's), so that the model goes on with it at once, as it would with any response."""

    async def answer(params):
        response = context.results.on_tool_call(params.function_name, dict(params.arguments))
        choice = params.arguments.get("judgement")
        if "error" not in response and context.judge is not None:
            following = await context.judge(params.function_name, str(choice))
            response = {"judgement": choice, **({"next": following} if following else {})}
        await params.result_callback(response)

    return answer
