"""The examiner's voice for the closing viva says itself, when the model never does.

It is Pipecat's GeminiTTSService with the google-genai client (`api_key` and
`http_options`): the Gemini API's generateContent with AUDIO out, sent to the session's
target, so a session against the emulator sends the emulator the same request. The voice
is the Live model's where Gemini TTS has it (the two share their prebuilt voices' names),
so the closing sounds like the examiner who said everything before it.

One phrase is wanted, once, outside the pipeline's text flow: a TTS service in the
pipeline would also speak every transcript the Live service emits. So the service is not
linked into the pipeline: for the phrase it is set up, its `run_tts` generator is read for
the audio and it is stopped (which closes its client).
"""

from __future__ import annotations

import asyncio

from google.genai import types
from loguru import logger
from pipecat.clocks.system_clock import SystemClock
from pipecat.frames.frames import EndFrame, ErrorFrame, TTSAudioRawFrame
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.services.google.tts import GeminiTTSService
from pipecat.utils.asyncio.task_manager import TaskManager

OUTPUT_RATE = 24000  # the Live model's audio: viva's closing plays as its own would
DEFAULT_VOICE = "Kore"  # GeminiTTSService's own default, for a Live voice Gemini TTS does not have


class ClosingVoiceError(Exception):
    """The TTS service gave no audio for the phrase (its error says why)."""


def tts_voice(live_voice: str) -> str:
    """The Gemini TTS voice for the Live model's: the same name where TTS has it, else DEFAULT_VOICE."""
    return live_voice if live_voice in GeminiTTSService.AVAILABLE_VOICES else DEFAULT_VOICE


class ClosingVoice:
    """Says a phrase in the examiner's voice: `await voice(text)` is 24 kHz 16-bit mono PCM.

    Args:
        api_key, http_options: the session's target (LLMTarget: its REST options where the
            emulator serves REST apart).
        model: the Gemini API TTS model (config llm.tts_model).
        voice: the Live model's voice (config llm.voice); see tts_voice().
        language: BCP-47, the Live model's.
        timeout_s: a phrase not had by then is given up (ClosingVoiceError).
    """

    def __init__(self, *, api_key: str, http_options: types.HttpOptions | None, model: str, voice: str,
                 language: str, timeout_s: float = 20.0):
        self._api_key = api_key
        self._http_options = http_options
        self.model = model
        self.voice = tts_voice(voice)
        self._language = language
        self._timeout_s = timeout_s

    async def __call__(self, text: str) -> bytes:
        """The phrase's audio; raises ClosingVoiceError when the service gives none."""
        # sample_rate: the service resamples to it whatever it gets (a WAV at another rate).
        service = GeminiTTSService(
            api_key=self._api_key, http_options=self._http_options, sample_rate=OUTPUT_RATE,
            settings=GeminiTTSService.Settings(model=self.model, voice=self.voice, language=self._language))
        # Outside a pipeline: no worker, no metrics; the clock and task manager are its own.
        await service.setup(FrameProcessorSetup(clock=SystemClock(), task_manager=TaskManager(),
                                                pipeline_worker=None, audio_out_sample_rate=OUTPUT_RATE))
        try:
            async with asyncio.timeout(self._timeout_s):
                audio = await self._synthesize(service, text)
        except TimeoutError:
            raise ClosingVoiceError(f"no audio from {self.model} within {self._timeout_s:g} s") from None
        finally:
            await service.stop(EndFrame())
            await service.cleanup()
        logger.info(f"closing voice: {len(audio) / 2 / OUTPUT_RATE:.1f} s from {self.model} ({self.voice})")
        return audio

    @staticmethod
    async def _synthesize(service: GeminiTTSService, text: str) -> bytes:
        audio = bytearray()
        async for frame in service.run_tts(text, service.create_context_id()):
            if isinstance(frame, ErrorFrame):
                raise ClosingVoiceError(frame.error)
            if isinstance(frame, TTSAudioRawFrame):
                audio += frame.audio
        if not audio:
            raise ClosingVoiceError("the TTS service answered without audio")
        return bytes(audio)
