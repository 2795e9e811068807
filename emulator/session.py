"""One Live API session as the emulator serves it: the protocol state of each socket and
the exam state that outlives sockets through resumption handles.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import secrets
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from google.genai import types
from loguru import logger

from emulator import wire
from emulator.journal import Journal
from emulator.livesocket import LiveSocket, SocketClosed
from emulator.models import ModelGeneration, model_for
from emulator.misbehaviour import CallWithBadArguments, Misbehaviour, Nothing, SpeakThenCall
from emulator.script import (CallTools, ExaminerState, Phase, ScriptedExaminer, Silence, Speak, cue_in_response,
                             cue_says_now)
from emulator.speech import SpeechDetector
from emulator.toolargs import declared_json_schema, example_arguments, merged_arguments, schema_errors
from emulator.voice import OUTPUT_RATE, ExaminerVoice

AUDIO_TOKENS_PER_S = 25  # the Live API bills audio at about 25 tokens a second
_INPUT_RATE = re.compile(r"rate=(\d+)")
# [U] The input rates the emulator takes (the service's own limits are not documented): a
# rate far outside them would make the resampler's output huge, or its input nonsense.
_INPUT_RATES = range(8000, 192001)
_call_ids = itertools.count(10_000_000_000_000_000_000)


@dataclass
class SessionSettings:
    """How the emulator paces and words its output (per server, shared by its sessions)."""

    voice: ExaminerVoice
    pace: float = 1.25  # audio is streamed this many times faster than real time
    hold_turn_complete: bool = True  # turnComplete when playback would end, as the real server does
    chunk_s: float = 0.1  # seconds of audio per modelTurn message
    connection_lifetime_s: float | None = None  # goAway, then a 1011 close, like the real ~10 min
    go_away_time_left_s: float = 50.0
    validate_outgoing: bool = False  # check each message with the strict SDK validator
    seed: int = 0
    # How the speaks_during_preparation fault waits out the client's silence: a test passes a
    # sleep it controls, so the idle time passes when the test says, not on the wall clock.
    idle_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


@dataclass
class ExamSession:
    """What survives a reconnect: the script position, the journal, the token count."""

    session_id: str
    examiner: ScriptedExaminer
    journal: Journal
    rng: random.Random
    prompt_tokens: int = 0
    connection: "LiveConnection | None" = None
    connections: int = 0
    handles: list[str] = field(default_factory=list)
    validation_failures: list[str] = field(default_factory=list)
    messages_validated: int = 0
    misbehaviour: Misbehaviour | None = None  # the session's faults (none: a well-behaved model)
    resumable: bool = True  # False once a disconnect fault refused resumption
    # Tool name -> arguments the examiner said aloud (speak_instead_of_tool_call, tool_call_and_speak).
    spoken_results: dict[str, dict] = field(default_factory=dict)
    # What it speaks in, from the setup that began it (a resumed session keeps them): the language
    # code the client named (None: none, English), and the espeak-ng voice for it (None: the tone).
    language: str | None = None
    espeak_voice: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """What a resumption handle restores."""

    session: ExamSession
    state: ExaminerState
    prompt_tokens: int


class Close(Exception):
    """Ends the connection with a close frame."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code, self.reason = code, reason


class LiveConnection:
    """One WebSocket: setup, realtime input, activity windows, generation, tools.

    Args:
        ws: the accepted connection.
        settings: pacing and voice.
        new_session: makes the ExamSession of a fresh connection (session id from headers, the
            examiner from the setup).
        resume: finds the Snapshot for a handle (None when unknown).
        remember: stores a Snapshot under a new handle and returns the handle.
    """

    def __init__(
        self,
        *,
        ws: LiveSocket,
        settings: SessionSettings,
        new_session: Callable[[LiveSocket, wire.WireSetup], ExamSession],
        resume: Callable[[str], Snapshot | None],
        remember: Callable[[Snapshot], str],
    ):
        self._ws = ws
        self._settings = settings
        self._new_session = new_session
        self._resume = resume
        self._remember = remember
        self.session: ExamSession | None = None
        self._setup: wire.WireSetup | None = None
        self._model: ModelGeneration | None = None  # what the setup's model accepts and how it answers
        self._text_replies = False  # responseModalities TEXT: text parts, no audio
        # historyConfig.initialHistoryInClientContent: client content is history until the
        # first turnComplete or realtime input, and nobody answers it.
        self._history_phase = False
        # A reply to client content is under way: a blank realtime text right after it (Pipecat
        # sends " " after every client turn on 3.x) belongs to that turn and is not a second one.
        self._client_content_reply = False
        self._non_blocking_calls: set[str] = set()  # pending calls the model does not wait for
        self._idle_replies: list = []  # WHEN_IDLE tool results: said once the model is idle
        self._manual_activity = False
        self._barge_in = True
        self._resumption = False
        self._input_transcription = False
        self._output_transcription = False
        self._tool_schemas: dict[str, dict] = {}
        self._tool_behavior: dict[str, str] = {}  # function name -> BLOCKING or NON_BLOCKING
        self._window: _Window | None = None
        self._auto_turn: _AutoTurn | None = None
        self._generation: asyncio.Task | None = None
        self._pending_calls: dict[str, str] = {}  # call id -> function name
        self._timers: list[asyncio.Task] = []
        self._closed = False
        # speaks_during_preparation: counts the client's silence while the model is idle after
        # one of its turns; any client message (audio outside a window aside) stops the count,
        # and a new count starts when the model is idle again.
        self._idle_timer: asyncio.Task | None = None
        self._examiner_has_spoken = False  # an examiner turn has ended on this connection

    # ---- connection lifetime -------------------------------------------------------

    async def serve(self) -> None:
        try:
            await self._serve_messages()
        except Close as close:
            await self._close(close.code, close.reason)
        except SocketClosed:
            pass
        except Exception:  # an emulator fault: the client hears the service's internal error, not silence
            # The traceback as text: a logger that shows local values could show the socket's key.
            logger.error(f"emulator: a Live connection failed\n{traceback.format_exc()}")
            await self._close(wire.INTERNAL, "Internal error encountered.")
        finally:
            await self._teardown()

    async def _serve_messages(self) -> None:
        vertex = "aiplatform" in self._ws.path
        async for raw in self._ws:
            try:
                message = wire.parse_client_message(raw, vertex=vertex)
            except wire.ProtocolError as e:
                self._log_in("invalid", error=e.reason)
                raise Close(e.code, e.reason) from None
            if message.newer_fields and message.setup is None:
                self._log_in("newer_fields", fields=message.newer_fields)
            await self._dispatch(message)

    async def _teardown(self) -> None:
        self._closed = True
        for task in [*self._timers, self._generation, self._idle_timer]:
            if task and not task.done():
                task.cancel()
        if self.session is not None:
            if self.session.connection is self:
                self.session.connection = None
            code = self._ws.close_code
            self.session.journal.write(
                dir="event", kind="socket_closed", code=code, reason=self._ws.close_reason or ""
            )
            self.session.journal.close()

    async def _close(self, code: int, reason: str) -> None:
        if self.session is not None:
            self.session.journal.write(dir="out", kind="close", code=code, reason=reason)
        self._closed = True
        await self._ws.close(code, reason)

    async def close_now(self, code: int, reason: str) -> None:
        """Closes from outside (lifetime end, fault injection)."""
        await self._close(code, reason)

    # ---- input -----------------------------------------------------------------------

    def _log_in(self, kind: str, **extra: Any) -> None:
        if self.session is not None:
            self.session.journal.write(
                dir="in", kind=kind, window_open=self._window is not None, **extra
            )

    async def _dispatch(self, message: wire.WireClientMessage) -> None:
        if message.setup is not None:
            await self._on_setup(message.setup, newer_fields=message.newer_fields)
            return
        if self._setup is None:
            # The first frame must be setup; the real server answers anything else so.
            raise Close(wire.INVALID_ARGUMENT, "Request contains an invalid argument.")
        realtime = message.realtime_input
        # Audio is the candidate's microphone, not a message to the model: only speech in it
        # (a window, or speech the server's own detection hears) ends the client's silence.
        audio = realtime is not None and (realtime.audio is not None or bool(realtime.media_chunks))
        if not audio:
            self._stop_idle_timer()
        if message.realtime_input is not None:
            await self._on_realtime_input(message.realtime_input)
        elif message.client_content is not None:
            await self._on_client_content(message.client_content)
        elif message.tool_response is not None:
            await self._on_tool_response(message.tool_response)
        elif message.context_update is not None:
            self._log_in("context_update")
            if message.context_update.tools:
                self._declare_tools(message.context_update.tools)
        if not audio and self._idle_timer is None:
            self._start_idle_timer()  # the model is still idle: the client's silence counts from here

    async def _on_setup(self, setup: wire.WireSetup, *, newer_fields: list[str]) -> None:
        if self._setup is not None:
            raise Close(wire.INVALID_ARGUMENT, "Request contains an invalid argument.")
        version = re.search(r"\.(v1\w*)[./]", self._ws.path)
        try:
            self._model = model_for(setup.model, api_version=version.group(1) if version else "v1beta")
            self._model.check_setup(setup)
        except wire.ProtocolError as e:
            raise Close(e.code, e.reason) from None
        handle = setup.session_resumption.handle if setup.session_resumption else None
        if handle:
            snapshot = self._resume(handle)
            if snapshot is None:
                raise Close(wire.POLICY, "BidiGenerateContent session not found")
            if snapshot.session.connection is not None:
                # Resuming while the session's old socket is still open is refused.
                raise Close(wire.INTERNAL, "The service is currently unavailable.")
            self.session = snapshot.session
            self.session.examiner.state = snapshot.state
            self.session.prompt_tokens = snapshot.prompt_tokens
        else:
            self.session = self._new_session(self._ws, setup)
        self.session.connection = self
        self.session.connections += 1
        self._setup = setup
        self._log_in("setup", model=setup.model, generation=self._model.name, resumed_from=handle,
                     connection=self.session.connections, **self._speaks(),
                     **({"newer_fields": newer_fields} if newer_fields else {}))
        self._text_replies = self._model.modality(setup) == "TEXT"
        self._history_phase = bool(self._model.initial_history and setup.history_config
                                   and setup.history_config.initial_history_in_client_content)

        detection = setup.realtime_input_config.automatic_activity_detection if setup.realtime_input_config else None
        self._manual_activity = bool(detection and detection.disabled)
        handling = setup.realtime_input_config.activity_handling if setup.realtime_input_config else None
        self._barge_in = handling != types.ActivityHandling.NO_INTERRUPTION
        self._resumption = setup.session_resumption is not None
        self._input_transcription = setup.input_audio_transcription is not None
        self._output_transcription = setup.output_audio_transcription is not None
        if not self._manual_activity:
            silence_ms = detection.silence_duration_ms if detection and detection.silence_duration_ms else 800
            self._auto_turn = _AutoTurn(silence_s=silence_ms / 1000)
        self._declare_tools(setup.tools or [])

        await self._send(wire.setup_complete(), kind="setup_complete")
        if self._settings.connection_lifetime_s:
            self._timers.append(asyncio.create_task(self._lifetime(self._settings.connection_lifetime_s)))
        for fault in self.session.misbehaviour.plan.timed():
            self._timers.append(asyncio.create_task(self._timed_fault(fault)))
        await self._offer_handle()

    def _speaks(self) -> dict:
        """What the session speaks in, for the setup's journal line: the language code the client
        named (None: none was, and it speaks English), the espeak-ng voice (None: the tone), and
        the language of the words it makes up itself (None: it has none in that language)."""
        return {"language": self.session.language, "espeak_voice": self.session.espeak_voice,
                "own_words": self.session.examiner.own_words.language}

    def _declare_tools(self, tools: list[types.Tool]) -> None:
        declarations = [declaration for tool in tools for declaration in tool.function_declarations or []]
        self._tool_schemas = {declaration.name: declared_json_schema(declaration) for declaration in declarations}
        self._tool_behavior = {declaration.name: self._model.behavior(declaration) for declaration in declarations}
        self.session.examiner.tools = tuple(self._tool_schemas)  # a model calls what it was given

    async def _on_realtime_input(self, realtime: types.LiveClientRealtimeInput) -> None:
        self._history_phase = False  # realtime input starts the session proper
        if realtime.text is None:
            self._client_content_reply = False
        if realtime.activity_start is not None:
            await self._on_activity_start()
        elif realtime.activity_end is not None:
            await self._on_activity_end()
        elif realtime.audio is not None or realtime.media_chunks:
            blob = realtime.audio or realtime.media_chunks[0]
            await self._on_audio(blob)
        elif realtime.audio_stream_end:
            self._log_in("audio_stream_end")
            if self._auto_turn is not None and self._auto_turn.detector is not None:
                await self._end_auto_turn()
        elif realtime.text is not None:
            joins = self._client_content_reply and not realtime.text.strip()
            self._client_content_reply = False
            self._log_in("text", text=realtime.text, **({"joins_client_turn": True} if joins else {}))
            if joins:
                return
            self._read_cue(realtime.text, source="text")
            await self._cancel_blocking_calls()
            await self._respond(self.session.misbehaviour.on_text(), trigger="text")
        elif realtime.video is not None:
            self._log_in("video")

    async def _on_activity_start(self) -> None:
        if not self._manual_activity:
            self._log_in("activity_start")
            raise Close(
                wire.INVALID_ARGUMENT,
                "Explicit activity control is not supported when automatic activity detection is enabled.",
            )
        if self._window is not None:
            self._log_in("activity_start", nested=True)  # ignored, as the real server does
            return
        self._log_in("activity_start")
        self._window = _Window()
        await self._cancel_blocking_calls()
        if self._barge_in:
            await self._interrupt()

    async def _on_activity_end(self) -> None:
        if not self._manual_activity:
            self._log_in("activity_end")
            raise Close(
                wire.INVALID_ARGUMENT,
                "Explicit activity control is not supported when automatic activity detection is enabled.",
            )
        self._log_in("activity_end")
        window, self._window = self._window, None
        if window is None:
            return
        if window.audio_bytes == 0:
            # An empty activity: the real server ends the turn, then closes.
            await self._send({"serverContent": {"turnComplete": True}, "usageMetadata": {}}, kind="turn_complete")
            raise Close(wire.INVALID_ARGUMENT, "Precondition check failed.")
        await self._complete_turn(await window.finish())

    async def _on_audio(self, blob: types.Blob) -> None:
        data = blob.data or b""
        match = _INPUT_RATE.search(blob.mime_type or "")
        # A digit count first: int() refuses over 4300 digits with an error of its own.
        rate = (int(match.group(1)) if len(match.group(1)) < 7 else 0) if match else 16000
        if rate not in _INPUT_RATES:
            raise Close(wire.INVALID_ARGUMENT, "Request contains an invalid argument.")
        self._log_in("audio", audio_bytes=len(data))
        if self._manual_activity:
            if self._window is not None:
                self._window.add(data, rate)
            elif self.session.misbehaviour.plan.fires("reject_audio_outside_activity"):
                self._fault("reject_audio_outside_activity", audio_bytes=len(data))
                raise Close(wire.INVALID_ARGUMENT, "Request contains an invalid argument.")
            # Otherwise audio outside a window is accepted and ignored, as the real server does.
            return
        await self._on_auto_audio(data, rate)

    async def _complete_turn(self, detector: SpeechDetector) -> None:
        speech = detector.has_speech
        self.session.prompt_tokens += int(detector.audio_s * AUDIO_TOKENS_PER_S)
        self.session.journal.write(
            dir="action", kind="window", speech=speech,
            voiced_s=round(detector.voiced_s, 2), audio_s=round(detector.audio_s, 2),
        )
        if speech and self._input_transcription:
            await self._send(wire.input_transcription(f"(speech, {detector.voiced_s:.1f} s)."), kind="input_transcription")
        misbehaviour = self.session.misbehaviour
        reply = misbehaviour.on_window(speech=speech)
        disconnect = misbehaviour.plan.fires("disconnect", turn=misbehaviour.turn) if speech else None
        if disconnect:
            await self._disconnect(disconnect)
            return
        await self._respond(reply, trigger="speech" if speech else "no_speech")

    async def _on_client_content(self, content: types.LiveClientContent) -> None:
        turns = [(turn.role, " ".join(part.text for part in turn.parts or [] if part.text))
                 for turn in content.turns or []]
        user_text = "\n".join(text for role, text in turns if role != "model" and text)
        self._log_in("client_content", turns=len(turns), turn_complete=bool(content.turn_complete), text=user_text)
        said = []
        cued_here = False
        for role, text in turns:
            self.session.prompt_tokens += max(1, len(text) // 4)
            if role == "model":
                said.append(text)
                if cued_here and self.session.examiner.pending_cue is not None:
                    # The model's turn follows the cue in this history: it was acted on.
                    self.session.examiner.settle_cue()
                    self.session.journal.write(dir="action", kind="cue_settled")
            elif text:
                cued_here = self._read_cue(
                    text, source="history" if self._history_phase else "client_content",
                    pending=not content.turn_complete or self._history_phase) or cued_here
        if said and self.session.examiner.on_history(said):
            self._log_in("history", resumed_at_line=self.session.examiner.current_line)
        if not content.turn_complete or self._history_phase:
            if self._history_phase and content.turn_complete:
                # The initial history is complete; the model answers the first realtime input.
                self._history_phase = False
                self.session.journal.write(dir="action", kind="history_complete")
            if cued_here:
                await self._offer_handle()  # the state changed: a handle that keeps the pending cue
            return
        await self._interrupt()  # "a message here will interrupt any current model generation"
        await self._cancel_blocking_calls()
        self._client_content_reply = True
        await self._respond(self.session.misbehaviour.on_text(), trigger="client_content")

    def _read_cue(self, text: str, *, source: str, pending: bool = False) -> bool:
        """A client's text: when it is a cue, the examiner keeps it for its next turn (journaled
        as kind cue). Returns whether it was one."""
        examiner = self.session.examiner
        earlier = examiner.pending_cue
        cue = examiner.read_cue(text)
        if cue is None:
            return False
        self._journal_cue(cue, source=source, pending=pending, earlier=earlier)
        return True

    def _journal_cue(self, cue, *, source: str, pending: bool, earlier=None, **extra: Any) -> None:
        action = {"say": cue.say} if cue.say is not None else {"call_tools": list(cue.tools)} if cue.tools else {}
        if cue.role is not None:
            action["role"] = cue.role
        self.session.journal.write(dir="action", kind="cue", source=source, text=cue.text, pending=pending,
                                   **action, **({"replaces": earlier.text} if earlier else {}), **extra)

    async def _on_tool_response(self, response: types.LiveClientToolResponse) -> None:
        answers = response.function_responses or []
        self._log_in("tool_response", ids=[a.id for a in answers], names=[a.name for a in answers])
        for answer in answers:
            if answer.will_continue:
                continue  # a generator-style result: the call stays open until the last one
            name = self._pending_calls.pop(answer.id, None) if answer.id else None
            if name is None:
                self.session.journal.write(dir="action", kind="tool_response_ignored", id=answer.id)
                continue
            scheduling = self._scheduling(answer) if answer.id in self._non_blocking_calls else None
            self._non_blocking_calls.discard(answer.id)
            if isinstance(answer.response, dict) and "error" in answer.response:
                # The client refused the arguments: the model tries the call again.
                await self._respond(self.session.misbehaviour.on_tool_error(name), trigger="tool_error")
                continue
            examiner = self.session.examiner
            cue = cue_in_response(answer.response, examiner.tools)
            awaited = examiner.state.phase is Phase.AWAITING_TOOL_RESULTS and name in examiner.state.pending_tools
            if cue is not None and awaited:
                self._journal_cue(cue, source="tool_response", pending=not cue_says_now(cue), id=answer.id)
            reply = examiner.on_tool_result(name, answer.response)
            if scheduling == "SILENT":
                self.session.journal.write(dir="action", kind="tool_result_silent", id=answer.id)
            elif scheduling == "WHEN_IDLE" and self._generation is not None:
                self._idle_replies.append(reply)  # said when the examiner's turn in progress ends
            else:
                await self._respond(reply, trigger="tool_response")

    @staticmethod
    def _scheduling(answer: types.FunctionResponse) -> str:
        """A NON_BLOCKING result's scheduling: the field, or inside the response as Google's guide
        puts it; WHEN_IDLE when neither says."""
        scheduling = answer.scheduling or (answer.response or {}).get("scheduling")
        value = str(getattr(scheduling, "value", scheduling) or "WHEN_IDLE").upper()
        return value if value in ("SILENT", "WHEN_IDLE", "INTERRUPT") else "WHEN_IDLE"

    async def _cancel_blocking_calls(self) -> None:
        """3.8: new input while a blocking call is pending cancels the call."""
        blocking = [call for call in self._pending_calls if call not in self._non_blocking_calls]
        if not blocking or not self._model.cancel_blocking_on_input:
            return
        for call in blocking:
            del self._pending_calls[call]
        self.session.examiner.cancel_tools()
        await self._send(wire.tool_call_cancellation(blocking), kind="tool_call_cancellation", ids=blocking)

    # ---- automatic activity detection (server VAD) ---------------------------------

    async def _on_auto_audio(self, data: bytes, rate: int) -> None:
        turn = self._auto_turn
        if turn.detector is None:
            turn.detector = SpeechDetector()
        ended = turn.feed(data, rate)
        if turn.started_now:
            self._stop_idle_timer()
        if turn.started_now and self._barge_in:
            await self._interrupt()
        if ended:
            await self._end_auto_turn()

    async def _end_auto_turn(self) -> None:
        detector = self._auto_turn.take()
        if detector is not None and detector.has_speech:
            await self._complete_turn(detector)

    # ---- output ----------------------------------------------------------------------

    async def _send(self, message: dict, *, kind: str | None = None, **extra: Any) -> None:
        if self._closed:
            return
        if self._settings.validate_outgoing:
            self.session.messages_validated += 1
            try:
                wire.validate_server_message(message)
            except Exception as e:  # recorded for the tests; a real client would choke
                self.session.validation_failures.append(f"{e}: {str(message)[:200]}")
        if kind is not None:
            self.session.journal.write(dir="out", kind=kind, **extra)
        try:
            await self._ws.send(wire.encode_server_message(message))
        except SocketClosed:
            self._closed = True

    async def _offer_handle(self) -> None:
        if not self._resumption or self._closed:
            return
        if self._generation is not None or self._pending_calls:
            await self._send(wire.resumption_update(None), kind="resumption_update", resumable=False)
            return
        handle = self._remember(
            Snapshot(self.session, self.session.examiner.state, self.session.prompt_tokens)
        )
        await self._send(wire.resumption_update(handle), kind="resumption_update", resumable=True, handle=handle)

    async def _respond(self, reply, *, trigger: str) -> None:
        misbehaviour = self.session.misbehaviour
        reply = misbehaviour.shape(reply, example_arguments=self._example_arguments)
        self.session.journal.write(dir="action", kind="reply", trigger=trigger, reply=_describe(reply))
        if isinstance(reply, Nothing):
            return  # the model waits: not even an empty turn
        if isinstance(reply, Silence):
            if self._generation is not None:
                return  # the examiner's turn in progress goes on; there is no turn to end
            await self._send(self._turn_complete(0), kind="turn_complete", empty=True)
            self._examiner_turn_ended()
            return
        await self._interrupt()
        if self._resumption:
            await self._send(wire.resumption_update(None), kind="resumption_update", resumable=False)
        self._generation = asyncio.create_task(self._perform(reply, delay_s=misbehaviour.delay_for(reply)))

    async def _perform(self, reply, *, delay_s: float) -> None:
        """One model turn: a pause first if the model is slow, then speech and/or calls."""
        if delay_s:
            await asyncio.sleep(delay_s)
        if isinstance(reply, (CallTools, CallWithBadArguments)):
            await self._turn_start()
            await self._call_tools(reply.names, valid=isinstance(reply, CallTools))
            return
        if isinstance(reply, SpeakThenCall):
            await self._speak(Speak(reply.text), end_turn=False)
            await self._call_tools(reply.names, valid=True)
            return
        await self._speak(reply)

    def _example_arguments(self, name: str) -> dict:
        return example_arguments(self._tool_schemas[name], self.session.rng,
                                 text=self.session.examiner.own_words.observation)

    def _fault(self, fault: str, **fields: Any) -> None:
        self.session.journal.write(kind="fault", fault=fault, **fields)

    async def _disconnect(self, fault) -> None:
        """A disconnect fault: the socket closes (and, unresumable, its handles die with it)."""
        self._fault("disconnect", code=fault.code, resumable=fault.resumable, turn=self.session.misbehaviour.turn,
                    during=fault.during)
        if not fault.resumable:
            self.session.resumable = False
        await self._close(fault.code, fault.reason)

    def _disconnect_during(self, moment: str) -> None:
        """A disconnect timed during this examiner turn's audio: after_s into it."""
        fault = self.session.misbehaviour.plan.fires_during(moment, turn=self.session.misbehaviour.turn)
        if fault:
            async def later():
                await asyncio.sleep(fault.after_s)
                await self._disconnect(fault)
            self._timers.append(asyncio.create_task(later()))

    async def _timed_fault(self, fault) -> None:
        delay = fault.at_s - self.session.journal.elapsed()
        if delay < 0 or not self.session.misbehaviour.plan.fire(fault):
            return
        await asyncio.sleep(delay)
        if fault.kind == "disconnect":
            await self._disconnect(fault)
        elif fault.kind == "go_away":
            self._fault("go_away", time_left_s=fault.time_left_s)
            await self._go_away(fault.time_left_s)

    def _prompt_tokens(self) -> int:
        return self.session.prompt_tokens + 200

    def _turn_complete(self, response_tokens: int) -> dict:
        """turnComplete as this model generation sends it."""
        message = wire.turn_complete(self._prompt_tokens(), response_tokens)
        if self._model.empty_server_content:
            message["usageMetadata"] = {}  # 3.1 sends the counts early, on an empty serverContent
        if self._model.interaction_status:
            message["serverContent"]["interactionStatus"] = "IDLE"
        return message

    async def _turn_start(self) -> None:
        """3.1 opens a turn with empty serverContent carrying the prompt's usage (protocol reference §5)."""
        if self._model.empty_server_content:
            await self._send({"serverContent": {}})
            await self._send({"serverContent": {}, "usageMetadata": {
                "promptTokenCount": self._prompt_tokens(), "totalTokenCount": self._prompt_tokens()}})

    async def _say_idle_replies(self) -> None:
        """Tool results scheduled WHEN_IDLE, once the examiner's turn is over."""
        while self._idle_replies and self._generation is None and not self._closed:
            await self._respond(self._idle_replies.pop(0), trigger="tool_response_when_idle")

    async def _call_tools(self, names: tuple[str, ...], *, valid: bool) -> None:
        calls = []
        for name in names:
            schema = self._tool_schemas[name]
            arguments = self._example_arguments(name)
            if not valid:
                arguments = broken_arguments(arguments, schema)
            forced = self.session.misbehaviour.forced_arguments(name)
            if forced is not None:
                arguments = merged_arguments(arguments, forced)
            errors = schema_errors(schema, arguments)
            if forced is not None and errors:
                # Sent all the same: a test may want the client to meet them.
                logger.warning(f"emulator: tool_args fault: {name} args break its schema: {errors}")
            call_id = f"fc_{next(_call_ids)}"
            self._pending_calls[call_id] = name
            if self._tool_behavior.get(name) == "NON_BLOCKING":
                self._non_blocking_calls.add(call_id)
            calls.append({"id": call_id, "name": name, "args": arguments})
            self.session.journal.write(dir="out", kind="tool_call", id=call_id, name=name, args=arguments,
                                       schema_errors=errors, **({"forced": forced} if forced is not None else {}))
        await self._send(wire.tool_call(calls))
        fault = self.session.misbehaviour.plan.fires_during("tool_call", turn=self.session.misbehaviour.turn)
        if fault:  # the client answers into a closed link
            self._generation = None
            await self._disconnect(fault)
            return
        if all(call["id"] in self._non_blocking_calls for call in calls):
            # The model does not wait for a NON_BLOCKING result: its turn ends here.
            await self._send(wire.generation_complete(), kind="generation_complete")
            await self._send(self._turn_complete(0), kind="turn_complete")
        self._generation = None
        await self._offer_handle()
        await self._say_idle_replies()

    async def _speak(self, reply: Speak, *, end_turn: bool = True) -> None:
        """One examiner turn, in the session's response modality; then the turn is over."""
        try:
            await self._turn_start()
            write = self._write if self._text_replies else self._stream_audio
            if not await write(reply, end_turn=end_turn):
                return  # a call follows in the same turn, or the link was cut
        except asyncio.CancelledError:
            raise
        except Exception:  # never leave a client waiting on a turn that died
            logger.error(f"emulator: examiner turn failed\n{traceback.format_exc()}")  # as text: see serve()
            await self._send(self._turn_complete(0), kind="turn_complete")
        self._generation = None
        await self._offer_handle()
        await self._say_idle_replies()
        if self._generation is None:
            self._examiner_turn_ended()

    async def _stream_audio(self, reply: Speak, *, end_turn: bool) -> bool:
        """The turn's audio, a little faster than real time, with its transcript beside it.
        Returns whether the turn was ended (False: a call follows, or the link was cut)."""
        pcm = await self._settings.voice.synthesize(reply.text, voice=self.session.espeak_voice)
        duration = len(pcm) / 2 / OUTPUT_RATE
        self.session.journal.write(dir="out", kind="speak", text=reply.text, line=reply.line, cued=reply.cued,
                                   audio_s=round(duration, 2), **_in_role(reply))
        closing = self.session.examiner.closing_phrase
        self._disconnect_during("closing" if closing and closing in reply.text else "examiner_speech")
        chunk_bytes = int(self._settings.chunk_s * OUTPUT_RATE) * 2
        words = reply.text.split()
        pieces = _transcript_pieces(words, duration)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for offset in range(0, len(pcm), chunk_bytes):
            position = offset / 2 / OUTPUT_RATE
            while pieces and pieces[0][0] <= position:
                if self._output_transcription:
                    await self._send(wire.output_transcription(pieces[0][1]))
                pieces.pop(0)
            await self._send(wire.audio_chunk(pcm[offset : offset + chunk_bytes]),
                             kind=None if offset else "audio_start")
            delay = start + (offset + chunk_bytes) / 2 / OUTPUT_RATE / self._settings.pace - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        for _, text in pieces:
            if self._output_transcription:
                await self._send(wire.output_transcription(text))
        if not end_turn:
            return False
        await self._send(wire.generation_complete(), kind="generation_complete")
        fault = self.session.misbehaviour.plan.fires_during("examiner_turn_end", turn=self.session.misbehaviour.turn)
        if fault:  # the client has the whole turn but not its end, nor a handle after it
            await self._disconnect(fault)
            return False
        # The real server holds turnComplete until playback would have ended.
        remaining = start + duration - loop.time()
        if remaining > 0 and self._settings.hold_turn_complete:
            await asyncio.sleep(remaining)
        response_tokens = int(duration * AUDIO_TOKENS_PER_S)
        self.session.prompt_tokens += response_tokens
        await self._send(self._turn_complete(response_tokens), kind="turn_complete")
        return True

    async def _write(self, reply: Speak, *, end_turn: bool) -> bool:
        """One examiner turn in TEXT: text parts of a few words, no audio, no playback to wait for."""
        self.session.journal.write(dir="out", kind="write", text=reply.text, line=reply.line, cued=reply.cued,
                                   **_in_role(reply))
        for _, text in _transcript_pieces(reply.text.split(), 0.0):
            await self._send(wire.text_part(text))
            await asyncio.sleep(0)  # others' sessions get their turn between parts
        if not end_turn:
            return False
        await self._send(wire.generation_complete(), kind="generation_complete")
        response_tokens = max(1, len(reply.text) // 4)
        self.session.prompt_tokens += response_tokens
        await self._send(self._turn_complete(response_tokens), kind="turn_complete")
        return True

    # ---- speaks_during_preparation: the model speaks into the client's silence -----------

    def _examiner_turn_ended(self) -> None:
        self._examiner_has_spoken = True
        self._start_idle_timer()

    def _start_idle_timer(self) -> None:
        """Counts the client's silence, when the model is idle after a turn of its own and a
        speaks_during_preparation fault may fire."""
        self._stop_idle_timer()
        blocking = [call for call in self._pending_calls if call not in self._non_blocking_calls]
        if (self._closed or self.session is None or not self._examiner_has_spoken or self._generation is not None
                or self._window is not None or blocking):
            return
        idle_s = self.session.misbehaviour.preparation_idle_s()
        if idle_s is not None:
            self._idle_timer = asyncio.create_task(self._speak_into_silence(idle_s))

    def _stop_idle_timer(self) -> None:
        timer, self._idle_timer = self._idle_timer, None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    async def _speak_into_silence(self, idle_s: float) -> None:
        await self._settings.idle_sleep(idle_s)
        self._idle_timer = None  # from here the turn is a turn like any other: input interrupts it
        if self._closed or self._generation is not None or self._window is not None:
            return
        reply = self.session.misbehaviour.speaks_unprompted(idle_s)
        if reply is not None:
            await self._respond(reply, trigger="idle")
        else:
            self._start_idle_timer()  # it did not fire this time (probability): another count

    async def _interrupt(self) -> None:
        """Barge-in: a generating turn ends with interrupted, then turnComplete."""
        generation, self._generation = self._generation, None
        if generation is None or generation.done():
            return
        generation.cancel()
        # Waited for, not awaited: awaiting would swallow this task's own cancellation too.
        await asyncio.wait({generation})
        generation.cancelled() or generation.result()  # an error of the turn's own is raised here
        await self._send(wire.interrupted(), kind="interrupted")
        await self._send(self._turn_complete(0), kind="turn_complete")
        ids = [call for call in self._pending_calls if call not in self._non_blocking_calls]
        if ids:  # calls the model runs in the background (NON_BLOCKING) go on
            for call in ids:
                del self._pending_calls[call]
            self.session.examiner.cancel_tools()
            await self._send(wire.tool_call_cancellation(ids), kind="tool_call_cancellation", ids=ids)
        await self._offer_handle()

    async def _lifetime(self, lifetime_s: float) -> None:
        """The connection's end of life: goAway first, then the close the real server sends."""
        time_left = min(self._settings.go_away_time_left_s, lifetime_s)
        await asyncio.sleep(lifetime_s - time_left)
        await self._go_away(time_left)

    async def _go_away(self, time_left_s: float) -> None:
        """goAway, then, when the time is up, the close the real server sends."""
        await self._send(wire.go_away(time_left_s), kind="go_away", time_left_s=time_left_s)
        await asyncio.sleep(time_left_s)
        await self._close(wire.INTERNAL, "Deadline expired before operation could complete.")


def _describe(reply) -> dict:
    if isinstance(reply, Speak):
        return {"speak": reply.text, "line": reply.line, **({"cued": True} if reply.cued else {}), **_in_role(reply)}
    if isinstance(reply, CallTools):
        return {"call_tools": list(reply.names)}
    if isinstance(reply, CallWithBadArguments):
        return {"call_tools": list(reply.names), "bad_arguments": True}
    if isinstance(reply, SpeakThenCall):
        return {"speak": reply.text, "call_tools": list(reply.names)}
    if isinstance(reply, Nothing):
        return {"nothing": True}
    return {"silence": True}


def _in_role(reply: Speak) -> dict:
    """The journal's mark of a reply said in role; nothing for any other, so sessions without
    a role cue journal exactly what they did before."""
    return {"role": True} if reply.role else {}


def broken_arguments(arguments: dict, schema: dict) -> dict:
    """Arguments that break the schema the way models do: a band out of range, a field missing."""
    broken = dict(arguments)
    properties = schema.get("properties", {})
    for name, prop in properties.items():
        if prop.get("type") in ("number", "integer") and "maximum" in prop:
            broken[name] = prop["maximum"] + 1.5
            break
    required = [name for name in schema.get("required", []) if name in broken]
    if len(required) > 1:
        del broken[required[-1]]
    return broken


def _transcript_pieces(words: list[str], duration: float, per_piece: int = 4) -> list[tuple[float, str]]:
    """(start time, text) of transcript pieces of a few words, spread evenly over the audio."""
    pieces = []
    for i in range(0, len(words), per_piece):
        text = " ".join(words[i : i + per_piece])
        pieces.append((duration * i / max(1, len(words)), text if i == 0 else " " + text))
    return pieces


class _Window:
    """One activity window's audio, scored by Silero on the event loop as it arrives.

    Scored on the loop, not in a thread: ONNX releases the GIL for every 32 ms chunk, and
    a thread taking it back waits out the interpreter's switch interval (5 ms) whenever
    the loop is busy. A replayed answer (7.7 s, 240 chunks, sent at once after a
    reconnect) took 1.2 s to score that way beside ten sessions, against 0.03 s here, and
    the candidate heard that as silence. Half-second slices keep the loop answering.
    """

    _BATCH_BYTES = 16000  # half a second at 16 kHz: about 2 ms of scoring per slice

    def __init__(self):
        self.detector = SpeechDetector()
        self.audio_bytes = 0
        self._pending = bytearray()
        self._rate = 16000
        self._tail: asyncio.Future | None = None

    def add(self, pcm: bytes, rate: int) -> None:
        self.audio_bytes += len(pcm)
        if rate != self._rate and self._pending:
            self._flush()
        self._rate = rate
        self._pending += pcm
        if len(self._pending) >= self._BATCH_BYTES:
            self._flush()

    def _flush(self) -> None:
        data, rate, previous = bytes(self._pending), self._rate, self._tail
        self._pending.clear()

        async def score():
            if previous is not None:
                await previous
            await asyncio.sleep(0)  # one slice at a time: messages between slices are served
            self.detector.feed(data, rate)

        self._tail = asyncio.ensure_future(score())

    async def finish(self) -> SpeechDetector:
        if self._pending:
            self._flush()
        if self._tail is not None:
            await self._tail
        return self.detector


class _AutoTurn:
    """The server's own activity detection, for clients that leave it on."""

    def __init__(self, *, silence_s: float):
        self._silence_s = silence_s
        self.detector: SpeechDetector | None = None
        self._speaking = False
        self._quiet_s = 0.0
        self.started_now = False

    def feed(self, pcm: bytes, rate: int) -> bool:
        """Scores audio; True when a turn with speech has just ended."""
        self.started_now = False
        for voiced in self.detector.feed(pcm, rate):
            if voiced:
                self.started_now = self.started_now or not self._speaking
                self._speaking, self._quiet_s = True, 0.0
            elif self._speaking:
                self._quiet_s += 0.032
                if self._quiet_s >= self._silence_s and self.detector.has_speech:
                    return True
        return False

    def take(self) -> SpeechDetector | None:
        detector, self.detector = self.detector, None
        self._speaking, self._quiet_s = False, 0.0
        return detector


def new_handle(session_id: str) -> str:
    return f"{session_id}-{secrets.token_hex(6)}"
