"""The decision to end, with a fake clock; then the exam end's processor
with Pipecat's test helper, on a virtual clock."""

import asyncio
import random

import pytest
from pipecat.frames.frames import (
    FunctionCallResultFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.tests.utils import run_test

from emulator.toolargs import example_arguments
from tests.conftest import ROOT
from tests.frame_helpers import Clockwork, Loudspeaker, TimePasses
from tests.helpers import FakeClock, VirtualTime
from viva.closing_voice import ClosingVoiceError
from viva.config import load_config
from viva.exam.wording import closing_cue
from viva.pipelines.registry import ExamEndParams
from viva.processors.closing_finder import ClosingFinderProcessor
from viva.processors.exam_end import ExamEnd, ExamEndProcessor
from viva.processors.exam_frames import CandidateHoldFrame, ExamCueFrame
from viva.processors.live_link import LiveLinkFrame
from viva.record import SessionRecord
from viva.results import ResultCollector

PHRASE = "Thank you. That is the end of the Speaking test."


def exam_end() -> tuple[FakeClock, ExamEnd]:
    clock = FakeClock()
    return clock, ExamEnd(drain_s=0.5, closing_wait_s=5.0, result_wait_s=10.0, cue_wait_s=None, clock=clock)


def test_the_end_waits_for_the_audio_to_stop_and_drain():
    clock = FakeClock()
    end = ExamEnd(drain_s=0.5, closing_wait_s=5.0, result_wait_s=10.0, cue_wait_s=None, clock=clock)
    end.on_examiner_audio(True)
    end.on_closing()
    clock.t += 3
    assert end.due() is None  # still speaking
    end.on_examiner_audio(False)
    clock.t += 0.4
    assert end.due() is None
    clock.t += 0.2
    assert end.due() == "closing_phrase"


def test_audio_resuming_after_the_closing_delays_the_end():
    clock = FakeClock()
    end = ExamEnd(drain_s=0.5, closing_wait_s=5.0, result_wait_s=10.0, cue_wait_s=None, clock=clock)
    end.on_closing()
    end.on_examiner_audio(False)
    clock.t += 0.3
    end.on_examiner_audio(True)
    clock.t += 1
    assert end.due() is None


def test_no_closing_no_end():
    clock = FakeClock()
    end = ExamEnd(drain_s=0.5, closing_wait_s=5.0, result_wait_s=10.0, cue_wait_s=None, clock=clock)
    end.on_examiner_audio(False)
    clock.t += 600
    assert end.due() is None


def test_without_the_phrase_viva_says_it_once_after_the_result_and_quiet_then_ends():
    clock, end = exam_end()
    end.on_examiner_audio(True)
    clock.t += 2
    end.on_result_ready()  # the call came during the examiner's turn
    end.on_examiner_audio(False)
    clock.t += 4.9
    assert end.due() is None
    clock.t += 0.1
    assert end.due() == "say_closing"
    end.on_saying_closing()
    assert end.due() is None  # its audio has not played yet
    end.on_examiner_audio(True)
    clock.t += 3
    end.on_examiner_audio(False)
    clock.t += 0.5
    assert end.due() == "closing_from_config"


def test_the_wait_for_the_phrase_counts_from_the_result_when_it_comes_in_the_quiet():
    clock, end = exam_end()
    end.on_examiner_audio(False)
    clock.t += 30
    end.on_result_ready()
    clock.t += 4
    assert end.due() is None
    clock.t += 1
    assert end.due() == "say_closing"


def test_the_models_own_phrase_after_the_result_ends_it_normally():
    clock, end = exam_end()
    end.on_result_ready()
    end.on_examiner_audio(True)
    end.on_closing()
    clock.t += 10  # speaking all along: never "say_closing"
    assert end.due() is None
    end.on_examiner_audio(False)
    clock.t += 0.5
    assert end.due() == "closing_phrase"


def test_no_result_means_viva_does_not_say_the_closing():
    clock, end = exam_end()
    end.on_examiner_audio(False)
    clock.t += 600
    assert end.due() is None


def test_a_lost_link_after_the_result_means_viva_says_the_closing_once_the_examiner_stops():
    clock, end = exam_end()
    end.on_link(False)
    clock.t += 10
    assert end.due() is None  # no result yet: the reconnect is worth waiting for
    end.on_examiner_audio(True)  # the closing, cut by the drop, still playing out
    end.on_result_ready()
    assert end.due() is None
    end.on_examiner_audio(False)
    assert end.due() == "say_closing"  # at once, not after closing_wait_s


def test_a_link_back_up_restores_the_usual_wait():
    clock, end = exam_end()
    end.on_result_ready()
    end.on_examiner_audio(False)
    end.on_link(False)
    end.on_link(True)
    clock.t += 4.9
    assert end.due() is None
    clock.t += 0.1
    assert end.due() == "say_closing"


def test_marks_withheld_in_the_assessment_mean_viva_closes_at_once_then_waits_for_the_result():
    clock, end = exam_end()
    end.on_examiner_withheld()  # the model is saying the marks; the candidate hears nothing
    assert end.due() == "say_closing"  # no result yet, no quiet waited for
    end.on_saying_closing()
    end.on_examiner_audio(True)
    clock.t += 3
    end.on_examiner_audio(False)
    clock.t += 0.5
    assert end.due() is None  # the closing has played; the result is still to come
    clock.t += 5
    end.on_result_ready()  # the call after the spoken marks
    assert end.due() == "closing_from_config"


def test_after_viva_closed_for_withheld_marks_the_result_is_waited_for_while_the_model_goes_on():
    clock, end = exam_end()
    end.on_examiner_withheld()
    end.on_saying_closing()
    end.on_examiner_audio(True)
    end.on_examiner_audio(False)
    for _ in range(6):  # the model is still saying its marks, withheld, long after the closing
        clock.t += 5
        end.on_examiner_withheld()
        assert end.due() is None
    clock.t += 9.9
    assert end.due() is None
    clock.t += 0.1
    assert end.due() == "closing_from_config"  # quiet for result_wait_s: ends, extracting what was said


# -- the closing the model never said: asked for first, then said by viva (issue 17)


def cued_exam_end() -> tuple[FakeClock, ExamEnd]:
    clock = FakeClock()
    return clock, ExamEnd(drain_s=0.5, closing_wait_s=5.0, result_wait_s=10.0, cue_wait_s=4.0, clock=clock)


def test_the_model_is_asked_for_the_closing_once_before_viva_says_it():
    clock, end = cued_exam_end()
    end.on_result_ready()
    end.on_examiner_audio(False)
    clock.t += 4.9
    assert end.due() is None
    clock.t += 0.1
    assert end.due() == "cue_closing"
    end.on_cue_sent()
    clock.t += 3.9
    assert end.due() is None  # the model has the cue's time to begin
    clock.t += 0.1
    assert end.due() == "say_closing" and end.closing_reason == "cue_unanswered"


def test_the_cue_is_sent_once():
    clock, end = cued_exam_end()
    end.on_result_ready()
    clock.t += 5
    assert end.due() == "cue_closing"
    end.on_cue_sent()
    for _ in range(7):
        clock.t += 0.5
        assert end.due() != "cue_closing"


def test_the_phrase_heard_after_the_cue_ends_the_exam_and_viva_says_nothing():
    clock, end = cued_exam_end()
    end.on_result_ready()
    clock.t += 5
    assert end.due() == "cue_closing"
    end.on_cue_sent()
    clock.t += 1.2
    end.on_examiner_audio(True)  # the model answers the cue
    end.on_closing()
    clock.t += 6  # past the cue's time, still speaking: never "say_closing"
    assert end.due() is None
    end.on_examiner_audio(False)
    clock.t += 0.5
    assert end.due() == "closing_phrase"


def test_a_turn_without_the_phrase_is_not_spoken_over_and_viva_closes_after_its_tail():
    clock, end = cued_exam_end()
    end.on_result_ready()
    clock.t += 5
    end.on_cue_sent()
    clock.t += 1
    end.on_examiner_audio(True)  # something else than the closing
    clock.t += 5
    assert end.due() is None
    end.on_examiner_audio(False)
    clock.t += 0.4
    assert end.due() is None  # its tail
    clock.t += 0.1
    assert end.due() == "say_closing" and end.closing_reason == "cue_unanswered"


def test_with_the_link_down_after_the_result_viva_says_it_at_once_without_a_cue():
    clock, end = cued_exam_end()
    end.on_result_ready()
    end.on_link(False)
    assert end.due() == "say_closing" and end.closing_reason == "link_down"


def test_a_link_lost_while_the_cue_is_waited_for_has_viva_say_it_at_once():
    clock, end = cued_exam_end()
    end.on_result_ready()
    clock.t += 5
    assert end.due() == "cue_closing"
    end.on_cue_sent()
    clock.t += 1
    assert end.due() is None
    end.on_link(False)  # the cue went with the link
    assert end.due() == "say_closing" and end.closing_reason == "link_down"


def test_marks_said_aloud_are_not_interrupted_by_a_cue_viva_closes_at_once():
    clock, end = cued_exam_end()
    end.on_examiner_withheld()
    assert end.due() == "say_closing" and end.closing_reason == "marks_withheld"
    end.on_result_ready()  # and once the result is in, still no cue: the closing is said
    assert end.due() == "say_closing"


def test_without_cues_viva_says_the_closing_after_the_quiet():
    clock, end = exam_end()  # cue_wait_s None: this pipeline's model takes no cues
    end.on_result_ready()
    clock.t += 5
    assert end.due() == "say_closing" and end.closing_reason == "not_cued"


# -- the processor: the cue reaches the Live service, viva's voice the output


EXAM = load_config(ROOT / "configs/ielts_speaking_short.yaml").exam
TOOL = EXAM.tools[0]


class Model(FrameProcessor):
    """The Live service's side: takes the cues; one that obeys says what the cue asks, at once."""

    def __init__(self, *, obeys: bool):
        super().__init__()
        self._obeys = obeys
        self.cues: list[ExamCueFrame] = []

    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, ExamCueFrame):
            self.cues.append(frame)
            if self._obeys:
                for said in [TTSStartedFrame(), TTSTextFrame(text=EXAM.closing_phrase, text_type="sentence"),
                             TTSAudioRawFrame(audio=bytes(4800), sample_rate=24000, num_channels=1), TTSStoppedFrame()]:
                    await self.push_frame(said)


class FakeVoice:
    """viva's voice in a test: 0.2 s of audio, and when (on the virtual clock) it was asked."""

    def __init__(self, time: VirtualTime, *, fails: bool = False):
        self._time = time
        self._fails = fails
        self.asked_at: list[float] = []

    async def __call__(self, text: str) -> bytes:
        self.asked_at.append(self._time.t)
        if self._fails:
            raise ClosingVoiceError("503 UNAVAILABLE")
        return bytes(9600)


async def exam_end_session(tmp_path, time: VirtualTime, frames, *, model: Model, say=None, takes_cues: bool = True):
    """Runs the model, the exam end (the result in), a loudspeaker and the clock until the exam end
    ends the session itself (EndWorkerFrame): (down frames, up frames, record). The bound only
    stops a broken one hanging."""
    results = ResultCollector(tools=EXAM.tools)
    results.on_tool_call(TOOL.name, example_arguments(TOOL.parameters, random.Random(1)))
    record = SessionRecord(directory=tmp_path, session_id="s", config="c", exam="e", llm="emulator")
    params = ExamEndParams(drain_s=0.5, closing_wait_s=5.0, cue_wait_s=4.0, result_wait_s=10.0)
    processor = ExamEndProcessor(params, closing_phrase=EXAM.closing_phrase, results=results, record=record,
                                 takes_cues=takes_cues, say=say, clock=time, sleep=time.sleep,
                                 tick_s=1 / 32)  # ticks of 1/32 s: the times add up exactly
    pipeline = Pipeline([model, ClosingFinderProcessor(EXAM.closing_phrase), processor, Loudspeaker(), Clockwork(time)])
    sent = [FunctionCallResultFrame(function_name=TOOL.name, tool_call_id="c1", arguments={}, result={}), *frames]
    down, up = await asyncio.wait_for(run_test(pipeline, frames_to_send=sent, expected_down_frames=None,
                                               expected_up_frames=None, send_end_frame=False), 60)
    return down, up, record


def event_types(record) -> list[str]:
    return [e["type"] for e in record.data["events"]]


def closings_said(record) -> list[dict]:
    return [e for e in record.data["events"] if e["type"] == "closing_from_config"]


async def test_the_model_asked_for_the_closing_says_it_and_viva_says_nothing(tmp_path):
    time, model = VirtualTime(), Model(obeys=True)
    voice = FakeVoice(time)
    down, up, record = await exam_end_session(tmp_path, time, [TimePasses(5.5), TimePasses(5.0)], model=model,
                                              say=voice)
    (cue,) = model.cues
    assert cue.respond_now and cue.text == closing_cue(EXAM.closing_phrase)
    assert f'say exactly "{EXAM.closing_phrase}"' in cue.text
    holds = [f for f in up if isinstance(f, CandidateHoldFrame)]
    assert holds and holds[0].reason == "closing"  # nothing the candidate says reaches the model now
    assert voice.asked_at == []
    assert [f.text for f in down if isinstance(f, TTSTextFrame)] == [EXAM.closing_phrase]  # the model's, once
    assert event_types(record).count("closing_cue") == 1 and not closings_said(record)
    assert record.data["end_reason"] == "closing_phrase" and record.data["outcome"] == "completed"


async def test_a_cue_not_answered_in_its_time_has_viva_say_the_closing_in_its_voice(tmp_path):
    time, model = VirtualTime(), Model(obeys=False)
    voice = FakeVoice(time)
    down, _, record = await exam_end_session(tmp_path, time, [TimePasses(5.5), TimePasses(5.0)], model=model,
                                             say=voice)
    assert len(model.cues) == 1
    assert voice.asked_at == [pytest.approx(100 + 5.0 + 4.0, abs=1 / 16)]  # the result, its quiet, the cue's time
    assert [f.text for f in down if isinstance(f, TTSTextFrame)] == [EXAM.closing_phrase]  # viva's
    assert sum(len(f.audio) for f in down if isinstance(f, TTSAudioRawFrame)) == 9600
    assert event_types(record).index("closing_cue") < event_types(record).index("closing_from_config")
    (said,) = closings_said(record)
    assert said["reason"] == "cue_unanswered" and said["audio_s"] == 0.2
    assert record.data["end_reason"] == "closing_from_config"


async def test_with_the_link_down_viva_says_the_closing_at_once_and_sends_no_cue(tmp_path):
    time, model = VirtualTime(), Model(obeys=True)
    voice = FakeVoice(time)
    down, up, record = await exam_end_session(tmp_path, time, [LiveLinkFrame(up=False), TimePasses(1.0)],
                                              model=model, say=voice)
    assert model.cues == [] and not [f for f in up if isinstance(f, ExamCueFrame)]
    assert voice.asked_at == [pytest.approx(100, abs=1 / 16)]
    (said,) = closings_said(record)
    assert said["reason"] == "link_down" and "closing_cue" not in event_types(record)


async def test_a_pipeline_whose_model_takes_no_cues_has_viva_say_it_after_the_quiet(tmp_path):
    time, model = VirtualTime(), Model(obeys=True)
    voice = FakeVoice(time)
    _, _, record = await exam_end_session(tmp_path, time, [TimePasses(6.0)], model=model, say=voice, takes_cues=False)
    assert model.cues == [] and voice.asked_at == [pytest.approx(105, abs=1 / 16)]
    assert closings_said(record)[0]["reason"] == "not_cued"


async def test_a_voice_that_fails_ends_the_exam_without_the_sound(tmp_path):
    time, model = VirtualTime(), Model(obeys=False)
    down, _, record = await exam_end_session(tmp_path, time, [TimePasses(5.5), TimePasses(5.0)], model=model,
                                             say=FakeVoice(time, fails=True))
    assert not [f for f in down if isinstance(f, (TTSTextFrame, TTSAudioRawFrame))]
    (said,) = closings_said(record)
    assert said["audio_s"] == 0 and "503" in said["error"]
    assert record.data["end_reason"] == "closing_from_config" and record.data["outcome"] == "completed"
