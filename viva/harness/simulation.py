"""One simulated session, start to end, through the full pipeline; its record on disk."""

from __future__ import annotations

from pathlib import Path

from viva.config import VivaConfig
from viva.exam_session import ExamSession, RunResult, api_key_from_environment
from viva.harness.candidate import Candidate
from viva.harness.simulated_transport import SimulatedCandidateTransport
from viva.pipelines.context import LLMTarget

__all__ = ["RunResult", "api_key_from_environment", "simulate_session"]


async def simulate_session(*, config: VivaConfig, candidate: Candidate, llm: LLMTarget, out_dir: Path,
                           session_id: str | None = None) -> RunResult:
    """Runs one session; the record folder is out_dir/<session id>/ whatever happens. The
    simulated candidate is there from the start: the exam starts with the pipeline."""
    session = ExamSession(config=config, transport=SimulatedCandidateTransport(candidate=candidate), llm=llm,
                          out_dir=out_dir, session_id=session_id)

    @session.worker.event_handler("on_pipeline_started")
    async def begin(worker, frame):
        await session.start_exam()

    return await session.run()
