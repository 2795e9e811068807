"""Ends the session when the exam is over: the closing phrase heard, its audio played out.

The closing finder (viva/processors/closing_finder.py) marks where the examiner's words
complete the closing phrase (`ClosingPhraseFrame`). `ExamEnd` decides when to end, and whether the model is
asked for a closing it never said or viva says it (plain, injected clock);
`ExamEndProcessor` feeds it frames, cues the model, plays viva's closing and ends the pipeline.

The `exam_end` stage's builder (`build`) is here; its parameters (`ExamEndParams`) are in
viva/pipelines/registry.py.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from loguru import logger
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    EndWorkerFrame,
    Frame,
    FunctionCallResultFrame,
    LLMTextFrame,
    StartFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from viva.exam.wording import closing_cue
from viva.pipelines.registry import ExamEndParams, live_takes_cues
from viva.processors.exam_frames import (
    CandidateHoldFrame,
    ClosingPhraseFrame,
    ExamCueFrame,
    ExaminerWithheldFrame,
)
from viva.processors.live_link import LiveLinkFrame

if TYPE_CHECKING:
    from viva.pipelines.context import StageContext

OUTPUT_RATE = 24000  # viva's closing plays as the Live model's audio does: 24 kHz 16-bit mono


class ExamEnd:
    """When to end: after the closing phrase, once the examiner's audio has stopped.

    If the examiner never says the closing phrase, the exam still ends at the end of its
    script: once the result is in (called, or spoken in full) and the examiner has been
    quiet for `closing_wait_s` without the phrase, the model is asked to say it ("cue_closing",
    once) and given `cue_wait_s` to begin; only if the phrase is not heard does viva say it
    ("say_closing", once), in the examiner's voice (viva/closing_voice.py). The end follows
    once that audio has played ("closing_from_config"). Whether the model is asked:
    - the link up, after the result: yes. The model has only missed its last line, and its
      own voice is the examiner's; it is not spoken over (while it speaks nothing is
      decided) and a turn that did not hold the phrase is not waited for past the cue's time.
    - the link down after the result: no. A cue would wait for the reconnect, and a
      reconnect would have the model say it again from the start, after a pause the
      candidate may fill: viva says it as soon as the examiner's audio stops.
    - marks said aloud (the examiner withheld in the assessment, viva/processors/marks_gate.py):
      no. The model is saying what the candidate must not hear and may believe it has closed
      the exam; a cue would interrupt the words the result is extracted from. viva says the
      closing at once, then waits for the result (the call, or the withheld words in full)
      for as long as the model goes on, and `result_wait_s` after it falls quiet.
    - cue_wait_s None (cues do not reach this pipeline's model): no.

    Args:
        drain_s: wait this long after the examiner's audio stops (the tail of the words).
        closing_wait_s: quiet after the result before the closing is asked for (or said).
        cue_wait_s: after the cue, how long the phrase is waited for before viva says it; None: no cue.
        result_wait_s: after viva's closing for withheld marks, the model's quiet that ends the wait.
        clock: seconds, monotonic.
    """

    def __init__(self, *, drain_s: float, closing_wait_s: float, result_wait_s: float,
                 cue_wait_s: float | None, clock: Callable[[], float] = time.monotonic):
        self._drain_s = drain_s
        self._closing_wait_s = closing_wait_s
        self._result_wait_s = result_wait_s
        self._cue_wait_s = cue_wait_s
        self._clock = clock
        self.closing_heard = False
        self.result_ready = False
        self.said_closing = False
        self.examiner_speaking = False
        self.link_down = False
        self.examiner_withheld = False
        self.cued_at: float | None = None  # when the model was asked to say the closing
        self._withheld_at = 0.0  # the model's latest withheld words
        self._stopped_at: float | None = None
        self._ready_at: float | None = None

    def on_closing(self) -> None:
        self.closing_heard = True

    def on_result_ready(self) -> None:
        if not self.result_ready:
            self.result_ready, self._ready_at = True, self._clock()

    def on_cue_sent(self) -> None:
        """The model was asked to say the closing phrase: it has cue_wait_s to begin."""
        self.cued_at = self._clock()

    def on_saying_closing(self) -> None:
        """viva is saying the phrase: the end waits for its audio to start and stop."""
        self.said_closing = True
        self._stopped_at = None

    def on_examiner_withheld(self) -> None:
        """Examiner words in the assessment were kept from the candidate (the model goes on)."""
        self.examiner_withheld = True
        self._withheld_at = self._clock()

    def on_link(self, up: bool) -> None:
        self.link_down = not up

    def on_examiner_audio(self, speaking: bool) -> None:
        self.examiner_speaking = speaking
        self._stopped_at = None if speaking else self._clock()

    @property
    def closing_reason(self) -> str:
        """Why viva says the closing itself (for the record), when due() says "say_closing"."""
        if self.examiner_withheld:
            return "marks_withheld"
        if self.link_down:
            return "link_down"
        return "cue_unanswered" if self.cued_at is not None else "not_cued"

    def due(self) -> str | None:
        """What to do now: "closing_phrase" or "closing_from_config" (end), "cue_closing",
        "say_closing", or None."""
        now = self._clock()
        if self.examiner_speaking:
            return None
        quiet_since = max(self._stopped_at or 0.0, self._ready_at or 0.0)
        if (self.closing_heard or self.said_closing) and self._stopped_at is not None:
            if now - self._stopped_at < self._drain_s:
                return None
            if self.closing_heard:
                return "closing_phrase"
            quiet_since = max(self._stopped_at, self._withheld_at)
            if self.result_ready or not self.examiner_withheld or now - quiet_since >= self._result_wait_s:
                return "closing_from_config"
            return None
        if self.said_closing or self.closing_heard:
            return None
        if self.examiner_withheld:
            return "say_closing"
        if not self.result_ready:
            return None
        if self.link_down:
            return "say_closing"
        if self.cued_at is not None:
            # The examiner's last words get their tail before viva speaks after them.
            drained = self._stopped_at is None or now - self._stopped_at >= self._drain_s
            return "say_closing" if now - self.cued_at >= self._cue_wait_s and drained else None
        if now - quiet_since >= self._closing_wait_s:
            return "say_closing" if self._cue_wait_s is None else "cue_closing"
        return None


class ExamEndProcessor(FrameProcessor):
    """Ends the pipeline (gracefully, with EndWorkerFrame) when ExamEnd says so.

    On the way out, a result the model never called for is extracted from the examiner's
    transcript (ToolFallback); the record says where the result came from. A closing the
    model never said is asked for with a cue to the Live service (ExamCueFrame upstream, as
    the exam director's; a `closing_cue` event), then, if still not heard, said by viva
    (`closing_from_config`, with the reason and the seconds of audio). Once viva says it, it
    is the last thing the candidate hears: the model's audio and words after it are dropped.
    From the cue on, nothing the candidate says reaches the model.

    Args:
        params: the stage's: drain_s, closing_wait_s, result_wait_s and cue_wait_s (see ExamEnd;
            with say_closing false, or a model that takes no cues, the model is not asked).
            extraction and say_closing make `fallback` and `say` (see build).
        closing_phrase: from the exam config.
        results: the ResultCollector (its result decides the outcome).
        record: the SessionRecord (told the end reason, outcome, result and fallback).
        takes_cues: whether cues reach the model (registry.live_takes_cues).
        fallback: the ToolFallback (None: no extraction).
        say: (text) -> 24 kHz 16-bit mono PCM of the phrase, or an awaitable of it (ClosingVoice,
            viva/closing_voice.py); it may raise, and the exam then ends without the sound.
            None: nothing is played and the exam ends as if it had been.
        clock, sleep, tick_s: how often ExamEnd is asked, on what clock; injected for tests.
    """

    def __init__(self, params: ExamEndParams, *, closing_phrase: str, results, record, takes_cues: bool,
                 fallback=None, say: Callable[[str], bytes | Awaitable[bytes]] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, tick_s: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self._phrase = closing_phrase
        cue_wait_s = params.cue_wait_s if params.say_closing and takes_cues else None
        self._limits = {"drain_s": params.drain_s, "closing_wait_s": params.closing_wait_s,
                        "result_wait_s": params.result_wait_s, "cue_wait_s": cue_wait_s, "clock": clock}
        self._end: ExamEnd | None = None
        self._results = results
        self._record = record
        self._fallback = fallback
        self._say = say
        self._sleep = sleep
        self._tick_s = tick_s
        self._watch: asyncio.Task | None = None
        self._ended = False
        self._held = False

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        end = self._end
        downstream = direction == FrameDirection.DOWNSTREAM
        if isinstance(frame, StartFrame) and self._watch is None:
            self._end = ExamEnd(**self._limits)  # the session's clock starts with the pipeline
            self._watch = self.create_task(self._watch_loop(), "exam-end")
        elif end is None:
            pass
        elif isinstance(frame, LiveLinkFrame):
            end.on_link(frame.up)
        elif isinstance(frame, ExaminerWithheldFrame):
            if self._fallback is not None:
                self._fallback.on_examiner_text(frame.text)
            end.on_examiner_withheld()
            return  # nothing for the output
        elif isinstance(frame, TTSTextFrame) and downstream:
            if self._fallback is not None:
                self._fallback.on_examiner_text(frame.text)
        elif isinstance(frame, ClosingPhraseFrame) and downstream and not end.said_closing:
            end.on_closing()
            await self._hold_candidate()
        elif isinstance(frame, TTSStoppedFrame) and downstream:
            if self._fallback is not None and not self._results.complete:
                if self._fallback.spoken():
                    end.on_result_ready()  # said aloud in full: the script is over; a call may still win
        elif isinstance(frame, FunctionCallResultFrame) and self._results.complete:
            end.on_result_ready()
        elif isinstance(frame, BotStartedSpeakingFrame) and direction == FrameDirection.UPSTREAM:
            end.on_examiner_audio(True)
        elif isinstance(frame, BotStoppedSpeakingFrame) and direction == FrameDirection.UPSTREAM:
            end.on_examiner_audio(False)
        if end is not None and end.said_closing and downstream and isinstance(
                frame, (TTSAudioRawFrame, TTSTextFrame, LLMTextFrame, TTSStartedFrame, TTSStoppedFrame,
                        ClosingPhraseFrame)):
            return  # the model again, after viva's closing (its own frames are pushed, not processed)
        await self.push_frame(frame, direction)

    async def _watch_loop(self):
        while True:  # until cleanup cancels it (ticking on after the end, as the exam director's does)
            await self._sleep(self._tick_s)
            action = None if self._ended else self._end.due()
            if action == "cue_closing":
                self._end.on_cue_sent()
                await self._cue_closing()
            elif action == "say_closing":
                reason = self._end.closing_reason
                self._end.on_saying_closing()
                await self._say_closing(reason)
            elif action:
                await self._finish(action)

    async def _hold_candidate(self) -> None:
        """The exam is over for the candidate: nothing they say now reaches the model (a reply
        to the closing would interrupt what the model is still doing, the marks it is saying
        and the result still to be had from them)."""
        if not self._held:
            self._held = True
            await self.push_frame(CandidateHoldFrame(hold=True, reason="closing"), FrameDirection.UPSTREAM)

    async def _cue_closing(self) -> None:
        """Asks the model for the phrase at once, through the Live service as the director's cues go."""
        await self._hold_candidate()  # an answer now would be what the model replies to
        text = closing_cue(self._phrase)
        self._record.event("closing_cue", text=text, wait_s=self._limits["cue_wait_s"])
        await self.push_frame(ExamCueFrame(text=text, respond_now=True), FrameDirection.UPSTREAM)

    async def _say_closing(self, reason: str) -> None:
        await self._hold_candidate()
        if self._say is None:  # nothing to play: end as if it had been said
            self._record.event("closing_from_config", text=self._phrase, reason=reason, audio_s=0.0)
            self._end.on_examiner_audio(False)
            return
        try:
            audio = self._say(self._phrase)
            if inspect.isawaitable(audio):
                audio = await audio
        except Exception as e:  # the exam still ends, without the sound
            logger.warning(f"exam end: the closing could not be said: {e}")
            self._record.event("closing_from_config", text=self._phrase, reason=reason, audio_s=0.0,
                               error=str(e)[:300])
            self._end.on_examiner_audio(False)
            return
        # Recorded when it plays, not when it was asked for: the report places the closing here.
        self._record.event("closing_from_config", text=self._phrase, reason=reason,
                           audio_s=round(len(audio) / 2 / OUTPUT_RATE, 2))
        await self.push_frame(TTSStartedFrame())
        await self.push_frame(ClosingPhraseFrame())  # the record counts it as heard, as the model's
        await self.push_frame(TTSTextFrame(text=self._phrase, text_type="sentence"))
        chunk = OUTPUT_RATE * 2 // 25  # 40 ms
        for i in range(0, len(audio), chunk):
            piece = audio[i : i + chunk]
            await self.push_frame(TTSAudioRawFrame(audio=piece, sample_rate=OUTPUT_RATE, num_channels=1))
        await self.push_frame(TTSStoppedFrame())

    async def _finish(self, reason: str) -> None:
        self._ended = True
        if not self._results.complete and self._fallback is not None:
            attempts = await self._fallback.extract()
            for tool in dict.fromkeys(attempt.tool for attempt in attempts):
                tried = [attempt for attempt in attempts if attempt.tool == tool]
                self._record.event("tool_fallback", tool=tool, method=tried[-1].method, valid=tried[-1].valid,
                                   tried=[{"method": a.method, "valid": a.valid, "errors": a.errors[:5]} for a in tried])
            if self._results.complete:
                self._record.set_result(self._results.result(), "transcript_extraction", self._results.marks())
        complete = self._results.complete
        self._record.end(outcome="completed" if complete else "failed", end_reason=reason)
        await self.push_frame(EndWorkerFrame(reason=reason))

    async def cleanup(self):
        await super().cleanup()
        if self._watch is not None:
            await self.cancel_task(self._watch)


def build(params: ExamEndParams, context: StageContext) -> ExamEndProcessor:
    """The `exam_end` stage: its extraction and the voice of the closing viva says from the config's `llm:`."""
    from viva.closing_voice import ClosingVoice
    from viva.processors.tool_fallback import ToolFallback

    fallback = None
    if params.extraction != "none":
        model_extract = context.llm.model_extract(context.config.llm.extraction_model) \
            if params.extraction == "model_then_parser" else None
        fallback = ToolFallback(context.results, model_extract=model_extract)
    llm, target = context.config.llm, context.llm
    say = ClosingVoice(api_key=target.api_key, http_options=target.http_options,
                       model=llm.tts_model, voice=llm.voice, language=llm.language) if params.say_closing else None
    return ExamEndProcessor(params, closing_phrase=context.config.exam.closing_phrase, results=context.results,
                            record=context.record, takes_cues=live_takes_cues(context.config), fallback=fallback,
                            say=say)
