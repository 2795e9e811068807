"""`viva simulate` end to end, offline: the whole IELTS test and the short one, through the
real pipeline (simulated candidate, Silero, turn gate, Pipecat's Gemini Live service)
against the emulator, and the records they leave.

All sessions run at real-time pace, ten at a time, in subprocesses started once: the
configs with a steady candidate, stock Pipecat, and the turn gate's hard cases (the
production noise burst with the stall fault, the examiner's echo, a barge-in over it).
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
import wave

import numpy as np
import pytest

import bench.formats as formats_bench
from emulator.toolargs import schema_errors
from tests.conftest import ROOT
from viva.config import load_config
from viva.harness.candidate import load_candidate
from viva.harness.summary import reconnect_schedule, run_row, waits_off_schedule

CANDIDATE = "candidates/b2_steady.yaml"
CONFIGS = {"full": "configs/ielts_speaking.yaml", "short": "configs/ielts_speaking_short.yaml"}
BASELINE = "configs/baseline_pipecat.yaml"
SHORT = CONFIGS["short"]
RUNS = {  # name: (config, candidate, faults)
    **{name: (config, CANDIDATE, None) for name, config in CONFIGS.items()},
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
FORMATS = formats_bench.FORMATS

CONCURRENT = 10  # sessions at once: more, on 2 cores, and the audio clock itself falls behind


def long_turn_candidate(folder) -> str:
    """A candidate of real speech whose long turn runs 150 s (recordings of audio/ one after
    another, 0.7 s apart), silent through the preparation, short answers elsewhere."""
    speech = sorted((ROOT / "audio").glob("speech__*.wav"))
    rate, pieces, total = 16000, [], 0
    while total < 150 * 16000:
        for path in speech:
            with wave.open(str(path)) as w:
                audio = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
                assert w.getframerate() == rate and w.getnchannels() == 1
            pieces += [audio, np.zeros(int(0.7 * rate), dtype=np.int16)]
            total += len(audio) + int(0.7 * rate)
    long = np.concatenate(pieces)[: 150 * rate]
    with wave.open(str(folder / "long_turn_150s.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes(long.tobytes())
    short = [f"  - audio: {ROOT / 'audio' / name}" for name in (
        "speech__cmu_arctic_aew_a0001.wav", "speech__cmu_arctic_aew_a0002.wav", "speech__cmu_arctic_aew_a0003.wav",
        "speech__pocketsphinx_cards_005.wav")]
    part1 = [short[i % 4] for i in range(8)]
    answers = [*part1, "  - prepare: true", "  - audio: long_turn_150s.wav", *short]
    path = folder / "long_turn.yaml"
    path.write_text("name: long-turn-150s\nreply_delay_s: 0.8\nanswers:\n" + "\n".join(answers) + "\n")
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


def start_emulator(logs):
    """`viva emulator` in a process of its own, given no config: (process, its environment exports)."""
    process = subprocess.Popen([sys.executable, "-m", "viva.cli", "emulator", "--port", "0", "--log-dir", logs],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = ""
    while "export " not in line:
        line = process.stdout.readline()
        assert line, process.stderr.read()
    exports = dict(item.split("=", 1) for item in line.split("export ", 1)[1].split())
    return process, exports


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    """Runs every session of RUNS, CONCURRENT at a time; yields {name: (returncode, stdout,
    stderr, record folder)}. First, the IELTS test over the wire: `viva simulate --llm gemini`
    against `viva emulator` (a process of its own, given no config) through GOOGLE_GEMINI_BASE_URL
    and SSL_CERT_FILE, with a 150 s long turn (name "wire"; its emulator's journals in out/wire_logs)."""
    out = tmp_path_factory.mktemp("sessions")
    emulator, exports = start_emulator(out / "wire_logs")
    candidate = long_turn_candidate(out)
    # The formats first: they are the longest runs, and the short ones fill in around them.
    runs = {**{name: (*map(str, formats_bench.format_run(out, name, FORMATS[name][2])), None) for name in FORMATS},
            **RUNS}
    runs["never_closes"] = (SHORT, CANDIDATE, never_closes_faults(out))
    wire = subprocess.Popen(
        [sys.executable, "-m", "viva.cli", "simulate", CONFIGS["full"], "--candidate", candidate, "--llm", "gemini",
         "--out", out / "wire"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **exports, "GOOGLE_API_KEY": "not-a-real-key"})
    waiting, running, results = list(runs.items()), {}, {}
    deadline = time.monotonic() + 1800
    while waiting or running:
        while waiting and len(running) < CONCURRENT:
            name, (config, candidate, faults) = waiting.pop(0)
            # Output to files, not pipes: nobody need read a session while it runs, and the next
            # one starts as soon as any ends (not only the oldest).
            with open(out / f"{name}.stdout", "w") as stdout, open(out / f"{name}.stderr", "w") as stderr:
                running[name] = subprocess.Popen(
                    [sys.executable, "-m", "viva.cli", "simulate", config, "--candidate", candidate, "--out",
                     out / name, *(["--faults", faults] if faults else [])],
                    cwd=ROOT, stdout=stdout, stderr=stderr, text=True,
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
    stdout, stderr = wire.communicate(timeout=900)
    emulator.send_signal(signal.SIGINT)
    emulator.communicate(timeout=30)
    (record,) = [path for path in (out / "wire").iterdir() if (path / "session.json").exists()]
    results["wire"] = (wire.returncode, stdout, stderr, record)
    return results


def journal(record) -> list[dict]:
    return [json.loads(line) for line in (record / "emulator.jsonl").read_text().splitlines()]


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
    answers = sum(len(p.questions) + (1 if p.cue_card else 0) for p in exam.parts)
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
    assert rejected and all(e["voiced_s"] < 0.4 for e in rejected)
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
    if name not in RUNS:  # the formats' and the wire run's candidates answer only when asked
        return False
    return any(answer.barge_in_s is not None for answer in load_candidate(ROOT / RUNS[name][1]).answers)


@pytest.mark.parametrize("name", [*FORMATS, *RUNS, "wire"])
def test_the_examiner_is_never_cut_off_unless_the_candidate_barges_in(sessions, name):
    """An answer split at a pause has the examiner start over the rest of it, which cuts the
    examiner off (the emulator's `interrupted`): no answer of the suite is split."""
    _, _, _, record = sessions[name]
    logs = [record / "emulator.jsonl"] if name != "wire" else list((record.parent.parent / "wire_logs").glob("*/emulator.jsonl"))
    assert logs and all(log.exists() for log in logs)
    entries = [json.loads(line) for log in logs for line in log.read_text().splitlines()]
    if barges_in(name):
        assert [e for e in entries if e["kind"] == "interrupted"]
        return
    said, cut = [], []
    for entry in entries:
        if entry["kind"] == "speak":
            said.append(entry["text"])
        elif entry["kind"] == "interrupted":
            # The cuts a dropped link leaves: the model, resumed from before its last turn,
            # says that turn again, and the candidate's answer to the first one cuts the
            # repeat. viva does not play a whole turn twice (repeated_turn_skipped), so that
            # repeat is heard by no one; a turn the drop cut short is said whole, and a
            # candidate who began answering in the reconnect's silence talks over it.
            repeat = len(said) >= 2 and said[-1] == said[-2] and (
                record_events(record, "repeated_turn_skipped") or any(
                    e["examiner_turn"] == "partial" for e in record_events(record, "disconnect")))
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
    from viva.processors.closing_guard import normalize

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
    (log,) = (record.parent.parent / "wire_logs").glob("*/emulator.jsonl")
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    setup = next(e for e in entries if e["kind"] == "setup")
    assert setup["dir"] == "in"
    said = asked_lines(entries)
    assert_every_question_asked_in_order(said, CONFIGS["full"], once=True)
    exam = load_config(ROOT / CONFIGS["full"]).exam
    part2 = exam.parts[1]
    # The cue card's turn ends; 60 s of silence follow, with no window and no nudge, then the start cue.
    card = next(i for i, e in enumerate(entries) if e["kind"] == "speak" and part2.cue_card.topic in e["text"])
    card_end = next(e for e in entries[card:] if e["kind"] == "turn_complete")
    start = next(i for i, e in enumerate(entries) if e["kind"] == "client_content"
                 and part2.start_line in e.get("text", ""))
    between = entries[entries.index(card_end) + 1 : start]
    assert entries[start]["t_s"] - card_end["t_s"] == pytest.approx(60, abs=1)
    assert not [e for e in between if e["kind"] in ("activity_start", "text", "speak")]
    # The long turn's window is closed by viva at 120 s.
    opened = next(e for e in entries[start:] if e["kind"] == "activity_start")
    closed = next(e for e in entries[entries.index(opened):] if e["kind"] == "activity_end")
    assert closed["t_s"] - opened["t_s"] == pytest.approx(120, abs=1)
    assert any(e["kind"] == "tool_call" for e in entries)
    assert sum(exam.closing_phrase in text for text in said) == 1
    plan = {entry["step"]: entry for entry in data["plan"]}
    assert plan["Part 2 cue card"]["prep_s"] == pytest.approx(60, abs=0.5)
    assert plan["Part 2 long turn"]["long_turn_s"] == pytest.approx(120, abs=0.5)


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
                 and exam.parts[1].start_line in e.get("text", ""))
    # The candidate (b2-steady, who does not prepare) answered the card at once: it was held.
    assert not [e for e in entries[card:start] if e["kind"] in ("activity_start", "text")]
    assert not [e for e in entries[card:start] if e["kind"] == "audio" and e.get("window_open")]


# -- the other formats (issue 15) and marks never heard


def format_items(exam) -> list[str]:
    """What the examiner must say, in order: each cue card's topic, question and role's first line."""
    return [said for part in exam.parts
            for said in ([part.cue_card.topic] if part.cue_card else []) + part.questions
            + ([part.role.opening_line] if part.role else [])]


def limit_of(part, step: str) -> float | None:
    """The limit that cuts the answer to a step: the long turn's for a cue card and its start."""
    return part.long_turn_s if ("cue card" in step or "long turn" in step) else part.answer_s


@pytest.mark.parametrize("name", FORMATS)
def test_each_format_is_conducted_from_its_yaml_with_every_step_and_timer_kept(sessions, name):
    from viva.processors.closing_guard import normalize

    code, stdout, stderr, record = sessions[name]
    assert code == 0, stderr[-3000:]
    data = json.loads((record / "session.json").read_text())
    config, answers, scale = FORMATS[name]
    exam = load_config(ROOT / config).exam
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
    for item in format_items(exam):
        later = [i for i, text in enumerate(spoken) if normalize(item) in text and i > where]
        assert later, f"{item!r} never said, or out of order"
        where = later[0]
    plan = {entry["step"]: entry for entry in data["plan"]}
    assert not [entry for entry in data["plan"] if entry.get("skipped")]
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
