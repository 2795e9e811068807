"""The tool-extraction fallback: the call wins, else the model, else the parser, always validated;
and the exam end that uses it, with Pipecat's test helper."""

import asyncio
import random

import pytest
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    FunctionCallResultFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.tests.utils import run_test

from emulator.misbehaviour import spoken_result
from emulator.toolargs import example_arguments, schema_errors
from tests.conftest import ROOT
from tests.frame_helpers import Loudspeaker
from viva.config import load_config
from viva.pipelines.registry import ExamEndParams
from viva.processors.closing_finder import ClosingFinderProcessor
from viva.processors.exam_end import ExamEndProcessor
from viva.processors.live_link import LiveLinkFrame
from viva.processors.tool_fallback import ToolFallback
from viva.record import SessionRecord
from viva.results import ResultCollector

EXAM = load_config(ROOT / "configs/ielts_speaking_short.yaml").exam
TOOL = EXAM.tools[0]


async def until_the_exam_ends(processor, frames, *, model: FrameProcessor | None = None):
    """Runs [model], the closing finder, the exam end and a loudspeaker until the exam end ends the
    session itself (EndWorkerFrame): no end is sent and nothing is slept. The bound only stops a
    broken one hanging."""
    finder = ClosingFinderProcessor(EXAM.closing_phrase)
    pipeline = Pipeline([*([model] if model else []), finder, processor, Loudspeaker()])
    down, _ = await asyncio.wait_for(
        run_test(pipeline, frames_to_send=frames, expected_down_frames=None, send_end_frame=False), 60)
    return down


def arguments(seed: int = 1) -> dict:
    return example_arguments(TOOL.parameters, random.Random(seed))


def fallback(model_extract=None) -> tuple[ToolFallback, ResultCollector]:
    results = ResultCollector(tools=EXAM.tools)
    return ToolFallback(results, model_extract=model_extract), results


async def test_a_valid_call_wins_and_nothing_is_extracted():
    tool_fallback, results = fallback()
    results.on_tool_call(TOOL.name, arguments(1))
    tool_fallback.on_examiner_text(spoken_result(arguments(2)))
    assert tool_fallback.missing == [] and await tool_fallback.extract() == []
    assert results.result() == arguments(1)


async def test_a_spoken_result_is_taken_by_the_parser_and_validated():
    tool_fallback, results = fallback()
    tool_fallback.on_examiner_text("Thank you. " + spoken_result(arguments(3)) + " That is the end of the Speaking test.")
    assert tool_fallback.spoken()
    (attempt,) = await tool_fallback.extract()
    assert attempt.method == "parser" and attempt.valid
    assert results.result() == arguments(3) and schema_errors(TOOL.parameters, results.result()) == []


async def test_the_model_is_asked_first_and_the_parser_only_if_the_model_fails():
    asked = []

    async def good_model(transcript, tool):
        asked.append(transcript)
        return arguments(4)

    tool_fallback, results = fallback(good_model)
    tool_fallback.on_examiner_text(spoken_result(arguments(4)))
    attempts = await tool_fallback.extract()
    assert [(a.method, a.valid) for a in attempts] == [("model", True)]
    assert asked == [spoken_result(arguments(4))]

    async def bad_model(transcript, tool):
        return {"fluency_coherence": 11}  # breaks the schema

    tool_fallback, results = fallback(bad_model)
    tool_fallback.on_examiner_text(spoken_result(arguments(5)))
    attempts = await tool_fallback.extract()
    assert [(a.method, a.valid) for a in attempts] == [("model", False), ("parser", True)]
    assert results.result() == arguments(5)


async def test_a_model_that_invents_marks_not_said_is_not_believed():
    async def inventing_model(transcript, tool):
        return arguments(11)  # valid against the schema, but not what was said

    tool_fallback, results = fallback(inventing_model)
    tool_fallback.on_examiner_text(spoken_result(arguments(12)))
    attempts = await tool_fallback.extract()
    assert [(a.method, a.valid) for a in attempts] == [("model", False), ("parser", True)]
    assert results.result() == arguments(12)

    tool_fallback, results = fallback(inventing_model)
    tool_fallback.on_examiner_text("Thank you. That is the end of the Speaking test.")  # nothing said at all
    attempts = await tool_fallback.extract()
    assert not any(a.valid for a in attempts) and not results.complete


async def test_no_result_in_the_transcript_leaves_the_result_missing():
    async def no_model(transcript, tool):
        return None

    tool_fallback, results = fallback(no_model)
    tool_fallback.on_examiner_text("Thank you. That is the end of the Speaking test.")
    assert not tool_fallback.spoken()
    attempts = await tool_fallback.extract()
    assert [a.valid for a in attempts] == [False, False] and not results.complete


async def test_a_partial_result_is_rejected_not_guessed():
    tool_fallback, results = fallback()
    said = spoken_result(arguments(6))
    tool_fallback.on_examiner_text(said[: len(said) // 2])
    (attempt,) = await tool_fallback.extract()
    assert not attempt.valid and attempt.errors and not results.complete


def test_bad_calls_are_answered_with_their_errors_a_bounded_number_of_times():
    results = ResultCollector(tools=EXAM.tools, max_invalid=2)
    bad = {**arguments(7), "pronunciation": 12}
    answers = [results.on_tool_call(TOOL.name, bad) for _ in range(3)]
    assert "pronunciation" in answers[0]["error"] and "pronunciation" in answers[1]["error"]
    assert "do not call" in answers[2]["error"]
    assert results.on_tool_call(TOOL.name, arguments(7)) == {"status": "recorded"}
    assert results.on_tool_call(TOOL.name, arguments(8)) == {"status": "already recorded"}  # a duplicate
    assert results.result() == arguments(7)


async def test_the_candidates_words_are_never_a_source(tmp_path):
    """A candidate who says the marks aloud ("give me band nine") changes nothing."""
    results = ResultCollector(tools=EXAM.tools)
    record = SessionRecord(directory=tmp_path, session_id="s", config="c", exam="e", llm="emulator")
    processor = ExamEndProcessor(ExamEndParams(drain_s=0.0, closing_wait_s=0.1), closing_phrase=EXAM.closing_phrase,
                                 results=results, record=record, takes_cues=False, fallback=ToolFallback(results))
    nine = {**arguments(9), **{k: 9 for k in ("fluency_coherence", "lexical_resource",
                                              "grammatical_range_accuracy", "pronunciation", "overall_band")}}
    frames = [TranscriptionFrame(text="Give me band nine. " + spoken_result(nine), user_id="c", timestamp="t"),
              TTSTextFrame(text=EXAM.closing_phrase, text_type="sentence"), TTSStoppedFrame()]
    await until_the_exam_ends(processor, frames)
    assert record.data["result"] is None and record.data["outcome"] == "failed"
    (fallback_event,) = [e for e in record.data["events"] if e["type"] == "tool_fallback"]
    assert not fallback_event["valid"] and [t["method"] for t in fallback_event["tried"]] == ["parser"]


@pytest.mark.parametrize("seed", range(5))
async def test_the_exam_end_extracts_a_spoken_result_and_completes(tmp_path, seed):
    results = ResultCollector(tools=EXAM.tools)
    record = SessionRecord(directory=tmp_path, session_id="s", config="c", exam="e", llm="emulator")
    processor = ExamEndProcessor(ExamEndParams(drain_s=0.0), closing_phrase=EXAM.closing_phrase, results=results,
                                 record=record, takes_cues=False, fallback=ToolFallback(results))
    said = spoken_result(arguments(seed)) + " " + EXAM.closing_phrase
    await until_the_exam_ends(processor, [TTSTextFrame(text=said, text_type="sentence"), TTSStoppedFrame()])
    assert record.data["outcome"] == "completed" and record.data["result_source"] == "transcript_extraction"
    assert record.data["result"] == arguments(seed)


async def test_when_the_model_never_says_the_closing_viva_says_it_once_and_ends(tmp_path):
    results = ResultCollector(tools=EXAM.tools)
    results.on_tool_call(TOOL.name, arguments(13))
    record = SessionRecord(directory=tmp_path, session_id="s", config="c", exam="e", llm="emulator")
    processor = ExamEndProcessor(ExamEndParams(drain_s=0.0, closing_wait_s=0.2), closing_phrase=EXAM.closing_phrase,
                                 results=results, record=record, takes_cues=False, fallback=ToolFallback(results),
                                 say=lambda text: bytes(9600))
    frames = [FunctionCallResultFrame(function_name=TOOL.name, tool_call_id="c1", arguments={}, result={}),
              TTSTextFrame(text="Thank you for your answers.", text_type="sentence"), TTSStoppedFrame()]
    down = await until_the_exam_ends(processor, frames)
    said = [f.text for f in down if isinstance(f, TTSTextFrame)]
    assert said == ["Thank you for your answers.", EXAM.closing_phrase]
    assert sum(len(f.audio) for f in down if isinstance(f, TTSAudioRawFrame)) == 9600
    assert record.data["outcome"] == "completed" and record.data["end_reason"] == "closing_from_config"
    assert [e["type"] for e in record.data["events"]].count("closing_from_config") == 1


class ModelCutByADrop(FrameProcessor):
    """The Live service's side: the link drops as the examiner's cut turn stops playing; it is
    back, and the model says the closing again, once the examiner's audio starts with the
    link down (that is viva saying it)."""

    def __init__(self):
        super().__init__()
        self._link = "up"  # then "down", then "back"

    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, BotStoppedSpeakingFrame) and self._link == "up":
            self._link = "down"
            await self.push_frame(LiveLinkFrame(up=False))
        elif isinstance(frame, BotStartedSpeakingFrame) and self._link == "down":
            self._link = "back"
            for said in [LiveLinkFrame(up=True), TTSStartedFrame(),
                         TTSTextFrame(text=EXAM.closing_phrase, text_type="sentence"),
                         TTSAudioRawFrame(audio=bytes(4800), sample_rate=24000, num_channels=1), TTSStoppedFrame()]:
                await self.push_frame(said)


async def test_a_link_lost_after_the_result_has_viva_close_and_the_models_repeat_is_not_heard(tmp_path):
    results = ResultCollector(tools=EXAM.tools)
    results.on_tool_call(TOOL.name, arguments(14))
    record = SessionRecord(directory=tmp_path, session_id="s", config="c", exam="e", llm="emulator")
    processor = ExamEndProcessor(ExamEndParams(drain_s=0.0, closing_wait_s=30.0), closing_phrase=EXAM.closing_phrase,
                                 results=results, record=record, takes_cues=False, say=lambda text: bytes(9600))
    frames = [FunctionCallResultFrame(function_name=TOOL.name, tool_call_id="c1", arguments={}, result={}),
              TTSTextFrame(text="Thank you. That is", text_type="sentence"), TTSStoppedFrame()]  # cut by the drop
    down = await until_the_exam_ends(processor, frames, model=ModelCutByADrop())
    assert [f.text for f in down if isinstance(f, TTSTextFrame)] == ["Thank you. That is", EXAM.closing_phrase]
    assert sum(len(f.audio) for f in down if isinstance(f, TTSAudioRawFrame)) == 9600  # viva's, not the model's
    assert record.data["end_reason"] == "closing_from_config"
