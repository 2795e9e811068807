"""`viva simulate` end to end, offline: the whole IELTS test and the short one, through the
real pipeline (simulated candidate, Silero, turn gate, Pipecat's Gemini Live service)
against the emulator, and the records they leave.

All sessions run at real-time pace, several at a time, in subprocesses started once, from the
start of the test run beside the other tests (SessionPool): the
configs with a steady candidate, stock Pipecat, and the turn gate's hard cases (the
production noise burst with the stall fault, the examiner's echo, a barge-in over it).
The exam formats (bench/formats.py, a format written from the docs alone,
tests/data/configs/new_format.yaml, and the short IELTS configs with a candidate who talks past
every limit) run against one bare `viva emulator` process, as the
whole IELTS test over the wire does, and are judged from that emulator's journal.
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest

import bench.formats as formats_bench
from emulator.toolargs import schema_errors
from tests.conftest import ROOT
from viva.config import load_config
from viva.exam.plan import Answer, asks, exam_plan
from viva.pipelines.registry import TurnGateParams
from viva.harness.candidate import load_candidate
from tests.cpu import IdleCores
from viva.harness.summary import reconnect_schedule, run_row, waits_off_schedule

CANDIDATE = "candidates/b2_steady.yaml"
CONFIGS = {"full": "configs/ielts_speaking.yaml", "short": "configs/ielts_speaking_short.yaml"}
BASELINE = "configs/baseline_pipecat.yaml"
SHORT = CONFIGS["short"]
RUNS = {  # name: (config, candidate, faults)
    # "full" is the wire run (the sessions fixture): the whole IELTS test over the wire.
    "short": (SHORT, CANDIDATE, None),
    "baseline": (BASELINE, CANDIDATE, None),
    "production": (SHORT, "candidates/production_noise_burst.yaml", "faults/stall_after_empty_window.yaml"),
    "echo": (SHORT, "candidates/echo_minus_20db.yaml", None),
    "barge_in": (SHORT, "candidates/echo_barge_in.yaml", None),
    **{fault: (SHORT, CANDIDATE, f"faults/{fault}.yaml") for fault in (
        "stall", "speak_instead_of_tool_call", "tool_call_and_speak", "bad_tool_args", "repeat_closing")},
}
# A drop at every phase of the exchange, a refused handle, and goAways that find the
# candidate speaking (go_away) and the examiner speaking (go_away_examiner_speech).
CONNECTION_FAULTS = ["disconnect", "disconnect_refused", "disconnect_mid_answer", "disconnect_mid_examiner_speech",
                     "disconnect_examiner_turn_end", "disconnect_tool_call_pending", "disconnect_during_closing",
                     "go_away", "go_away_examiner_speech"]
RUNS.update({fault: (SHORT, CANDIDATE, f"faults/{fault}.yaml") for fault in CONNECTION_FAULTS})
# The model does not follow the cue (SPEC §4): the director still has every step asked, in order.
CUE_FAULTS = ["ignores_cue", "paraphrases", "skips_question", "two_questions", "reads_cue_aloud"]
PREP = "configs/ielts_speaking_short_prep.yaml"
RUNS.update({fault: (SHORT, CANDIDATE, f"faults/{fault}.yaml") for fault in CUE_FAULTS})
RUNS["prep"] = (PREP, CANDIDATE, None)
RUNS["speaks_during_preparation"] = (PREP, CANDIDATE, "faults/speaks_during_preparation.yaml")
# The behaviour faults of SPEC §4, each with the run that has it (the production run has the
# stall after an empty window, with its noise burst).
BEHAVIOUR_RUNS = {"stall": "stall", "stall_after_empty_window": "production",
                  "speak_instead_of_tool_call": "speak_instead_of_tool_call", "tool_call_and_speak": "tool_call_and_speak",
                  "bad_tool_args": "bad_tool_args", "repeat_closing": "repeat_closing"}


# The other formats (issue 15), from their YAML alone, timers scaled down (bench/formats.py).
# The DELE A2 is left to the bench: its shape is the DELF's (a card prepared before the exam,
# a role in the middle), its Spanish is in the emulator's own tests, and one more format run
# took the suite past its 15 minutes on 2 cores.
BENCH_ONLY = {"dele_a2_oral"}
FORMATS = {name: spec for name, spec in formats_bench.FORMATS.items() if name not in BENCH_ONLY}
# A format written from the README and docs/ alone by someone who never ran it (issue 24), run
# with a candidate who answers its greeting and talks past every limit (overrun_candidate).
NEW_FORMAT = "tests/data/configs/new_format.yaml"
# Run with that candidate too: the shipped configs no other run takes to the bare emulator with
# answers past their limits (the whole IELTS test is the wire run; stock Pipecat conducts nothing).
OVERRUN_RUNS = {"new_format": NEW_FORMAT, "ielts_short_prep": "configs/ielts_speaking_short_prep.yaml",
                "ielts_short_3_1": "configs/ielts_speaking_short_gemini_3_1.yaml"}
FORMAT_RUNS = [*FORMATS, *OVERRUN_RUNS]
# Judged from the emulator's journal: every format, and the whole IELTS test over the wire.
JOURNAL_RUNS = [*FORMAT_RUNS, "wire"]
# A candidate who keeps talking through the examiner's next question (talk_through_candidate).
TALK_THROUGH = "talk_through"
# The bare `viva emulator`'s --log-dir, beside the sessions' folders: the format runs and the
# wire run talk to it (`--llm gemini`), each session's journal in <session id>/emulator.jsonl.
EMULATOR_LOGS = "emulator_logs"
# The adaptive interview, twice, the examiner's judgements forced (a tool_args fault): a candidate
# who breaks down in the first level check (the format's run against the bare emulator, whose
# faults file forces that judgement: no other config declares the function) and one who
# sustains it (a session with its own emulator).
OPI = "actfl_opi"
OPI_JUDGED = {OPI: {"judge_intermediate": "broke_down"},
              "opi_sustained": {"judge_intermediate": "sustained", "judge_advanced": "broke_down"}}

# Sessions at once at most: on 2 cores nine (about 1.8 cores busy on average) fell up to 4.5 s
# behind their audio (a window's close recorded that long after its audio position).
CONCURRENT = 7
# A session starts only while this much CPU (in cores, over IDLE_WINDOW_S) is idle, or when
# none is running: with the machine busy beside the suite they run one at a time, each in
# real time, instead of all falling behind their audio together (issue 25).
SESSION_CORES = 0.6
# Idle CPU is measured over this long after the last start: each session spends seconds of CPU
# loading Pipecat, which would hold back those already speaking if many loaded at once, and
# the next starts only once the last one's load shows.
IDLE_WINDOW_S = 2.5


WIRE_SCALE = 0.5  # the whole IELTS test over the wire, its preparation and long turn halved


def long_turn_answers() -> list:
    """The whole IELTS test's candidate: a short answer to each line of the greeting that asks and
    to each question of Part 1, silent through the preparation, a long turn of 150 s at
    WIRE_SCALE (recordings of audio/ one after another, 0.7 s apart: a quarter past its limit),
    short answers after it."""
    exam = load_config(ROOT / CONFIGS["full"]).exam
    asked = sum(map(asks, exam.greeting_lines)) + len(exam.parts[0].questions)
    after = sum(len(part.questions) for part in exam.parts[1:])
    return ["short"] * asked + ["prepare", ("long", 150 * WIRE_SCALE)] + ["short"] * after


def long_turn_candidate(folder) -> str:
    return str(formats_bench.candidate_file(folder, "long_turn", long_turn_answers()))


RATE = 16000
PAUSE_S = 1.3  # the silence between sentences of a long answer: a real pause, short of a turn's end
OVERRUN_S = 2.5  # how far a timed answer runs past its limit
# The examiner's turn ends, as the journal has it, when its audio has been sent and played at real
# time (examiner_turns); the candidate hears its end up to this much later (the client's playout,
# Pipecat's wait before BotStoppedSpeaking), and viva's timers count from there.
HEARD_AFTER_S = 1.0
# A window's opening reaches the exam director this much after the gate has sent activityStart.
PIPELINE_S = 0.5


def write_wav(path, samples: np.ndarray) -> str:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(RATE)
        w.writeframes(samples.astype(np.int16).tobytes())
    return str(path)


def sentences() -> list[np.ndarray]:
    """The recordings of audio/ of one sentence, 2.5 to 8 s long (not the digits read one by one),
    each cut to its speech (Silero's segments in audio/manifest.json, 50 ms either side)."""
    manifest = {entry["name"]: entry for entry in json.loads((ROOT / "audio" / "manifest.json").read_text())}
    out = []
    for path in sorted((ROOT / "audio").glob("speech__*.wav")):
        segments = manifest[path.name].get("silero_segments") or manifest[path.name]["speech_segments"]
        with wave.open(str(path)) as w:
            assert w.getframerate() == RATE and w.getnchannels() == 1
            audio = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        start, end = max(0.0, segments[0][0] - 0.05), segments[-1][1] + 0.05
        if 2.5 <= end - start <= 8.0 and "one_two_three" not in path.name:
            out.append(audio[int(start * RATE): int(end * RATE)])
    return sorted(out, key=len)  # the shortest first: even a short answer pauses more than once


def paused_speech(seconds: float) -> np.ndarray:
    """Real speech for `seconds`, sentences from audio/ joined by PAUSE_S of silence (so every
    long answer pauses between sentences as a person does), still speaking at the end: the last
    sentence begins more than a second before `seconds` and is cut there."""
    said = sentences()
    pieces, rest, n = [], seconds, 0
    while True:
        piece = said[n % len(said)]
        n += 1
        if len(piece) / RATE + PAUSE_S + 1.0 < rest:
            pieces += [piece, np.zeros(int(PAUSE_S * RATE), dtype=np.int16)]
            rest -= len(piece) / RATE + PAUSE_S
        elif len(piece) / RATE >= rest:  # the last sentence, more than 1 s of it, cut at the end
            pieces.append(piece[: int(rest * RATE)])
            return np.concatenate(pieces)
        # else: too long to end a pause before the end and too short to reach it: the next one


def overrun_plan(exam) -> list:
    """What a candidate who talks past every limit says, one item per step of the exam's plan
    that awaits an answer, in the plan's order: "short" (an open answer, a role-play's turn),
    "prepare" (silent through a preparation) or ("long", seconds): OVERRUN_S past a timed
    answer's limit, with PAUSE_S between sentences."""
    plan = []
    for step in exam_plan(exam).steps:
        if step.answer is Answer.SILENT:
            plan.append("prepare")
        elif step.answer is Answer.TIMED:
            plan.append(("long", step.limit_s + OVERRUN_S))
        elif step.answer is not Answer.NONE:
            plan.append("short")
    return plan


def overrun_candidate(folder, config: str) -> str:
    """The candidate of overrun_plan for a config: real recordings of audio/ for the short
    answers, the long ones made at fixture time (paused_speech), four short answers at the end
    for a role-play's turns (the last one repeats)."""
    plan = overrun_plan(load_config(ROOT / config).exam) + ["short"] * 3
    return str(formats_bench.candidate_file(folder, f"overrun_{Path(config).stem}", plan, speech=paused_speech))


def talk_through_candidate(folder) -> str:
    """For the short IELTS config, a candidate who keeps talking through the examiner: starts a long
    answer as the first turn begins, over its question; answers it when asked again; then a long
    turn of real sentences 1.3 s apart that runs 12 s past its 30 s limit, on through the
    examiner's next turn (its answer to that turn is the same talk: nothing new); then short
    answers."""
    long_turn = load_config(ROOT / SHORT).exam.parts[1].long_turn_s + 12.0
    audio = ROOT / "audio"
    items = [f"  - audio: {audio / 'speech__ljspeech_LJ050-0131.wav'}\n    barge_in_s: 0.2",
             f"  - audio: {audio / 'speech__cmu_arctic_aew_a0001.wav'}",
             f"  - audio: {write_wav(folder / 'talk_through_long_turn.wav', paused_speech(long_turn))}",
             "  - silence_s: 1.0",
             f"  - audio: {audio / 'speech__cmu_arctic_aew_a0002.wav'}",
             f"  - audio: {audio / 'speech__pocketsphinx_cards_005.wav'}"]
    path = folder / "talk_through.yaml"
    path.write_text("name: talk-through\nreply_delay_s: 0.8\nanswers:\n" + "\n".join(items) + "\n")
    return str(path)


def never_closes_faults(folder) -> str:
    """A model that never says the closing: from the third answer on (the assessment's), every reply
    of that turn after the call itself is two minutes late, the closing after the result and the one
    viva's cue asks for alike (slow_response, emulator/faults.py)."""
    path = folder / "never_closes.yaml"
    path.write_text("seed: 1\nfaults:\n"
                    "  - {kind: slow_response, turns: [3], times: 1, delay_s: 0.5}\n"
                    "  - {kind: slow_response, turns: [3], delay_s: 120}\n")
    return str(path)


def judged_faults(folder, name: str, judged: dict[str, str]) -> str:
    """A faults file that has the examiner call each judgement function with the given choice."""
    path = folder / f"{name}_faults.yaml"
    path.write_text("seed: 0\nfaults:\n" + "".join(
        f"  - {{kind: tool_args, tool: {tool}, args: {{judgement: {choice}}}}}\n" for tool, choice in judged.items()))
    return str(path)


def start_emulator(logs, faults: str | None = None):
    """`viva emulator` in a process of its own, given no config: (process, its environment exports).
    Its log lines go to logs/../emulator.stderr: many sessions' warnings would fill a pipe."""
    logs.mkdir(parents=True, exist_ok=True)
    stderr = logs.parent / "emulator.stderr"
    with open(stderr, "w") as errors:
        process = subprocess.Popen([sys.executable, "-m", "viva.cli", "emulator", "--port", "0", "--log-dir", logs,
                                    *(["--faults", faults] if faults else [])],
                                   cwd=ROOT, stdout=subprocess.PIPE, stderr=errors, text=True)
    line = ""
    while "export " not in line:
        line = process.stdout.readline()
        assert line, stderr.read_text()
    exports = dict(item.split("=", 1) for item in line.split("export ", 1)[1].split())
    return process, exports


class SessionPool:
    """Every session of RUNS, run in a thread of its own from the start of the test run while the
    other tests go on (conftest's background_sessions starts it; the tests of this module run
    last and wait for it): at most CONCURRENT at a time and each only while the CPU can carry it
    (SESSION_CORES). One `viva emulator` (a process of its own, given no config; its faults file
    forces one judgement of the OPI, OPI_JUDGED) serves the IELTS test over the wire and every
    format run: `viva simulate --llm gemini` through GOOGLE_GEMINI_BASE_URL and SSL_CERT_FILE
    (its journals in out/emulator_logs/<session id>/, `journal` finds a record's). The wire run
    is the whole IELTS test with a 150 s long turn (name "wire"), started first; the formats,
    with long answers that pause 1.3 s between sentences (paused_speech), and the configs of
    OVERRUN_RUNS (the new format, the short IELTS ones) with a candidate who talks past every
    limit run in the pool with the rest."""

    def __init__(self, out: Path):
        self._out = out
        self._running: dict[str, subprocess.Popen] = {}
        self._emulator = None
        self.emulator_stop_s: float | None = None
        self._stopping = threading.Event()
        self._results: dict = {}
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run_all, name="simulated-sessions", daemon=True)
        self._thread.start()

    def results(self) -> dict:
        """{name: (returncode, stdout, stderr, record folder)}, once every session has ended."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._results

    def close(self) -> None:
        """Ends whatever still runs (the test run stopped early) and the emulator."""
        self._stopping.set()
        self._thread.join(timeout=60)
        for process in [*self._running.values(), *([self._emulator] if self._emulator else [])]:
            if process.poll() is None:
                process.kill()
                process.wait()

    def _run_all(self) -> None:
        try:
            self._results = self._run()
        except BaseException as error:  # handed to the tests that read the results
            self._error = error

    def _runs(self, out: Path) -> dict:
        """name: (config, candidate, faults, against the bare emulator); the longest first."""
        runs = {**{name: (*map(str, formats_bench.format_run(out, name, FORMATS[name][2], speech=paused_speech)),
                          None, True) for name in FORMATS},
                **{name: (config, overrun_candidate(out, config), None, True) for name, config in OVERRUN_RUNS.items()},
                **{name: (*map(str, formats_bench.format_run(out, OPI, FORMATS[OPI][2])),
                          judged_faults(out, name, judged), False) for name, judged in OPI_JUDGED.items() if name != OPI},
                TALK_THROUGH: (SHORT, talk_through_candidate(out), None, False),
                **{name: (*spec, False) for name, spec in RUNS.items()}}
        runs["never_closes"] = (SHORT, CANDIDATE, never_closes_faults(out), False)
        wire_config = formats_bench.scaled_config(out, "ielts_speaking_wire", CONFIGS["full"], WIRE_SCALE)
        # The formats first: they are the longest runs, and the short ones fill in around them.
        return {"wire": (wire_config, long_turn_candidate(out), None, True), **runs}

    def _run(self) -> dict:
        out = self._out
        self._emulator, exports = start_emulator(out / EMULATOR_LOGS, judged_faults(out, OPI, OPI_JUDGED[OPI]))
        bare = {**os.environ, **exports, "GOOGLE_API_KEY": "not-a-real-key"}
        waiting, running, results = list(self._runs(out).items()), self._running, {}
        idle = IdleCores(IDLE_WINDOW_S)
        deadline = time.monotonic() + 3600
        while (waiting or running) and not self._stopping.is_set():
            idle.sample()
            cores = idle.cores()
            if waiting and (not running or (len(running) < CONCURRENT and cores is not None
                                             and cores >= SESSION_CORES)):
                idle.reset()
                name, (config, candidate, faults, on_bare) = waiting.pop(0)
                # Output to files, not pipes: nobody need read a session while it runs, and the
                # next one starts as soon as any ends (not only the oldest).
                with open(out / f"{name}.stdout", "w") as stdout, open(out / f"{name}.stderr", "w") as stderr:
                    running[name] = subprocess.Popen(
                        [sys.executable, "-m", "viva.cli", "simulate", config, "--candidate", candidate, "--out",
                         out / name, *(["--faults", faults] if faults else []),
                         *(["--llm", "gemini"] if on_bare else [])],
                        cwd=ROOT, stdout=stdout, stderr=stderr, text=True, env=bare if on_bare else None,
                    )
            ended = [name for name, process in running.items() if process.poll() is not None]
            if not ended:
                assert time.monotonic() < deadline, f"sessions still running: {sorted(running)}"
                time.sleep(0.2)
                continue
            for name in ended:
                process = running.pop(name)
                (record,) = [path for path in (out / name).iterdir() if (path / "session.json").exists()]
                results[name] = (process.returncode, (out / f"{name}.stdout").read_text(),
                                 (out / f"{name}.stderr").read_text(), record)
        self.emulator_stop_s = self._stop_emulator()
        results["full"] = results.get("wire")
        return results

    def emulator_stderr(self) -> str:
        return (self._out / "emulator.stderr").read_text()

    def _stop_emulator(self) -> float | None:
        """Ctrl-C to the bare emulator: the seconds it took to stop, or None if it had not after
        EMULATOR_STOP_S (then it is killed: its journals are written line by line, so the
        sessions' tests still read them whole; test_the_bare_emulator_stops_when_interrupted
        fails instead of every test)."""
        started = time.monotonic()
        self._emulator.send_signal(signal.SIGINT)
        try:
            self._emulator.communicate(timeout=EMULATOR_STOP_S)
        except subprocess.TimeoutExpired:
            self._emulator.kill()
            self._emulator.communicate()
            return None
        return time.monotonic() - started


# How long the bare emulator may take to stop on Ctrl-C: it bounds its own stop at twice
# viva.commands.emulator.STOP_S (the server, then the tasks it left).
EMULATOR_STOP_S = 60


def start_in_background(tmp_path_factory) -> SessionPool:
    """conftest's background_sessions calls this when any test of this module is to run."""
    return SessionPool(tmp_path_factory.mktemp("sessions"))


@pytest.fixture(scope="module")
def sessions(background_sessions):
    return background_sessions[__name__].results()


def test_the_bare_emulator_stops_when_interrupted(sessions, background_sessions):
    """`viva emulator` stops on Ctrl-C once its sessions are over (the pool gave it EMULATOR_STOP_S)."""
    pool = background_sessions[__name__]
    assert pool.emulator_stop_s is not None, \
        f"the bare emulator had not stopped {EMULATOR_STOP_S} s after Ctrl-C; its stderr:\n{pool.emulator_stderr()}"


_read_journals: dict = {}


def read_journal(path) -> list[dict]:
    if path not in _read_journals:
        _read_journals[path] = [json.loads(line) for line in path.read_text().splitlines()]
    return _read_journals[path]


def _words(text: str) -> str:
    """Lower case, words only (of any script): how a line is found in what the examiner said."""
    return " ".join(re.findall(r"[^\W_]+(?:'[^\W_]+)?", text.lower().replace("’", "'")))


def journal(record) -> list[dict]:
    """The emulator's journal of a session: beside its record (the emulator in the session's own
    process), or, for a session against the bare emulator (`--llm gemini`), the one of that
    emulator's log dir whose examiner said what the record heard and was sent what it cued
    (the emulator names a session by its own id: the Live API has no header for the client's)."""
    path = record / "emulator.jsonl"
    if path.exists():
        return read_journal(path)
    data = json.loads((record / "session.json").read_text())
    heard = {_words(e["text"]) for e in data["transcript"] if e["role"] == "examiner"}
    cues = [e["text"] for e in data["events"] if e["type"] == "cue" and e.get("text")]
    scores = {}
    for path in (record.parent.parent / EMULATOR_LOGS).glob("*/emulator.jsonl"):
        entries = read_journal(path)
        sent = [e.get("text") or "" for e in entries if e["kind"] == "client_content"]
        said = {_words(e["text"]) for e in entries if e["kind"] == "speak"}
        scores[path] = len(heard & said) + sum(any(cue in text for text in sent) for cue in cues)
    best = max(scores.values(), default=0)
    found = [path for path, score in scores.items() if score == best]
    assert best > 0 and len(found) == 1, f"no one journal of the bare emulator is {record.name}'s: {scores}"
    return read_journal(found[0])


@pytest.mark.parametrize("name", CONFIGS)
def test_the_session_completes_with_a_valid_result_from_the_tool_call(sessions, name):
    returncode, stdout, stderr, record = sessions[name]
    assert returncode == 0, stderr[-2000:]
    assert re.search(r"1 of 1 completed with a result", stdout)
    data = json.loads((record / "session.json").read_text())
    assert data["outcome"] == "completed" and data["end_reason"] == "closing_phrase"
    assert data["result_source"] == "tool_call"
    tool = load_config(ROOT / CONFIGS[name]).exam.tools[0]
    assert schema_errors(tool.parameters, data["result"]) == []
    assert data["metrics"]["closing_phrases_heard"] == 1
    assert data["transcript"][-1]["text"] == "Thank you. That is the end of the Speaking test."


@pytest.mark.parametrize("name", CONFIGS)
def test_the_emulator_saw_one_window_per_answer_nothing_outside_and_no_empty_window(sessions, name):
    _, _, _, record = sessions[name]
    entries = journal(record)
    audio = [e for e in entries if e["kind"] == "audio" and e["dir"] == "in"]
    assert sum(e["audio_bytes"] for e in audio if not e["window_open"]) == 0
    windows = [e for e in entries if e["kind"] == "window"]
    exam = load_config(ROOT / CONFIGS[name]).exam
    answers = len([s for s in exam_plan(exam).steps if s.answer in (Answer.OPEN, Answer.TIMED)])
    assert len(windows) == answers  # one window per answer, no more
    assert all(w["speech"] and w["audio_s"] > 0.5 for w in windows)
    starts = [e for e in entries if e["kind"] == "activity_start"]
    assert len(starts) == len(windows)


def test_the_recording_has_the_candidate_left_and_the_examiner_right(sessions):
    _, _, _, record = sessions["short"]
    data = json.loads((record / "session.json").read_text())
    with wave.open(str(record / "recording.wav")) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 16000)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2).astype(np.float64)
    duration = len(frames) / 16000
    assert duration == pytest.approx(data["events"][-1]["t_s"], abs=3)

    def loudness(channel, start_s, end_s):
        part = frames[int(start_s * 16000) : int(end_s * 16000), channel]
        return np.sqrt(np.mean(part**2)) if len(part) else 0.0

    for entry in data["transcript"]:
        middle = (entry["start_s"] + entry["end_s"]) / 2
        channel = 0 if entry["role"] == "candidate" else 1
        other = 1 - channel
        assert loudness(channel, middle - 0.3, middle + 0.3) > 300, entry
        assert loudness(other, middle - 0.3, middle + 0.3) < 50, entry


def test_the_report_is_written_with_the_transcript(sessions):
    _, _, _, record = sessions["short"]
    report = (record / "report.html").read_text()
    assert "Thank you. That is the end of the Speaking test." in report
    assert "<svg" in report


def test_the_summary_table_names_each_run(sessions):
    _, stdout, _, record = sessions["short"]
    rows = [line.split() for line in stdout.splitlines() if line.startswith(record.name)]
    assert [row[:3] for row in rows] == [[record.name, "completed", "tool_call"]]  # its own row, not the footer


def test_the_baseline_runs_stock_pipecat_through_the_same_command(sessions):
    returncode, stdout, stderr, record = sessions["baseline"]
    assert returncode == 0, stderr[-2000:]
    config = load_config(ROOT / BASELINE)
    assert [s.name for s in config.stages] == ["pipecat_user_turns", "gemini_live"]
    data = json.loads((record / "session.json").read_text())
    assert data["outcome"] == "completed" and data["end_reason"] == "tool_result"
    windows = [e for e in journal(record) if e["kind"] == "window"]
    assert windows and data["metrics"]["turns"] >= 3
    assert data["result_source"] == "tool_call"
    summary = json.loads((record.parent / "summary.json").read_text())
    assert summary["aggregate"]["completed"] == "1/1"


def record_events(record, kind: str) -> list[dict]:
    return [e for e in json.loads((record / "session.json").read_text())["events"] if e["type"] == kind]


@pytest.mark.parametrize("name", ["production", "echo", "barge_in"])
def test_hard_candidates_complete_with_one_window_per_answer_and_nothing_outside(sessions, name):
    returncode, stdout, stderr, record = sessions[name]
    assert returncode == 0, stderr[-2000:]
    data = json.loads((record / "session.json").read_text())
    assert data["outcome"] == "completed" and data["result_source"] == "tool_call"
    entries = journal(record)
    assert sum(e["audio_bytes"] for e in entries if e["kind"] == "audio" and not e["window_open"]) == 0
    windows = [e for e in entries if e["kind"] == "window"]
    answers = sum(len(p.questions) + (1 if p.cue_card else 0) for p in load_config(ROOT / SHORT).exam.parts)
    assert len(windows) == answers
    assert all(w["speech"] for w in windows)


def test_the_production_noise_burst_opens_no_window_and_the_model_does_not_stall(sessions):
    """field-reports.md §1: answer, activityEnd, 2 s of noise, silence; the model slow to answer."""
    _, _, _, record = sessions["production"]
    entries = journal(record)
    faults = [e["fault"] for e in entries if e["kind"] == "fault"]
    assert "slow_response" in faults  # the burst fell in the model's silence, as in production
    assert "stall_after_empty_window" not in faults  # no empty window, so nothing to stall on
    rejected = record_events(record, "noise_rejected")
    # Rejected before it counted as speech: 0.4 s of it alone, or over the examiner (a barge-in
    # needs more, and the clatter fell over the slow examiner's first words) short of a barge-in.
    spec = next(stage for stage in load_config(ROOT / SHORT).pipeline if stage["stage"] == "turn_gate")
    gate = TurnGateParams(**{key: value for key, value in spec.items() if key != "stage"})
    assert rejected and all(e["voiced_s"] < max(0.4, gate.barge_in_confirm_s) for e in rejected)
    # the examiner answered every window before the next one
    waiting = False
    for entry in entries:
        if entry["kind"] == "activity_end":
            waiting = True
        elif entry["kind"] == "activity_start":
            assert not waiting, f"a window at {entry['t_s']} s before the examiner answered the last"
        elif entry["kind"] == "speak":
            waiting = False
    assert not waiting


def test_the_examiners_echo_never_interrupts_it(sessions):
    _, _, _, record = sessions["echo"]
    assert not [e for e in journal(record) if e["kind"] == "interrupted"]
    assert not [e for e in record_events(record, "window_opened") if e["barge_in"]]


def test_real_speech_over_the_echo_interrupts_the_examiner_once(sessions):
    _, _, _, record = sessions["barge_in"]
    entries = journal(record)
    (interrupted,) = [i for i, e in enumerate(entries) if e["kind"] == "interrupted"]
    (barge_in,) = [e for e in record_events(record, "window_opened") if e["barge_in"]]
    starts = [i for i, e in enumerate(entries) if e["kind"] == "activity_start"]
    ends = [i for i, e in enumerate(entries) if e["kind"] == "activity_end"]
    # In the emulator's own order, not by the clock: the second answer's window, over the cue
    # card, is what cut the examiner.
    assert starts[1] < interrupted < ends[1]
    assert barge_in["at_s"] > 0


def barges_in(name: str) -> bool:
    """Whether the run's candidate file speaks over the examiner on purpose."""
    if name == TALK_THROUGH:
        return True
    if name not in RUNS:  # the formats' and the wire run's candidates answer only when asked
        return False
    return any(answer.barge_in_s is not None for answer in load_candidate(ROOT / RUNS[name][1]).answers)


@pytest.mark.parametrize("name", [*FORMAT_RUNS, *RUNS, TALK_THROUGH, "wire"])
def test_the_examiner_is_never_cut_off_unless_the_candidate_barges_in(sessions, name):
    """An answer split at a pause has the examiner start over the rest of it, which cuts the
    examiner off (the emulator's `interrupted`): no answer of the suite is split."""
    _, _, _, record = sessions[name]
    entries = journal(record)
    if barges_in(name):
        assert [e for e in entries if e["kind"] == "interrupted"]
        return
    said, cut, speaking = [], [], False
    for entry in entries:
        if entry["kind"] == "speak":
            said.append(entry["text"])
            speaking = True
        elif entry["kind"] == "turn_complete":
            speaking = False
        elif entry["kind"] == "interrupted" and speaking:  # not a reply still unspoken (a new cue replaces it)
            # The cuts a dropped link leaves: the model, resumed from before its last turn,
            # says that turn again, and the candidate's answer to the first one cuts the
            # repeat. viva does not play a whole turn twice (repeated_turn_skipped), so that
            # repeat is heard by no one; a turn the drop cut short is said whole, and a
            # candidate who began answering in the reconnect's silence talks over it.
            repeat = len(said) >= 2 and said[-1] == said[-2] and (
                record_events(record, "repeated_turn_skipped") or any(
                    e.get("examiner_turn") == "partial" for e in record_events(record, "disconnect")))
            if not repeat:
                cut.append((entry["t_s"], said[-1] if said else None))
    assert cut == [], f"the examiner was cut off (at s, saying): {cut}"


@pytest.mark.parametrize("fault", BEHAVIOUR_RUNS)
def test_whatever_the_model_does_the_session_ends_with_a_valid_result_and_one_closing(sessions, fault):
    returncode, stdout, stderr, record = sessions[BEHAVIOUR_RUNS[fault]]
    assert returncode == 0, stderr[-2000:]
    data = json.loads((record / "session.json").read_text())
    assert data["outcome"] == "completed", data["end_reason"]
    assert schema_errors(load_config(ROOT / SHORT).exam.tools[0].parameters, data["result"]) == []
    assert data["metrics"]["closing_phrases_heard"] == 1
    faults = [e["fault"] for e in journal(record) if e["kind"] == "fault"]
    assert faults, "the fault never fired: the test would prove nothing"


def test_a_spoken_result_is_extracted_from_the_examiners_words(sessions):
    _, _, _, record = sessions["speak_instead_of_tool_call"]
    data = json.loads((record / "session.json").read_text())
    assert data["result_source"] == "transcript_extraction"
    (fallback,) = [e for e in data["events"] if e["type"] == "tool_fallback"]
    assert fallback["valid"] and fallback["method"] == "model"  # the emulator's text model read it
    assert data["metrics"]["tool_fallbacks"] == 1


def test_a_stalled_model_is_nudged_until_it_answers(sessions):
    _, _, _, record = sessions["stall"]
    data = json.loads((record / "session.json").read_text())
    # The first nudge is ignored and a later one answered; how many went out before the answer
    # arrived depends on how fast the answer came, not on the watchdog.
    assert data["metrics"]["stalls"] == 1 and data["metrics"]["nudges"] >= 2
    entries = journal(record)
    ignored = [e for e in entries if e["kind"] == "fault" and e.get("nudge_ignored")]
    answered = [e for e in entries if e["kind"] == "reply" and e["trigger"] == "text" and "speak" in e["reply"]
                and ignored and e["t_s"] > ignored[0]["t_s"]]
    assert len(ignored) == 1 and answered


def test_the_repeated_closing_is_cut_after_the_first(sessions):
    _, _, _, record = sessions["repeat_closing"]
    data = json.loads((record / "session.json").read_text())
    (trimmed,) = [e for e in data["events"] if e["type"] == "closing_trimmed"]
    assert trimmed["audio_s"] > 1.0 and "end of the Speaking test" in trimmed["text"]
    said = [e for e in journal(record) if e["kind"] == "speak"][-1]["text"]
    assert said.count("end of the Speaking test") == 2  # the model did say it twice


@pytest.mark.parametrize("fault", CONNECTION_FAULTS)
def test_the_session_survives_the_connection_and_every_answer_arrives_whole_in_one_window(sessions, fault):
    returncode, stdout, stderr, record = sessions[fault]
    assert returncode == 0, stderr[-2000:]
    data = json.loads((record / "session.json").read_text())
    assert data["outcome"] == "completed", data["end_reason"]
    assert schema_errors(load_config(ROOT / SHORT).exam.tools[0].parameters, data["result"]) == []
    assert data["metrics"]["closing_phrases_heard"] == 1
    events = [e["type"] for e in data["events"]]
    assert "disconnect" in events and "reconnect" in events
    journals = [json.loads(line) for path in record.parent.glob("*/emulator.jsonl")
                for line in path.read_text().splitlines()]
    assert any(e["kind"] == "fault" for e in journals), "the fault never fired"
    windows = [e for e in journals if e["kind"] == "window"]
    assert windows and all(w["speech"] for w in windows)  # no window holds a piece of an answer only
    answers = [w["audio_s"] for w in windows]
    assert min(answers) > 2.5  # the shortest answer of b2_steady is 3.1 s: none arrived cut
    config = load_config(ROOT / SHORT)
    assert run_row(record, config.exam.tools).tool_results_lost == 0
    assert waits_off_schedule(data["events"], reconnect_schedule(config)) == 0
    planned = [e for e in data["events"] if e["type"] == "disconnect" and e["code"] is None]
    assert all(e["moment"] in ("between_turns", "candidate_speaking") for e in planned)  # never the examiner's turn


def test_a_drop_after_an_answer_is_resumed_by_handle_at_the_first_attempt(sessions):
    _, _, _, record = sessions["disconnect"]
    data = json.loads((record / "session.json").read_text())
    (reconnect,) = [e for e in data["events"] if e["type"] == "reconnect"]
    assert reconnect["resumed"] and reconnect["attempt"] == 1  # the first attempt, by handle (its wait: the bench)
    assert reconnect["replayed"] > 0  # the answer the drop followed was sent again
    said = [e["text"] for e in data["transcript"] if e["role"] == "candidate"]
    assert len(said) == 3 and all(text.count("(speech") == 1 for text in said)  # the one sent again: once


def test_a_refused_handle_goes_on_in_a_fresh_session_where_the_exam_was(sessions):
    _, _, _, record = sessions["disconnect_refused"]
    data = json.loads((record / "session.json").read_text())
    reconnect = [e for e in data["events"] if e["type"] == "reconnect"][-1]
    assert not reconnect["resumed"]
    fresh = [json.loads(line) for path in record.parent.glob(f"{record.name}-*/emulator.jsonl")
             for line in path.read_text().splitlines()]
    # The cue that waited for the answer reaches the fresh session before the answer sent again,
    # so the examiner goes on with the step it was cued, not with the greeting.
    kinds = [e["kind"] for e in fresh]
    assert kinds.index("cue") < kinds.index("activity_end")
    first = next(e for e in fresh if e["kind"] == "speak")
    greeting = load_config(ROOT / SHORT).exam.greeting
    assert first["cued"] and greeting not in first["text"]
    assert first["text"] == load_config(ROOT / SHORT).exam.parts[-1].questions[0]


def test_a_drop_in_the_examiners_turn_ends_that_turn_and_a_whole_turn_is_not_heard_twice(sessions):
    _, _, _, cut = sessions["disconnect_mid_examiner_speech"]
    (drop,) = [e for e in json.loads((cut / "session.json").read_text())["events"] if e["type"] == "disconnect"]
    assert drop["examiner_turn"] == "partial"
    _, _, _, record = sessions["disconnect_examiner_turn_end"]
    data = json.loads((record / "session.json").read_text())
    (drop,) = [e for e in data["events"] if e["type"] == "disconnect"]
    assert drop["examiner_turn"] == "whole"
    assert [e["type"] for e in data["events"]].count("repeated_turn_skipped") == 1
    examiner = " ".join(e["text"] for e in data["transcript"] if e["role"] == "examiner")
    assert examiner.count("Why do people like to travel?") == 1  # the resumed session said it again, unheard


def test_a_tool_result_sent_into_a_dropped_link_reaches_the_session_after_the_reconnect(sessions):
    _, _, _, record = sessions["disconnect_tool_call_pending"]
    entries = journal(record)
    first_call = next(e for e in entries if e["kind"] == "tool_call")
    closed = next(i for i, e in enumerate(entries) if e["kind"] == "socket_closed")
    delivered = [e for e in entries[closed:] if e["kind"] == "tool_response" and first_call["id"] in e["ids"]]
    assert delivered  # answered while the link was down, sent on the next one


def test_a_drop_after_the_result_has_viva_say_the_closing_once_and_nothing_after(sessions):
    for fault in ("disconnect_tool_call_pending", "disconnect_during_closing"):
        _, _, _, record = sessions[fault]
        data = json.loads((record / "session.json").read_text())
        assert data["end_reason"] == "closing_from_config" and data["metrics"]["closing_phrases_heard"] == 1
        examiner = [e["text"] for e in data["transcript"] if e["role"] == "examiner"]
        assert examiner[-1].endswith("That is the end of the Speaking test.")
        assert " ".join(examiner).count("end of the Speaking test") == 1  # the model's repeat went unheard


def test_a_closing_the_model_never_says_is_asked_for_then_said_in_the_examiners_voice(sessions):
    code, stdout, stderr, record = sessions["never_closes"]
    assert code == 0, stderr[-3000:]
    config = load_config(ROOT / SHORT)
    phrase = config.exam.closing_phrase
    data = json.loads((record / "session.json").read_text())
    assert data["outcome"] == "completed" and data["end_reason"] == "closing_from_config"
    (cue,) = [e for e in data["events"] if e["type"] == "closing_cue"]
    (said,) = [e for e in data["events"] if e["type"] == "closing_from_config"]
    # Said once the cue's time is up: the stall watchdog, which nudges the model silent after the
    # result, stands down at the cue (a reconnect then would take the cue with the link).
    assert cue["t_s"] < said["t_s"] and said["reason"] == "cue_unanswered"
    assert not [e for e in data["events"] if e["type"] == "reconnect" and e["t_s"] > cue["t_s"]]
    assert said["audio_s"] > 1.5 and "error" not in said
    assert any(e["type"] == "examiner_audio_start" and e["t_s"] >= said["t_s"] for e in data["events"])
    # The emulator was asked for the phrase, never said it, then was asked for its speech by Gemini TTS.
    entries = journal(record)
    assert any(e["kind"] == "fault" and e["fault"] == "slow_response" for e in entries)
    asked = [i for i, e in enumerate(entries) if e["kind"] == "cue" and e.get("say") == phrase]
    spoken = [i for i, e in enumerate(entries) if e["kind"] == "generate_speech"]
    assert len(asked) == 1 and len(spoken) == 1 and asked[0] < spoken[0]
    speech = entries[spoken[0]]
    assert (speech["text"], speech["voice"], speech["model"]) == (phrase, config.llm.voice, config.llm.tts_model)
    assert not [e for e in entries if e["kind"] == "speak" and phrase in e["text"]]
    # One closing, viva's, is what the candidate heard.
    assert data["metrics"]["closing_phrases_heard"] == 1
    examiner = [e["text"] for e in data["transcript"] if e["role"] == "examiner"]
    assert examiner[-1] == phrase and " ".join(examiner).count("end of the Speaking test") == 1


# -- the exam on the wire (issue 14)


def asked_lines(entries: list[dict]) -> list[str]:
    return [e["text"] for e in entries if e.get("dir") == "out" and e["kind"] in ("speak", "write")]


def assert_every_question_asked_in_order(said: list[str], config: str, *, once: bool) -> None:
    from viva.exam.phrases import normalize

    exam = load_config(ROOT / config).exam
    spoken = [normalize(text) for text in said]
    where = -1
    for part in exam.parts:
        for question in ([part.cue_card.topic] if part.cue_card else []) + part.questions:
            hits = [i for i, text in enumerate(spoken) if normalize(question) in text]
            assert hits, f"never asked: {question!r}"
            if once:
                assert len(hits) == 1, f"asked {len(hits)} times: {question!r}"
            later = [i for i in hits if i > where]
            assert later, f"asked out of order: {question!r}"
            where = later[0]


def test_over_the_wire_the_emulator_is_told_every_question_in_order_and_viva_keeps_the_time(sessions):
    code, stdout, stderr, record = sessions["wire"]
    assert code == 0, stderr[-3000:]
    data = json.loads((record / "session.json").read_text())
    assert data["llm"] == "gemini" and data["outcome"] == "completed" and data["result_source"] == "tool_call"
    entries = journal(record)
    setup = next(e for e in entries if e["kind"] == "setup")
    assert setup["dir"] == "in"
    said = asked_lines(entries)
    assert_every_question_asked_in_order(said, CONFIGS["full"], once=True)
    exam = run_config(record).exam  # the config's, its preparation and long turn scaled by WIRE_SCALE
    part2 = exam.parts[1]
    # The cue card's turn ends; the preparation's silence follows, with no window and no nudge, then
    # the start cue (viva counts from the end of the turn as heard, up to HEARD_AFTER_S later).
    card = next(i for i, e in enumerate(entries) if e["kind"] == "speak" and part2.cue_card.topic in e["text"])
    card_end = next(e for e in entries[card:] if e["kind"] == "turn_complete")
    heard_end = max(card_end["t_s"], entries[card]["t_s"] + entries[card]["audio_s"])  # see examiner_turns
    start = next(i for i, e in enumerate(entries) if e["kind"] == "client_content"
                 and exam.words_of(part2).start_line in e.get("text", ""))
    between = entries[entries.index(card_end) + 1 : start]
    assert part2.prep_s - 1 <= entries[start]["t_s"] - heard_end <= part2.prep_s + HEARD_AFTER_S + 1
    assert not [e for e in between if e["kind"] in ("activity_start", "text", "speak")]
    # The long turn's window is closed by viva at its limit.
    opened = next(e for e in entries[start:] if e["kind"] == "activity_start")
    closed = next(e for e in entries[entries.index(opened):] if e["kind"] == "activity_end")
    assert closed["t_s"] - opened["t_s"] == pytest.approx(part2.long_turn_s, abs=1)
    assert any(e["kind"] == "tool_call" for e in entries)
    assert sum(exam.closing_phrase in text for text in said) == 1
    plan = {entry["step"]: entry for entry in data["plan"]}
    assert plan["Part 2 cue card"]["prep_s"] == pytest.approx(part2.prep_s, abs=0.5)
    assert plan["Part 2 long turn"]["long_turn_s"] == pytest.approx(part2.long_turn_s, abs=0.5)


@pytest.mark.parametrize("fault", CUE_FAULTS + ["speaks_during_preparation"])
def test_a_model_that_does_not_follow_the_cue_still_asks_every_question_in_order(sessions, fault):
    code, stdout, stderr, record = sessions[fault]
    assert code == 0, stderr[-3000:]
    data = json.loads((record / "session.json").read_text())
    assert data["outcome"] == "completed" and data["result"] is not None
    entries = journal(record)
    assert any(e["kind"] == "fault" and e["fault"] == fault for e in entries)
    config = RUNS[fault][0]
    said = asked_lines(entries)
    assert_every_question_asked_in_order(said, config, once=False)
    assert data["metrics"]["closing_phrases_heard"] == 1
    events = [e["type"] for e in data["events"]]
    if fault in ("ignores_cue", "skips_question"):
        assert "step_not_asked" in events  # and it was cued again
    if fault == "two_questions":
        assert "two_questions" in events
    if fault == "reads_cue_aloud":
        assert "cue_read_aloud" in events
    if fault == "speaks_during_preparation":
        assert "examiner_withheld" in events


def test_the_preparation_is_silent_and_nothing_the_candidate_says_reaches_the_model(sessions):
    code, stdout, stderr, record = sessions["prep"]
    assert code == 0, stderr[-3000:]
    entries = journal(record)
    exam = load_config(ROOT / PREP).exam
    card = next(i for i, e in enumerate(entries) if e["kind"] == "speak" and exam.parts[1].cue_card.topic in e["text"])
    start = next(i for i, e in enumerate(entries) if e["kind"] == "client_content"
                 and exam.words_of(exam.parts[1]).start_line in e.get("text", ""))
    # The candidate (b2-steady, who does not prepare) answered the card at once: it was held.
    assert not [e for e in entries[card:start] if e["kind"] in ("activity_start", "text")]
    assert not [e for e in entries[card:start] if e["kind"] == "audio" and e.get("window_open")]


# -- the other formats (issue 15) and marks never heard


def prompts(part) -> list[str]:
    """What the examiner asks in a part, in order: the cue card's topic, each question, the role's
    opening line."""
    return ([part.cue_card.topic] if part.cue_card else []) + list(part.questions) + (
        [part.role.opening_line] if part.role else [])


def limit_of(part, step: str) -> float | None:
    """The limit that cuts the answer to a step: the long turn's for a cue card and its start."""
    return part.long_turn_s if ("cue card" in step or "long turn" in step) else part.answer_s


@pytest.mark.parametrize("name", FORMATS)
def test_each_format_is_conducted_from_its_yaml_with_every_step_and_timer_kept(sessions, name):
    from viva.exam.phrases import normalize

    code, stdout, stderr, record = sessions[name]
    assert code == 0, stderr[-3000:]
    data = json.loads((record / "session.json").read_text())
    config, answers, scale = FORMATS[name]
    exam = as_drawn(load_config(ROOT / config), data).exam  # its timers as shipped: the run's are scaled
    assert data["outcome"] == "completed" and data["result_source"] == "tool_call", data["end_reason"]
    assert schema_errors(exam.tools[0].parameters, data["result"]) == []
    assert data["metrics"]["closing_phrases_heard"] == 1
    assert [s["name"] for s in data["scores"]] == [rule.name for rule in exam.scores]
    assert all(s["value"] is not None for s in data["scores"])
    entries = journal(record)
    # Every step said, in order, as the emulator heard it cued (a turn cut by the candidate
    # talking over it is said again: the exam never moves past a step not said).
    spoken = [normalize(text) for text in asked_lines(entries)]
    where = -1
    for item in [said for part in parts_taken(exam, entries) for said in prompts(part)]:  # a branch skips parts
        later = [i for i, text in enumerate(spoken) if normalize(item) in text and i > where]
        assert later, f"{item!r} never said, or out of order"
        where = later[0]
    plan = {entry["step"]: entry for entry in data["plan"]}
    assert not [entry for entry in data["plan"] if entry.get("skipped") not in (None, "branch not taken")]
    for part in exam.parts:
        # Each preparation held for its time, with no window opened in it.
        prepared = [key for key, entry in plan.items() if entry.get("part") == part.name and "prep_s" in entry]
        wanted = part.prep_s if (part.cue_card or part.role) else part.question_prep_s
        for key in prepared:
            assert plan[key]["prep_s"] == pytest.approx(wanted * scale, abs=0.5), key
        # No timed answer ran past its limit; the role-play ran its time.
        for key, entry in plan.items():
            if entry.get("part") == part.name and "long_turn_s" in entry and limit_of(part, key):
                assert entry["long_turn_s"] <= limit_of(part, key) * scale + 0.5, key
        if part.role:
            role_s = plan[f"{part.name} role"]["role_s"]
            assert part.role.time_s * scale - 0.1 <= role_s <= part.role.time_s * scale + 10
    cuts = [e for e in data["events"] if e["type"] == "long_turn_cut"]
    overran = [a for a in answers if isinstance(a, tuple)]
    assert len(cuts) == len(overran), "each overrunning answer is cut at its limit"
    for cut in cuts:
        part = next(p for p in exam.parts if cut["step"].startswith(p.name))
        assert cut["after_s"] == pytest.approx(limit_of(part, cut["step"]) * scale, abs=0.5), cut


# The formats in a language other than English (issue 26), and words of English that neither
# French nor Spanish has: one of them in what the examiner said is English heard.
OTHER_LANGUAGES = [name for name in FORMATS if not load_config(ROOT / FORMATS[name][0]).llm.language.startswith("en")]
ENGLISH_ONLY = {"the", "you", "your", "is", "are", "and", "of", "to", "what", "please", "thank", "that", "this",
                "will", "should", "now", "topic", "about", "begin", "time", "let's", "say"}


@pytest.mark.parametrize("name", OTHER_LANGUAGES)
def test_a_format_in_another_language_is_heard_only_in_it_in_its_voice_and_no_role_recites_its_brief(
        sessions, name):
    """From the emulator's journal: the setup named the exam's language and the examiner spoke it
    in espeak-ng's voice for it; no English word in anything said; in a role, no turn says two
    sentences of the brief, and none of its directions to the actor is said."""
    code, _, stderr, record = sessions[name]
    assert code == 0, stderr[-3000:]
    config = run_config(record)
    entries = journal(record)
    language = config.llm.language
    setups = [e for e in entries if e["kind"] == "setup"]
    assert setups and {e["language"] for e in setups} == {language}
    subtag = language.split("-")[0].lower()
    voices = {e["espeak_voice"] for e in setups}
    assert voices == {None} or all(voice.split("-")[0] == subtag for voice in voices), voices  # None: no espeak-ng
    turns = examiner_turns(entries)
    assert turns
    english = [(turn["text"], sorted(set(turn["words"].split()) & ENGLISH_ONLY)) for turn in turns
               if set(turn["words"].split()) & ENGLISH_ONLY]
    assert english == [], f"English heard in a {language} exam: {english}"
    for part in config.exam.parts:
        if not part.role:
            continue
        # A sentence of the brief, less its first two words (the subject and verb a first-person
        # telling changes: "Vous organisez" / "J'organise").
        tails = [" ".join(_words(sentence).split()[2:]) for sentence in re.split(r"(?<=[.!?])\s+", part.role.brief)]
        tails = [tail for tail in tails if len(tail.split()) >= 3]
        for turn in turns:
            held = [tail for tail in tails if tail in turn["words"]]
            assert len(held) <= 1, f"one turn of the role of {part.name!r} says {len(held)} sentences of its " \
                                   f"brief: {turn['text']!r}"
        said = [fragment for fragment in ROLE_DIRECTIONS.get(name, []) for turn in turns
                if _words(fragment) in turn["words"]]
        assert said == [], f"the role of {part.name!r} said its directions: {said}"


# Directions to the actor in the shipped briefs, as a person would say them or as written: the
# role never says them.
ROLE_DIRECTIONS = {"delf_b1_oral": ["restez polie", "reste polie", "en français courant", "mener la conversation"],
                   "dele_a2_oral": ["frases cortas", "lleve la conversación", "habla despacio", "hablo despacio"]}


@pytest.mark.parametrize("fault", ["tool_call_and_speak", "speak_instead_of_tool_call"])
def test_marks_said_aloud_never_reach_the_candidate_and_the_result_is_still_had(sessions, fault):
    from viva.harness.summary import examiner_before_closing_s

    code, stdout, stderr, record = sessions[fault]
    assert code == 0, stderr[-3000:]
    data = json.loads((record / "session.json").read_text())
    assert data["outcome"] == "completed" and data["result"] is not None
    assert any(e["kind"] == "fault" and e["fault"] == fault for e in journal(record))
    withheld = [e for e in data["events"] if e["type"] == "examiner_withheld" and e.get("reason") == "assessment"]
    assert withheld and "fluency" in withheld[0]["text"].lower()  # the marks, kept in the record
    # The examiner channel carries nothing between the last answer and the closing.
    assert examiner_before_closing_s(data, record / "recording.wav") == 0
    assert data["metrics"]["closing_phrases_heard"] == 1


# -- any format conducted as its config says (issue 24), judged from the emulator's journal


def run_config(record):
    """The config a run was given (a format's with its timers scaled, as written for the run),
    with the cards the session drew (its `cards_drawn` event's seed draws them again)."""
    data = json.loads((record / "session.json").read_text())
    return as_drawn(load_config(ROOT / data["config"]), data)


def as_drawn(config, data: dict):
    """config with the cards a session's record says it drew (its seed draws them again)."""
    drawn = [event for event in data["events"] if event["type"] == "cards_drawn"]
    if not drawn:
        return config
    exam = config.exam.drawn(drawn[0]["seed"])
    assert {part.name: part.cue_card.topic for part in exam.parts if part.cue_cards} == drawn[0]["cards"]
    return config.model_copy(update={"exam": exam})


def examiner_turns(entries: list[dict]) -> list[dict]:
    """The examiner's turns as the emulator said them, in order: each `speak`, with its words,
    where it is in the journal (`at`, and its turn_complete's `end`), when it began and ended
    (`t_s`, `end_s`), and whether the candidate cut it off (`interrupted`)."""
    turns = []
    for i, entry in enumerate(entries):
        if entry.get("dir") != "out":
            continue
        if entry["kind"] == "speak":
            turns.append({"at": i, "t_s": entry["t_s"], "text": entry["text"], "words": _words(entry["text"]),
                          "end": None, "end_s": entry["t_s"] + entry.get("audio_s", 0.0), "interrupted": False})
        elif turns and turns[-1]["end"] is None and entry["kind"] in ("interrupted", "turn_complete"):
            turns[-1]["interrupted"] |= entry["kind"] == "interrupted"
            if entry["kind"] == "turn_complete":
                # The emulator streams audio faster than it plays (`--pace`): a whole turn is
                # heard to its end audio_s after it began, later than its turnComplete.
                turn = turns[-1]
                turn["end"] = i
                turn["end_s"] = entry["t_s"] if turn["interrupted"] else max(entry["t_s"], turn["end_s"])
    return turns


def windows(entries: list[dict]) -> list[list]:
    """The candidate's activity windows: [journal index of the activityStart, its time, the
    activityEnd's time (None: never closed)]."""
    out = []
    for i, entry in enumerate(entries):
        if entry.get("dir") != "in" or entry.get("nested"):
            continue
        if entry["kind"] == "activity_start":
            out.append([i, entry["t_s"], None])
        elif entry["kind"] == "activity_end" and out and out[-1][2] is None:
            out[-1][2] = entry["t_s"]
    return out


def parts_taken(exam, entries: list[dict]) -> list:
    """The parts the exam went through, in order: after each, the one it names (`next`), the one
    the examiner's judgement chose (its call in the journal), or the next listed. A judgement
    never made ends the list there."""
    by_name = {part.name: part for part in exam.parts}
    judged = {e["name"]: (e.get("args") or {}).get("judgement") for e in entries if e["kind"] == "tool_call"}
    taken, part = [], exam.parts[0]
    while part is not None and all(part is not other for other in taken):
        taken.append(part)
        judge, after = getattr(part, "judge", None), getattr(part, "next", None)
        if judge is not None:
            after = judge.choices.get(judged.get(judge.tool))
        elif after is None:
            i = next(i for i, other in enumerate(exam.parts) if other is part)
            after = exam.parts[i + 1].name if i + 1 < len(exam.parts) else "end"
        part = by_name.get(after)
    return taken


def turn_saying(turns: list[dict], line: str, after: int = -1) -> int | None:
    """The first turn after turn `after` that says line."""
    return next((k for k in range(after + 1, len(turns)) if _words(line) in turns[k]["words"]), None)


def answer_plan(name: str) -> list:
    """A run's candidate, one answer per examiner turn: "short", "prepare", ("long", s)."""
    if name == "wire":
        return long_turn_answers()
    return overrun_plan(load_config(ROOT / OVERRUN_RUNS[name]).exam) if name in OVERRUN_RUNS else FORMATS[name][1]


def format_run_journal(sessions, name):
    _, _, _, record = sessions[name]
    entries = journal(record)
    return run_config(record).exam, entries, examiner_turns(entries)


@pytest.mark.parametrize("name", JOURNAL_RUNS)
def test_a_greeting_that_asks_is_answered_in_its_own_turn(sessions, name):
    """The greeting is said first. A line of it that asks something (ends with a "?") is an examiner turn of
    its own: its `speak` holds no intro or prompt of the first part, and the candidate's window
    comes before the examiner says anything more. A line that asks nothing leads the next turn."""
    exam, entries, turns = format_run_journal(sessions, name)
    lines = exam.greeting_lines
    assert turns and turns[0]["words"].startswith(_words(lines[0])), \
        f"the exam does not begin with the greeting: {turns[:1]}"
    first = [*([exam.parts[0].intro] if exam.parts[0].intro else []), *prompts(exam.parts[0])]
    starts = [window[0] for window in windows(entries)]
    k = 0
    for line in lines:
        assert k < len(turns) and _words(line) in turns[k]["words"], f"greeting line {line!r} is not in turn {k}"
        if not asks(line):
            continue
        joined = [said for said in first if _words(said) in turns[k]["words"]]
        assert not joined, \
            f"the greeting that asks shares its turn with the first part's {joined}: {turns[k]['text']!r}"
        after = turns[k + 1] if k + 1 < len(turns) else None
        assert any(turns[k]["at"] < start < (after["at"] if after else len(entries)) for start in starts), \
            f"{line!r} not answered before the examiner said {after and after['text']!r}"
        k += 1


@pytest.mark.parametrize("name", JOURNAL_RUNS)
def test_each_prompt_is_said_once_in_order_one_per_examiner_turn(sessions, name):
    """Each question, cue card topic and role opening line of the parts the exam went through is
    said in exactly one examiner turn, in order, and no turn says two; a part not taken (a branch)
    is never heard."""
    exam, entries, turns = format_run_journal(sessions, name)
    every = [said for part in exam.parts for said in prompts(part)]
    for turn in turns:
        held = [said for said in every if _words(said) in turn["words"]]
        assert len(held) <= 1, f"one examiner turn says {held}: {turn['text']!r}"
    taken = parts_taken(exam, entries)
    where = -1
    for part in taken:
        for said in prompts(part):
            hits = [k for k, turn in enumerate(turns) if _words(said) in turn["words"]]
            assert len(hits) == 1, f"{said!r} said {len(hits)} times (turns {hits})"
            assert hits[0] > where, f"{said!r} said out of order (turn {hits[0]}, after turn {where})"
            where = hits[0]
    for part in exam.parts:
        if all(part is not other for other in taken):
            assert not [said for said in prompts(part) if turn_saying(turns, said) is not None], \
                f"part {part.name!r} was not taken, but its prompts were said"


def preparations(exam, parts) -> list[tuple[str | None, str, float]]:
    """Each silent preparation, in order: (what the turn before it says, or None: the turn before
    the one after it; what the turn after it says; its seconds)."""
    out = []
    for i, part in enumerate(parts):
        start_line = exam.words_of(part).start_line
        if part.cue_card and part.prep_s:
            # A card prepared now and presented later (no long turn here): the exam goes on.
            after = start_line if part.starts_timed_answer else next_line(exam, part, parts[i + 1:])
            out.append((part.cue_card.topic, after, part.prep_s))
        elif part.prep_s:  # after the part's intro (a role's reading time): then its first prompt
            out.append((part.intro, prompts(part)[0], part.prep_s))
        if part.question_prep_s:
            out += [(question, start_line, part.question_prep_s) for question in part.questions]
    return out


def next_line(exam, part, later_parts) -> str:
    """What is said after a part's cue card when no long turn follows it: the part's first
    question, else the next part's intro or first prompt, else the closing."""
    if part.questions:
        return part.questions[0]
    if later_parts:
        return later_parts[0].intro or prompts(later_parts[0])[0]
    return exam.closing_phrase


@pytest.mark.parametrize("name", JOURNAL_RUNS)
def test_every_preparation_is_silent_and_on_time(sessions, name):
    """From the end of the turn that begins a preparation to viva's note that ends it (the cue of
    the start line, or of the role's opening line, which the next turn says): the preparation's
    time (±1 s), with no window opened and no audio sent in it, and nothing said."""
    exam, entries, turns = format_run_journal(sessions, name)
    held = preparations(exam, parts_taken(exam, entries))
    where = -1
    for before, after, seconds in held:
        k = turn_saying(turns, before, where) if before else (turn_saying(turns, after, where) or 0) - 1
        assert k is not None and 0 <= k < len(turns) - 1, f"no turn says {before!r} (then {after!r}) after turn {where}"
        following = turns[k + 1]
        assert _words(after) in following["words"], \
            f"after {turns[k]['text']!r} and its preparation the examiner said {following['text']!r}, not {after!r}"
        ended = next((e["t_s"] for e in entries[turns[k]["end"] or turns[k]["at"]: following["at"]]
                      if e["kind"] == "client_content" and _words(after) in _words(e.get("text") or "")),
                     following["t_s"])  # the cue that ends it, or (worded otherwise) the turn it asks for
        silent = ended - turns[k]["end_s"]  # from the journal's end of the turn, HEARD_AFTER_S before its end heard
        assert seconds - 1.0 <= silent <= seconds + HEARD_AFTER_S + 1.0, \
            f"the preparation after {turns[k]['text']!r} lasted {silent:.1f} s, not {seconds:g}"
        inside = entries[turns[k]["end"] or turns[k]["at"]: following["at"]]
        assert not [e for e in inside if e["kind"] == "activity_start"], \
            f"a window opened in the preparation after {turns[k]['text']!r}"
        assert not [e for e in inside if e["kind"] == "audio" and e.get("window_open")]
        where = k


def timed_answers(exam, parts) -> list[tuple[list[str], float]]:
    """Each timed answer, in order: (the lines that lead to it, each said after the one before: the
    prompt, then the start line after a preparation; its limit)."""
    out = []
    for part in parts:
        start_line = exam.words_of(part).start_line
        if part.cue_card and part.long_turn_s:
            out.append(([part.cue_card.topic, *([start_line] if part.prep_s else [])], part.long_turn_s))
        if part.answer_s:
            out += [([question, *([start_line] if part.question_prep_s else [])], part.answer_s)
                    for question in part.questions]
    return out


@pytest.mark.parametrize("name", JOURNAL_RUNS)
def test_every_timed_answer_runs_to_its_limit_and_no_pause_closes_it(sessions, name):
    """A timed answer (a long turn, an `answer_s` limit) is one window, never past its limit (+1 s);
    one the candidate talks past (its answers pause 1.3 s between sentences) is closed at the
    limit (±1 s), not at a pause before it."""
    exam, entries, turns = format_run_journal(sessions, name)
    plan = answer_plan(name)
    spans = windows(entries)
    where = -1
    for lines, limit in timed_answers(exam, parts_taken(exam, entries)):
        k = where
        for line in lines:
            k = turn_saying(turns, line, k)
            assert k is not None, f"{line!r} never said (after turn {where})"
        where = k
        end = turns[k + 1]["at"] if k + 1 < len(turns) else len(entries)
        inside = [span for span in spans if turns[k]["at"] < span[0] < end]
        assert len(inside) == 1, \
            f"{len(inside)} windows answer {lines[-1]!r} (turn {k}): a pause closed one, or none opened"
        _, opened, closed = inside[0]
        assert closed is not None, f"the answer to {lines[-1]!r} was never closed"
        # The journal's window opens when the gate sends activityStart; the limit counts from when
        # the exam director hears of it, a frame's way down the pipeline later (up to half a
        # second on a loaded machine): hence the extra PIPELINE_S.
        assert closed - opened <= limit + 1.0 + PIPELINE_S, \
            f"the answer to {lines[-1]!r} ran {closed - opened:.1f} s, past {limit:g}"
        answer = plan[min(k, len(plan) - 1)]
        if isinstance(answer, tuple):  # the candidate talked past the limit
            assert limit - 1.0 <= closed - opened <= limit + 1.0 + PIPELINE_S, \
                f"the answer to {lines[-1]!r} talked past its {limit:g} s but was closed after {closed - opened:.1f} s"


@pytest.mark.parametrize("name", JOURNAL_RUNS)
def test_every_role_play_ends_with_its_closing_line_at_its_time(sessions, name):
    """The role's time runs from the end of the turn with its opening line (the last one, heard
    whole, if it was said again); when it is up, the closing line is said (±1 s): at once if the
    candidate is quiet, else when what they are saying ends, never over the role's own reply;
    also when the role-play is the last part."""
    exam, entries, turns = format_run_journal(sessions, name)
    spans = windows(entries)
    for part in parts_taken(exam, entries):
        if not part.role:
            continue
        role = part.role
        closing_line = exam.words_of(part).role_closing_line
        said = [j for j, turn in enumerate(turns) if _words(role.opening_line) in turn["words"]]
        assert said, f"the role's opening line {role.opening_line!r} never said"
        k = ([j for j in said if not turns[j]["interrupted"]] or said)[-1]
        due = turns[k]["end_s"] + role.time_s
        for _ in range(20):  # not while the candidate speaks, nor over the role's reply
            # A window that opens while the role's time is not yet up as viva counts it (from the
            # opening line's end as heard, up to HEARD_AFTER_S after the journal's) is waited for.
            speaking = [closed for _, opened, closed in spans
                        if opened <= due + HEARD_AFTER_S and (closed is None or closed > due)]
            replying = [turn["end_s"] for turn in turns[k + 1:] if turn["t_s"] <= due < turn["end_s"]
                        and _words(closing_line) not in turn["words"]]
            if not speaking and not replying:
                break
            assert None not in speaking, "a window never closed"
            due = max(speaking + replying)
        c = turn_saying(turns, closing_line, k)
        assert c is not None, f"the role-play of {part.name!r} never ended with {closing_line!r}"
        assert due - 1.0 <= turns[c]["t_s"] <= due + HEARD_AFTER_S + 1.0, \
            f"{closing_line!r} said at {turns[c]['t_s']:.1f} s, due at {due:.1f} s " \
            f"({role.time_s:g} s after the opening line's turn)"


@pytest.mark.parametrize("name", JOURNAL_RUNS)
def test_the_closing_phrase_is_said_once(sessions, name):
    """Heard whole once (a closing the candidate talked over is said again), and nothing after it."""
    exam, entries, turns = format_run_journal(sessions, name)
    phrase = _words(exam.closing_phrase)
    whole = [k for k, turn in enumerate(turns) if phrase in turn["words"] and not turn["interrupted"]]
    voiced = sum(_words(e.get("text") or "").count(phrase) for e in entries if e["kind"] == "generate_speech")
    assert len(whole) + voiced == 1, f"the closing phrase heard whole {len(whole)} times from the model, " \
        f"{voiced} from viva's voice"
    assert not whole or whole[0] == len(turns) - 1, f"the examiner went on after the closing: {turns[-1]['text']!r}"


def talk_through_journal(sessions):
    code, _, stderr, record = sessions[TALK_THROUGH]
    assert code == 0, stderr[-3000:]
    entries = journal(record)
    assert [e for e in entries if e["kind"] == "interrupted"], \
        "the candidate never cut the examiner off: nothing is tested"
    return load_config(ROOT / SHORT).exam, entries, examiner_turns(entries)


def test_a_candidate_who_talks_through_the_examiner_hears_no_step_more_than_twice(sessions):
    """A turn the candidate talked over is said again once at most: no question or cue card is in
    more than two examiner turns, whatever the candidate does."""
    exam, entries, turns = talk_through_journal(sessions)
    for part in exam.parts:
        for said in prompts(part):
            times = [k for k, turn in enumerate(turns) if _words(said) in turn["words"]]
            assert len(times) <= 2, f"{said!r} said {len(times)} times (turns {times})"


def test_a_step_the_candidate_talked_over_is_said_again_and_heard(sessions):
    """A turn the candidate cut off did not say something else: once they have finished, the
    step is said again, and heard whole."""
    exam, entries, turns = talk_through_journal(sessions)
    for part in exam.parts:
        for said in prompts(part):
            times = [turn for turn in turns if _words(said) in turn["words"]]
            assert [turn for turn in times if not turn["interrupted"]], \
                f"{said!r} never heard whole: said {len(times)} times, each cut off"


def test_after_the_long_turn_is_cut_the_next_parts_question_is_heard_within_one_turn(sessions):
    """The long turn runs past its limit and the candidate talks on over the examiner: the long
    turn is cut at its limit (±1 s), and Part 3's first question is heard whole in the first or
    second examiner turn after the cut."""
    exam, entries, turns = talk_through_journal(sessions)
    limit = exam.parts[1].long_turn_s
    cut = [closed for _, opened, closed in windows(entries) if closed and abs(closed - opened - limit) <= 1.0]
    assert cut, f"no window ran to the long turn's {limit:g} s limit: " \
        f"{[round(closed - opened, 1) for _, opened, closed in windows(entries) if closed]}"
    after = [turn for turn in turns if turn["t_s"] >= cut[0]]
    question = exam.parts[2].questions[0]
    heard = [k for k, turn in enumerate(after) if _words(question) in turn["words"] and not turn["interrupted"]]
    assert heard and heard[0] <= 1, (f"{question!r} heard whole at turn {heard[:1]} after the cut: "
                                     f"{[(turn['text'][:60], turn['interrupted']) for turn in after[:4]]}")


def test_two_candidates_of_the_adaptive_interview_are_taken_down_different_branches(sessions):
    """The OPI branches on the examiner's judgement of the level check: the candidate judged to
    sustain it is probed at the level above, the one who broke down is checked at the level
    below. Each session hears the questions of its own branch and none of the other's, and
    the record says which branch was not taken."""
    exam = load_config(ROOT / FORMATS[OPI][0]).exam
    check = next(part for part in exam.parts if part.judge and part.judge.tool in OPI_JUDGED[OPI])
    parts = {part.name: part for part in exam.parts}
    heard = {}
    for name, judged in OPI_JUDGED.items():
        code, _, stderr, record = sessions[name]
        assert code == 0, stderr[-3000:]
        data = json.loads((record / "session.json").read_text())
        assert data["outcome"] == "completed" and data["result_source"] == "tool_call", data["end_reason"]
        assert data["metrics"]["closing_phrases_heard"] == 1
        steps = [entry for entry in data["plan"] if entry.get("kind") != "part"]
        choices = {entry["part"]: entry.get("choice") for entry in steps if entry["kind"] == "judge"}
        assert choices[check.name] == judged[check.judge.tool]
        taken = check.judge.choices[judged[check.judge.tool]]
        other = next(target for choice, target in check.judge.choices.items() if target != taken)
        mine = [entry for entry in steps if entry["part"] == taken]
        theirs = [entry for entry in steps if entry["part"] == other]
        assert mine and all(entry["heard"] for entry in mine if entry["kind"] != "judge")
        assert theirs and all(entry.get("skipped") == "branch not taken" and not entry["heard"] for entry in theirs)
        said = [_words(text) for text in asked_lines(journal(record))]
        for question in prompts(parts[taken]):
            assert [text for text in said if _words(question) in text], f"{name}: {question!r} never said"
        for question in prompts(parts[other]):
            assert not [text for text in said if _words(question) in text], f"{name}: {question!r} said"
        heard[name] = taken
    assert len(set(heard.values())) == 2, heard
