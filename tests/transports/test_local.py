"""`viva run --transport local` on a PulseAudio null sink: real speech played into a virtual
microphone as the examiner finishes each turn, the examiner recorded from the loudspeaker
sink's monitor, and a completed session record.

PyAudio reaches PulseAudio the way it does on a desktop: PortAudio, ALSA's default
device, ALSA's pulse plugin. A private PulseAudio server (its own runtime folder) stands
in for the sound card: `examiner_out` is the loudspeaker, `candidate_mic`'s monitor the
microphone.
"""

import json
import os
import shutil
import subprocess
import sys
import time
import wave

import numpy as np
import pytest

from tests.conftest import ROOT

# The shortest whole exam: what is tested is the sound card's way in and out, not the exam.
TINY = "tests/data/configs/ielts_tiny.yaml"
ANSWERS = ["audio/speech__librivox_sense_and_sensibility_0870.wav"]


@pytest.fixture
def pulse(tmp_path):
    """A private PulseAudio server with a loudspeaker sink and a microphone; the environment to reach it."""
    assert shutil.which("pulseaudio"), "PulseAudio is installed by scripts/setup.sh"
    home = tmp_path / "pulse"
    env = {**os.environ, "HOME": str(home), "PULSE_RUNTIME_PATH": str(home / "run"),
           "PULSE_STATE_PATH": str(home / "state"), "XDG_RUNTIME_DIR": str(home / "run")}
    env.pop("PULSE_SERVER", None)
    home.mkdir()
    subprocess.run(["pulseaudio", "--daemonize=yes", "--exit-idle-time=-1", "-n",
                    "--load=module-native-protocol-unix", "--load=module-null-sink sink_name=examiner_out",
                    "--load=module-null-sink sink_name=candidate_mic"], env=env, check=True, capture_output=True)
    for _ in range(50):
        if subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0:
            break
        time.sleep(0.1)
    subprocess.run(["pactl", "set-default-sink", "examiner_out"], env=env, check=True)
    subprocess.run(["pactl", "set-default-source", "candidate_mic.monitor"], env=env, check=True)
    yield env
    subprocess.run(["pulseaudio", "--kill"], env=env, capture_output=True)


def events(out) -> list[dict]:
    records = list(out.glob("*/session.json")) if out.exists() else []
    if not records:
        return []
    try:
        return json.loads(records[0].read_text())["events"]
    except (json.JSONDecodeError, KeyError):  # written as we read it
        return []


def test_an_exam_on_the_desktops_sound_card(pulse, tmp_path):
    out = tmp_path / "sessions"
    heard = tmp_path / "examiner.wav"
    recorder = subprocess.Popen(["parecord", "--device=examiner_out.monitor", "--rate=16000", "--channels=1",
                                 "--format=s16le", "--file-format=wav", str(heard)], env=pulse)
    viva = subprocess.Popen([sys.executable, "-m", "viva.cli", "run", TINY, "--transport", "local", "--llm",
                             "emulator", "--out", str(out)], cwd=ROOT, env=pulse,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    answered = 0
    try:
        deadline = time.monotonic() + 150
        while viva.poll() is None and time.monotonic() < deadline:
            turns_heard = sum(1 for e in events(out) if e["type"] == "examiner_audio_end")
            if turns_heard > answered and answered < len(ANSWERS):
                time.sleep(0.8)  # the candidate's reply delay
                subprocess.run(["paplay", "--device=candidate_mic", str(ROOT / ANSWERS[answered])], env=pulse,
                               check=True)
                answered += 1
            time.sleep(0.2)
        stdout, stderr = viva.communicate(timeout=30)
    finally:
        viva.kill()
        recorder.terminate()
        recorder.wait(timeout=10)
    assert viva.returncode == 0, stderr[-3000:]
    (record,) = out.glob("*/session.json")
    data = json.loads(record.read_text())
    assert data["outcome"] == "completed" and data["result_source"] == "tool_call", data["end_reason"]
    assert data["transcript"][-1]["text"] == "Thank you. That is the end of the Speaking test."
    windows = [json.loads(line) for line in (record.parent / "emulator.jsonl").read_text().splitlines()]
    windows = [e for e in windows if e["kind"] == "window"]
    assert len(windows) == 1 and all(w["speech"] for w in windows)  # the answer, whole, through the microphone
    with wave.open(str(heard)) as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.float64)
    second = 16000
    loud_seconds = sum(1 for i in range(0, len(samples) - second, second)
                       if np.sqrt(np.mean(samples[i : i + second] ** 2)) > 300)
    assert loud_seconds >= 5  # the examiner's turns came out of the loudspeaker
