"""docs/formats.md: each exam format of configs/ run once, whole, against the emulator.

Each format is conducted from its YAML alone (the exam director, viva/processors/exam_director.py)
with a candidate of real speech (audio/) whose answers run past each limit that cuts. The
document shows, per format, every step as the record's plan has it: when it was cued, when
the examiner said it, when the candidate answered, and each timer (preparation, cut, role-play).

The tests (tests/test_simulate.py) run the same formats with their timers scaled down.

    uv run python bench/formats.py [--scale 1] [--out docs/formats.md]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import wave
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
RATE = 16000
# name: (config, the candidate's answers in order: "short", "prepare" (silent until the
# examiner's next turn) or ("long", seconds, scaled with the timers), the tests' timer scale).
FORMATS = {
    "toefl_2026": ("configs/toefl_2026.yaml", ["short"] * 7 + [("long", 55)] + ["short"] * 3, 1.0),
    "toefl_independent": ("configs/toefl_independent.yaml", ["prepare", ("long", 55)], 0.5),
    "cambridge_c1_advanced": ("configs/cambridge_c1_advanced.yaml",
                              ["short"] * 3 + [("long", 70), "short", "prepare", ("long", 140), ("long", 70), "short"],
                              0.25),
    "actfl_opi": ("configs/actfl_opi.yaml", ["short"], 0.25),
    "osce_history_taking": ("configs/osce_history_taking.yaml", ["prepare", "short"], 0.05),
    # In French and Spanish: the topic drawn and prepared before the exam begins, then a role
    # in the middle (the last answer repeats through it and every turn after).
    "delf_b1_oral": ("configs/delf_b1_oral.yaml", ["short", "prepare", "short"], 0.05),
    "dele_a2_oral": ("configs/dele_a2_oral.yaml", ["short", "prepare", "short"], 0.05),
}
TIMERS = ("prep_s", "long_turn_s", "answer_s", "question_prep_s")
SHORT = ("speech__cmu_arctic_aew_a0001.wav", "speech__cmu_arctic_aew_a0002.wav", "speech__cmu_arctic_aew_a0003.wav",
         "speech__pocketsphinx_cards_005.wav")


def speech_of(seconds: float) -> np.ndarray:
    """Real speech from audio/, recordings one after another 0.7 s apart, cut to `seconds`."""
    pieces, total = [], 0
    speech = sorted((ROOT / "audio").glob("speech__*.wav"))
    while total < seconds * RATE:
        for path in speech:
            with wave.open(str(path)) as w:
                pieces += [np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16),
                           np.zeros(int(0.7 * RATE), dtype=np.int16)]
                total += len(pieces[-2]) + len(pieces[-1])
    return np.concatenate(pieces)[: int(seconds * RATE)]


def format_run(folder: Path, name: str, scale: float, speech=speech_of) -> tuple[Path, Path]:
    """A format's config with its timers scaled, and its candidate, written to folder:
    (config path, candidate path). speech(seconds) makes each long answer (int16 at 16 kHz)."""
    config, answers, _ = FORMATS[name]
    return (scaled_config(folder, name, config, scale),
            candidate_file(folder, name, answers, speech=lambda seconds: speech(seconds * scale)))


def scaled_config(folder: Path, name: str, config: str, scale: float) -> Path:
    """A config of configs/ with its exam's timers (and role-play times) scaled, written to folder."""
    data = yaml.safe_load((ROOT / config).read_text())
    for part in data["exam"]["parts"]:
        for key in TIMERS:
            if part.get(key):
                part[key] = part[key] * scale
        if part.get("role"):
            part["role"]["time_s"] *= scale
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def candidate_file(folder: Path, name: str, answers: list, speech=speech_of) -> Path:
    """A candidate file in folder answering in order: "short" (a recording of audio/), "prepare"
    (silent until the examiner's next turn) or ("long", seconds) (speech(seconds), int16 at 16 kHz)."""
    items = []
    for i, answer in enumerate(answers):
        if answer == "prepare":
            items.append("  - prepare: true")
        elif answer == "short":
            items.append(f"  - audio: {ROOT / 'audio' / SHORT[i % len(SHORT)]}")
        else:
            path = folder / f"{name}_{i}.wav"
            with wave.open(str(path), "wb") as w:
                w.setnchannels(1), w.setsampwidth(2), w.setframerate(RATE)
                w.writeframes(speech(answer[1]).tobytes())
            items.append(f"  - audio: {path}")
    path = folder / f"{name}_candidate.yaml"
    path.write_text(f"name: {name}\nreply_delay_s: 0.8\nanswers:\n" + "\n".join(items) + "\n")
    return path


def _s(value) -> str:
    return "" if value is None else f"{value:.1f}"


def configured_timers(config: str) -> list[str]:
    """Each part's timers as its YAML sets them (at the configs' own timings)."""
    labels = {"prep_s": "preparation", "question_prep_s": "preparation per question",
              "answer_s": "answer limit", "long_turn_s": "long turn limit"}
    out = []
    for part in yaml.safe_load((ROOT / config).read_text())["exam"]["parts"]:
        timers = [f"{label} {part[key]:g} s" for key, label in labels.items() if part.get(key)]
        if part.get("role"):
            timers.append(f"role-play {part['role']['time_s']:g} s")
        if timers:
            out.append(f"{part['name']}: " + ", ".join(timers))
    return out


def format_table(name: str, record: Path) -> str:
    data = json.loads((record / "session.json").read_text())
    lines = [f"## {data['exam']} (`{FORMATS[name][0]}`)", "",
             f"Outcome {data['outcome']} ({data['end_reason']}); result from {data['result_source']}; "
             f"closing heard {data['metrics'].get('closing_phrases_heard', 0)} time(s).", ""]
    scores = data.get("scores") or []
    if scores:
        lines.append("Scores (viva's arithmetic): " + "; ".join(
            f"{s['label']} = {s['value']} ({s['rule']}, {'official' if s['official'] else 'approximate'})"
            for s in scores) + ".")
        lines.append("")
    limits = configured_timers(FORMATS[name][0])
    if limits:
        lines += ["Configured: " + "; ".join(limits) + ".", ""]
    lines += ["| step | kind | cued (s) | said (s) | answered (s) | cues | timer |", "|---|---|---|---|---|---|---|"]
    for entry in data["plan"]:
        if entry.get("kind") == "part":
            duration = entry.get("duration_s")
            lines.append(f"| **{entry['step']}** | part | {_s(entry['start_s'])} | | | | "
                         f"{'to the assessment' if duration is None else f'{duration:.1f} s'} |")
            continue
        windows = entry["answered_s"]
        answered = ", ".join(f"{_s(a)}-{_s(b)}" for a, b in windows) if len(windows) <= 3 else \
            f"{len(windows)} turns, {_s(windows[0][0])}-{_s(windows[-1][1])}"
        timer = "; ".join(f"{label} {entry[key]:.1f} s" for key, label in (
            ("prep_s", "preparation"), ("long_turn_s", "answer"), ("role_s", "role-play")) if key in entry)
        if entry.get("skipped"):
            timer += f" skipped: {entry['skipped']}"
        lines.append(f"| {entry['step']} | {entry['kind']} | {_s(entry['cued_s'])} | {_s(entry['asked_s'])} | "
                     f"{answered} | {entry['cues']} | {timer} |")
    cuts = [e for e in data["events"] if e["type"] == "long_turn_cut"]
    if cuts:
        lines += ["", "Cut at the limit: " + ", ".join(f"{c['step']} after {c['after_s']:.1f} s" for c in cuts) + "."]
    return "\n".join(lines)


HEADER = """# The other formats, from their YAML alone

Each exam format below is a config in configs/ and nothing else: no code knows a format's
name. The exam director turns the config into steps and keeps every timer (docs/exam_director.md).
Each was run once, whole, at its real timings, against the emulator (which knows only the wire),
with a candidate of real speech (audio/) whose answers run past each limit that cuts: so every
cut below is viva's. Times are seconds from the start of the session. "answer" is how long the
candidate's timed answer ran before it ended or was cut; "role-play" how long the model played
its role. "cues" counts the notes the step was given: a step's cue is placed while the
step before is answered, and replaced once more when that answer is cut at its limit (the
new cue puts the time-up line in front), so a step after a cut shows 2 without the model
having missed anything; a cue the model did not follow is a `step_not_asked` event.

What the formats need beyond IELTS, and the config keys that give it:

- a hard limit on each answer (`answer_s`), with or without a silent preparation before it
  (`question_prep_s`, then `start_line`): TOEFL;
- items said once (`reask: false`): TOEFL Listen and Repeat is heard once;
- a part in which the model plays a role from a brief for a set time (`role`: `brief`,
  `opening_line`, `time_s`, `closing_line`), after reading time (`prep_s` on the part): the
  OSCE patient, the OPI role-play;
- derived scores by a named rule (`scores`, viva/scoring.py), never the model's arithmetic.

What is uncertain in each format's sources is said at the top of its config and in the
score's `source`.
"""


async def main() -> None:
    from loguru import logger

    from viva.commands.simulate import simulate_runs
    from viva.config import load_config
    from viva.harness.candidate import load_candidate

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="timer scale (1: the configs' own timings)")
    parser.add_argument("--out", type=Path, help="Markdown file to write (default: print only)")
    args = parser.parse_args()
    logger.remove()
    folder = Path(tempfile.mkdtemp(prefix="viva-formats-"))
    started = time.monotonic()

    async def one(name: str) -> Path:
        config_path, candidate_path = format_run(folder, name, args.scale)
        (result,) = await simulate_runs(config=load_config(config_path), candidate=load_candidate(candidate_path),
                                        faults=None, runs=1, llm="emulator", out=folder / name)
        return result.record_dir

    records = await asyncio.gather(*(one(name) for name in FORMATS))
    tables = [format_table(name, record) for name, record in zip(FORMATS, records)]
    command = "uv run python bench/formats.py" + (f" --scale {args.scale:g}" if args.scale != 1 else "") + (
        f" --out {args.out}" if args.out else "")
    text = HEADER + f"\nRegenerate: `{command}` ({time.monotonic() - started:.0f} s, all formats at once).\n\n" \
        + "\n\n".join(tables) + "\n"
    print(text)
    print(f"records in {folder}")
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    asyncio.run(main())
