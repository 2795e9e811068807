"""Every bad input to `viva simulate` is one clear line on stderr and exit code 2."""

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from viva.errors import BadInput

SHORT = str(ROOT / "configs/ielts_speaking_short.yaml")
CANDIDATE = str(ROOT / "candidates/b2_steady.yaml")


def simulate(*args, env=None):
    return subprocess.run([sys.executable, "-m", "viva.cli", "simulate", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env=env)


def one_line_exit_2(result, pattern):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert re.search(pattern, lines[0]), lines[0]


@pytest.mark.parametrize("text, pattern", [
    ("exam: [broken\n", r"c.yaml:2: invalid YAML"),
    ("extends: {short}\nexam:\n  colour: red\n", r"c.yaml:3: exam.colour: unknown key"),
    ("extends: {short}\npipeline:\n  - stage: silero_vad\n  - stage: shouting_gate\n",
     r"c.yaml:4: pipeline\[1\].stage: unknown stage 'shouting_gate'"),
])
def test_bad_configs(tmp_path, text, pattern):
    (tmp_path / "c.yaml").write_text(text.format(short=SHORT))
    one_line_exit_2(simulate(tmp_path / "c.yaml", "--candidate", CANDIDATE, "--out", tmp_path), pattern)


@pytest.mark.parametrize("wav, pattern", [
    (None, r"c.yaml:3: answers\[0\].audio: .*answer.wav: no such file"),
    (b"RIFF\x10\x00\x00\x00WAVEjunkjunk", r"c.yaml:3: answers\[0\].audio: .*answer.wav: not a readable PCM WAV"),
    (b"", r"c.yaml:3: answers\[0\].audio: .*answer.wav: not a readable PCM WAV"),
])
def test_missing_or_corrupt_wavs(tmp_path, wav, pattern):
    if wav is not None:
        (tmp_path / "answer.wav").write_bytes(wav)
    (tmp_path / "c.yaml").write_text("name: c\nanswers:\n  - audio: answer.wav\n")
    one_line_exit_2(simulate(SHORT, "--candidate", tmp_path / "c.yaml", "--out", tmp_path), pattern)


@pytest.mark.parametrize("bad", ["config", "candidate", "faults"])
def test_each_file_simulate_reads_is_read_within_limits(tmp_path, bad):
    """The three files share the bounded reader: an alias bomb, a FIFO, /dev/zero are one line each."""
    (tmp_path / "bomb.yaml").write_text("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcde", "bcdef")))  # 10^6 values
    os.mkfifo(tmp_path / "fifo.yaml")
    files = {"config": SHORT, "candidate": CANDIDATE, "faults": ROOT / "faults/stall.yaml"}
    files[bad], pattern = {
        "config": (tmp_path / "bomb.yaml", r"bomb.yaml:5: aliases expand past 100000 values$"),
        "candidate": (tmp_path / "fifo.yaml", r"fifo.yaml: not a regular file \(a device, FIFO or socket\)"),
        "faults": ("/dev/zero", r"^viva: /dev/zero: not a regular file"),
    }[bad]
    if bad == "faults" and not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    one_line_exit_2(simulate(files["config"], "--candidate", files["candidate"], "--faults", files["faults"],
                             "--out", tmp_path), pattern)


def test_a_missing_candidate_file(tmp_path):
    one_line_exit_2(simulate(SHORT, "--candidate", tmp_path / "nobody.yaml", "--out", tmp_path),
                    r"nobody.yaml: no such file")


def test_gemini_without_a_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("GOOGLE_API_KEY", "GEMINI_API_KEY")}
    one_line_exit_2(simulate(SHORT, "--candidate", CANDIDATE, "--llm", "gemini", "--out", tmp_path, env=env),
                    r"--llm gemini needs an API key: set GOOGLE_API_KEY")
    assert not any(tmp_path.iterdir())  # nothing started, nothing written


def test_run_local_without_a_sound_card_says_so_in_one_line(tmp_path):
    # No sound card here, and no PulseAudio server to stand in for one.
    env = {**os.environ, "PULSE_SERVER": f"unix:{tmp_path}/no-such-server"}
    result = subprocess.run([sys.executable, "-m", "viva.cli", "run", SHORT, "--transport", "local", "--llm",
                             "emulator", "--out", str(tmp_path / "out")], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    one_line_exit_2(result, r"--transport local: no audio input \(microphone\) device found")
    assert not (tmp_path / "out").exists()  # nothing started, nothing written


def test_a_bad_faults_file(tmp_path):
    (tmp_path / "f.yaml").write_text("seed: 1\nfaults:\n  - kind: stall\n    turn: [2]\n")
    one_line_exit_2(simulate(SHORT, "--candidate", CANDIDATE, "--faults", tmp_path / "f.yaml", "--out", tmp_path),
                    r"f.yaml:4: faults\[0\].turn: unknown key; expected one of: kind, turns")


def test_faults_need_the_emulator(tmp_path):
    env = {**os.environ, "GOOGLE_API_KEY": "not-used"}
    one_line_exit_2(simulate(SHORT, "--candidate", CANDIDATE, "--faults", ROOT / "faults/stall.yaml",
                             "--llm", "gemini", "--out", tmp_path, env=env),
                    r"--faults: the real API cannot be made to misbehave")


def test_every_shipped_faults_file_and_candidate_loads():
    from viva.harness.faults import load_faults
    from viva.harness.candidate import load_candidate

    assert len(list((ROOT / "faults").glob("*.yaml"))) >= 11
    for path in (ROOT / "faults").glob("*.yaml"):
        load_faults(path)
    for path in (ROOT / "candidates").glob("*.yaml"):
        assert load_candidate(path).answers


@pytest.mark.parametrize("key, value", [("at_s", ".inf"), ("at_s", "1e300"), ("time_left_s", ".nan")])
def test_a_fault_time_that_could_never_come_is_one_line(tmp_path, key, value):
    # Before, .inf and 1e300 validated and reached asyncio.sleep / int() in the emulator.
    from viva.harness.faults import load_faults

    (tmp_path / "f.yaml").write_text(f"faults:\n  - kind: go_away\n    at_s: 5\n    {key}: {value}\n".replace(
        "at_s: 5\n    at_s", "at_s"))
    with pytest.raises(BadInput, match=rf"f.yaml:\d: faults\[0\].{key}: "):
        load_faults(tmp_path / "f.yaml")
