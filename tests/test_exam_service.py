"""viva's Live service (viva/pipelines/gemini.py) against the emulator: it reconnects by its last
resumption handle when the stall watchdog asks, and the exam goes on."""

import asyncio

from pipecat.frames.frames import EndFrame, LLMContextFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import WorkerRunner
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.services.google.gemini_live.llm import GeminiVADParams

from tests.conftest import read_pcm
from tests.emulator.test_pipecat_exchange import Recorder, answer
from viva.exam.wording import system_instruction
from viva.pipelines.gemini import ExamGeminiLiveService
from viva.pipelines.reconnect_policy import ReconnectPolicy
from viva.pipelines.registry import GeminiLiveParams
from viva.processors.live_link import ReconnectRequestFrame

SPEECH = read_pcm("speech__cmu_arctic_axb_a0004.wav")


class AnnouncingPolicy(ReconnectPolicy):
    """The service's reconnect policy as the gemini_live stage's defaults make it; it says when a
    resumption update has come."""

    def __init__(self):
        stage = GeminiLiveParams()
        super().__init__(schedule_s=stage.reconnect_schedule_s, jitter=stage.reconnect_jitter,
                         budget_s=stage.reconnect_budget_s, go_away_margin_s=stage.go_away_margin_s)
        self.updated = asyncio.Event()

    def on_handle(self, handle, resumable):
        super().on_handle(handle, resumable)
        self.updated.set()

    async def until(self, predicate, timeout: float = 20) -> None:
        async with asyncio.timeout(timeout):  # the bound only stops a broken run hanging
            while not predicate():
                self.updated.clear()
                await self.updated.wait()


async def test_a_reconnect_request_resumes_the_session_by_handle_and_the_exam_goes_on(emulator, exam):
    policy, reconnected = AnnouncingPolicy(), asyncio.Event()
    llm = ExamGeminiLiveService(
        api_key="test-key",
        http_options=emulator.http_options(session_id="watchdog"),
        system_instruction=system_instruction(exam),
        settings=ExamGeminiLiveService.Settings(
            model="models/gemini-3.1-flash-live-preview", vad=GeminiVADParams(disabled=True)),
        policy=policy,
        on_event=lambda kind, **fields: reconnected.set() if kind == "reconnect" else None,
    )
    downstream = Recorder()
    worker = PipelineWorker(Pipeline([llm, downstream]), params=PipelineParams(audio_in_sample_rate=16000),
                            cancel_on_idle_timeout=False)
    said = []

    async def candidate():
        # Queued before the pipeline has started, a frame waits for the start.
        await worker.queue_frame(LLMContextFrame(context=LLMContext(
            messages=[{"role": "user", "content": "Please begin the exam."}])))
        said.append(await downstream.next_response())
        # The handle offered after the greeting (the first came with the setup) has reached the service.
        session = emulator.sessions["watchdog"]
        await policy.until(lambda: len(session.handles) == 2 and policy.handle == session.handles[1])
        await worker.queue_frame(ReconnectRequestFrame())
        await asyncio.wait_for(reconnected.wait(), 20)  # set up again, and ready to send on
        await answer(worker, SPEECH)
        said.append(await downstream.next_response())
        await worker.queue_frame(EndFrame())

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await asyncio.wait_for(asyncio.gather(runner.run(), candidate()), 60)

    session = emulator.sessions["watchdog"]
    assert session.connections == 2
    setups = [r for r in session.journal.records if r["kind"] == "setup"]
    assert setups[1]["resumed_from"] in session.handles
    assert said == ["Hello, I am your examiner. Where do you live?", "What do you do at the weekend?"]
