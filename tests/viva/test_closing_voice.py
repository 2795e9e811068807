"""The examiner's voice for the closing viva says itself: Pipecat's GeminiTTSService on the
session's target (here the emulator, which serves the same request), and the exam end stage
that asks the model first."""

import pytest
from pipecat.services.google.tts import GeminiTTSService

from emulator.voice import ExaminerVoice
from tests.conftest import ROOT
from viva.closing_voice import DEFAULT_VOICE, ClosingVoice, ClosingVoiceError, tts_voice
from viva.config import load_config
from viva.pipelines.context import LLMTarget, StageContext
from viva.pipelines.registry import build_stage
from viva.record import SessionRecord
from viva.results import ResultCollector

SHORT = ROOT / "configs/ielts_speaking_short.yaml"
PHRASE = load_config(SHORT).exam.closing_phrase


def voice_for(emulator, *, model: str = "gemini-3.8-flash-tts", voice: str = "Charon") -> ClosingVoice:
    return ClosingVoice(api_key="k", http_options=emulator.http_options(), model=model, voice=voice,
                        language="en-GB")


def test_the_live_voice_is_the_tts_voice_where_gemini_tts_has_it():
    assert tts_voice("Charon") == "Charon" and tts_voice("Puck") == "Puck"
    assert tts_voice("Marvin") == DEFAULT_VOICE and DEFAULT_VOICE in GeminiTTSService.AVAILABLE_VOICES


async def test_the_closing_is_said_in_the_examiners_voice_through_the_target(emulator):
    audio = await voice_for(emulator)(PHRASE)
    assert audio == await ExaminerVoice().synthesize(PHRASE)  # 24 kHz 16-bit mono, as the Live model's


async def test_a_live_voice_tts_does_not_have_is_said_in_the_default_one(emulator):
    voice = voice_for(emulator, voice="Marvin")  # the emulator refuses a voice it does not know
    assert voice.voice == DEFAULT_VOICE and len(await voice(PHRASE)) > 24000 * 2


async def test_a_refused_request_is_an_error_not_silence(emulator):
    with pytest.raises(ClosingVoiceError, match="404 NOT_FOUND"):
        await voice_for(emulator, model="gemini-2.5-flash-tts")(PHRASE)  # Cloud TTS's name, not the Gemini API's


def stage_context(config, emulator, tmp_path) -> StageContext:
    target = LLMTarget(kind="emulator", api_key="k", http_options=emulator.http_options())
    record = SessionRecord(directory=tmp_path, session_id="s", config="c", exam="e", llm="emulator")
    return StageContext(config=config, record=record, results=ResultCollector(tools=config.exam.tools), llm=target)


async def test_the_exam_end_stage_cues_first_and_speaks_through_the_sessions_target(emulator, tmp_path):
    config = load_config(SHORT)
    (spec,) = [s for s in config.stages if s.name == "exam_end"]
    processor = build_stage("exam_end", spec.params, stage_context(config, emulator, tmp_path))
    assert processor._limits["cue_wait_s"] == spec.params.cue_wait_s
    voice = processor._say
    assert isinstance(voice, ClosingVoice)
    assert (voice.model, voice.voice) == (config.llm.tts_model, config.llm.voice)
    assert await voice(PHRASE) == await ExaminerVoice().synthesize(PHRASE)  # the target's REST port


async def test_without_viva_s_live_service_the_model_is_not_cued(emulator, tmp_path):
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "plain.yaml").write_text(
        f"extends: {SHORT}\npipeline:\n  - stage: silero_vad\n  - stage: turn_gate\n"
        "  - stage: gemini_live\n    resilient: false\n  - stage: exam_end\n")
    config = load_config(folder / "plain.yaml")
    (spec,) = [s for s in config.stages if s.name == "exam_end"]
    processor = build_stage("exam_end", spec.params, stage_context(config, emulator, tmp_path))
    assert processor._limits["cue_wait_s"] is None and isinstance(processor._say, ClosingVoice)
