import wave
from pathlib import Path

import pytest
from loguru import logger

from emulator.server import EmulatorServer
from emulator.session import SessionSettings
from emulator.voice import ExaminerVoice
from viva.config import load_config

ROOT = Path(__file__).resolve().parent.parent
AUDIO = ROOT / "audio"
DATA = Path(__file__).resolve().parent / "data"


def read_pcm(name: str) -> bytes:
    """16-bit mono PCM of a corpus file (all of them are 16 kHz mono)."""
    with wave.open(str(AUDIO / name)) as wav:
        assert wav.getframerate() == 16000 and wav.getnchannels() == 1
        return wav.readframes(wav.getnframes())


@pytest.fixture
def exam():
    return load_config(DATA / "two_questions.yaml").exam


def fast_settings(**overrides) -> SessionSettings:
    """Examiner audio streamed quickly and turns completed at once: protocol tests, not timing."""
    values = dict(voice=ExaminerVoice(), pace=20.0, hold_turn_complete=False, validate_outgoing=True)
    values.update(overrides)
    return SessionSettings(**values)


@pytest.fixture
async def emulator(exam, tmp_path):
    async with EmulatorServer(log_dir=tmp_path / "logs", settings=fast_settings()) as server:
        yield server


@pytest.fixture
def warnings_logged():
    """The messages viva logs at WARNING and above while the test runs."""
    messages: list[str] = []
    handler = logger.add(lambda message: messages.append(message.record["message"]), level="WARNING")
    yield messages
    logger.remove(handler)
