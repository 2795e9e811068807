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


def _background_modules(items) -> list:
    """The test modules that start work in the background (a `start_in_background` function)."""
    modules = {getattr(item, "module", None) for item in items}
    return sorted((m for m in modules if hasattr(m, "start_in_background")), key=lambda m: m.__name__)


def pytest_collection_modifyitems(items):
    """The tests of a module that works in the background run last: the rest of the run overlaps
    its work (real-time simulated sessions, which wait on the clock more than on the CPU)."""
    background = {module.__name__ for module in _background_modules(items)}
    items.sort(key=lambda item: getattr(getattr(item, "module", None), "__name__", None) in background)


@pytest.fixture(scope="session", autouse=True)
def background_sessions(request, tmp_path_factory):
    """{module name: what its start_in_background returned}, started before the first test.

    The tests go on beside that work at the same priority: niced below it, the tests that run an
    exam in real time themselves (a desktop sound card, a browser) starved on a busy machine."""
    started = {module.__name__: module.start_in_background(tmp_path_factory)
               for module in _background_modules(request.session.items)}
    yield started
    for work in started.values():
        work.close()


@pytest.fixture
def warnings_logged():
    """The messages viva logs at WARNING and above while the test runs."""
    messages: list[str] = []
    handler = logger.add(lambda message: messages.append(message.record["message"]), level="WARNING")
    yield messages
    logger.remove(handler)
