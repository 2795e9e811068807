"""viva's Live service (pipelines/gemini.py) against the emulator: it reconnects by its last
resumption handle when the stall watchdog asks, and the exam goes on."""

import asyncio

from pipecat.frames.frames import EndFrame, LLMContextFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import WorkerRunner
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.services.google.gemini_live.llm import GeminiVADParams

from pipelines.gemini import ExamGeminiLiveService
from processors.live_link import ReconnectRequestFrame
from tests.conftest import read_pcm
from tests.emulator.test_pipecat_exchange import Recorder, answer

SPEECH = read_pcm("speech__cmu_arctic_axb_a0004.wav")


async def test_a_reconnect_request_resumes_the_session_by_handle_and_the_exam_goes_on(emulator, exam):
    llm = ExamGeminiLiveService(
        api_key="test-key",
        http_options=emulator.http_options(session_id="watchdog"),
        system_instruction=exam.system_prompt,
        settings=ExamGeminiLiveService.Settings(
            model="models/gemini-3.1-flash-live-preview", vad=GeminiVADParams(disabled=True)),
    )
    downstream = Recorder()
    worker = PipelineWorker(Pipeline([llm, downstream]), params=PipelineParams(audio_in_sample_rate=16000),
                            cancel_on_idle_timeout=False)
    said = []

    async def candidate():
        await asyncio.sleep(0.3)
        await worker.queue_frame(LLMContextFrame(context=LLMContext(
            messages=[{"role": "user", "content": "Please begin the exam."}])))
        said.append(await downstream.next_response())
        await asyncio.sleep(0.3)  # the handle of the finished turn has arrived
        await worker.queue_frame(ReconnectRequestFrame())
        session = emulator.sessions["watchdog"]
        for _ in range(100):
            if session.connections == 2 and session.connection is not None:
                break
            await asyncio.sleep(0.05)
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
