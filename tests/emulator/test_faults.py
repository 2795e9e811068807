"""Each fault kind of SPEC §4 fires on demand, behaves as the field reports describe, and
is visible in emulator.jsonl."""

import asyncio
import contextlib
import json

import pytest
import yaml
from google.genai import errors, types

from emulator.faults import Fault, FaultPlan, FaultsFile
from emulator.misbehaviour import (PREPARATION_LINE, SECOND_QUESTION, SKIPPED_TO_LINE, STALL_RECOVERY_LINE, Misbehaviour,
                                   content_words, number_words, paraphrase, spoken_result)
from emulator.script import FOLLOW_UP_QUESTIONS, CallTools, ScriptedExaminer, Speak, script_from_instruction
from emulator.server import EmulatorServer
from emulator.toolargs import schema_errors
from tests.conftest import fast_settings, read_pcm
from tests.helpers import MODEL, live_config, receive_turn, sdk_client, send_answer
from viva.exam import wording
from viva.exam.wording import system_instruction

SPEECH = read_pcm("speech__cmu_arctic_aew_a0002.wav")
HELLO = read_pcm("speech__alsa_front_center.wav")
NOISE = read_pcm("noise__kitchen_dishes_ambience_12s.wav")[: 2 * 16000]


def faults(*entries, seed=7) -> FaultsFile:
    return FaultsFile.model_validate({"seed": seed, "faults": list(entries)})


async def serve(exam, tmp_path, *entries):
    return EmulatorServer(log_dir=tmp_path, settings=fast_settings(), faults=faults(*entries))


def logged(server, session_id) -> list[dict]:
    path = server.sessions[session_id].journal.path
    return [json.loads(line) for line in path.read_text().splitlines()]


def fault_entries(server, session_id, kind) -> list[dict]:
    return [e for e in logged(server, session_id) if e["kind"] == "fault" and e["fault"] == kind]


async def says_nothing_to(server, session_id, sending, timeout: float = 20) -> bool:
    """Sends (awaits `sending`: a window or a text) and returns whether the model decided to say
    nothing at all to it, not even an empty turn. The emulator's own journal holds each decision:
    silence is proven by the decision, not by a wait. Anything sent instead would run into the
    next turn the test reads."""
    records = server.sessions[session_id].journal.records

    def replies() -> list[dict]:
        return [r["reply"] for r in records if r["kind"] == "reply"]

    decided = len(replies())  # every earlier input has had its decision
    await sending
    async with asyncio.timeout(timeout):  # the bound only stops a broken run hanging
        while len(replies()) == decided:
            await asyncio.sleep(0.01)
    return replies()[decided] == {"nothing": True}


async def answer_every_question(session):
    """Starts the exam and answers both questions; returns what came after the last answer."""
    await session.send_realtime_input(text="Hello")
    await receive_turn(session)
    for _ in range(2):
        await send_answer(session, SPEECH)
        turn = await receive_turn(session)
    return turn


def answered(call, response) -> list[types.FunctionResponse]:
    return [types.FunctionResponse(id=call.id, name=call.name, response=response)]


async def opened(server, exam, session_id):
    client = sdk_client(server, session_id=session_id)
    return client.aio.live.connect(model=MODEL, config=live_config(exam))


async def test_stall_after_empty_window_waits_for_the_third_speech_window(exam, tmp_path):
    async with await serve(exam, tmp_path, {"kind": "stall_after_empty_window"}) as server:
        async with await opened(server, exam, "s") as session:
            await session.send_realtime_input(text="Hello")
            await receive_turn(session)
            await send_answer(session, SPEECH)
            assert (await receive_turn(session)).text == "What do you do at the weekend?"
            assert await says_nothing_to(server, "s", send_answer(session, NOISE))  # the noise burst as a window
            for _ in range(2):  # "Hello?" twice: no reply
                assert await says_nothing_to(server, "s", send_answer(session, HELLO))
            await send_answer(session, HELLO)
            assert (await receive_turn(session)).text == STALL_RECOVERY_LINE
            await send_answer(session, SPEECH)  # "yes": the question it dropped comes again
            assert (await receive_turn(session)).text == "What do you do at the weekend?"
        entries = fault_entries(server, "s", "stall_after_empty_window")
    assert entries[0]["turn"] == 1 and entries[0]["answers_after"] == 3
    assert entries[-1]["recovered"] is True


async def test_stall_ignores_the_first_nudge_and_answers_the_second(exam, tmp_path):
    async with await serve(exam, tmp_path, {"kind": "stall", "turns": [1], "ignores_nudges": 1}) as server:
        async with await opened(server, exam, "s") as session:
            await session.send_realtime_input(text="Hello")
            await receive_turn(session)
            assert await says_nothing_to(server, "s", send_answer(session, SPEECH))
            nudge = "(The candidate has finished answering. Please continue.)"
            assert await says_nothing_to(server, "s", session.send_realtime_input(text=nudge))
            await session.send_realtime_input(text=nudge)
            assert (await receive_turn(session)).text == "What do you do at the weekend?"
        entries = fault_entries(server, "s", "stall")
    assert [e.get("nudge_ignored", False) for e in entries] == [False, True, False]


async def test_speak_instead_of_tool_call_says_the_marks_and_never_calls(exam, tmp_path):
    async with await serve(exam, tmp_path, {"kind": "speak_instead_of_tool_call"}) as server:
        async with await opened(server, exam, "s") as session:
            last = await answer_every_question(session)
        assert not last.tool_calls and last.turn_complete
        assert last.text.startswith("I would give fluency coherence a ")
        assert last.text.endswith(exam.closing_phrase)
        assert not [e for e in logged(server, "s") if e["kind"] == "tool_call"]
        assert fault_entries(server, "s", "speak_instead_of_tool_call")


async def test_tool_call_and_speak_does_both_then_closes(exam, tmp_path):
    async with await serve(exam, tmp_path, {"kind": "tool_call_and_speak"}) as server:
        async with await opened(server, exam, "s") as session:
            spoken_and_called = await answer_every_question(session)
            call = spoken_and_called.tool_calls[0]
            await session.send_tool_response(function_responses=answered(call, {"ok": True}))
            closing = await receive_turn(session)
        assert spoken_and_called.text.startswith("I would give ") and spoken_and_called.audio > 0
        assert schema_errors(exam.tools[0].parameters, call.args) == []
        assert closing.text == exam.closing_phrase
        assert fault_entries(server, "s", "tool_call_and_speak")


async def test_bad_tool_args_then_a_valid_call_after_the_error(exam, tmp_path):
    async with await serve(exam, tmp_path, {"kind": "bad_tool_args", "times": 1}) as server:
        async with await opened(server, exam, "s") as session:
            turn = await answer_every_question(session)
            bad = turn.tool_calls[0]
            problems = schema_errors(exam.tools[0].parameters, bad.args)
            await session.send_tool_response(function_responses=answered(bad, {"error": "; ".join(problems)}))
            good = (await receive_turn(session)).tool_calls[0]
            await session.send_tool_response(function_responses=answered(good, {"ok": True}))
            closing = await receive_turn(session)
        assert problems and schema_errors(exam.tools[0].parameters, good.args) == []
        assert closing.text == exam.closing_phrase
        assert len(fault_entries(server, "s", "bad_tool_args")) == 1


async def test_repeat_closing_says_it_twice_and_more(exam, tmp_path):
    async with await serve(exam, tmp_path, {"kind": "repeat_closing", "extra_text": "Have a good day."}) as server:
        async with await opened(server, exam, "s") as session:
            turn = await answer_every_question(session)
            call = turn.tool_calls[0]
            await session.send_tool_response(function_responses=answered(call, {"ok": True}))
            closing = await receive_turn(session)
        assert closing.text == f"{exam.closing_phrase} {exam.closing_phrase} Have a good day."
        assert fault_entries(server, "s", "repeat_closing")


async def test_disconnect_at_a_turn_unresumable_refuses_the_handle(exam, tmp_path):
    entry = {"kind": "disconnect", "at_turn": 1, "code": 1011, "resumable": False}
    async with await serve(exam, tmp_path, entry) as server:
        async with await opened(server, exam, "s") as session:
            await session.send_realtime_input(text="Hello")
            greeting = await receive_turn(session)
            handle = (await anext(session.receive())).session_resumption_update.new_handle
            await send_answer(session, SPEECH)
            with pytest.raises(errors.APIError) as closed:
                await receive_turn(session)
            assert closed.value.code == 1011
        with pytest.raises(errors.APIError) as refused:
            async with sdk_client(server).aio.live.connect(model=MODEL, config=live_config(exam, handle=handle)):
                pass
        assert refused.value.code == 1008
        assert greeting.text and fault_entries(server, "s", "disconnect")[0]["resumable"] is False


async def test_disconnect_and_go_away_at_a_time(exam, tmp_path):
    entries = [{"kind": "disconnect", "at_s": 1.0, "code": 1011}, {"kind": "go_away", "at_s": 0.2, "time_left_s": 5}]
    async with await serve(exam, tmp_path, *entries) as server:
        async with await opened(server, exam, "s") as session:
            seen_go_away = None
            with pytest.raises(errors.APIError) as closed:
                while True:
                    async for message in session.receive():
                        seen_go_away = seen_go_away or message.go_away
        assert closed.value.code == 1011 and seen_go_away.time_left == "5s"
        kinds = [(e["kind"], e.get("fault")) for e in logged(server, "s")]
        assert kinds.index(("fault", "go_away")) < kinds.index(("fault", "disconnect"))


async def test_reject_audio_outside_activity_closes_1007(exam, tmp_path):
    async with await serve(exam, tmp_path, {"kind": "reject_audio_outside_activity"}) as server:
        async with await opened(server, exam, "s") as session:
            await session.send_realtime_input(text="Hello")
            await receive_turn(session)
            await send_answer(session, SPEECH)  # inside a window: fine
            await receive_turn(session)
            await session.send_realtime_input(audio=types.Blob(data=SPEECH[:640], mime_type="audio/pcm;rate=16000"))
            with pytest.raises(errors.APIError) as closed:
                while True:
                    async for _ in session.receive():
                        pass
        assert closed.value.code == 1007
        assert fault_entries(server, "s", "reject_audio_outside_activity")[0]["audio_bytes"] == 640


async def test_slow_response_delays_the_reply_on_its_turns(exam, tmp_path):
    async with await serve(exam, tmp_path, {"kind": "slow_response", "delay_s": 1.0, "turns": [1]}) as server:
        async with await opened(server, exam, "s") as session:
            await session.send_realtime_input(text="Hello")
            await receive_turn(session)
            await send_answer(session, SPEECH)
            assert (await receive_turn(session)).text == "What do you do at the weekend?"
        entries = logged(server, "s")
    end = next(e["t_s"] for e in entries if e["kind"] == "activity_end")
    first_audio = next(e["t_s"] for e in entries if e["kind"] == "audio_start" and e["t_s"] > end)
    assert first_audio - end >= 1.0  # a lower bound: the model waited at least this long
    assert [e["turn"] for e in entries if e.get("fault") == "slow_response"] == [1]


def test_seeded_plans_repeat_and_differ_between_runs():
    file = faults({"kind": "stall", "probability": 0.5}, seed=3)
    def draws(stream):
        plan = FaultPlan(file, stream=stream)
        return [bool(plan.fires("stall", turn=t)) for t in range(1, 41)]

    assert draws("0") == draws("0")
    assert draws("0") != draws("1")
    assert 8 < sum(draws("0")) < 32


def test_turns_and_times_bound_a_fault():
    plan = FaultPlan(faults({"kind": "slow_response", "turns": [2, 3], "times": 1}), stream="0")
    assert [bool(plan.fires("slow_response", turn=t)) for t in (1, 2, 3)] == [False, True, False]


def test_a_faults_file_is_validated_with_file_and_line(tmp_path):
    from viva.harness.faults import load_faults
    from viva.errors import BadInput

    path = tmp_path / "f.yaml"
    path.write_text(yaml.safe_dump({"seed": 1, "faults": [{"kind": "stall"}, {"kind": "go_away"}]}))
    with pytest.raises(BadInput, match=r"f.yaml:\d+: faults\[1\]: go_away needs at_s"):
        load_faults(path)
    path.write_text("faults:\n  - kind: meteor_strike\n")
    with pytest.raises(BadInput, match=r"f.yaml:2: faults\[0\].kind: Input should be"):
        load_faults(path)


def test_spoken_results_say_bands_as_words():
    assert number_words(6.5) == "six point five" and number_words(7) == "seven"
    assert spoken_result({"fluency_coherence": 6.5, "overall_band": 7.0, "evidence": {}}) == (
        "I would give fluency coherence a six point five, and overall band a seven.")


async def messages_until_closed(session) -> tuple[list[types.LiveServerMessage], int]:
    """Every message until the server closes; and the close code."""
    seen = []
    with pytest.raises(errors.APIError) as closed:
        while True:
            async for message in session.receive():
                seen.append(message)
    return seen, closed.value.code


def contents(messages, field) -> list:
    return [m for m in messages if m.server_content and getattr(m.server_content, field)]


@pytest.mark.parametrize("during", ["examiner_speech", "examiner_turn_end"])
async def test_a_disconnect_in_the_examiners_turn_cuts_it_where_asked(exam, tmp_path, during):
    # Real-time pace with the turn end held, so that "1.0 s into the audio" is inside the turn.
    entry = {"kind": "disconnect", "during": during, "at_turn": 1, "after_s": 1.0, "code": 1011}
    settings = fast_settings(pace=1.25, hold_turn_complete=True)
    async with EmulatorServer(log_dir=tmp_path, settings=settings, faults=faults(entry)) as server:
        async with await opened(server, exam, "s") as session:
            await session.send_realtime_input(text="Hello")
            first = await receive_turn(session)  # turn 0: the greeting is not cut
            await send_answer(session, SPEECH)
            cut, code = await messages_until_closed(session)
    assert first.turn_complete and code == 1011
    audio = sum(len(m.data or b"") for m in cut)
    assert audio > 0 and not contents(cut, "turn_complete")
    if during == "examiner_speech":  # part of the turn: about 1.25 s of its audio, no generationComplete
        assert not contents(cut, "generation_complete") and audio < 2 * 24000 * 1.6
    else:  # the whole turn, and then no turnComplete
        assert contents(cut, "generation_complete")
    assert fault_entries(server, "s", "disconnect")[0]["during"] == during


async def test_a_disconnect_with_a_tool_call_pending_closes_right_after_the_call(exam, tmp_path):
    async with await serve(exam, tmp_path, {"kind": "disconnect", "during": "tool_call", "code": 1011}) as server:
        async with await opened(server, exam, "s") as session:
            turn = await answer_every_question(session)
            assert turn.tool_calls
            after, code = await messages_until_closed(session)
    assert code == 1011 and not [m for m in after if m.session_resumption_update and m.session_resumption_update.resumable]
    kinds = [(e["kind"], e.get("fault")) for e in logged(server, "s")]
    assert kinds.index(("tool_call", None)) < kinds.index(("fault", "disconnect"))


async def test_a_disconnect_during_the_closing_fires_once_only(exam, tmp_path):
    entry = {"kind": "disconnect", "during": "closing", "after_s": 0.5, "code": 1011}
    settings = fast_settings(pace=1.25, hold_turn_complete=True)
    async with EmulatorServer(log_dir=tmp_path, settings=settings, faults=faults(entry)) as server:
        async with await opened(server, exam, "s") as session:
            turn = await answer_every_question(session)
            await session.send_tool_response(function_responses=answered(turn.tool_calls[0], {"ok": True}))
            cut, code = await messages_until_closed(session)
        assert code == 1011 and not contents(cut, "turn_complete")
        said = "".join(m.server_content.output_transcription.text for m in contents(cut, "output_transcription"))
        assert said and exam.closing_phrase.startswith(said.strip())
        plan = server.sessions["s"].misbehaviour.plan
        assert plan.fires_during("closing", turn=2) is None  # a moment happens once


# ---- the faults of a cued turn, and the model that talks into the candidate's preparation

CUED = "What do you usually enjoy doing at the weekend?"
CUE = wording.cue(wording.say(CUED), now=False)  # as viva words it (viva/exam/wording.py)


def cue_examiner(tools=("record_assessment",)) -> ScriptedExaminer:
    lines, closing = script_from_instruction('You are an examiner. After the function result, say exactly "Goodbye."')
    return ScriptedExaminer(lines=lines, closing_phrase=closing, tools=tools)


def misbehaving(examiner, *entries):
    fired = []
    m = Misbehaviour(examiner, FaultPlan(faults(*entries)), on_fault=lambda kind, **fields: fired.append((kind, fields)))
    return m, fired


def kept_share(original: str, said: str) -> float:
    """The share of original's content words that said still has (a tolerant matcher's view)."""
    wanted, kept = content_words(original), set(content_words(said))
    return sum(w in kept for w in wanted) / len(wanted)


@pytest.mark.parametrize("kind, expected", [
    ("ignores_cue", FOLLOW_UP_QUESTIONS[0]),
    ("skips_question", SKIPPED_TO_LINE),
    ("two_questions", f"{CUED} {SECOND_QUESTION}"),
    ("reads_cue_aloud", CUE),
    ("paraphrases", "Tell me, what do you usually like doing at the weekend?"),
])
def test_each_cue_fault_changes_what_a_cued_turn_says(kind, expected):
    e = cue_examiner()
    m, fired = misbehaving(e, {"kind": kind, "times": 1})
    e.read_cue(CUE)
    said = m.shape(m.on_text(), example_arguments=lambda name: {})
    assert said.text == expected
    assert fired == [(kind, {"turn": 0, "cued": CUED, "said": expected})]
    assert e.pending_cue is None  # the cue is used up either way
    e.read_cue(CUE)
    assert m.shape(m.on_text(), example_arguments=lambda name: {}).text == CUED  # times: 1


def test_cue_faults_leave_script_lines_the_closing_and_tool_calls_alone(exam):
    lines, closing = script_from_instruction(system_instruction(exam))
    e = ScriptedExaminer(lines=lines, closing_phrase=closing, tools=("record_assessment",))
    kinds = ["ignores_cue", "skips_question", "reads_cue_aloud", "paraphrases", "two_questions"]
    m, fired = misbehaving(e, *[{"kind": kind} for kind in kinds])
    shaped = lambda reply: m.shape(reply, example_arguments=lambda name: {})  # noqa: E731
    assert shaped(m.on_text()) == Speak(lines[0].text, line=0)
    e.read_cue(f'[Exam system] Now: say exactly "{closing}"')
    assert shaped(m.on_text()).text == closing  # a cued closing is the closing
    e.read_cue("[Exam system] call record_assessment now.")
    assert shaped(m.on_text()) == CallTools(("record_assessment",))
    assert fired == []


@pytest.mark.parametrize("question", [
    CUED, "Why do you think people enjoy music?", "Do you work or are you a student?",
    "What kind of films do you often watch, and why?", "Describe a big city you would like to visit.",
    "I'd like to move on. Is it important to have hobbies?",
])
def test_a_paraphrase_differs_but_keeps_most_of_the_questions_content_words(question):
    said = paraphrase(question)
    assert said != question and kept_share(question.split(". ")[-1], said) >= 0.6, said
    assert said.split()[0] in ("Tell", "So,", "I'd")


def test_paraphrases_take_turns_at_their_openings():
    e = cue_examiner()
    m, _ = misbehaving(e, {"kind": "paraphrases"})
    said = []
    for _ in range(2):
        e.read_cue('say exactly "Why do you usually enjoy it?"')
        said.append(m.shape(m.on_text(), example_arguments=lambda name: {}).text)
    assert said == ["Tell me, for what reason do you usually enjoy it?", "I'd like to know: for what reason do you usually enjoy it?"]


def test_speaks_during_preparation_waits_eight_seconds_unless_told_otherwise():
    assert Fault(kind="speaks_during_preparation").after_s == 8.0
    assert Fault(kind="speaks_during_preparation", after_s=0.3).after_s == 0.3
    assert Fault(kind="disconnect", during="closing").after_s == 1.0


def cue_config(exam):
    told = f'{exam.system_prompt} Follow the notes. After the function result, say exactly "{exam.closing_phrase}"'
    return live_config(exam).model_copy(update={"system_instruction": told})


@pytest.mark.parametrize("kind", ["ignores_cue", "paraphrases", "skips_question", "two_questions", "reads_cue_aloud"])
async def test_a_cue_fault_is_heard_and_journaled(exam, tmp_path, kind):
    async with await serve(exam, tmp_path, {"kind": kind}) as server:
        client = sdk_client(server, session_id="s")
        async with client.aio.live.connect(model=MODEL, config=cue_config(exam)) as session:
            await session.send_client_content(
                turns=types.Content(role="user", parts=[types.Part(text=CUE)]), turn_complete=True)
            said = (await receive_turn(session)).text
        entry = fault_entries(server, "s", kind)[0]
        speak = [e for e in logged(server, "s") if e["kind"] == "speak"][0]
    assert entry["cued"] == CUED and entry["said"] == said == speak["text"]
    expected = {"ignores_cue": FOLLOW_UP_QUESTIONS[0], "skips_question": SKIPPED_TO_LINE,
                "two_questions": f"{CUED} {SECOND_QUESTION}", "reads_cue_aloud": CUE}
    if kind == "paraphrases":
        assert said != CUED and kept_share(CUED, said) >= 0.6
    else:
        assert said == expected[kind]
    assert speak["cued"] is (kind not in ("ignores_cue", "skips_question"))


class IdleSleeps:
    """The sessions' idle_sleep: a sleep that ends when the test says (or is cancelled)."""

    def __init__(self):
        self._sleeps: asyncio.Queue = asyncio.Queue()

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        await self._sleeps.put((seconds, future))
        await future

    async def next(self) -> tuple[float, asyncio.Future]:
        async with asyncio.timeout(20):  # the bound only stops a broken run hanging
            return await self._sleeps.get()


async def ended(future: asyncio.Future) -> None:
    await asyncio.wait([future], timeout=20)
    assert future.done()


async def journaled(server, session_id, predicate) -> None:
    """Waits for the emulator's journal to record what was sent (its decision, not a time)."""
    records = server.sessions[session_id].journal.records
    async with asyncio.timeout(20):
        while not any(predicate(r) for r in records):
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def after_a_turn(exam, tmp_path, entry: dict, **settings):
    """A session under one speaks_during_preparation entry, its first examiner turn over:
    yields (server, session, the idle count's wait in seconds, the count); the count ends
    when the test sets it (the client said nothing) or a client message cancels it."""
    sleeps = IdleSleeps()
    async with EmulatorServer(log_dir=tmp_path, settings=fast_settings(idle_sleep=sleeps.sleep, **settings),
                              faults=faults(entry)) as server:
        async with await opened(server, exam, "s") as session:
            await session.send_realtime_input(text="Hello")
            await receive_turn(session)
            idle_s, count = await sleeps.next()  # the client's silence counts from the turn's end
            yield server, session, sleeps, idle_s, count


async def test_speaks_during_preparation_talks_into_the_silence_and_keeps_the_pending_cue(exam, tmp_path):
    entry = {"kind": "speaks_during_preparation", "times": 1}
    async with after_a_turn(exam, tmp_path, entry) as (server, session, sleeps, idle_s, first):
        assert idle_s == 8.0
        # Audio outside a window is no message to the model: the silence goes on.
        await session.send_realtime_input(audio=types.Blob(data=SPEECH[:640], mime_type="audio/pcm;rate=16000"))
        await journaled(server, "s", lambda r: r["kind"] == "audio")
        assert not first.done()
        # A cue for later is a message: that count stops and another starts.
        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text=CUE)]), turn_complete=False)
        await ended(first)
        assert first.cancelled()
        _, second = await sleeps.next()
        second.set_result(None)  # the client has said nothing for idle_s
        unprompted = await receive_turn(session)
        await send_answer(session, SPEECH)
        cued = await receive_turn(session)
        entries = fault_entries(server, "s", "speaks_during_preparation")
    assert unprompted.text == PREPARATION_LINE and unprompted.audio > 0 and unprompted.turn_complete
    assert cued.text == CUED  # the unprompted turn did not use up the cue
    assert entries == [{**entries[0], "turn": 0, "idle_s": 8.0, "said": PREPARATION_LINE}]


async def test_speaks_during_preparation_says_nothing_when_the_client_speaks_first(exam, tmp_path):
    entry = {"kind": "speaks_during_preparation", "after_s": 0.3}
    async with after_a_turn(exam, tmp_path, entry) as (server, session, sleeps, idle_s, count):
        await send_answer(session, SPEECH)  # the candidate answers before the idle time is up
        await ended(count)
        assert count.cancelled() and idle_s == 0.3
        asked = await receive_turn(session)
        _, after_answer = await sleeps.next()  # a new count, from the end of this turn
        await session.send_realtime_input(activity_start=types.ActivityStart())
        await ended(after_answer)
        assert asked.text == "What do you do at the weekend?"
        assert fault_entries(server, "s", "speaks_during_preparation") == []
        assert PREPARATION_LINE not in [e.get("text") for e in logged(server, "s")]


async def test_an_unprompted_turn_is_interrupted_like_any_other(exam, tmp_path):
    entry = {"kind": "speaks_during_preparation", "times": 1}
    # Real-time pace: the unprompted turn lasts long enough to be interrupted.
    async with after_a_turn(exam, tmp_path, entry, pace=1.25) as (server, session, _, _, count):
        count.set_result(None)
        await journaled(server, "s", lambda r: r["kind"] == "speak" and r["text"] == PREPARATION_LINE)
        await session.send_realtime_input(activity_start=types.ActivityStart())
        cut = await receive_turn(session)
        flags = [m.server_content.interrupted for m in cut.messages if m.server_content]
        assert any(flags) and cut.turn_complete
