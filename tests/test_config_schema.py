"""The config's JSON Schema (viva/config_schema.py): generated from the models, committed for
editors, accepting every real config and refusing the structural mistakes viva refuses, and an
editor's YAML language server, given it, reports what `viva validate` reports."""

import json
import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

import jsonschema
import pytest
import yaml
from jsonschema.exceptions import best_match

from tests.conftest import DATA, ROOT
from viva.config import load_config
from viva.config_schema import REGENERATE, SCHEMA_FILE, config_schema, schema_text
from viva.errors import BadInput
from viva.input_files import format_key_path

SHIPPED = sorted((ROOT / "configs").glob("*.yaml"))
MODELINE = f"# yaml-language-server: $schema=../{SCHEMA_FILE.as_posix()}"
SHORT = ROOT / "configs/ielts_speaking_short.yaml"


def test_the_committed_schema_is_the_one_the_code_generates():
    committed = (ROOT / SCHEMA_FILE).read_text()
    assert committed == schema_text(), f"{SCHEMA_FILE} is out of date: regenerate it with `{REGENERATE}`"


def test_viva_schema_prints_it():
    done = subprocess.run([sys.executable, "-m", "viva.cli", "schema"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == config_schema()


def test_it_is_a_valid_schema_with_every_stage_in_it():
    jsonschema.Draft202012Validator.check_schema(config_schema())
    stages = config_schema()["properties"]["pipeline"]["items"]["discriminator"]["mapping"]
    from viva.pipelines.registry import STAGES

    assert sorted(stages) == sorted(STAGES)


def test_every_shipped_config_names_the_schema_in_its_first_line():
    assert len(SHIPPED) >= 10
    for path in SHIPPED:
        assert path.read_text().splitlines()[0] == MODELINE, path
        assert (path.parent / MODELINE.partition("$schema=")[2]).resolve() == (ROOT / SCHEMA_FILE).resolve()


def schema_errors(text: str) -> list[jsonschema.ValidationError]:
    return list(jsonschema.Draft202012Validator(config_schema()).iter_errors(yaml.safe_load(text)))


VALID = [*SHIPPED, *sorted((DATA / "configs").glob("*.yaml")), DATA / "two_questions.yaml"]


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_it_accepts_every_real_config(path):
    load_config(path)  # valid as viva reads it (with what it extends)
    assert [error.message for error in schema_errors(path.read_text())] == []


EXTENDS = f"extends: {SHORT}\n"
# The structural mistakes of the suite's bad configs (tests/test_cli.py, tests/test_simulate_bad_input.py,
# tests/viva/test_config.py): an unknown key, a wrong type or value, a missing key. Those only code
# can find (a part leading nowhere, a tool's parameters that are no JSON Schema) are viva validate's.
FULL_EXAM = "exam:\n  name: x\n  greeting: g\n  system_prompt: s\n  closing_phrase: c\n"
REFUSED = {
    "unknown key": FULL_EXAM + "  parts: [{name: p, questions: [q]}]\n  colour: red\n",
    "value below its minimum": FULL_EXAM + "  parts: [{name: p, prep_s: -3, cue_card: {topic: t}}]\n",
    "not a mapping": "- just\n- a list\n",
    "unknown key in a file that extends": EXTENDS + "exam:\n  colour: red\n",
    "unknown stage": EXTENDS + "pipeline:\n  - stage: silero_vad\n  - stage: shouting_gate\n",
    "unknown stage parameter": EXTENDS + "pipeline:\n  - stage: turn_gate\n    pre_roll: 1\n",
    "stage parameter out of range": EXTENDS + "pipeline:\n  - stage: silero_vad\n    confidence: 3\n",
    "stage without a name": EXTENDS + "pipeline:\n  - {preroll_s: 1}\n",
    "part override not a choice": EXTENDS + "pipeline:\n  - stage: turn_gate\n    parts:\n      Part 2: "
                                            "{end_of_turn: ai}\n",
    "value not matching its pattern": EXTENDS + "llm:\n  thinking_level: extreme\n",
    "missing required key": "exam:\n  name: x\n  greeting: g\n  system_prompt: s\n  parts: [{name: p}]\n",
    "missing key in a list item of a file that extends": EXTENDS + "exam:\n  parts: [{questions: [q]}]\n",
    "wrong type": EXTENDS + "session:\n  max_s: soon\n",
}


@pytest.mark.parametrize("mistake", REFUSED)
def test_it_refuses_the_structural_mistakes_viva_refuses(tmp_path, mistake):
    (tmp_path / "c.yaml").write_text(REFUSED[mistake])
    with pytest.raises(BadInput) as refused:
        load_config(tmp_path / "c.yaml")
    errors = schema_errors(REFUSED[mistake])
    assert errors, mistake
    # The schema's finding is at the key viva names, or at the mapping or list entry holding it.
    where = best_match(errors).absolute_path
    assert not where or f": {format_key_path(tuple(where))}" in str(refused.value), (str(refused.value), where)


def test_a_file_that_extends_may_leave_out_what_its_base_gives():
    assert schema_errors("exam:\n  name: x\n")  # without extends, the exam needs all its keys
    assert schema_errors(EXTENDS + "exam:\n  name: x\n") == []
    assert schema_errors(EXTENDS + "llm: {voice: Puck}\n") == []


# -- an editor's view: yaml-language-server, given the schema by the configs' first line


SERVER = ROOT / "node_modules/.bin/yaml-language-server"
WAIT_S = 60.0  # generous: node starts, reads the schema, validates; each wait ends at the message


class LanguageServer:
    """yaml-language-server over stdio: JSON-RPC messages framed by Content-Length headers."""

    def __init__(self, log: Path):
        self.log = log
        self._log = log.open("wb")
        self.process = subprocess.Popen([str(SERVER), "--stdio"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self._log, cwd=ROOT)
        self._inbox: queue.Queue = queue.Queue()
        self._next_id = 0
        self._diagnostics: dict[str, list] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.process.stdout
        while True:
            headers = {}
            while (line := stream.readline().decode().strip()):
                name, _, value = line.partition(":")
                headers[name.lower()] = value.strip()
            if not headers:
                self._inbox.put(None)  # the server has gone
                return
            self._inbox.put(json.loads(stream.read(int(headers["content-length"]))))

    def _send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        self.process.stdin.flush()

    def notify(self, method: str, params: dict) -> None:
        self._send({"method": method, "params": params})

    def request(self, method: str, params: dict | None) -> object:
        self._next_id += 1
        self._send({"id": self._next_id, "method": method, "params": params})
        answer = self._until(lambda m: m.get("id") == self._next_id and "method" not in m, method)
        return answer.get("result")

    def diagnostics(self, uri: str) -> list[dict]:
        """The first diagnostics the server publishes for uri."""
        self._until(lambda m: uri in self._diagnostics, f"diagnostics of {uri}")
        return self._diagnostics[uri]

    def _until(self, done, what: str) -> dict:
        """Messages taken as they come (the server's requests answered, diagnostics kept) until done(message)."""
        message: dict = {}
        while not done(message):
            try:
                message = self._inbox.get(timeout=WAIT_S)
            except queue.Empty:
                raise AssertionError(f"yaml-language-server: no {what} within {WAIT_S:g} s (its stderr: "
                                     f"{self.log})") from None
            assert message is not None, f"yaml-language-server exited ({self.process.wait()}); its stderr: {self.log}"
            if message.get("method") == "textDocument/publishDiagnostics":
                self._diagnostics.setdefault(message["params"]["uri"], message["params"]["diagnostics"])
            elif "method" in message and "id" in message:
                self._answer(message)
        return message

    def _answer(self, request: dict) -> None:
        # workspace/configuration: one settings object per section asked; validation on.
        if request["method"] == "workspace/configuration":
            result = [{"validate": True} if item.get("section") == "yaml" else None
                      for item in request["params"]["items"]]
        else:
            result = None
        self._send({"id": request["id"], "result": result})

    def close(self) -> None:
        try:
            self.request("shutdown", None)
            self.notify("exit", {})
            self.process.wait(timeout=10)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    assert SERVER.exists(), f"{SERVER.relative_to(ROOT)} is missing: run `npm ci` (scripts/setup.sh does)"
    log = tmp_path_factory.mktemp("yaml-language-server") / "stderr.log"
    lsp = LanguageServer(log)
    lsp.request("initialize", {"processId": os.getpid(), "rootUri": ROOT.as_uri(), "capabilities": {
        "workspace": {"configuration": True}, "textDocument": {"publishDiagnostics": {}}}})
    lsp.notify("initialized", {})
    yield lsp
    lsp.close()


def editor_diagnostics(server, name: str, text: str) -> list[dict]:
    """Opens text as configs/NAME (never written: the server reads what it is sent, and the first
    line's relative $schema resolves from there) and returns what the server reports."""
    uri = (ROOT / "configs" / name).as_uri()
    server.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1,
                                                             "text": text}})
    return server.diagnostics(uri)


@pytest.mark.parametrize("config", ["ielts_speaking.yaml", "ielts_speaking_short.yaml", "actfl_opi.yaml"])
def test_the_editor_finds_nothing_wrong_in_a_shipped_config(server, config):
    text = (ROOT / "configs" / config).read_text()
    assert editor_diagnostics(server, f"clean_{config}", text) == []


IELTS = (ROOT / "configs/ielts_speaking.yaml").read_text()
# A broken copy of a shipped config: (what is replaced, by what), and what the editor's message says
# ({key}: the last key of the path viva names).
BROKEN = {
    "unknown key": (("  name: IELTS Speaking\n", "  name: IELTS Speaking\n  colour: red\n"),
                    r"Property {key} is not allowed"),
    "missing required key": (("  name: IELTS Speaking\n", ""), r'Missing property "{key}"'),
    "wrong type": (("  max_s: 1200\n", "  max_s: soon\n"), r'Incorrect type\. Expected "number"'),
    "unknown stage parameter": (("    end_of_turn: smart_turn\n", "    end_of_turn: smart_turn\n    pre_roll: 1\n"),
                                r"Property {key} is not allowed"),
    "unknown stage": (("  - stage: closing_guard\n", "  - stage: closing_gaurd\n"), r'Value must be .*"closing_guard"'),
    "value out of range": (("    confidence: 0.7\n", "    confidence: 7\n"), r"Value is above the maximum of 1"),
}


def viva_validate_line(tmp_path: Path, name: str, text: str) -> tuple[int, str]:
    """The line and key path `viva validate` names for text (in a file of its own)."""
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(BadInput) as error:
        load_config(path)
    found = re.match(rf"{re.escape(str(path))}:(\d+): (\S+): ", str(error.value))
    assert found, str(error.value)
    return int(found.group(1)), found.group(2)


@pytest.mark.parametrize("mistake", BROKEN)
def test_the_editor_reports_what_viva_validate_reports(server, tmp_path, mistake):
    (old, new), message = BROKEN[mistake]
    assert IELTS.count(old) == 1, old
    text = IELTS.replace(old, new)
    line, key_path = viva_validate_line(tmp_path, "broken.yaml", text)
    key = re.split(r"[.\[\]]+", key_path.strip("]"))[-1]
    found = editor_diagnostics(server, f"broken_{mistake.replace(' ', '_')}.yaml", text)
    on_the_line = [d["message"] for d in found if d["range"]["start"]["line"] + 1 == line]
    assert any(re.search(message.format(key=key), said) for said in on_the_line), (line, key_path, found)


def test_the_editor_lets_a_file_that_extends_leave_keys_out_but_not_misspell_them(server, tmp_path):
    text = f"{MODELINE}\nextends: ielts_speaking_short.yaml\nexam:\n  name: Mine\n  colour: red\n"
    line, key_path = viva_validate_line(tmp_path, "mine.yaml", text.replace("ielts_speaking_short.yaml", str(SHORT)))
    assert (line, key_path) == (5, "exam.colour")
    found = editor_diagnostics(server, "extending.yaml", text)
    assert [(d["range"]["start"]["line"] + 1, d["message"]) for d in found] == [
        (5, "Property colour is not allowed.")]
