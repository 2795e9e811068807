"""ExamGeminiLiveService's connection handling, driven by synthetic server messages.

A fake google-genai client hands the service scripted sessions; a manual clock and sleep
stand in for time. No network, no emulator, no waiting on the wall clock.
"""

import asyncio
from contextlib import asynccontextmanager
from types import SimpleNamespace

import pytest
from google.genai import types
from pipecat.clocks.system_clock import SystemClock
from pipecat.frames.frames import (
    CancelWorkerFrame,
    ErrorFrame,
    InputAudioRawFrame,
    LLMFullResponseEndFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessorSetup
from pipecat.services.google.gemini_live.llm import GeminiLiveLLMService, GeminiVADParams
from pipecat.utils.asyncio.task_manager import TaskManager
from websockets.exceptions import ConnectionClosedError
from websockets.frames import Close

from tests.helpers import FakeClock
from viva.pipelines.gemini import ExamGeminiLiveService, reconnect_policy
from viva.pipelines.reconnect_policy import REFUSED, ReconnectPolicy
from viva.pipelines.registry import GeminiLiveParams
from viva.processors.live_link import LiveLinkFrame

MODEL = "gemini-3.1-flash-live-preview"
BOUND_S = 5.0  # a broken code path fails the test instead of hanging it; nothing waits this long


def within(awaitable):
    return asyncio.wait_for(awaitable, BOUND_S)


# -- server messages


def content(**fields) -> types.LiveServerMessage:
    return types.LiveServerMessage(server_content=types.LiveServerContent(**fields))


def audio(mark: int) -> types.LiveServerMessage:
    """A chunk of the examiner's audio whose bytes are all `mark`, to tell chunks apart."""
    blob = types.Blob(data=bytes([mark]) * 960, mime_type="audio/pcm;rate=24000")
    return content(model_turn=types.Content(role="model", parts=[types.Part(inline_data=blob)]))


def said(text: str) -> types.LiveServerMessage:
    return content(output_transcription=types.Transcription(text=text))


def heard(text: str) -> types.LiveServerMessage:
    return content(input_transcription=types.Transcription(text=text))


def handle(new_handle: str, resumable: bool = True) -> types.LiveServerMessage:
    return types.LiveServerMessage(session_resumption_update=types.LiveServerSessionResumptionUpdate(
        new_handle=new_handle, resumable=resumable))


def go_away(seconds: float) -> types.LiveServerMessage:
    return types.LiveServerMessage(go_away=types.LiveServerGoAway(time_left=f"{seconds}s"))


def tool_call() -> types.LiveServerMessage:
    return types.LiveServerMessage(tool_call=types.LiveServerToolCall(
        function_calls=[types.FunctionCall(id="call-1", name="record_result", args={"band": 6})]))


GENERATION_COMPLETE = content(generation_complete=True)
TURN_COMPLETE = content(turn_complete=True)
INTERRUPTED = content(interrupted=True)


def dropped(code: int = 1011) -> ConnectionClosedError:
    return ConnectionClosedError(Close(code, "test drop"), None)


# -- fakes


class ManualTime(FakeClock):
    """The service's and the policy's clock, and the service's sleep: time moves only by `advance`."""

    def __init__(self, t: float = 100.0):
        super().__init__(t)
        self.slept: list[float] = []  # every sleep asked for, in order
        self._sleepers: list[tuple[float, asyncio.Future]] = []
        self._asleep = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)  # as asyncio.sleep(0): a yield, no wait
            return
        wake = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.t + seconds, wake))
        self._asleep.set()
        await wake

    async def asleep(self) -> None:
        """Until something is sleeping."""
        await within(self._asleep.wait())

    def advance(self, seconds: float) -> None:
        self.t += seconds
        for entry in [e for e in self._sleepers if e[0] <= self.t]:
            self._sleepers.remove(entry)
            if not entry[1].done():
                entry[1].set_result(None)
        if not self._sleepers:
            self._asleep.clear()


class FakeLiveSession:
    """google-genai's AsyncSession: receive() hands out the script, then what `deliver` adds.
    An exception in the script is raised from receive(): the link dropped."""

    def __init__(self, *script):
        self._inbox: asyncio.Queue = asyncio.Queue()
        for item in script:
            self._inbox.put_nowait(item)
        self._idle = asyncio.Event()
        self.sent: list[tuple[str, dict]] = []
        self.closed = False

    async def receive(self):
        while True:
            if self._inbox.empty():
                self._idle.set()  # everything given so far has been handled
            item = await self._inbox.get()
            self._idle.clear()
            if isinstance(item, BaseException):
                raise item
            yield item

    async def idle(self) -> None:
        """Until the service is connected on this session and has handled all it was given."""
        await within(self._idle.wait())

    async def deliver(self, *messages) -> None:
        self._idle.clear()
        for message in messages:
            self._inbox.put_nowait(message)
        await self.idle()

    def drop(self, code: int = 1011) -> None:
        self._inbox.put_nowait(dropped(code))

    async def send_realtime_input(self, **kwargs):
        self.sent.append(("realtime", kwargs))

    async def send_client_content(self, **kwargs):
        self.sent.append(("content", kwargs))

    async def send_tool_response(self, **kwargs):
        self.sent.append(("tool", kwargs))

    async def close(self):
        self.closed = True

    def sent_kinds(self) -> list[str]:
        kinds = []
        for method, kwargs in self.sent:
            if method != "realtime":
                kinds.append(method)
            elif kwargs.get("activity_start"):
                kinds.append("start")
            elif kwargs.get("activity_end"):
                kinds.append("end")
            else:
                kinds.append("audio" if kwargs.get("audio") else "text")
        return kinds


class FakeClient:
    """google-genai's Client as the service uses it: each connect takes the next outcome, a
    session or an exception (the connect itself failed)."""

    def __init__(self, *outcomes):
        self.aio = SimpleNamespace(live=self)
        self._outcomes = list(outcomes)
        self.handles: list[str | None] = []  # the resumption handle of each connect

    @asynccontextmanager
    async def connect(self, *, model, config):
        self.handles.append(config.session_resumption.handle)
        outcome = self._outcomes.pop(0) if self._outcomes else FakeLiveSession()
        if isinstance(outcome, BaseException):
            raise outcome
        yield outcome


class Harness:
    """The service, set up on a fake client, with what it reports and pushes recorded."""

    def __init__(self, client: FakeClient, time: ManualTime, policy: ReconnectPolicy, history):
        self.client, self.time, self.policy = client, time, policy
        self.events: list[tuple[str, dict]] = []
        self.frames: list[tuple[object, FrameDirection]] = []
        self.calls: list[str] = []  # tool calls that reached Pipecat
        self.tasks: list[str] = []  # the names of the tasks the service created
        self._pushed = asyncio.Event()
        self.service = ExamGeminiLiveService(
            api_key="x", policy=policy, on_event=lambda kind, **fields: self.events.append((kind, fields)),
            history=lambda: list(history), clock=time, sleep=time.sleep,
            settings=GeminiLiveLLMService.Settings(model=MODEL, vad=GeminiVADParams(disabled=True)),
        )
        self.service._client = client
        self.service.push_frame = self._push
        self.service.run_function_calls = self._run_function_calls
        create_task = self.service.create_task

        def create_named_task(coroutine, name=None, context=None):
            self.tasks.append(name)
            return create_task(coroutine, name, context)

        self.service.create_task = create_named_task

    async def _push(self, frame, direction=FrameDirection.DOWNSTREAM):
        self.frames.append((frame, direction))
        self._pushed.set()

    async def _run_function_calls(self, calls):
        self.calls.extend(call.function_name for call in calls)

    async def pushed(self, predicate) -> None:
        async def seen():
            while not any(predicate(frame) for frame, _ in self.frames):
                self._pushed.clear()
                await self._pushed.wait()

        await within(seen())

    async def send(self, *frames) -> None:
        for frame in frames:
            await self.service.process_frame(frame, FrameDirection.DOWNSTREAM)

    def of(self, kind) -> list:
        return [frame for frame, _ in self.frames if isinstance(frame, kind)]

    def audio(self) -> list[int]:
        """The marks of the examiner's audio chunks played, in order."""
        return [frame.audio[0] for frame in self.of(TTSAudioRawFrame)]

    def said(self) -> list[str]:
        return [frame.text for frame in self.of(TTSTextFrame)]

    def heard(self) -> list[str]:
        return [frame.text for frame in self.of(TranscriptionFrame)]

    def event(self, kind) -> list[dict]:
        return [fields for k, fields in self.events if k == kind]

    def links(self) -> list[bool]:
        return [frame.up for frame in self.of(LiveLinkFrame)]

    async def after_the_first_wait(self, session: "FakeLiveSession") -> None:
        """The drop's first backoff (1 s) passes; the reconnected session has handled its script."""
        await self.time.asleep()
        self.time.advance(1.0)
        await session.idle()


@asynccontextmanager
async def live_service(*outcomes, schedule_s=(1.0, 2.0, 4.0), budget_s=30.0, go_away_margin_s=5.0, history=()):
    """The service, connected through a fake client that takes `outcomes` in order."""
    time = ManualTime()
    policy = ReconnectPolicy(schedule_s=schedule_s, jitter=0.0, budget_s=budget_s,
                             go_away_margin_s=go_away_margin_s, clock=time)
    harness = Harness(FakeClient(*outcomes), time, policy, history)
    task_manager = TaskManager()
    await harness.service.setup(FrameProcessorSetup(clock=SystemClock(), task_manager=task_manager,
                                                    pipeline_worker=None))
    try:
        yield harness
    finally:
        await harness.service.cleanup()
        for task in task_manager.current_tasks():  # the planned reconnect and the link-up push
            await task_manager.cancel_task(task)


def mic(mark: int = 7) -> InputAudioRawFrame:
    return InputAudioRawFrame(audio=bytes([mark]) * 640, sample_rate=16000, num_channels=1)


# -- 1. a turn that had arrived whole is not played twice


@pytest.mark.parametrize("end", [TURN_COMPLETE, INTERRUPTED], ids=["turn_complete", "interrupted"])
async def test_a_turn_that_arrived_whole_before_the_drop_is_skipped_when_the_resumed_session_repeats_it(end):
    first = FakeLiveSession(handle("h1"), audio(1), said("Where do you live?"), GENERATION_COMPLETE, dropped())
    resumed = FakeLiveSession(audio(2), said("Where do you live?"), GENERATION_COMPLETE, end)
    async with live_service(first, resumed) as h:
        await h.after_the_first_wait(resumed)
        assert h.event("disconnect")[0]["examiner_turn"] == "whole"
        assert h.audio() == [1] and h.said() == ["Where do you live?"]
        assert len(h.of(TTSStartedFrame)) == 1
        assert len(h.of(LLMFullResponseEndFrame)) == 1  # the cut turn's end; the repeat's end is skipped too
        assert h.event("repeated_turn_skipped") == [{}]

        await resumed.deliver(audio(3), said("What do you do?"), TURN_COMPLETE)  # the next turn plays
        assert h.audio() == [1, 3] and h.said() == ["Where do you live?", "What do you do?"]


async def test_a_tool_call_in_the_repeated_turn_is_not_skipped_and_what_follows_it_plays():
    first = FakeLiveSession(handle("h1"), audio(1), said("Thank you."), GENERATION_COMPLETE, dropped())
    resumed = FakeLiveSession(audio(2), tool_call(), audio(3), TURN_COMPLETE)
    async with live_service(first, resumed) as h:
        await h.after_the_first_wait(resumed)
        assert h.calls == ["record_result"]
        assert h.audio() == [1, 3]
        assert h.event("repeated_turn_skipped") == []


async def test_after_a_partial_cut_the_resumed_session_s_turn_is_played_whole():
    first = FakeLiveSession(handle("h1"), audio(1), said("Where do"), dropped())
    resumed = FakeLiveSession(audio(2), said("Where do you live?"), GENERATION_COMPLETE, TURN_COMPLETE)
    async with live_service(first, resumed) as h:
        await h.after_the_first_wait(resumed)
        assert h.event("disconnect")[0]["examiner_turn"] == "partial"
        assert h.audio() == [1, 2] and h.said() == ["Where do", "Where do you live?"]
        assert h.event("repeated_turn_skipped") == []


# -- 2. a window sent again is not transcribed twice


async def test_a_window_transcribed_before_the_drop_is_not_transcribed_again_after_the_resume():
    first = FakeLiveSession(handle("h1"))
    resumed = FakeLiveSession(heard("I live in Leeds."), audio(2), said("Why Leeds?"), TURN_COMPLETE)
    async with live_service(first, resumed) as h:
        await first.idle()
        await h.send(UserStartedSpeakingFrame(), mic(), UserStoppedSpeakingFrame())
        await first.deliver(heard("I live in Leeds."))
        first.drop()
        await h.after_the_first_wait(resumed)
        assert resumed.sent_kinds() == ["start", "audio", "end"]  # the window went again
        assert h.heard() == ["I live in Leeds."]
        assert h.audio() == [2]

        # The model's reply ended the skipping: the next window is transcribed.
        await h.send(UserStartedSpeakingFrame(), mic(), UserStoppedSpeakingFrame())
        await resumed.deliver(heard("Because of work."))
        assert h.heard() == ["I live in Leeds.", "Because of work."]


async def test_a_window_not_transcribed_before_the_drop_is_transcribed_after_the_resume():
    first = FakeLiveSession(handle("h1"))
    resumed = FakeLiveSession(heard("I live in Leeds."), audio(2), TURN_COMPLETE)
    async with live_service(first, resumed) as h:
        await first.idle()
        await h.send(UserStartedSpeakingFrame(), mic(), UserStoppedSpeakingFrame())
        first.drop()
        await h.after_the_first_wait(resumed)
        assert h.heard() == ["I live in Leeds."]


# -- 3. a fresh session starts from the exam so far


def test_a_fresh_session_is_seeded_with_the_exam_so_far_and_a_note_to_continue():
    history = [("examiner", "Where do you live?"), ("candidate", "In Leeds."), ("candidate", ""),
               ("examiner", "Why Leeds?")]
    service = ExamGeminiLiveService(
        api_key="x", policy=reconnect_policy(GeminiLiveParams(), clock=FakeClock()), history=lambda: history,
        settings=GeminiLiveLLMService.Settings(model=MODEL, vad=GeminiVADParams(disabled=True)))
    service._run_llm_when_session_ready = True  # as if the first context had come before any session
    service._seed_fresh_session()
    messages = service._context.get_messages()
    assert messages[:-1] == [
        {"role": "assistant", "content": "Where do you live?"},
        {"role": "user", "content": "In Leeds."},
        {"role": "assistant", "content": "Why Leeds?"},
    ]
    assert messages[-1]["role"] == "user" and "Continue the exam" in messages[-1]["content"]
    assert service._run_llm_when_session_ready is False


async def test_a_refused_handle_reconnects_at_once_as_a_fresh_session_seeded_and_not_prompted():
    history = [("examiner", "Where do you live?"), ("candidate", "In Leeds.")]
    first = FakeLiveSession(handle("h1"), audio(1), said("Why Leeds?"), GENERATION_COMPLETE, dropped())
    fresh = FakeLiveSession(audio(2), said("Why Leeds?"), TURN_COMPLETE)
    async with live_service(first, dropped(REFUSED), fresh, history=history) as h:
        await h.after_the_first_wait(fresh)
        assert h.client.handles == [None, "h1", None]
        attempts = h.event("reconnect_attempt")
        assert [(a["resume"], a["after_refusal"], a["delay_s"]) for a in attempts] == [
            (True, False, 1.0), (False, True, 0.0)]
        method, seed = fresh.sent[0]
        assert method == "content" and seed["turn_complete"] is False  # no reply is asked for
        texts = [(turn.role, turn.parts[0].text) for turn in seed["turns"]]
        assert texts[:2] == [("model", "Where do you live?"), ("user", "In Leeds.")]
        assert "Continue the exam" in texts[2][1]
        assert fresh.sent_kinds() == ["content"]
        assert h.audio() == [1, 2]  # a fresh session goes on from its history: nothing is skipped


# -- 4. a lost link


async def test_a_drop_ends_the_cut_turn_reports_once_and_reconnects_on_the_policy_s_schedule():
    first = FakeLiveSession(handle("h1"), audio(1), said("Where do"), dropped(1011))
    resumed = FakeLiveSession()
    async with live_service(first, dropped(1011), resumed, schedule_s=(1.0, 2.0)) as h:
        await h.time.asleep()
        assert h.event("disconnect") == [{"code": 1011, "reason": str(dropped(1011)), "examiner_turn": "partial"}]
        kinds = [type(frame) for frame, _ in h.frames]
        after_the_words = kinds[kinds.index(TTSTextFrame) + 1:]
        assert after_the_words == [TTSStoppedFrame, LLMFullResponseEndFrame, LiveLinkFrame]
        assert h.links() == [False]
        assert h.time.slept == [1.0]
        assert h.client.handles == [None]  # nothing before the wait is over

        h.time.advance(1.0)  # attempt 1 fails at the connect
        await h.time.asleep()
        assert h.time.slept == [1.0, 2.0]
        assert len(h.event("disconnect")) == 1 and h.links() == [False]

        h.time.advance(2.0)
        await resumed.idle()
        assert h.client.handles == [None, "h1", "h1"]
        assert h.event("reconnect") == [{"after_s": 3.0, "resumed": True, "attempt": 2, "replayed": 0}]
        await h.pushed(lambda frame: isinstance(frame, LiveLinkFrame) and frame.up)


async def test_a_drop_between_turns_pushes_no_turn_end():
    first = FakeLiveSession(handle("h1"), dropped(1011))
    async with live_service(first) as h:
        await h.time.asleep()
        assert h.event("disconnect")[0]["examiner_turn"] is None
        assert h.of(TTSStoppedFrame) == [] and h.of(LLMFullResponseEndFrame) == []
        assert h.links() == [False]


async def test_when_the_budget_is_spent_the_service_pushes_an_error_and_schedules_nothing():
    first = FakeLiveSession(handle("h1"), dropped(1011))
    async with live_service(first, schedule_s=(1.0,), budget_s=0.5) as h:
        await within(h.service._connection_task)
        errors = [(frame, direction) for frame, direction in h.frames if isinstance(frame, ErrorFrame)]
        assert len(errors) == 1 and errors[0][1] is FrameDirection.UPSTREAM
        assert "not regained" in errors[0][0].error
        assert len(h.event("disconnect")) == 1 and h.links() == [False]
        assert "live-reconnect" not in h.tasks and h.time.slept == []
        assert h.client.handles == [None]
        assert [frame.reason for frame in h.of(CancelWorkerFrame)] == [errors[0][0].error]  # the session ends now


async def test_a_refused_fresh_session_ends_the_session_at_once_with_one_line():
    first = FakeLiveSession(dropped(REFUSED))
    async with live_service(first) as h:
        await within(h.service._connection_task)
        (error,) = [frame for frame in h.frames if isinstance(frame[0], ErrorFrame)]
        assert error[0].error.startswith("live_refused: the Live service refused the session (1008")
        assert "\n" not in error[0].error
        assert [frame.reason for frame in h.of(CancelWorkerFrame)] == [error[0].error]
        assert h.client.handles == [None] and h.time.slept == []


# -- 5. goAway


async def test_a_go_away_in_the_examiner_s_turn_waits_for_the_turn_to_end_even_past_its_deadline():
    first, second = FakeLiveSession(handle("h1")), FakeLiveSession()
    async with live_service(first, second, go_away_margin_s=5.0) as h:
        await first.deliver(audio(1), go_away(10))
        assert h.event("go_away") == [{"time_left_s": 10.0}]
        assert h.policy.go_away_deadline == h.time.t + 5.0
        assert h.time.slept == [5.0]  # the deadline timer
        assert "live-go-away" not in h.tasks

        h.time.advance(6.0)  # past the deadline, still in the examiner's turn
        await within(h.service._go_away_timer)
        await first.deliver(said("Where do you live?"), TURN_COMPLETE)
        assert "live-go-away" not in h.tasks and h.client.handles == [None]

        await first.deliver(handle("h2"))  # between turns
        await second.idle()
        assert h.event("disconnect") == [{"code": None, "reason": "go_away", "moment": "between_turns"}]
        assert first.closed
        assert h.client.handles == [None, "h2"]
        assert h.event("reconnect")[0]["resumed"] is True


async def test_a_go_away_between_turns_reconnects_at_once_by_the_last_handle():
    first, second = FakeLiveSession(handle("h1")), FakeLiveSession()
    async with live_service(first, second) as h:
        await first.deliver(go_away(30))
        await second.idle()
        assert h.event("disconnect")[0]["moment"] == "between_turns"
        assert h.client.handles == [None, "h1"]
        assert len(h.event("reconnect")) == 1
        await h.pushed(lambda frame: isinstance(frame, LiveLinkFrame) and frame.up)
        assert h.links() == [False, True]


async def test_while_the_candidate_speaks_a_go_away_reconnects_at_its_deadline_with_the_answer_sent_again():
    first, second = FakeLiveSession(handle("h1")), FakeLiveSession()
    async with live_service(first, second, go_away_margin_s=5.0) as h:
        await first.idle()
        await h.send(UserStartedSpeakingFrame(), mic(1))
        await first.deliver(go_away(10))
        h.time.advance(4.0)  # before the deadline
        await h.send(mic(2))
        assert "live-go-away" not in h.tasks and h.client.handles == [None]

        h.time.advance(1.0)  # the deadline: no message comes, the timer acts
        await second.idle()
        assert h.event("disconnect")[0]["moment"] == "candidate_speaking"
        assert h.client.handles == [None, "h1"]
        assert second.sent_kinds() == ["start", "audio", "audio"]  # the answer so far, whole


async def test_past_the_deadline_the_candidate_starting_to_speak_brings_the_planned_reconnect():
    first, second = FakeLiveSession(handle("h1")), FakeLiveSession()
    async with live_service(first, second, go_away_margin_s=5.0) as h:
        await first.deliver(audio(1), go_away(10), TURN_COMPLETE)  # the examiner's turn, no handle after it
        h.time.advance(5.0)
        await within(h.service._go_away_timer)
        assert "live-go-away" not in h.tasks
        await h.send(UserStartedSpeakingFrame())
        await second.idle()
        assert h.event("disconnect")[0]["moment"] == "candidate_speaking"
        assert second.sent_kinds() == ["start"]


# -- 6. sessionResumptionUpdate


async def test_only_a_resumable_handle_reaches_the_policy():
    first = FakeLiveSession(handle("h1"), handle("h2", resumable=False))
    async with live_service(first) as h:
        await first.idle()
        assert h.policy.handle == "h1"
        await first.deliver(handle("h3"))
        assert h.policy.handle == "h3"


async def test_a_resumable_point_keeps_the_window_while_the_candidate_speaks_or_an_answer_is_owed():
    first = FakeLiveSession()
    async with live_service(first) as h:
        kept = []
        resumable_point = h.service._link.on_resumable_point

        def record(*, keep_window=False):
            kept.append(keep_window)
            resumable_point(keep_window=keep_window)

        h.service._link.on_resumable_point = record
        await first.deliver(handle("h1"))  # between turns
        await h.send(UserStartedSpeakingFrame(), mic())
        await first.deliver(handle("h2"))  # the candidate speaks
        await h.send(UserStoppedSpeakingFrame())
        await first.deliver(handle("h3"))  # the answer is owed
        await first.deliver(audio(1), handle("h4"))  # answered
        await first.deliver(handle("h5", resumable=False))  # not a point to resume from
        assert kept == [False, True, True, False]


async def test_a_window_open_at_a_resumable_point_is_sent_again_whole_after_a_resume():
    first = FakeLiveSession(handle("h1"))
    resumed = FakeLiveSession()
    async with live_service(first, resumed) as h:
        await first.idle()
        await h.send(UserStartedSpeakingFrame(), mic(1))
        await first.deliver(handle("h2"))
        await h.send(mic(2), UserStoppedSpeakingFrame())
        first.drop()
        await h.after_the_first_wait(resumed)
        assert h.client.handles == [None, "h2"]
        assert resumed.sent_kinds() == ["start", "audio", "audio", "end"]


# -- 6. the exam director's cues


async def test_a_cue_goes_as_client_content_waiting_or_at_once_and_a_fresh_session_gets_the_waiting_one():
    from viva.processors.exam_frames import ExamCueFrame

    first = FakeLiveSession(handle("h1"))
    fresh = FakeLiveSession(audio(2), said("Why Leeds?"), TURN_COMPLETE)
    async with live_service(first, dropped(REFUSED), fresh, history=[("examiner", "Where do you live?")]) as h:
        await first.idle()
        await h.send(ExamCueFrame(text='[Exam system] say exactly "Why Leeds?"', respond_now=False))
        method, cue = first.sent[-1]
        assert method == "content" and cue["turn_complete"] is False
        assert cue["turns"][0].parts[0].text.endswith('"Why Leeds?"')
        first.drop()
        await h.after_the_first_wait(fresh)
        seed, again = fresh.sent[0], fresh.sent[1]
        assert seed[1]["turn_complete"] is False and "Where do you live?" in seed[1]["turns"][0].parts[0].text
        assert again[0] == "content" and again[1]["turns"][0].parts[0].text.endswith('"Why Leeds?"')
