"""One exam through the full pipeline, whatever the transport: its record, result and recording.

A simulated candidate starts the exam when the pipeline starts; a person starts it by
joining (a Daily room, a browser's WebRTC connection) and, by leaving, ends it
`aborted`. Either way the record is written as the session goes and finished, with its
report, whatever ends it.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from loguru import logger
from pipecat.frames.frames import LLMContextFrame
from pipecat.pipeline.runner import WorkerRunner
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.transports.base_transport import BaseTransport

from viva.config import VivaConfig
from viva.errors import BadInput
from viva.pipelines.build import build_pipeline
from viva.pipelines.context import LLMTarget, StageContext
from viva.record import SessionObserver, SessionRecord, completed, new_session_id
from viva.recording import StereoRecorder
from viva.report import write_report
from viva.results import ResultCollector

STOP_GRACE_S = 10.0


def api_key_from_environment() -> str:
    key = os.environ.get("GOOGLE_API_KEY") or os.environ.get("GEMINI_API_KEY")
    if not key:
        raise BadInput("--llm gemini needs an API key: set GOOGLE_API_KEY (or GEMINI_API_KEY)")
    return key


def gemini_target() -> LLMTarget:
    """The real Live API, with the key from the environment."""
    return LLMTarget(kind="gemini", api_key=api_key_from_environment())


@asynccontextmanager
async def gemini_targets(*, config: VivaConfig, out: Path, session_id: str) -> AsyncIterator[LLMTarget]:
    """A TargetFactory (viva/pipelines/context.py) for the real Live API: every session's target is the same."""
    yield gemini_target()


@dataclass
class RunResult:
    record_dir: Path
    data: dict
    transport: BaseTransport | None = None  # for measurements (bench/)
    started_at: float = 0.0  # time.monotonic() at the record's t_s 0

    @property
    def ok(self) -> bool:
        return completed(self.data)


class ExamSession:
    """The pipeline of a config around a transport, with the session's record.

    Args:
        config: the viva config.
        transport: where the candidate is (simulated, Daily, WebRTC, local audio).
        llm: where the Live service connects.
        out_dir: the record folder is out_dir/<session id>/.
        session_id: default: a new one.
        rtvi: add Pipecat's RTVI messages (a browser client built on them needs them). Off
            by default: they would show the candidate the opening prompt and the examiner's
            words before they are spoken.
    """

    def __init__(self, *, config: VivaConfig, transport: BaseTransport, llm: LLMTarget, out_dir: Path,
                 session_id: str | None = None, rtvi: bool = False, draw_seed: int | None = None):
        # The exam this session runs: a card drawn for each part that has several (draw_seed:
        # the same seed draws the same cards; by default a new one, kept in the record).
        draw_seed = random.SystemRandom().randrange(2**31) if draw_seed is None else draw_seed
        config = config.model_copy(update={"exam": config.exam.drawn(draw_seed)})
        self.config = config
        self.transport = transport
        session_id = session_id or new_session_id()
        self.record = SessionRecord(directory=Path(out_dir) / session_id, session_id=session_id,
                                    config=str(config.path), exam=config.exam.name, llm=llm.kind,
                                    language=config.llm.language,
                                    result_schemas={tool.name: tool.parameters for tool in config.exam.required_tools},
                                    scores=config.exam.scores)
        drawn = {part.name: part.cue_card.topic for part in config.exam.parts if part.cue_cards}
        offered = {part.name: [card.topic for card in part.offered] for part in config.exam.parts if part.draw > 1}
        if drawn:
            self.record.event("cards_drawn", seed=draw_seed, cards=drawn, **({"offered": offered} if offered else {}))
        self.results = ResultCollector(tools=config.exam.declared_tools, on_event=self.record.event)
        self._recorder = StereoRecorder(self.record.directory / "recording.wav")
        context = StageContext(config=config, record=self.record, results=self.results, llm=llm)
        self._context = context
        self.worker = PipelineWorker(
            build_pipeline(transport=transport, context=context, recorder=self._recorder),
            params=PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=24000),
            observers=[SessionObserver(self.record)],
            cancel_on_idle_timeout=False,
            enable_rtvi=rtvi,
        )
        self._started = False

    async def start_exam(self) -> None:
        """The examiner begins (once): the config's opening prompt goes to the model, with the exam
        director's first cue when viva conducts the exam."""
        if self._started:
            return
        self._started = True
        self.record.event("exam_started")
        text = self.config.exam.opening_prompt
        if self._context.opening is not None:
            text = f"{text}\n{self._context.opening()}"
        opening = LLMContext(messages=[{"role": "user", "content": text}])
        await self.worker.queue_frame(LLMContextFrame(context=opening))

    async def candidate_left(self) -> None:
        """The candidate is gone: the session ends `aborted`, unless it had already ended. Then
        the pipeline is finishing on its own, and a cancel could cut the closing's last audio."""
        if self.record.data["outcome"] is not None:
            return
        self.record.end(outcome="aborted", end_reason="candidate_left")
        await self.worker.cancel()

    async def run(self) -> RunResult:
        """Runs until the exam ends, the candidate leaves or the time runs out; finishes the record."""
        record, limit = self.record, self.config.session.max_s
        runner = WorkerRunner(handle_sigint=False)
        running: asyncio.Future | None = None
        try:
            await runner.add_workers(self.worker)
            running = asyncio.ensure_future(runner.run())
            if not (await asyncio.wait({running}, timeout=limit))[0]:
                record.end(outcome="failed", end_reason="timeout")
                await self._stop(running)
            elif running.exception() is not None:
                raise running.exception()
        except asyncio.CancelledError:
            record.end(outcome="aborted", end_reason="stopped")
            if running is not None:
                running.cancel()
            raise
        except Exception as e:  # recorded, never lost: the record says what ended the session
            logger.exception("session failed")
            record.end(outcome="failed", end_reason=f"error: {type(e).__name__}: {e}")
        finally:
            if record.data["outcome"] is None:  # the pipeline ended with no decision (the transport closed)
                record.end(outcome="aborted", end_reason="ended")
            self._recorder.close()
            record.finish(audio_bytes_outside_activity=_audio_outside(record.directory))
            write_report(record.directory)
        return RunResult(record.directory, record.data, self.transport, record.started_at)

    async def _stop(self, running: asyncio.Future) -> None:
        """Past the limit: cancel the pipeline, and stop waiting for it after STOP_GRACE_S. A
        pipeline stuck on a frame it waits for (Pipecat holds an EndFrame until a turn cut by
        a dropped link finishes, which it never does) must not keep the record unfinished,
        and asyncio.wait_for would wait for the cancellation itself."""
        try:
            await asyncio.wait_for(self.worker.cancel(), STOP_GRACE_S)
        except TimeoutError:
            pass
        if not (await asyncio.wait({running}, timeout=STOP_GRACE_S))[0]:
            logger.warning(f"the pipeline did not stop within {STOP_GRACE_S} s of its cancel; finishing the record")
            running.cancel()


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
