"""The emulated model plays a role when a cue tells it to (emulator/script.py parse_cue,
emulator/role.py): the opening line, then one short answer a candidate turn, each one fact of
the brief in the first person, never a direction to the actor, then fillers in the session's
language, until a cue to say or call something ends the role. viva/processors/exam_director.py
sends such cues for role-play parts."""

import dataclasses

import pytest
from google.genai import errors, types

from emulator.first_person import first_person, first_person_french, first_person_spanish
from emulator.language import FRENCH, NO_OWN_WORDS
from emulator.role import brief_clauses, is_direction, role_facts
from emulator.script import (
    AGAIN,
    FOLLOW_UP_QUESTIONS,
    ROLE_FILLERS,
    CallTools,
    Cue,
    Silence,
    Speak,
    in_role_lines,
    parse_cue,
)
from emulator.voice import ExaminerVoice
from tests.emulator.test_cues import KNOCK, SPEECH, connected, cue_config, records, user
from tests.emulator.test_script import ASK, ASSESS, NUDGE, cue_examiner
from tests.helpers import MODEL, receive_turn, sdk_client, send_answer
from viva.exam import wording

BRIEF = ("You are Mr David Jones, 58, a bus driver. You have had chest pain for three days. "
         "It gets worse when you climb stairs. You smoke ten cigarettes a day. You are worried it is your heart.")
OPENING = "Hello doctor. I have had this pain in my chest."
# The cues as viva words them (viva/exam/wording.py).
ROLE = wording.cue(wording.play_role(BRIEF, OPENING), now=False)
ROLE_NOW = wording.cue(wording.play_role(BRIEF, OPENING), now=True)
IN_ROLE = ["I am Mr David Jones, 58, a bus driver.", "I have had chest pain for three days.",
           "It gets worse when I climb stairs.", "I smoke ten cigarettes a day.", "I am worried it is my heart."]
STOP_LINE = ("Thank you, that is the end of the consultation. Now I have some questions for you. "
             "What is your most likely diagnosis?")
STOP = wording.cue(wording.say(STOP_LINE), now=False)

# Briefs that mix the person's facts with directions to the actor, which the person never says.
DIRECTED = ("You are Mr David Jones, 58, a bus driver. Only mention your smoking if asked. "
            "You have had chest pain for three weeks. Do not volunteer that your father died of a heart attack. "
            "It comes on when you climb stairs or walk fast. If the candidate asks about alcohol, say you drink "
            "two pints at the weekend. You are worried but do not show it. You should sound a little anxious. "
            "You never mention your tablets unless asked. You smoke ten cigarettes a day. "
            "(Rub your chest when you describe the pain.) You are worried you will lose your job.")
DIRECTED_FACTS = ("I am Mr David Jones, 58, a bus driver.", "I have had chest pain for three weeks.",
                  "It comes on when I climb stairs or walk fast.", "I smoke ten cigarettes a day.",
                  "I am worried I will lose my job.")
DIRECTIONS = ("Only mention your smoking if asked.", "Do not volunteer that your father died of a heart attack.",
              "If the candidate asks about alcohol, say you drink two pints at the weekend.",
              "You are worried but do not show it.", "You should sound a little anxious.",
              "You never mention your tablets unless asked.", "(Rub your chest when you describe the pain.)")
FRENCH_BRIEF = ("Vous êtes Madame Claire Martin, 45 ans, vendeuse dans une boulangerie. "
                "Vous avez mal à la gorge depuis cinq jours. Ne mentionnez votre tabagisme que si on vous le demande. "
                "La douleur est pire le matin. Si le candidat vous demande si vous avez de la fièvre, dites que non. "
                "Vous êtes inquiète mais ne le montrez pas. Vous fumez dix cigarettes par jour. "
                "Vous ne devez jamais donner de diagnostic. Restez calme et polie. "
                "Vous vivez avec votre fille et vous travaillez de nuit.")
FRENCH_FACTS = ("Je suis Madame Claire Martin, 45 ans, vendeuse dans une boulangerie.",
                "J'ai mal à la gorge depuis cinq jours.", "La douleur est pire le matin.",
                "Je fume dix cigarettes par jour.", "Je vis avec ma fille.", "Je travaille de nuit.")
FRENCH_DIRECTIONS = ("Ne mentionnez votre tabagisme que si on vous le demande.",
                     "Si le candidat vous demande si vous avez de la fièvre, dites que non.",
                     "Vous êtes inquiète mais ne le montrez pas.", "Vous ne devez jamais donner de diagnostic.",
                     "Restez calme et polie.")
FRENCH_OPENING = "Bonjour docteur. J'ai mal à la gorge."


# ---- parse_cue ---------------------------------------------------------------------------

def test_a_role_cue_gives_the_brief_and_the_opening_line_either_placement():
    tools = ("record_assessment",)
    assert parse_cue(ROLE, tools) == Cue(ROLE, say=OPENING, role=BRIEF)
    assert parse_cue(ROLE_NOW, tools) == Cue(ROLE_NOW, say=OPENING, role=BRIEF)
    # the brief's whitespace collapsed, curly quotes for the opening line
    spread = ROLE.replace(f'"{OPENING}"', f"\u201c{OPENING}\u201d").replace(". You", ".\n  You")
    assert parse_cue(spread, tools) == Cue(spread, say=OPENING, role=BRIEF)


def test_text_that_asks_for_no_role_means_what_it_meant_before():
    tools = ("record_assessment",)
    assert parse_cue(ASK, tools) == Cue(ASK, say="Do you work or are you a student?")
    assert parse_cue(ASSESS, tools) == Cue(ASSESS, tools=("record_assessment",))
    assert parse_cue(STOP, tools) == Cue(STOP, say=STOP_LINE) and parse_cue(STOP, tools).role is None
    # "Role:" without "play this role" (and the reverse) is no role; "saying exactly" counts only in a role cue
    assert parse_cue('Role: examiner. Say exactly "Hi."', tools) == Cue('Role: examiner. Say exactly "Hi."', say="Hi.")
    assert parse_cue('Start by saying exactly "Hi."', tools) is None
    assert parse_cue("Please play this role well.", tools) is None
    assert parse_cue(NUDGE, tools) is None


def test_the_brief_in_the_first_person_one_sentence_a_line():
    assert in_role_lines(BRIEF) == IN_ROLE
    assert in_role_lines("You're a shopkeeper. Your shop sells shoes. A customer tells you the price is too high, "
                         "so you offer a discount. Dr. Smith is yours.") == [
        "I'm a shopkeeper.", "My shop sells shoes.",
        "A customer tells me the price is too high, so I offer a discount.", "Dr. Smith is mine."]


def test_directions_to_the_actor_are_never_facts_in_english_or_french():
    assert role_facts(DIRECTED) == DIRECTED_FACTS
    assert [c for c in brief_clauses(DIRECTED) if is_direction(c)] == list(DIRECTIONS)
    assert role_facts(FRENCH_BRIEF) == FRENCH_FACTS
    assert [c for c in brief_clauses(FRENCH_BRIEF) if is_direction(c)] == list(FRENCH_DIRECTIONS)


def test_a_fact_is_one_clause_and_how_to_behave_is_no_fact():
    brief = ("You are the evening receptionist at the Grand Hotel. You are polite but you cannot give a discount "
             "without the manager; the manager is away until morning. You live with your wife and your two sons.")
    assert role_facts(brief) == ("I am the evening receptionist at the Grand Hotel.",
                                 "I cannot give a discount without the manager.", "The manager is away until morning.",
                                 "I live with my wife and my two sons.")
    # What the brief says of the person stays, however it begins.
    for fact in ("When you climb stairs, it hurts.", "You never drink alcohol.", "Once a week you go swimming.",
                 "A customer tells you the price is too high, so you offer a discount.", "Vous buvez du café le matin."):
        assert not is_direction(fact), fact


def test_french_facts_are_said_in_the_first_person_where_the_swap_knows_every_word():
    assert [first_person_french(s) for s in (
        "Vous vous inquiétez pour votre travail.", "Votre médecin vous a prescrit des comprimés.",
        "Vous n'avez pas de fièvre.", "Vous habitez chez vous.", "Vous préférez le thé et vous vendez des fleurs.",
        "Vous étiez infirmière.", "Vos enfants habitent à Lyon.")] == [
        "Je m'inquiète pour mon travail.", "Mon médecin m'a prescrit des comprimés.", "Je n'ai pas de fièvre.",
        "J'habite chez moi.", "Je préfère le thé et je vends des fleurs.", "J'étais infirmière.",
        "Mes enfants habitent à Lyon."]
    # beyond the swap (an inverted verb, votre before a noun of unknown gender): None, the brief's wording is said
    assert first_person_french("Avez-vous mal ?") is None and first_person_french("Votre xylophone est cassé.") is None
    assert role_facts("Votre xylophone est cassé.") == ("Votre xylophone est cassé.",)


def test_spanish_facts_are_said_in_the_first_person_where_usted_is_the_subject_of_a_known_verb():
    assert [first_person(s) for s in (
        "Usted es Lucía, dependienta de la tienda.", "Usted trabaja en Madrid y su hermana vive en Sevilla.",
        "Usted no tiene el tique.", "El cliente compró ayer unos pantalones.")] == [
        "Soy Lucía, dependienta de la tienda.", "Trabajo en Madrid y mi hermana vive en Sevilla.",
        "No tengo el tique.", "El cliente compró ayer unos pantalones."]
    # "usted" not the subject of a verb: None, and the brief's wording is said
    assert first_person_spanish("A usted le gusta el cine.") is None
    assert first_person("A usted le gusta el cine.") == "A usted le gusta el cine."


SPANISH_BRIEF = ("Usted es Lucía, dependienta de una tienda de ropa. Hay una talla más, pero solo en azul. "
                 "La tienda no devuelve el dinero. Usted es amable, hace preguntas sencillas, habla despacio, con "
                 "frases cortas, y deja que el cliente lleve la conversación. No mencione el vale si no se lo piden. "
                 "Si le preguntan por el precio, diga que son treinta euros.")


def test_directions_to_the_actor_are_never_facts_in_spanish():
    assert role_facts(SPANISH_BRIEF) == ("Soy Lucía, dependienta de una tienda de ropa.",
                                         "Hay una talla más, pero solo en azul.", "La tienda no devuelve el dinero.")


def test_how_to_speak_and_to_stay_is_a_direction_in_any_of_the_three_languages():
    for direction in ("Vous restez polie.", "Vous répondez en quelques phrases, en français courant.",
                      "You answer in short sentences.", "You remain calm.", "Speak slowly and clearly.",
                      "Hable despacio.", "Usted está tranquila."):
        assert is_direction(direction), direction
    for fact in ("Vous parlez anglais et espagnol.", "You speak three languages.", "Usted habla inglés."):
        assert not is_direction(fact), fact


# ---- the state machine ---------------------------------------------------------------------

def test_a_role_is_played_from_the_brief_then_generic_lines_until_a_say_cue_ends_it():
    e = cue_examiner()
    e.read_cue(ROLE)
    assert e.on_turn(speech=False) == Silence() and e.state.role is None  # noise: the cue waits, no role yet
    assert e.on_turn(speech=True) == Speak(OPENING, cue=ROLE)
    assert e.state.role == BRIEF
    assert e.on_turn(speech=False) == Silence() and e.state.role_replies == 0  # noise gets nothing in role either
    said = [e.on_turn(speech=True) for _ in range(len(IN_ROLE) + 3)]
    assert [s.text for s in said] == [*IN_ROLE, *ROLE_FILLERS, ROLE_FILLERS[0]]
    assert all(s.role and not s.cued for s in said)
    e.read_cue(STOP)
    assert e.on_turn(speech=True) == Speak(STOP_LINE, cue=STOP)
    assert e.state.role is None
    assert e.on_turn(speech=True) == Speak(FOLLOW_UP_QUESTIONS[0])  # out of role: cue mode as before
    assert e.on_text() == Speak(f"{AGAIN} What is your most likely diagnosis?")


def test_in_role_one_fact_a_turn_then_fillers_in_the_sessions_language_or_silence_without_them():
    french = dataclasses.replace(cue_examiner(), own_words=FRENCH)
    french.read_cue(wording.cue(wording.play_role(FRENCH_BRIEF, FRENCH_OPENING), now=True))
    assert french.on_text().text == FRENCH_OPENING
    said = [french.on_turn(speech=True).text for _ in range(len(FRENCH_FACTS) + 3)]
    assert said == [*FRENCH_FACTS, *FRENCH.role_fillers, FRENCH.role_fillers[0]]
    assert all(a != b for a, b in zip(said, said[1:]))  # never the same answer twice in a row
    silent = dataclasses.replace(cue_examiner(), own_words=NO_OWN_WORDS)
    silent.read_cue(ROLE_NOW)
    silent.on_text()
    assert [silent.on_text() for _ in range(len(IN_ROLE))] == [Speak(line, role=True) for line in IN_ROLE]
    assert silent.on_text() == Silence() and silent.on_turn(speech=True) == Silence()


def test_a_role_cue_sent_now_is_said_at_the_trigger_and_a_nudge_in_role_gets_a_reply_in_role():
    e = cue_examiner()
    e.read_cue(ROLE_NOW)
    assert e.on_text() == Speak(OPENING, cue=ROLE_NOW)
    assert e.on_text() == Speak(IN_ROLE[0], role=True)
    assert e.on_turn(speech=True) == Speak(IN_ROLE[1], role=True)


def test_a_call_cue_ends_the_role_and_a_pending_cue_takes_the_turn_from_the_role():
    e = cue_examiner()
    e.read_cue(ROLE)
    e.on_turn(speech=True)
    e.on_turn(speech=True)
    e.read_cue(ASSESS)
    assert e.on_turn(speech=True) == CallTools(("record_assessment",))
    assert e.state.role is None
    assert e.on_tool_result("record_assessment") == Speak("Goodbye.")


def test_the_role_and_its_place_in_the_brief_are_in_the_state_a_handle_restores():
    e = cue_examiner()
    e.read_cue(ROLE)
    e.on_turn(speech=True)
    e.on_turn(speech=True)
    saved = e.state
    e.on_turn(speech=True)
    fresh = cue_examiner()
    fresh.state = saved
    assert fresh.on_turn(speech=True) == Speak(IN_ROLE[1], role=True)


def test_a_role_cue_settled_in_a_seeded_history_puts_the_examiner_in_role():
    e = cue_examiner()
    e.read_cue(ROLE)
    e.settle_cue()  # the model's opening line followed the cue in the history
    assert e.on_turn(speech=True) == Speak(IN_ROLE[0], role=True)


# ---- over the wire ----------------------------------------------------------------------

async def test_over_the_wire_the_role_cue_gets_the_opening_then_replies_in_role_until_the_stop_cue(emulator, exam):
    async with await connected(emulator, exam, "role") as session:
        await session.send_client_content(turns=user(ROLE_NOW), turn_complete=True)
        opening = await receive_turn(session)
        await send_answer(session, SPEECH)
        first = await receive_turn(session)
        await send_answer(session, KNOCK)
        empty = await receive_turn(session)
        await send_answer(session, SPEECH)
        second = await receive_turn(session)
        await session.send_client_content(turns=user(STOP), turn_complete=False)
        await send_answer(session, SPEECH)
        stop = await receive_turn(session)
        await send_answer(session, SPEECH)
        after = await receive_turn(session)
    assert [opening.text, first.text, empty.text, second.text, stop.text, after.text] == [
        OPENING, IN_ROLE[0], "", IN_ROLE[1], STOP_LINE, FOLLOW_UP_QUESTIONS[0]]
    assert first.audio > 0
    spoken = [(s["text"], s["cued"], s.get("role", False)) for s in records(emulator, "role", "speak")]
    assert spoken == [(OPENING, True, False), (IN_ROLE[0], False, True), (IN_ROLE[1], False, True),
                      (STOP_LINE, True, False), (FOLLOW_UP_QUESTIONS[0], False, False)]
    cues = records(emulator, "role", "cue")
    assert cues[0]["role"] == BRIEF and cues[0]["say"] == OPENING and "role" not in cues[1]


async def test_over_the_wire_a_session_resumed_in_role_goes_on_with_the_brief(emulator, exam):
    async with await connected(emulator, exam, "role-resume") as session:
        await session.send_client_content(turns=user(ROLE_NOW), turn_complete=True)
        await receive_turn(session)
        await send_answer(session, SPEECH)
        assert (await receive_turn(session)).text == IN_ROLE[0]
        handle = (await anext(session.receive())).session_resumption_update.new_handle  # offered after the turn
        assert handle
        await emulator.sessions["role-resume"].connection.close_now(1011, "Internal error encountered.")
        with pytest.raises(errors.APIError):
            async for _ in session.receive():
                pass
    async with await connected(emulator, exam, "role-resume", handle=handle) as resumed:
        await send_answer(resumed, SPEECH)
        assert (await receive_turn(resumed)).text == IN_ROLE[1]


async def play(session, brief: str, opening: str, turns: int) -> list[str]:
    """A role cue sent now, then `turns` candidate turns (speech, then nudges): what the examiner said."""
    await session.send_client_content(turns=user(wording.cue(wording.play_role(brief, opening), now=True)),
                                      turn_complete=True)
    said = [(await receive_turn(session)).text]
    await send_answer(session, SPEECH)
    said.append((await receive_turn(session)).text)
    for _ in range(turns - 1):
        await session.send_realtime_input(text=NUDGE)
        said.append((await receive_turn(session)).text)
    return said


def assert_answers_as_a_person(said: list[str], brief: str, facts: tuple[str, ...], directions: tuple[str, ...],
                               fillers: tuple[str, ...]) -> None:
    """Each answer one fact or one filler, never a direction, never the brief, never twice in a row."""
    assert all(answer in facts or answer in fillers for answer in said), said
    assert all(len(answer) < len(brief) / 3 for answer in said)
    assert all(a != b for a, b in zip(said, said[1:]))
    for direction in directions:
        assert all(direction not in answer and answer not in direction for answer in said), direction


async def test_over_the_wire_in_french_the_role_is_answered_fact_by_fact_in_a_french_voice(emulator, exam):
    config = cue_config(exam).model_copy(update={"speech_config": types.SpeechConfig(language_code="fr-FR")})
    async with sdk_client(emulator, session_id="role-fr").aio.live.connect(model=MODEL, config=config) as session:
        said = await play(session, FRENCH_BRIEF, FRENCH_OPENING, len(FRENCH_FACTS) + 2)
    assert said == [FRENCH_OPENING, *FRENCH_FACTS, *FRENCH.role_fillers]
    assert_answers_as_a_person(said[1:], FRENCH_BRIEF, FRENCH_FACTS, FRENCH_DIRECTIONS, FRENCH.role_fillers)
    (setup,) = records(emulator, "role-fr", "setup")
    assert (setup["language"], setup["espeak_voice"], setup["own_words"]) == ("fr-FR", "fr-fr", "fr")
    spoken = records(emulator, "role-fr", "speak")
    assert [s["text"] for s in spoken if s.get("role")] == said[1:]
    french_filler = await ExaminerVoice().synthesize(FRENCH.role_fillers[-1], voice="fr-fr")
    assert spoken[-1]["audio_s"] == round(len(french_filler) / 2 / 24000, 2)  # said in the French voice


async def test_over_the_wire_with_no_language_the_role_is_answered_in_english_without_its_directions(emulator, exam):
    async with await connected(emulator, exam, "role-en") as session:
        said = await play(session, DIRECTED, OPENING, len(DIRECTED_FACTS) + 2)
    assert said == [OPENING, *DIRECTED_FACTS, *ROLE_FILLERS]
    assert_answers_as_a_person(said[1:], DIRECTED, DIRECTED_FACTS, DIRECTIONS, ROLE_FILLERS)
    (setup,) = records(emulator, "role-en", "setup")
    assert (setup["language"], setup["espeak_voice"], setup["own_words"]) == (None, "en-gb", "en")
