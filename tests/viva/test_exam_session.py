"""An ExamSession's end, whatever the pipeline does: the record is always finished."""

import asyncio
import json

from tests.conftest import ROOT
from viva import exam_session
from viva.config import load_config
from viva.exam_session import ExamSession
from viva.harness.candidate import load_candidate
from viva.harness.simulated_transport import SimulatedCandidateTransport
from viva.harness.targets import emulator_target


def short_config(max_s: float):
    config = load_config(ROOT / "configs/ielts_speaking_short.yaml")
    return config.model_copy(update={"session": config.session.model_copy(update={"max_s": max_s})})


async def test_a_pipeline_that_will_not_stop_at_the_limit_still_leaves_a_finished_record(emulator, tmp_path,
                                                                                         monkeypatch):
    monkeypatch.setattr(exam_session, "STOP_GRACE_S", 0.5)
    candidate = load_candidate(ROOT / "candidates/b2_steady.yaml")
    session = ExamSession(config=short_config(2.0), transport=SimulatedCandidateTransport(candidate=candidate),
                          llm=emulator_target(emulator, session_id="stuck"), out_dir=tmp_path)

    async def never_stops():  # a pipeline stuck on a frame it waits for (an EndFrame held forever)
        await asyncio.Event().wait()

    session.worker.cancel = never_stops
    try:
        result = await asyncio.wait_for(session.run(), 30)
    finally:  # the pipeline was in fact healthy: stop it for real, so the emulator can close
        del session.worker.cancel
        await asyncio.wait_for(session.worker.cancel(), 10)
    data = json.loads((result.record_dir / "session.json").read_text())
    assert (data["outcome"], data["end_reason"]) == ("failed", "timeout")
    assert data["ended_at"] and (result.record_dir / "report.html").exists()


async def test_a_candidate_who_leaves_ends_the_session_aborted(emulator, tmp_path):
    candidate = load_candidate(ROOT / "candidates/b2_steady.yaml")
    session = ExamSession(config=short_config(60.0), transport=SimulatedCandidateTransport(candidate=candidate),
                          llm=emulator_target(emulator, session_id="left"), out_dir=tmp_path)

    async def leave_soon():  # as a transport's event would: outside the pipeline's own start
        await asyncio.sleep(1.0)
        await session.candidate_left()

    @session.worker.event_handler("on_pipeline_started")
    async def begin(worker, frame):
        await session.start_exam()
        tasks.append(asyncio.create_task(leave_soon()))

    tasks = []

    result = await asyncio.wait_for(session.run(), 30)
    data = json.loads((result.record_dir / "session.json").read_text())
    assert (data["outcome"], data["end_reason"]) == ("aborted", "candidate_left")
    assert [e["type"] for e in data["events"]].count("exam_started") == 1 and data["ended_at"]


async def test_a_candidate_who_leaves_after_the_end_changes_nothing_and_cuts_nothing(emulator, tmp_path):
    candidate = load_candidate(ROOT / "candidates/b2_steady.yaml")
    session = ExamSession(config=short_config(60.0), transport=SimulatedCandidateTransport(candidate=candidate),
                          llm=emulator_target(emulator, session_id="after"), out_dir=tmp_path)
    session.record.end(outcome="completed", end_reason="closing_phrase")
    cancelled = []

    async def cancel():
        cancelled.append(True)

    session.worker.cancel = cancel
    await session.candidate_left()
    assert not cancelled and session.record.data["end_reason"] == "closing_phrase"
