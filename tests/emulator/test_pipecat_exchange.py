"""Pipecat's real GeminiLiveLLMService runs an exam against the emulator: local activity
signals (its VAD params disabled), audio, transcripts, a tool call, the closing, and its
own reconnect by resumption handle after a drop."""

import asyncio

from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import (
    EndFrame,
    InputAudioRawFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import WorkerRunner
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.google.gemini_live.llm import GeminiLiveLLMService, GeminiVADParams

from emulator.toolargs import schema_errors
from tests.conftest import read_pcm
from viva.tools import declarable_schema
from viva.exam.wording import system_instruction

SPEECH = read_pcm("speech__cmu_arctic_axb_a0004.wav")


class Recorder(FrameProcessor):
    """Keeps what passes: examiner text and audio per response, candidate transcripts."""

    def __init__(self):
        super().__init__()
        self.responses: list[str] = [""]
        self.audio_bytes = 0
        self.transcriptions: list[str] = []
        self.response_ended = asyncio.Event()
        self._passed = asyncio.Event()

    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSTextFrame):
            self.responses[-1] += frame.text
        elif isinstance(frame, TTSAudioRawFrame):
            self.audio_bytes += len(frame.audio)
        elif isinstance(frame, TranscriptionFrame) and direction == FrameDirection.UPSTREAM:
            self.transcriptions.append(frame.text)
        elif isinstance(frame, LLMFullResponseEndFrame) and self.responses[-1]:
            self.responses.append("")
            self.response_ended.set()
        self._passed.set()
        await self.push_frame(frame, direction)

    async def next_response(self) -> str:
        await asyncio.wait_for(self.response_ended.wait(), 20)
        self.response_ended.clear()
        return self.responses[-2].strip()

    async def until(self, predicate, timeout: float = 20) -> None:
        """Waits for what has passed to satisfy predicate (the bound only stops a broken run hanging)."""
        async with asyncio.timeout(timeout):
            while not predicate():
                self._passed.clear()
                await self._passed.wait()


class CountedGeminiLive(GeminiLiveLLMService):
    """Pipecat's service as it is, counting the Live sessions it has set up and can send on
    (its first, then one per reconnect)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sessions_ready = 0
        self._session_ready = asyncio.Event()

    async def _handle_session_ready(self, session):
        await super()._handle_session_ready(session)
        self.sessions_ready += 1
        self._session_ready.set()

    async def until_sessions_ready(self, count: int, timeout: float = 20) -> None:
        async with asyncio.timeout(timeout):
            while self.sessions_ready < count:
                self._session_ready.clear()
                await self._session_ready.wait()


async def answer(worker: PipelineWorker, pcm: bytes) -> None:
    """One window: every frame here is a SystemFrame, so they arrive in the order queued."""
    await worker.queue_frame(UserStartedSpeakingFrame())
    for i in range(0, len(pcm), 640):
        await worker.queue_frame(InputAudioRawFrame(audio=pcm[i : i + 640], sample_rate=16000, num_channels=1))
    await worker.queue_frame(UserStoppedSpeakingFrame())


async def test_pipecat_service_runs_the_exam_and_reconnects_by_handle(emulator, exam):
    tool = exam.tools[0]
    parameters = declarable_schema(tool.parameters)
    llm = CountedGeminiLive(
        api_key="test-key",
        http_options=emulator.http_options(session_id="pipecat"),
        system_instruction=system_instruction(exam),
        tools=ToolsSchema(standard_tools=[FunctionSchema(
            name=tool.name, description=tool.description,
            properties=parameters["properties"], required=parameters["required"],
        )]),
        settings=GeminiLiveLLMService.Settings(
            model="models/gemini-3.1-flash-live-preview", vad=GeminiVADParams(disabled=True)
        ),
    )
    results = []

    async def record_assessment(params):
        results.append(dict(params.arguments))
        await params.result_callback({"status": "recorded"})

    llm.register_function(tool.name, record_assessment)
    upstream, downstream = Recorder(), Recorder()
    worker = PipelineWorker(
        Pipeline([upstream, llm, downstream]),
        params=PipelineParams(audio_in_sample_rate=16000),
        cancel_on_idle_timeout=False,
    )
    said = []

    async def candidate():
        # Queued before the pipeline has started, a frame waits for the start.
        context = LLMContext(messages=[{"role": "user", "content": "Please begin the exam."}])
        await worker.queue_frame(LLMContextFrame(context=context))
        said.append(await downstream.next_response())
        await answer(worker, SPEECH)
        said.append(await downstream.next_response())
        # Drop the socket between turns: Pipecat reconnects with its last handle.
        await emulator.sessions["pipecat"].connection.close_now(1011, "Internal error encountered.")
        await llm.until_sessions_ready(2)  # the new session is set up: what is sent now is not dropped
        await answer(worker, SPEECH)
        said.append(await downstream.next_response())  # the closing, after the tool call
        # Pipecat flushes an unpunctuated input transcript after 0.5 s: the second one may still be on its way.
        await upstream.until(lambda: len(upstream.transcriptions) >= 2)
        await worker.queue_frame(EndFrame())

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await asyncio.wait_for(asyncio.gather(runner.run(), candidate()), 60)

    assert said == ["Hello, I am your examiner. Where do you live?", "What do you do at the weekend?", exam.closing_phrase]
    assert downstream.audio_bytes > 24000 * 2
    assert len(upstream.transcriptions) == 2
    assert all(t.startswith("(speech, ") for t in upstream.transcriptions)
    assert len(results) == 1 and schema_errors(tool.parameters, results[0]) == []
    session = emulator.sessions["pipecat"]
    assert session.connections == 2
    setups = [r for r in session.journal.records if r["kind"] == "setup"]
    assert setups[1]["resumed_from"] in session.handles
    # Pipecat's language (en-US unless set) reaches the setup, and the examiner speaks it in espeak-ng's voice for it.
    assert [(s["language"], s["espeak_voice"], s["own_words"]) for s in setups] == [("en-US", "en-us", "en")] * 2
    assert session.validation_failures == [] and session.messages_validated > 20
    tool_responses = [r for r in session.journal.records if r["kind"] == "tool_response"]
    assert len(tool_responses) == 1
