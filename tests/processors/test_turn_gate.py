"""The turn gate: its decisions driven directly, then its processor with Pipecat's test helper."""

from pipecat.frames.frames import (
    InputAudioRawFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.tests.utils import run_test

from processors.turn_gate import CloseWindow, TurnGate, TurnGateProcessor


def audio(i: int, ms: int = 20) -> InputAudioRawFrame:
    return InputAudioRawFrame(audio=bytes([i % 256]) * (32 * ms), sample_rate=16000, num_channels=1)


def kinds(actions) -> list[str]:
    return [type(a).__name__ for a in actions]


def test_audio_outside_a_turn_is_held_not_sent():
    gate = TurnGate(preroll_s=0.1)
    assert all(gate.on_audio(audio(i)) == [] for i in range(20))
    assert gate.bytes_outside == 20 * 640


def test_a_window_opens_with_the_preroll_then_carries_the_turn_and_closes():
    gate = TurnGate(preroll_s=0.1)
    frames = [audio(i) for i in range(10)]
    for frame in frames:
        gate.on_audio(frame)
    actions = gate.on_speech_start()
    assert kinds(actions) == ["OpenWindow"] + ["Send"] * 5
    assert [a.frame for a in actions[1:]] == frames[-5:]
    assert gate.bytes_outside == 5 * 640  # the pre-roll went inside the window
    later = audio(99)
    (send,) = gate.on_audio(later)
    assert send.frame is later
    assert gate.on_speech_stop() == [CloseWindow()]
    assert gate.on_audio(audio(100)) == []
    assert gate.bytes_outside == 6 * 640


def test_starts_and_stops_out_of_turn_do_nothing():
    gate = TurnGate(preroll_s=0.1)
    assert gate.on_speech_stop() == []
    gate.on_audio(audio(1))
    gate.on_speech_start()
    assert gate.on_speech_start() == []  # no nested start
    assert gate.on_speech_stop() == [CloseWindow()]
    assert gate.on_speech_stop() == []


def test_no_empty_window_when_no_audio_came_before_the_stop():
    gate = TurnGate(preroll_s=0.0)
    assert gate.on_speech_start() == []
    assert kinds(gate.on_speech_stop()) == ["Rejected"]  # nothing was sent: no window to close
    assert gate.on_speech_start() == []
    assert kinds(gate.on_audio(audio(1))) == ["OpenWindow", "Send"]


async def test_the_processor_turns_vad_frames_into_a_window_and_drops_audio_between():
    gate = TurnGateProcessor(preroll_s=0.04)
    frames = [audio(i) for i in range(4)]
    sent = [*frames, VADUserStartedSpeakingFrame(), audio(10), VADUserStoppedSpeakingFrame(stop_secs=0.8), audio(11)]
    down, _ = await run_test(gate, frames_to_send=sent, expected_down_frames=None)
    audio_out = [f for f in down if isinstance(f, InputAudioRawFrame)]
    assert [f.audio for f in audio_out] == [frames[2].audio, frames[3].audio, sent[5].audio]
    order = [type(f) for f in down if not isinstance(f, InputAudioRawFrame)]
    assert order == [UserStartedSpeakingFrame, UserStoppedSpeakingFrame]
    assert down.index(next(f for f in down if isinstance(f, UserStartedSpeakingFrame))) == 0


def test_a_start_is_confirmed_after_confirm_s_and_carries_the_preroll_and_what_was_held():
    gate = TurnGate(preroll_s=0.04, confirm_s=0.06)
    before = [audio(i) for i in range(3)]
    for frame in before:
        gate.on_audio(frame)
    assert gate.on_speech_start() == []
    held = [audio(10 + i) for i in range(3)]
    assert gate.on_audio(held[0]) == [] and gate.on_audio(held[1]) == []
    actions = gate.on_audio(held[2])
    assert kinds(actions) == ["OpenWindow"] + ["Send"] * 5
    assert [a.frame for a in actions[1:]] == before[1:] + held
    assert gate.bytes_outside == 640


def test_a_start_taken_back_before_confirmation_opens_nothing_and_is_rejected():
    gate = TurnGate(preroll_s=0.04, confirm_s=0.2)
    gate.on_audio(audio(1))
    gate.on_speech_start()
    gate.on_audio(audio(2))
    assert kinds(gate.on_speech_stop()) == ["Rejected"]
    assert gate.rejected == 1 and not gate.window_open and gate.bytes_outside == 2 * 640
    gate.on_audio(audio(3))
    gate.on_speech_start()  # the next start still has its pre-roll (the last 40 ms)
    actions = []
    for i in range(10):
        actions += gate.on_audio(audio(20 + i))
    assert kinds(actions)[:1] == ["OpenWindow"] and actions[1].frame.audio == audio(2).audio
