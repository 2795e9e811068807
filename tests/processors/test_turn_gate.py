"""The turn gate: its decisions driven directly on the audio clock, then its processor with Pipecat's test helper."""

import threading

import pytest
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    InputAudioRawFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.tests.utils import run_test

from viva.pipelines.registry import GatePartParams, GateSettings, TurnGateParams
from viva.processors.exam_frames import CandidateHeldFrame, CandidateHoldFrame, ExamPartFrame
from viva.processors.turn_gate import (
    CloseWindow,
    JudgeTurn,
    OpenWindow,
    Send,
    TurnGate,
    TurnGateProcessor,
)
from viva.processors.voicing_vad import VOICING, Voicing

SPEECH = Voicing(0.95, 0.85)
ECHO = Voicing(0.95, 0.68)  # the examiner's voice back in the microphone: voiced, quieter
QUIET = Voicing(0.02, 0.1)
_count = 0


def audio(voicing: Voicing | None = QUIET) -> InputAudioRawFrame:
    """A 20 ms frame, marked as the voicing VAD would mark it (distinct bytes for each)."""
    global _count
    _count += 1
    frame = InputAudioRawFrame(audio=_count.to_bytes(4, "little") * 160, sample_rate=16000, num_channels=1)
    if voicing is not None:
        frame.metadata[VOICING] = voicing
    return frame


def feed(gate: TurnGate, voicing: Voicing, seconds: float) -> list:
    actions = []
    for _ in range(round(seconds / 0.02)):
        actions += gate.on_audio(audio(voicing))
    return actions


def kinds(actions) -> list[str]:
    return [type(a).__name__ for a in actions]


def opens(actions) -> int:
    return sum(isinstance(a, OpenWindow) for a in actions)


def speak(gate: TurnGate, seconds: float, voicing: Voicing = SPEECH) -> list:
    """The VAD's view of speech: a start after 0.2 s of it, a stop after 0.3 s of silence."""
    actions = feed(gate, voicing, 0.2) + gate.on_speech_start() + feed(gate, voicing, seconds - 0.2)
    return actions + feed(gate, QUIET, 0.3) + gate.on_speech_stop()


# -- opening: only confirmed speech


def test_audio_outside_a_window_is_never_sent():
    gate = TurnGate(end_of_turn="silence", preroll_s=0.1)
    assert feed(gate, QUIET, 1.0) == []
    assert gate.bytes_outside == 50 * 640


def test_a_window_opens_once_confirm_s_is_voiced_and_carries_the_preroll_first():
    # The pre-roll reaches back past the VAD's 0.2 s.
    gate = TurnGate(end_of_turn="silence", preroll_s=0.3, confirm_s=0.4)
    before = [audio(QUIET) for _ in range(10)]
    for frame in before:
        gate.on_audio(frame)
    voiced = [audio(SPEECH) for _ in range(10)]  # 0.2 s: what the VAD needed to start
    for frame in voiced:
        assert gate.on_audio(frame) == []
    assert gate.on_speech_start() == []  # 0.2 s voiced: not yet
    actions = feed(gate, SPEECH, 0.18)
    assert actions == []
    actions = feed(gate, SPEECH, 0.02)  # 0.4 s voiced
    assert kinds(actions)[0] == "OpenWindow" and set(kinds(actions)[1:]) == {"Send"}
    sent = [a.frame for a in actions[1:]]
    assert sent[:5] == before[-5:]  # the pre-roll, then the onset: nothing clipped
    assert sent[5:15] == voiced
    assert gate.window_open


def test_a_short_burst_is_rejected_and_nothing_is_sent():
    gate = TurnGate(end_of_turn="silence", confirm_s=0.4, confirm_gap_s=0.8)
    actions = speak(gate, 0.3)
    assert actions == []  # the stop does not end the attempt yet: words may follow
    actions = feed(gate, QUIET, 0.8)
    assert kinds(actions) == ["Rejected"]
    assert actions[0].voiced_s == pytest.approx(0.3)
    assert gate.bytes_outside == gate._received
    assert not gate.window_open and gate.rejected == 1


def test_voiced_audio_below_confidence_or_volume_does_not_confirm():
    for voicing in (Voicing(0.6, 0.9), Voicing(0.95, 0.5)):
        gate = TurnGate(end_of_turn="silence", confirm_s=0.4)
        assert opens(speak(gate, 2.0, voicing) + feed(gate, QUIET, 1.0)) == 0


def test_short_words_with_short_gaps_add_up_to_one_window():
    gate = TurnGate(end_of_turn="silence", confirm_s=0.4, confirm_gap_s=0.8)
    actions = feed(gate, QUIET, 0.5)
    for _ in range(3):  # "One. Two. Three." 0.3 s each, 0.5 s apart
        actions += speak(gate, 0.3) + feed(gate, QUIET, 0.2)
    assert opens(actions) == 1
    first_sent = next(a.frame for a in actions if isinstance(a, Send))
    assert first_sent.metadata[VOICING] == QUIET  # the pre-roll before "One" went too


def test_a_start_without_audio_opens_nothing_and_no_window_is_empty():
    gate = TurnGate(end_of_turn="silence", preroll_s=0.0, confirm_s=0.0)
    assert gate.on_speech_start() == []  # nothing held: no window without its first audio
    assert kinds(gate.on_audio(audio(SPEECH))) == ["OpenWindow", "Send"]


def test_starts_and_stops_out_of_turn_do_nothing_and_starts_do_not_nest():
    gate = TurnGate(end_of_turn="silence", confirm_s=0.0)
    assert gate.on_speech_stop() == []
    feed(gate, SPEECH, 0.2)
    assert opens(gate.on_speech_start()) == 1
    assert gate.on_speech_start() == []
    assert opens(feed(gate, SPEECH, 1.0)) == 0


def test_held_audio_is_bounded_so_a_long_unconfirmed_stretch_is_not_sent():
    gate = TurnGate(end_of_turn="silence", preroll_s=0.5, confirm_s=0.4)
    gate.on_speech_start()
    # 10 s the VAD calls speech but too faint to confirm (no examiner: nothing else trims it)
    feed(gate, Voicing(0.95, 0.3), 10.0)
    answer = [audio(SPEECH) for _ in range(20)]
    actions = [a for frame in answer for a in gate.on_audio(frame)]
    assert opens(actions) == 1
    sent = [a.frame for a in actions if isinstance(a, Send)]
    assert len(sent) * 0.02 == pytest.approx(0.5 + 3.0)  # the pre-roll and MAX_CONFIRMING_S, no more
    assert [id(f) for f in sent[-20:]] == [id(f) for f in answer]


# -- closing: only at a real end of turn


def test_pauses_shorter_than_the_tolerance_keep_one_window():
    gate = TurnGate(end_of_turn="silence", pause_tolerance_s=1.5)
    actions = speak(gate, 2.0)
    for _ in range(3):
        actions += feed(gate, QUIET, 1.0) + speak(gate, 1.0)
    assert opens(actions) == 1 and kinds(actions).count("CloseWindow") == 0
    assert gate.bytes_outside == 0  # the pauses went inside the window too
    closing = feed(gate, QUIET, 1.2)  # 0.3 s already silent at the stop, 1.5 s in all
    assert kinds(closing)[-1] == "CloseWindow" and closing[-1].reason == "silence"
    assert sum(isinstance(a, Send) for a in closing) == len(closing) - 1


def test_the_window_closes_exactly_when_the_silence_reaches_the_tolerance():
    gate = TurnGate(end_of_turn="silence", pause_tolerance_s=1.0)
    speak(gate, 1.0)  # ends with 0.3 s of silence
    assert "CloseWindow" not in kinds(feed(gate, QUIET, 0.68))
    assert kinds(feed(gate, QUIET, 0.02)) == ["Send", "CloseWindow"]
    assert feed(gate, QUIET, 1.0) == []  # after the window: held again


def test_no_close_while_the_vad_hears_speech_however_long():
    gate = TurnGate(end_of_turn="silence", pause_tolerance_s=0.5)
    actions = feed(gate, SPEECH, 0.2) + gate.on_speech_start() + feed(gate, SPEECH, 30.0)
    assert "CloseWindow" not in kinds(actions)
    # unvoiced frames while the VAD still calls it speech (before its stop) count as silence
    assert "CloseWindow" not in kinds(feed(gate, QUIET, 0.6))
    assert kinds(gate.on_speech_stop()) == ["CloseWindow"]


def test_smart_turn_asks_at_the_pause_and_closes_early_when_complete():
    gate = TurnGate(end_of_turn="smart_turn", end_silence_s=0.8, pause_tolerance_s=1.5, min_answer_s=0.0)
    actions = speak(gate, 2.0)
    (judge,) = [a for a in actions if isinstance(a, JudgeTurn)]
    assert len(judge.audio) == sum(len(a.frame.audio) for a in actions if isinstance(a, Send))
    assert gate.on_verdict(True) == []  # 0.3 s of silence: not yet
    closing = feed(gate, QUIET, 0.5)
    assert kinds(closing)[-1] == "CloseWindow" and closing[-1].reason == "smart_turn"


def test_smart_turn_incomplete_waits_for_the_tolerance_and_asks_once_per_pause():
    gate = TurnGate(end_of_turn="smart_turn", end_silence_s=0.8, pause_tolerance_s=1.5, min_answer_s=0.0)
    actions = speak(gate, 2.0)
    assert kinds(actions).count("JudgeTurn") == 1
    gate.on_verdict(False)
    assert "CloseWindow" not in kinds(feed(gate, QUIET, 1.1))
    assert kinds(feed(gate, QUIET, 0.1))[-1] == "CloseWindow"


def test_a_pause_before_min_answer_s_is_voiced_is_not_judged_and_waits_the_tolerance():
    """An opening phrase then a pause: Smart Turn is not asked, so it cannot end the answer there."""
    gate = TurnGate(end_of_turn="smart_turn", end_silence_s=0.8, pause_tolerance_s=1.5, min_answer_s=2.0)
    actions = speak(gate, 1.5)  # 1.5 s voiced, then the VAD's stop
    assert "JudgeTurn" not in kinds(actions)
    assert "CloseWindow" not in kinds(feed(gate, QUIET, 0.9))  # past end_silence_s: still open
    assert kinds(feed(gate, QUIET, 0.3))[-1] == "CloseWindow"  # at pause_tolerance_s


def test_once_min_answer_s_is_voiced_the_next_pause_is_judged():
    gate = TurnGate(end_of_turn="smart_turn", end_silence_s=0.8, pause_tolerance_s=1.5, min_answer_s=2.0)
    assert "JudgeTurn" not in kinds(speak(gate, 1.5))
    gate.on_speech_start()  # the answer goes on after 0.3 s of pause: 1.5 s + 0.6 s voiced
    actions = feed(gate, SPEECH, 0.6) + feed(gate, QUIET, 0.3) + gate.on_speech_stop()
    assert kinds(actions).count("JudgeTurn") == 1
    gate.on_verdict(True)
    closing = feed(gate, QUIET, 0.5)
    assert kinds(closing)[-1] == "CloseWindow" and closing[-1].reason == "smart_turn"


def test_a_verdict_after_speech_resumed_is_ignored():
    gate = TurnGate(end_of_turn="smart_turn", end_silence_s=0.3, min_answer_s=0.0)
    speak(gate, 1.0)
    gate.on_speech_start()  # the candidate went on before the model answered
    assert gate.on_verdict(True) == []
    assert "CloseWindow" not in kinds(feed(gate, SPEECH, 1.0))


def test_a_verdict_on_an_earlier_pause_is_ignored():
    gate = TurnGate(end_of_turn="smart_turn", end_silence_s=0.3, min_answer_s=0.0)
    (first,) = [a for a in speak(gate, 1.0) if isinstance(a, JudgeTurn)]
    (second,) = [a for a in speak(gate, 1.0) if isinstance(a, JudgeTurn)]  # went on, paused again
    assert gate.on_verdict(True, first) == []
    assert "CloseWindow" not in kinds(feed(gate, QUIET, 0.5))  # the first pause's verdict closed nothing
    assert kinds(gate.on_verdict(True, second)) == ["CloseWindow"]


def test_smart_turn_sees_at_most_the_last_eight_seconds():
    gate = TurnGate(end_of_turn="smart_turn")
    actions = speak(gate, 20.0)
    (judge,) = [a for a in actions if isinstance(a, JudgeTurn)]
    assert len(judge.audio) / 32000 == pytest.approx(8.0, abs=0.03)


def test_new_settings_apply_to_the_window_in_progress():
    gate = TurnGate(end_of_turn="silence", pause_tolerance_s=1.5)
    speak(gate, 1.0)
    gate.apply(GateSettings(end_of_turn="silence", pause_tolerance_s=3.0))
    assert "CloseWindow" not in kinds(feed(gate, QUIET, 2.0))
    assert kinds(feed(gate, QUIET, 0.7))[-1] == "CloseWindow"


# -- while the examiner speaks


def test_the_examiners_echo_does_not_open_a_window():
    gate = TurnGate(end_of_turn="silence")
    gate.on_examiner(True)
    actions = speak(gate, 5.0, ECHO) + feed(gate, QUIET, 1.0)
    assert opens(actions) == 0 and kinds(actions) == ["Rejected"]
    assert actions[0].while_examiner


def test_real_speech_over_the_examiner_opens_a_barge_in_window_after_the_stricter_confirmation():
    gate = TurnGate(end_of_turn="silence", confirm_s=0.4, barge_in_confirm_s=0.6)
    gate.on_examiner(True)
    actions = feed(gate, SPEECH, 0.2) + gate.on_speech_start() + feed(gate, SPEECH, 0.38)
    assert opens(actions) == 0  # 0.58 s: enough for a turn, not for a barge-in
    actions = feed(gate, SPEECH, 0.02)
    assert actions[0] == OpenWindow(barge_in=True)


def test_a_second_of_voiced_audio_over_the_examiner_is_rejected():
    """A word, or a clatter over the examiner's echo (voiced by the echo, loud by the noise):
    about a second at most, on real recordings (test_turn_gate_audio.py); the defaults need more."""
    gate = TurnGate(end_of_turn="silence")
    gate.on_examiner(True)
    actions = speak(gate, 1.0) + feed(gate, QUIET, 1.0)
    assert kinds(actions) == ["Rejected"]
    assert actions[0].while_examiner and actions[0].voiced_s == pytest.approx(1.0)


def test_voiced_bursts_over_the_examiner_do_not_add_up_across_gaps():
    def bursts(gate: TurnGate) -> list:  # 0.6 s each, 0.4 s apart: 2.4 s voiced, never 0.7 s at once
        actions = []
        for _ in range(4):
            actions += feed(gate, SPEECH, 0.2) + gate.on_speech_start() + feed(gate, SPEECH, 0.4)
            actions += feed(gate, QUIET, 0.3) + gate.on_speech_stop() + feed(gate, QUIET, 0.1)
        return actions + feed(gate, QUIET, 1.0)

    gate = TurnGate(end_of_turn="silence")
    gate.on_examiner(True)
    actions = bursts(gate)
    assert kinds(actions) == ["Rejected"]
    assert actions[0].voiced_s == pytest.approx(0.6)  # the most counted at once
    assert opens(bursts(TurnGate(end_of_turn="silence"))) == 1  # with the examiner silent, words add up to an answer


def test_sustained_speech_over_the_examiner_opens_a_barge_in_window_once_barge_in_confirm_s_is_voiced():
    """Words with pauses shorter than barge_in_gap_s (0.3 s) between them add up to
    barge_in_confirm_s (1.2 s)."""
    gate = TurnGate(end_of_turn="silence")
    gate.on_examiner(True)
    actions = feed(gate, SPEECH, 0.2) + gate.on_speech_start() + feed(gate, SPEECH, 0.4)
    actions += feed(gate, QUIET, 0.28) + feed(gate, SPEECH, 0.4) + feed(gate, QUIET, 0.28) + feed(gate, SPEECH, 0.18)
    assert opens(actions) == 0  # 1.18 s voiced
    actions = feed(gate, SPEECH, 0.02)
    assert actions[0] == OpenWindow(barge_in=True)


def test_the_echo_tail_still_counts_as_the_examiner_then_normal_rules_return():
    gate = TurnGate(end_of_turn="silence", echo_tail_s=0.3)
    gate.on_examiner(True)
    gate.on_examiner(False)
    feed(gate, QUIET, 0.28)
    assert gate.examiner_audible
    feed(gate, QUIET, 0.02)
    assert not gate.examiner_audible
    assert opens(speak(gate, 1.0, ECHO)) == 1  # as loud as a quiet candidate: a turn now


def test_half_duplex_opens_nothing_while_the_examiner_speaks_then_takes_the_answer():
    gate = TurnGate(end_of_turn="silence", half_duplex=True, echo_tail_s=0.0)
    gate.on_examiner(True)
    actions = feed(gate, SPEECH, 0.2) + gate.on_speech_start() + feed(gate, SPEECH, 3.0)
    assert opens(actions) == 0
    gate.on_examiner(False)  # the candidate is still talking when the examiner stops
    actions = feed(gate, SPEECH, 0.4)
    assert actions[0] == OpenWindow(barge_in=False)


def test_echo_held_while_the_examiner_spoke_is_dropped_when_it_falls_silent():
    gate = TurnGate(end_of_turn="silence", preroll_s=0.5, echo_tail_s=0.2)
    gate.on_examiner(True)
    feed(gate, ECHO, 0.2)
    gate.on_speech_start()
    feed(gate, ECHO, 2.0)
    gate.on_examiner(False)
    actions = feed(gate, QUIET, 0.4) + feed(gate, SPEECH, 0.4)  # the answer follows quickly
    assert opens(actions) == 1
    sent = [a.frame for a in actions if isinstance(a, Send)]
    assert sum(f.metadata[VOICING] == ECHO for f in sent) == 0
    assert len(sent) == 10 + 10 + 20  # the echo tail, the silence since, the answer so far


# -- tool calls


def test_a_pending_blocking_call_holds_the_window_until_it_is_answered():
    gate = TurnGate(end_of_turn="silence")
    assert gate.on_tool_call("c1", True) == []
    actions = speak(gate, 1.0) + feed(gate, QUIET, 2.0)
    assert actions == []  # decided, not sent
    assert gate.holding
    released = gate.on_tool_call("c1", False)
    assert kinds(released)[0] == "OpenWindow" and kinds(released)[-1] == "CloseWindow"
    assert kinds(released).count("OpenWindow") == 1
    assert feed(gate, QUIET, 0.1) == []


def test_two_pending_calls_hold_until_both_are_answered():
    gate = TurnGate(end_of_turn="silence")
    gate.on_tool_call("a", True)
    gate.on_tool_call("b", True)
    speak(gate, 1.0)
    assert gate.on_tool_call("a", False) == []
    assert opens(gate.on_tool_call("b", False)) == 1


def test_audio_after_the_release_follows_what_was_held_in_order():
    gate = TurnGate(end_of_turn="silence", preroll_s=0.5)
    gate.on_tool_call("c1", True)
    answer = [audio(SPEECH) for _ in range(50)] + [audio(QUIET) for _ in range(15)]  # 1 s, then a pause
    held = [a for frame in answer[:10] for a in gate.on_audio(frame)] + gate.on_speech_start()
    held += [a for frame in answer[10:] for a in gate.on_audio(frame)] + gate.on_speech_stop()
    assert held == []
    released = gate.on_tool_call("c1", False)
    assert kinds(released) == ["OpenWindow"] + ["Send"] * len(answer)  # the window is still open
    later = [audio(SPEECH) for _ in range(5)]
    after = [a for frame in later for a in gate.on_audio(frame)]
    assert kinds(after) == ["Send"] * len(later)
    sent = [a.frame for a in released + after if isinstance(a, Send)]
    assert [id(f) for f in sent] == [id(f) for f in answer + later]  # every frame once, as received


def test_every_byte_received_is_sent_in_a_window_or_kept_out():
    """Whatever happens, audio goes out only between an OpenWindow and its CloseWindow."""
    gate = TurnGate(end_of_turn="silence")
    actions = speak(gate, 0.3) + feed(gate, QUIET, 1.0) + speak(gate, 2.0) + feed(gate, QUIET, 2.0)
    gate.on_examiner(True)
    actions += speak(gate, 2.0, ECHO) + speak(gate, 1.5)
    gate.on_examiner(False)
    actions += feed(gate, QUIET, 2.0)
    gate.on_tool_call("x", True)
    actions += speak(gate, 1.0) + feed(gate, QUIET, 2.0) + gate.on_tool_call("x", False)
    inside = False
    for action in actions:
        if isinstance(action, OpenWindow):
            assert not inside
            inside = True
        elif isinstance(action, CloseWindow):
            assert inside
            inside = False
        elif isinstance(action, Send):
            assert inside
    assert opens(actions) == 3


def test_frames_without_voicing_fall_back_to_the_vads_start():
    gate = TurnGate(end_of_turn="silence", preroll_s=0.04, confirm_s=0.0)
    frames = [audio(None) for _ in range(4)]
    for frame in frames:
        gate.on_audio(frame)
    actions = gate.on_speech_start()
    assert kinds(actions) == ["OpenWindow", "Send", "Send"]
    assert [a.frame for a in actions[1:]] == frames[-2:]


# -- the processor


async def test_the_processor_turns_vad_frames_into_one_window_and_drops_audio_between():
    gate = TurnGateProcessor(TurnGateParams(end_of_turn="silence", preroll_s=0.04, confirm_s=0.04,
                                            pause_tolerance_s=0.06))
    before = [audio(QUIET) for _ in range(4)]
    speech = [audio(SPEECH) for _ in range(3)]
    after = [audio(QUIET) for _ in range(6)]
    sent = [*before, VADUserStartedSpeakingFrame(), *speech, VADUserStoppedSpeakingFrame(stop_secs=0.3), *after]
    down, _ = await run_test(gate, frames_to_send=sent, expected_down_frames=None)
    audio_out = [f for f in down if isinstance(f, InputAudioRawFrame)]
    assert audio_out == [*before[-2:], *speech, *after[:3]]
    order = [type(f) for f in down if not isinstance(f, InputAudioRawFrame)]
    assert order == [UserStartedSpeakingFrame, UserStoppedSpeakingFrame]  # the VAD's own frames stay here
    assert isinstance(down[0], UserStartedSpeakingFrame)


async def test_the_processor_records_rejected_bursts_and_windows():
    events = []
    gate = TurnGateProcessor(TurnGateParams(end_of_turn="silence", confirm_s=0.4, confirm_gap_s=0.1,
                                            pause_tolerance_s=0.1),
                             on_event=lambda kind, **fields: events.append((kind, fields)))
    burst = [audio(SPEECH) for _ in range(5)]
    answer = [audio(SPEECH) for _ in range(30)]
    sent = [VADUserStartedSpeakingFrame(), *burst, VADUserStoppedSpeakingFrame(), *[audio(QUIET) for _ in range(10)],
            VADUserStartedSpeakingFrame(), *answer, VADUserStoppedSpeakingFrame(), *[audio(QUIET) for _ in range(10)]]
    await run_test(gate, frames_to_send=sent, expected_down_frames=None)
    assert [kind for kind, _ in events] == ["noise_rejected", "window_opened", "window_closed"]
    assert events[0][1]["voiced_s"] == pytest.approx(0.1)
    assert events[1][1]["barge_in"] is False


def call_frame(kind, **fields):
    """A tool call's frame as Pipecat's LLMService broadcasts it; the gate hears the upstream copy."""
    return kind(function_name="f", tool_call_id="c1", arguments={}, **fields)


async def test_the_processor_holds_audio_while_a_blocking_call_is_pending():
    # Each step is its own run: a run ends only after the gate has handled every frame sent
    # in it, so the call is pending before the answer comes and answered after it.
    gate = TurnGateProcessor(TurnGateParams(end_of_turn="silence", confirm_s=0.04, pause_tolerance_s=0.06))
    await run_test(gate, frames_to_send=[call_frame(FunctionCallInProgressFrame, cancel_on_interruption=True)],
                   frames_to_send_direction=FrameDirection.UPSTREAM, expected_down_frames=[],
                   expected_up_frames=[FunctionCallInProgressFrame])
    assert gate.gate.holding
    speech, pause = [audio(SPEECH) for _ in range(3)], [audio(QUIET) for _ in range(5)]
    down, _ = await run_test(gate, frames_to_send=[VADUserStartedSpeakingFrame(), *speech,
                                                   VADUserStoppedSpeakingFrame(), *pause], expected_down_frames=[])
    assert gate.gate.holding  # the window was decided, and held
    down, _ = await run_test(gate, frames_to_send=[call_frame(FunctionCallResultFrame, result={}, run_llm=True)],
                             frames_to_send_direction=FrameDirection.UPSTREAM, expected_down_frames=None)
    assert [type(f) for f in down] == [UserStartedSpeakingFrame, *[InputAudioRawFrame] * 6, UserStoppedSpeakingFrame]
    assert [id(f) for f in down[1:-1]] == [id(f) for f in speech + pause[:3]]  # the answer and its pause, in order
    assert not gate.gate.holding


async def test_the_processor_tracks_the_examiner_and_the_exam_part():
    part2 = GateSettings(end_of_turn="silence", pause_tolerance_s=3.0)
    gate = TurnGateProcessor(TurnGateParams(end_of_turn="silence",
                                            parts={"Part 2": GatePartParams(pause_tolerance_s=3.0)}))
    sent = [BotStartedSpeakingFrame(), audio(QUIET), ExamPartFrame(part="Part 2")]
    await run_test(gate, frames_to_send=sent, expected_down_frames=None)
    assert gate.gate.examiner_audible
    assert gate.gate.settings == part2
    await run_test(gate, frames_to_send=[BotStoppedSpeakingFrame(), ExamPartFrame(part="Part 3")],
                   expected_down_frames=None)
    assert gate.gate.settings == GateSettings(end_of_turn="silence")  # a part without its own settings: the stage's


async def test_the_audio_goes_on_while_the_end_of_turn_model_judges_a_pause():
    """The model answers only after the gate has passed on the pause's first 0.4 s (a run_test
    ends once the gate has handled what it was sent): the audio did not wait for it. The window
    then closes when the pause reaches end_silence_s, as it would had the verdict come at once."""
    asked, answer, events = [], threading.Event(), []

    def model(audio_bytes: bytes, sample_rate: int) -> float:
        asked.append(len(audio_bytes))
        return 0.9 if answer.wait(timeout=10) else 0.0  # a gate that waited for the verdict never lets this be set

    gate = TurnGateProcessor(TurnGateParams(end_of_turn="smart_turn", confirm_s=0.04, min_answer_s=0.0,
                                            end_silence_s=1.0, pause_tolerance_s=5.0), end_of_turn_model=model,
                             on_event=lambda kind, **fields: events.append((kind, fields)))
    speech, pause = [audio(SPEECH) for _ in range(10)], [audio(QUIET) for _ in range(20)]
    down, _ = await run_test(gate, frames_to_send=[VADUserStartedSpeakingFrame(), *speech,
                                                   VADUserStoppedSpeakingFrame(), *pause], expected_down_frames=None)
    assert asked and [type(f) for f in down] == [UserStartedSpeakingFrame, *[InputAudioRawFrame] * 30]
    answer.set()
    more = [audio(QUIET) for _ in range(40)]
    down, _ = await run_test(gate, frames_to_send=more, expected_down_frames=None)
    assert [id(f) for f in down[:-1]] == [id(f) for f in more[:30]]  # the pause reaches 1.0 s at its 50th frame
    assert isinstance(down[-1], UserStoppedSpeakingFrame)
    assert events[-1] == ("window_closed", {"at_s": pytest.approx(1.2), "reason": "smart_turn",
                                            "silence_s": pytest.approx(1.0)})


async def test_the_processor_answers_a_hold_with_whether_a_window_was_open():
    gate = TurnGateProcessor(TurnGateParams(end_of_turn="silence", confirm_s=0.04, pause_tolerance_s=5.0))
    down, _ = await run_test(gate, frames_to_send=[CandidateHoldFrame(hold=True, reason="r")],
                             frames_to_send_direction=FrameDirection.UPSTREAM, expected_down_frames=None)
    assert [(type(f), f.window_open, f.reason) for f in down] == [(CandidateHeldFrame, False, "r")]
    await run_test(gate, frames_to_send=[CandidateHoldFrame(hold=False)], expected_down_frames=None)
    speech = [VADUserStartedSpeakingFrame(), *[audio(SPEECH) for _ in range(3)]]
    down, _ = await run_test(gate, frames_to_send=[*speech, CandidateHoldFrame(hold=True, reason="r")],
                             expected_down_frames=None)
    (held,) = [f for f in down if isinstance(f, CandidateHeldFrame)]
    assert isinstance(down[0], UserStartedSpeakingFrame) and held.window_open and gate.gate.window_open  # the hold does not cut a window already open


def test_the_processor_needs_a_model_for_smart_turn():
    with pytest.raises(ValueError, match="end_of_turn_model"):
        TurnGateProcessor(TurnGateParams(end_of_turn="smart_turn"))
    with pytest.raises(ValueError, match="end_of_turn_model"):  # a part's smart_turn needs it too
        TurnGateProcessor(TurnGateParams(end_of_turn="silence",
                                         parts={"Part 2": GatePartParams(end_of_turn="smart_turn")}))
