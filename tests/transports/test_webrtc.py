"""`viva run --transport webrtc` from a browser: headless Chromium opens Pipecat's prebuilt
page, presses Connect, and answers through a fake microphone fed from real recorded speech;
the exam runs against the emulator and leaves a completed session record.

Chromium (Debian's, /usr/bin/chromium) is driven by Playwright for Python through
`executable_path`: Playwright's own browsers are never downloaded, and its locators wait
for the page (a React app) to render its Connect button, which raw DevTools Protocol
calls would have to poll for by hand.

The page's SmallWebRTC client handles the microphone with Daily's device manager, which
loads Daily's "call machine" script from c.daily.co at run time (it is in no package);
offline, the page never gets its microphone and Connect does nothing. So the test swaps
that one object for a plain getUserMedia one (MICROPHONE_JS, given to the page's own
SmallWebRTCTransport as its media manager); the page, its client, its transport and the
signalling are the prebuilt page's.

Chromium loops the fake microphone's file, so the candidate answers again and again: the
file is speech between long silences, which leave the examiner room to ask the next
question. Whatever the loop's phase, the exam ends by itself after its three answers.
"""

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import wave

import numpy as np
import pytest

from tests.conftest import ROOT, read_pcm

# The shortest whole exam: what is tested is the browser's way in and out, not the exam.
TINY = "tests/data/configs/ielts_tiny.yaml"
CHROMIUM = "/usr/bin/chromium"
ANSWERS = ["speech__cmu_arctic_aew_a0001.wav"]
RATE = 16000
LEAD_IN_S = 8  # the greeting and the first question come first
GAP_S = 11  # longer than the longest examiner turn of the short exam, with its turn end


# The media manager the page's SmallWebRTCTransport gets in place of Daily's: the microphone
# by getUserMedia, with the browser's echo cancellation; no camera, no device picking.
MICROPHONE_JS = """
window.vivaMicrophone = class {
  constructor() { this._callbacks = {}; this._micEnabled = true; this._stream = null; }
  get supportsScreenShare() { return false; }
  setUserAudioCallback(callback) {}
  setClientOptions(options, override = false) {
    if (this._options && !override) return;
    this._options = options; this._callbacks = options.callbacks ?? {}; this._micEnabled = options.enableMic ?? true;
  }
  async initialize() {
    this._stream ??= await navigator.mediaDevices.getUserMedia({audio: {echoCancellation: true}});
  }
  async connect() {
    await this.initialize();
    this._callbacks.onTrackStarted?.(this._stream.getAudioTracks()[0], {id: "local", name: "", local: true});
  }
  async disconnect() { this._stream?.getTracks().forEach((track) => track.stop()); this._stream = null; }
  async getAllMics() { return (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "audioinput"); }
  async getAllCams() { return []; }
  async getAllSpeakers() { return []; }
  updateMic(id) {} updateCam(id) {} updateSpeaker(id) {}
  get selectedMic() { return {}; } get selectedCam() { return {}; } get selectedSpeaker() { return {}; }
  enableMic(enable) { this._micEnabled = enable; this._stream?.getAudioTracks().forEach((t) => { t.enabled = enable; }); }
  enableCam(enable) {} enableScreenShare(enable) {}
  get isMicEnabled() { return this._micEnabled; } get isCamEnabled() { return false; } get isSharingScreen() { return false; }
  tracks() { const audio = this._stream?.getAudioTracks()[0]; return {local: audio ? {audio} : {}}; }
};
"""
CONNECT = '[data-slot="connect-button"][data-state="initialized"]'
DEFAULT_MEDIA_MANAGER = re.compile(r"this\.mediaManager=e\.mediaManager\|\|")


def use_plain_microphone(page) -> list[str]:
    """The page's SmallWebRTCTransport gets MICROPHONE_JS's manager instead of Daily's (see
    above); returns the list of the scripts patched, filled as the page loads them."""
    patched = []
    page.add_init_script(MICROPHONE_JS)

    def patch(route):
        response = route.fetch()
        script, found = DEFAULT_MEDIA_MANAGER.subn("this.mediaManager=e.mediaManager||new window.vivaMicrophone()||",
                                                   response.text())
        if found:
            patched.append(route.request.url)
        route.fulfill(response=response, body=script)

    page.route("**/client/assets/*.js", patch)
    return patched


def microphone_wav(path) -> None:
    """The candidate's microphone: silence, then each answer followed by a long silence."""
    parts = [np.zeros(LEAD_IN_S * RATE, np.int16)]
    for name in ANSWERS:
        parts += [np.frombuffer(read_pcm(name), "<i2"), np.zeros(GAP_S * RATE, np.int16)]
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(np.concatenate(parts).tobytes())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_page(url: str, viva: subprocess.Popen, *, timeout_s: float) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert viva.poll() is None, "viva exited before serving the page"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"{url} not served within {timeout_s} s")


def finished_record(out, *, timeout_s: float) -> dict | None:
    """The first session record finished (its session over, its report written), waited for."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for path in out.glob("*/session.json"):
            try:
                data = json.loads(path.read_text())
            except json.JSONDecodeError:  # written as we read it
                continue
            if data.get("ended_at") is not None:
                return data
        time.sleep(0.5)
    return None


def stop(process: subprocess.Popen) -> tuple[str, str]:
    """Ctrl-C, as a person would; killed if it does not stop."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        return process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()


def test_an_exam_from_the_browser(tmp_path):
    from playwright.sync_api import sync_playwright

    assert shutil.which(CHROMIUM), "Debian's chromium is installed by scripts/setup.sh"

    out, wav, port = tmp_path / "sessions", tmp_path / "microphone.wav", free_port()
    microphone_wav(wav)
    viva = subprocess.Popen([sys.executable, "-m", "viva.cli", "run", TINY, "--transport", "webrtc", "--llm",
                             "emulator", "--host", "127.0.0.1", "--port", str(port), "--out", str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_page(f"http://127.0.0.1:{port}/client/", viva, timeout_s=60)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                "--headless=new", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={wav}", "--autoplay-policy=no-user-gesture-required"])
            try:
                page = browser.new_page()
                patched = use_plain_microphone(page)
                page.goto(f"http://127.0.0.1:{port}/client/")
                # Connect once the page has its microphone: pressed earlier, it races the page's own start.
                page.locator(CONNECT).click(timeout=30_000)
                assert len(patched) == 1, "the prebuilt page's SmallWebRTCTransport changed: see MICROPHONE_JS"
                data = finished_record(out, timeout_s=150)
            finally:
                browser.close()
    finally:
        stdout, stderr = stop(viva)
    assert data is not None, f"no session ended; viva said:\n{stdout[-2000:]}\n{stderr[-3000:]}"
    assert data["outcome"] == "completed" and data["result"] is not None, (data["end_reason"], stderr[-3000:])
    assert data["transcript"][-1]["text"] == "Thank you. That is the end of the Speaking test."
    assert sum(1 for entry in data["transcript"] if entry["role"] == "candidate") >= 1  # the browser's microphone
    assert "Traceback" not in stderr, stderr[-3000:]  # nothing failed, not even the shutdown
