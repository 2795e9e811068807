"""One simulated session, start to end, through the full pipeline; its record on disk."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path

from loguru import logger
from pipecat.frames.frames import LLMContextFrame
from pipecat.pipeline.runner import WorkerRunner
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext

from pipelines.build import build_pipeline
from pipelines.context import LLMTarget, StageContext
from viva.candidate import Candidate
from viva.config import VivaConfig
from viva.errors import BadInput
from viva.record import SessionObserver, SessionRecord, new_session_id
from viva.recording import StereoRecorder
from viva.report import write_report
from viva.results import ResultCollector
from viva.simulated_transport import SimulatedCandidateTransport

def api_key_from_environment() -> str:
    key = os.environ.get("GOOGLE_API_KEY") or os.environ.get("GEMINI_API_KEY")
    if not key:
        raise BadInput("--llm gemini needs an API key: set GOOGLE_API_KEY (or GEMINI_API_KEY)")
    return key


@dataclass
class RunResult:
    record_dir: Path
    data: dict
    transport: SimulatedCandidateTransport | None = None  # for measurements (bench/)
    started_at: float = 0.0  # time.monotonic() at the record's t_s 0

    @property
    def ok(self) -> bool:
        return self.data["outcome"] == "completed" and self.data["result"] is not None


async def simulate_session(*, config: VivaConfig, candidate: Candidate, llm: LLMTarget, out_dir: Path,
                           session_id: str | None = None) -> RunResult:
    """Runs one session; the record folder is out_dir/<session id>/ whatever happens."""
    session_id = session_id or new_session_id()
    record = SessionRecord(directory=out_dir / session_id, session_id=session_id,
                           config=str(config.path), exam=config.exam.name, llm=llm.kind)
    results = ResultCollector(tools=config.exam.tools, on_event=record.event)
    transport = SimulatedCandidateTransport(candidate=candidate)
    recorder = StereoRecorder(record.directory / "recording.wav")
    context = StageContext(config=config, record=record, results=results, llm=llm)
    worker = PipelineWorker(
        build_pipeline(transport=transport, context=context, recorder=recorder),
        params=PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=24000),
        observers=[SessionObserver(record, closing_phrase=config.exam.closing_phrase)],
        cancel_on_idle_timeout=False,
    )

    @worker.event_handler("on_pipeline_started")
    async def begin(worker, frame):
        opening = LLMContext(messages=[{"role": "user", "content": config.exam.opening_prompt}])
        await worker.queue_frame(LLMContextFrame(context=opening))

    runner = WorkerRunner(handle_sigint=False)
    try:
        await runner.add_workers(worker)
        await asyncio.wait_for(runner.run(), config.session.max_s)
        # Pipecat's runner may absorb the cancellation of a timeout and return normally.
        if record.data["outcome"] is None and record.now() >= config.session.max_s - 1:
            record.end(outcome="failed", end_reason="timeout")
    except TimeoutError:
        record.end(outcome="failed", end_reason="timeout")
    except asyncio.CancelledError:
        record.end(outcome="aborted", end_reason="stopped")
        raise
    except Exception as e:  # recorded, never lost: the record says what ended the session
        logger.exception("session failed")
        record.end(outcome="failed", end_reason=f"error: {type(e).__name__}: {e}")
    finally:
        recorder.close()
        record.finish(audio_bytes_outside_activity=_audio_outside(record.directory))
        write_report(record.directory)
    return RunResult(record.directory, record.data, transport, record.started_at)


def _audio_outside(directory: Path) -> int | None:
    """Audio bytes the server received outside activity windows, from the emulator's own log."""
    path = directory / "emulator.jsonl"
    if not path.exists():
        return None
    total = 0
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        if entry.get("kind") == "audio" and entry.get("dir") == "in" and not entry.get("window_open"):
            total += entry.get("audio_bytes", 0)
    return total
