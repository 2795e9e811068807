"""The stall watchdog with a fake clock, then its processor with Pipecat's test helper."""


import pytest
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    InputTextRawFrame,
    TTSAudioRawFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection
from pipecat.tests.utils import run_test

from tests.frame_helpers import Clockwork, TimePasses
from tests.helpers import FakeClock, VirtualTime
from viva.pipelines.registry import StallWatchdogParams
from viva.processors.exam_frames import CandidateHoldFrame
from viva.processors.live_link import ReconnectRequestFrame
from viva.processors.stall_watchdog import (
    GiveUp,
    Nudge,
    StallWatchdog,
    StallWatchdogProcessor,
)


@pytest.fixture
def clock():
    return FakeClock()


def run_until(dog: StallWatchdog, clock: FakeClock, seconds: float, step: float = 0.05) -> list[tuple[float, object]]:
    """Checks every step for seconds; returns (time since start, action)."""
    start, actions = clock.t, []
    while clock.t - start < seconds - 1e-9:
        clock.t = round(clock.t + step, 6)
        actions += [(round(clock.t - start, 3), a) for a in dog.check()]
    return actions


def test_nothing_before_an_answer_has_ended(clock):
    dog = StallWatchdog(StallWatchdogParams(), clock=clock)
    assert run_until(dog, clock, 30) == []


def test_a_model_that_answers_in_time_is_never_nudged(clock):
    dog = StallWatchdog(StallWatchdogParams(deadline_s=3), clock=clock)
    dog.on_answer_end()
    assert run_until(dog, clock, 2.9) == []
    dog.on_examiner_output()
    assert run_until(dog, clock, 30) == []


def test_nudges_at_the_deadline_then_with_doubling_waits_then_reconnects_then_gives_up(clock):
    dog = StallWatchdog(StallWatchdogParams(deadline_s=3, retry_s=0.5, max_nudges=3, reconnect=True), clock=clock)
    dog.on_answer_end()
    actions = run_until(dog, clock, 20)
    assert [(t, type(a).__name__) for t, a in actions] == [
        (3.0, "Nudge"), (3.5, "Nudge"), (4.5, "Nudge"),  # 0.5 s, then 1 s
        (6.5, "Reconnect"),  # 2 s after the last nudge
        (9.5, "Nudge"),  # one more nudge on the new connection, a deadline later
        (11.5, "GiveUp"),  # the last nudge's own wait (2 s) after it
    ]
    assert [a.attempt for _, a in actions if isinstance(a, Nudge)] == [1, 2, 3, 3]
    assert [a.first for _, a in actions if isinstance(a, Nudge)] == [True, False, False, False]
    assert actions[0][1].waited_s == pytest.approx(3.0)


def test_without_reconnect_it_gives_up_after_the_nudges(clock):
    dog = StallWatchdog(StallWatchdogParams(deadline_s=1, retry_s=1, max_nudges=1, reconnect=False), clock=clock)
    dog.on_answer_end()
    actions = [type(a) for _, a in run_until(dog, clock, 10)]
    assert actions == [Nudge, GiveUp]


def test_each_stall_is_detected_once_and_a_new_answer_starts_a_new_one(clock):
    dog = StallWatchdog(StallWatchdogParams(deadline_s=1, retry_s=0.5, max_nudges=2), clock=clock)
    dog.on_answer_end()
    first = [a.first for _, a in run_until(dog, clock, 2) if isinstance(a, Nudge)]
    dog.on_examiner_output()
    dog.on_answer_end()
    second = [a.first for _, a in run_until(dog, clock, 2) if isinstance(a, Nudge)]
    assert first == second == [True, False]


def test_the_model_answering_stops_the_nudges(clock):
    dog = StallWatchdog(StallWatchdogParams(deadline_s=3, retry_s=0.5), clock=clock)
    dog.on_answer_end()
    assert len(run_until(dog, clock, 3.2)) == 1
    dog.on_examiner_output()
    assert run_until(dog, clock, 30) == []


@pytest.mark.parametrize("block, unblock", [
    (lambda d: d.on_candidate_speaking(True), None),  # a new answer: disarmed until it ends
    (lambda d: d.on_examiner_speaking(True), lambda d: d.on_examiner_speaking(False)),
    (lambda d: d.on_tool_call("c1", True), lambda d: d.on_tool_call("c1", False)),
])
def test_never_while_someone_speaks_or_a_call_is_pending(clock, block, unblock):
    dog = StallWatchdog(StallWatchdogParams(deadline_s=3), clock=clock)
    dog.on_answer_end()
    run_until(dog, clock, 1)
    block(dog)
    assert run_until(dog, clock, 20) == []
    if unblock is not None:
        unblock(dog)
        actions = run_until(dog, clock, 5)
        assert actions[0][0] == pytest.approx(3.05, abs=0.06)  # a full deadline after it cleared


def test_after_a_reconnect_the_model_gets_twice_the_deadline_to_take_in_the_replay(clock):
    dog = StallWatchdog(StallWatchdogParams(deadline_s=3), clock=clock)
    dog.on_answer_end()
    run_until(dog, clock, 1)
    dog.on_link(False)
    assert run_until(dog, clock, 20) == []
    dog.on_link(True)
    actions = run_until(dog, clock, 8)
    assert actions[0][0] == pytest.approx(6.05, abs=0.06)


def test_the_candidate_finishing_again_arms_a_fresh_deadline(clock):
    dog = StallWatchdog(StallWatchdogParams(deadline_s=3), clock=clock)
    dog.on_answer_end()
    run_until(dog, clock, 2)
    dog.on_candidate_speaking(True)
    run_until(dog, clock, 2)
    dog.on_candidate_speaking(False)
    dog.on_answer_end()
    assert run_until(dog, clock, 2.9) == []
    assert len(run_until(dog, clock, 0.2)) == 1


def test_a_preparation_the_director_holds_is_never_a_stall(clock):
    dog = StallWatchdog(StallWatchdogParams(deadline_s=3), clock=clock)
    dog.on_preparation(True)  # the cue card was asked: the minute starts
    dog.on_answer_end()  # "OK" from the candidate during it
    assert run_until(dog, clock, 59) == []
    dog.on_preparation(False)  # the start line is cued
    dog.on_answer_end()
    actions = run_until(dog, clock, 5)
    assert actions and actions[0][0] == pytest.approx(3.0, abs=0.06)


def test_once_the_closing_is_being_had_the_silence_is_the_exam_ends_not_a_stall(clock):
    dog = StallWatchdog(StallWatchdogParams(deadline_s=3), clock=clock)
    dog.on_answer_end()  # the result is in: the model owes its closing
    assert [type(a).__name__ for _, a in run_until(dog, clock, 3.1)] == ["Nudge"]
    dog.on_closing()  # the exam end cues the closing, then says it itself
    dog.on_answer_end()
    assert run_until(dog, clock, 60) == []


async def test_the_processor_stands_down_when_the_exam_end_holds_the_candidate_for_the_closing():
    time = VirtualTime()
    processor, pipeline = watched(time, deadline_s=0.25)
    frames = [CandidateHoldFrame(hold=True, reason="closing"), UserStoppedSpeakingFrame(), TimePasses(2.0)]
    await run_test(pipeline, frames_to_send=frames, expected_down_frames=None, expected_up_frames=[])
    assert not processor.watchdog.armed


def watched(time: VirtualTime, on_event=None, **params) -> tuple[StallWatchdogProcessor, Pipeline]:
    # Ticks of 1/32 s: the times the watchdog sees add up exactly.
    processor = StallWatchdogProcessor(StallWatchdogParams(**params), on_event=on_event, tick_s=1 / 32, clock=time,
                                       sleep=time.sleep)
    return processor, Pipeline([processor, Clockwork(time)])


async def test_the_processor_nudges_the_model_upstream_with_the_configured_text():
    time, events = VirtualTime(), []
    _, pipeline = watched(time, nudge_text="(Please go on.)", deadline_s=0.25, retry_s=0.25, max_nudges=1,
                          reconnect=True, on_event=lambda kind, **fields: events.append((kind, fields)))
    frames = [UserStartedSpeakingFrame(), UserStoppedSpeakingFrame(), TimePasses(0.8)]
    _, up = await run_test(pipeline, frames_to_send=frames,
                           expected_down_frames=[UserStartedSpeakingFrame, UserStoppedSpeakingFrame],
                           expected_up_frames=[InputTextRawFrame, ReconnectRequestFrame, InputTextRawFrame])
    nudges = [f.text for f in up if isinstance(f, InputTextRawFrame)]
    assert nudges == ["(Please go on.)"] * 2  # before and after the reconnect
    assert [kind for kind, _ in events] == ["stall_detected", "nudge_sent", "reconnect", "nudge_sent"]
    assert [fields["waited_s"] for _, fields in events] == [0.25, 0.25, 0.5, 0.75]  # a deadline after the reconnect


async def test_the_processor_stays_quiet_when_the_examiner_answers():
    time = VirtualTime()
    processor, pipeline = watched(time, deadline_s=0.25)
    audio = TTSAudioRawFrame(audio=b"\0\0" * 480, sample_rate=24000, num_channels=1)
    frames = [UserStoppedSpeakingFrame(), TimePasses(0.125), audio, TimePasses(1.0)]
    await run_test(pipeline, frames_to_send=frames, expected_down_frames=None, expected_up_frames=[])
    assert not processor.watchdog.armed


async def test_the_processor_waits_while_the_examiner_speaks():
    processor = StallWatchdogProcessor(StallWatchdogParams(deadline_s=0.1), tick_s=0.02)
    await run_test(processor, frames_to_send=[BotStartedSpeakingFrame()],
                   frames_to_send_direction=FrameDirection.UPSTREAM, expected_up_frames=None,
                   expected_down_frames=None)
    assert processor.watchdog.blocked


