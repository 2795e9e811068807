"""What a client sends is not trusted: the emulator writes no API key down, keeps every
file inside its log folder whatever session id a header names, and answers a malformed
message the way the service does (1007 with a reason on the Live socket, 400
INVALID_ARGUMENT in Google's error JSON over REST), never with an unhandled exception."""

import asyncio
import json

import aiohttp
import pytest
import websockets
from loguru import logger

from emulator import wire
from emulator.caller import redacted_path, session_name
from emulator.server import EmulatorServer
from tests.conftest import fast_settings
from tests.emulator.test_protocol import CAMEL_SETUP
from tests.helpers import LIVE_PATH

SECRETS = {"query": "QUERY-SECRET-1", "header": "HEADER-SECRET-2", "bearer": "BEARER-SECRET-3",
           "rest_query": "REST-SECRET-4", "rest_header": "REST-SECRET-5"}
REST_PATH = "/v1beta/models/gemini-2.5-flash:generateContent"
TEXT_BODY = {"contents": [{"parts": [{"text": "hello"}]}]}


@pytest.fixture
def log_lines():
    """What the emulator logs while the test runs (loguru, as the emulator logs)."""
    lines: list[str] = []
    sink = logger.add(lines.append, format="{message}", level="DEBUG")
    yield lines
    logger.remove(sink)


async def open_setup(server, path=LIVE_PATH, headers=None) -> None:
    """A Live socket that sends setup and reads setupComplete."""
    async with websockets.connect(f"wss://localhost:{server.port}{path}", ssl=server.client_ssl_context(),
                                  additional_headers=headers or {}) as ws:
        await ws.send(json.dumps(CAMEL_SETUP))
        assert json.loads(await ws.recv()) == {"setupComplete": {}}


async def post(server, path=REST_PATH, *, data: bytes, headers=None) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.base_url}{path}", data=data, ssl=server.client_ssl_context(),
                             headers={"content-type": "application/json", **(headers or {})}) as response:
            return response.status, await response.json(content_type=None)


# ---- no key is written down ------------------------------------------------------------


def keys_written(logs, log_lines) -> list[str]:
    """The SECRETS found in the journals under logs and in what was logged."""
    written = "\n".join(path.read_text() for path in logs.rglob("*") if path.is_file()) + "\n".join(log_lines)
    return [name for name, secret in SECRETS.items() if secret in written]


async def test_no_api_key_reaches_the_journal_or_the_log(tmp_path, log_lines):
    logs = tmp_path / "logs"
    async with EmulatorServer(log_dir=logs, settings=fast_settings()) as server:
        await open_setup(server, f"{LIVE_PATH}?alt=x&key={SECRETS['query']}",
                         {"x-goog-api-key": SECRETS["header"], "x-viva-session-id": "keys"})
        await open_setup(server, headers={"Authorization": f"Bearer {SECRETS['bearer']}",
                                          "x-viva-session-id": "bearer"})
        assert keys_written(logs, log_lines) == []
        connect = json.loads((logs / "keys" / "emulator.jsonl").read_text().splitlines()[0])
        assert connect["kind"] == "connect" and connect["path"] == f"{LIVE_PATH}?alt=x&key=REDACTED"

        status, _ = await post(server, f"{REST_PATH}?key={SECRETS['rest_query']}", data=json.dumps(TEXT_BODY).encode(),
                               headers={"x-goog-api-key": SECRETS["rest_header"], "x-viva-session-id": "keys"})
        assert status == 200
    assert "generate_content" in (logs / "keys" / "emulator.jsonl").read_text()  # journaled in the session it named
    assert keys_written(logs, log_lines) == []


@pytest.mark.parametrize("path, shown", [
    ("/ws/x", "/ws/x"),
    ("/ws/x?key=abc", "/ws/x?key=REDACTED"),
    ("//ws/x?alt=sse&KEY=abc&access_token=auth_tokens/t&keys=1", "//ws/x?alt=sse&KEY=REDACTED&access_token=REDACTED&keys=1"),
])
def test_a_path_is_written_with_its_credentials_redacted(path, shown):
    assert redacted_path(path) == shown


# ---- a session id from a header stays inside the log folder ----------------------------


@pytest.mark.parametrize("requested", ["..", ".", "../x", "../../escaped", "/tmp/absolute", "a/b", ".hidden",
                                       "x" * 300, "%2e%2e"])
async def test_an_unsafe_session_id_writes_nothing_outside_the_log_folder(tmp_path, requested, log_lines):
    logs = tmp_path / "run" / "logs"
    async with EmulatorServer(log_dir=logs, settings=fast_settings()) as server:
        await open_setup(server, headers={"x-goog-api-key": "k", "x-viva-session-id": requested})
        [session_id] = server.sessions
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert [path.relative_to(logs).parts[1:] for path in files if logs in path.parents] == [("emulator.jsonl",)]
    assert len(files) == 1 and files[0].parent.name not in (".", "..")  # one journal, in a folder of logs
    assert session_id.startswith("emu-") and files[0] == logs / session_id / "emulator.jsonl"  # named by the emulator
    assert any("not a safe file name" in line for line in log_lines)


async def test_a_nul_in_the_header_is_refused_before_any_session(tmp_path):
    """websockets will not send a NUL in a header, so the handshake goes out by hand."""
    logs = tmp_path / "logs"
    async with EmulatorServer(log_dir=logs, settings=fast_settings()) as server:
        reader, writer = await asyncio.open_connection("localhost", server.port, ssl=server.client_ssl_context())
        writer.write((f"GET {LIVE_PATH} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                      "x-goog-api-key: k\r\nx-viva-session-id: ../a\x00b\r\n\r\n").encode())
        status = await reader.readline()
        writer.close()
        assert status.split()[1] == b"400" and not server.sessions
    assert not [path for path in tmp_path.rglob("*") if path.is_file()]
    assert session_name("a\x00b") is None and session_name("..") is None and session_name("s-1.2_x") == "s-1.2_x"


async def test_a_safe_session_id_is_its_folder(tmp_path):
    async with EmulatorServer(log_dir=tmp_path, settings=fast_settings()) as server:
        await open_setup(server, headers={"x-goog-api-key": "k", "x-viva-session-id": "run-1.a_b"})
    assert (tmp_path / "run-1.a_b" / "emulator.jsonl").is_file()


# ---- malformed messages get the service's answer ---------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000
HUGE = "9" * 5000


@pytest.mark.parametrize("frame, reason", [
    (DEEP, "Invalid JSON payload received. Nested too deep."),
    ('{"realtimeInput": {"text": ' + "[" * 150 + "]" * 150 + "}}", "Invalid JSON payload received. Nested too deep."),
    ('{"realtimeInput": {"text": %s}}' % HUGE, "Invalid JSON payload received. Unexpected token."),
    ('{"realtimeInput": {"text": NaN}}', "Invalid JSON payload received. Unexpected token."),
    ('{"realtimeInput": {"audio": {"data": "AAAA", "mimeType": "audio/pcm;rate=%s"}}}' % HUGE,
     "Request contains an invalid argument."),
    ('{"realtimeInput": {"audio": {"data": 5, "mimeType": "audio/pcm;rate=16000"}}}',
     "Invalid value at 'realtime_input.audio.data'"),
], ids=["deep", "deep_in_a_field", "5000_digits", "nan", "5000_digit_rate", "wrong_type"])
async def test_a_malformed_live_message_closes_1007_with_a_reason(emulator, frame, reason):
    async with websockets.connect(f"wss://localhost:{emulator.port}{LIVE_PATH}", ssl=emulator.client_ssl_context(),
                                  additional_headers={"x-goog-api-key": "k", "x-viva-session-id": "bad"}) as ws:
        await ws.send(json.dumps(CAMEL_SETUP))
        await ws.recv()
        await ws.send(frame)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await ws.recv()
    assert closed.value.rcvd.code == wire.INVALID_ARGUMENT == 1007
    assert closed.value.rcvd.reason.startswith(reason)
    [close] = [r for r in emulator.sessions["bad"].journal.records if r["kind"] == "close"]  # written before it is sent
    assert close["code"] == 1007 and close["reason"].startswith(reason)


async def test_a_huge_integer_in_a_typed_field_closes_1007(emulator):
    setup = json.loads(json.dumps(CAMEL_SETUP))
    setup["setup"]["realtimeInputConfig"] = {"automaticActivityDetection": {"silenceDurationMs": 10**3999}}
    async with websockets.connect(f"wss://localhost:{emulator.port}{LIVE_PATH}", ssl=emulator.client_ssl_context(),
                                  additional_headers={"x-goog-api-key": "k"}) as ws:
        await ws.send(json.dumps(setup))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd.code == 1007
    assert closed.value.rcvd.reason.startswith(
        "Invalid value at 'setup.realtime_input_config.automatic_activity_detection.silence_duration_ms'")


@pytest.mark.parametrize("body, message", [
    (DEEP, "Invalid JSON payload received. Nested too deep."),
    ('{"contents": [{"parts": [{"text": "x"}]}], "labels": ' + "{\"a\":" * 200 + "1" + "}" * 200 + "}",
     "Invalid JSON payload received. Nested too deep."),
    ('{"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"temperature": %s}}' % HUGE,
     "Invalid JSON payload received. Unexpected token."),
    ('{"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"maxOutputTokens": 1%s}}' % ("0" * 3000),
     "Invalid value at 'generation_config.max_output_tokens'"),
], ids=["deep", "deep_in_a_field", "5000_digits", "out_of_range"])
async def test_a_malformed_rest_body_is_400_invalid_argument(emulator, body, message):
    status, error = await post(emulator, data=body.encode(), headers={"x-goog-api-key": "k"})
    assert status == 400
    assert error["error"]["code"] == 400 and error["error"]["status"] == "INVALID_ARGUMENT"
    assert error["error"]["message"].startswith(message)


def test_the_parser_refuses_what_python_reads_but_json_does_not_hold():
    for raw in (DEEP, "9" * 5000, "[NaN]", "[Infinity]", b"\xff"):
        with pytest.raises(wire.ProtocolError) as refused:
            wire.loads(raw)
        assert refused.value.code == 1007
    deepest = []
    for _ in range(wire.MAX_DEPTH - 1):
        deepest = [deepest]
    assert wire.loads(json.dumps(deepest)) == deepest  # as deep as allowed


async def test_an_emulator_fault_is_the_services_internal_error_not_an_unhandled_exception(emulator, monkeypatch,
                                                                                          log_lines):
    from emulator.session import LiveConnection

    async def broken(self, content):
        raise RuntimeError("a bug of the emulator's")

    monkeypatch.setattr(LiveConnection, "_on_client_content", broken)
    async with websockets.connect(f"wss://localhost:{emulator.port}{LIVE_PATH}", ssl=emulator.client_ssl_context(),
                                  additional_headers={"x-goog-api-key": "k"}) as ws:
        await ws.send(json.dumps(CAMEL_SETUP))
        await ws.recv()
        await ws.send(json.dumps({"clientContent": {"turnComplete": True}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await ws.recv()
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1011, "Internal error encountered.")
    assert any("a bug of the emulator's" in line for line in log_lines)
