"""The viva command line: `viva emulator` serving unmodified clients, `viva validate`, bad input."""

import json
import re
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from emulator.script import IMPROVISED_LINES
from tests.conftest import DATA, ROOT

VIVA = [sys.executable, "-m", "viva.cli"]


def run_viva(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*VIVA, *map(str, args)], capture_output=True, text=True, timeout=60, cwd=ROOT, **kwargs)


def test_emulator_serves_an_unmodified_client_through_environment_variables(tmp_path):
    process = subprocess.Popen(
        [*VIVA, "emulator", "--port", "0", "--log-dir", tmp_path / "logs"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )
    try:
        banner = [process.stdout.readline() for _ in range(5)]
        exports = next(line for line in banner if "export " in line).split("export ", 1)[1].split()
        environment = dict(item.split("=", 1) for item in exports)
        assert environment["GOOGLE_GEMINI_BASE_URL"].startswith("https://localhost:")
        assert os.path.exists(environment["SSL_CERT_FILE"])
        client = textwrap.dedent("""
            import asyncio
            from google import genai
            from google.genai import types

            async def main():
                client = genai.Client(api_key="any")   # no base_url, no ssl: all from the environment
                config = types.LiveConnectConfig(response_modalities=["AUDIO"],
                    output_audio_transcription=types.AudioTranscriptionConfig())
                async with client.aio.live.connect(model="gemini-3.1-flash-live-preview", config=config) as s:
                    await s.send_realtime_input(text="Hello")
                    text = ""
                    async for m in s.receive():
                        if m.server_content and m.server_content.output_transcription:
                            text += m.server_content.output_transcription.text
                    print(text.strip())
            asyncio.run(main())
        """)
        result = subprocess.run([sys.executable, "-c", client], capture_output=True, text=True, timeout=60,
                                env={**os.environ, **environment})
        assert result.returncode == 0, result.stderr
        # The client told the model no script: it improvises, as the emulator is given no exam.
        assert result.stdout.strip() == IMPROVISED_LINES[0]
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert "Traceback" not in stderr
    logs = list((tmp_path / "logs").glob("*/emulator.jsonl"))
    assert len(logs) == 1
    kinds = [json.loads(line)["kind"] for line in logs[0].read_text().splitlines()]
    assert kinds[:3] == ["connect", "setup", "setup_complete"] and "speak" in kinds


def _started_emulator(tmp_path, **popen) -> subprocess.Popen:
    process = subprocess.Popen([*VIVA, "emulator", "--port", "0", "--log-dir", tmp_path / "logs"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, **popen)
    while "Ctrl-C stops" not in (line := process.stdout.readline()):
        assert line, process.communicate(timeout=20)[1]
    return process


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("signum, popen", [
    (signal.SIGTERM, {}),
    # As a non-interactive shell starts a background job: Python installs no Ctrl-C handler then.
    (signal.SIGINT, {"preexec_fn": _ignore_sigint}),
], ids=["sigterm", "sigint-inherited-ignored"])
def test_the_emulator_stops_cleanly_on_a_stop_signal(tmp_path, signum, popen):
    process = _started_emulator(tmp_path, **popen)
    process.send_signal(signum)
    try:
        _, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"viva emulator still ran 30 s after signal {signum}")
    assert process.returncode == 0, stderr


def test_validate_accepts_the_shipped_configs():
    result = run_viva("validate", "configs/ielts_speaking.yaml", DATA / "two_questions.yaml")
    assert result.returncode == 0, result.stderr


def test_validate_checks_candidate_files_without_a_session(tmp_path):
    shipped = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "candidates").glob("*.yaml"))
    result = run_viva("validate", *[arg for path in shipped for arg in ("--candidate", path)])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{path}: ok" for path in shipped]
    (tmp_path / "c.yaml").write_text("name: c\nanswers:\n  - say: hi\n    silence_s: 1\n")
    result = run_viva("validate", "--candidate", tmp_path / "c.yaml")
    assert result.returncode == 2 and re.fullmatch(r"viva: .*c.yaml:3: answers\[0\]: .*\n", result.stderr)
    assert run_viva("validate").stderr == "viva: validate: expected a config, or --candidate FILE\n"



BAD_CONFIGS = {
    "broken_yaml": ("exam:\n  name: [unclosed\n", r"broken_yaml.yaml:\d+: invalid YAML"),
    "unknown_key": ("exam:\n  name: x\n  greeting: g\n  system_prompt: s\n  closing_phrase: c\n"
                    "  parts: [{name: p, questions: [q]}]\n  colour: red\n",
                    r"unknown_key.yaml:7: exam.colour: unknown key; expected one of: name, greeting"),
    "bad_value": ("exam:\n  name: x\n  greeting: g\n  system_prompt: s\n  closing_phrase: c\n"
                  "  parts: [{name: p, prep_s: -3}]\n",
                  r"bad_value.yaml:6: exam.parts\[0\].prep_s: Input should be greater than or equal to 0"),
    "bad_schema": ("exam:\n  name: x\n  greeting: g\n  system_prompt: s\n  closing_phrase: c\n"
                   "  parts: [{name: p}]\n  tools:\n    - name: t\n      description: d\n"
                   "      parameters: {type: object, properties: {a: {type: 12}}}\n",
                   r"bad_schema.yaml:10: exam.tools\[0\].parameters: not a valid JSON schema"),
    "not_a_mapping": ("- just\n- a list\n", r"not_a_mapping.yaml:1: expected a mapping"),
    # Past the reader's limits: each was gigabytes and a MemoryError, or a traceback.
    "alias_bomb": ((DATA / "alias_bomb.yaml").read_text(), r"alias_bomb.yaml:6: aliases expand past 100000 values$"),
    "deep_nesting": ("exam: " + "[" * 5000 + "]" * 5000 + "\n", r"deep_nesting.yaml:1: nesting deeper than 64$"),
    "huge_integer": ("exam:\n  name: " + "1" * 5000 + "\n", r"huge_integer.yaml:2: not a valid int: more than 4300 digits$"),
}


@pytest.mark.parametrize("name", BAD_CONFIGS)
def test_a_bad_config_gets_one_line_and_exit_2(tmp_path, name):
    import re

    text, expected = BAD_CONFIGS[name]
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    result = run_viva("validate", path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(expected, lines[0]), result.stderr


def test_a_missing_config_gets_one_line_and_exit_2(tmp_path):
    result = run_viva("validate", tmp_path / "nowhere.yaml")
    assert result.returncode == 2
    assert result.stderr.strip() == f"viva: {tmp_path / 'nowhere.yaml'}: no such file"


def test_validate_refuses_what_is_no_regular_file_and_names_too_long_in_one_line(tmp_path):
    os.mkfifo(tmp_path / "fifo.yaml")  # hung, waiting for a writer
    (tmp_path / "zero.yaml").write_text("extends: /dev/zero\n")  # grew to 12.9 GB in 30 s
    long_name = "a" * 300 + ".yaml"
    (tmp_path / "long.yaml").write_text(f"extends: {long_name}\n")  # an OSError traceback
    special = "not a regular file (a device, FIFO or socket); expected a file"
    for name, expected in [("fifo.yaml", f": {special}"), ("zero.yaml", f":1: extends: /dev/zero: {special}"),
                           ("long.yaml", f":1: extends: {long_name}: cannot read: File name too long")]:
        result = run_viva("validate", tmp_path / name)
        assert result.returncode == 2, result.stderr
        assert result.stderr.splitlines() == [f"viva: {tmp_path / name}{expected}"]


def test_report_renders_a_record_again_and_refuses_a_folder_without_one(tmp_path):
    from viva.record import SessionRecord

    record = SessionRecord(directory=tmp_path / "s1", session_id="s1", config="c.yaml", exam="Exam <1>", llm="emulator")
    record.event("activity_start")
    record.finish()
    result = run_viva("report", tmp_path / "s1")
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "s1" / "report.html").read_text()
    assert "Exam &lt;1&gt;" in page and "<svg" in page
    (tmp_path / "empty").mkdir()
    missing = run_viva("report", tmp_path / "empty")
    assert missing.returncode == 2 and "no session records" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args, expected", [
    (["--port", "99999"], "viva: --port 99999: expected a port number from 0 to 65535 (0: any free port)"),
    (["--port", "-1"], "viva: --port -1: expected a port number from 0 to 65535 (0: any free port)"),
    (["--lifetime-s", "0"], "viva: --lifetime-s 0.0: expected a number of seconds above 0"),
])
def test_bad_emulator_options_get_one_line_and_exit_2(args, expected):
    result = run_viva("emulator", *args)
    assert result.returncode == 2
    assert result.stderr.strip() == expected
